/**
 * A trigger's work that ends while a deploy stops the flows: an event taken in (answered 200) or a timer fired and
 * acknowledged after Node-RED said the flows stop (flows:stopping) is handed to a flow that no longer runs, and
 * Node-RED drops the message. Found by bursts into a real Node-RED 5.0.7 with redeploys during each round (3 rounds of
 * 700 signed and hostile webhook requests + 700 injected messages, the three shipped journeys, their inactivity timers
 * shortened): 144 decisions fired by the cart timers at a deploy were left `pending` for ever, their timers gone. Here
 * the trigger's work is held until the deploy has begun, then let go: the decision must still be acted on, once.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import type { Engine } from '../../engine';
import { closeAllEngines } from '../../engine/registry';
import { startReceiver } from '../helpers/receiver';
import { catchAll, engineOf, helper, httpNode, quietFor, SECRET, segmentEvent, signed, TAB, waitUntil, withHttpCapture } from './_helpers';

const files: string[] = [];
let store = '';
beforeEach(() => {
	files.push(path.join(tmpdir(), `nudge-stopping-${process.pid}-${Date.now()}-${files.length}.db`));
	store = `sqlite:${files.at(-1)}`;
});
let receiver: Awaited<ReturnType<typeof startReceiver>>;

type Hooks = { add(name: string, hook: (e: unknown) => void): void; remove(name: string): void };
type Events = { on(name: string, listener: () => void): void; removeListener(name: string, listener: () => void): void };
const testHelper = helper as unknown as { _RED: { hooks: Hooks; events: Events }; _registryUtil: { createNodeApi(node: object): Record<string, unknown> } };

beforeAll(async () => {
	// Node-RED gives its nodes the message hooks (RED.hooks); the test helper's mock runtime leaves them out.
	const createNodeApi = testHelper._registryUtil.createNodeApi.bind(testHelper._registryUtil);
	testHelper._registryUtil.createNodeApi = (node) => ({ ...createNodeApi(node), hooks: testHelper._RED.hooks });
	await helper.startServer();
	receiver = await startReceiver();
});
afterEach(async () => {
	await helper.unload();
	await closeAllEngines();
});
afterAll(async () => {
	await helper.stopServer();
	await closeAllEngines();
	await receiver.close();
	for (const file of files) for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
});

// No cap, no quiet hours: each decision that goes through is sent, whatever the time of day.
const POLICY = JSON.stringify({ channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } }, caps: [], quietHours: [], journeys: { nurture: { triggers: ['Cart Abandoned'] } } });
const flow = (trigger: Record<string, unknown> = {}) => [
	...catchAll(),
	{ id: 'eng1', type: 'nudge-engine', name: 'e', store, policy: POLICY },
	{ id: 'trigger', type: 'nudge-trigger', z: TAB, engine: 'eng1', path: 'stopping', journey: 'nurture', wires: [['score']], ...trigger },
	{ id: 'score', type: 'nudge-score', z: TAB, engine: 'eng1', wires: [['choose']] },
	{ id: 'choose', type: 'nudge-choose-channel', z: TAB, engine: 'eng1', wires: [['cap']] },
	{ id: 'cap', type: 'nudge-frequency-cap', z: TAB, engine: 'eng1', operation: 'check', channel: '', wires: [['send'], [], [], []] },
	{ id: 'send', type: 'nudge-send', z: TAB, engine: 'eng1', url: receiver.url, timeout: 5, sign: false, wires: [[], []] },
];
const creds = () => ({ eng1: { signingSecret: SECRET, storeUrl: store } });

/** A gate: `wait` resolves once `open` is called; `reached` says whether anything waits at it. */
function gate() {
	let open!: () => void;
	const opened = new Promise<void>((resolve) => (open = resolve));
	const state = { reached: false, open, wait: () => ((state.reached = true), opened) };
	return state;
}

/** A deploy begun, not awaited: resolves `stopping` once Node-RED has said the flows stop. */
function deploy(flows: object[], type: 'full' | 'nodes' = 'full') {
	let stopped!: () => void;
	const stopping = new Promise<void>((resolve) => (stopped = resolve));
	const onStopping = () => stopped();
	testHelper._RED.events.on('flows:stopping', onStopping);
	const deployed = helper.setFlows(flows, type, creds()).finally(() => testHelper._RED.events.removeListener('flows:stopping', onStopping));
	return { stopping, deployed };
}

const decisionsOf = async () => engineOf().queryDecisions({ limit: 100 });

