/**
 * What a contact merged into another keeps on the contact it lives on in: its suppression, pauses, timers, agents'
 * approvals and engagement hours, and what an outcome event costs. A is the older contact (a user id), B the newer
 * (an email); an event linking them merges B into A.
 */
import { Engine } from '../../engine/engine';
import { applyInactivityRules, fireDueTimers, parseInactivityRules } from '../../engine/events/timers';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import type { PolicyInput } from '../../engine/policy/schema';
import { Backend, forEveryBackend, localBackends, postgresStore, redisStore } from '../helpers/rawStores';
import { PostgresStore } from '../../engine/store/postgres';
import { RedisStore } from '../../engine/store/redis';
import { splitStore } from '../../engine/store/split';
import type { Store } from '../../engine/store/types';
import { describeWithServer, TEST_POSTGRES_URL, TEST_REDIS_URL } from '../helpers/services';

const base: PolicyInput = {
	...DEFAULT_POLICY,
	caps: [],
	holdout: { salt: 'merged', globalShare: 0, journeys: {} },
	journeys: { nurture: { channels: ['email'] }, cart: { channels: ['email'] } },
};
const dry = { journey: 'nurture', target: { dryRun: true } } as const;
/** Event times a few hours back, an hour apart (a trigger event older than the de-duplication window starts nothing). */
const START = Math.floor(Date.now() / 1000) * 1000 - 12 * 3_600_000;
const day = (d: number) => new Date(START + d * 3_600_000).toISOString();
const track = (name: string, identities: Record<string, string>, d: number, extra: Record<string, unknown> = {}) => ({ type: 'track', name, identities, occurredAt: day(d), ...extra });

/** A (user id u-a, day 1), B (email b@x.io, day 2; or named by its CRM id when given), then a link: B merges into A. */
async function mergeBIntoA(engine: Engine, crmIdOfB?: string): Promise<{ a: string; b: string }> {
	const a = (await engine.ingest(track('Signed Up', { userId: 'u-a' }, 1), { journey: 'nurture' })).decision.contactId;
	const b = (await engine.ingest(track('Signed Up', { email: 'b@x.io', ...(crmIdOfB ? { contactId: crmIdOfB } : {}) }, 2), { journey: 'nurture' })).decision.contactId;
	expect(a).not.toBe(b);
	expect((await engine.ingest(track('Logged In', { userId: 'u-a', email: 'b@x.io' }, 3), { journey: 'nurture' })).decision.contactId).toBe(a);
	expect(await engine.store.getProfile(b)).toBeUndefined();
	return { a, b };
}

const withRedis = describeWithServer('Redis', TEST_REDIS_URL);
const withPostgres = describeWithServer('PostgreSQL', TEST_POSTGRES_URL);

