/**
 * The journey settings of the policy (journeys.<id>: triggers, outcomes, scoring, escalation, offers, timers)
 * as the engine applies them, on the shipped flows/policies/journeys.json, deciding at each event's time.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Decision } from '../../engine/audit/schema';
import { holdoutBucket, holdoutKey, holdoutOf } from '../../engine/decide/holdout';
import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { MemoryStore } from '../../engine/store/memory';
import { applyInactivityRules, fireDueTimers, policyHasTimers } from '../../engine/events/timers';
import { JOURNEYS } from '../../engine/journeys/journey';
import { loadPolicy } from '../../engine/policy/load';
import { createEngine } from '../../engine/registry';
import { decision } from '../helpers/fixtures';

const POLICY_FILE = join(__dirname, '../../flows/policies/journeys.json');
const T0 = Date.parse('2026-11-20T10:00:00.000Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

let engine: Engine;
beforeEach(() => {
	engine = createEngine({ store: 'memory:', policyFile: POLICY_FILE, clock: 'event' });
});
afterEach(() => engine.close());

let seq = 0;
/** A Segment track call at T0 + minutes, for a contact in London (daytime at T0). */
function track(userId: string, event: string, minutes: number, properties: Record<string, unknown> = {}, traits: Record<string, unknown> = {}) {
	return { type: 'track', messageId: `j-${++seq}`, userId, event, properties, timestamp: at(minutes), context: { traits: { timezone: 'Europe/London', ...traits } } };
}

const decide = (journey: string, event: unknown) => engine.decide(event, { journey, target: { dryRun: true } });

describe('flows/policies/journeys.json', () => {
	test('is a valid policy that configures every prebuilt journey consistently', () => {
		const { policy } = loadPolicy(readFileSync(POLICY_FILE, 'utf8'));
		expect(Object.keys(policy.journeys).sort()).toEqual([...JOURNEYS].sort());
		for (const [name, journey] of Object.entries(policy.journeys)) {
			// Every event a timer fires starts a message in its journey (or the timer would be pointless).
			for (const timer of journey.timers) expect(journey.triggers).toContain(timer.fire);
			expect(policy.holdout.journeys[name]).toBeGreaterThan(0);
		}
		const named = [...policy.negativeTriggers, ...policy.review].flatMap((rule) => rule.journeys ?? []);
		for (const journey of named) expect(JOURNEYS).toContain(journey);
	});
});

