/**
 * A second look at inactivity timers per journey, their carried rules and fired decisions left behind, the chosen
 * channel's check, a split store sharing a SQLite part, outcome offsets and links to a file not made yet: each test
 * failed before its fix.
 */
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { applyInactivityRules, fireDueTimers, parseInactivityRules, timerFailureText } from '../../engine/events/timers';
import { acquireEngine, closeAllEngines, createEngine } from '../../engine/registry';
import { MemoryStore } from '../../engine/store/memory';
import { openStore } from '../../engine/store/open';
import { inactivityQueue } from '../../engine/store/types';
import { tempDir } from '../helpers/fixtures';
import { redisStore } from '../helpers/rawStores';
import { describeWithServer, TEST_REDIS_URL } from '../helpers/services';

/** A day back, on the minute: the engines' wall clock takes the events in, and a trigger older than the de-duplication window would start nothing. */
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 24 * 3_600_000;
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();
const MIN = 60_000;

/** Fires what is due and acknowledges it, as a node does once it has emitted the events. */
async function fire(engine: Engine, now: number, rules: Parameters<typeof fireDueTimers>[3] = [], journey?: string, node?: string) {
	const { fired, failed, acknowledge } = await fireDueTimers(engine, now, 100, rules, 60_000, { journey, node });
	expect(failed).toEqual([]);
	await acknowledge();
	return fired;
}

/** A taker fires what is due at `now`, takes the events in and stops for good while starting their next touches. */
async function diesStartingNextTouch(engine: Engine, now: number, rules: Parameters<typeof fireDueTimers>[3]): Promise<void> {
	const store = engine.store;
	const schedule = store.scheduleTimer.bind(store);
	let reached!: () => void;
	const stopped = new Promise<void>((resolve) => (reached = resolve));
	store.scheduleTimer = () => (reached(), new Promise<void>(() => {}));
	void fireDueTimers(engine, now, 100, rules, 60_000, { journey: 'cart', node: 'trigger-1' });
	await stopped;
	store.scheduleTimer = schedule;
}

describe('timers an earlier version made (ids without their journey)', () => {
	test('SQLite: an earlier timer whose fired event starts with a digit ("2nd Reminder") is taken by its journey\'s taker, as on memory', async () => {
		// Earlier versions' id: inactivity:<fire>:<contactId>; every version's body names the journey.
		const sqlite = openStore(`sqlite:${join(tempDir(), 'earlier.db')}`);
		const memory = new MemoryStore();
		try {
			for (const store of [memory, sqlite]) await store.scheduleTimer({ timerId: 'inactivity:2nd Reminder:c1', dueAt: 1000, body: '{"n":"earlier","journey":"cart"}' });
			const taken = async (store: typeof sqlite) => (await store.takeDueTimers(2000, 10, 60_000, inactivityQueue('cart'))).map((t) => t.body);
			expect(await taken(memory)).toEqual(['{"n":"earlier","journey":"cart"}']);
			expect(await taken(sqlite)).toEqual(['{"n":"earlier","journey":"cart"}']);
		} finally {
			await sqlite.close();
			await memory.close();
		}
	});

	test('an earlier timer whose fired event is digits then a colon ("1: Last Chance"), like a journey\'s id, is taken by its journey\'s taker only', async () => {
		const store = new MemoryStore();
		await store.scheduleTimer({ timerId: 'inactivity:1: Last Chance:c1', dueAt: 1000, body: '{"n":"earlier","journey":"cart"}' });
		expect(await store.takeDueTimers(2000, 10, 60_000, inactivityQueue(' '))).toEqual([]);
		expect((await store.takeDueTimers(2000, 10, 60_000, inactivityQueue('cart'))).map((t) => t.body)).toEqual(['{"n":"earlier","journey":"cart"}']);
	});
});

