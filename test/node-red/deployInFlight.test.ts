/**
 * A full deploy while a burst of events is on its way through the flow: Node-RED drops the messages in flight, after
 * the sender had its 200. The trigger keeps the decisions its flow had not finished and hands them to the flow again
 * once it has started (engine/events/unfinished.ts), so every event answered 200 is acted on, once.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { closeAllEngines } from '../../engine/registry';
import { startReceiver } from '../helpers/receiver';
import { catchAll, coreNode, engineOf, helper, httpNode, NUDGE_NODES, quietFor, SECRET, segmentEvent, signed, TAB, waitUntil, withHttpCapture } from './_helpers';

// A store of its own for each test: what one test's stop keeps is not handed out in the next.
const files: string[] = [];
let store = '';
beforeEach(() => {
	files.push(path.join(tmpdir(), `nudge-deploy-${process.pid}-${Date.now()}-${files.length}.db`));
	store = `sqlite:${files.at(-1)}`;
});
let receiver: Awaited<ReturnType<typeof startReceiver>>;

type Hooks = { add(name: string, hook: (e: { msg: Record<string, unknown>; destination: { id: string } }) => void): void; remove(name: string): void };
const testHelper = helper as unknown as { _RED: { hooks: Hooks }; _registryUtil: { createNodeApi(node: object): Record<string, unknown> } };

beforeAll(async () => {
	// The node API of a Node-RED runtime has the message hooks (RED.hooks); the test helper's mock runtime leaves them
	// out, though its flows run them: given to the nodes here as Node-RED gives them.
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

const flow = () => [
	...catchAll(),
	{ id: 'eng1', type: 'nudge-engine', name: 'e', store, policy: JSON.stringify({ channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } } }) },
	{ id: 'trigger', type: 'nudge-trigger', z: TAB, engine: 'eng1', path: 'deploy', journey: 'nurture', wires: [['score']] },
	{ id: 'score', type: 'nudge-score', z: TAB, engine: 'eng1', wires: [['choose']] },
	{ id: 'choose', type: 'nudge-choose-channel', z: TAB, engine: 'eng1', wires: [['cap']] },
	{ id: 'cap', type: 'nudge-frequency-cap', z: TAB, engine: 'eng1', operation: 'check', channel: '', wires: [['send'], [], [], []] },
	{ id: 'send', type: 'nudge-send', z: TAB, engine: 'eng1', url: receiver.url, timeout: 5, sign: false, wires: [[], []] },
];
const creds = () => ({ eng1: { signingSecret: SECRET, storeUrl: store } });

test('every event answered 200 before a full deploy is sent once after it: none left pending for ever', async () => {
	await helper.load(withHttpCapture(), flow(), creds());
	const bodies = Array.from({ length: 10 }, () => JSON.stringify(segmentEvent()));
	const answers = await Promise.all(bodies.map((b) => request(httpNode()).post('/nudge/deploy').set(signed(b, SECRET)).send(b)));
	expect(answers.map((a) => a.status)).toEqual(bodies.map(() => 200));
	// Deployed at once, as a user clicking Deploy while a burst arrives.
	await helper.setFlows(flow(), 'full', creds());
	const settled = async () => (await engineOf().queryDecisions({ limit: 100 })).filter((d) => d.status !== 'pending').length;
	await waitUntil(async () => (await settled()) === 10, 'every decision finished after the deploy', 10_000);
	await quietFor(300);
	const decisions = await engineOf().queryDecisions({ limit: 100 });
	expect({ posts: receiver.received.length, statuses: decisions.map((d) => d.status) }).toEqual({ posts: 10, statuses: decisions.map(() => 'sent') });
}, 30_000);

/** A trigger whose flow is `after`, its first node `first`. */
const shortFlow = (after: object[], first: string) => [
	...catchAll(),
	{ id: 'eng1', type: 'nudge-engine', name: 'e', store, policy: '' },
	{ id: 'trigger', type: 'nudge-trigger', z: TAB, engine: 'eng1', path: 'resume', journey: 'nurture', wires: [[first]] },
	...after,
];
/** Ends the flow: done with every message (as Node-RED's own nodes are). */
const END = { id: 'end', type: 'function', z: TAB, func: 'return null;', outputs: 1, wires: [[]] };
/** Holds a message 2 s: a deploy meanwhile drops it. */
const WAIT = { id: 'wait', type: 'delay', z: TAB, pauseType: 'delay', timeout: '2', timeoutUnits: 'seconds', rate: '1', nbRateUnits: '1', rateUnits: 'second', randomFirst: '1', randomLast: '5', randomUnits: 'seconds', drop: false, wires: [['end']] };
const NODES = () => withHttpCapture([...NUDGE_NODES, coreNode('function/10-function.js'), coreNode('function/89-delay.js')]);

