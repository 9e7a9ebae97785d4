import type { Decision } from '../../engine/audit/schema';
import { seededRandom } from '../../engine/decide/sampling';
import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { MemoryStore } from '../../engine/store/memory';

/** Record Outcome: when an outcome counts, for whom, and what the learner learns from it (docs/choosing.md §3). */

const dry = (journey: string) => ({ journey, target: { dryRun: true as const } });
const base = { channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } } };

describe('the attribution window', () => {
	test('a late conversion counts the same for the treated and the held-out arm: one attribution window on every path', async () => {
		let now = new Date('2026-06-01T10:00:00Z');
		const policy = loadPolicy({ ...base, holdout: { salt: 'late', globalShare: 0.5, journeys: {} }, journeys: { cart: { triggers: ['Cart Abandoned'] } } });
		const engine = new Engine({ store: new MemoryStore(), policy, random: seededRandom(1), now: () => now });
		let treated: Decision | undefined;
		let held: Decision | undefined;
		for (let i = 0; i < 40 && !(treated && held); i++) {
			const d = await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { email: `late${i}@x.io` } }, dry('cart'));
			if (d.reason === 'HOLDOUT') held ??= d;
			else if (d.status === 'sent') treated ??= d;
		}
		expect(treated && held).toBeTruthy();
		// Both contacts buy 30 days later (the window is 7 days). The treated purchase is reported with the decision id
		// (from the e-mail's link), the held-out one by contact, as docs/choosing.md says to.
		now = new Date('2026-07-01T10:00:00Z');
		await expect(engine.recordOutcome({ decisionId: treated!.decisionId, type: 'conversion' })).rejects.toMatchObject({
			code: 'INVALID_INPUT',
			message: expect.stringMatching(/more than 168 hours after its decision .*attribution window \(learner\.attributionWindowHours\)/),
		});
		await expect(engine.recordOutcome({ contactId: held!.contactId, type: 'conversion' })).rejects.toMatchObject({ code: 'UNKNOWN_DECISION' });
		const [row] = await engine.lift({ journey: 'cart' });
		expect(row.treated.conversions).toBe(row.holdout.conversions);
		// Within the window, by id, it counts; and an unsubscribe is honoured whenever it comes (it closes the channel).
		now = new Date('2026-06-07T10:00:00Z');
		await engine.recordOutcome({ decisionId: treated!.decisionId, type: 'conversion' });
		now = new Date('2026-09-01T10:00:00Z');
		await engine.recordOutcome({ decisionId: treated!.decisionId, type: 'unsubscribe' });
		expect((await engine.getDecision(treated!.decisionId)).outcomes.map((o) => o.type)).toEqual(['conversion', 'unsubscribe']);
		await engine.close();
	});
});

describe('outcomes and the send', () => {
	test('a conversion made before the message was sent is recorded but does not teach the channel learner a success', async () => {
		const NIGHT = Date.parse('2026-11-02T22:30:00Z'); // 23:30 in Berlin: quiet hours
		const MORNING = Date.parse('2026-11-03T07:00:00Z'); // 08:00 in Berlin: the delayed message goes out
		let now = NIGHT;
		const night = { id: 'night', start: '21:00', end: '08:00', action: 'delay' as const };
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy({ ...DEFAULT_POLICY, holdout: { globalShare: 0, journeys: {} }, quietHours: [night] }), now: () => new Date(now) });
		const { decision: ingested } = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' }, traits: { timezone: 'Europe/Berlin', consent: { email: 'opted_in' } } }, { journey: 'nurture' });
		const waiting = await engine.checkCap(await engine.chooseChannel(ingested));
		expect(waiting).toMatchObject({ status: 'delayed', reason: 'QUIET_HOURS', channel: 'email' });
		now = MORNING;
		const sent = await engine.send(await engine.checkCap(waiting), { dryRun: true });
		expect(sent.status).toBe('sent');
		// The shop reports a purchase made at 00:30, seven and a half hours before the e-mail went out.
		const early = new Date(NIGHT + 3_600_000).toISOString();
		const { decision } = await engine.recordOutcome({ decisionId: sent.decisionId, type: 'conversion', at: early });
		expect(decision.outcomes).toMatchObject([{ type: 'conversion', at: early }]);
		expect(decision.trail.at(-1)?.stage).toMatch(/^outcome not learned from: conversion at .* came before the message was sent \(2026-11-03T07:00:00.000Z\)$/);
		expect((await engine.store.getArmStats(['global#email'])).get('global#email')).toMatchObject({ trials: 1, successes: 0 });
		// A purchase after the send is the message's success.
		now = MORNING + 3_600_000;
		await engine.recordOutcome({ decisionId: sent.decisionId, type: 'conversion', outcomeId: 'order-2' });
		expect((await engine.store.getArmStats(['global#email'])).get('global#email')).toMatchObject({ trials: 1, successes: 1 });
		await engine.close();
	});
});