function mergedGuards(backend: Backend): void {
	const engineOn = (extra: Partial<PolicyInput> = {}) => new Engine({ store: backend.open(), policy: loadPolicy({ ...base, ...extra }) });

	test(`${backend.name}: a contact id on the policy's suppression list stays suppressed when an event names it after its contact merged`, async () => {
		// The CRM id of B is on the policy's list (suppression.userIds also matches contact ids: guard.ts suppressionHit).
		const engine = engineOn({ suppression: { emails: [], domains: [], userIds: ['crm-b'] } });
		expect((await engine.decide(track('Demo Requested', { contactId: 'crm-b' }, 0, { traits: { email: 'b@x.io' } }), dry)).reason).toBe('SUPPRESSION_LIST');
		await engine.close();
		const again = engineOn({ suppression: { emails: [], domains: [], userIds: ['crm-b'] } });
		await mergeBIntoA(again, 'crm-b');
		// The event reaches A, which the list suppresses by B's contact id.
		const later = await again.decide(track('Demo Requested', { contactId: 'crm-b' }, 5, { traits: { email: 'b@x.io' } }), dry);
		expect(later.status).not.toBe('sent');
		expect(later.reason).toBe('SUPPRESSION_LIST');
		await again.close();
	});

	test(`${backend.name}: a contact id an event names with another contact's email is that contact's: an event by the id alone reaches it, opted out`, async () => {
		const engine = engineOn();
		const c = (await engine.ingest(track('Unsubscribed', { email: 'c@x.io' }, 1), { journey: 'nurture' })).decision.contactId;
		// An integrator's id for the person, sent once with the address.
		expect((await engine.ingest(track('Page Viewed', { contactId: 'crm-9', email: 'c@x.io' }, 2), { journey: 'nurture' })).decision.contactId).toBe(c);
		const later = await engine.decide(track('Demo Requested', { contactId: 'crm-9' }, 3, { traits: { email: 'c@x.io' } }), dry);
		expect(later).toMatchObject({ contactId: c, status: 'suppressed' });
		expect(await engine.store.getProfile('crm-9')).toBeUndefined();
		expect((await engine.getProfile(c))?.consent.email).toBe('opted_out');
		await engine.close();
	});

	test(`${backend.name}: after an erasure with suppression, an event by a merged-away contact id is never messaged`, async () => {
		const engine = engineOn();
		const { a, b } = await mergeBIntoA(engine);
		await engine.eraseContact({ contactId: a }, { suppress: true });
		// The erased contact's ids are on the suppression list: an event naming one, with the address as a trait, makes a
		// do-not-contact contact.
		const later = await engine.decide(track('Demo Requested', { contactId: b }, 5, { traits: { email: 'b@x.io' } }), dry);
		expect(later.status).not.toBe('sent');
		expect((await engine.getProfile(later.contactId))?.doNotContact).toBe(true);
		await engine.close();
	});

	test(`${backend.name}: a journey paused on the merged-away contact stays paused on the contact it was merged into`, async () => {
		const engine = engineOn({ negativeTriggers: [{ id: 'complaint', events: ['Complained'], clearedBy: ['Complaint Resolved'] }] });
		const a = (await engine.ingest(track('Signed Up', { userId: 'u-a' }, 1), { journey: 'nurture' })).decision.contactId;
		await engine.ingest(track('Complained', { email: 'b@x.io' }, 2), { journey: 'nurture' });
		const paused = await engine.decide(track('Demo Requested', { email: 'b@x.io' }, 2), dry);
		expect(paused.status).not.toBe('sent');
		const b = paused.contactId;
		await engine.ingest(track('Logged In', { userId: 'u-a', email: 'b@x.io' }, 3), { journey: 'nurture' });
		// B's complaint pause goes on in A.
		const later = await engine.decide(track('Demo Requested', { contactId: b }, 4), dry);
		expect(later.contactId).toBe(a);
		expect(later.status).not.toBe('sent');
		expect((await engine.getProfile(a))?.pauses?.complaint).toBeDefined();
		await engine.close();
	});
}

describe('a merged contact keeps its guardrails on the contact it was merged into', () => {
	forEveryBackend('nudgemergededges', mergedGuards);
});