describe('chained rules carried in a timer body', () => {
	const cadence = parseInactivityRules([
		{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' },
		{ start: 'Cart Abandoned', cancel: ['Order Completed'], minutes: 60, fire: 'Cart Still Abandoned' },
		{ start: 'Cart Still Abandoned', cancel: ['Order Completed'], minutes: 120, fire: 'Cart Last Call' },
	]);
	let engine: Engine;
	beforeEach(() => {
		engine = createEngine({ store: 'memory:' });
	});
	afterEach(() => engine.close());

	test('n8n: a three-touch cadence set on the Nudge Trigger sends its third touch through a Poll Trigger (which has no rules)', async () => {
		// The trigger (webhook) applies its rules; the Poll Trigger fires with none of its own (rules = []).
		const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'ana@example.com' }, occurredAt: at(0) }, { journey: 'cart' });
		await applyInactivityRules(engine, [started], cadence);
		const names: string[] = [];
		for (const minutes of [31, 91, 211, 400]) names.push(...(await fire(engine, T0 + minutes * MIN)).map((r) => r.event.name!));
		// The body of the second timer carries only the rules starting on its own fired event of what the first carried:
		// the third rule was left behind at the first hop.
		expect(names).toEqual(['Cart Abandoned', 'Cart Still Abandoned', 'Cart Last Call']);
	});

	test('n8n: a three-touch cadence set on the Nudge Trigger sends its third touch through one Poll Trigger (stable node id, no rules)', async () => {
		const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'ana@example.com' }, occurredAt: new Date(T0).toISOString() }, { journey: 'cart' });
		// The Nudge Trigger (n8n node id "trigger-id") sets the first timer.
		await applyInactivityRules(engine, [started], cadence, 'trigger-id');
		// One Poll Trigger (Source Inactivity Timers) fires them, with its own id every poll, as n8n gives it.
		const names: (string | undefined)[] = [];
		for (const minutes of [31, 91, 211, 400]) names.push(...(await fire(engine, T0 + minutes * MIN, [], 'cart', 'poll-id')).map((r) => r.event.name));
		// The next timers name the Nudge Trigger as their setter (the rules are its), so the Poll Trigger keeps carrying them.
		expect(names).toEqual(['Cart Abandoned', 'Cart Still Abandoned', 'Cart Last Call']);
	});

	test('Node-RED: a cadence set by node A, whose timers node B of the journey (rules of its own) fires twice, still sends its third touch', async () => {
		const other = parseInactivityRules([{ start: 'Trial Started', cancel: ['Subscribed'], minutes: 60 * 24, fire: 'Trial Idle' }]);
		const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'eve@example.com' }, occurredAt: new Date(T0).toISOString() }, { journey: 'cart' });
		await applyInactivityRules(engine, [started], cadence, 'node-a');
		const names: (string | undefined)[] = [];
		for (const minutes of [31, 91, 211, 400]) names.push(...(await fire(engine, T0 + minutes * MIN, other, 'cart', 'node-b')).map((r) => r.event.name));
		expect(names).toEqual(['Cart Abandoned', 'Cart Still Abandoned', 'Cart Last Call']);
	});

	test('Node-RED: a second touch the node no longer has (removed and redeployed) is not started by timers it set before', async () => {
		const before = cadence.slice(0, 2);
		const after = cadence.slice(0, 1);
		const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'ben@example.com' }, occurredAt: at(0) }, { journey: 'cart' });
		await applyInactivityRules(engine, [started], before, 'trigger-1');
		// Redeployed with the second touch removed: the same node fires the first timer with its rules now.
		expect((await fire(engine, T0 + 31 * MIN, after, 'cart', 'trigger-1')).map((r) => r.event.name)).toEqual(['Cart Abandoned']);
		expect((await fire(engine, T0 + 200 * MIN, after, 'cart', 'trigger-1')).map((r) => r.event.name)).toEqual([]);
	});

	test('Node-RED: a timer set by one node of a journey and fired by another of the same journey (rules of its own) still starts its second touch', async () => {
		const other = parseInactivityRules([{ start: 'Trial Started', cancel: ['Subscribed'], minutes: 60 * 24, fire: 'Trial Idle' }]);
		const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'eve@example.com' }, occurredAt: at(0) }, { journey: 'cart' });
		await applyInactivityRules(engine, [started], cadence.slice(0, 2), 'trigger-1');
		expect((await fire(engine, T0 + 31 * MIN, other, 'cart', 'poll-2')).map((r) => r.event.name)).toEqual(['Cart Abandoned']);
		expect((await fire(engine, T0 + 100 * MIN, cadence.slice(0, 2), 'cart', 'trigger-1')).map((r) => r.event.name)).toEqual(['Cart Still Abandoned']);
	});
});

describe('firingLeftBehind', () => {
	test('a fired decision left behind is brought out even when the contact has had 100 more decisions in the journey since', async () => {
		let now = T0;
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy(DEFAULT_POLICY), now: () => new Date(now) });
		try {
			const rules = parseInactivityRules([{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' }]);
			const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'cy@example.com' }, occurredAt: at(0) }, { journey: 'cart' });
			await applyInactivityRules(engine, [started], rules);
			// The taker fires it and dies before the decision leaves it (no acknowledgement).
			now = T0 + 31 * MIN;
			const first = await fireDueTimers(engine, now, 100, [], 60_000);
			expect(first.fired).toHaveLength(1);
			// Meanwhile the contact's browsing opens 100 decisions in the journey (pending, newer than the fired one).
			for (let i = 0; i < 100; i++) {
				now = T0 + 31 * MIN + (i + 1) * 1_000;
				await engine.ingest({ type: 'track', name: 'Product Viewed', identities: { email: 'cy@example.com' }, occurredAt: new Date(now).toISOString() }, { journey: 'cart' });
			}
			// The next taker: the event is a duplicate; the lookup reads only the newest 100 pending decisions and misses it,
			// so nothing comes out and the timer is acknowledged: the reminder is lost.
			now = T0 + 33 * MIN;
			const again = await fire(engine, now);
			expect(again.map((r) => r.decision.decisionId)).toEqual(first.fired.map((r) => r.decision.decisionId));
		} finally {
			await engine.close();
		}
	});
});

