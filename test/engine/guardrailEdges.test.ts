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
import { takeDueDecisions } from '../../engine/guard/waits';
import { profileIdentityKeys } from '../../engine/profiles/profiles';

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

/** An engine whose policy pauses on "Ticket Opened" until "Ticket Solved", and the contact's identities. */
const ticketEngine = () => ({
	engine: new Engine({ store: new MemoryStore(), policy: policyOf({ negativeTriggers: [{ id: 'open-ticket', events: ['Ticket Opened'], clearedBy: ['Ticket Solved'] }] }), clock: 'event' }),
	id: { email: 'ana@example.com' },
});

describe('negative triggers with events arriving out of order', () => {
	test('an old "Ticket Solved" delivered after a newer "Ticket Opened" does not lift the pause', async () => {
		const { engine, id } = ticketEngine();
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
	test('a promotional email tagged with an exempt category is blocked with the reason (it would be checked as counted, then count for nothing)', async () => {
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
		const ambiguous = await run('2026-03-03T09:00:00Z', 'p1', { category: 'promotional', tags: ['transactional'] });
		expect(ambiguous).toMatchObject({ status: 'suppressed', reason: 'POLICY_BLOCKED' });
		expect(ambiguous.explanation).toMatch(/tag "transactional" names a category that cap email-daily exempts/);
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

describe('consent: an unsubscribe outcome on a contact already opted out', () => {
	test('is the latest statement: an opt-in made before it, delivered late, does not re-open the channel', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ journeys: { nurture: { channels: ['email'] } } }), clock: 'event' });
		const target = { dryRun: true as const };
		// Mar 1: Ana is opted in and is emailed.
		const sent = await engine.decide(ana('2026-03-01T10:00:00Z', { traits: { consent: { email: 'opted_in' } }, eventId: 'p1' }), { journey: 'nurture', target });
		expect(sent.status).toBe('sent');
		// Mar 2 10:00: the CRM says she unsubscribed (consentAt = Mar 2 10:00).
		await engine.ingest({ type: 'track', name: 'Unsubscribed', identities: { email: 'ana@example.com' }, occurredAt: '2026-03-02T10:00:00Z', eventId: 'crm-unsub' }, { journey: 'nurture' });
		// Mar 2 14:00: she clicks the unsubscribe link of the Mar 1 email; the ESP reports it (she is already out).
		await engine.recordOutcome({ decisionId: sent.decisionId, type: 'unsubscribe', at: '2026-03-02T14:00:00Z' });
		// A form's "Subscribed" of Mar 2 12:00 (before the 14:00 unsubscribe) is delivered late.
		await engine.ingest({ type: 'track', name: 'Subscribed', identities: { email: 'ana@example.com' }, occurredAt: '2026-03-02T12:00:00Z', eventId: 'form-sub' }, { journey: 'nurture' });
		// Her latest statement (14:00) is the opt-out.
		expect((await engine.getProfile(sent.contactId))?.consent.email).toBe('opted_out');
		const next = await stepByStep(engine, ana('2026-03-03T10:00:00Z', { eventId: 'p2' }));
		expect(next.status).not.toBe('sent');
	});
});

describe('agent actions and the journey channels', () => {
	test('an agent asking for SMS on an email-only journey is not allowed (as Frequency Cap given SMS is not)', async () => {
		const policy = loadPolicy({
			...DEFAULT_POLICY,
			caps: [],
			agents: { blastRadius: [] },
			channels: { email: { unknownConsent: 'allow' }, sms: { unknownConsent: 'allow' } },
			journeys: { nurture: { channels: ['email'] } },
		} as PolicyInput);
		const engine = new Engine({ store: new MemoryStore(), policy, now: () => new Date('2026-05-04T10:00:00.000Z') });
		await engine.ingest({ type: 'identify', identities: { email: 'ana@example.com' }, traits: { phone: '+15551234567', consent: { email: 'opted_in', sms: 'opted_in' } }, occurredAt: '2026-05-04T09:00:00Z' });
		const verdict = await engine.requestAction({ agentId: 'bot', idempotencyKey: 'k1', contact: 'ana@example.com', journey: 'nurture', channel: 'sms', message: { category: 'promotional', text: 'hi' } });
		expect(verdict.verdict).not.toBe('allow');
	});
});

describe('exempt-category tags on a delayed decision after a policy edit', () => {
	test('the due decision is settled in the log (not left delayed for ever with its wait gone)', async () => {
		const night = [{ id: 'night', start: '21:00', end: '08:00', action: 'delay' as const }];
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ name: 'v1', quietHours: night }), clock: 'event' });
		const { decision } = await engine.ingest(ana('2026-03-02T22:00:00Z', { traits: { consent: { email: 'opted_in' } } }), { journey: 'nurture' });
		const chosen = await engine.chooseChannel(decision);
		const delayed = await engine.checkCap(chosen, { category: 'promotional', tags: ['transactional'] });
		expect(delayed.status).toBe('delayed');
		// The operator adds a cap that exempts transactional messages while it waits.
		engine.setPolicy({
			...DEFAULT_POLICY,
			name: 'v2',
			quietHours: night,
			caps: [{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: 1, window: { kind: 'calendar', unit: 'day' }, exemptions: [{ category: 'transactional', countsTowardCap: false }] }],
		});
		// The due taker (Due Trigger, `nudge replay`) takes the wait and puts the decision back at the guardrails.
		const due = await takeDueDecisions(engine, 'nurture', Date.parse('2026-03-03T09:00:00Z'));
		expect(due.decisions.map((d) => d.decisionId)).toEqual([delayed.decisionId]);
		await due.acknowledge();
		const done = await engine.decideDue(delayed.decisionId, { dryRun: true });
		expect(done).toMatchObject({ status: 'suppressed', reason: 'POLICY_BLOCKED' });
		expect(done.explanation).toMatch(/names a category that cap email-daily exempts/);
		const after = await engine.getDecision(delayed.decisionId);
		expect(after.status).toBe('suppressed');
		expect(after.loggedAt).toBeDefined();
	});
});