describe('outcome times', () => {
	const AT = new Date('2026-05-04T10:00:00.000Z');

	async function sentDecision(engine: Engine): Promise<Decision> {
		await engine.ingest({ type: 'identify', identities: { email: 'ana@example.com' }, traits: { consent: { email: 'opted_in' } } });
		return engine.decide({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' } }, dry('nurture'));
	}

	test('an outcome dated in the future is refused: an unsubscribe dated 2099 would outrank every later opt-in', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy({ ...DEFAULT_POLICY, holdout: { globalShare: 0, journeys: {} } }), now: () => AT });
		const sent = await sentDecision(engine);
		expect(sent.status).toBe('sent');
		await expect(engine.recordOutcome({ decisionId: sent.decisionId, type: 'unsubscribe', at: '2099-01-01T00:00:00Z' })).rejects.toMatchObject({
			code: 'INVALID_INPUT',
			message: expect.stringMatching(/Outcome time 2099-01-01T00:00:00.000Z is in the future \(now is 2026-05-04T10:00:00.000Z; at most 60 minutes ahead/),
		});
		expect((await engine.getDecision(sent.decisionId)).outcomes).toEqual([]);
		expect((await engine.store.getProfile(sent.contactId))?.consent.email).toBe('opted_in');
		// A clock a little fast is allowed.
		await engine.recordOutcome({ decisionId: sent.decisionId, type: 'click', at: new Date(AT.getTime() + 30 * 60_000).toISOString() });
		expect((await engine.getDecision(sent.decisionId)).outcomes.map((o) => o.type)).toEqual(['click']);
		await engine.close();
	});

	test('an outcome time without its time zone is refused, as an event’s is: read in the server’s zone it would move by its offset', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy({ ...DEFAULT_POLICY, holdout: { globalShare: 0, journeys: {} } }), now: () => AT });
		const sent = await sentDecision(engine);
		await expect(engine.recordOutcome({ decisionId: sent.decisionId, type: 'open', at: '2026-05-04T10:30:00' })).rejects.toMatchObject({
			code: 'INVALID_INPUT',
			message: 'Outcome time "2026-05-04T10:30:00" is not a date-time with its time zone (use ISO 8601, e.g. 2026-05-01T10:00:00Z, or an offset such as +02:00)',
		});
		// With an offset it is that moment, kept in UTC.
		await engine.recordOutcome({ decisionId: sent.decisionId, type: 'open', at: '2026-05-04T12:30:00+02:00' });
		expect((await engine.getDecision(sent.decisionId)).outcomes.map((o) => o.at)).toEqual(['2026-05-04T10:30:00.000Z']);
		await engine.close();
	});

	test('on the event clock (nudge replay) the events are the clock: an outcome after the wall clock is accepted', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy({ ...DEFAULT_POLICY, holdout: { globalShare: 0, journeys: {} } }), now: () => AT, clock: 'event' });
		const { decision: ingested } = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' }, traits: { consent: { email: 'opted_in' } }, occurredAt: '2030-01-01T10:00:00.000Z' }, { journey: 'nurture' });
		await engine.recordOutcome({ decisionId: ingested.decisionId, type: 'conversion', at: '2030-01-01T12:00:00.000Z' });
		expect((await engine.getDecision(ingested.decisionId)).outcomes.map((o) => o.at)).toEqual(['2030-01-01T12:00:00.000Z']);
		await engine.close();
	});
});

describe('outcome ids as shops send them', () => {
	test('an order id given as a JSON number past 2^53 is refused, asking for text, not recorded under another order\'s id', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy(base) });
		const d = await engine.decide({ type: 'track', name: 'Demo Requested', identities: { email: 'big-order@x.io' } }, dry('nurture'));
		const unsafe = JSON.parse('{"outcomeId": 9007199254740993}').outcomeId as string;
		await expect(engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion', outcomeId: unsafe })).rejects.toThrow(/outcome id 9007199254740992 is a number JSON cannot carry exactly .*send it as text/);
		const safe = JSON.parse('{"outcomeId": 9007199254740991}').outcomeId as string;
		expect((await engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion', outcomeId: safe })).decision.outcomes.map((o) => o.outcomeId)).toEqual(['9007199254740991']);
	});
});