/** Loads the flow and posts an event whose taking-in, once stored, waits at a gate: the trigger's work still under way. */
async function postHeldAtGate() {
	await helper.load(withHttpCapture(), flow(), creds());
	const held = gate();
	const engine = engineOf() as Engine & { ingestBatch: Engine['ingestBatch'] };
	const ingestBatch = engine.ingestBatch.bind(engine);
	engine.ingestBatch = async (...args) => {
		const taken = await ingestBatch(...args);
		await held.wait();
		return taken;
	};
	const body = JSON.stringify(segmentEvent({ event: 'Cart Abandoned' }));
	const answer = request(httpNode()).post('/nudge/stopping').set(signed(body, SECRET)).send(body).then((r) => r);
	await waitUntil(() => held.reached, 'the event taken in');
	return { held, answer };
}

/** The decision ended sent, and the receiver got it once. */
async function expectSentOnce(id: string) {
	expect({ status: (await engineOf().getDecision(id))?.status, posts: receiver.received.filter((r) => JSON.parse(r.body).decisionId === id).length }).toEqual({ status: 'sent', posts: 1 });
}

test('an event answered 200 after the deploy began is still sent, once', async () => {
	const { held, answer } = await postHeldAtGate();
	const { stopping, deployed } = deploy(flow());
	await stopping;
	held.open();
	const res = await answer;
	await deployed;
	expect(res.status).toBe(200);
	const [id] = (res.body as { decisionIds: string[] }).decisionIds;
	await waitUntil(async () => (await engineOf().getDecision(id))?.status !== 'pending', 'the decision acted on after the deploy', 10_000);
	await quietFor(300);
	await expectSentOnce(id);
}, 30_000);

test('a decision fired by an inactivity timer after the deploy began is still sent, once', async () => {
	const timed = { timers: JSON.stringify([{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 0.01, fire: 'Cart Abandoned' }]), timerCheck: 0.05 };
	await helper.load(withHttpCapture(), flow(timed), creds());
	const held = gate();
	const engine = engineOf();
	const takeDueTimers = engine.store.takeDueTimers.bind(engine.store);
	engine.store.takeDueTimers = async (...args) => {
		const due = await takeDueTimers(...args);
		if (due.length) await held.wait();
		return due;
	};
	const body = JSON.stringify(segmentEvent({ event: 'Cart Updated' }));
	const res = await request(httpNode()).post('/nudge/stopping').set(signed(body, SECRET)).send(body);
	expect(res.status).toBe(200);
	// The event's own decision (not a trigger of the journey) is suppressed; the timer it started is taken, and waits.
	await waitUntil(() => held.reached, 'the timer taken');
	const { stopping, deployed } = deploy(flow(timed));
	await stopping;
	held.open();
	await deployed;
	const fired = (await decisionsOf()).find((d) => d.event.eventId.startsWith('inactivity:'));
	expect(fired).toBeDefined();
	await waitUntil(async () => (await engineOf().getDecision(fired!.decisionId))?.status !== 'pending', 'the fired decision acted on after the deploy', 10_000);
	await quietFor(300);
	await expectSentOnce(fired!.decisionId);
}, 30_000);

test('an event answered 200 while a partial deploy stops other nodes is handed out once the flows have started, and sent once', async () => {
	const { held, answer } = await postHeldAtGate();
	// Modified Nodes: only Send restarts; the trigger runs on.
	const edited = flow().map((n) => (n.id === 'send' ? { ...n, name: 'edited' } : n));
	const { stopping, deployed } = deploy(edited, 'nodes');
	await stopping;
	held.open();
	const res = await answer;
	await deployed;
	expect(res.status).toBe(200);
	const [id] = (res.body as { decisionIds: string[] }).decisionIds;
	await waitUntil(async () => (await engineOf().getDecision(id))?.status !== 'pending', 'the decision acted on after the deploy', 10_000);
	await quietFor(300);
	await expectSentOnce(id);
}, 30_000);

// A Modified Nodes deploy whose flows Node-RED will not start (a node type not installed: the editor deploys it once its
// warning is confirmed) says flows:stopping and never flows:started; the trigger was not stopped and runs on, answering
// 200. Found by a review: every decision it handed out was held in memory, never acted on.
test('after a Modified Nodes deploy with a node type not installed, an event answered 200 is still acted on by the flow that runs on', async () => {
	await helper.load(withHttpCapture(), flow(), creds());
	await helper.setFlows([...flow(), { id: 'x', type: 'not-installed-type', z: TAB, wires: [] }], 'nodes', creds()).catch(() => undefined);
	const body = JSON.stringify(segmentEvent({ event: 'Cart Abandoned' }));
	const res = await request(httpNode()).post('/nudge/stopping').set(signed(body, SECRET)).send(body);
	expect(res.status).toBe(200);
	const [id] = (res.body as { decisionIds: string[] }).decisionIds;
	await waitUntil(async () => (await engineOf().getDecision(id))?.status !== 'pending', 'the decision acted on by the flow that still runs', 5_000);
	expect((await engineOf().getDecision(id))?.status).toBe('sent');
}, 30_000);
