/**
 * One event, several journeys: each journey whose trigger receives an event opens its own decision for it (a Segment
 * source with a webhook destination per journey sends every event to each), the contact's profile takes it in once,
 * and a repeated delivery is a duplicate in the journey it was delivered to again. Events an earlier version took in
 * (one mark per store, whichever journey) stay duplicates for their window.
 */
import { Engine } from '../../engine/engine';
import { eventMarkKey, storeWideEventMarkKey } from '../../engine/events/eventClaim';
import { applyInactivityRules, fireDueTimers } from '../../engine/events/timers';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import type { PolicyInput } from '../../engine/policy/schema';
import { profileIdentityKeys, TAKEN_IN_KEPT } from '../../engine/profiles/profiles';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { replay } from '../../cli/replay';
import { openStore } from '../../engine/store/open';
import { RedisStore } from '../../engine/store/redis';
import { tempDir } from '../helpers/fixtures';
import { describeWithServer, TEST_REDIS_URL } from '../helpers/services';
import { MemoryStore } from '../../engine/store/memory';
import type { Store } from '../../engine/store/types';
import { forEveryBackend, redisStore } from '../helpers/rawStores';

const policy: PolicyInput = {
	...DEFAULT_POLICY,
	caps: [],
	holdout: { salt: 'per-journey', globalShare: 0, journeys: {} },
	journeys: {
		nurture: { channels: ['email'], outcomes: { 'Email Opened': { type: 'open' } } },
		'cart-abandonment': { channels: ['email'], outcomes: { 'Email Opened': { type: 'open' } } },
	},
};
const T0 = Date.parse('2026-11-21T09:00:00.000Z');
const event = (eventId: string, at = T0, name = 'Cart Updated', identities: Record<string, string> = { email: 'ana@example.com' }) => ({ eventId, type: 'track', name, identities, traits: { consent: { email: 'opted_in' } }, occurredAt: new Date(at).toISOString() });
const countOf = async (store: Store, email: string, name: string) => {
	const id = (await store.resolveIdentities([`email:${email}`])).get(`email:${email}`);
	return id ? (await store.getProfile(id))?.counters[name] : undefined;
};

