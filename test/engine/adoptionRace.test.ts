/**
 * ce2c72b's adoption of delayed decisions an earlier version left without a wait (engine/guard/waits.ts
 * adoptEarlierDelays), with two processes of the new version starting on one store: the wait lease must still give a
 * due decision to one taker at a time.
 */
import { Engine } from '../../engine/engine';
import { takeDueDecisions, waitTimer } from '../../engine/guard/waits';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { MemoryStore } from '../../engine/store/memory';

const night = { id: 'night', start: '21:00', end: '08:00', action: 'delay' as const, exemptCategories: ['transactional'] };
const NIGHT = Date.parse('2026-11-02T22:30:00Z'); // 23:30 in Berlin
const MORNING = Date.parse('2026-11-03T07:00:00Z'); // 08:00 in Berlin
const policy = loadPolicy({ ...DEFAULT_POLICY, quietHours: [night] });

test('a decision one process took from its wait is not handed out again by another process adopting it at the same time', async () => {
	const store = new MemoryStore();
	// The earlier version's decision: delayed until the morning, no wait in the store.
	const old = new Engine({ store, policy, now: () => new Date(NIGHT) });
	const { decision } = await old.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' }, traits: { timezone: 'Europe/Berlin', consent: { email: 'opted_in' } } }, { journey: 'nurture' });
	const delayed = await old.checkCap(await old.chooseChannel(decision));
	expect(delayed).toMatchObject({ status: 'delayed', reason: 'QUIET_HOURS' });
	await store.cancelTimer(waitTimer(delayed, MORNING).timerId);

	// Two processes of the new version (two Node-RED instances, each with its nudge due node) start together.
	const a = new Engine({ store, policy, now: () => new Date(MORNING) });
	const b = new Engine({ store, policy, now: () => new Date(MORNING) });
	// B's adoption has read the delayed decisions and is about to give them their waits when A's first take runs.
	const schedule = store.scheduleTimer.bind(store);
	let release!: () => void;
	const gate = new Promise<void>((resolve) => (release = resolve));
	let calls = 0;
	jest.spyOn(store, 'scheduleTimer').mockImplementation(async (timer, onlyIfAbsent) => {
		if (++calls === 1) await gate;
		return schedule(timer, onlyIfAbsent);
	});
	const bTake = takeDueDecisions(b, 'nurture', MORNING);
	await new Promise((resolve) => setImmediate(resolve));
	expect(calls).toBe(1);
	const aTake = await takeDueDecisions(a, 'nurture', MORNING);
	expect(aTake.decisions.map((d) => d.decisionId)).toEqual([delayed.decisionId]);
	release();
	// A holds the decision's wait leased for WAIT_RETRY_MS (its flow is checking it again): B must not get it too.
	const bTaken = await bTake;
	try {
		expect(bTaken.decisions.map((d) => d.decisionId)).toEqual([]);
	} finally {
		for (const engine of [old, a, b]) await engine.close();
	}
});
