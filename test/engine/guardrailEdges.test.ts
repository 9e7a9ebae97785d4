/**
 * Guardrails at their edges: daylight-saving transitions (midnights that happen twice, quiet hours that start in a
 * skipped hour), events delivered out of order (consent, negative triggers), holdouts and exemptions on the
 * step-by-step path, a rolling cap's delay, an unsubscribe by contact, the one-call journey against the nodes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import type { PolicyInput } from '../../engine/policy/schema';
import { MemoryStore } from '../../engine/store/memory';

const policyOf = (extra: Partial<PolicyInput>) => loadPolicy({ ...DEFAULT_POLICY, caps: [], ...extra } as PolicyInput);

/** Ingest → Choose Channel → Frequency Cap → Send (dry run), the step-by-step flow. */
async function stepByStep(engine: Engine, event: Record<string, unknown>, journey = 'nurture') {
	const { decision } = await engine.ingest(event, { journey });
	const chosen = await engine.chooseChannel(decision);
	if (chosen.status !== 'pending') return chosen;
	const guarded = await engine.checkCap(chosen);
	return guarded.guard?.allowed ? engine.send(guarded, { dryRun: true }) : guarded;
}

const ana = (occurredAt: string, extra: Record<string, unknown> = {}) => ({
	type: 'track',
	name: 'Pricing Viewed',
	identities: { email: 'ana@example.com' },
	occurredAt,
	...extra,
});

describe('calendar caps in zones whose clocks fall back across midnight (America/Havana)', () => {
	// Cuba ends DST on 2026-11-01 at 01:00 CDT → 00:00 CST: 00:00–01:00 on Nov 1 happens twice.
	const caps: PolicyInput['caps'] = [{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: 1, window: { kind: 'calendar', unit: 'day' } }];
	const traits = { timezone: 'America/Havana', consent: { email: 'opted_in' } };

	test('a daily cap of 1 lets only one email through on local Nov 1, across a restart (same store)', async () => {
		const store = new MemoryStore();
		const first = new Engine({ store, policy: policyOf({ caps }), clock: 'event', ownsStore: false });
		// 00:10 CDT on Nov 1 (local date 2026-11-01).
		const a = await stepByStep(first, ana('2026-11-01T04:10:00Z', { traits, eventId: 'e1' }));
		expect(a.status).toBe('sent');
		// The process restarts (or another n8n / Node-RED worker on the same store takes the next event).
		const second = new Engine({ store, policy: policyOf({ caps }), clock: 'event', ownsStore: false });
		// 00:20 CST on Nov 1: still local date 2026-11-01, the same calendar day.
		const b = await stepByStep(second, ana('2026-11-01T05:20:00Z', { traits, eventId: 'e2' }));
		expect(b.status).toBe('suppressed');
		expect(b.reason).toBe('FREQUENCY_CAP');
	});

	test('the same with a policy edit (setPolicy) between the two messages', async () => {
		const store = new MemoryStore();
		const engine = new Engine({ store, policy: policyOf({ caps }), clock: 'event' });
		const a = await stepByStep(engine, ana('2026-11-01T04:10:00Z', { traits, eventId: 'e1' }));
		expect(a.status).toBe('sent');
		engine.setPolicy({ ...DEFAULT_POLICY, name: 'edited', caps });
		const b = await stepByStep(engine, ana('2026-11-01T05:20:00Z', { traits, eventId: 'e2' }));
		expect(b).toMatchObject({ status: 'suppressed', reason: 'FREQUENCY_CAP', ruleId: 'email-daily' });
	});

	test('a monthly cap of 1 lets only one email through in November', async () => {
		const monthly: PolicyInput['caps'] = [{ id: 'email-monthly', scope: { kind: 'channel', channel: 'email' }, limit: 1, window: { kind: 'calendar', unit: 'month' } }];
		const store = new MemoryStore();
		const first = new Engine({ store, policy: policyOf({ caps: monthly }), clock: 'event', ownsStore: false });
		expect((await stepByStep(first, ana('2026-11-01T04:10:00Z', { traits, eventId: 'e1' }))).status).toBe('sent');
		const second = new Engine({ store, policy: policyOf({ caps: monthly }), clock: 'event', ownsStore: false });
		const b = await stepByStep(second, ana('2026-11-01T05:20:00Z', { traits, eventId: 'e2' }));
		expect(b).toMatchObject({ status: 'suppressed', reason: 'FREQUENCY_CAP', ruleId: 'email-monthly' });
	});
});