describe('consent of a profile saved before consentAt existed', () => {
	test('an opt-in dated before anything the contact ever did (before firstSeenAt) does not re-open a stored opt-out', async () => {
		const store = new MemoryStore();
		const engine = new Engine({ store, policy: policyOf({ journeys: { nurture: { channels: ['email'] } } }), clock: 'event' });
		// Stored by the previous version: Ana, first seen Mar 2, opted out on Mar 2 (no consentAt then).
		const { profile } = await engine.ingest({ type: 'track', name: 'Unsubscribed', identities: { email: 'ana@example.com' }, occurredAt: '2026-03-02T10:00:00Z', eventId: 'old-unsub' }, { journey: 'nurture' });
		const old = (await store.getProfile(profile!.contactId))!;
		delete old.consentAt;
		await store.saveProfile(old, profileIdentityKeys(old), []);
		expect(old.firstSeenAt).toBe('2026-03-02T10:00:00.000Z');
		// After the upgrade: a sign-up form's "Subscribed" of Feb 1 (a month before any event of hers) is delivered late.
		await engine.ingest({ type: 'track', name: 'Subscribed', identities: { email: 'ana@example.com' }, occurredAt: '2026-02-01T10:00:00Z', eventId: 'feb-sub' }, { journey: 'nurture' });
		// The opt-out was stated on or after firstSeenAt, so it is the newer statement.
		expect((await engine.getProfile(profile!.contactId))?.consent.email).toBe('opted_out');
		const d = await stepByStep(engine, ana('2026-03-03T10:00:00Z', { eventId: 'p' }));
		expect(d.status).not.toBe('sent');
	});
});

describe('a merge whose cap ledger move failed, then an agent action before any event of the survivor', () => {
	test("the merged contact's sends still count against the survivor's caps (capLedgerFrom is moved before caps are checked)", async () => {
		const clock = { now: new Date('2026-03-03T10:00:00Z') };
		const policy = loadPolicy({
			...DEFAULT_POLICY,
			agents: { blastRadius: [] },
			caps: [{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: 2, window: { kind: 'rolling', duration: '24h' } }],
			holdout: { salt: 'merged', globalShare: 0, journeys: {} },
			journeys: { nurture: { channels: ['email'] } },
		} as PolicyInput);
		const engine = new Engine({ store: new MemoryStore(), policy, now: () => clock.now });
		const at = (minute: number) => {
			clock.now = new Date(Date.parse('2026-03-03T10:00:00Z') + minute * 60_000);
			return clock.now.toISOString();
		};
		const ev = (name: string, identities: Record<string, string>, minute: number) => ({ type: 'track', name, identities, occurredAt: at(minute), traits: { consent: { email: 'opted_in' } } });
		const dry = { journey: 'nurture', target: { dryRun: true } } as const;
		const a = (await engine.ingest(ev('Signed Up', { userId: 'u-a' }, 0), { journey: 'nurture' })).decision.contactId;
		expect((await engine.decide(ev('Demo Requested', { email: 'b@x.io' }, 1), dry)).status).toBe('sent');
		expect((await engine.decide(ev('Demo Requested', { email: 'b@x.io' }, 2), dry)).status).toBe('sent');
		expect((await engine.decide(ev('Demo Requested', { email: 'b@x.io' }, 3), dry)).reason).toBe('FREQUENCY_CAP');
		// The linking event's merge is saved; the move of B's ledger fails once (the caps store blinked).
		const move = jest.spyOn(engine.store, 'moveCapLedger').mockImplementationOnce(() => Promise.reject(new Error('caps store down')));
		await engine.ingest(ev('Logged In', { userId: 'u-a', email: 'b@x.io' }, 4), { journey: 'nurture' }).catch(() => undefined);
		move.mockRestore();
		expect((await engine.store.getProfile(a))?.capLedgerFrom).toBeDefined();
		// Before any event of the merged contact, an agent asks to email the person: two emails today already.
		at(5);
		const verdict = await engine.requestAction({ agentId: 'bot', idempotencyKey: 'k1', contact: 'b@x.io', journey: 'nurture', channel: 'email', message: { category: 'promotional', text: 'hi' } });
		expect(verdict.verdict).not.toBe('allow');
	});
});

