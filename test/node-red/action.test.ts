/** nudge-action in a real Node-RED runtime: a proposed message → the verdict, on the output of that verdict. */
import { closeAllEngines } from '../../engine/registry';
import { catchAll, credentials, engineNodeDef, engineOf, helper, lastStatus, nextCaught, nextMessage, nodeOf, NUDGE_NODES, TAB } from './_helpers';

const flow = (extra: Record<string, unknown> = {}) => [
	...catchAll(),
	engineNodeDef(),
	{ id: 'action', type: 'nudge-action', z: TAB, engine: 'eng1', agentId: 'flow-bot', ...extra, wires: [['allow'], ['defer'], ['approval'], ['deny']] },
	...['allow', 'defer', 'approval', 'deny'].map((id) => ({ id, type: 'helper', z: TAB })),
];

beforeAll(() => helper.startServer());
afterAll(async () => {
	await helper.stopServer();
	await closeAllEngines();
});
afterEach(() => helper.unload());

async function known() {
	const engine = engineOf();
	await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' } }, { journey: 'nurture' });
	await engine.ingest({ type: 'identify', identities: { email: 'ben@example.com' }, traits: { consent: { email: 'opted_out' } } });
	return engine;
}

async function verdictAt(output: string, payload: unknown) {
	const out = nextMessage(output);
	nodeOf('action').receive({ payload });
	return (await out).payload as Record<string, unknown>;
}

describe('nudge-action', () => {
	it('routes allow and deny to their outputs, as the node’s agent, once per idempotency key', async () => {
		await helper.load(NUDGE_NODES, flow(), credentials());
		const engine = await known();
		const request = { contact: 'ana@example.com', idempotencyKey: 'nr-1', channel: 'email', message: { text: 'Hello' } };

		const allowed = await verdictAt('allow', request);
		expect(allowed).toMatchObject({ verdict: 'allow', agentId: 'flow-bot', channel: 'email', dryRun: false });
		expect(lastStatus('action')).toEqual({ fill: 'green', shape: 'dot', text: 'allow' });
		expect(await verdictAt('allow', request)).toMatchObject({ decisionId: allowed.decisionId, duplicate: true });
		expect(await engine.getDecision(allowed.decisionId as string)).toMatchObject({ agent: expect.objectContaining({ agentId: 'flow-bot' }) });

		expect(await verdictAt('deny', { contact: 'ben@example.com', idempotencyKey: 'nr-2', channel: 'email' })).toMatchObject({ verdict: 'deny', reasons: ['NO_CONSENT'] });
	});

	it('with Dry run on answers without logging anything; a message cannot turn it off', async () => {
		await helper.load(NUDGE_NODES, flow({ dryRun: true }), credentials());
		const engine = await known();
		const before = (await engine.queryDecisions({})).length;
		expect(await verdictAt('allow', { contact: 'ana@example.com', idempotencyKey: 'nr-3', dryRun: false })).toMatchObject({ verdict: 'allow', dryRun: true });
		expect((await engine.queryDecisions({})).length).toBe(before);
	});

	it('refuses a request naming another agent, or a bad one, with an error a Catch node gets; nothing is logged', async () => {
		await helper.load(NUDGE_NODES, flow(), credentials());
		const engine = await known();
		let caught = nextCaught();
		nodeOf('action').receive({ payload: { agentId: 'admin-bot', contact: 'ana@example.com', idempotencyKey: 'nr-4' } });
		expect((await caught).message).toMatch(/"admin-bot" is not this node's Agent ID/);
		caught = nextCaught();
		nodeOf('action').receive({ payload: { contact: 'ana@example.com', idempotencyKey: 'nr-5', channel: 'fax' } });
		expect((await caught).message).toMatch(/channel: must be one of email/);
		caught = nextCaught();
		nodeOf('action').receive({ payload: 'send ana a coupon' });
		expect((await caught).message).toMatch(/msg.payload must be the action request/);
		expect((await engine.queryDecisions({})).filter((d) => d.agent)).toEqual([]);
	});

	it('refuses a request naming another journey than the node’s (its caps, holdout and review rules are the node’s choice)', async () => {
		await helper.load(NUDGE_NODES, flow({ journey: 'agent' }), credentials());
		const engine = await known();
		const caught = nextCaught();
		nodeOf('action').receive({ payload: { contact: 'ana@example.com', idempotencyKey: 'nr-j', channel: 'email', journey: 'nurture', message: { text: 'Hi' } } });
		expect((await caught).message).toMatch(/msg.payload.journey "nurture" is not the node's journey "agent"/);
		expect((await engine.queryDecisions({})).filter((d) => d.agent)).toEqual([]);
		// Naming the node's own journey is fine: the action is decided there.
		expect(await verdictAt('allow', { contact: 'ana@example.com', idempotencyKey: 'nr-k', channel: 'email', journey: 'agent', message: { text: 'Hi' } })).toMatchObject({ verdict: 'allow' });
		expect((await engine.queryDecisions({})).filter((d) => d.agent).map((d) => d.journey)).toEqual(['agent']);
	});
});