describeWithServer('Redis', TEST_REDIS_URL)('Redis: a journey\'s take past other journeys\' due timers', () => {
	test('a journey\'s take finds its own past thousands of another journey\'s due first, many at one due time (pages by score), each once', async () => {
		const store = redisStore('second-look-paging');
		const retired = (i: number) => ({ timerId: `inactivity:7:retired:Lapsed:c${i}`, dueAt: i < 1_200 ? 500 : 600 + i, body: JSON.stringify({ journey: 'retired', i }) });
		await Promise.all(Array.from({ length: 3_000 }, (_, i) => store.scheduleTimer(retired(i))));
		// The cart journey's, at the same due time as 1,200 of the others and after the rest.
		await Promise.all(Array.from({ length: 30 }, (_, i) => store.scheduleTimer({ timerId: `inactivity:4:cart:Cart Abandoned:c${i}`, dueAt: i % 2 ? 500 : 10_000, body: JSON.stringify({ journey: 'cart', i }) })));
		const first = await store.takeDueTimers(20_000, 20, 60_000, inactivityQueue('cart'));
		const rest = await store.takeDueTimers(20_000, 100, 60_000, inactivityQueue('cart'));
		const taken = [...first, ...rest].map((t) => (JSON.parse(t.body) as { i: number; journey: string }));
		expect([first.length, rest.length, new Set(taken.map((t) => t.i)).size, taken.every((t) => t.journey === 'cart')]).toEqual([20, 10, 30, true]);
		expect(await store.takeDueTimers(20_000, 100, 60_000, inactivityQueue('cart'))).toEqual([]);
		// Every journey's: the retired journey's 3,000, none twice.
		const all = await store.takeDueTimers(20_000, 5_000, 60_000);
		expect([all.length, new Set(all.map((t) => t.timerId)).size]).toEqual([3_000, 3_000]);
		await store.close();
	}, 60_000);
});

describe('a fired decision left behind, looked for among every pending one', () => {
	test('a fired decision left behind is brought out when the contact had 100 pending decisions in the journey between the due time and the firing', async () => {
		let now = T0;
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy(DEFAULT_POLICY), now: () => new Date(now) });
		try {
			const rules = parseInactivityRules([{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' }]);
			const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'dee@example.com' }, occurredAt: at(0) }, { journey: 'cart' });
			await applyInactivityRules(engine, [started], rules);
			// The trigger was down for a while: the timer ran out at T0 + 30 min, the contact kept browsing (100 pending
			// decisions in the journey, all newer than the due time), and the timer fires late.
			for (let i = 0; i < 100; i++) {
				now = T0 + 31 * MIN + i * 1_000;
				await engine.ingest({ type: 'track', name: 'Product Viewed', identities: { email: 'dee@example.com' }, occurredAt: new Date(now).toISOString() }, { journey: 'cart' });
			}
			now = T0 + 60 * MIN;
			// The taker fires it and dies before the decision leaves it (no acknowledgement).
			const first = await fireDueTimers(engine, now, 100, [], 60_000);
			expect(first.fired).toHaveLength(1);
			// The next taker: the event is a duplicate; the firing's decision is found past the 100 views, page by page.
			now = T0 + 62 * MIN;
			const again = await fireDueTimers(engine, now, 100, [], 60_000);
			expect(again.failed).toEqual([]);
			expect(again.fired.map((r) => r.decision.decisionId)).toEqual(first.fired.map((r) => r.decision.decisionId));
		} finally {
			await engine.close();
		}
	});
});

describe('a fired decision left behind', () => {
	test('the next touch, cancelled meanwhile (Cart Emptied), is not started again when the left-behind firing is brought out', async () => {
		const engine = createEngine({ store: 'memory:' });
		try {
			const rules = parseInactivityRules([
				{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' },
				{ start: 'Cart Abandoned', cancel: ['Order Completed', 'Cart Emptied'], minutes: 60, fire: 'Cart Still Abandoned' },
			]);
			const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'lu@example.com' }, occurredAt: new Date(T0).toISOString() }, { journey: 'cart' });
			await applyInactivityRules(engine, [started], rules, 'trigger-1');
			// Instance A fires the first timer (the second touch is scheduled) and dies before acknowledging it.
			const first = await fireDueTimers(engine, T0 + 31 * MIN, 100, rules, 60_000, { journey: 'cart', node: 'trigger-1' });
			expect(first.fired.map((r) => r.event.name)).toEqual(['Cart Abandoned']);
			// Instance B takes in Cart Emptied: the second touch's wait ends.
			const emptied = await engine.ingest({ type: 'track', name: 'Cart Emptied', identities: { email: 'lu@example.com' }, occurredAt: new Date(T0 + 31.5 * MIN).toISOString() }, { journey: 'cart' });
			expect(await applyInactivityRules(engine, [emptied], rules, 'trigger-1')).toEqual([]);
			// The lease runs out; B brings the left-behind Cart Abandoned out (as designed) ...
			expect((await fire(engine, T0 + 33 * MIN, rules, 'cart', 'trigger-1')).map((r) => r.event.name)).toEqual(['Cart Abandoned']);
			// ... without meeting its rules again: the second touch, cancelled by Cart Emptied, is not started again.
			expect(await fire(engine, T0 + 200 * MIN, rules, 'cart', 'trigger-1')).toEqual([]);
		} finally {
			await engine.close();
		}
	});
});