describe('a complaint event whose contact was held out after the message', () => {
	test('opts the contact out: the complaint is about the message sent, not the later holdout', async () => {
		const journeys = { nurture: { channels: ['email'], outcomes: { 'Email Marked As Spam': { type: 'complaint' } } } };
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ journeys, holdout: { salt: 's', globalShare: 0, journeys: {} } } as Partial<PolicyInput>), clock: 'event' });
		const target = { dryRun: true as const };
		const sent = await engine.decide(ana('2026-03-01T10:00:00Z', { traits: { consent: { email: 'opted_in' } }, eventId: 'p1' }), { journey: 'nurture', target });
		expect(sent.status).toBe('sent');
		// The team starts measuring the journey's lift: everyone in its holdout for a while.
		engine.setPolicy({ ...DEFAULT_POLICY, caps: [], journeys, holdout: { salt: 's', globalShare: 0, journeys: { nurture: 1 } } } as PolicyInput);
		const held = await engine.decide(ana('2026-03-02T10:00:00Z', { eventId: 'p2' }), { journey: 'nurture', target });
		expect(held.reason).toBe('HOLDOUT');
		// The ESP reports that Ana marked the Mar 1 email as spam (the event names no channel).
		await engine.decide(ana('2026-03-02T12:00:00Z', { name: 'Email Marked As Spam', eventId: 'spam' }), { journey: 'nurture', target });
		expect((await engine.getProfile(sent.contactId))?.consent.email).toBe('opted_out');
		// The holdout ends: she complained, she is not emailed.
		engine.setPolicy({ ...DEFAULT_POLICY, caps: [], journeys, holdout: { salt: 's', globalShare: 0, journeys: {} } } as PolicyInput);
		const next = await engine.decide(ana('2026-03-05T10:00:00Z', { eventId: 'p3' }), { journey: 'nurture', target });
		expect(next.status).not.toBe('sent');
	});
});

describe('quiet hours whose start and end both fall in a spring-forward gap', () => {
	// Antarctica/Troll springs forward 2 hours on 2026-03-29 at 01:00 UTC (local 01:00 +00 → 03:00 +02): 01:30 and
	// 03:00 become the same instant, and the window was read as crossing midnight — quiet all day.
	test('Antarctica/Troll, quiet 01:30–03:00 (drop): at 12:00 local on 2026-03-29 the message is sent', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ quietHours: [{ id: 'night', start: '01:30', end: '03:00', action: 'drop' }] }), clock: 'event' });
		const d = await stepByStep(engine, ana('2026-03-29T10:00:00Z', { traits: { timezone: 'Antarctica/Troll', consent: { email: 'opted_in' } } }));
		expect(d.status).toBe('sent');
	});

	test('America/New_York, quiet 02:00–03:00 (drop): at 12:00 EDT on 2026-03-08 the message is sent', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ quietHours: [{ id: 'maint', start: '02:00', end: '03:00', action: 'drop' }] }), clock: 'event' });
		const d = await stepByStep(engine, ana('2026-03-08T16:00:00Z', { traits: { timezone: 'America/New_York', consent: { email: 'opted_in' } } }));
		expect(d.status).toBe('sent');
	});
});

