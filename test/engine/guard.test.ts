import fc from 'fast-check';
import { DateTime } from 'luxon';
import { Engine } from '../../engine/engine';
import { durationMs } from '../../engine/guard/duration';
import { checkAndReserve, MessageFacts, rulesFor } from '../../engine/guard/frequencyCap';
import { suppressionHit } from '../../engine/guard/guard';
import { quietUntil, quietUntilMs } from '../../engine/guard/quietHours';
import { windowSpan, zoneFor } from '../../engine/guard/windows';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import type { Policy, PolicyInput } from '../../engine/policy/schema';
import type { Profile } from '../../engine/profiles/schema';
import { MemoryStore } from '../../engine/store/memory';
import { quietRule, referenceQuietUntil, zoneAndTimes } from '../helpers/zoneTimes';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const { policy } = loadPolicy();
const email = (extra: Partial<MessageFacts> = {}): MessageFacts => ({ channel: 'email', journey: 'nurture', tags: [], ...extra });
const at = (iso: string) => Date.parse(iso);

/** An engine whose clock is each event's own time, on a fresh memory store. */
function engineWith(extra: Partial<PolicyInput>): Engine {
	return new Engine({ store: new MemoryStore(), policy: loadPolicy({ ...DEFAULT_POLICY, ...extra }), clock: 'event' });
}