describe('quiet hours whose start falls in a spring-forward gap', () => {
	const traitsIn = (timezone: string) => ({ timezone, consent: { email: 'opted_in' } });

	test('America/Santiago, quiet 00:30–07:00: at 01:10 local on 2026-09-06 (clocks jumped 00:00 → 01:00) the message waits', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ quietHours: [{ id: 'night', start: '00:30', end: '07:00', action: 'delay' }] }), clock: 'event' });
		// 04:10Z = 01:10 -03 local: the wall clock reads 01:10, inside 00:30–07:00.
		const d = await stepByStep(engine, ana('2026-09-06T04:10:00Z', { traits: traitsIn('America/Santiago') }));
		expect(d.status).toBe('delayed');
		expect(d.reason).toBe('QUIET_HOURS');
	});

	test('America/New_York, quiet 02:30–06:00: at 03:10 EDT on 2026-03-08 the message waits', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ quietHours: [{ id: 'night', start: '02:30', end: '06:00', action: 'drop' }] }), clock: 'event' });
		const d = await stepByStep(engine, ana('2026-03-08T07:10:00Z', { traits: traitsIn('America/New_York') }));
		expect(d.status).toBe('suppressed');
		expect(d.reason).toBe('QUIET_HOURS');
	});

	test('Australia/Lord_Howe (half-hour DST), quiet 02:15–06:00: at 02:35 local on 2026-10-04 the message waits', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ quietHours: [{ id: 'night', start: '02:15', end: '06:00', action: 'delay' }] }), clock: 'event' });
		const d = await stepByStep(engine, ana('2026-10-03T15:35:00Z', { traits: traitsIn('Australia/Lord_Howe') }));
		expect(d.status).toBe('delayed');
		expect(d.reason).toBe('QUIET_HOURS');
	});
});

describe('consent events arriving out of order', () => {
	test('an older "Subscribed" delivered after a newer "Unsubscribed" does not re-open the channel', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({}), clock: 'event' });
		const id = { email: 'ana@example.com' };
		// The newer opt-out arrives first…
		await engine.ingest({ type: 'track', name: 'Unsubscribed', identities: id, occurredAt: '2026-03-02T10:00:00Z', eventId: 'unsub' }, { journey: 'nurture' });
		// …then a retried/late delivery of an opt-in made the day before.
		await engine.ingest({ type: 'track', name: 'Subscribed', identities: id, occurredAt: '2026-03-01T09:00:00Z', eventId: 'sub-old' }, { journey: 'nurture' });
		const d = await stepByStep(engine, ana('2026-03-03T10:00:00Z'));
		expect(d.status).toBe('suppressed');
		expect(['NO_CONSENT', 'NO_ELIGIBLE_CHANNEL']).toContain(d.reason);
	});

	test('an older consent trait delivered after a newer opt-out does not re-open SMS', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ channelOrder: ['sms'], journeys: { nurture: { channels: ['sms'] } } }), clock: 'event' });
		const id = { userId: 'u-1' };
		await engine.ingest({ type: 'identify', identities: id, traits: { phone: '+15551234567', consent: { sms: 'opted_out' } }, occurredAt: '2026-03-02T10:00:00Z', eventId: 'out' }, { journey: 'nurture' });
		await engine.ingest({ type: 'identify', identities: id, traits: { consent: { sms: 'opted_in' } }, occurredAt: '2026-02-01T10:00:00Z', eventId: 'in-old' }, { journey: 'nurture' });
		const d = await stepByStep(engine, { type: 'track', name: 'Pricing Viewed', identities: id, occurredAt: '2026-03-03T10:00:00Z' });
		expect(d.status).toBe('suppressed');
		expect(['NO_CONSENT', 'NO_ELIGIBLE_CHANNEL']).toContain(d.reason);
	});
});

