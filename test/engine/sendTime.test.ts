import fc from 'fast-check';
import { DateTime } from 'luxon';
import { bestSendTime, engagementDeltas, nextHourStarts } from '../../engine/decide/sendTime';
import { seededRandom } from '../../engine/decide/sampling';
import { Engine } from '../../engine/engine';
import { loadPolicy } from '../../engine/policy/load';
import type { Policy, PolicyInput } from '../../engine/policy/schema';
import { MemoryStore } from '../../engine/store/memory';
import type { Store } from '../../engine/store/types';
import { quietRule, referenceQuietUntil, zoneAndTimes } from '../helpers/zoneTimes';

const policy = (extra: Partial<PolicyInput> = {}) => loadPolicy({ channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } }, ...extra }).policy;

async function engage(store: Store, contactId: string, isoTimes: string[], zone = 'UTC') {
	for (const t of isoTimes) await store.addArmStats(engagementDeltas(contactId, new Date(t), zone));
}
const at = (hour: number, n: number) => Array.from({ length: n }, (_, i) => `2026-10-${String(i + 1).padStart(2, '0')}T${String(hour).padStart(2, '0')}:15:00Z`);
const now = new Date('2026-11-02T10:30:00Z');

describe('send time', () => {
	test('no engagement anywhere: no send time', async () => {
		expect(await bestSendTime({ store: new MemoryStore(), policy: policy(), contactId: 'c1', channel: 'email', zone: 'UTC', now })).toBeUndefined();
	});

	test('a new contact gets the population’s best hour; a contact with a habit gets their own', async () => {
		const store = new MemoryStore();
		for (let i = 0; i < 30; i++) await engage(store, `other${i}`, at(18, 2));
		await engage(store, 'other-morning', at(7, 5));
		const fresh = await bestSendTime({ store, policy: policy(), contactId: 'new', channel: 'email', zone: 'UTC', now });
		expect(fresh).toEqual({ hour: 18, sendAt: '2026-11-02T18:00:00.000Z', basis: 'population', contactEngagements: 0 });
		// One stray evening-person click does not move a contact; a habit of six does (shrinkage).
		await engage(store, 'one', at(9, 1));
		expect((await bestSendTime({ store, policy: policy(), contactId: 'one', channel: 'email', zone: 'UTC', now }))?.hour).toBe(18);
		await engage(store, 'habit', at(9, 6));
		expect(await bestSendTime({ store, policy: policy(), contactId: 'habit', channel: 'email', zone: 'UTC', now })).toEqual({
			hour: 9,
			sendAt: '2026-11-03T09:00:00.000Z',
			basis: 'contact',
			contactEngagements: 6,
		});
		// The current hour means now.
		await engage(store, 'now-person', at(10, 6));
		expect((await bestSendTime({ store, policy: policy(), contactId: 'now-person', channel: 'email', zone: 'UTC', now }))?.sendAt).toBe('2026-11-02T10:30:00.000Z');
	});

	test('quiet hours are skipped, and hours are the contact’s local hours', async () => {
		const store = new MemoryStore();
		await engage(store, 'night', at(22, 10));
		await engage(store, 'someone', at(19, 3));
		const quiet = policy({ quietHours: [{ id: 'night', start: '21:00', end: '08:00' }] });
		expect((await bestSendTime({ store, policy: quiet, contactId: 'night', channel: 'email', zone: 'UTC', now }))?.hour).toBe(19);
		// 14:15 UTC in October is 10:15 in New York (EDT): the engagement counts at local hour 10, and on
		// 2 November (EST, after the clocks went back) 10:00 local is 15:00 UTC.
		await engage(store, 'ny', at(14, 6), 'America/New_York');
		const ny = await bestSendTime({ store, policy: policy(), contactId: 'ny', channel: 'email', zone: 'America/New_York', now });
		expect(ny).toMatchObject({ hour: 10, sendAt: '2026-11-02T15:00:00.000Z', basis: 'contact' });
	});

	test('the engine learns hours from engagement outcomes and puts sendTime on the decision', async () => {
		let clock = new Date('2026-10-01T08:00:00Z');
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy({ channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } } }), random: seededRandom(1), now: () => clock });
		const event = { type: 'track', name: 'Cart Abandoned', identities: { email: 'lee@x.io' } };
		for (let day = 1; day <= 4; day++) {
			clock = new Date(`2026-10-0${day}T08:00:00Z`);
			const d = await engine.decide({ ...event, eventId: `e${day}` }, { journey: 'cart', target: { dryRun: true } });
			clock = new Date(`2026-10-0${day}T20:05:00Z`); // reported when it happens (an outcome dated later than now is refused)
			await engine.recordOutcome({ decisionId: d.decisionId, type: 'click', at: `2026-10-0${day}T20:05:00Z` });
		}
		clock = new Date('2026-10-06T08:00:00Z');
		const next = await engine.decide({ ...event, eventId: 'e6' }, { journey: 'cart', target: { dryRun: true } });
		expect(next.sendTime).toEqual({ hour: 20, sendAt: '2026-10-06T20:00:00.000Z', basis: 'population', contactEngagements: 4 });
	});

	test('kept per day, each hour’s next start and whether quiet hours hold it are luxon’s, in awkward zones and on their DST days', () => {
		fc.assert(
			fc.property(zoneAndTimes, fc.array(quietRule, { maxLength: 2 }), ({ zone, times }, rules) => {
				const withRules = { ...policy(), quietHours: rules };
				for (const now of times) {
					const local = DateTime.fromMillis(now, { zone });
					const { hour, startOf } = nextHourStarts(withRules, 'email', zone, now);
					expect(hour).toBe(local.hour);
					for (let h = 0; h < 24; h++) {
						// As bestSendTime first did it, with luxon for every hour; a passed hour on tomorrow's date. An hour the clocks
						// go back over comes twice: it starts at the first (luxon's set picks either, by the offset it starts from).
						const firstAt = (day: DateTime) => {
							const at = day.set({ hour: h, minute: 0, second: 0, millisecond: 0 });
							const before = at.minus({ hours: 1 });
							return before.hour === h && before.minute === 0 && before.day === at.day ? before : at;
						};
						const today = firstAt(local);
						const start = h === local.hour ? local : today < local ? firstAt(local.plus({ days: 1 })) : today;
						expect(startOf(h)).toBe(rules.some((r) => referenceQuietUntil(r, start)) ? undefined : start.toMillis());
					}
				}
			}),
			{ numRuns: 100 },
		);
	});

	test.each([
		['America/New_York', '2026-10-31T06:30:00Z', '2026-11-01T01:00:00Z', 1, '2026-11-01T05:00:00Z'],
		['America/St_Johns', '2026-10-31T05:00:00Z', '2026-11-01T00:00:00Z', 1, '2026-11-01T03:30:00Z'],
		['Europe/Berlin', '2026-10-24T01:30:00Z', '2026-10-24T21:59:59Z', 2, '2026-10-25T00:00:00Z'],
	])('in %s the hour the clocks go back over starts at its first occurrence, whenever the day’s starts were first worked out', (zone, early, late, hour, first) => {
		// The day before the clocks go back: its starts are worked out once (at the day's first decision) and kept.
		const kept = { ...policy(), quietHours: [] };
		expect(nextHourStarts(kept, 'email', zone, Date.parse(early)).startOf(hour)).toBe(Date.parse(first));
		expect(nextHourStarts(kept, 'email', zone, Date.parse(late)).startOf(hour)).toBe(Date.parse(first));
		const fresh = { ...policy(), quietHours: [] };
		expect(nextHourStarts(fresh, 'email', zone, Date.parse(late)).startOf(hour)).toBe(Date.parse(first));
	});

	test('a rule for another channel leaves the hours open', () => {
		const smsOnly = { ...policy(), quietHours: [{ id: 'sms-nights', start: '00:00', end: '23:59', channels: ['sms'], action: 'delay', exemptCategories: [] }] } as ReturnType<typeof policy>;
		const now = Date.parse('2026-11-02T10:30:00Z');
		expect(nextHourStarts(smsOnly, 'email', 'UTC', now).startOf(11)).toBe(Date.parse('2026-11-02T11:00:00Z'));
		expect(nextHourStarts(smsOnly, 'sms', 'UTC', now).startOf(11)).toBeUndefined();
	});
});

