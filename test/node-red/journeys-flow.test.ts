/**
 * The three shipped journeys (flows/node-red/*.json) loaded together into one real Node-RED runtime with
 * the core nodes they use, on a real port, driven end to end with scripted contacts: signed events in,
 * timers firing, the demo inbox receiving sends, review verdicts, and every decision finalised in the log.
 */
import { readFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Express } from 'express';
import type { Decision } from '../../engine/audit/schema';
import { closeAllEngines } from '../../engine/registry';
import { engagementDeltas } from '../../engine/decide/sendTime';
import { tempDir, zoneAtLocalHour } from '../helpers/fixtures';
import { coreNode, engineOf, helper, httpNode, NUDGE_NODES, quietFor, registerCoreModulesOncePerLoad, SECRET, signed, waitUntil, withHttpCapture } from './_helpers';

const FLOWS = path.join(__dirname, '..', '..', 'flows', 'node-red');
const JOURNEYS = ['nurture', 'cart-abandonment', 'churn-risk'];
const CORE = ['network/21-httpin.js', 'common/90-comment.js', 'function/15-change.js', 'function/10-switch.js', 'function/89-delay.js', 'common/91-global-config.js'].map(coreNode);
const ENGINE = 'nudge_journeys_engine';
/** The reviewers' token, as the admin sets it in Node-RED's environment (NUDGE_REVIEW_TOKEN). */
const REVIEW_TOKEN = 'journeys-flow-reviewer-token';
const REVIEWER = { authorization: `Bearer ${REVIEW_TOKEN}` };

interface FlowNode {
	id: string;
	type: string;
	[key: string]: unknown;
}

let server: Server;
let base: string;
let app: Express | undefined;