/** Ingest → choose → guard for one event; the contact has an email address and agreed to email. */
async function guarded(engine: Engine, occurredAt: string, extra: Record<string, unknown> = {}, options: Parameters<Engine['checkCap']>[1] = {}) {
	const { decision } = await engine.ingest(
		{ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' }, traits: { consent: { email: 'opted_in' } }, occurredAt, ...extra },
		{ journey: 'nurture' },
	);
	const chosen = await engine.chooseChannel(decision);
	return chosen.status === 'pending' ? engine.checkCap(chosen, options) : chosen;
}

async function sendAll(engine: Engine, times: string[], options: Parameters<Engine['checkCap']>[1] = {}) {
	const out = [];
	for (const t of times) {
		const d = await guarded(engine, t, {}, options);
		out.push(d.guard?.allowed ? await engine.send(d, { dryRun: true }) : d);
	}
	return out;
}

describe('frequency caps', () => {
	test('the explained checks are built when read, and equal what the check saw when it decided', async () => {
		const { policy: p } = loadPolicy({
			...DEFAULT_POLICY,
			caps: [
				{ id: 'email-2h', scope: { kind: 'channel', channel: 'email' }, limit: 2, window: { kind: 'rolling', duration: '2h' }, action: 'delay' },
				{ id: 'promo-day', scope: { kind: 'tag', tag: 'promo' }, limit: 2, window: { kind: 'calendar', unit: 'day' }, action: 'delay', exemptions: [{ category: 'transactional', countsTowardCap: true }] },
				{ id: 'nurture-week', scope: { kind: 'journey', journey: 'nurture' }, limit: 4, window: { kind: 'calendar', unit: 'week' } },
				{ id: 'any-day', scope: { kind: 'any' }, limit: 3, window: { kind: 'rolling', duration: '24h' }, exemptions: [{ category: 'transactional', countsTowardCap: false }] },
			],
		});
		const checkArb = fc.record({
			gapMs: fc.integer({ min: 0, max: 30 * HOUR }),
			zone: fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata'),
			channel: fc.constantFrom('email' as const, 'sms' as const),
			journey: fc.constantFrom('nurture', 'onboarding'),
			category: fc.constantFrom(undefined, 'promo', 'transactional'),
			settle: fc.constantFrom('commit' as const, 'release' as const, undefined),
		});
		await fc.assert(
			fc.asyncProperty(fc.array(checkArb, { minLength: 1, maxLength: 25 }), async (steps) => {
				// The same checks on two stores: one result read at once, the other only after every later check
				// (by then the calendar windows' cache holds later periods).
				const [atOnce, later] = [new MemoryStore(), new MemoryStore()];
				const read: unknown[] = [];
				const results = [];
				let now = at('2026-03-28T20:00:00Z');
				for (const step of steps) {
					now += step.gapMs;
					const message: MessageFacts = { channel: step.channel, journey: step.journey, tags: step.category === 'promo' ? ['promo'] : [], ...(step.category ? { category: step.category } : {}) };
					const a = await checkAndReserve(atOnce, p, 'c1', message, now, step.zone);
					read.push({ checks: structuredClone(a.checks), explanation: a.explanation });
					const b = await checkAndReserve(later, p, 'c1', message, now, step.zone);
					results.push(b);
					expect([b.allowed, b.binding, b.reservationId !== undefined]).toEqual([a.allowed, a.binding, a.reservationId !== undefined]);
					if (step.settle && a.reservationId) {
						await atOnce.settleCap(a.reservationId, step.settle);
						await later.settleCap(b.reservationId!, step.settle);
					}
				}
				expect(results.map((r) => ({ checks: r.checks, explanation: r.explanation }))).toEqual(read);
			}),
			{ numRuns: 150, seed: 18 },
		);
	});

	test('durations and the rules that apply to a channel', () => {
		expect([durationMs('30s'), durationMs('15m'), durationMs('24h'), durationMs('7d'), durationMs('2w')]).toEqual([30_000, 900_000, 86_400_000, 604_800_000, 1_209_600_000]);
		expect(rulesFor(policy, 'email').map((r) => r.id)).toEqual(['email-daily', 'all-weekly']);
		expect(rulesFor(policy, 'sms').map((r) => r.id)).toEqual(['all-weekly']);
	});

	test('one email a day, three a week: every rule evaluated is named, with the binding one', async () => {
		const store = new MemoryStore();
		const t0 = at('2026-11-02T09:00:00Z');
		const first = await checkAndReserve(store, policy, 'c1', email(), t0, 'UTC');
		await store.settleCap(first.reservationId!, 'commit');
		const second = await checkAndReserve(store, policy, 'c1', email(), t0 + HOUR, 'UTC');
		expect(second).toMatchObject({ allowed: false, binding: { rule: { id: 'email-daily' } }, explanation: 'cap email-daily reached: 1 of 1 in the last 24h' });
		expect(second.checks).toEqual([
			{ kind: 'frequency_cap', ruleId: 'email-daily', passed: false, count: 1, limit: 1, window: '24h', retryAt: new Date(t0 + DAY + 1).toISOString() },
			{ kind: 'frequency_cap', ruleId: 'all-weekly', passed: true, count: 1, limit: 3, window: '7d' },
		]);
		for (const t of [t0 + 2 * HOUR, t0 + 3 * HOUR]) {
			const sms = await checkAndReserve(store, policy, 'c1', { ...email(), channel: 'sms' }, t, 'UTC');
			await store.settleCap(sms.reservationId!, 'commit');
		}
		expect((await checkAndReserve(store, policy, 'c1', email(), t0 + 25 * HOUR, 'UTC')).binding?.rule.id).toBe('all-weekly');
		expect((await checkAndReserve(store, policy, 'c1', { ...email(), channel: 'push' }, t0 + 7 * DAY + 1, 'UTC')).allowed).toBe(true);
	});

	test('tag (message category) and journey scopes', async () => {
		const engine = engineWith({
			caps: [
				{ id: 'promo-weekly', scope: { kind: 'tag', tag: 'promo' }, limit: 1, window: { kind: 'rolling', duration: '7d' } },
				{ id: 'nurture-daily', scope: { kind: 'journey', journey: 'nurture' }, limit: 2, window: { kind: 'rolling', duration: '24h' } },
			],
		});
		const [a, b] = await sendAll(engine, ['2026-11-02T08:00:00Z', '2026-11-02T09:00:00Z'], { tags: ['promo'] });
		expect([a.status, b.status, b.ruleId]).toEqual(['sent', 'suppressed', 'promo-weekly']);
		// Not promos: only the journey cap applies (two nurture messages in 24 hours).
		const [c, d, e] = await sendAll(engine, ['2026-11-02T10:00:00Z', '2026-11-02T11:00:00Z', '2026-11-03T10:01:00Z']);
		expect([c.status, d.status, e.status]).toEqual(['sent', 'suppressed', 'sent']);
		expect(d.ruleId).toBe('nurture-daily');
	});

	test('exemptions: transactional passes; it counts toward the cap only when the exemption says so', async () => {
		const caps = (countsTowardCap: boolean) => [
			{ id: 'email-daily', scope: { kind: 'channel' as const, channel: 'email' as const }, limit: 1, window: { kind: 'rolling' as const, duration: '24h' }, exemptions: [{ category: 'transactional', countsTowardCap }] },
		];
		for (const counts of [false, true]) {
			const engine = engineWith({ caps: caps(counts) });
			const receipt = (await sendAll(engine, ['2026-11-02T08:00:00Z'], { category: 'transactional' }))[0];
			expect(receipt.status).toBe('sent');
			expect(receipt.guard?.checks.find((c) => c.ruleId === 'email-daily')).toMatchObject({ passed: true, exempt: true });
			const promo = (await sendAll(engine, ['2026-11-02T09:00:00Z'], { category: 'promotional' }))[0];
			expect(promo.status).toBe(counts ? 'suppressed' : 'sent');
		}
	});

	test('delay: retryAt is the earliest instant a slot frees, and the decision waits as delayed', async () => {
		const engine = engineWith({ caps: [{ id: 'two-a-day', scope: { kind: 'any' }, limit: 2, window: { kind: 'rolling', duration: '24h' }, action: 'delay' }] });
		const [, , third] = await sendAll(engine, ['2026-11-02T08:00:00Z', '2026-11-02T10:00:00Z', '2026-11-02T12:00:00Z']);
		expect(third).toMatchObject({ status: 'delayed', reason: 'FREQUENCY_CAP', ruleId: 'two-a-day', guard: { outcome: 'delayed', retryAt: '2026-11-03T08:00:00.001Z' } });
		await expect(engine.send(third, { dryRun: true })).rejects.toThrow(/delayed until 2026-11-03T08:00:00.001Z/);
	});

	test('the most restrictive rule binds: a drop beats a delay; among delays, the latest slot', async () => {
		const store = new MemoryStore();
		const { policy: p } = loadPolicy({
			...DEFAULT_POLICY,
			caps: [
				{ id: 'hourly-delay', scope: { kind: 'any' }, limit: 1, window: { kind: 'rolling', duration: '1h' }, action: 'delay' },
				{ id: 'daily-delay', scope: { kind: 'any' }, limit: 1, window: { kind: 'rolling', duration: '24h' }, action: 'delay' },
			],
		});
		const t0 = at('2026-11-02T08:00:00Z');
		await store.settleCap((await checkAndReserve(store, p, 'c1', email(), t0, 'UTC')).reservationId!, 'commit');
		const next = await checkAndReserve(store, p, 'c1', email(), t0 + 60_000, 'UTC');
		expect(next.binding).toMatchObject({ rule: { id: 'daily-delay' }, retryAt: t0 + DAY + 1 });
		const { policy: withDrop } = loadPolicy({ ...DEFAULT_POLICY, caps: [...p.caps, { id: 'weekly-drop', scope: { kind: 'any' }, limit: 1, window: { kind: 'rolling', duration: '7d' } }] });
		expect((await checkAndReserve(store, withDrop, 'c1', email(), t0 + 60_000, 'UTC')).binding?.rule.id).toBe('weekly-drop');
	});

	test('a reservation never settled expires after the policy timeout', async () => {
		const store = new MemoryStore();
		const t0 = 1_000_000;
		expect((await checkAndReserve(store, policy, 'c1', email(), t0, 'UTC')).allowed).toBe(true);
		expect((await checkAndReserve(store, policy, 'c1', email(), t0 + 299_000, 'UTC')).allowed).toBe(false);
		expect((await checkAndReserve(store, policy, 'c1', email(), t0 + 301_000, 'UTC')).allowed).toBe(true);
	});

	test('200 concurrent checks for one contact never exceed the caps', async () => {
		const store = new MemoryStore();
		const results = await Promise.all(Array.from({ length: 200 }, (_, i) => checkAndReserve(store, policy, 'c1', { ...email(), channel: i % 2 ? 'sms' : 'email' }, 5_000, 'UTC')));
		expect(results.filter((r) => r.allowed)).toHaveLength(3);
	});
});

describe('calendar windows in the contact’s time zone', () => {
	test('a calendar day starts at local midnight; retryAt is the next local midnight', () => {
		const now = at('2026-11-02T04:30:00Z'); // 23:30 on Nov 1 in New York
		const span = windowSpan({ kind: 'calendar', unit: 'day', weekStartsOn: 1 }, now, 'America/New_York');
		expect(new Date(span.since).toISOString()).toBe('2026-11-01T04:00:00.000Z');
		expect(new Date(span.resetsAt!).toISOString()).toBe('2026-11-02T05:00:00.000Z');
	});

	test('DST: the fall-back day is 25 hours long, the spring-forward day 23', () => {
		const fall = windowSpan({ kind: 'calendar', unit: 'day', weekStartsOn: 1 }, at('2026-11-01T12:00:00Z'), 'America/New_York');
		expect((fall.resetsAt! - fall.since) / HOUR).toBe(25);
		const spring = windowSpan({ kind: 'calendar', unit: 'day', weekStartsOn: 1 }, at('2026-03-08T12:00:00Z'), 'America/New_York');
		expect((spring.resetsAt! - spring.since) / HOUR).toBe(23);
	});

	test('calendar week start: Monday by default, Sunday when the policy says 7', () => {
		const wednesday = at('2026-11-04T12:00:00Z');
		const monday = windowSpan({ kind: 'calendar', unit: 'week', weekStartsOn: 1 }, wednesday, 'UTC');
		const sunday = windowSpan({ kind: 'calendar', unit: 'week', weekStartsOn: 7 }, wednesday, 'UTC');
		expect(new Date(monday.since).toISOString()).toBe('2026-11-02T00:00:00.000Z');
		expect(new Date(sunday.since).toISOString()).toBe('2026-11-01T00:00:00.000Z');
		expect(new Date(sunday.resetsAt!).toISOString()).toBe('2026-11-08T00:00:00.000Z');
		const onSunday = windowSpan({ kind: 'calendar', unit: 'week', weekStartsOn: 7 }, at('2026-11-08T03:00:00Z'), 'UTC');
		expect(new Date(onSunday.since).toISOString()).toBe('2026-11-08T00:00:00.000Z');
	});

	test('a calendar month cap resets on the 1st in the contact’s zone', async () => {
		const engine = engineWith({ caps: [{ id: 'monthly', scope: { kind: 'any' }, limit: 1, window: { kind: 'calendar', unit: 'month' }, action: 'delay' }] });
		const traits = { timezone: 'Asia/Tokyo', consent: { email: 'opted_in' } };
		const send = async (occurredAt: string) => {
			const d = await guarded(engine, occurredAt, { traits });
			return d.guard?.allowed ? engine.send(d, { dryRun: true }) : d;
		};
		expect((await send('2026-11-10T00:00:00Z')).status).toBe('sent');
		const later = await send('2026-11-30T14:00:00Z'); // 23:00 on Nov 30 in Tokyo
		expect(later).toMatchObject({ status: 'delayed', guard: { retryAt: '2026-11-30T15:00:00.000Z' } });
		expect((await send('2026-11-30T15:30:00Z')).status).toBe('sent'); // 00:30 Dec 1 in Tokyo
	});

	test('a contact without (or with an invalid) time zone uses the policy’s', () => {
		expect(zoneFor(undefined, 'Europe/Paris')).toBe('Europe/Paris');
		expect(zoneFor('Mars/Olympus_Mons', 'Europe/Paris')).toBe('Europe/Paris');
		expect(zoneFor('Asia/Kolkata', 'Europe/Paris')).toBe('Asia/Kolkata');
	});
});

describe('quiet hours', () => {
	const night = { id: 'night', start: '21:00', end: '08:00', action: 'delay' as const, exemptCategories: ['transactional'] };
	const local = (iso: string, zone: string) => DateTime.fromISO(iso, { zone });

	test('a window across midnight: evening and early morning are quiet, daytime is not', () => {
		expect(quietUntil(night, local('2026-11-02T22:15', 'Europe/Berlin'))?.toISO()).toBe('2026-11-03T08:00:00.000+01:00');
		expect(quietUntil(night, local('2026-11-03T06:59', 'Europe/Berlin'))?.toISO()).toBe('2026-11-03T08:00:00.000+01:00');
		expect(quietUntil(night, local('2026-11-03T12:00', 'Europe/Berlin'))).toBeUndefined();
		expect(quietUntil({ ...night, start: '12:00', end: '14:00' }, local('2026-11-03T13:00', 'UTC'))?.toISO()).toBe('2026-11-03T14:00:00.000Z');
	});

	test('DST gap: an end time that does not exist that night is the moment the clocks jump past it', () => {
		// 2026-03-08 in New York: 02:00 jumps to 03:00 (07:00Z), from which the clock reads past 02:30.
		const until = quietUntil({ ...night, start: '23:00', end: '02:30' }, local('2026-03-08T01:30', 'America/New_York'))!;
		expect(until.isValid).toBe(true);
		expect(until.toUTC().toISO()).toBe('2026-03-08T07:00:00.000Z');
		expect(quietUntil({ ...night, start: '23:00', end: '02:30' }, until)).toBeUndefined();
	});

	test('DST overlap: quiet until 01:30 on the fall-back night ends at the first 01:30', () => {
		const until = quietUntil({ ...night, start: '23:00', end: '01:30' }, local('2026-11-01T00:30', 'America/New_York'))!;
		expect(until.toUTC().toISO()).toBe('2026-11-01T05:30:00.000Z');
	});

	test('kept per rule, zone and day, the window’s end is luxon’s at every instant: DST days, changes at midnight, offsets off the hour', () => {
		fc.assert(
			fc.property(zoneAndTimes, fc.array(quietRule, { minLength: 1, maxLength: 2 }), ({ zone, times }, rules) => {
				for (const now of times) {
					for (const rule of rules) expect(quietUntilMs(rule, now, zone)).toBe(referenceQuietUntil(rule, DateTime.fromMillis(now, { zone }))?.toMillis());
				}
			}),
			{ numRuns: 500 },
		);
	});

	test('in the engine: delayed to the window end in the contact’s zone; transactional exempt; drop', async () => {
		const engine = engineWith({ quietHours: [night] });
		const berlin = { traits: { timezone: 'Europe/Berlin', consent: { email: 'opted_in' } } };
		const d = await guarded(engine, '2026-11-02T22:30:00Z', berlin); // 23:30 in Berlin
		expect(d).toMatchObject({ status: 'delayed', reason: 'QUIET_HOURS', ruleId: 'night', guard: { outcome: 'delayed', retryAt: '2026-11-03T07:00:00.000Z' } });
		const receipt = await guarded(engine, '2026-11-02T22:31:00Z', berlin, { category: 'transactional' });
		expect(receipt.guard).toMatchObject({ outcome: 'allowed' });
		const dropper = engineWith({ quietHours: [{ ...night, action: 'drop' }] });
		expect(await guarded(dropper, '2026-11-02T22:30:00Z', berlin)).toMatchObject({ status: 'suppressed', reason: 'QUIET_HOURS' });
		// Another contact: Ana's receipt holds her email slot, and a capped channel is no longer a candidate.
		const tokyo = await guarded(engine, '2026-11-02T22:30:00Z', { identities: { email: 'kenji@example.com' }, traits: { timezone: 'Asia/Tokyo', consent: { email: 'opted_in' } } }); // 07:30 in Tokyo
		expect(tokyo.status).toBe('delayed');
		expect(tokyo.guard?.retryAt).toBe('2026-11-02T23:00:00.000Z');
	});

	test('a contact’s invalid time zone falls back to the policy’s: quiet hours and calendar caps still apply, and say so', async () => {
		const note = 'the contact\'s time zone "Mars/Olympus" is not a time zone, so the policy\'s Europe/Berlin applies';
		const mars = { traits: { timezone: 'Mars/Olympus', consent: { email: 'opted_in' } } };
		const daily = { id: 'daily', scope: { kind: 'any' as const }, limit: 1, window: { kind: 'calendar' as const, unit: 'day' as const }, action: 'delay' as const };
		const engine = engineWith({ timezone: 'Europe/Berlin', quietHours: [night], caps: [daily] });
		const quiet = await guarded(engine, '2026-11-02T22:30:00Z', mars); // 23:30 in Berlin
		expect(quiet).toMatchObject({ status: 'delayed', reason: 'QUIET_HOURS', guard: { retryAt: '2026-11-03T07:00:00.000Z' } });
		expect(quiet.guard?.checks.find((c) => c.kind === 'quiet_hours')).toMatchObject({ passed: false, window: '21:00–08:00 Europe/Berlin', detail: `it is 23:30 for the contact; ${note}` });
		const dropper = engineWith({ timezone: 'Europe/Berlin', quietHours: [{ ...night, action: 'drop' }] });
		const dropped = await guarded(dropper, '2026-11-02T22:30:00Z', mars);
		expect(dropped).toMatchObject({ status: 'suppressed', reason: 'QUIET_HOURS' });
		expect(dropped.guard?.checks.find((c) => c.kind === 'quiet_hours')?.detail).toContain(note);
		// By day the calendar-day cap counts the Berlin day: full until Berlin's midnight (23:00 UTC).
		const first = await guarded(engine, '2026-11-03T12:00:00Z', mars);
		expect(first.guard?.checks.find((c) => c.kind === 'frequency_cap')).toMatchObject({ passed: true, window: 'calendar day (Europe/Berlin)', detail: note });
		await engine.send(first, { dryRun: true });
		const second = await guarded(engine, '2026-11-03T13:00:00Z', mars);
		expect(second).toMatchObject({ status: 'delayed', reason: 'FREQUENCY_CAP', guard: { retryAt: '2026-11-03T23:00:00.000Z' } });
		expect(second.guard?.checks.find((c) => c.kind === 'frequency_cap')?.detail).toBe(note);
		// A valid zone of the contact's own is used without a note.
		const tokyo = await guarded(engine, '2026-11-03T13:00:00Z', { identities: { email: 'kenji@example.com' }, traits: { timezone: 'Asia/Tokyo', consent: { email: 'opted_in' } } }); // 22:00 in Tokyo
		expect(tokyo.guard?.checks.find((c) => c.kind === 'quiet_hours')).toMatchObject({ window: '21:00–08:00 Asia/Tokyo', detail: 'it is 22:00 for the contact' });
	});

	test('a delayed decision passes when it comes back after retryAt', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy({ ...DEFAULT_POLICY, quietHours: [night] }), now: () => new Date('2026-11-03T07:30:00Z') });
		const { decision } = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'bo@example.com' }, traits: { timezone: 'Europe/Berlin' } }, { journey: 'nurture' });
		const chosen = await engine.chooseChannel(decision);
		expect((await engine.checkCap(chosen)).status).toBe('pending'); // 08:30 in Berlin
	});
});

