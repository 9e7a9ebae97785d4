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
import { catchAll, engineOf, helper, httpNode, quietFor, SECRET, segmentEvent, signed, TAB, waitUntil, withHttpCapture } from './_helpers';

const file = path.join(tmpdir(), `nudge-deploy-${process.pid}-${Date.now()}.db`);
const store = `sqlite:${file}`;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
	await helper.startServer();
	receiver = await startReceiver();
});
afterAll(async () => {
	await helper.unload();
	await helper.stopServer();
	await closeAllEngines();
	await receiver.close();
	for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
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
const creds = { eng1: { signingSecret: SECRET, storeUrl: store } };

test('every event answered 200 before a full deploy is sent once after it: none left pending for ever', async () => {
	await helper.load(withHttpCapture(), flow(), creds);
	const bodies = Array.from({ length: 10 }, () => JSON.stringify(segmentEvent()));
	const answers = await Promise.all(bodies.map((b) => request(httpNode()).post('/nudge/deploy').set(signed(b, SECRET)).send(b)));
	expect(answers.map((a) => a.status)).toEqual(bodies.map(() => 200));
	// Deployed at once, as a user clicking Deploy while a burst arrives.
	await helper.setFlows(flow(), 'full', creds);
	const settled = async () => (await engineOf().queryDecisions({ limit: 100 })).filter((d) => d.status !== 'pending').length;
	await waitUntil(async () => (await settled()) === 10, 'every decision finished after the deploy', 10_000);
	await quietFor(300);
	const decisions = await engineOf().queryDecisions({ limit: 100 });
	expect({ posts: receiver.received.length, statuses: decisions.map((d) => d.status) }).toEqual({ posts: 10, statuses: decisions.map(() => 'sent') });
}, 30_000);