beforeAll(async () => {
	server = createServer((req, res) => {
		if (app) app(req, res);
		else {
			res.statusCode = 503;
			res.end();
		}
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
	base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	process.env.NUDGE_REVIEW_TOKEN = REVIEW_TOKEN;
	await helper.startServer();
	await loadAll();
});
afterAll(async () => {
	app = undefined;
	await helper.unload();
	await helper.stopServer();
	await new Promise((resolve) => server.close(resolve));
	await closeAllEngines();
	delete process.env.NUDGE_REVIEW_TOKEN;
});

const readFlow = (journey: string) => JSON.parse(readFileSync(path.join(FLOWS, `${journey}.json`), 'utf8')) as FlowNode[];

/** All three files in one runtime, as the editor imports them: a node id seen before (the shared engine) is kept once. */
function allFlows(): FlowNode[] {
	const seen = new Map<string, FlowNode>();
	for (const journey of JOURNEYS) {
		for (const node of readFlow(journey)) {
			const known = seen.get(node.id);
			if (known) expect(known).toEqual(node);
			else seen.set(node.id, node);
		}
	}
	return [...seen.values()];
}

/** Loads flows (all three by default) with a fresh in-memory store, Send nodes pointed at this test's port. */
async function loadAll(flow = allFlows(), storeUrl = 'memory:'): Promise<void> {
	registerCoreModulesOncePerLoad();
	for (const n of flow) {
		if (n.type === 'nudge-send') n.url = String(n.url).replace('http://127.0.0.1:1880', base);
		if (n.type === 'nudge-trigger') n.timerCheck = 0.05;
	}
	await helper.load([...withHttpCapture(NUDGE_NODES), ...CORE], flow, { [ENGINE]: { signingSecret: SECRET, storeUrl } });
	app = httpNode();
	// Every node started: none is of an unknown type.
	for (const n of flow) if (!['tab', 'nudge-engine', 'global-config'].includes(n.type)) expect(helper.getNode(n.id)).toBeTruthy();
}

async function post(journey: string, events: unknown): Promise<string[]> {
	const body = JSON.stringify(events);
	const res = await fetch(`${base}/nudge/${journey}`, { method: 'POST', headers: signed(body), body });
	const answer = (await res.json()) as { decisionIds: string[] };
	expect(res.status).toBe(200);
	return answer.decisionIds;
}

async function logged(ids: string[]): Promise<Decision[]> {
	const engine = engineOf(ENGINE);
	await waitUntil(async () => (await Promise.all(ids.map((id) => engine.store.getDecision(id)))).every((d) => d?.loggedAt), `decisions ${ids.join(', ')} to be logged`);
	return (await Promise.all(ids.map((id) => engine.store.getDecision(id)))) as Decision[];
}

/** Posts events one at a time, each logged before the next. */
async function run(journey: string, ...events: Record<string, unknown>[]): Promise<Decision[]> {
	const out: Decision[] = [];
	for (const e of events) out.push(...(await logged(await post(journey, e))));
	return out;
}

let seq = 0;
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
function track(userId: string, event: string, properties: Record<string, unknown> = {}, traits?: Record<string, unknown>, at = new Date().toISOString()): Record<string, unknown> {
	return { type: 'track', messageId: `nr-${++seq}-${Date.now()}`, userId, event, properties, timestamp: at, context: traits ? { traits } : {} };
}
function identify(userId: string, traits: Record<string, unknown>): Record<string, unknown> {
	return { type: 'identify', messageId: `nr-${++seq}-${Date.now()}`, userId, traits, timestamp: new Date().toISOString() };
}

const DAY = () => zoneAtLocalHour(11);
const NIGHT = () => zoneAtLocalHour(2);

async function decisionsOf(userId: string, journey: string): Promise<Decision[]> {
	const engine = engineOf(ENGINE);
	const profile = (await engine.store.resolveIdentities([`userId:${userId}`])).values().next().value;
	return profile ? engine.queryDecisions({ contactId: profile, journey, limit: 100 }) : [];
}

describe('flows/node-red: the three journeys in one runtime', () => {
	it('share one engine config node, carry the journeys policy verbatim, and listen on their own paths', () => {
		const policy = readFileSync(path.join(__dirname, '..', '..', 'flows', 'policies', 'journeys.json'), 'utf8');
		const paths = new Set<string>();
		for (const journey of JOURNEYS) {
			const flow = readFlow(journey);
			const engines = flow.filter((n) => n.type === 'nudge-engine');
			expect(engines).toHaveLength(1);
			expect(engines[0].id).toBe(ENGINE);
			expect(JSON.parse(String(engines[0].policy))).toEqual(JSON.parse(policy));
			expect(flow.filter((n) => n.type === 'nudge-trigger').map((n) => [n.path, n.journey])).toEqual([[journey, journey]]);
			for (const n of flow.filter((x) => x.type === 'http in')) {
				const route = `${String(n.method)} ${String(n.url)}`;
				expect(paths.has(route)).toBe(false);
				paths.add(route);
			}
			// Every Nudge node uses the shared engine.
			expect(flow.filter((n) => n.type.startsWith('nudge-') && n.type !== 'nudge-engine').every((n) => n.engine === ENGINE)).toBe(true);
			// No decision is dropped on the floor: every output of every Nudge step is wired (Log Decision in the end).
			for (const n of flow.filter((x) => x.type.startsWith('nudge-') && !['nudge-engine', 'nudge-log-decision', 'nudge-record-outcome'].includes(x.type))) {
				expect([n.id, (n.wires as string[][]).every((out) => out.length > 0)]).toEqual([n.id, true]);
			}
		}
	});

	it('nurture: the converter is escalated to sales with the top factors, conversion recorded; the opted-out lead gets nothing; the night-time lead waits in the store for the best send time; the holdout lead gets a holdout decision', async () => {
		const dana = { email: 'dana@northwind.example', name: 'Dana', title: 'VP Marketing', employees: 420, timezone: DAY(), consent: { email: 'opted_in' } };
		const [identified, pricing, demo] = await run('nurture', identify('nr-dana', dana), track('nr-dana', 'Pricing Viewed'), track('nr-dana', 'Demo Requested', { interest: 'lead scoring' }));
		expect(identified).toMatchObject({ status: 'sent', channel: 'email' });
		expect(pricing).toMatchObject({ status: 'suppressed', reason: 'FREQUENCY_CAP' });
		expect(demo).toMatchObject({ status: 'sent', channel: 'sales_task', score: { tier: 'hot' }, message: { category: 'sales' } });
		// The demo inbox (standing in for the CRM) accepted the task, which carries the score's top factors.
		expect(demo.delivery).toMatchObject({ provider: 'webhook', status: 'sent', httpStatus: 200 });
		expect(demo.score!.factors.map((f) => f.label)).toEqual(expect.arrayContaining(['Requested a demo', 'Viewed the pricing page', 'Senior job title']));
		expect(demo.handoff!.summary).toMatch(/^Dana \(VP Marketing\): hot lead, score \d+\. Interested in: Demo Requested, Pricing Viewed\./);
		// The conversion reaches the flow late (a sender's retry): it is recorded at the time it happened, not on arrival.
		await new Promise((resolve) => setTimeout(resolve, 50));
		const convertedAt = new Date(Date.parse(demo.delivery!.at) + 1).toISOString();
		const [converted] = await run('nurture', track('nr-dana', 'Lead Converted', { value: 24000 }, undefined, convertedAt));
		expect(converted).toMatchObject({ status: 'suppressed', reason: 'NOT_A_TRIGGER', outcomeFor: { decisionId: demo.decisionId, type: 'conversion' } });
		await waitUntil(async () => !!(await engineOf(ENGINE).store.getDecision(demo.decisionId))?.outcomes.length, 'the conversion to be recorded');
		expect((await engineOf(ENGINE).store.getDecision(demo.decisionId))!.outcomes).toMatchObject([{ type: 'conversion', value: 24000, at: convertedAt }]);
		// Converted: the journey stopped.
		const [after] = await run('nurture', track('nr-dana', 'Webinar Attended'));
		expect(after).toMatchObject({ status: 'suppressed', reason: 'NEGATIVE_TRIGGER', ruleId: 'converted' });

		const tom = { email: 'tom@quarry.example', phone: '+447700900123', timezone: DAY(), consent: { email: 'opted_out', sms: 'opted_out', push: 'opted_out' } };
		const toms = await run('nurture', identify('nr-tom-ellis', tom), track('nr-tom-ellis', 'Pricing Viewed'));
		expect(toms.every((d) => d.status === 'suppressed' && d.reason === 'NO_ELIGIBLE_CHANNEL' && !d.delivery)).toBe(true);

		// At night the best time to send (learned from Dana's engagement at 11:00 her time) is hours away: the
		// message waits in the store (delayed BEST_SEND_TIME), not in the flow.
		const [waiting] = await logged(await post('nurture', track('nr-ren', 'Lead Created', {}, { email: 'ren@oakline.example', timezone: NIGHT() })));
		expect(waiting).toMatchObject({ status: 'delayed', reason: 'BEST_SEND_TIME', ruleId: 'journeys.nurture.sendTime', channel: 'email', sendTime: { hour: 11 } });
		expect(waiting.guard!.retryAt).toBe(waiting.sendTime!.sendAt);
		expect(Date.parse(waiting.sendTime!.sendAt)).toBeGreaterThan(Date.now() + 3_600_000);
		expect(waiting.delivery).toBeUndefined();

		// A retried delivery is answered as a duplicate and starts nothing.
		const retried = JSON.stringify(track('nr-dup', 'Pricing Viewed', {}, { email: 'dup@example.com', timezone: DAY() }));
		const first = await fetch(`${base}/nudge/nurture`, { method: 'POST', headers: signed(retried), body: retried });
		expect(await first.json()).toMatchObject({ accepted: 1, duplicates: 0 });
		const second = await fetch(`${base}/nudge/nurture`, { method: 'POST', headers: signed(retried), body: retried });
		expect(await second.json()).toEqual({ accepted: 0, duplicates: 1, decisionIds: [] });

		// Outcomes the sending tool reports come back through the outcome endpoint, once each.
		const outcome = (body: unknown) => fetch(`${base}/demo/nurture/outcome`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
		expect(await (await outcome({ decisionId: identified.decisionId, type: 'click' })).json()).toEqual({ decisionId: identified.decisionId, duplicate: false, outcomes: 1 });
		expect(await (await outcome({ decisionId: identified.decisionId, type: 'click' })).json()).toMatchObject({ duplicate: true, outcomes: 1 });
		const refused = await outcome({ decisionId: 'd_unknown', type: 'click' });
		expect(refused.status).toBe(400);
		expect(((await refused.json()) as { error: string }).error).toMatch(/Decision d_unknown is not in this engine's decision log/);

		// Simultaneous events for one contact: one message, the rest capped (the cap is checked and reserved atomically).
		const ava = { email: 'ava@parcel.example', timezone: DAY() };
		const burst = await logged(await post('nurture', [track('nr-ava-novak', 'Email Opened', {}, ava), track('nr-ava-novak', 'Email Opened', {}, ava), track('nr-ava-novak', 'Email Link Clicked', {}, ava)]));
		expect(burst.filter((d) => d.status === 'sent')).toHaveLength(1);
		expect(burst.filter((d) => d.reason === 'FREQUENCY_CAP')).toHaveLength(2);

		// u-kenji's bucket is inside nurture's 5% holdout (salt nudge-journeys).
		const [held] = await run('nurture', track('u-kenji', 'Pricing Viewed', {}, { email: 'kenji@harbor.example', timezone: DAY() }));
		expect(held).toMatchObject({ status: 'suppressed', reason: 'HOLDOUT', choice: { holdout: { group: 'journey' } } });
	});

	it('cart abandonment: the timer fires Cart Abandoned with an offer by intent; an order before it cancels the touch; an order after it is revenue of the touch; a large discount waits for review and is sent when approved', async () => {
		const warm = { email: 'marco@example.com', timezone: DAY(), consent: { email: 'opted_in' } };
		// One batch, as a CDP delivers history: both events are in the profile before the (already due) timer fires.
		await logged(await post('cart-abandonment', [track('cr-marco', 'Cart Updated', { cart_id: 'c1', value: 218, currency: 'EUR' }, warm, minutesAgo(75)), track('cr-marco', 'Checkout Started', { cart_id: 'c1', value: 218, currency: 'EUR' }, undefined, minutesAgo(70))]));
		await waitUntil(async () => (await decisionsOf('cr-marco', 'cart-abandonment')).some((d) => d.event.name === 'Cart Abandoned' && d.loggedAt), 'the abandonment timer to fire');
		const touch = (await decisionsOf('cr-marco', 'cart-abandonment')).find((d) => d.event.name === 'Cart Abandoned')!;
		expect(touch).toMatchObject({ status: 'sent', channel: 'email', score: { tier: 'warm' }, message: { offerValue: 10, category: 'promotional' } });
		const [order] = await run('cart-abandonment', track('cr-marco', 'Order Completed', { order_id: 'o1', cart_id: 'c1', total: 218, revenue: 218, currency: 'EUR' }));
		expect(order.outcomeFor).toMatchObject({ decisionId: touch.decisionId, type: 'revenue', value: 218 });
		await waitUntil(async () => !!(await engineOf(ENGINE).store.getDecision(touch.decisionId))?.outcomes.length, 'the revenue to be recorded');

		// Olivia orders within the hour: her timer is cancelled, no abandonment decision ever opens.
		const olivia = { email: 'olivia@example.com', timezone: DAY(), consent: { email: 'opted_in' } };
		await run('cart-abandonment', track('cr-olivia', 'Cart Updated', { cart_id: 'c2', value: 129 }, olivia, minutesAgo(50)), track('cr-olivia', 'Order Completed', { order_id: 'o2', cart_id: 'c2', revenue: 129 }, undefined, minutesAgo(40)));
		// A later cart of another shopper proves the timer loop ran past Olivia's due time.
		await run('cart-abandonment', track('cr-probe', 'Cart Updated', { cart_id: 'c3', value: 10 }, { email: 'probe@example.com', timezone: DAY() }, minutesAgo(61)));
		await waitUntil(async () => (await decisionsOf('cr-probe', 'cart-abandonment')).some((d) => d.event.name === 'Cart Abandoned' && d.loggedAt), 'the probe timer to fire');
		expect((await decisionsOf('cr-olivia', 'cart-abandonment')).map((d) => d.event.name)).toEqual(['Cart Updated', 'Order Completed']);

		// The probe (one cart update, cold) gets a 20% offer: a person must approve it.
		const probe = (await decisionsOf('cr-probe', 'cart-abandonment')).find((d) => d.event.name === 'Cart Abandoned')!;
		expect(probe).toMatchObject({ status: 'review', reason: 'REVIEW_REQUIRED', ruleId: 'large-discount', message: { offerValue: 20 } });
		const res = await fetch(`${base}/demo/cart-abandonment/review`, { method: 'POST', headers: { 'content-type': 'application/json', ...REVIEWER }, body: JSON.stringify({ decisionId: probe.decisionId, approve: true, reviewer: 'lea@shop.example' }) });
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({ decisionId: probe.decisionId, status: 'sent' });
		expect((await engineOf(ENGINE).store.getDecision(probe.decisionId))!.review).toMatchObject({ verdict: 'approved', reviewer: 'lea@shop.example' });
		// A second verdict on the same decision is refused with the reason, nothing changes.
		const again = await fetch(`${base}/demo/cart-abandonment/review`, { method: 'POST', headers: { 'content-type': 'application/json', ...REVIEWER }, body: JSON.stringify({ decisionId: probe.decisionId, approve: false, reviewer: 'lea@shop.example' }) });
		expect(again.status).toBe(400);
		expect(((await again.json()) as { error: string }).error).toMatch(/is not waiting for review \(it is sent, approved by lea@shop\.example\)/);
		const queue = (await (await fetch(`${base}/demo/cart-abandonment/review`, { headers: REVIEWER })).json()) as Array<Record<string, unknown>>;
		expect(queue.map((t) => t.decisionId)).toContain(probe.decisionId);
	});

	it('churn risk: the open ticket blocks the win-back until it closes; the high-value account goes to the review queue and is rejected; a redeemed offer is a conversion; the night-time account is delayed', async () => {
		const grace = { email: 'grace@brightbyte.example', plan: 'monthly', accountValue: 1800, timezone: DAY(), consent: { email: 'opted_in' } };
		const [ticket, drop] = await run('churn-risk', track('ch-grace', 'Ticket Opened', { ticket_id: 'T-1' }, grace), track('ch-grace', 'Usage Dropped', { metric: 'seats', drop_pct: 45 }));
		for (const d of [ticket, drop]) expect(d).toMatchObject({ status: 'suppressed', reason: 'NEGATIVE_TRIGGER', ruleId: 'support-ticket-open' });
		const [closed, again] = await run('churn-risk', track('ch-grace', 'Ticket Closed', { ticket_id: 'T-1' }), track('ch-grace', 'Payment Failed', { amount: 49, currency: 'EUR', attempt: 1 }));
		expect(closed).toMatchObject({ reason: 'NOT_A_TRIGGER' });
		expect(again.status).toBe('review'); // hot now: a 25% win-back needs approval
		expect(again).toMatchObject({ ruleId: 'large-discount', message: { offerValue: 25 } });

		const [big] = await run('churn-risk', track('acct-northwind', 'Usage Dropped', { metric: 'api_calls', drop_pct: 60 }, { email: 'cfo@northwind-traders.example', plan: 'annual', accountValue: 48000, timezone: DAY(), consent: { email: 'opted_in' } }));
		expect(big).toMatchObject({ status: 'review', ruleId: 'high-value-account' });
		// The account manager finds the task in the review queue, and rejects the offer there.
		const tasks = (await (await fetch(`${base}/demo/churn-risk/review`, { headers: REVIEWER })).json()) as Array<Record<string, unknown>>;
		expect(tasks.find((t) => t.decisionId === big.decisionId)).toMatchObject({ task: 'review', journey: 'churn-risk', rules: ['high-value-account'], offer: { offerValue: 15 }, score: { tier: 'warm' } });
		const verdict = await fetch(`${base}/demo/churn-risk/review`, { method: 'POST', headers: { 'content-type': 'application/json', ...REVIEWER }, body: JSON.stringify({ decisionId: big.decisionId, approve: false, reviewer: 'am@yourco.example', note: 'call them instead' }) });
		expect(await verdict.json()).toMatchObject({ decisionId: big.decisionId, status: 'suppressed', reason: 'REVIEW_REJECTED' });

		const hugo = { email: 'hugo@example.com', plan: 'monthly', accountValue: 600, timezone: DAY(), consent: { email: 'opted_in' } };
		const [offer] = await run('churn-risk', track('ch-hugo', 'Payment Failed', { amount: 49, currency: 'EUR', attempt: 1 }, hugo));
		expect(offer).toMatchObject({ status: 'sent', message: { offerValue: 15 } });
		expect(offer.delivery).toMatchObject({ status: 'sent', httpStatus: 200 });
		const [redeemed] = await run('churn-risk', track('ch-hugo', 'Offer Redeemed', { offer: 'winback-15' }));
		expect(redeemed.outcomeFor).toMatchObject({ decisionId: offer.decisionId, type: 'conversion' });

		// At night the win-back is delayed by quiet hours: logged as delayed, kept by the engine until it is due.
		const [night] = await post('churn-risk', track('ch-ana', 'Payment Failed', { amount: 29, currency: 'USD', attempt: 1 }, { email: 'ana@example.com', plan: 'monthly', timezone: NIGHT(), consent: { email: 'opted_in' } }));
		await waitUntil(async () => (await engineOf(ENGINE).store.getDecision(night))?.status === 'delayed', 'the night-time win-back to be delayed');
		const delayed = (await engineOf(ENGINE).store.getDecision(night))!;
		expect(delayed).toMatchObject({ reason: 'QUIET_HOURS', ruleId: 'night' });
		expect(Date.parse(delayed.guard!.retryAt!)).toBeGreaterThan(Date.now());

		const [held] = await run('churn-risk', track('u-sofia', 'Usage Dropped', { metric: 'seats', drop_pct: 30 }, { email: 'sofia@example.com', timezone: DAY() }));
		expect(held).toMatchObject({ reason: 'HOLDOUT' });
		// Every decision was logged by the journey's Log Decision nodes, the one waiting out the night as delayed.
		await waitUntil(async () => !!(await engineOf(ENGINE).store.getDecision(night))?.loggedAt, 'the delayed win-back to be logged');
		const all = await engineOf(ENGINE).queryDecisions({ journey: 'churn-risk', limit: 100 });
		expect(all.filter((d) => !d.loggedAt)).toEqual([]);
		expect(all.find((d) => d.decisionId === night)).toMatchObject({ status: 'delayed' });
		expect(all.every((d) => d.annotations.journey === 'churn-risk' && d.annotations.template === 'nudge-journeys')).toBe(true);
	});

	it('review verdicts and the review queue need the reviewer\'s token: without it, with another, or with none set in Node-RED, a caller gets 401 naming NUDGE_REVIEW_TOKEN, sees no task, and the high-value account stays waiting for a person', async () => {
		const [big] = await run('churn-risk', track('acct-contoso', 'Usage Dropped', { metric: 'api_calls', drop_pct: 60 }, { email: 'cfo@contoso.example', plan: 'annual', accountValue: 52000, timezone: DAY(), consent: { email: 'opted_in' } }));
		expect(big).toMatchObject({ status: 'review', ruleId: 'high-value-account' });
		const approve = JSON.stringify({ decisionId: big.decisionId, approve: true, reviewer: 'anyone' });
		const attempts = async () => {
			const answers: Array<[string, number, string]> = [];
			for (const journey of ['churn-risk', 'cart-abandonment', 'nurture']) {
				for (const headers of [{}, { authorization: 'Bearer not-the-token' }, { authorization: REVIEW_TOKEN }, { authorization: 'Bearer ' }] as Array<Record<string, string>>) {
					const verdict = await fetch(`${base}/demo/${journey}/review`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: approve });
					// Nurture takes verdicts only (no review rule applies to it by default): no queue to list.
					const queue = journey === 'nurture' ? undefined : await fetch(`${base}/demo/${journey}/review`, { headers });
					for (const [method, res] of [['POST', verdict], ['GET', queue]] as const) {
						if (!res) continue;
						const answer = (await res.json()) as { error?: unknown };
						answers.push([`${method} ${journey}`, res.status, String(answer.error)]);
					}
				}
			}
			return answers;
		};
		for (const [route, status, error] of await attempts()) expect([route, status, error]).toEqual([route, 401, expect.stringMatching(/Authorization: Bearer .*NUDGE_REVIEW_TOKEN/)]);
		// With no token set in Node-RED, no header opens the review endpoints, not even an empty one.
		delete process.env.NUDGE_REVIEW_TOKEN;
		try {
			for (const [route, status, error] of await attempts()) expect([route, status, error]).toEqual([route, 401, expect.stringMatching(/no reviewer token is set.*NUDGE_REVIEW_TOKEN/)]);
		} finally {
			process.env.NUDGE_REVIEW_TOKEN = REVIEW_TOKEN;
		}
		const after = (await engineOf(ENGINE).store.getDecision(big.decisionId))!;
		expect([after.status, after.review?.verdict, after.delivery]).toEqual(['review', undefined, undefined]);
		// The account manager, with the token, is heard.
		const verdict = await fetch(`${base}/demo/churn-risk/review`, { method: 'POST', headers: { 'content-type': 'application/json', ...REVIEWER }, body: JSON.stringify({ decisionId: big.decisionId, approve: false, reviewer: 'am@yourco.example' }) });
		expect([verdict.status, await verdict.json()]).toEqual([200, expect.objectContaining({ decisionId: big.decisionId, status: 'suppressed', reason: 'REVIEW_REJECTED' })]);
	});

	it('churn risk: in one batch the night-time win-back waits in the store while the others go out at once; "due again" brings it back alone when due, and it is sent', async () => {
		const consent = { consent: { email: 'opted_in' }, plan: 'monthly' };
		const ids = await post('churn-risk', [
			track('ch-batch-noor', 'Payment Failed', { amount: 29, currency: 'USD', attempt: 1 }, { email: 'noor@example.com', timezone: DAY(), ...consent }),
			track('ch-batch-sam', 'Payment Failed', { amount: 29, currency: 'USD', attempt: 1 }, { email: 'sam@example.com', timezone: NIGHT(), ...consent }),
			track('ch-batch-otto', 'Payment Failed', { amount: 29, currency: 'USD', attempt: 1 }, { email: 'otto@example.com', timezone: DAY(), ...consent }),
		]);
		const decided = await logged(ids);
		expect(decided.map((d) => d.status)).toEqual(['sent', 'delayed', 'sent']);
		const sam = decided[1];
		expect(sam).toMatchObject({ reason: 'QUIET_HOURS', guard: { retryAt: expect.any(String) } });
		// Hours later (the clock moved on): the due node's next check brings it back to the guardrails, and it is sent, once.
		jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'queueMicrotask', 'hrtime', 'performance'], advanceTimers: true });
		try {
			jest.setSystemTime(Date.parse(sam.guard!.retryAt!) + 1000);
			helper.getNode('nudge_churn_risk_due')!.receive({ payload: 'check' });
			await waitUntil(async () => (await engineOf(ENGINE).store.getDecision(sam.decisionId))?.status === 'sent', 'the due win-back to be sent');
			helper.getNode('nudge_churn_risk_due')!.receive({ payload: 'check' });
			await quietFor();
			const sent = (await engineOf(ENGINE).store.getDecision(sam.decisionId))!;
			// The same decision, finalised: one wait, one send to the demo inbox.
			expect(sent.trail.filter((t) => t.stage === 'guard').map((t) => t.status)).toEqual(['delayed', 'pending']);
			expect(sent.trail.filter((t) => t.stage === 'send')).toHaveLength(1);
			expect(sent.delivery).toMatchObject({ status: 'sent', httpStatus: 200 });
			await waitUntil(async () => (await engineOf(ENGINE).store.getDecision(sam.decisionId))!.trail.at(-1)?.stage === 'log', 'the sent win-back to be logged');
		} finally {
			jest.useRealTimers();
		}
	});

	it('a send the sending tool cannot take is logged as failed and its cap slot given back', async () => {
		await helper.unload();
		const flow = readFlow('churn-risk');
		for (const n of flow) if (n.type === 'nudge-send') n.url = 'http://127.0.0.1:9/unreachable';
		await loadAll(flow);
		const [failed] = await run('churn-risk', track('nr-lee', 'Payment Failed', { amount: 20, currency: 'EUR', attempt: 1 }, { email: 'lee@example.com', timezone: DAY() }));
		expect(failed).toMatchObject({ status: 'failed', reason: 'SEND_FAILED', delivery: { status: 'failed', attempts: 3 }, annotations: { journey: 'churn-risk' } });
		expect(failed.explanation).toMatch(/send failed after 3 attempt\(s\): could not reach 127\.0\.0\.1:9/);
		// The email slot was released: the same contact may still get an email today.
		const engine = engineOf(ENGINE);
		const { decision } = await engine.ingest(track('nr-lee', 'Usage Dropped', { drop_pct: 30 }), { journey: 'churn-risk' });
		expect((await engine.checkCap(await engine.chooseChannel(decision))).guard?.allowed).toBe(true);
	});

	it('nurture: the best-time wait is kept by the engine: a restart of the flows loses none, the policy\'s maxWait caps it, and when due the guardrails check it again', async () => {
		await helper.unload();
		const store = `sqlite:${path.join(tempDir(), 'restart.db')}`;
		const withCap = () => {
			const flow = readFlow('nurture');
			const engine = flow.find((n) => n.type === 'nudge-engine')!;
			const policy = JSON.parse(String(engine.policy)) as { journeys: Record<string, { sendTime?: unknown }> };
			policy.journeys.nurture.sendTime = { waitForBestTime: true, maxWait: '2s' };
			engine.policy = JSON.stringify(policy);
			return flow;
		};
		await loadAll(withCap(), store);
		// Someone engaged at 11:00 their time: that is the best hour for a lead for whom it is 02:00.
		await engineOf(ENGINE).store.addArmStats(engagementDeltas('someone', new Date(), DAY()));
		const [waiting] = await logged(await post('nurture', track('nr-max-wait', 'Lead Created', {}, { email: 'max@oakline.example', timezone: NIGHT() })));
		expect(waiting).toMatchObject({ status: 'delayed', reason: 'BEST_SEND_TIME', sendTime: { hour: 11 } });
		expect(waiting.explanation).toMatch(/held at most 2s \(maxWait\)/);
		expect(Date.parse(waiting.guard!.retryAt!)).toBeLessThan(Date.now() + 3_000);
		// Node-RED restarts while it waits: the wait is in the store, so nothing is lost.
		await helper.unload();
		await closeAllEngines();
		await loadAll(withCap(), store);
		await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(waiting.guard!.retryAt!) - Date.now() + 50)));
		helper.getNode('nudge_nurture_due')!.receive({ payload: 'check' });
		// Back at the guardrails, it is still night for the lead: quiet hours delay it anew, until the morning.
		await waitUntil(async () => (await engineOf(ENGINE).store.getDecision(waiting.decisionId))?.reason === 'QUIET_HOURS', 'the due message to meet quiet hours');
		const again = (await engineOf(ENGINE).store.getDecision(waiting.decisionId))!;
		expect(again).toMatchObject({ status: 'delayed', ruleId: 'night' });
		expect(again.guard!.checks.find((c) => c.kind === 'send_time')).toMatchObject({ passed: true });
		expect(again.trail.filter((t) => t.stage === 'guard').map((t) => t.status)).toEqual(['delayed', 'delayed']);
		expect(Date.parse(again.guard!.retryAt!)).toBeGreaterThan(Date.now() + 3_600_000);
		expect(again.delivery).toBeUndefined();
		await helper.unload();
		await closeAllEngines();
	});

	it('nurture: no delay node holds a message for its best send time', () => {
		const flow = readFlow('nurture');
		expect(flow.filter((n) => n.type === 'delay')).toEqual([]);
		expect(JSON.stringify(flow)).not.toMatch(/NUDGE_MAX_WAIT_SECONDS|sendAt/);
	});

	it.each(JOURNEYS)('%s.json imports on its own: every node starts and its trigger takes a signed event', async (journey) => {
		await helper.unload();
		await loadAll(readFlow(journey));
		const [id] = await post(journey, track(`alone-${journey}`, journey === 'nurture' ? 'Pricing Viewed' : journey === 'churn-risk' ? 'Usage Dropped' : 'Cart Updated', {}, { email: `alone@${journey}.example`, timezone: DAY() }));
		const [decision] = await logged([id]);
		expect(decision).toMatchObject({ journey, annotations: { journey } });
	});

	it('nurture imported twice ("Import copy"): the copy waits "path in use", and takes events once the original tab is deleted with a "Modified nodes" deploy', async () => {
		await helper.unload();
		// "Import copy" gives every node a new id, except the shared config nodes.
		const shared = new Set([ENGINE, 'nudge_journeys_global_config']);
		const ids = new Map(readFlow('nurture').filter((n) => !shared.has(n.id)).map((n) => [n.id, `copy_${n.id}`]));
		const remap = (v: unknown): unknown => (typeof v === 'string' ? (ids.get(v) ?? v) : Array.isArray(v) ? v.map(remap) : v);
		const copy = readFlow('nurture').filter((n) => !shared.has(n.id)).map((n) => {
			const c: FlowNode = { ...n, id: ids.get(n.id)! };
			for (const k of ['z', 'wires', 'scope']) if (k in c) c[k] = remap(c[k]);
			return c;
		});
		const flow = [...readFlow('nurture'), ...copy];
		await loadAll(flow);
		// The status spy is shared by every node: keep the copy's own calls.
		const trigger = helper.getNode('copy_nudge_nurture_trigger')!;
		const status = () => trigger.status.getCalls().filter((call) => call.thisValue === trigger).at(-1)?.args[0];
		expect(status()).toEqual({ fill: 'red', shape: 'dot', text: 'path in use' });
		// The original tab is deleted and deployed as the editor does by default: only the removed nodes stop, the copy is not restarted.
		await helper.setFlows(flow.filter((n) => shared.has(n.id) || n.id.startsWith('copy_')), 'nodes');
		expect(helper.getNode('copy_nudge_nurture_trigger')).toBe(trigger);
		expect(status()).toEqual({ fill: 'green', shape: 'ring', text: 'ready /nurture' });
		const [decision] = await logged(await post('nurture', track('nr-copy', 'Pricing Viewed', {}, { email: 'copy@example.com', timezone: DAY() })));
		expect(decision.journey).toBe('nurture');
		await helper.unload();
	});
});