describe('journey settings in the engine', () => {
	test('an event that is not one of the journey’s triggers updates the profile and ends NOT_A_TRIGGER, logged, untouched by later steps', async () => {
		const d = await decide('cart-abandonment', track('u-a', 'Cart Updated', 0, { cart_id: 'c1', value: 40 }, { email: 'a@example.com' }));
		expect(d).toMatchObject({ status: 'suppressed', reason: 'NOT_A_TRIGGER', loggedAt: expect.any(String) });
		expect(d.explanation).toMatch(/Cart Updated does not start a message in journey cart-abandonment/);
		expect(d.trail.map((s) => s.stage)).toEqual(['ingest', 'log']);
		// Nodes given the settled decision pass it on unchanged.
		expect(await engine.chooseChannel(d)).toMatchObject({ status: 'suppressed', reason: 'NOT_A_TRIGGER' });
		expect((await engine.getProfile(d.contactId))!.counters['Cart Updated']).toBe(1);
	});

	test('an outcome event names the contact’s latest message in the same journey, with its amount; it is recorded once', async () => {
		const nurtured = await decide('nurture', track('u-b', 'Pricing Viewed', 0, {}, { email: 'b@example.com' }));
		expect(nurtured.status).toBe('sent');
		// An order is an outcome of cart-abandonment, so the nurture message does not get it.
		const order = await decide('cart-abandonment', track('u-b', 'Order Completed', 10, { revenue: 89.5 }));
		expect(order.outcomeFor).toBeUndefined();
		const clicked = await decide('nurture', track('u-b', 'Email Link Clicked', 30));
		expect(clicked.outcomeFor).toMatchObject({ decisionId: nurtured.decisionId, type: 'click' });
		const converted = await decide('nurture', track('u-b', 'Lead Converted', 60, { value: 1200 }));
		expect(converted).toMatchObject({ status: 'suppressed', reason: 'NOT_A_TRIGGER', outcomeFor: { decisionId: nurtured.decisionId, type: 'conversion', value: 1200 } });
		const outcomes = (await engine.store.getDecision(nurtured.decisionId))!.outcomes;
		expect(outcomes.map((o) => [o.type, o.value ?? null])).toEqual([['click', null], ['conversion', 1200]]);
		// Converted leads leave nurture (negative trigger `converted`).
		expect(await decide('nurture', track('u-b', 'Webinar Attended', 90))).toMatchObject({ reason: 'NEGATIVE_TRIGGER', ruleId: 'converted' });
	});

	test('an outcome event finds the latest message however many decisions the contact had since (newest first, not the first 1,000)', async () => {
		const { contactId } = await decide('nurture', track('u-m', 'Webinar Attended', 0, {}, { email: 'm@example.com' }));
		// A message, 1,000 decisions that earn no outcome, a later message, then a holdout: written to the log as they were.
		await engine.store.putDecision(decision('early', { contactId, status: 'sent', channel: 'email', choice: { context: 'nurture', method: 'thompson' }, createdAt: at(0.5) }));
		for (let i = 0; i < 1_000; i++) await engine.store.putDecision(decision(`busy-${i}`, { contactId, status: 'suppressed', reason: 'NOT_A_TRIGGER', createdAt: at(1 + i / 100) }));
		await engine.store.putDecision(decision('later', { contactId, status: 'sent', channel: 'email', choice: { context: 'nurture', method: 'thompson' }, createdAt: at(20) }));
		expect((await decide('nurture', track('u-m', 'Email Link Clicked', 25))).outcomeFor).toMatchObject({ decisionId: 'later', type: 'click' });
		await engine.store.putDecision(decision('held', { contactId, status: 'suppressed', reason: 'HOLDOUT', choice: { context: 'nurture', method: 'holdout' }, createdAt: at(30) }));
		// Without a channel the holdout is the latest; an event naming its channel belongs to the message on it.
		expect((await decide('nurture', track('u-m', 'Email Link Clicked', 35))).outcomeFor).toMatchObject({ decisionId: 'held' });
		expect((await decide('nurture', track('u-m', 'Unsubscribed', 40, { channel: 'email' }))).outcomeFor).toMatchObject({ decisionId: 'later', type: 'unsubscribe' });
		// Record Outcome by contact (no decision id) finds it the same way.
		expect((await engine.recordOutcome({ contactId, channel: 'email', type: 'open', at: at(45) })).decision.decisionId).toBe('later');
	});

	test('an outcome event naming its channel belongs to the latest message on that channel', async () => {
		const email = await decide('nurture', track('u-l', 'Lead Created', 0, {}, { email: 'l@example.com', phone: '+4915112345678', consent: { email: 'opted_in', sms: 'opted_in' } }));
		expect(email).toMatchObject({ status: 'sent', channel: 'email' });
		// An SMS unsubscribe is no outcome of the email: no SMS went out.
		expect((await decide('nurture', track('u-l', 'Unsubscribed', 10, { channel: 'sms' }))).outcomeFor).toBeUndefined();
		const unsubscribed = await decide('nurture', track('u-l', 'Unsubscribed', 20, { channel: 'email', list: 'newsletter' }));
		expect(unsubscribed.outcomeFor).toMatchObject({ decisionId: email.decisionId, type: 'unsubscribe' });
		expect((await engine.store.getDecision(email.decisionId))!.outcomes.map((o) => o.type)).toEqual(['unsubscribe']);
		expect((await engine.getProfile(email.contactId))!.consent).toMatchObject({ email: 'opted_out', sms: 'opted_out' });
	});

	test('an outcome whose record fails is not lost: the event\'s repeated delivery (a duplicate) records it, once', async () => {
		const email = await decide('nurture', track('u-f', 'Lead Created', 0, {}, { email: 'f@example.com', consent: { email: 'opted_in' } }));
		expect(email).toMatchObject({ status: 'sent', channel: 'email' });
		const store = engine.store;
		const add = store.addOutcome.bind(store);
		let failures = 1;
		store.addOutcome = async (...args: Parameters<typeof add>) => {
			if (failures-- > 0) throw new Error('store down');
			return add(...args);
		};
		const converted = track('u-f', 'Lead Converted', 20, { value: 300 });
		await expect(decide('nurture', converted)).rejects.toThrow(/store down/);
		expect((await store.getDecision(email.decisionId))!.outcomes).toEqual([]);
		// The event was taken in (its profile update saved, its mark set): delivered again it is a duplicate, which records the outcome.
		expect(await decide('nurture', converted)).toMatchObject({ status: 'suppressed', reason: 'DUPLICATE_EVENT' });
		const recorded = () => store.getDecision(email.decisionId).then((d) => d!.outcomes.map((o) => [o.type, o.value]));
		expect(await recorded()).toEqual([['conversion', 300]]);
		await decide('nurture', converted);
		expect(await recorded()).toEqual([['conversion', 300]]);
		expect((await engine.getProfile(email.contactId))!.counters['Lead Converted']).toBe(1);
	});

	test('an outcome event delivered again after a newer message (wall clock) is a plain duplicate: its outcome stays on its own message', async () => {
		let now = T0;
		const policy = loadPolicy({ ...DEFAULT_POLICY, journeys: { nurture: { channels: ['email'], triggers: ['Pricing Viewed'], outcomes: { 'Email Clicked': { type: 'click' } } } } });
		const wall = new Engine({ store: new MemoryStore(), policy, now: () => new Date(now) });
		const event = (eventId: string, minutes: number, name: string) => ({ eventId, type: 'track', name, identities: { email: 'w@example.com' }, occurredAt: at(minutes) });
		const decideNow = (e: unknown) => wall.decide(e, { journey: 'nurture', target: { dryRun: true } });
		try {
			const first = await decideNow(event('w-1', 0, 'Pricing Viewed'));
			expect(first.status).toBe('sent');
			now = T0 + 60 * 60_000;
			const click = event('w-click', 60, 'Email Clicked');
			await decideNow(click);
			now = T0 + 26 * 60 * 60_000;
			const second = await decideNow(event('w-2', 26 * 60, 'Pricing Viewed'));
			expect(second.status).toBe('sent');
			// The sender delivers the click again, a day later, within the de-duplication window.
			now = T0 + 27 * 60 * 60_000;
			expect(await decideNow(click)).toMatchObject({ status: 'suppressed', reason: 'DUPLICATE_EVENT' });
			expect((await wall.store.getDecision(first.decisionId))!.outcomes.map((o) => o.type)).toEqual(['click']);
			expect((await wall.store.getDecision(second.decisionId))!.outcomes).toEqual([]);
		} finally {
			await wall.close();
		}
	});

	test('a decision the one-call journey cannot finish is settled failed with its error (STOPPED_BY_ERROR), not left pending', async () => {
		const store = engine.store;
		const reserve = store.reserveCapAndClaim.bind(store);
		store.reserveCapAndClaim = async () => {
			throw new Error('cap ledger unavailable');
		};
		const lead = track('u-e', 'Lead Created', 0, {}, { email: 'e@example.com', consent: { email: 'opted_in' } });
		await expect(decide('nurture', lead)).rejects.toThrow(/cap ledger unavailable/);
		store.reserveCapAndClaim = reserve;
		// The test's store holds that one decision.
		const [stopped, ...others] = await store.queryDecisions({});
		expect(others).toEqual([]);
		expect(stopped).toMatchObject({ status: 'failed', reason: 'STOPPED_BY_ERROR', explanation: 'stopped by an error before it ended: cap ledger unavailable' });
		expect(stopped.loggedAt).toBeDefined();
		expect(stopped.trail.map((t) => t.status).at(-1)).toBe('failed');
		// The event was taken in: a repeat is a duplicate and the row stays as it ended.
		expect(await decide('nurture', lead)).toMatchObject({ reason: 'DUPLICATE_EVENT' });
		expect((await store.getDecision(stopped.decisionId))!.status).toBe('failed');
	});

	test('a revenue outcome without its amount counts as a conversion', async () => {
		await engine.ingest(track('u-c', 'Checkout Started', 0, {}, { email: 'c@example.com', consent: { email: 'opted_in' } }), { journey: 'cart-abandonment' });
		const fired = await decide('cart-abandonment', { eventId: 'fired-c', type: 'track', name: 'Cart Abandoned', identities: { userId: 'u-c' }, occurredAt: at(60) });
		expect(fired.status).toBe('sent');
		const order = await decide('cart-abandonment', track('u-c', 'Order Completed', 70, { order_id: 'o-1' }));
		expect(order.outcomeFor).toMatchObject({ decisionId: fired.decisionId, type: 'conversion' });
	});

	test('a hot lead is escalated to a sales task (exempt from the weekly marketing cap); a warm one gets the next best channel', async () => {
		const lead = { email: 'd@bigco.example', title: 'VP Growth', employees: 300 };
		const warm = await decide('nurture', track('u-d', 'Pricing Viewed', 0, {}, lead));
		expect(warm).toMatchObject({ status: 'sent', channel: 'email', score: { tier: 'warm' } });
		const hot = await decide('nurture', track('u-d', 'Demo Requested', 5));
		expect(hot).toMatchObject({ status: 'sent', channel: 'sales_task', message: { category: 'sales' }, score: { tier: 'hot' }, choice: { method: 'escalated', arm: 'sales_task' } });
		expect(hot.candidates!.filter((c) => c.eligible).map((c) => c.channel)).toEqual(['sales_task']);
		expect(hot.guard!.checks.find((c) => c.ruleId === 'all-weekly')).toMatchObject({ exempt: true });
		// The task carries a brief for sales: who, what they showed interest in, and why they scored hot.
		expect(hot.handoff).toEqual({
			summary: 'd@bigco.example (VP Growth): hot lead, score 95. Interested in: Demo Requested, Pricing Viewed. Why: Requested a demo (+40); Viewed the pricing page (+20); Senior job title (+15).',
			interests: [{ event: 'Demo Requested', count: 1 }, { event: 'Pricing Viewed', count: 1 }],
			topFactors: ['Requested a demo (+40)', 'Viewed the pricing page (+20)', 'Senior job title (+15)'],
		});
		expect(warm.handoff).toBeUndefined();
		// One sales task a week per lead.
		expect(await decide('nurture', track('u-d', 'Webinar Attended', 10))).toMatchObject({ channel: 'sales_task', reason: 'FREQUENCY_CAP', ruleId: 'sales-task-weekly' });
	});

	test('offer depth follows the purchase-intent tier; a large discount waits for a person', async () => {
		// Cold: one cart update only → 20% → review.
		await engine.ingest(track('u-e', 'Cart Updated', 0, {}, { email: 'e@example.com' }), { journey: 'cart-abandonment' });
		const cold = await decide('cart-abandonment', { eventId: 'fired-e', type: 'track', name: 'Cart Abandoned', identities: { userId: 'u-e' }, occurredAt: at(60) });
		expect(cold).toMatchObject({ status: 'review', reason: 'REVIEW_REQUIRED', ruleId: 'large-discount', score: { tier: 'cold' }, message: { offerValue: 20 } });
		// Warm: checkout started → 10% → sent.
		await engine.ingest(track('u-f', 'Checkout Started', 0, {}, { email: 'f@example.com' }), { journey: 'cart-abandonment' });
		const warm = await decide('cart-abandonment', { eventId: 'fired-f', type: 'track', name: 'Cart Abandoned', identities: { userId: 'u-f' }, occurredAt: at(30) });
		expect(warm).toMatchObject({ status: 'sent', score: { tier: 'warm', factors: [{ label: 'Started checkout' }] }, message: { offerValue: 10 } });
		expect(warm.score!.model).toMatch(/^rules:journeys@/);
	});

	test('the policy’s timers: abandonment after the wait, a second touch a day later, both cancelled by an order', async () => {
		expect(policyHasTimers(engine, 'cart-abandonment')).toBe(true);
		expect(policyHasTimers(engine, 'nurture')).toBe(false);
		const take = async (journey: string, event: unknown) => {
			const result = await engine.ingest(event, { journey });
			await applyInactivityRules(engine, [result], []);
			return result;
		};
		// Fires and acknowledges, as a trigger node does once the events have left it.
		const fire = async (now: number) => {
			const { fired, acknowledge } = await fireDueTimers(engine, now);
			await acknowledge();
			return fired;
		};
		await take('cart-abandonment', track('u-g', 'Cart Updated', 0, { cart_id: 'g1' }, { email: 'g@example.com' }));
		await take('cart-abandonment', track('u-h', 'Checkout Started', 0, { cart_id: 'h1' }, { email: 'h@example.com' }));
		// Checkout waits 30 minutes, a cart update 60.
		expect((await fire(T0 + 30 * 60_000)).map((r) => r.event.name)).toEqual(['Cart Abandoned']);
		const first = await fire(T0 + 60 * 60_000);
		expect(first.map((r) => [r.event.name, r.decision.journey])).toEqual([['Cart Abandoned', 'cart-abandonment']]);
		// u-g orders before the second touch; u-h does not.
		await take('cart-abandonment', track('u-g', 'Order Completed', 120, { revenue: 30 }));
		const second = await fire(T0 + 3 * 86_400_000);
		expect(second.map((r) => r.event.name)).toEqual(['Cart Still Abandoned']);
		const profile = await engine.getProfile(second[0].decision.contactId);
		expect(profile!.identities.userId).toEqual(['u-h']);
	});

	test('holdout buckets are drawn from the user id, so a contact keeps its group in any store', async () => {
		const { policy } = loadPolicy(readFileSync(POLICY_FILE, 'utf8'));
		expect(holdoutKey({ contactId: 'c_1', identities: { userId: ['u-kenji'] } })).toBe('u-kenji');
		expect(holdoutKey({ contactId: 'c_1', identities: {} })).toBe('c_1');
		expect(holdoutOf(policy.holdout, 'u-kenji', 'nurture')).toEqual({ group: 'journey', bucket: holdoutBucket('u-kenji', 'nudge-journeys', 'journey:nurture') });
		const held: Decision[] = [];
		for (const store of [engine, createEngine({ store: 'memory:', policyFile: POLICY_FILE, clock: 'event' })]) {
			held.push(await store.decide(track('u-kenji', 'Pricing Viewed', 0, {}, { email: 'k@example.com' }), { journey: 'nurture', target: { dryRun: true } }));
			if (store !== engine) await store.close();
		}
		expect(held.map((d) => d.reason)).toEqual(['HOLDOUT', 'HOLDOUT']);
		expect(held[0].contactId).not.toBe(held[1].contactId);
	});
});