describe("the policy's journey timers, met by a fired timer", () => {
	test('a policy timer a fired event starts keeps the node that fired it as its setter (that node’s rules after it carried on), not the carried rules’ node', async () => {
		const cadence = parseInactivityRules([
			{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' },
			{ start: 'Cart Abandoned', cancel: ['Order Completed'], minutes: 60, fire: 'Cart Still Abandoned' },
		]);
		const policyTouch = { start: 'Cart Abandoned', cancel: ['Order Completed'], minutes: 120, fire: 'Cart Policy Touch' };
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy({ ...DEFAULT_POLICY, journeys: { ...DEFAULT_POLICY.journeys, cart: { channels: ['email'], timers: [policyTouch] } } }) });
		try {
			// Node B of the journey follows the policy's touch with one of its own.
			const bRules = parseInactivityRules([{ start: 'Cart Policy Touch', cancel: ['Order Completed'], minutes: 60, fire: 'B Follow Up' }]);
			const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'mo@example.com' }, occurredAt: at(0) }, { journey: 'cart' });
			await applyInactivityRules(engine, [started], cadence, 'node-a');
			expect((await fire(engine, T0 + 31 * MIN, bRules, 'cart', 'node-b')).map((r) => r.event.name)).toEqual(['Cart Abandoned']);
			// From then on node A fires the journey's timers (as either node may).
			const names: (string | undefined)[] = [];
			for (const minutes of [91, 151, 211, 400]) names.push(...(await fire(engine, T0 + minutes * MIN, cadence, 'cart', 'node-a')).map((r) => r.event.name));
			expect(names).toEqual(['Cart Still Abandoned', 'Cart Policy Touch', 'B Follow Up']);
		} finally {
			await engine.close();
		}
	});
});

describe('the chosen channel checked against the journey at every check', () => {
	test('a repeated Frequency Cap check of an allowed decision (its slot held) after the policy took its channel out of the journey is suppressed, not allowed again', async () => {
		let now = Date.parse('2026-11-02T22:30:00Z');
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy(DEFAULT_POLICY), now: () => new Date(now) });
		try {
			const { decision } = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'kenji@example.com' }, traits: { consent: { email: 'opted_in' } } }, { journey: 'nurture' });
			const allowed = await engine.checkCap(await engine.chooseChannel(decision));
			expect(allowed).toMatchObject({ status: 'pending', channel: 'email', guard: { allowed: true } });
			// The operator leaves nurture sms and push only; the flow's execution is retried (or the decision handed out again).
			engine.setPolicy({ ...DEFAULT_POLICY, journeys: { nurture: { channels: ['sms', 'push'] } } });
			now += 1_000;
			// checkCap's early return (allowed already, same request, slot held) answers before the channel is asked about.
			expect(await engine.checkCap(allowed)).toMatchObject({ status: 'suppressed', reason: 'NO_ELIGIBLE_CHANNEL' });
		} finally {
			await engine.close();
		}
	});
});

describe('a split store sharing a SQLite part with a plain engine (registry openPart)', () => {
	afterEach(() => closeAllEngines());

	test('one contact for one email when the plain engine and the split engine take its events at the same time', async () => {
		const dir = tempDir();
		const file = join(dir, 'shared.db');
		const plain = acquireEngine({ store: `sqlite:${file}` }).engine;
		const split = acquireEngine({ store: `split:hot=sqlite:${file};log=sqlite:${join(dir, 'log.db')}` }).engine;
		// Both write profiles through one connection now, but each engine's profile lock is keyed by its own store object
		// (engine.ts profileLocks: the raw SqliteStore, the split store): the read-modify-writes interleave, each finds no
		// contact, and each makes one.
		const [a, b] = await Promise.all([
			plain.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'dee@example.com' }, traits: { plan: 'pro' } }, { journey: 'cart' }),
			split.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'dee@example.com' }, traits: { seats: 5 } }, { journey: 'nurture' }),
		]);
		expect(b.decision.contactId).toBe(a.decision.contactId);
		expect((await plain.getProfile(a.decision.contactId))?.traits).toMatchObject({ plan: 'pro', seats: 5 });
	});
});

