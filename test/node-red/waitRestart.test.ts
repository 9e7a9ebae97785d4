/**
 * Waiting is the engine's job, in a real Node-RED process: decisions delayed by a cap wait in the store, not
 * in a delay node's memory, so stopping Node-RED while they wait and starting it again on the same user
 * folder and store loses none; each comes out of "nudge due" once, when due, and is sent once.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Decision } from '../../engine/audit/schema';
import { signatureHeaders } from '../../engine/events/signature';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { SqliteStore } from '../../engine/store/sqlite';
import { tempDir } from '../helpers/fixtures';
import { builtIsFresh, NodeRedRuntime, startNodeRed } from '../helpers/nodeRedRuntime';
import { closeReceivers, startReceiver } from '../helpers/receiver';
import { SECRET, segmentEvent, waitUntil } from './_helpers';

const fresh = builtIsFresh(['nodes/node-red/nudge-due.ts', 'nodes/node-red/nudge-frequency-cap.ts', 'engine/guard/waits.ts', 'engine/engine.ts', 'nodes/node-red/shared/unfinished.ts', 'engine/events/unfinished.ts']);
const maybe = fresh ? describe : describe.skip;

const WINDOW_SECONDS = 4;
/** One email per contact in any 4 seconds; a second one waits for the slot. */
const POLICY = JSON.stringify({ ...DEFAULT_POLICY, name: 'wait-restart', caps: [{ id: 'email-burst', scope: { kind: 'channel', channel: 'email' }, limit: 1, window: { kind: 'rolling', duration: `${WINDOW_SECONDS}s` }, action: 'delay' }] });
const TAB = 'tab1';

function flows(sendUrl: string): object[] {
	const node = (id: string, type: string, extra: Record<string, unknown>, wires: string[][] = [[]]) => ({ id, type, z: TAB, engine: 'eng1', ...extra, wires });
	return [
		{ id: TAB, type: 'tab', label: 'waits' },
		{ id: 'eng1', type: 'nudge-engine', name: 'waits', policy: POLICY },
		node('trigger', 'nudge-trigger', { path: 'events', journey: 'nurture' }, [['choose']]),
		node('choose', 'nudge-choose-channel', {}, [['cap'], ['cap'], ['cap'], ['cap'], ['cap'], ['cap'], ['log']]),
		node('cap', 'nudge-frequency-cap', { operation: 'check', channel: '', category: 'promotional' }, [['send'], ['log'], ['log'], ['log']]),
		node('send', 'nudge-send', { provider: 'webhook', url: sendUrl, timeout: 5, sign: false }, [['log'], ['log']]),
		node('log', 'nudge-log-decision', { annotations: '' }),
		node('due', 'nudge-due', { journey: 'nurture', interval: 0.2 }, [['cap']]),
	];
}

let red: NodeRedRuntime | undefined;
afterEach(async () => {
	await red?.stop();
	await closeReceivers();
});

/** A real Node-RED on a folder and SQLite store of its own, its flows sending to a local inbox. */
async function started(flowsFor: (sendUrl: string) => object[]) {
	const dir = tempDir('nudge-nr-');
	const storeFile = join(dir, 'nudge.db');
	const inbox = await startReceiver([200]);
	const options = { flows: flowsFor(inbox.url), credentials: { eng1: { signingSecret: SECRET, storeUrl: `sqlite:${storeFile}` } }, userDir: join(dir, 'node-red') };
	mkdirSync(options.userDir, { recursive: true });
	red = await startNodeRed(options);
	return { storeFile, inbox, options };
}