/*
 * The day after the clocks skip 02:00 (America/New_York, 2026-03-08), hour 2 exists again: it starts when the clock
 * reads 02:00, and quiet hours are checked then, not at the 03:00 that hour 2 was on the day of the change.
 */
describe('best send time the day after the clocks spring forward', () => {
	const zone = 'America/New_York';
	const at = (iso: string) => DateTime.fromISO(iso, { setZone: true }).toMillis();
	const shown = (t: number | undefined) => (t === undefined ? 'held by quiet hours' : DateTime.fromMillis(t, { zone }).toISO());

	test('hour 2 tomorrow starts when the clock reads 02:00 on 2026-03-09, not 03:00', () => {
		const { startOf } = nextHourStarts({ quietHours: [] } as unknown as Policy, 'email', zone, at('2026-03-08T03:30:00.000-04:00'));
		expect(shown(startOf(2))).toBe('2026-03-09T02:00:00.000-04:00');
	});

	test('quiet 03:00–06:00 does not hold tomorrow\'s hour 2: 02:00 is outside it by the contact\'s clock', () => {
		const policy = { quietHours: [{ id: 'q', start: '03:00', end: '06:00', action: 'delay', exemptCategories: [] }] } as unknown as Policy;
		const { startOf } = nextHourStarts(policy, 'email', zone, at('2026-03-08T12:00:00.000-04:00'));
		expect(shown(startOf(2))).toBe('2026-03-09T02:00:00.000-04:00');
		expect(shown(startOf(4))).toBe('held by quiet hours');
	});
});