describe('outcome times (isoDate)', () => {
	test('an outcome time that names its zone as +0200 (Python\'s %z, Java\'s Z, moment\'s ZZ) is that moment, as before, not refused', async () => {
		const AT = new Date('2026-05-04T10:00:00.000Z');
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy({ ...DEFAULT_POLICY, holdout: { globalShare: 0, journeys: {} } }), now: () => AT });
		try {
			await engine.ingest({ type: 'identify', identities: { email: 'ana@example.com' }, traits: { consent: { email: 'opted_in' } } });
			const sent = await engine.decide({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' } }, { journey: 'nurture', target: { dryRun: true as const } });
			expect(sent.status).toBe('sent');
			// Before 28c4371: new Date(text), 10:00 UTC. Now: "is not a date-time with its time zone", though it names one.
			await engine.recordOutcome({ decisionId: sent.decisionId, type: 'open', at: '2026-05-04T12:00:00+0200' });
			expect((await engine.getDecision(sent.decisionId)).outcomes.map((o) => o.at)).toEqual(['2026-05-04T10:00:00.000Z']);
		} finally {
			await engine.close();
		}
	});
});

describe('a SQLite file named through links (registry realFile)', () => {
	test('a dangling relative link inside a linked folder leads where the system follows it, not to a lexical guess', async () => {
		// A volume: vol/conf holds a link nudge.db → ../data/nudge.db (made on first start); the app sees vol/conf as app/conf.
		const root = tempDir();
		mkdirSync(join(root, 'vol', 'conf'), { recursive: true });
		mkdirSync(join(root, 'vol', 'data'), { recursive: true });
		mkdirSync(join(root, 'app'), { recursive: true });
		symlinkSync(join(root, 'vol', 'conf'), join(root, 'app', 'conf'));
		symlinkSync('../data/nudge.db', join(root, 'vol', 'conf', 'nudge.db'));
		// The system resolves ../data from the link's real folder (vol/conf): vol/data/nudge.db. realFile resolves it against
		// the path as spelled (app/conf), lexically: app/data/nudge.db, a folder it then makes, off the volume.
		const engine = createEngine({ store: `sqlite:${join(root, 'app', 'conf', 'nudge.db')}` });
		await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'ana@example.com' } }, { journey: 'cart' });
		await engine.close();
		expect({ onVolume: existsSync(join(root, 'vol', 'data', 'nudge.db')), offVolume: existsSync(join(root, 'app', 'data', 'nudge.db')) }).toEqual({ onVolume: true, offVolume: false });
	});
});

describe('timer event ids within an event id\'s 256 characters', () => {
	test('a rule whose names pass the rule check (fire: 180 characters) fires, rather than failing at every firing for ever', async () => {
		const engine = createEngine({ store: 'memory:' });
		try {
			// e0cd246 holds rule names to an event name's rules so a timer never fails at every firing; but the fired event's
			// id (inactivity:<length>:<journey>:<fire>:<contactId>:<dueAt>) grows with the journey (fc8de84) and the fire name
			// past an event id's 256 characters: ingest refuses it, the timer is not acknowledged, and is due again for ever.
			const rules = parseInactivityRules([{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: `Cart Abandoned ${'x'.repeat(165)}` }]);
			const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'ana@example.com' }, occurredAt: at(0) }, { journey: 'cart-abandonment' });
			await applyInactivityRules(engine, [started], rules);
			const { fired, failed } = await fireDueTimers(engine, T0 + 31 * MIN, 100, rules, 60_000, { journey: 'cart-abandonment' });
			expect(failed.map((f) => f.error.message)).toEqual([]);
			expect(fired).toHaveLength(1);
		} finally {
			await engine.close();
		}
	});
});