describe('a merged contact\'s timers, agents\' approvals, export and outcome reads', () => {
	const rules = parseInactivityRules([{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' }]);
	const T0 = Date.parse(day(2));
	const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

	for (const backend of localBackends()) {
		test(`${backend.name}: an order completed after the merge cancels the cart timer the merged-away contact started`, async () => {
			const engine = new Engine({ store: backend.open(), policy: loadPolicy(base) });
			const a = (await engine.ingest(track('Signed Up', { userId: 'u-a' }, 1), { journey: 'cart' })).decision.contactId;
			const step = async (name: string, identities: Record<string, string>, minutes: number) => {
				const result = await engine.ingest({ type: 'track', name, identities, occurredAt: at(minutes) }, { journey: 'cart' });
				await applyInactivityRules(engine, [result], rules);
				return result;
			};
			const started = await step('Cart Updated', { email: 'b@x.io' }, 0);
			const b = started.decision.contactId;
			expect(b).not.toBe(a);
			expect((await step('Logged In', { userId: 'u-a', email: 'b@x.io' }, 5)).decision.contactId).toBe(a);
			// The person completes the order: its event lands on A, and cancels the timer B started too.
			expect((await step('Order Completed', { email: 'b@x.io' }, 10)).decision.contactId).toBe(a);
			const { fired, acknowledge } = await fireDueTimers(engine, T0 + 60 * 60_000);
			await acknowledge();
			// Nothing fires that could email A, who ordered.
			const sent = [];
			for (const r of fired) {
				const decided = await engine.decideIngested(r, { dryRun: true });
				if (decided.status === 'sent') sent.push({ name: r.event.name, contactId: decided.contactId, email: r.profile?.email });
			}
			expect(sent).toEqual([]);
			await engine.close();
		});

		test(`${backend.name}: an agent's approved request for a contact by its id is allowed when the contact merged meanwhile`, async () => {
			const clock = { now: new Date('2026-05-04T10:00:00Z') };
			const policy = loadPolicy({
				...DEFAULT_POLICY,
				agents: { blastRadius: [], approval: [{ id: 'big-offers', when: { field: 'message.offerValue', op: 'gt', value: 20 } }] },
			} as PolicyInput);
			const engine = new Engine({ store: backend.open(), policy, now: () => clock.now });
			await engine.ingest({ type: 'identify', identities: { userId: 'u-a' }, occurredAt: '2026-05-04T09:00:00Z' });
			const b = (await engine.ingest({ type: 'identify', identities: { email: 'ana@example.com' }, traits: { consent: { email: 'opted_in' } }, occurredAt: '2026-05-04T10:00:00Z' })).profile!.contactId;
			const request = { agentId: 'growth-bot', idempotencyKey: 'k1', contact: b, channel: 'email', message: { category: 'promotional', offerValue: 30, text: '30% off for you' } };
			const held = await engine.requestAction(request);
			expect(held.verdict).toBe('needs_approval');
			// B merges into the older A while a person reviews the request.
			await engine.ingest({ type: 'identify', identities: { userId: 'u-a', email: 'ana@example.com' }, occurredAt: '2026-05-04T10:05:00Z' });
			clock.now = new Date('2026-05-04T10:10:00Z');
			await engine.decideApproval(held.approvalId!, { approver: 'mia@shop.example', approve: true });
			// The agent presents the approval with the same request, which named B: it is the same person's. Its dry run
			// answers as the request does (no CONFLICT).
			await expect(engine.requestAction({ ...request, approvalId: held.approvalId, dryRun: true })).resolves.toBeDefined();
			const go = await engine.requestAction({ ...request, approvalId: held.approvalId });
			expect(go).toMatchObject({ verdict: 'allow', decisionId: held.decisionId });
			await engine.close();
		});
	}

	test('memory: the export by the surviving contact lists the engagement hours counted under the merged-away id', async () => {
		const engine = new Engine({ store: localBackends()[0].open(), policy: loadPolicy({ ...base, journeys: { nurture: { channels: ['email'], outcomes: { 'Email Opened': { type: 'open' } } } } }) });
		await engine.ingest(track('Signed Up', { userId: 'u-a' }, 1), { journey: 'nurture' });
		const sent = await engine.decide(track('Demo Requested', { email: 'b@x.io' }, 2), dry);
		expect(sent.status).toBe('sent');
		await engine.recordOutcome({ decisionId: sent.decisionId, type: 'open', outcomeId: 'o1' });
		expect(Object.keys((await engine.contactRecord({ contactId: sent.contactId })).engagementHours)).toHaveLength(1);
		await engine.ingest(track('Logged In', { userId: 'u-a', email: 'b@x.io' }, 3), { journey: 'nurture' });
		const record = await engine.contactRecord({ email: 'b@x.io' });
		expect(record.decisions.map((d) => d.decisionId)).toContain(sent.decisionId);
		expect(Object.keys(record.engagementHours)).toHaveLength(1);
		await engine.close();
	});

	test('memory: an outcome event reads the decision log as often for a contact that visitors merged into as for one without', async () => {
		const policy = loadPolicy({ ...base, journeys: { nurture: { channels: ['email'], outcomes: { 'Email Opened': { type: 'open' } } } } });
		const reads = async (merged: number) => {
			const engine = new Engine({ store: localBackends()[0].open(), policy, clock: 'event' });
			let t = 0;
			const at = () => new Date(Date.parse(day(1)) + t++ * 1000).toISOString();
			await engine.ingest({ type: 'identify', identities: { userId: 'u-a', email: 'a@x.io' }, occurredAt: at() }, { journey: 'nurture' });
			// Each anonymous visitor (a browser before the login) becomes a contact, merged into A at its login.
			for (let i = 0; i < merged; i++) {
				await engine.ingest({ type: 'page', name: 'Pricing Viewed', identities: { anonymousId: `anon-${i}` }, occurredAt: at() }, { journey: 'nurture' });
				await engine.ingest({ type: 'identify', identities: { userId: 'u-a', anonymousId: `anon-${i}` }, occurredAt: at() }, { journey: 'nurture' });
			}
			expect((await engine.decide({ type: 'track', name: 'Demo Requested', identities: { userId: 'u-a' }, occurredAt: at() }, dry)).status).toBe('sent');
			const spy = jest.spyOn(engine.store, 'queryDecisions');
			const opened = await engine.ingest({ type: 'track', name: 'Email Opened', identities: { userId: 'u-a' }, occurredAt: at() }, { journey: 'nurture' });
			expect(opened.decision.outcomeFor?.type).toBe('open');
			const n = spy.mock.calls.length;
			await engine.close();
			return n;
		};
		const alone = await reads(0);
		// Two reads (sent, holdout) however many contacts were merged into it, not two a merged contact.
		expect(await reads(40)).toBeLessThanOrEqual(alone + 2);
	});
});

/**
 * Two processes on one shared store: one erases the surviving contact A (B merged into it), the other takes in an event
 * by B's id with a new anonymous id while the erasure is between its steps.
 */
function erasureWindow(name: string, open: () => [Store, Store]): void {
	test(`${name}: an event by a merged-away id during the survivor's erasure is not half-erased (no index entry at a gone contact)`, async () => {
		const [mine, theirs] = open();
		const eraser = new Engine({ store: mine, policy: loadPolicy(base) });
		const other = new Engine({ store: theirs, policy: loadPolicy(base) });
		const { a, b } = await mergeBIntoA(eraser);
		let during: Promise<unknown> | undefined;
		const erase = mine.eraseContact.bind(mine);
		mine.eraseContact = async (erasure) => {
			const counts = await erase(erasure);
			if (!during) {
				// One step of the erasure is done, another comes next, under the same locks.
				during = other.ingest(track('Page Viewed', { contactId: b, anonymousId: 'visitor-1' }, 6), { journey: 'nurture' }).catch((error: Error) => error);
				await Promise.race([during, new Promise((resolve) => setTimeout(resolve, 1_000))]);
			}
			return counts;
		};
		await eraser.eraseContact({ contactId: a });
		const event = await during;
		const keys = [`contactId:${b}`, 'anonymousId:visitor-1'];
		const resolved = await theirs.resolveIdentities(keys);
		const dangling = [];
		for (const [key, id] of resolved) if (!(await theirs.getProfile(id))) dangling.push(`${key} -> ${id}`);
		// The event waits for the erasure to end (the survivor's locks are let go last), then makes a contact of its own
		// under b: no identity key is left at a contact the erasure deleted, and its decision is not pseudonymised.
		expect({ dangling, refused: event instanceof Error ? event.message.slice(0, 400) : undefined }).toEqual({ dangling: [], refused: undefined });
		if (!(event instanceof Error)) expect((await theirs.getDecision((event as { decision: { decisionId: string } }).decision.decisionId))?.contactId).toBe(b);
		await eraser.close();
		await other.close();
	});
}

const sameRedis = (s: RedisStore) => new RedisStore(TEST_REDIS_URL, { prefix: s.prefix });
const samePostgres = (s: PostgresStore) => new PostgresStore(TEST_POSTGRES_URL, { schema: s.schema, maxConnections: 4 });
describe('an erasure of a contact others were merged into, with an event by a merged id during it', () => {
	withRedis('on Redis', () =>
		erasureWindow('redis', () => {
			const first = redisStore('nudgeerasewindow');
			return [first, sameRedis(first)];
		}),
	);
	withPostgres('on PostgreSQL', () => {
		erasureWindow('postgres', () => {
			const first = postgresStore('nudgeerasewindow');
			return [first, samePostgres(first)];
		});
		withRedis('and split', () =>
			erasureWindow('split redis+postgres', () => {
				const [hot, log] = [redisStore('nudgeerasewindow'), postgresStore('nudgeerasewindow')];
				return [splitStore(hot, log), splitStore(sameRedis(hot), samePostgres(log))];
			}),
		);
	});
});