describe('negative triggers and the case of event names', () => {
	test('"Ticket Opened" starts a pause named "ticket opened", and "TICKET SOLVED" clears it, as journey triggers match', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ negativeTriggers: [{ id: 'open-ticket', events: ['ticket opened'], clearedBy: ['ticket solved'] }] }), clock: 'event' });
		const id = { email: 'ana@example.com' };
		await engine.ingest({ type: 'track', name: 'Ticket Opened', identities: id, occurredAt: '2026-03-02T10:00:00Z' }, { journey: 'nurture' });
		expect(await stepByStep(engine, ana('2026-03-02T11:00:00Z'))).toMatchObject({ status: 'suppressed', reason: 'NEGATIVE_TRIGGER', ruleId: 'open-ticket' });
		await engine.ingest({ type: 'track', name: 'TICKET SOLVED', identities: id, occurredAt: '2026-03-02T12:00:00Z' }, { journey: 'nurture' });
		expect((await stepByStep(engine, ana('2026-03-02T13:00:00Z', { eventId: 'after', traits: { consent: { email: 'opted_in' } } }))).status).toBe('sent');
	});
});

describe('quiet hours when the clocks fall back: the contact\'s clock decides', () => {
	const traitsIn = (timezone: string) => ({ timezone, consent: { email: 'opted_in' } });
	test('Europe/Berlin, quiet 01:00–02:30: at the second 02:15 (CET, 2026-10-25) the message waits until 02:30 CET', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ quietHours: [{ id: 'night', start: '01:00', end: '02:30', action: 'delay' }] }), clock: 'event' });
		const first = await stepByStep(engine, ana('2026-10-25T00:15:00Z', { traits: traitsIn('Europe/Berlin'), eventId: 'first' }));
		expect(first).toMatchObject({ status: 'delayed', reason: 'QUIET_HOURS', guard: { retryAt: '2026-10-25T00:30:00.000Z' } }); // the first 02:30 (CEST)
		// Between the two: 02:45 CEST is after quiet hours by the clock.
		expect((await stepByStep(engine, ana('2026-10-25T00:45:00Z', { traits: traitsIn('Europe/Berlin'), eventId: 'between' }))).status).toBe('sent');
		const second = await stepByStep(engine, ana('2026-10-25T01:15:00Z', { traits: traitsIn('Europe/Berlin'), eventId: 'second' }));
		expect(second).toMatchObject({ status: 'delayed', reason: 'QUIET_HOURS', guard: { retryAt: '2026-10-25T01:30:00.000Z' } });
	});
	test('America/New_York, quiet 22:00–01:30: at the second 01:15 (EST, 2026-11-01) the message waits until 01:30 EST', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policyOf({ quietHours: [{ id: 'night', start: '22:00', end: '01:30', action: 'delay' }] }), clock: 'event' });
		expect(await stepByStep(engine, ana('2026-11-01T05:15:00Z', { traits: traitsIn('America/New_York'), eventId: 'first' }))).toMatchObject({ status: 'delayed', reason: 'QUIET_HOURS', guard: { retryAt: '2026-11-01T05:30:00.000Z' } });
		const second = await stepByStep(engine, ana('2026-11-01T06:15:00Z', { traits: traitsIn('America/New_York'), eventId: 'second' }));
		expect(second).toMatchObject({ status: 'delayed', reason: 'QUIET_HOURS', guard: { retryAt: '2026-11-01T06:30:00.000Z' } });
	});
});

describe('negative triggers: a start delivered late, older than the event that cleared the pause', () => {
	test('an old "Ticket Opened" arriving after a newer "Ticket Solved" does not pause the journey again', async () => {
		const { engine, id } = ticketEngine();
		await engine.ingest({ type: 'track', name: 'Ticket Opened', identities: id, occurredAt: '2026-03-01T10:00:00Z', eventId: 't1-open' }, { journey: 'nurture' });
		await engine.ingest({ type: 'track', name: 'Ticket Solved', identities: id, occurredAt: '2026-03-02T10:00:00Z', eventId: 't1-solved' }, { journey: 'nurture' });
		// An open of Feb 28 is delivered late, after the Mar 2 solve (which, by the events' own times, ends a pause begun
		// Feb 28: had it arrived in order it would have been lifted).
		await engine.ingest({ type: 'track', name: 'Ticket Opened', identities: id, occurredAt: '2026-02-28T10:00:00Z', eventId: 't0-open' }, { journey: 'nurture' });
		const d = await stepByStep(engine, ana('2026-03-03T10:00:00Z', { traits: { consent: { email: 'opted_in' } } }));
		expect(d.reason).not.toBe('NEGATIVE_TRIGGER');
		expect(d.status).toBe('sent');
	});
});