forEveryBackend('event_per_journey', (backend) => {
	describe(backend.name, () => {
		let store: Store;
		let engine: Engine;
		beforeEach(() => {
			store = backend.open();
			engine = new Engine({ store, policy: loadPolicy(policy), clock: 'event' });
		});
		afterEach(() => engine.close());

		test('an event at two journeys’ triggers opens a decision in each, and the profile counts it once; a repeat is a duplicate in each', async () => {
			const nurture = await engine.ingest(event('e1'), { journey: 'nurture' });
			const cart = await engine.ingest(event('e1'), { journey: 'cart-abandonment' });
			expect([nurture.duplicate, cart.duplicate]).toEqual([false, false]);
			expect(cart.decision.journey).toBe('cart-abandonment');
			expect(cart.decision.reason).toBeUndefined();
			expect(cart.decision.contactId).toBe(nurture.decision.contactId);
			expect((await store.getProfile(nurture.decision.contactId))!.counters['Cart Updated']).toBe(1);
			for (const journey of ['nurture', 'cart-abandonment']) {
				const again = await engine.ingest(event('e1', T0 + 60_000), { journey });
				expect(again.duplicate).toBe(true);
				expect(again.decision).toMatchObject({ journey, reason: 'DUPLICATE_EVENT', status: 'suppressed' });
				expect(again.decision.explanation).toBe(`event e1 was already taken in by journey ${journey}`);
			}
			expect((await store.getProfile(nurture.decision.contactId))!.counters['Cart Updated']).toBe(1);
		});

		test('the one-call journey in a second journey sends its own message; deliveries to two journeys at once each take the event in once', async () => {
			await engine.ingest(event('e2'), { journey: 'nurture' });
			const sent = await engine.decide(event('e2'), { journey: 'cart-abandonment', target: { dryRun: true } });
			expect(sent).toMatchObject({ journey: 'cart-abandonment', status: 'sent' });
			const both = await Promise.all(['nurture', 'cart-abandonment', 'nurture', 'cart-abandonment'].map((journey) => engine.ingest(event('e3', T0 + 1000), { journey })));
			expect(both.map((r) => `${r.decision.journey}:${r.duplicate}`).sort()).toEqual(['cart-abandonment:false', 'cart-abandonment:true', 'nurture:false', 'nurture:true']);
			expect((await store.getProfile(sent.contactId))!.counters['Cart Updated']).toBe(2);
		});

		test(`a second journey's delivery after ${TAKEN_IN_KEPT - 1} newer events of the contact (a destination behind by that many) is counted once`, async () => {
			const first = await engine.ingest(event('behind'), { journey: 'nurture' });
			for (let i = 0; i < TAKEN_IN_KEPT - 1; i++) await engine.ingest(event(`newer-${i}`, T0 + 1000 + i, 'Page Viewed'), { journey: 'nurture' });
			expect((await engine.ingest(event('behind'), { journey: 'cart-abandonment' })).duplicate).toBe(false);
			const profile = (await store.getProfile(first.decision.contactId))!;
			expect([profile.counters['Cart Updated'], profile.counters['Page Viewed']]).toEqual([1, TAKEN_IN_KEPT - 1]);
			// A busy contact's profile, its list full, stays small: 6 characters an event.
			expect(profile.takenIn!.ids).toEqual(expect.stringMatching(new RegExp(`^[\\w-]{${TAKEN_IN_KEPT * 6}}$`)));
		});

		test('a saved list whose length is not a multiple of 6 (a row edited or cut short) misaligns nothing: events reaching a second journey are still counted once', async () => {
			const first = await engine.ingest(event('odd'), { journey: 'nurture' });
			const saved = (await store.getProfile(first.decision.contactId))!;
			saved.takenIn = { since: saved.takenIn!.since, ids: `${saved.takenIn!.ids as string}x` };
			await store.saveProfile(saved, profileIdentityKeys(saved), []);
			for (let i = 1; i <= 3; i++) {
				await engine.ingest(event(`odd-${i}`, T0 + i * 1000, 'Page Viewed'), { journey: 'nurture' });
				await engine.ingest(event(`odd-${i}`, T0 + i * 1000, 'Page Viewed'), { journey: 'cart-abandonment' });
			}
			expect((await store.getProfile(first.decision.contactId))!.counters['Page Viewed']).toBe(3);
		});

		test('events in a list an earlier version saved (8-character ids) are still known after the upgrade', async () => {
			const first = await engine.ingest(event('kept'), { journey: 'nurture' });
			const saved = (await store.getProfile(first.decision.contactId))!;
			saved.takenIn = { since: saved.takenIn!.since, ids: [createHash('sha256').update('kept').digest('base64url').slice(0, 8)] };
			await store.saveProfile(saved, profileIdentityKeys(saved), []);
			expect((await engine.ingest(event('kept'), { journey: 'cart-abandonment' })).duplicate).toBe(false);
			expect((await store.getProfile(first.decision.contactId))!.counters['Cart Updated']).toBe(1);
		});

		test(`a second journey's delivery after ${TAKEN_IN_KEPT} newer events of the contact still opens its decision`, async () => {
			const first = await engine.ingest(event('late'), { journey: 'nurture' });
			for (let i = 0; i < TAKEN_IN_KEPT; i++) await engine.ingest(event(`newer-${i}`, T0 + 1000 + i, 'Page Viewed'), { journey: 'nurture' });
			const late = await engine.ingest(event('late'), { journey: 'cart-abandonment' });
			expect(late.duplicate).toBe(false);
			// Past the events the profile remembers, the event is counted again: the price of a bounded profile.
			expect((await store.getProfile(first.decision.contactId))!.counters['Cart Updated']).toBe(2);
		});

		test('an event an earlier version took in (one mark per store) stays a duplicate in every journey within its window; its contact’s new events are taken in', async () => {
			const known = await engine.ingest(event('old-0'), { journey: 'nurture' });
			// The contact as an earlier version saved it (no list of events taken in), and its mark of event old-1.
			const saved = (await store.getProfile(known.decision.contactId))!;
			delete saved.takenIn;
			await store.saveProfile(saved, profileIdentityKeys(saved), []);
			const at = T0 + 60_000;
			await store.holdKey(storeWideEventMarkKey('old-1'), 24 * 3_600_000, at);
			for (const journey of ['nurture', 'cart-abandonment']) {
				const again = await engine.ingest(event('old-1', at), { journey });
				expect(again.duplicate).toBe(true);
				expect(again.decision.explanation).toBe('event old-1 was already taken in, by a version of Nudge before this one (in whichever journey received it first)');
			}
			// A later event of the contact is taken in and starts its list; the earlier version's mark still counts after it.
			expect((await engine.ingest(event('new-1', at + 1000), { journey: 'nurture' })).duplicate).toBe(false);
			expect((await engine.ingest(event('old-1', at + 2000), { journey: 'cart-abandonment' })).duplicate).toBe(true);
			expect((await store.getProfile(known.decision.contactId))!.counters['Cart Updated']).toBe(2);
			// Past the window, that mark is gone and the event is new.
			expect((await engine.ingest(event('old-1', at + 25 * 3_600_000), { journey: 'nurture' })).duplicate).toBe(false);
		});

		test('several events of one contact, each delivered twice to three journeys at once: one decision per journey and event, each counted once', async () => {
			const journeys = ['nurture', 'cart-abandonment', 'win-back'];
			const ids = ['k0', 'k1', 'k2'];
			const calls = ids.flatMap((id, i) => journeys.flatMap((journey) => [0, 1].map(() => engine.ingest(event(id, T0 + i * 1000), { journey }))));
			const results = await Promise.all(calls);
			const taken = results.filter((r) => !r.duplicate).map((r) => `${r.decision.journey}:${r.event.eventId}`);
			expect(taken.sort()).toEqual(ids.flatMap((id) => journeys.map((j) => `${j}:${id}`)).sort());
			expect(await countOf(store, 'ana@example.com', 'Cart Updated')).toBe(ids.length);
		}, 60_000);

		test('an erased person’s event that reaches a journey which had not received it yet (its destination’s queue) is a duplicate, not a new contact made of erased data', async () => {
			await engine.ingest(event('e-erase'), { journey: 'nurture' });
			// An event an earlier version took in: its decision row and its store-wide mark, no mark per journey.
			await engine.ingest(event('e-old', T0 + 1000), { journey: 'nurture' });
			await store.releaseKey(eventMarkKey({ journey: 'nurture', eventId: 'e-old' }));
			await store.holdKey(storeWideEventMarkKey('e-old'), 24 * 3_600_000, T0 + 1000);
			await engine.eraseContact({ email: 'ana@example.com' });
			for (const [id, journey] of [['e-erase', 'cart-abandonment'], ['e-erase', 'nurture'], ['e-old', 'nurture'], ['e-old', 'cart-abandonment']]) {
				expect([id, journey, (await engine.ingest(event(id, T0 + 60_000), { journey })).duplicate]).toEqual([id, journey, true]);
			}
			expect(await store.resolveIdentities(['email:ana@example.com'])).toEqual(new Map());
		});

		test('an anonymous visitor merged into a busier known contact: its last event, reaching a second journey after the merge, is counted once', async () => {
			for (let i = 0; i < TAKEN_IN_KEPT; i++) await engine.ingest(event(`ana-${i}`, T0 + i, 'Page Viewed'), { journey: 'nurture' });
			const visitor = { anonymousId: 'anon-z' };
			await engine.ingest(event('cart-z', T0 + 10_000, 'Cart Updated', visitor), { journey: 'nurture' });
			await engine.ingest(event('login-z', T0 + 20_000, 'Signed In', { email: 'ana@example.com', anonymousId: 'anon-z' }), { journey: 'nurture' });
			expect((await engine.ingest(event('cart-z', T0 + 30_000, 'Cart Updated', visitor), { journey: 'cart-abandonment' })).duplicate).toBe(false);
			expect(await countOf(store, 'ana@example.com', 'Cart Updated')).toBe(1);
		});

		test('a contact an earlier version saved, merged into a new one: the new one’s events are still counted once at a second journey', async () => {
			const bo = await engine.ingest(event('bo-0', T0 - 30 * 86_400_000, 'Page Viewed', { userId: 'u-bo' }), { journey: 'nurture' });
			const saved = (await store.getProfile(bo.decision.contactId))!;
			delete saved.takenIn;
			await store.saveProfile(saved, profileIdentityKeys(saved), []);
			await engine.ingest(event('c-1', T0), { journey: 'nurture' });
			await engine.ingest(event('login', T0 + 1000, 'Signed In', { email: 'ana@example.com', userId: 'u-bo' }), { journey: 'nurture' });
			await engine.ingest(event('c-1', T0), { journey: 'cart-abandonment' });
			expect(await countOf(store, 'ana@example.com', 'Cart Updated')).toBe(1);
		});

		test('an email opened, sent to every journey’s trigger, is recorded in each journey on its own latest message, once each', async () => {
			const nurture = await engine.decide(event('n-1', T0), { journey: 'nurture', target: { dryRun: true } });
			const cart = await engine.decide(event('c-2', T0 + 1000), { journey: 'cart-abandonment', target: { dryRun: true } });
			expect([nurture.status, cart.status]).toEqual(['sent', 'sent']);
			const opened = { ...event('open-1', T0 + 3_600_000, 'Email Opened'), properties: { channel: 'email' } };
			const credited = [];
			for (const journey of ['nurture', 'cart-abandonment', 'nurture']) credited.push((await engine.decide(opened, { journey, target: { dryRun: true } })).outcomeFor?.decisionId);
			expect(credited).toEqual([nurture.decisionId, cart.decisionId, undefined]);
			for (const d of [nurture, cart]) expect((await engine.store.getDecision(d.decisionId))!.outcomes.map((o) => o.type)).toEqual(['open']);
		});
	});
});