describe('negative triggers with events arriving out of order', () => {
	test('an old "Ticket Solved" delivered after a newer "Ticket Opened" does not lift the pause', async () => {
		const engine = new Engine({
			store: new MemoryStore(),
			policy: policyOf({ negativeTriggers: [{ id: 'open-ticket', events: ['Ticket Opened'], clearedBy: ['Ticket Solved'] }] }),
			clock: 'event',
		});
		const id = { email: 'ana@example.com' };
		await engine.ingest({ type: 'track', name: 'Ticket Opened', identities: id, occurredAt: '2026-03-02T10:00:00Z', eventId: 't2-open' }, { journey: 'nurture' });
		// The previous ticket's "solved" (a day earlier) arrives late.
		await engine.ingest({ type: 'track', name: 'Ticket Solved', identities: id, occurredAt: '2026-03-01T10:00:00Z', eventId: 't1-solved' }, { journey: 'nurture' });
		const d = await stepByStep(engine, ana('2026-03-02T12:00:00Z'));
		expect(d).toMatchObject({ status: 'suppressed', reason: 'NEGATIVE_TRIGGER', ruleId: 'open-ticket' });
	});
});

describe('holdouts', () => {
	test('a contact in the global control group is not messaged when Frequency Cap is given the channel (no Choose Channel)', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ holdout: { salt: 's', globalShare: 1 } }), clock: 'event' });
		const { decision } = await engine.ingest(ana('2026-03-03T10:00:00Z', { traits: { consent: { email: 'opted_in' } } }), { journey: 'nurture' });
		// "put Choose Channel before Frequency Cap, or set the channel on the node" — the second way:
		const guarded = await engine.checkCap(decision, { channel: 'email' });
		const d = guarded.guard?.allowed ? await engine.send(guarded, { dryRun: true }) : guarded;
		expect(d.status).not.toBe('sent');
		expect(d.reason).toBe('HOLDOUT');
	});
});

describe('a channel given on Frequency Cap', () => {
	test('is one the journey may use: SMS on an email-only journey is blocked with the reason, not sent', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ journeys: { nurture: { channels: ['email'] } }, channels: { email: { unknownConsent: 'allow' }, sms: { unknownConsent: 'allow' } } }), clock: 'event' });
		const { decision } = await engine.ingest(ana('2026-03-03T10:00:00Z', { traits: { phone: '+15551234567', consent: { sms: 'opted_in', email: 'opted_in' } } }), { journey: 'nurture' });
		const guarded = await engine.checkCap(decision, { channel: 'sms' });
		expect(guarded).toMatchObject({ status: 'suppressed', reason: 'NO_ELIGIBLE_CHANNEL', channel: 'sms' });
		expect(guarded.explanation).toMatch(/sms is not a channel of journey nurture \(the policy gives it email\)/);
		expect(guarded.guard?.allowed).toBeFalsy();
		// Its own channel passes.
		const { decision: other } = await engine.ingest(ana('2026-03-03T11:00:00Z', { eventId: 'e-email' }), { journey: 'nurture' });
		expect((await engine.checkCap(other, { channel: 'email' })).guard?.allowed).toBe(true);
	});
});

