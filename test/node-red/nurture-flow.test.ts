/**
 * The shipped example flow flows/node-red/nurture.json, loaded whole into a real Node-RED runtime with the
 * core nodes it uses, listening on a real port, and driven end to end with scripted contacts: signed
 * events in, the demo inbox receiving sends, outcomes recorded, and every decision finalised in the log.
 */
import { readFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Express } from 'express';
import type { Decision } from '../../engine/audit/schema';
import { closeAllEngines } from '../../engine/registry';
import {
	coreNode,
	engineOf,
	helper,
	httpNode,
	lastStatus,
	NUDGE_NODES,
	SECRET,
	signed,
	waitUntil,
	withHttpCapture,
} from './_helpers';

const FLOW_FILE = path.join(__dirname, '..', '..', 'flows', 'node-red', 'nurture.json');
const CORE = ['network/21-httpin.js', 'common/90-comment.js', 'function/15-change.js', 'common/91-global-config.js'].map(coreNode);

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
	await helper.startServer();
});
afterAll(async () => {
	await helper.stopServer();
	await new Promise((resolve) => server.close(resolve));
	await closeAllEngines();
});
afterEach(async () => {
	app = undefined;
	await helper.unload();
});

function exampleFlow(): FlowNode[] {
	return JSON.parse(readFileSync(FLOW_FILE, 'utf8')) as FlowNode[];
}

const byType = (flow: FlowNode[], type: string) => flow.filter((n) => n.type === type);

/** Loads the example with a fresh in-memory store, the Send node pointed at this test's port. */
async function loadExample(sendUrl = `${base}/demo/inbox`): Promise<string> {
	const flow = exampleFlow();
	const [engine] = byType(flow, 'nudge-engine');
	engine.store = 'memory:';
	for (const send of byType(flow, 'nudge-send')) send.url = sendUrl;
	await helper.load([...withHttpCapture(NUDGE_NODES), ...CORE], flow, { [engine.id]: { signingSecret: SECRET } });
	app = httpNode();
	expect(helper.getNode('nudge_nurture_trigger')).toBeTruthy(); // the whole flow started
	return engine.id;
}

async function postEvents(events: unknown): Promise<{ status: number; body: { accepted: number; duplicates: number; decisionIds: string[] } }> {
	const body = JSON.stringify(events);
	const res = await fetch(`${base}/nudge/events`, { method: 'POST', headers: signed(body), body });
	return { status: res.status, body: (await res.json()) as { accepted: number; duplicates: number; decisionIds: string[] } };
}

async function finalised(engineId: string, decisionIds: string[]): Promise<Decision[]> {
	const engine = engineOf(engineId);
	await waitUntil(async () => (await Promise.all(decisionIds.map((id) => engine.store.getDecision(id)))).every((d) => d?.loggedAt), `decisions ${decisionIds.join(', ')} to be logged`);
	return (await Promise.all(decisionIds.map((id) => engine.store.getDecision(id)))) as Decision[];
}

/** Posts one event and waits until the flow has finalised its decision. */
async function run(engineId: string, event: Record<string, unknown>): Promise<Decision> {
	const res = await postEvents(event);
	expect(res.status).toBe(200);
	expect(res.body.accepted).toBe(1);
	const [decision] = await finalised(engineId, res.body.decisionIds);
	return decision;
}

let seq = 0;
function event(userId: string, name: string | null, traits: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
	seq++;
	const base = { messageId: `flow-${seq}-${Date.now()}`, userId, timestamp: new Date().toISOString(), context: { traits } };
	return name ? { ...base, type: 'track', event: name, properties: {}, ...extra } : { ...base, type: 'identify', traits, ...extra };
}