test('two journeys with the same inactivity timer each get their own: one Cart Updated at both fires Cart Abandoned in both', async () => {
	const timer = { start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' };
	const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy({ ...policy, journeys: { nurture: { channels: ['email'], timers: [timer] }, 'cart-abandonment': { channels: ['email'], timers: [timer] } } }), clock: 'event' });
	try {
		for (const journey of ['nurture', 'cart-abandonment']) {
			const result = await engine.ingest(event('cart-1'), { journey });
			expect(await applyInactivityRules(engine, [result], [])).toEqual([]);
		}
		const { fired } = await fireDueTimers(engine, T0 + 31 * 60_000);
		expect(fired.map((r) => r.decision.journey).sort()).toEqual(['cart-abandonment', 'nurture']);
	} finally {
		await engine.close();
	}
});

describe('outcomes of one event in several journeys: each journey is its own experiment', () => {
	const H = 3_600_000;
	const order = { 'Order Completed': { type: 'revenue' as const, value: 'revenue' } };
	const withHoldout = (holdout: Record<string, number>, journeys: PolicyInput['journeys'] = {}): PolicyInput => ({
		...policy,
		holdout: { salt: 'per-journey-outcomes', globalShare: 0, journeys: holdout },
		journeys: {
			'cart-abandonment': { triggers: ['Cart Updated'], channels: ['email'], outcomes: order, conversion: { outcomes: ['conversion', 'revenue'] } },
			nurture: { triggers: ['Signed Up'], channels: ['email'], outcomes: order, conversion: { outcomes: ['conversion', 'revenue'] } },
			...journeys,
		},
	});
	let engine: Engine;
	afterEach(() => engine.close());
	const start = (input: PolicyInput) => (engine = new Engine({ store: new MemoryStore(), policy: loadPolicy(input), clock: 'event' }));
	const purchase = async (at: number) => {
		const order = { ...event('order-1', at, 'Order Completed'), properties: { revenue: 80 } };
		for (const journey of ['cart-abandonment', 'nurture']) await engine.decide(order, { journey, target: { dryRun: true } });
	};

	test('a held-out contact’s purchase counts in that journey’s lift though another journey messaged them afterwards', async () => {
		start(withHoldout({ 'cart-abandonment': 1 }));
		const held = await engine.decide(event('cart-1', T0), { journey: 'cart-abandonment', target: { dryRun: true } });
		expect(held.choice?.method).toBe('holdout');
		expect((await engine.decide(event('signup-1', T0 + H, 'Signed Up'), { journey: 'nurture', target: { dryRun: true } })).status).toBe('sent');
		await purchase(T0 + 2 * H);
		expect((await engine.lift()).find((r) => r.journey === 'cart-abandonment' && r.arm === 'all')!.holdout).toMatchObject({ n: 1, conversions: 1 });
	});

	test('a purchase after journey A’s email and journey B’s later holdout is revenue of A’s email (and of B’s holdout)', async () => {
		start(withHoldout({ nurture: 1 }));
		const email = await engine.decide(event('cart-1', T0), { journey: 'cart-abandonment', target: { dryRun: true } });
		const held = await engine.decide(event('signup-1', T0 + H, 'Signed Up'), { journey: 'nurture', target: { dryRun: true } });
		expect([email.status, held.choice?.method]).toEqual(['sent', 'holdout']);
		await purchase(T0 + 2 * H);
		for (const d of [email, held]) expect((await engine.store.getDecision(d.decisionId))!.outcomes.map((o) => o.type)).toEqual(['revenue']);
	});

	test('a spam complaint that names no channel, sent to the email journey’s trigger, opts the contact out of email, not of the SMS another journey sent later', async () => {
		const complaint = { 'Spam Reported': { type: 'complaint' as const } };
		start(withHoldout({}, { 'cart-abandonment': { triggers: ['Cart Updated'], channels: ['email'], outcomes: complaint }, nurture: { triggers: ['Signed Up'], channels: ['sms'], outcomes: complaint } }));
		const withPhone = (e: ReturnType<typeof event>) => ({ ...e, traits: { ...e.traits, consent: { email: 'opted_in', sms: 'opted_in' }, phone: '+14155550100' } });
		const email = await engine.decide(withPhone(event('cart-1', T0)), { journey: 'cart-abandonment', target: { dryRun: true } });
		const sms = await engine.decide(withPhone(event('signup-1', T0 + H, 'Signed Up')), { journey: 'nurture', target: { dryRun: true } });
		expect([email.channel, sms.channel]).toEqual(['email', 'sms']);
		await engine.decide(event('spam-1', T0 + 2 * H, 'Spam Reported'), { journey: 'cart-abandonment', target: { dryRun: true } });
		expect((await engine.getProfile(email.contactId))!.consent).toMatchObject({ email: 'opted_out', sms: 'opted_in' });
	});

	test('an order an earlier version recorded (its outcome id without the message), delivered again after the upgrade, is not counted twice', async () => {
		start(withHoldout({}));
		const email = await engine.decide(event('cart-1', T0), { journey: 'cart-abandonment', target: { dryRun: true } });
		// As an earlier version left it: the revenue under its id, the event's store-wide mark, the profile without its list.
		await engine.recordOutcome({ decisionId: email.decisionId, type: 'revenue', value: 80, outcomeId: 'order-1:revenue', at: new Date(T0 + H).toISOString() });
		await engine.store.holdKey(storeWideEventMarkKey('order-1'), 72 * H, T0 + H);
		const saved = (await engine.store.getProfile(email.contactId))!;
		delete saved.takenIn;
		await engine.store.saveProfile(saved, profileIdentityKeys(saved), []);
		await engine.decide({ ...event('order-1', T0 + H, 'Order Completed'), properties: { revenue: 80 } }, { journey: 'cart-abandonment', target: { dryRun: true } });
		expect((await engine.store.getDecision(email.decisionId))!.outcomes.map((o) => [o.outcomeId, o.value])).toEqual([['order-1:revenue', 80]]);
	});

	test('an erased person’s event reaching a prebuilt journey the policy does not name (churn-risk) is a duplicate, not a new contact of erased data', async () => {
		start(withHoldout({}));
		await engine.ingest(event('e-erase', T0), { journey: 'cart-abandonment' });
		await engine.eraseContact({ email: 'ana@example.com' });
		expect((await engine.ingest(event('e-erase', T0 + 60_000), { journey: 'churn-risk' })).duplicate).toBe(true);
		expect(await engine.store.resolveIdentities(['email:ana@example.com'])).toEqual(new Map());
	});
});