describe('consent, suppression and negative triggers', () => {
	test('the global suppression list: address, domain, user id', async () => {
		const engine = engineWith({ suppression: { emails: ['ANA@example.com'], domains: ['competitor.io'], userIds: ['u-legal-hold'] } });
		expect(await guarded(engine, '2026-11-02T10:00:00Z')).toMatchObject({ status: 'suppressed', reason: 'SUPPRESSION_LIST', ruleId: 'suppression-list' });
		const rival = await guarded(engine, '2026-11-02T10:00:00Z', { identities: { email: 'spy@competitor.io' } });
		expect(rival.explanation).toBe('spy@competitor.io is at a suppressed domain');
		const held = await guarded(engine, '2026-11-02T10:00:00Z', { identities: { email: 'x@y.io', userId: 'u-legal-hold' } });
		expect(held.reason).toBe('SUPPRESSION_LIST');
	});

	test('an address pasted into the suppression list with spaces around it still suppresses', async () => {
		const engine = engineWith({ suppression: { emails: [' ana@example.com '], domains: [], userIds: [] } });
		expect(await guarded(engine, '2026-11-02T10:00:00Z')).toMatchObject({ status: 'suppressed', reason: 'SUPPRESSION_LIST', explanation: 'ana@example.com is on the suppression list' });
	});

	/** The suppression check as it was written before the sets: each list scanned, each entry lower-cased, per check. */
	function scannedHit(list: Policy['suppression'], profile: Profile): string | undefined {
		if (profile.doNotContact) return 'this person had their data erased and asked not to be contacted';
		const addresses = [profile.email, ...(profile.identities.email ?? [])].filter((e): e is string => !!e).map((e) => e.toLowerCase());
		const email = addresses.find((a) => list.emails.some((e) => e.toLowerCase() === a));
		if (email) return `${email} is on the suppression list`;
		const domain = addresses.find((a) => list.domains.some((d) => a.endsWith(`@${d.toLowerCase().replace(/^@/, '')}`)));
		if (domain) return `${domain} is at a suppressed domain`;
		const id = [profile.contactId, ...(profile.identities.userId ?? [])].find((i) => list.userIds.includes(i));
		return id ? `${id} is on the suppression list` : undefined;
	}

	test('the suppression list looked up in sets says what scanning it said, for any lists and addresses', () => {
		// Few letters, so listed entries, addresses and domains collide often; any case; "@" anywhere, twice or at the edges.
		const text = fc.string({ unit: fc.constantFrom('a', 'B', 'c', '@', '.', 'Io'), minLength: 1, maxLength: 8 });
		const lists = fc.record({ emails: fc.array(text.filter((e) => e.length >= 3), { maxLength: 6 }), domains: fc.array(text, { maxLength: 6 }), userIds: fc.array(text, { maxLength: 4 }) });
		const person = fc.record({ email: fc.option(text, { nil: undefined }), emails: fc.array(text, { maxLength: 3 }), userIds: fc.array(text, { maxLength: 2 }), contactId: text, doNotContact: fc.boolean() });
		fc.assert(
			fc.property(lists, person, (suppression, p) => {
				const { policy } = loadPolicy({ ...DEFAULT_POLICY, suppression });
				const profile = { contactId: p.contactId, email: p.email, identities: { email: p.emails, userId: p.userIds }, ...(p.doNotContact ? { doNotContact: true } : {}) } as unknown as Profile;
				expect(suppressionHit(policy, profile)).toBe(scannedHit(policy.suppression, profile));
			}),
			{ numRuns: 3000 },
		);
	});

	test("a loaded policy's suppression lists cannot be changed in place (their sets are made once per policy)", () => {
		const { policy } = loadPolicy({ ...DEFAULT_POLICY, suppression: { emails: ['ana@example.com'], domains: [], userIds: [] } });
		const profile = { contactId: 'c1', email: 'bo@example.com', identities: {} } as unknown as Profile;
		expect(suppressionHit(policy, profile)).toBeUndefined();
		expect(() => policy.suppression.emails.push('bo@example.com')).toThrow(TypeError);
		expect(suppressionHit(policy, profile)).toBeUndefined();
		// A new policy (setPolicy) is a new list, read afresh.
		const { policy: next } = loadPolicy({ ...DEFAULT_POLICY, suppression: { emails: ['BO@example.com'], domains: [], userIds: [] } });
		expect(suppressionHit(next, profile)).toBe('bo@example.com is on the suppression list');
	});

	test('an unsubscribe between Choose Channel and Frequency Cap is caught at the cap', async () => {
		const engine = engineWith({});
		const { decision } = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'cy@example.com' }, occurredAt: '2026-11-02T10:00:00Z' }, { journey: 'nurture' });
		const chosen = await engine.chooseChannel(decision);
		await engine.ingest({ type: 'track', name: 'Unsubscribed', identities: { email: 'cy@example.com' }, occurredAt: '2026-11-02T10:00:01Z' });
		expect(await engine.checkCap(chosen)).toMatchObject({ status: 'suppressed', reason: 'NO_CONSENT', ruleId: 'consent:email' });
	});

	test('an unsubscribe after Frequency Cap is caught at Send, and the slot is given back', async () => {
		const engine = engineWith({});
		const allowed = await guarded(engine, '2026-11-02T10:00:00Z');
		await engine.ingest({ type: 'track', name: 'Unsubscribed', identities: { email: 'ana@example.com' }, occurredAt: '2026-11-02T10:00:01Z' });
		const sent = await engine.send(allowed, { dryRun: true });
		expect(sent).toMatchObject({ status: 'suppressed', reason: 'NO_CONSENT' });
		expect(sent.delivery).toBeUndefined();
	});

	test('a support ticket pauses the journey until it is closed; a purchase pauses for 7 days', async () => {
		const engine = engineWith({
			negativeTriggers: [
				{ id: 'open-ticket', events: ['Ticket Opened'], clearedBy: ['Ticket Closed'] },
				{ id: 'recent-purchase', events: ['Order Completed'], where: [{ field: 'event.properties.total', op: 'gte', value: 50 }], timeout: '7d' },
			],
		});
		const ev = (name: string, occurredAt: string, properties = {}) => engine.ingest({ type: 'track', name, identities: { email: 'ana@example.com' }, properties, occurredAt });
		await ev('Ticket Opened', '2026-11-02T09:00:00Z');
		expect(await guarded(engine, '2026-11-02T10:00:00Z')).toMatchObject({ status: 'suppressed', reason: 'NEGATIVE_TRIGGER', ruleId: 'open-ticket' });
		await ev('Ticket Closed', '2026-11-02T11:00:00Z');
		expect((await guarded(engine, '2026-11-02T12:00:00Z')).guard?.outcome).toBe('allowed');
		await ev('Order Completed', '2026-11-03T09:00:00Z', { total: 20 });
		expect((await guarded(engine, '2026-11-04T12:00:00Z')).guard?.outcome).toBe('allowed');
		await ev('Order Completed', '2026-11-05T09:00:00Z', { total: 80 });
		expect((await guarded(engine, '2026-11-06T12:00:00Z')).ruleId).toBe('recent-purchase');
		expect((await guarded(engine, '2026-11-12T09:00:01Z')).guard?.outcome).toBe('allowed');
	});

	test('a profile condition (churned) pauses while it holds, only for the journeys named', async () => {
		const engine = engineWith({ negativeTriggers: [{ id: 'churned', where: [{ field: 'lifecycle', op: 'eq', value: 'churned' }], journeys: ['nurture'] }] });
		const d = await guarded(engine, '2026-11-02T10:00:00Z', { traits: { lifecycle: 'churned', consent: { email: 'opted_in' } } });
		expect(d).toMatchObject({ status: 'suppressed', reason: 'NEGATIVE_TRIGGER', ruleId: 'churned' });
	});
});

