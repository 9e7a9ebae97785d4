/** Inactivity timers kept in the store: scheduled by a start event, cancelled by a clearing event, fired once. */
import { join } from 'node:path';
import { Engine } from '../../engine/engine';
import { applyInactivityRules, fireDueTimers, parseInactivityRules } from '../../engine/events/timers';
import { loadPolicy } from '../../engine/policy/load';
import { MemoryStore } from '../../engine/store/memory';
import { openStore } from '../../engine/store/open';
import { withEngine } from '../helpers/erasure';
import { tempDir } from '../helpers/fixtures';

const T0 = Date.parse('2026-11-21T09:00:00.000Z');
const rules = parseInactivityRules([{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' }]);
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

describe('inactivity timer rules', () => {
	test('an event name no event can have (a reserved word, over 200 characters) is refused when the rule is set, not at every firing', () => {
		expect(() => parseInactivityRules([{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'constructor' }])).toThrow(
			'Inactivity timer settings are not valid: 0.fire: is a name Nudge does not take ("__proto__", "constructor" and "prototype" are not allowed)',
		);
		expect(() => parseInactivityRules([{ start: 'x'.repeat(201), cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' }])).toThrow(/0\.start: /);
		expect(() => parseInactivityRules([{ start: 'Cart Updated', cancel: ['__proto__'], minutes: 30, fire: 'Cart Abandoned' }])).toThrow(/0\.cancel\.0: is a name Nudge does not take/);
		// In the policy too (journeys.<id>.timers).
		expect(() => loadPolicy({ journeys: { cart: { timers: [{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'prototype' }] } } })).toThrow(/journeys\.cart\.timers\.0\.fire: is a name Nudge does not take/);
		expect(parseInactivityRules([{ start: ' Cart Updated ', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' }])[0].start).toBe('Cart Updated');
	});
});

/** The engines' wall clock: events arrive when they happen, timers fire when asked (an event older than the de-duplication window would start nothing). */
let wallNow = T0;
const engineOn = (store: string) => new Engine({ store: openStore(store), policy: loadPolicy(), now: () => new Date(wallNow) });

/** Fires what is due and acknowledges it, as a node does once it has emitted the events. */
async function fire(engine: Engine, now: number) {
	wallNow = now;
	const { fired, failed, acknowledge } = await fireDueTimers(engine, now);
	expect(failed).toEqual([]);
	await acknowledge();
	return fired;
}

async function event(engine: Engine, email: string, name: string, minutes: number) {
	wallNow = T0 + minutes * 60_000;
	const result = await engine.ingest({ type: 'track', name, identities: { email }, occurredAt: at(minutes) }, { journey: 'cart' });
	await applyInactivityRules(engine, [result], rules);
	return result;
}

describe.each([
	['memory', () => engineOn('memory:')],
	['sqlite', () => engineOn(`sqlite:${join(tempDir(), 't.db')}`)],
])('inactivity timers (%s store)', (_name, open) => {
	let engine: Engine;
	beforeEach(() => {
		engine = open();
	});
	afterEach(() => engine.close());

	test('cart updated with no order within 30 minutes fires "Cart Abandoned" once, in the same journey', async () => {
		const started = await event(engine, 'ana@example.com', 'Cart Updated', 0);
		expect(await fire(engine, T0 + 29 * 60_000)).toEqual([]);
		const fired = await fire(engine, T0 + 31 * 60_000);
		expect(fired).toHaveLength(1);
		expect(fired[0].event).toMatchObject({ name: 'Cart Abandoned', occurredAt: at(30), properties: { startedBy: started.event.eventId, minutes: 30 } });
		expect(fired[0].decision).toMatchObject({ contactId: started.decision.contactId, journey: 'cart', status: 'pending' });
		expect(await fire(engine, T0 + 60 * 60_000)).toEqual([]);
	});

	test('an order completed in time cancels it; a later cart update restarts the wait', async () => {
		await event(engine, 'ben@example.com', 'Cart Updated', 0);
		await event(engine, 'ben@example.com', 'Order Completed', 10);
		expect(await fire(engine, T0 + 120 * 60_000)).toEqual([]);
		await event(engine, 'ben@example.com', 'Cart Updated', 130);
		await event(engine, 'ben@example.com', 'Cart Updated', 150);
		expect(await fire(engine, T0 + 170 * 60_000)).toEqual([]);
		expect((await fire(engine, T0 + 181 * 60_000)).map((r) => r.event.occurredAt)).toEqual([at(180)]);
	});

	test('a timer whose taker died before acknowledging fires again after the lease, once', async () => {
		await event(engine, 'eve@example.com', 'Cart Updated', 0);
		// A taker leases it and dies before firing it.
		expect(await engine.store.takeDueTimers(T0 + 31 * 60_000, 10, 60_000)).toHaveLength(1);
		expect(await fire(engine, T0 + 31 * 60_000 + 59_999)).toEqual([]);
		const again = await fireDueTimers(engine, T0 + 32 * 60_000, 100, [], 60_000);
		expect(again.fired.map((r) => r.event.name)).toEqual(['Cart Abandoned']);
		// This one fires and dies before acknowledging, its decision never past take-in: the next taker finds the event
		// already in and brings that same decision out (no new one), then acknowledges the timer, so it never comes back.
		expect((await fire(engine, T0 + 33 * 60_000)).map((r) => r.decision.decisionId)).toEqual(again.fired.map((r) => r.decision.decisionId));
		expect(await engine.store.takeDueTimers(T0 + 999 * 60_000, 10, 60_000)).toEqual([]);
		// The late acknowledgement of the lost lease changes nothing.
		await again.acknowledge();
		const decisions = await engine.queryDecisions({ journey: 'cart' });
		expect(decisions.filter((d) => d.event.name === 'Cart Abandoned' && d.reason !== 'DUPLICATE_EVENT')).toHaveLength(1);
	});

	test('a fired decision its flow already moved on is not brought out again by a later taker', async () => {
		await event(engine, 'fay@example.com', 'Cart Updated', 0);
		const first = await fireDueTimers(engine, T0 + 31 * 60_000, 100, [], 60_000);
		// The flow had it (Choose Channel ran), but the timer's acknowledgement was lost.
		await engine.chooseChannel(first.fired[0].decision);
		expect(await fire(engine, T0 + 33 * 60_000)).toEqual([]);
		expect(await engine.store.takeDueTimers(T0 + 999 * 60_000, 10, 60_000)).toEqual([]);
	});

	test('timers are per contact', async () => {
		await event(engine, 'cy@example.com', 'Cart Updated', 0);
		await event(engine, 'di@example.com', 'Cart Updated', 5);
		await event(engine, 'cy@example.com', 'Order Completed', 6);
		const fired = await fire(engine, T0 + 60 * 60_000);
		expect(fired.map((r) => r.profile?.email)).toEqual(['di@example.com']);
	});
});

test('invalid rules are refused with the field at fault', () => {
	expect(() => parseInactivityRules([{ start: 'Cart Updated', cancel: [], minutes: 0, fire: '' }])).toThrow(
		/Inactivity timer settings are not valid: 0\.cancel: name at least one event that cancels the wait; 0\.minutes: must be from 0\.01 to 129600 minutes \(90 days\); 0\.fire: name the event to fire/,
	);
	expect(() => parseInactivityRules([{ start: 'Cart Abandoned', cancel: ['Order Completed'], minutes: 60, fire: 'cart abandoned' }])).toThrow(
		'Inactivity timer settings are not valid: (root): timers form a cycle: Cart Abandoned → cart abandoned',
	);
	expect(() =>
		parseInactivityRules([
			{ start: 'Ping', cancel: ['Stop'], minutes: 1, fire: 'Pong' },
			{ start: 'Pong', cancel: ['Stop'], minutes: 1, fire: 'Ping' },
		]),
	).toThrow('(root): timers form a cycle: Ping → Pong → Ping');
	expect(() => parseInactivityRules([{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned', journey: 'cart' }])).toThrow('0: Unrecognized key: "journey"');
	// A node's rules and its journey's policy timers run together (Node-RED fires with both): a cycle through both is refused.
	const policy = loadPolicy({ channelOrder: ['email'], journeys: { cart: { timers: [{ start: 'Pong', cancel: ['Stop'], minutes: 1, fire: 'Ping' }] } } }).policy;
	const ping = [{ start: 'Ping', cancel: ['Stop'], minutes: 1, fire: 'Pong' }];
	expect(() => parseInactivityRules(ping, policy, 'cart')).toThrow("(root): with the policy's journeys.cart.timers, timers form a cycle: Ping → Pong → Ping");
	expect(parseInactivityRules(ping, policy, 'nurture')).toHaveLength(1);
});

/*
 * An event too old to start a message (EVENT_TOO_OLD: older than dedupWindowHours when it arrives) starts no wait
 * either: the wait would fall due at once and fire its message, again for every repeat of the event.
 */
describe('inactivity timers and events older than the de-duplication window', () => {
	const HOUR = 3_600_000;
	const iso = (ms: number) => new Date(ms).toISOString();

	async function fire(engine: Engine, now: number) {
		const { fired, failed, acknowledge } = await fireDueTimers(engine, now);
		expect(failed).toEqual([]);
		await acknowledge();
		return fired.filter((r) => !r.duplicate).map((r) => `${r.event.name} ${r.decision.status}`);
	}

	test('a cart event delivered again after the window restarts no wait: no second "Cart Abandoned"', async () => {
		await withEngine(new MemoryStore(), async (engine, clock) => {
			const cart = { eventId: 'cart-1', type: 'track', name: 'Cart Updated', identities: { email: 'ana@example.com' }, occurredAt: iso(T0) };
			const first = await engine.ingest(cart, { journey: 'cart' });
			await applyInactivityRules(engine, [first], rules);
			clock.at = iso(T0 + 31 * 60_000);
			expect(await fire(engine, T0 + 31 * 60_000)).toEqual(['Cart Abandoned pending']);
			// The same request sent again 80 h later (Segment signs no time).
			clock.at = iso(T0 + 80 * HOUR);
			const again = await engine.ingest(cart, { journey: 'cart' });
			expect(again.decision).toMatchObject({ status: 'suppressed', reason: 'EVENT_TOO_OLD' });
			await applyInactivityRules(engine, [again], rules);
			expect(await fire(engine, T0 + 80 * HOUR)).toEqual([]);
		}, {}, iso(T0));
	});

	test('a cart event of last week arriving now starts no wait; an old order still cancels one', async () => {
		await withEngine(new MemoryStore(), async (engine, clock) => {
			clock.at = iso(T0 + 7 * 24 * HOUR);
			const old = await engine.ingest({ eventId: 'cart-old', type: 'track', name: 'Cart Updated', identities: { email: 'bo@example.com' }, occurredAt: iso(T0) }, { journey: 'cart' });
			expect(old.decision).toMatchObject({ status: 'suppressed', reason: 'EVENT_TOO_OLD' });
			await applyInactivityRules(engine, [old], rules);
			expect(await fire(engine, T0 + 7 * 24 * HOUR)).toEqual([]);
			// A fresh cart starts its wait; an order dated days back, arriving late, still cancels it (a cancel only stops).
			const fresh = await engine.ingest({ eventId: 'cart-new', type: 'track', name: 'Cart Updated', identities: { email: 'bo@example.com' }, occurredAt: clock.at }, { journey: 'cart' });
			await applyInactivityRules(engine, [fresh], rules);
			const order = await engine.ingest({ eventId: 'order-old', type: 'track', name: 'Order Completed', identities: { email: 'bo@example.com' }, occurredAt: iso(T0 + HOUR) }, { journey: 'cart' });
			await applyInactivityRules(engine, [order], rules);
			expect(await fire(engine, T0 + 7 * 24 * HOUR + HOUR)).toEqual([]);
		}, {}, iso(T0));
	});

	test('in a journey whose triggers leave the cart event out (as the shipped policy does), an old cart event starts no wait either', async () => {
		const journeys = { cart: { channels: ['email' as const], triggers: ['Cart Abandoned'], timers: [{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' }] } };
		await withEngine(new MemoryStore(), async (engine, clock) => {
			clock.at = iso(T0 + 96 * HOUR);
			const old = await engine.ingest({ eventId: 'cart-96h', type: 'track', name: 'Cart Updated', identities: { email: 'cy@example.com' }, occurredAt: iso(T0) }, { journey: 'cart' });
			expect(old.decision).toMatchObject({ status: 'suppressed', reason: 'NOT_A_TRIGGER' });
			await applyInactivityRules(engine, [old], []);
			expect(await fire(engine, T0 + 96 * HOUR)).toEqual([]);
			// A cart updated an hour ago starts its wait, and the reminder fires when due.
			const fresh = await engine.ingest({ eventId: 'cart-1h', type: 'track', name: 'Cart Updated', identities: { email: 'cy@example.com' }, occurredAt: iso(T0 + 95 * HOUR) }, { journey: 'cart' });
			await applyInactivityRules(engine, [fresh], []);
			expect(await fire(engine, T0 + 96 * HOUR)).toEqual(['Cart Abandoned pending']);
		}, { journeys }, iso(T0));
	});
});

/*
 * A cadence's next touch waits from when the touch before it fired: fired days late (Decisions Due was off), a next
 * touch counted from its due time would be due at once, and the contact would get two messages minutes apart.
 */
describe('a cadence whose first touch fires late', () => {
	const DAY = 24 * 3_600_000;
	const isoAt = (ms: number) => new Date(ms).toISOString();
	const cadence = parseInactivityRules([
		{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' },
		{ start: 'Cart Abandoned', cancel: ['Order Completed'], minutes: 24 * 60, fire: 'Cart Still Abandoned' },
	]);

	async function fire(engine: Engine, now: number) {
		const { fired, failed, acknowledge } = await fireDueTimers(engine, now, 100, cadence);
		expect(failed).toEqual([]);
		await acknowledge();
		return fired.filter((r) => !r.duplicate).map((r) => r.event.name);
	}

	test('the first touch fired five days late acts; the second comes a day after it, not a minute', async () => {
		await withEngine(new MemoryStore(), async (engine, clock) => {
			const cart = await engine.ingest({ eventId: 'cart-1', type: 'track', name: 'Cart Updated', identities: { email: 'ana@example.com' }, occurredAt: isoAt(T0) }, { journey: 'cart' });
			await applyInactivityRules(engine, [cart], cadence);
			clock.at = isoAt(T0 + 5 * DAY);
			expect(await fire(engine, T0 + 5 * DAY)).toEqual(['Cart Abandoned']);
			clock.at = isoAt(T0 + 5 * DAY + 60_000);
			expect(await fire(engine, T0 + 5 * DAY + 60_000)).toEqual([]);
			clock.at = isoAt(T0 + 6 * DAY + 60_000);
			expect(await fire(engine, T0 + 6 * DAY + 60_000)).toEqual(['Cart Still Abandoned']);
		}, {}, isoAt(T0));
	});
});