describe('rolling caps with action "delay": retryAt is not when the slot frees', () => {
	const caps: PolicyInput['caps'] = [{ id: 'email-24h', scope: { kind: 'channel', channel: 'email' }, limit: 1, window: { kind: 'rolling', duration: '24h' }, action: 'delay' }];

	test('a delayed decision checked again at its retryAt is sent (not delayed again to the same instant)', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ caps }), clock: 'event' });
		const target = { dryRun: true as const };
		expect((await engine.decide(ana('2026-03-03T10:00:00Z', { eventId: 'a' }), { journey: 'nurture', target })).status).toBe('sent');
		const b = await engine.decide(ana('2026-03-03T11:00:00Z', { eventId: 'b' }), { journey: 'nurture', target });
		// The first instant the first send is out of the 24 hours (at exactly 24 hours it still counts).
		expect(b).toMatchObject({ status: 'delayed', guard: { retryAt: '2026-03-04T10:00:00.001Z' } });
		// Brought back at its due time (what the Due Trigger and `nudge replay` do): the slot is free.
		const again = await engine.decideDue(b.decisionId, target);
		expect(again.status).toBe('sent');
	});

	test('`nudge replay` finishes on two events under a rolling delay cap (it looped delaying the second to one instant)', () => {
		const dir = mkdtempSync(join(tmpdir(), 'nudge-replay-delay-'));
		const seg = (id: string, at: string) => ({ type: 'track', messageId: id, userId: 'u1', event: 'Pricing Viewed', context: { traits: { email: 'a@example.com' } }, timestamp: at });
		writeFileSync(join(dir, 'events.jsonl'), [seg('a', '2026-03-03T10:00:00Z'), seg('b', '2026-03-03T11:00:00Z')].map((e) => JSON.stringify(e)).join('\n') + '\n');
		writeFileSync(join(dir, 'policy.json'), JSON.stringify({ name: 'p', timezone: 'UTC', channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } }, caps }));
		const cli = resolve(__dirname, '../../dist/cli/nudge.js');
		const run = spawnSync(process.execPath, [cli, 'replay', '--events', join(dir, 'events.jsonl'), '--policy', join(dir, 'policy.json')], { timeout: 20_000, encoding: 'utf8' });
		expect(run.signal).toBeNull(); // not killed by the timeout
		expect(run.status).toBe(0);
		const decisions = run.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
		expect(decisions.map((d: { status: string }) => d.status)).toEqual(['sent', 'sent']);
	});
});

describe('an unsubscribe outcome recorded by contact', () => {
	test('opts the contact out even when their latest decision is a holdout of another journey', async () => {
		const engine = new Engine({
			store: new MemoryStore(),
			// Every contact is in the cart journey's holdout; nurture messages everyone.
			policy: policyOf({ journeys: { nurture: { channels: ['email'] }, cart: { channels: ['email'] } }, holdout: { salt: 's', globalShare: 0, journeys: { cart: 1 } } }),
			clock: 'event',
		});
		const traits = { consent: { email: 'opted_in' } };
		const sent = await engine.decide(ana('2026-03-02T10:00:00Z', { traits, eventId: 'n1' }), { journey: 'nurture', target: { dryRun: true } });
		expect(sent.status).toBe('sent');
		const held = await engine.decide(ana('2026-03-02T11:00:00Z', { eventId: 'c1', name: 'Cart Updated' }), { journey: 'cart', target: { dryRun: true } });
		expect(held.reason).toBe('HOLDOUT');
		// The ESP reports that Ana unsubscribed (Record Outcome by contact: "the contact's latest decision").
		await engine.recordOutcome({ contactId: sent.contactId, type: 'unsubscribe', at: '2026-03-02T12:00:00Z' });
		const profile = await engine.getProfile(sent.contactId);
		expect(profile?.consent.email).toBe('opted_out');
		const next = await engine.decide(ana('2026-03-05T10:00:00Z', { eventId: 'n2' }), { journey: 'nurture', target: { dryRun: true } });
		expect(next.status).not.toBe('sent');
	});
});

describe('cap exemptions: a message is exempt by its category', () => {
	test('a promotional email tagged with an exempt category is refused with a clear error (it would be checked as counted, then count for nothing)', async () => {
		const caps: PolicyInput['caps'] = [
			{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: 1, window: { kind: 'calendar', unit: 'day' }, exemptions: [{ category: 'transactional', countsTowardCap: false }] },
		];
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ caps }), clock: 'event' });
		const traits = { consent: { email: 'opted_in' } };
		const run = async (at: string, id: string, message: { category: string; tags: string[] }) => {
			const { decision } = await engine.ingest(ana(at, { traits, eventId: id }), { journey: 'nurture' });
			const chosen = await engine.chooseChannel(decision);
			const guarded = await engine.checkCap(chosen, message);
			return guarded.guard?.allowed ? engine.send(guarded, { dryRun: true }) : guarded;
		};
		await expect(run('2026-03-03T09:00:00Z', 'p1', { category: 'promotional', tags: ['transactional'] })).rejects.toThrow(/tag "transactional" names a category that cap email-daily exempts/);
		// Said one way or the other, it counts as what it is.
		expect((await run('2026-03-03T10:00:00Z', 'p2', { category: 'promotional', tags: ['spring'] })).status).toBe('sent');
		expect(await run('2026-03-03T11:00:00Z', 'p3', { category: 'transactional', tags: ['transactional'] })).toMatchObject({ status: 'sent' });
		expect(await run('2026-03-03T12:00:00Z', 'p4', { category: 'promotional', tags: [] })).toMatchObject({ status: 'suppressed', reason: 'FREQUENCY_CAP', ruleId: 'email-daily' });
	});
});