describe('the next touches of a fired timer, met once whoever fires it', () => {
	const cadence = parseInactivityRules([
		{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' },
		{ start: 'Cart Abandoned', cancel: ['Order Completed'], minutes: 60, fire: 'Cart Still Abandoned' },
	]);
	let engine: Engine;
	beforeEach(() => {
		engine = createEngine({ store: 'memory:' });
	});
	afterEach(() => engine.close());

	test('a taker that died after taking the fired event in, before starting the next touch, leaves that touch to the next taker', async () => {
		const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'jo@example.com' }, occurredAt: at(0) }, { journey: 'cart' });
		await applyInactivityRules(engine, [started], cadence, 'trigger-1');
		// The first taker takes Cart Abandoned in, then stops for good while starting the second touch.
		await diesStartingNextTouch(engine, T0 + 31 * MIN, cadence);
		// After its lease, the next taker brings the fired decision out and starts the second touch the first never did.
		expect((await fire(engine, T0 + 33 * MIN, cadence, 'cart', 'trigger-1')).map((r) => r.event.name)).toEqual(['Cart Abandoned']);
		expect((await fire(engine, T0 + 95 * MIN, cadence, 'cart', 'trigger-1')).map((r) => r.event.name)).toEqual(['Cart Still Abandoned']);
	});

	test("a rule carried from the timer's node that the fired event ends does not end the wait the taker's own rule starts on it (same fired name)", async () => {
		// Node A: Browse starts a wait for Reminder that Cart Abandoned ends (carried in A's timer, since Cart Abandoned ends it).
		const aRules = parseInactivityRules([
			{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' },
			{ start: 'Browse', cancel: ['Cart Abandoned'], minutes: 60, fire: 'Reminder' },
		]);
		// Node B of the journey: Cart Abandoned starts a wait for Reminder.
		const bRules = parseInactivityRules([{ start: 'Cart Abandoned', cancel: ['Order Completed'], minutes: 60, fire: 'Reminder' }]);
		const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'kit@example.com' }, occurredAt: at(0) }, { journey: 'cart' });
		await applyInactivityRules(engine, [started], aRules, 'node-a');
		expect((await fire(engine, T0 + 31 * MIN, bRules, 'cart', 'node-b')).map((r) => r.event.name)).toEqual(['Cart Abandoned']);
		expect((await fire(engine, T0 + 95 * MIN, bRules, 'cart', 'node-b')).map((r) => r.event.name)).toEqual(['Reminder']);
	});

	test('timers of two nodes that start each other (Ping → Pong on one, Pong → Ping on the other) stop when the chain comes back, with the cycle reported', async () => {
		const aRules = parseInactivityRules([{ start: 'Ping', cancel: ['Stop'], minutes: 10, fire: 'Pong' }]);
		const bRules = parseInactivityRules([{ start: 'Pong', cancel: ['Stop'], minutes: 10, fire: 'Ping' }]);
		const started = await engine.ingest({ type: 'track', name: 'Ping', identities: { email: 'pp@example.com' }, occurredAt: at(0) }, { journey: 'games' });
		await applyInactivityRules(engine, [started], aRules, 'node-a');
		const names: (string | undefined)[] = [];
		const reported: string[] = [];
		for (let turn = 1; turn <= 8; turn++) {
			const [rules, node] = turn % 2 ? [bRules, 'node-b'] : [aRules, 'node-a'];
			const { fired, failed, timerFailures, acknowledge } = await fireDueTimers(engine, T0 + turn * 11 * MIN, 100, rules, 60_000, { journey: 'games', node });
			expect(failed).toEqual([]);
			await acknowledge();
			names.push(...fired.map((r) => r.event.name));
			reported.push(...timerFailures.map((f) => f.error.message));
		}
		expect(names).toEqual(['Pong', 'Ping']);
		expect(reported).toEqual(['timers of two nodes of journey "games" form a cycle (Pong → Ping → Pong): the wait for "Pong" was not started again']);
	});
});