describe('human review', () => {
	const review: PolicyInput['review'] = [
		{ id: 'big-discount', when: { field: 'message.offerValue', op: 'gte', value: 30 } },
		{ id: 'key-account', when: { field: 'traits.accountValue', op: 'gte', value: 100000 } },
		{ id: 'new-copy', newVariant: true },
	];

	test('a threshold routes to review; approval resumes the guardrails and records the reviewer', async () => {
		const engine = engineWith({ review });
		const d = await guarded(engine, '2026-11-02T10:00:00Z', {}, { offerValue: 40 });
		expect(d).toMatchObject({ status: 'review', reason: 'REVIEW_REQUIRED', ruleId: 'big-discount', review: { rules: ['big-discount'] } });
		expect(d.guard?.reservationId).toBeUndefined();
		await expect(engine.send(d, { dryRun: true })).rejects.toThrow(/waiting for review/);
		await expect(engine.resolveReview(d, { approve: true, reviewer: ' ' })).rejects.toThrow(/needs the reviewer/);
		const approved = await engine.resolveReview(d, { approve: true, reviewer: 'maria@agency.example', note: 'ok for VIP' });
		expect(approved).toMatchObject({ status: 'pending', guard: { outcome: 'allowed' }, review: { verdict: 'approved', reviewer: 'maria@agency.example', note: 'ok for VIP' } });
		expect((await engine.send(approved, { dryRun: true })).status).toBe('sent');
		// The approval given again (an execution retried) answers with the decision as it is; a rejection is refused.
		expect(await engine.resolveReview(approved, { approve: true, reviewer: 'x' })).toMatchObject({ status: 'sent', review: { reviewer: 'maria@agency.example' } });
		await expect(engine.resolveReview(approved, { approve: false, reviewer: 'x' })).rejects.toThrow(`Decision ${d.decisionId} is not waiting for review (it is sent, approved by maria@agency.example)`);
	});

	test('the same verdict twice (approve clicked twice) answers the first one\'s decision: one slot, nothing refused', async () => {
		const engine = engineWith({ review });
		const d = await guarded(engine, '2026-11-02T10:00:00Z', {}, { offerValue: 40 });
		const first = await engine.resolveReview(d, { approve: true, reviewer: 'maria@agency.example' });
		const again = await engine.resolveReview(d, { approve: true, reviewer: 'maria@agency.example' });
		expect(again).toMatchObject({ status: 'pending', guard: { outcome: 'allowed', reservationId: first.guard!.reservationId } });
		expect(await engine.store.getDecision(d.decisionId)).toMatchObject({ guard: { reservationId: first.guard!.reservationId } });
		const rejected = await guarded(engine, '2026-11-03T10:00:00Z', { identities: { email: 'bo@example.com' } }, { offerValue: 40 });
		await engine.resolveReview(rejected, { approve: false, reviewer: 'sam' });
		expect(await engine.resolveReview(rejected, { approve: false, reviewer: 'sam' })).toMatchObject({ status: 'suppressed', reason: 'REVIEW_REJECTED' });
		await expect(engine.resolveReview(rejected, { approve: true, reviewer: 'sam' })).rejects.toThrow(/not waiting for review \(it is suppressed, rejected by sam\)/);
	});

	test('a rule on the score holds for a decision nobody scored: a person decides, not a rule passing unread', async () => {
		const engine = engineWith({ review: [{ id: 'unsure', when: { field: 'score.probability', op: 'lt', value: 0.2 } }] });
		const unscored = await guarded(engine, '2026-11-02T10:00:00Z');
		expect(unscored).toMatchObject({ status: 'review', ruleId: 'unsure' });
		expect(unscored.guard!.checks.find((c) => c.ruleId === 'unsure')).toMatchObject({ passed: false, detail: 'score.probability: the decision has no score (no Score step before this one, or it failed), so a person decides' });
		// Scored, the rule reads the score.
		const { decision } = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'cy@example.com' }, traits: { consent: { email: 'opted_in' } }, occurredAt: '2026-11-02T11:00:00Z' }, { journey: 'nurture' });
		const scored = await engine.checkCap(await engine.chooseChannel(await engine.score(decision)));
		expect(scored.status).toBe(scored.score!.probability < 0.2 ? 'review' : 'pending');
	});

	test('rejection ends the decision with REVIEW_REJECTED', async () => {
		const engine = engineWith({ review });
		const d = await guarded(engine, '2026-11-02T10:00:00Z', { traits: { accountValue: 250000, consent: { email: 'opted_in' } } });
		expect(d.ruleId).toBe('key-account');
		const rejected = await engine.resolveReview(d, { approve: false, reviewer: 'sam', note: 'account manager handles this' });
		expect(rejected).toMatchObject({ status: 'suppressed', reason: 'REVIEW_REJECTED', review: { verdict: 'rejected', reviewer: 'sam' } });
	});

	test('a new content variant is reviewed once; after approval it flows', async () => {
		const engine = engineWith({ review });
		const first = await guarded(engine, '2026-11-02T10:00:00Z', {}, { variant: 'subject-b' });
		expect(first.ruleId).toBe('new-copy');
		await engine.resolveReview(first, { approve: true, reviewer: 'lee' });
		const second = await guarded(engine, '2026-11-04T10:00:00Z', { identities: { email: 'other@example.com' } }, { variant: 'subject-b' });
		expect(second.guard?.outcome).toBe('allowed');
		expect((await guarded(engine, '2026-11-04T11:00:00Z', { identities: { email: 'third@example.com' } }, { variant: 'subject-c' })).status).toBe('review');
	});
});

