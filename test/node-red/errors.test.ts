/**
 * Bad input never crashes Node-RED, never corrupts the store and is never silently dropped: each case
 * ends in done(err) with a message a marketer can act on (seen by a Catch node) and a red status.
 */
import { closeAllEngines } from '../../engine/registry';
import type { NudgeEngineNode } from '../../nodes/node-red/shared/adapter';
import {
	catchAll,
	credentials,
	engineNodeDef,
	engineOf,
	helper,
	lastStatus,
	nextCaught,
	nextMessage,
	nodeOf,
	NUDGE_NODES,
	quietFor,
	recordMessages,
	segmentEvent,
	TAB,
} from './_helpers';

/** Node ids must differ from type names (Node-RED would take them for config-node references). */
const idOf = (type: string) => `n_${type.replace('nudge-', '')}`;
const STEP_TYPES = ['nudge-score', 'nudge-choose-channel', 'nudge-frequency-cap', 'nudge-send', 'nudge-log-decision', 'nudge-record-outcome'];

function stepsFlow(engine = 'eng1', engineDef: Record<string, unknown> | null = {}): Record<string, unknown>[] {
	return [
		...catchAll(),
		...(engineDef ? [engineNodeDef(engineDef)] : []),
		...STEP_TYPES.map((type) => ({
			id: idOf(type),
			type,
			z: TAB,
			engine,
			...(type === 'nudge-send' ? { url: 'http://127.0.0.1:9/never', timeout: 1, sign: false } : {}),
			...(type === 'nudge-record-outcome' ? { outcomeType: 'click' } : {}),
			wires: [['out']],
		})),
		{ id: 'out', type: 'helper', z: TAB },
	];
}

beforeAll(() => helper.startServer());
afterAll(async () => {
	await helper.stopServer();
	await closeAllEngines();
});
afterEach(() => helper.unload());

describe('missing or invalid engine configuration', () => {
	it('a node without a config node shows "no engine" and fails each message saying what to do', async () => {
		await helper.load(NUDGE_NODES, stepsFlow('not-deployed', null), {});
		const out = recordMessages(['out']).out;
		for (const type of STEP_TYPES) {
			expect(lastStatus(idOf(type))).toEqual({ fill: 'red', shape: 'dot', text: 'no engine' });
			const caught = nextCaught();
			nodeOf(idOf(type)).receive({ payload: segmentEvent(), decisionId: 'd_x' });
			const error = await caught;
			expect(error.source).toBe(idOf(type));
			expect(error.message).toMatch(/^No Nudge engine is selected/); // the plain message, no "NudgeError:" prefix
			expect(error.message).toMatch(/No Nudge engine is selected: open this node, pick a Nudge Engine \(or add one with the pencil button\) and deploy/);
		}
		await quietFor(50);
		expect(out).toHaveLength(0);
	});

	it.each([
		['a policy that is not JSON', { policy: '{"caps": [' }, /Policy is not valid JSON/],
		['a policy with an invalid rule', { policy: JSON.stringify({ channelOrder: ['email'], caps: [{ id: 'x', scope: { kind: 'any' }, limit: 0, window: { kind: 'rolling', duration: '1 day' } }] }) }, /Policy is not valid: caps\.0\.limit: must be at least 1; caps\.0\.window\.duration: must be a number followed by s, m, h, d or w/],
		['an unknown store', { store: 'mongodb://db/nudge' }, /Unknown store "mongodb:\/\/db\/nudge". Use sqlite:<file path>/],
	])('%s: Node-RED keeps running, each node is red and fails messages with the reason', async (_label, config, reason) => {
		await helper.load(NUDGE_NODES, stepsFlow('eng1', config), credentials());
		const engineNode = helper.getNode('eng1') as unknown as NudgeEngineNode;
		expect(engineNode.engine).toBeUndefined();
		expect(engineNode.configError?.message).toMatch(reason);
		for (const type of STEP_TYPES) {
			expect(lastStatus(idOf(type))).toEqual({ fill: 'red', shape: 'dot', text: 'engine not set up' });
			const caught = nextCaught();
			nodeOf(idOf(type)).receive({ payload: segmentEvent(), decisionId: 'd_x' });
			const error = await caught;
			expect(error.message).toMatch(/The Nudge engine "test engine" cannot be used: /);
			expect(error.message).toMatch(reason);
			expect(error.message).toMatch(/Fix it in the Nudge Engine settings and deploy again/);
		}
	});
});