maybe('delayed decisions in a real Node-RED process', () => {
	test('stopped while decisions wait and started again on the same folder and store: none is lost, each is sent once when due', async () => {
		const { storeFile, inbox, options } = await started(flows);
		const post = async (events: unknown[]) => {
			const body = JSON.stringify(events);
			const res = await fetch(`${red!.origin}/nudge/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...signatureHeaders(SECRET, body) }, body });
			expect(res.status).toBe(200);
			return ((await res.json()) as { decisionIds: string[] }).decisionIds;
		};
		const store = new SqliteStore(storeFile);
		const read = async (id: string) => (await store.getDecision(id)) as Decision;
		try {
			// Two contacts, two events each in one batch: the first of each goes out at once, the second waits for the slot.
			const people = ['ana', 'ben'].map((name) => ({ userId: `wr-${name}`, context: { traits: { email: `${name}@example.com` } } }));
			const ids = await post(people.flatMap((p) => [segmentEvent(p), segmentEvent(p)]));
			expect(ids).toHaveLength(4);
			await waitUntil(async () => (await Promise.all(ids.map(read))).every((d) => d?.loggedAt), 'all four decisions to be logged');
			const first = await Promise.all(ids.map(read));
			expect(first.map((d) => d.status)).toEqual(['sent', 'delayed', 'sent', 'delayed']);
			const waiting = [first[1], first[3]];
			for (const d of waiting) expect(d).toMatchObject({ reason: 'FREQUENCY_CAP', ruleId: 'email-burst', guard: { retryAt: expect.any(String) } });

			// Stopped while they wait…
			await red!.stop();
			expect(Date.now()).toBeLessThan(Math.min(...waiting.map((d) => Date.parse(d.guard!.retryAt!))));
			expect((await Promise.all(waiting.map((d) => read(d.decisionId)))).map((d) => d.status)).toEqual(['delayed', 'delayed']);
			// …and started again on the same folder and store: each comes out when due and is sent.
			red = await startNodeRed(options);
			await waitUntil(async () => (await Promise.all(waiting.map((d) => read(d.decisionId)))).every((d) => d.status === 'sent' && d.trail.at(-1)?.stage === 'log'), 'the waiting decisions to be sent after the restart', 20_000);
			for (const before of waiting) {
				const after = await read(before.decisionId);
				// Not before its time, and the same decision finalised: one wait, one send.
				expect(Date.parse(after.delivery!.at)).toBeGreaterThanOrEqual(Date.parse(before.guard!.retryAt!));
				expect(after.trail.filter((t) => t.stage === 'guard').map((t) => t.status)).toEqual(['delayed', 'pending']);
				expect(after.trail.filter((t) => t.stage === 'send')).toHaveLength(1);
			}
			// Sent once each (the inbox saw four messages in all), and nothing more comes out.
			await new Promise((r) => setTimeout(r, 1000));
			const sentIds = inbox.received.map((r) => (JSON.parse(r.body) as { decisionId: string }).decisionId);
			expect(sentIds.sort()).toEqual([...ids].sort());
		} finally {
			await store.close();
		}
	}, 60_000);
});

/** Trigger → a 1 s delay node → Choose Channel → Frequency Cap → Send: a deploy within that second drops the messages. */
function delayedFlows(sendUrl: string): object[] {
	const node = (id: string, type: string, extra: Record<string, unknown>, wires: string[][] = [[]]) => ({ id, type, z: TAB, engine: 'eng1', ...extra, wires });
	return [
		{ id: TAB, type: 'tab', label: 'deploys' },
		{ id: 'eng1', type: 'nudge-engine', name: 'deploys', policy: JSON.stringify({ ...DEFAULT_POLICY, name: 'deploys', caps: [] }) },
		node('trigger', 'nudge-trigger', { path: 'events', journey: 'nurture' }, [['hold']]),
		{ id: 'hold', type: 'delay', z: TAB, pauseType: 'delay', timeout: '1', timeoutUnits: 'seconds', rate: '1', nbRateUnits: '1', rateUnits: 'second', randomFirst: '1', randomLast: '5', randomUnits: 'seconds', drop: false, wires: [['choose']] },
		node('choose', 'nudge-choose-channel', {}, [['cap'], ['cap'], ['cap'], ['cap'], ['cap'], ['cap'], []]),
		node('cap', 'nudge-frequency-cap', { operation: 'check', channel: '' }, [['send'], [], [], []]),
		node('send', 'nudge-send', { provider: 'webhook', url: sendUrl, timeout: 5, sign: false }, [[], []]),
	];
}

maybe('a full deploy in a real Node-RED process while events are in its flow', () => {
	test('every event answered 200 before the deploy is sent once after it, through the admin API deploy users make', async () => {
		const { storeFile, inbox } = await started(delayedFlows);
		if (!red) throw new Error('Node-RED did not start');
		const body = JSON.stringify(['ana', 'ben', 'cy', 'dee', 'eve'].map((name) => segmentEvent({ userId: `dp-${name}`, context: { traits: { email: `${name}@example.com` } } })));
		const res = await fetch(`${red.origin}/nudge/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...signatureHeaders(SECRET, body) }, body });
		expect(res.status).toBe(200);
		const ids = ((await res.json()) as { decisionIds: string[] }).decisionIds;
		expect(ids).toHaveLength(5);
		// The editor's Deploy (full), while the five wait in the delay node.
		const deploy = await fetch(`${red.origin}/flows`, { method: 'POST', headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full', 'Node-RED-API-Version': 'v2' }, body: JSON.stringify({ flows: delayedFlows(inbox.url) }) });
		expect(deploy.status).toBe(200);
		const store = new SqliteStore(storeFile);
		try {
			await waitUntil(async () => (await Promise.all(ids.map((id) => store.getDecision(id)))).every((d) => d?.status === 'sent'), 'the five decisions to be sent after the deploy', 15_000);
			await new Promise((r) => setTimeout(r, 500));
			const sent = inbox.received.map((r) => (JSON.parse(r.body) as { decisionId: string }).decisionId);
			expect(sent.sort()).toEqual([...ids].sort());
			expect(red.output()).not.toMatch(/Could not (keep|hand)/);
		} finally {
			await store.close();
		}
	}, 60_000);
});