async function postOutcome(payload: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
	const res = await fetch(`${base}/demo/outcome`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
	return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('flows/node-red/nurture.json', () => {
	it('is importable: one tab, a comment, a secret-free config node, and every Nudge node type', () => {
		const flow = exampleFlow();
		const tabs = byType(flow, 'tab');
		expect(tabs).toHaveLength(1);
		const onTab = flow.filter((n) => !['tab', 'nudge-engine', 'global-config'].includes(n.type));
		expect(onTab.every((n) => n.z === tabs[0].id)).toBe(true);
		expect(byType(flow, 'comment').length).toBeGreaterThan(0);
		const [engine] = byType(flow, 'nudge-engine');
		expect(engine).toBeTruthy();
		expect(JSON.stringify(flow)).not.toMatch(/signingSecret|credentials/);
		const types = new Set(flow.map((n) => n.type));
		for (const type of ['nudge-trigger', 'nudge-score', 'nudge-choose-channel', 'nudge-frequency-cap', 'nudge-send', 'nudge-log-decision', 'nudge-record-outcome']) {
			expect(types).toContain(type);
		}
		for (const n of flow.filter((x) => x.type.startsWith('nudge-') && x.type !== 'nudge-engine')) expect(n.engine).toBe(engine.id);
		expect(byType(flow, 'global-config')[0].modules).toEqual({ 'n8n-nodes-nudge': expect.any(String) });
		// Every suppression is finalised: none, capped and failed outputs all lead to a Log Decision node.
		const logIds = new Set(byType(flow, 'nudge-log-decision').map((n) => n.id));
		const wires = (type: string) => byType(flow, type)[0].wires as string[][];
		expect(wires('nudge-choose-channel')).toHaveLength(7);
		expect(wires('nudge-choose-channel')[6].some((id) => logIds.has(id))).toBe(true);
		expect(wires('nudge-frequency-cap')[1].some((id) => logIds.has(id))).toBe(true);
		expect(wires('nudge-send')[0].some((id) => logIds.has(id))).toBe(true);
		expect(wires('nudge-send')[1].some((id) => logIds.has(id))).toBe(true);
	});

	it('runs scripted contacts end to end and the decision log holds why each was sent or not', async () => {
		const engineId = await loadExample();
		const engine = engineOf(engineId);
		const dana = { email: 'dana@northwind.example', title: 'VP Marketing', employees: 420, consent: { email: 'opted_in' } };

		const hot = event('u-dana', 'Demo Requested', dana);
		const d1 = await run(engineId, hot);
		expect(d1).toMatchObject({ status: 'sent', channel: 'email', journey: 'nurture', score: { tier: 'hot', value: 75 }, annotations: { campaign: 'nurture-example' } });
		expect(d1.delivery).toMatchObject({ status: 'sent', provider: 'webhook', httpStatus: 200, providerMessageId: expect.stringMatching(/^inbox-/) });
		expect(d1.trail.map((t) => t.stage)).toEqual(['ingest', 'score', 'choose', 'guard', 'send', 'log']);
		expect(lastStatus('nudge_nurture_log_sent')).toEqual({ fill: 'green', shape: 'dot', text: 'sent email' });

		const d2 = await run(engineId, event('u-dana', 'Pricing Viewed'));
		expect(d2).toMatchObject({ status: 'suppressed', reason: 'FREQUENCY_CAP', ruleId: 'email-daily' });
		expect(d2.contactId).toBe(d1.contactId);
		// Choose Channel saw the email slot taken (read-only look at the caps), so no Frequency Cap stage.
		expect(d2.trail.map((t) => t.stage)).toEqual(['ingest', 'score', 'choose', 'log']);
		expect(d2.candidates[0]).toMatchObject({ channel: 'email', eligible: false, reason: 'FREQUENCY_CAP', ruleId: 'email-daily' });
		expect(lastStatus('nudge_nurture_log_suppressed')).toEqual({ fill: 'yellow', shape: 'dot', text: 'capped' });

		const maya = await run(engineId, event('u-maya', null, { email: 'maya@fernhill.example', phone: '+14155550123', consent: { email: 'opted_out', sms: 'opted_in' } }));
		expect(maya).toMatchObject({ status: 'sent', channel: 'sms' });

		const tom = await run(engineId, event('u-tom', null, { email: 'tom@quarry.example', phone: '+447700900123', pushToken: 'fcm-1', consent: { email: 'opted_out', sms: 'opted_out', push: 'opted_out' } }));
		expect(tom).toMatchObject({ status: 'suppressed', reason: 'NO_CONSENT' });
		expect(tom.trail.map((t) => t.stage)).toEqual(['ingest', 'score', 'choose', 'log']);

		const anon = await run(engineId, { type: 'track', event: 'Blog Post Viewed', anonymousId: 'anon-1', messageId: `flow-anon-${Date.now()}`, properties: {} });
		expect(anon).toMatchObject({ status: 'suppressed', reason: 'UNREACHABLE' });

		const dup = await postEvents(hot);
		expect(dup.body).toEqual({ accepted: 0, duplicates: 1, decisionIds: [] });

		// Outcomes come back through the flow's outcome endpoint.
		expect(await postOutcome({ decisionId: d1.decisionId, type: 'click' })).toEqual({ status: 200, body: { decisionId: d1.decisionId, duplicate: false, outcomes: 1 } });
		expect(await postOutcome({ decisionId: d1.decisionId, type: 'conversion', value: 12000 })).toMatchObject({ status: 200, body: { duplicate: false, outcomes: 2 } });
		expect(await postOutcome({ decisionId: d1.decisionId, type: 'click' })).toMatchObject({ status: 200, body: { duplicate: true, outcomes: 2 } });
		const refused = await postOutcome({ decisionId: 'd_unknown', type: 'click' });
		expect(refused.status).toBe(400);
		expect(refused.body.error).toMatch(/Decision d_unknown is not in this engine's decision log/);

		// An unsubscribe closes the channel: Maya's next event is not sent by SMS any more.
		expect((await postOutcome({ decisionId: maya.decisionId, type: 'unsubscribe' })).status).toBe(200);
		const mayaAgain = await run(engineId, event('u-maya', 'Pricing Viewed'));
		expect(mayaAgain.status).toBe('suppressed');
		expect(mayaAgain.candidates?.find((c) => c.channel === 'sms')).toMatchObject({ eligible: false, reason: 'NO_CONSENT' });

		// The log, queried the way an auditor would.
		const all = await engine.queryDecisions({ journey: 'nurture' });
		expect(all).toHaveLength(7);
		expect(all.filter((d) => d.status === 'sent').map((d) => d.channel).sort()).toEqual(['email', 'sms']);
		const reasons = all.filter((d) => d.status === 'suppressed').map((d) => d.reason).sort();
		expect(reasons).toEqual(['DUPLICATE_EVENT', 'FREQUENCY_CAP', 'NO_CONSENT', 'NO_ELIGIBLE_CHANNEL', 'UNREACHABLE']);
		// Everything the flow saw was finalised; only the retried delivery (answered by the trigger) was not.
		expect(all.filter((d) => !d.loggedAt)).toEqual([]);
		expect((await engine.queryDecisions({ contactId: d1.contactId })).find((d) => d.decisionId === d1.decisionId)?.outcomes.map((o) => o.type)).toEqual(['click', 'conversion']);
	});

	it('sends only one of several simultaneous events for one contact (atomic cap), and logs the rest as capped', async () => {
		const engineId = await loadExample();
		const traits = { email: 'ava@parcel.example' };
		const res = await postEvents([event('u-ava', 'Email Opened', traits), event('u-ava', 'Email Opened', traits), event('u-ava', 'Email Clicked', traits)]);
		expect(res.body.accepted).toBe(3);
		const decisions = await finalised(engineId, res.body.decisionIds);
		expect(decisions.filter((d) => d.status === 'sent')).toHaveLength(1);
		expect(decisions.filter((d) => d.reason === 'FREQUENCY_CAP')).toHaveLength(2);
	});

	it('logs a failed send through the failed output and gives the cap slot back', async () => {
		const engineId = await loadExample('http://127.0.0.1:9/unreachable');
		const d = await run(engineId, event('u-lee', 'Pricing Viewed', { email: 'lee@example.com' }));
		expect(d).toMatchObject({ status: 'failed', reason: 'SEND_FAILED', delivery: { status: 'failed', attempts: 3 } });
		expect(d.explanation).toMatch(/send failed after 3 attempt\(s\): could not reach 127\.0\.0\.1:9/);
		expect(d.trail.map((t) => t.stage)).toEqual(['ingest', 'score', 'choose', 'guard', 'send', 'log']);
		expect(lastStatus('nudge_nurture_log_suppressed')).toEqual({ fill: 'red', shape: 'dot', text: 'send failed' });
		expect(lastStatus('nudge_nurture_send')).toEqual({ fill: 'red', shape: 'dot', text: 'send failed' });
		// The email-daily slot was released: the same contact may still get an email today.
		const engine = engineOf(engineId);
		const { decision } = await engine.ingest(event('u-lee', 'Pricing Viewed'), { journey: 'nurture' });
		expect((await engine.checkCap(await engine.chooseChannel(decision))).guard?.allowed).toBe(true);
	});
});