/** The messages `id` receives, across deploys (Node-RED's onReceive hook outlives the nodes); removed after each test. */
function received(id: string): Record<string, unknown>[] {
	const seen: Record<string, unknown>[] = [];
	testHelper._RED.hooks.add(`onReceive.deployTest${watchers++}`, (event) => {
		if (event.destination.id === id) seen.push(event.msg);
	});
	return seen;
}
let watchers = 0;


async function postOne(): Promise<void> {
	const body = JSON.stringify(segmentEvent());
	expect((await request(httpNode()).post('/nudge/resume').set(signed(body, SECRET)).send(body)).status).toBe(200);
}
const decisionOf = (msg: Record<string, unknown>) => (msg.decision as { decisionId: string }).decisionId;

test('a decision whose message went through the whole flow (every node done with it) is not handed out again at a deploy', async () => {
	const flow = shortFlow([END], 'end');
	await helper.load(NODES(), flow, creds());
	const seen = received('end');
	const body = JSON.stringify(segmentEvent());
	expect((await request(httpNode()).post('/nudge/resume').set(signed(body, SECRET)).send(body)).status).toBe(200);
	await waitUntil(() => seen.length === 1, 'the hand-out');
	await quietFor(100);
	// Still pending (no Nudge step after the trigger moves it), but finished by the flow.
	expect((await engineOf().getDecision(seen[0].decision)).status).toBe('pending');
	await helper.setFlows(flow, 'full', creds());
	await quietFor(500);
	expect(seen).toHaveLength(1);
});

test('a decision handed out again, still in a delay node at a second deploy, is kept and handed out again then too', async () => {
	const flow = shortFlow([WAIT, END], 'wait');
	await helper.load(NODES(), flow, creds());
	const waiting = received('wait');
	const body = JSON.stringify(segmentEvent({ properties: { cartValue: 129 } }));
	expect((await request(httpNode()).post('/nudge/resume').set(signed(body, SECRET)).send(body)).status).toBe(200);
	await waitUntil(() => waiting.length === 1, 'the hand-out');
	for (let deploy = 1; deploy <= 2; deploy++) {
		await helper.setFlows(flow, 'full', creds());
		await waitUntil(() => waiting.length === deploy + 1, 'the decision handed to the delay node again');
		// The event as the decision log keeps it: its id, type and name, not its properties.
		expect(waiting[deploy]).toMatchObject({ resumed: true, payload: { type: 'track', name: expect.any(String) } });
		expect((waiting[deploy].payload as { properties?: unknown }).properties).toBeUndefined();
	}
});

describe('partial deploys (Modified Nodes): only the messages of the nodes that stop are handed out again', () => {
	const trigger = (extra: object = {}) => ({ id: 'trigger', type: 'nudge-trigger', z: TAB, engine: 'eng1', path: 'resume', journey: 'nurture', wires: [['wait']], ...extra });
	const flow = (t: object = trigger(), wait: object = WAIT) => [...catchAll(), { id: 'eng1', type: 'nudge-engine', name: 'e', store, policy: '' }, t, wait, END];

	test('the delay node holding a decision restarts, the trigger does not: the decision is handed out again', async () => {
		await helper.load(NODES(), flow(), creds());
		const waiting = received('wait');
		await postOne();
		await waitUntil(() => waiting.length === 1, 'the hand-out');
		await helper.setFlows(flow(trigger(), { ...WAIT, name: 'edited' }), 'nodes', creds());
		await waitUntil(() => waiting.length === 2, 'the decision handed out again');
		expect(waiting[1]).toMatchObject({ resumed: true });
		expect(decisionOf(waiting[1])).toBe(decisionOf(waiting[0]));
	});

	test('the trigger restarts, the delay node holding its decision runs on: the decision is not handed to the flow twice', async () => {
		await helper.load(NODES(), flow(), creds());
		const ends = received('end');
		const waiting = received('wait');
		await postOne();
		await waitUntil(() => waiting.length === 1, 'the hand-out');
		await helper.setFlows(flow(trigger({ name: 'edited' })), 'nodes', creds());
		await waitUntil(() => ends.length === 1, 'the decision through the delay node');
		await quietFor(500);
		expect(ends.map(decisionOf)).toEqual([decisionOf(waiting[0])]);
		expect(ends[0].resumed).toBeUndefined();
	});
});

test('a function node done before its asynchronous send: the decision then in a delay node at a full deploy is handed out again', async () => {
	const ASYNC = { id: 'async', type: 'function', z: TAB, func: 'setTimeout(() => node.send(msg), 20);\nreturn;', outputs: 1, wires: [['wait']] };
	const flow = shortFlow([ASYNC, WAIT, END], 'async');
	await helper.load(NODES(), flow, creds());
	const waiting = received('wait');
	await postOne();
	await waitUntil(() => waiting.length === 1, 'the hand-out');
	await helper.setFlows(flow, 'full', creds());
	await waitUntil(() => waiting.length === 2, 'the decision handed out again');
	expect(waiting[1]).toMatchObject({ resumed: true });
});