describe('messages that are not about a decision', () => {
	beforeEach(() => helper.load(NUDGE_NODES, stepsFlow(), credentials()));

	it.each([
		['a text payload', 'hello'],
		['no payload at all', undefined],
		['an event without a contact', { type: 'track', event: 'Pricing Viewed', properties: {} }],
	])('%s: done(err) explaining how to connect the node, red status, nothing stored', async (_label, payload) => {
		const engine = engineOf();
		for (const type of ['nudge-score', 'nudge-choose-channel', 'nudge-frequency-cap', 'nudge-log-decision']) {
			const caught = nextCaught();
			nodeOf(idOf(type)).receive({ payload });
			const error = await caught;
			expect(error.message).toMatch(/carries no Nudge decision and is not a customer event either/);
			expect(error.message).toMatch(/Connect this node after a Nudge Trigger or another Nudge node, or give it an event/);
			expect(lastStatus(idOf(type))).toEqual({ fill: 'red', shape: 'dot', text: 'invalid event' });
		}
		expect(await engine.queryDecisions({})).toEqual([]);
	});

	// Taken in, such an event was used up (a pending decision nothing finished) and the same event sent again to the
	// mended flow a duplicate that started nothing: refused before it is taken in, as in n8n.
	it.each([
		['nudge-send', /and Send sends only a decision that passed Frequency Cap/],
		['nudge-frequency-cap', /and a new decision has no channel yet: put Choose Channel before Frequency Cap/],
	])('an event given straight to %s (no channel set) is refused before it is taken in; the same event with a channel is decided', async (type, why) => {
		const engine = engineOf();
		const event = segmentEvent();
		const caught = nextCaught();
		nodeOf(idOf(type)).receive({ payload: event });
		const { message } = await caught;
		expect(message).toMatch(why);
		expect(message).toMatch(/Nothing was taken in: once the flow is mended, the same event can be sent to it again$/);
		expect(await engine.queryDecisions({})).toEqual([]);
		const reached = nextMessage('out');
		nodeOf(idOf('nudge-frequency-cap')).receive({ payload: event, message: { channel: 'email' } });
		await reached;
		const decisions = await engine.queryDecisions({});
		expect(decisions.map((d) => [d.event.eventId, d.reason ?? null])).toEqual([[event.messageId, null]]);
	});

	it('names the missing field of an event', async () => {
		const caught = nextCaught();
		nodeOf(idOf('nudge-score')).receive({ payload: { type: 'track', userId: 'u-1', properties: {} } });
		expect((await caught).message).toMatch(/event: a Segment track call needs an event name/);
		expect((await engineOf().store.resolveIdentities(['userId:u-1'])).size).toBe(0);
	});

	it('an unknown decision id fails with the reason, and creates nothing', async () => {
		const caught = nextCaught();
		nodeOf(idOf('nudge-score')).receive({ decision: { decisionId: 'd_does_not_exist' } });
		expect((await caught).message).toMatch(/Decision d_does_not_exist is not in this engine's decision log \(is the node using the same engine settings as the trigger\?\)/);
		expect(lastStatus(idOf('nudge-score'))).toEqual({ fill: 'red', shape: 'dot', text: 'unknown decision' });
		expect(await engineOf().queryDecisions({})).toEqual([]);
	});

	it('a decision about an unknown (erased) contact fails with the reason and stays unchanged', async () => {
		const engine = engineOf();
		const { decision } = await engine.ingest(segmentEvent(), { journey: 'nurture' });
		const orphan = { ...structuredClone(decision), decisionId: 'd_orphan', contactId: 'c_erased' };
		await engine.store.putDecision(orphan);
		for (const type of ['nudge-score', 'nudge-choose-channel']) {
			const caught = nextCaught();
			nodeOf(idOf(type)).receive({ decision: orphan });
			expect((await caught).message).toMatch(/Contact c_erased is unknown: no profile exists for it \(was it erased\?\)/);
			expect(lastStatus(idOf(type))).toEqual({ fill: 'red', shape: 'dot', text: 'unknown contact' });
		}
		expect(await engine.store.getDecision('d_orphan')).toEqual(orphan);
	});

	it('log decision with notes that are not a JSON object: red status and each message fails', async () => {
		await helper.unload();
		await helper.load(NUDGE_NODES, [...catchAll(), engineNodeDef(), { id: 'log', type: 'nudge-log-decision', z: TAB, engine: 'eng1', annotations: '{campaign: spring}', wires: [[]] }], credentials());
		expect(lastStatus('log')).toEqual({ fill: 'red', shape: 'dot', text: 'invalid input' });
		const { decision } = await engineOf().ingest(segmentEvent(), { journey: 'nurture' });
		const caught = nextCaught();
		nodeOf('log').receive({ decision });
		expect((await caught).message).toMatch(/Annotations must be a JSON object such as \{"campaign": "spring"\}/);
		expect((await engineOf().store.getDecision(decision.decisionId))?.loggedAt).toBeUndefined();
	});
});

describe('a failure after the engine step', () => {
	it('a message Node-RED cannot copy for a second wire (nested too deep) ends in done(err) seen by a Catch node, not an unhandled rejection', async () => {
		await helper.load(
			NUDGE_NODES,
			[...catchAll(), engineNodeDef(), { id: 'score', type: 'nudge-score', z: TAB, engine: 'eng1', wires: [['a', 'b']] }, { id: 'a', type: 'helper', z: TAB }, { id: 'b', type: 'helper', z: TAB }],
			credentials(),
		);
		const { decision } = await engineOf().ingest(segmentEvent(), { journey: 'nurture' });
		let deep: Record<string, unknown> = {};
		const payload = deep;
		for (let i = 0; i < 20_000; i++) deep = deep.x = {};
		const caught = nextCaught();
		nodeOf('score').receive({ decision: decision.decisionId, payload });
		const error = await caught;
		expect(error.message).toMatch(/Nudge could not process this message: Maximum call stack size exceeded/);
		expect(lastStatus('score')).toMatchObject({ fill: 'red' });
	});

	// Found by a burst of hostile messages into the shipped journeys' nodes in a real Node-RED runtime: a msg.decision
	// that throws when read (a getter, or a Proxy Node-RED cannot copy) reached no Catch node, only the log.
	it.each([
		['a getter on msg.decision that throws', () => Object.defineProperty({ _msgid: 'm-getter' }, 'decision', { enumerable: true, get: () => { throw new Error('getter boom'); } })],
		['a msg.decision Proxy that throws on every read', () => ({ _msgid: 'm-proxy', decision: new Proxy({}, { get: () => { throw new Error('getter boom'); }, ownKeys: () => { throw new Error('getter boom'); } }) })],
	])('%s: the step node fails it with done(err) seen by a Catch node', async (_name, hostile) => {
		await helper.load(NUDGE_NODES, [...catchAll(), engineNodeDef(), { id: 'score', type: 'nudge-score', z: TAB, engine: 'eng1', wires: [['next']] }, { id: 'next', type: 'helper', z: TAB }], credentials());
		const reached = recordMessages(['next']);
		const caught = nextCaught();
		nodeOf('score').receive(hostile());
		expect(await caught).toEqual({ message: 'Nudge could not process this message: getter boom', source: 'score' });
		expect(lastStatus('score')).toMatchObject({ fill: 'red' });
		expect(reached.next).toEqual([]);
	});
});