describe('one-call journey vs the step-by-step nodes', () => {
	// A journey without `triggers` (every event starts a decision) whose outcomes include a complaint.
	const policy = () => policyOf({ journeys: { nurture: { channels: ['email'], outcomes: { 'Email Marked As Spam': { type: 'complaint' } } } } });
	const traits = { consent: { email: 'opted_in' } };

	test('decide(): an event that is a complaint outcome opts the contact out, and its own decision does not then email them', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policy(), clock: 'event' });
		const target = { dryRun: true as const };
		const first = await engine.decide(ana('2026-03-02T10:00:00Z', { traits, eventId: 'p1' }), { journey: 'nurture', target });
		expect(first.status).toBe('sent');
		const spam = await engine.decide(ana('2026-03-04T10:00:00Z', { name: 'Email Marked As Spam', eventId: 's1' }), { journey: 'nurture', target });
		// The complaint was recorded on the first message and opted the contact out of email…
		expect((await engine.getProfile(first.contactId))?.consent.email).toBe('opted_out');
		// …so the complaint's own decision does not send an email (its stages see the opt-out).
		expect(spam.status).not.toBe('sent');
	});

	test('the same events give the same answer in decide() and in the step-by-step nodes (Record Outcome, Choose Channel…)', async () => {
		const stepEngine = new Engine({ store: new MemoryStore(), policy: policy(), clock: 'event' });
		expect((await stepByStep(stepEngine, ana('2026-03-02T10:00:00Z', { traits, eventId: 'p1' }))).status).toBe('sent');
		const { decision } = await stepEngine.ingest(ana('2026-03-04T10:00:00Z', { name: 'Email Marked As Spam', eventId: 's1' }), { journey: 'nurture' });
		await stepEngine.recordOutcome({ ...decision.outcomeFor!, at: decision.event.occurredAt });
		const chosen = await stepEngine.chooseChannel(decision.decisionId);
		const viaSteps = chosen.status === 'pending' ? await stepEngine.checkCap(chosen) : chosen;

		const oneCall = new Engine({ store: new MemoryStore(), policy: policy(), clock: 'event' });
		const target = { dryRun: true as const };
		await oneCall.decide(ana('2026-03-02T10:00:00Z', { traits, eventId: 'p1' }), { journey: 'nurture', target });
		const viaDecide = await oneCall.decide(ana('2026-03-04T10:00:00Z', { name: 'Email Marked As Spam', eventId: 's1' }), { journey: 'nurture', target });

		expect(viaSteps.status).toBe('suppressed');
		expect(viaDecide.status).toBe(viaSteps.status);
	});
});

describe('policy edits while a decision waits', () => {
	test('a delayed decision finished under a new policy records the version whose rules decided it', async () => {
		const night = [{ id: 'night', start: '21:00', end: '08:00', action: 'delay' as const }];
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ name: 'v1', quietHours: night }), clock: 'event' });
		const target = { dryRun: true as const };
		const d = await engine.decide(ana('2026-03-02T22:00:00Z', { traits: { consent: { email: 'opted_in' } } }), { journey: 'nurture', target });
		expect(d.status).toBe('delayed');
		const v1 = engine.policyVersion;
		// The operator adds a cap rule while the message waits.
		engine.setPolicy({ ...DEFAULT_POLICY, name: 'v2', quietHours: night, caps: [{ id: 'v2-only', scope: { kind: 'any' }, limit: 1, window: { kind: 'rolling', duration: '1s' } }] });
		const done = await engine.decideDue(d.decisionId, target);
		expect(done.guard!.checks.some((c) => c.ruleId === 'v2-only')).toBe(true); // decided by v2's rules…
		expect(done.policyVersion).not.toBe(v1); // …so the log names v2
		expect(done.policyVersion).toBe(engine.policyVersion);
	});
});