const orderOutcome = { 'Order Completed': { type: 'revenue' as const, value: 'revenue' } };
const ordersPolicy: PolicyInput = {
	...DEFAULT_POLICY,
	caps: [],
	holdout: { salt: 'repeated-outcomes', globalShare: 0, journeys: {} },
	journeys: {
		'cart-abandonment': { triggers: ['Cart Updated'], channels: ['email'], outcomes: orderOutcome, conversion: { outcomes: ['conversion', 'revenue'] } },
		nurture: { triggers: ['Signed Up'], channels: ['email'], outcomes: orderOutcome, conversion: { outcomes: ['conversion', 'revenue'] } },
	},
};
const orderEvent = (at: number) => ({ ...event('order-1', at, 'Order Completed'), properties: { revenue: 80 } });
const revenueOf = async (store: Store, ids: string[]) => {
	const all = [];
	for (const id of ids) all.push(...(await store.getDecision(id))!.outcomes.filter((o) => o.type === 'revenue').map((o) => `${id}:${o.outcomeId}`));
	return all;
};
const dry = (journey: string) => ({ journey, target: { dryRun: true as const } });

describe('an outcome delivered again, late or replayed, and an erasure racing an event', () => {
	const H = 3_600_000;
	const engines: Engine[] = [];
	afterEach(async () => {
		for (const e of engines.splice(0)) await e.close();
	});
	/** An engine on a memory store whose clock reads `clock.now` (the tests move it), closed after the test. */
	const engineAt = (clock: { now: number }, input = ordersPolicy) => {
		const store = new MemoryStore();
		const engine = new Engine({ store, policy: loadPolicy(input), now: () => new Date(clock.now) });
		engines.push(engine);
		return { store, engine };
	};

	test('one order delivered twice to the same journey is revenue once, though the sender’s clock runs ahead and an email left in between', async () => {
		const clock = { now: T0 };
		const { store, engine } = engineAt(clock);
		const first = await engine.decide(event('cart-1', T0), dry('cart-abandonment'));
		expect(first.status).toBe('sent');
		// The shop's clock is 30 minutes ahead (within the hour of clock skew allowed).
		clock.now = T0 + H;
		const taken = await engine.decide(orderEvent(T0 + H + 30 * 60_000), dry('cart-abandonment'));
		expect(taken.outcomeFor?.decisionId).toBe(first.decisionId);
		clock.now = T0 + H + 5 * 60_000;
		const second = await engine.decide(event('cart-2', clock.now), dry('cart-abandonment'));
		expect(second.status).toBe('sent');
		// The shop's webhook retries the same order (same event id).
		clock.now = T0 + H + 10 * 60_000;
		const again = await engine.decide(orderEvent(T0 + H + 30 * 60_000), dry('cart-abandonment'));
		expect(again.reason).toBe('DUPLICATE_EVENT');
		expect(await revenueOf(store, [first.decisionId, second.decisionId])).toHaveLength(1);
	});

	test('nudge replay run twice on the same --store (an order and the next cart in the same second) counts the order once', async () => {
		const dir = tempDir();
		const policyPath = join(dir, 'policy.json');
		writeFileSync(policyPath, JSON.stringify(ordersPolicy));
		const eventsPath = join(dir, 'events.jsonl');
		writeFileSync(eventsPath, [event('cart-1', T0), orderEvent(T0 + H), event('cart-2', T0 + H)].map((e) => JSON.stringify(e)).join('\n') + '\n');
		const storePath = join(dir, 'replay.db');
		const runs: string[][] = [];
		for (let i = 0; i < 2; i++) {
			const out: string[] = [];
			await replay({ events: eventsPath, policy: policyPath, journey: 'cart-abandonment', store: storePath }, (d) => out.push(`${d.event.eventId}:${d.status}`));
			runs.push(out);
		}
		expect(runs[0]).toEqual(['cart-1:sent', 'order-1:suppressed', 'cart-2:sent']);
		const store = openStore(`sqlite:${storePath}`);
		try {
			const sent = (await store.queryDecisions({ status: 'sent' })).map((d) => d.decisionId);
			expect(sent).toHaveLength(2);
			expect(await revenueOf(store, sent)).toHaveLength(1);
		} finally {
			await store.close();
		}
	});

	test('an order that reaches the one-call journey a few minutes late, after a new email left, is revenue of the email before it', async () => {
		const clock = { now: T0 };
		const { store, engine } = engineAt(clock);
		const first = await engine.decide(event('cart-1', T0), dry('cart-abandonment'));
		clock.now = T0 + H;
		const second = await engine.decide(event('cart-2', clock.now), dry('cart-abandonment'));
		expect([first.status, second.status]).toEqual(['sent', 'sent']);
		// The order happened 5 minutes before the second email; its webhook arrives 5 minutes after it.
		clock.now = T0 + H + 5 * 60_000;
		const taken = await engine.decide(orderEvent(T0 + H - 5 * 60_000), dry('cart-abandonment')).catch((e: Error) => e.message);
		expect([typeof taken === 'string' ? taken : 'recorded', await revenueOf(store, [first.decisionId, second.decisionId])]).toEqual(['recorded', [expect.stringContaining(first.decisionId)]]);
	});

	test('an unsubscribe dated a few minutes before the email it came from (the provider’s clock behind) still opts the contact out', async () => {
		const clock = { now: T0 };
		const { engine } = engineAt(clock, { ...ordersPolicy, journeys: { 'cart-abandonment': { ...ordersPolicy.journeys!['cart-abandonment'], outcomes: { ...orderOutcome, 'Email Unsubscribed': { type: 'unsubscribe' } } } } });
		const email = await engine.decide(event('cart-1', T0), dry('cart-abandonment'));
		expect(email.status).toBe('sent');
		clock.now = T0 + 10 * 60_000;
		const unsubscribed = await engine.decide({ ...event('unsub-1', T0 - 5 * 60_000, 'Email Unsubscribed'), traits: {}, properties: { channel: 'email' } }, dry('cart-abandonment'));
		expect(unsubscribed.outcomeFor).toMatchObject({ decisionId: email.decisionId, type: 'unsubscribe' });
		expect((await engine.getProfile(email.contactId))!.consent.email).toBe('opted_out');
		expect((await engine.store.getDecision(email.decisionId))!.outcomes).toMatchObject([{ type: 'unsubscribe', at: email.createdAt }]);
	});

	test('a backfill sent twice through the one-call journey on the event clock (a cart event older than the order arrives after it) counts the order once', async () => {
		const store = new MemoryStore();
		const engine = new Engine({ store, policy: loadPolicy(ordersPolicy), clock: 'event' });
		engines.push(engine);
		const events = [event('cart-1', T0), orderEvent(T0 + 2 * H), event('cart-2', T0 + H)];
		const firstRun = [];
		for (const e of events) firstRun.push(await engine.decide(e, dry('cart-abandonment')));
		expect(firstRun.map((d) => d.status)).toEqual(['sent', 'suppressed', 'sent']);
		for (const e of events) await engine.decide(e, dry('cart-abandonment'));
		expect(await revenueOf(store, [firstRun[0].decisionId, firstRun[2].decisionId])).toHaveLength(1);
	});

	describeWithServer('Redis', TEST_REDIS_URL)('on a shared store', () => {
		test('on Redis, an event of the person taken in by another process while an erasure marks their events is erased, and its delivery to a second journey is a duplicate, not a new contact of erased data', async () => {
			const store = redisStore('erasure_race');
			const erasing = new Engine({ store, policy: loadPolicy(ordersPolicy), clock: 'event' });
			// Another process on the same Redis.
			const other = new Engine({ store: new RedisStore(TEST_REDIS_URL, { prefix: store.prefix }), policy: loadPolicy(ordersPolicy), clock: 'event' });
			engines.push(erasing, other);
			await erasing.ingest(event('before', T0), { journey: 'cart-abandonment' });
			const query = store.queryDecisions.bind(store);
			let raced = false;
			store.queryDecisions = (async (...args: Parameters<Store['queryDecisions']>) => {
				const found = await query(...args);
				if (!raced && args[0]?.contactIds) {
					raced = true;
					// Another process takes in an event of the person between the erasure's read and its locks.
					expect((await other.ingest(event('racing', T0 + 1000), { journey: 'cart-abandonment' })).duplicate).toBe(false);
				}
				return found;
			}) as Store['queryDecisions'];
			await erasing.eraseContact({ email: 'ana@example.com' });
			expect(raced).toBe(true);
			store.queryDecisions = query;
			// The racing event was erased with the rest (its decision pseudonymised, the profile gone)...
			expect(await store.resolveIdentities(['email:ana@example.com'])).toEqual(new Map());
			// ...and its delivery to the other journey's trigger (a destination per journey) must be a duplicate.
			const late = await other.ingest(event('racing', T0 + 1000), { journey: 'nurture' });
			expect([late.duplicate, await store.resolveIdentities(['email:ana@example.com'])]).toEqual([true, new Map()]);
		}, 30_000);
	});
});
