/**
 * What the demo changes in the journey flows before deploying them: only the settings they expose
 * (store, signing secret, Send address, timer and due checks, the policy's timer waits and longest
 * best-send-time wait) — every node of every
 * flow is there, the shared engine once, and the flows on disk are untouched.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadJourneyFlows, prepareForDemo, type FlowNode } from '../../demo/flows';
import { JOURNEY_IDS } from '../../demo/simulator';

const ROOT = path.join(__dirname, '..', '..');
const onDisk = (journey: string) => JSON.parse(readFileSync(path.join(ROOT, 'flows', 'node-red', `${journey}.json`), 'utf8')) as FlowNode[];
const SETTINGS = { store: 'sqlite:/tmp/x.db', origin: 'http://127.0.0.1:4321', msPerMinute: 100, maxWaitMinutes: 90, timerCheckSeconds: 0.25 };

describe('loadJourneyFlows / prepareForDemo', () => {
	it('loads the three flows with every node once, and finds each trigger path and review endpoint', () => {
		const flows = loadJourneyFlows(ROOT);
		const ids = new Set(JOURNEY_IDS.flatMap((j) => onDisk(j).map((n) => n.id)));
		expect(new Set(flows.nodes.map((n) => n.id))).toEqual(ids);
		expect(flows.nodes).toHaveLength(ids.size);
		expect(flows.engines).toHaveLength(1);
		expect(flows.nodes.filter((n) => n.type === 'tab')).toHaveLength(3);
		// Nurture's messages wait for the best send time in the engine (its policy), not in a flow's Delay node.
		expect(flows.nodes.filter((n) => n.type === 'delay')).toEqual([]);
		expect(JSON.parse(String(flows.engines[0].policy)).journeys.nurture.sendTime).toEqual({ waitForBestTime: true, maxWait: '24h' });
		for (const journey of JOURNEY_IDS) {
			expect(flows.journeys.get(journey)).toEqual({ path: journey, file: `flows/node-red/${journey}.json`, reviewUrl: `/demo/${journey}/review` });
		}
	});

	it('changes only the exposed settings: store, secret, Send address, timer and due checks, the timers\' waits and the longest best-send-time wait', () => {
		const flows = loadJourneyFlows(ROOT);
		const before = JSON.parse(JSON.stringify(flows.nodes)) as FlowNode[];
		const credentials = prepareForDemo(flows, SETTINGS, 's3cret');
		const engine = flows.engines[0];
		// The store URL goes with the credentials, never into the flows.
		expect(credentials).toEqual({ [engine.id]: { signingSecret: 's3cret', storeUrl: 'sqlite:/tmp/x.db' } });
		expect(engine.store).toBeUndefined();
		// The policy is the same except the cart timers: 60 min → 6 s, 30 min → 3 s, 24 h held to 90 min → 9 s;
		// and nurture's best-send-time wait, held to the same 90 scenario minutes: 9 s.
		const policy = JSON.parse(String(engine.policy));
		const original = JSON.parse(String(before.find((n) => n.id === engine.id)!.policy));
		expect(policy.journeys['cart-abandonment'].timers.map((t: { minutes: number }) => t.minutes)).toEqual([0.1, 0.05, 0.15]);
		expect(policy.journeys.nurture.sendTime).toEqual({ waitForBestTime: true, maxWait: '9s' });
		expect(policy.journeys['cart-abandonment'].sendTime).toBeUndefined();
		policy.journeys['cart-abandonment'].timers = original.journeys['cart-abandonment'].timers;
		policy.journeys.nurture.sendTime = original.journeys.nurture.sendTime;
		expect(policy).toEqual(original);
		expect(flows.timers.map((t) => [t.fire, t.minutes])).toEqual([
			['Cart Abandoned', 60],
			['Cart Abandoned', 30],
			['Cart Still Abandoned', 1440],
		]);
		for (const node of flows.nodes) {
			const was = before.find((n) => n.id === node.id)!;
			if (node.type === 'nudge-send') expect(node.url).toBe(String(was.url).replace('http://127.0.0.1:1880', 'http://127.0.0.1:4321'));
			else if (node.type === 'nudge-trigger') expect({ ...node, timerCheck: undefined }).toEqual({ ...was, timerCheck: undefined });
			// The due nodes check as often as the triggers, so a wait that ends comes back at once.
			else if (node.type === 'nudge-due') expect(node).toEqual({ ...was, interval: 0.25 });
			else if (node.type !== 'nudge-engine') expect(node).toEqual(was);
		}
		expect(flows.nodes.filter((n) => n.type === 'nudge-trigger').every((n) => n.timerCheck === 0.25)).toBe(true);
		// The flows on disk are untouched.
		expect(JOURNEY_IDS.flatMap(onDisk).find((n) => n.type === 'nudge-engine')!.store).not.toBe('sqlite:/tmp/x.db');
	});
});