describe('the record that a firing met its next touches', () => {
	const rules = parseInactivityRules([
		{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' },
		{ start: 'Cart Abandoned', cancel: ['Order Completed', 'Cart Emptied'], minutes: 60, fire: 'Cart Still Abandoned' },
	]);
	let engine: Engine;
	beforeEach(() => {
		engine = createEngine({ store: 'memory:' });
	});
	afterEach(() => engine.close());

	/** Makes the store's holdKey of the record fail (or, with `skip`, do nothing, as the version before did). */
	function recordWrites(how: 'fail' | 'skip'): () => void {
		const store = engine.store;
		const hold = store.holdKey.bind(store);
		store.holdKey = async (key, ttl, now) => {
			if (!key.startsWith('timer-touches-met:')) return hold(key, ttl, now);
			if (how === 'fail') throw new Error('Connection is closed.');
		};
		return () => (store.holdKey = hold);
	}

	test('a store error writing the record, after the next touch was started, is reported and the timer acknowledged: a touch the contact cancelled since (Cart Emptied) is not started again', async () => {
		const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'hk@example.com' }, occurredAt: at(0) }, { journey: 'cart' });
		await applyInactivityRules(engine, [started], rules, 'trigger-1');
		const restore = recordWrites('fail');
		const first = await fireDueTimers(engine, T0 + 31 * MIN, 100, rules, 60_000, { journey: 'cart', node: 'trigger-1' });
		restore();
		expect(first.fired.map((r) => r.event.name)).toEqual(['Cart Abandoned']);
		expect(first.failed).toEqual([]);
		expect(first.timerFailures.map((f) => f.error.message)).toEqual(['Connection is closed.']);
		await first.acknowledge();
		const emptied = await engine.ingest({ type: 'track', name: 'Cart Emptied', identities: { email: 'hk@example.com' }, occurredAt: at(31.5) }, { journey: 'cart' });
		expect(await applyInactivityRules(engine, [emptied], rules, 'trigger-1')).toEqual([]);
		const later: (string | undefined)[] = [];
		for (const minutes of [33, 200]) later.push(...(await fire(engine, T0 + minutes * MIN, rules, 'cart', 'trigger-1')).map((r) => r.event.name));
		expect(later).toEqual([]);
	});

	/** Fires what is due at 31 minutes with the store failing `call` for the ids `failing` picks, and acknowledges it. */
	async function fireWhileFailing(call: 'scheduleTimer' | 'cancelTimer', failing: (timerId: string) => boolean) {
		const store = engine.store;
		const real = store[call].bind(store) as (arg: never) => Promise<unknown>;
		(store as unknown as Record<string, unknown>)[call] = async (arg: { timerId?: string } | string) => {
			if (failing(typeof arg === 'string' ? arg : (arg.timerId ?? ''))) throw new Error('Connection is closed.');
			return real(arg as never);
		};
		const first = await fireDueTimers(engine, T0 + 31 * MIN, 100, rules, 60_000, { journey: 'cart', node: 'trigger-1' });
		(store as unknown as Record<string, unknown>)[call] = real;
		await first.acknowledge();
		return first;
	}

	test('a store error while starting the next touch is reported and the timer acknowledged: the decision its flow has is not handed out again', async () => {
		const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'st@example.com' }, occurredAt: at(0) }, { journey: 'cart' });
		await applyInactivityRules(engine, [started], rules, 'trigger-1');
		const first = await fireWhileFailing('scheduleTimer', () => true);
		expect(first.fired.map((r) => r.event.name)).toEqual(['Cart Abandoned']);
		expect(first.timerFailures.map((f) => timerFailureText(f))).toEqual([expect.stringContaining('(it was taken in and goes on): Connection is closed.')]);
		// Its flow has the decision (a Wait node, a slow step): no later take hands it out again. The touch the error kept
		// from starting is not started (reported above).
		const later: string[] = [];
		for (const minutes of [33, 95, 200]) later.push(...(await fire(engine, T0 + minutes * MIN, rules, 'cart', 'trigger-1')).map((r) => r.decision.decisionId));
		expect(later).toEqual([]);
	});

	test('a next touch started before a store error, then cancelled by the contact (Cart Emptied), is not started again', async () => {
		const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'pa@example.com' }, occurredAt: at(0) }, { journey: 'cart' });
		await applyInactivityRules(engine, [started], rules, 'trigger-1');
		// The second touch's wait is started; the store fails on the next call (the earlier id's cancel).
		const first = await fireWhileFailing('cancelTimer', (id) => id.startsWith('inactivity:Cart Still Abandoned:'));
		expect(first.timerFailures).toHaveLength(1);
		const emptied = await engine.ingest({ type: 'track', name: 'Cart Emptied', identities: { email: 'pa@example.com' }, occurredAt: at(31.5) }, { journey: 'cart' });
		expect(await applyInactivityRules(engine, [emptied], rules, 'trigger-1')).toEqual([]);
		const names: (string | undefined)[] = [];
		for (const minutes of [33, 95, 200]) names.push(...(await fire(engine, T0 + minutes * MIN, rules, 'cart', 'trigger-1')).map((r) => r.event.name));
		expect(names).toEqual([]);
	});

	test('a wait the fired event ends (Browse Abandoned, ended by Cart Abandoned) whose cancel met a passing store error is ended by the firing\'s second try', async () => {
		const browse = parseInactivityRules([
			{ start: 'Product Viewed', cancel: ['Cart Abandoned', 'Order Completed'], minutes: 120, fire: 'Browse Abandoned' },
			{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' },
		]);
		for (const [name, minutes] of [['Cart Updated', 0], ['Product Viewed', 5]] as const) {
			const taken = await engine.ingest({ type: 'track', name, identities: { email: 'br@example.com' }, occurredAt: at(minutes) }, { journey: 'cart' });
			expect(await applyInactivityRules(engine, [taken], browse, 'trigger-1')).toEqual([]);
		}
		const store = engine.store;
		const cancel = store.cancelTimer.bind(store);
		let failures = 0;
		store.cancelTimer = async (timerId: string) => {
			if (timerId.includes('Browse Abandoned') && failures++ === 0) throw new Error('Connection is closed.');
			return cancel(timerId);
		};
		const first = await fireDueTimers(engine, T0 + 31 * MIN, 100, browse, 60_000, { journey: 'cart', node: 'trigger-1' });
		store.cancelTimer = cancel;
		expect(first.fired.map((r) => r.event.name)).toEqual(['Cart Abandoned']);
		expect(first.timerFailures).toEqual([]);
		await first.acknowledge();
		const later: (string | undefined)[] = [];
		for (const minutes of [33, 130, 300]) later.push(...(await fire(engine, T0 + minutes * MIN, browse, 'cart', 'trigger-1')).map((r) => r.event.name));
		expect(later).toEqual([]);
	});

	test('a store that is down: the first failing timer of a take is tried three times, the others once each (no pause per timer to hold the take past its lease)', async () => {
		for (const who of ['a', 'b', 'c', 'd', 'e']) {
			const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: `${who}@example.com` }, occurredAt: at(0) }, { journey: 'cart' });
			await applyInactivityRules(engine, [started], rules, 'trigger-1');
		}
		const store = engine.store;
		const schedule = store.scheduleTimer.bind(store);
		let tries = 0;
		store.scheduleTimer = async () => {
			tries++;
			throw new Error('Connection is closed.');
		};
		const taken = await fireDueTimers(engine, T0 + 31 * MIN, 100, rules, 60_000, { journey: 'cart', node: 'trigger-1' });
		store.scheduleTimer = schedule;
		expect(taken.fired).toHaveLength(5);
		expect(taken.timerFailures).toHaveLength(5);
		expect(tries).toBe(3 + 4);
	});

	test('once the store is back (a later timer of the take met on its one try), a passing store error on a later timer is tried again', async () => {
		for (const who of ['a', 'b', 'c']) {
			const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: `${who}@example.com` }, occurredAt: at(0) }, { journey: 'cart' });
			await applyInactivityRules(engine, [started], rules, 'trigger-1');
		}
		const store = engine.store;
		const schedule = store.scheduleTimer.bind(store);
		let calls = 0;
		// Calls 1-3: the first timer's three tries meet the store down; it is back for the second timer (call 4); the
		// third timer's first try (call 5) meets one passing error.
		store.scheduleTimer = async (timer) => {
			calls++;
			if (calls <= 3 || calls === 5) throw new Error('Connection is closed.');
			return schedule(timer);
		};
		const taken = await fireDueTimers(engine, T0 + 31 * MIN, 100, rules, 60_000, { journey: 'cart', node: 'trigger-1' });
		store.scheduleTimer = schedule;
		expect(taken.fired).toHaveLength(3);
		expect(taken.timerFailures).toHaveLength(1);
	});

	test('upgrading: a timer set by the version before, fired by it (next touches met, no record) before it died, does not restart a touch cancelled since', async () => {
		const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'up@example.com' }, occurredAt: at(0) }, { journey: 'cart' });
		await applyInactivityRules(engine, [started], rules, 'trigger-1');
		// The timer as the version before wrote it (no `recorded`), and its firing there: met, no record, never acknowledged.
		const [timer] = await engine.store.takeDueTimers(T0 + 31 * MIN, 10, 0);
		const { recorded, ...before } = JSON.parse(timer.body) as Record<string, unknown>;
		expect(recorded).toBe(true);
		await engine.store.scheduleTimer({ timerId: timer.timerId, dueAt: timer.dueAt, body: JSON.stringify(before) });
		const restore = recordWrites('skip');
		expect((await fireDueTimers(engine, T0 + 31 * MIN, 100, rules, 60_000, { journey: 'cart', node: 'trigger-1' })).fired.map((r) => r.event.name)).toEqual(['Cart Abandoned']);
		restore();
		const emptied = await engine.ingest({ type: 'track', name: 'Cart Emptied', identities: { email: 'up@example.com' }, occurredAt: at(31.5) }, { journey: 'cart' });
		expect(await applyInactivityRules(engine, [emptied], rules, 'trigger-1')).toEqual([]);
		const names: (string | undefined)[] = [];
		for (const minutes of [33, 200]) names.push(...(await fire(engine, T0 + minutes * MIN, rules, 'cart', 'trigger-1')).map((r) => r.event.name));
		expect(names).toEqual(['Cart Abandoned']);
	});

	test('a merged contact: the next touch a repeat starts waits under the contact it merged into, so a restarted cadence moves it (one "Cart Still Abandoned")', async () => {
		// B (an email) starts a cart; then an event links B to the older contact A (a user id): B merges into A.
		const a = (await engine.ingest({ type: 'track', name: 'Signed Up', identities: { userId: 'u-a' }, occurredAt: at(-10) }, { journey: 'cart' })).decision.contactId;
		const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'b@x.io' }, occurredAt: at(0) }, { journey: 'cart' });
		await applyInactivityRules(engine, [started], rules, 'trigger-1');
		const link = await engine.ingest({ type: 'track', name: 'Logged In', identities: { userId: 'u-a', email: 'b@x.io' }, occurredAt: at(5) }, { journey: 'cart' });
		expect(link.decision.contactId).toBe(a);
		// The first taker takes Cart Abandoned in and stops for good while starting the second touch.
		await diesStartingNextTouch(engine, T0 + 31 * MIN, rules);
		const names: (string | undefined)[] = [];
		names.push(...(await fire(engine, T0 + 33 * MIN, rules, 'cart', 'trigger-1')).map((r) => r.event.name));
		// The cart is updated again at 40 minutes: the cadence restarts (Cart Abandoned at 70, its second touch at 130).
		const again = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'b@x.io' }, occurredAt: at(40) }, { journey: 'cart' });
		await applyInactivityRules(engine, [again], rules, 'trigger-1');
		for (const minutes of [71, 95, 131, 400]) names.push(...(await fire(engine, T0 + minutes * MIN, rules, 'cart', 'trigger-1')).map((r) => r.event.name));
		expect(names).toEqual(['Cart Abandoned', 'Cart Abandoned', 'Cart Still Abandoned']);
	});
});