describe('send without a reservation', () => {
	test('only a message marked with a category the policy lists (defence in depth)', async () => {
		const engine = engineWith({ sendWithoutCapCheck: ['transactional'] });
		const chosen = async (name: string) => {
			const { decision } = await engine.ingest({ type: 'track', name, identities: { email: 'ana@example.com' }, occurredAt: '2026-11-02T10:00:00Z' }, { journey: 'nurture' });
			return engine.chooseChannel(decision);
		};
		await expect(engine.send(await chosen('Pricing Viewed'), { dryRun: true })).rejects.toThrow(/has not passed Frequency Cap/);
		await expect(engine.send(await chosen('Webinar Viewed'), { dryRun: true }, { category: 'promotional' })).rejects.toThrow(/has not passed Frequency Cap/);
		const receipt = await engine.send(await chosen('Order Completed'), { dryRun: true }, { category: 'transactional' });
		expect(receipt).toMatchObject({ status: 'sent', message: { category: 'transactional' } });
		expect(receipt.guard).toBeUndefined();
		// A message Frequency Cap allowed keeps the category it was checked and counted under.
		const promo = await guarded(engine, '2026-11-03T10:00:00Z', { identities: { email: 'bo@example.com' } }, { category: 'promotional' });
		expect(await engine.send(promo, { dryRun: true }, { category: 'transactional' })).toMatchObject({ status: 'sent', message: { category: 'promotional' } });
	});

	test('a category sent without a cap check is never a way around a hold: waiting for review or delayed, it is refused', async () => {
		const keyAccount: PolicyInput['review'] = [{ id: 'key-account', when: { field: 'traits.accountValue', op: 'gte', value: 100000 } }];
		const engine = engineWith({ sendWithoutCapCheck: ['transactional'], review: keyAccount });
		const held = await guarded(engine, '2026-11-02T10:00:00Z', { traits: { consent: { email: 'opted_in' }, accountValue: 250000 } }, { category: 'transactional' });
		expect(held).toMatchObject({ status: 'review', message: { category: 'transactional' } });
		await expect(engine.send(held, { dryRun: true })).rejects.toThrow(/has not passed Frequency Cap \(it is waiting for review\)/);
		expect(await engine.store.getDecision(held.decisionId)).toMatchObject({ status: 'review' });
	});
});
