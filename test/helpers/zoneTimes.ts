import fc from 'fast-check';
import { DateTime, IANAZone } from 'luxon';
import type { QuietHours } from '../../engine/policy/schema';

/**
 * Zones whose days are awkward: DST at 02:00, at midnight (Santiago, Havana, Beirut), by 30 minutes (Lord Howe),
 * offsets off the hour (Kathmandu, St John's, Chatham), none (UTC, Tehran since 2022).
 */
export const AWKWARD_ZONES = ['UTC', 'America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/Santiago', 'America/Havana', 'Asia/Beirut', 'America/St_Johns', 'Pacific/Chatham', 'Asia/Tehran'];

const HOUR = 3_600_000;
const FROM = Date.UTC(2026, 0, 1);
const TO = Date.UTC(2027, 0, 1);

/** Every instant in 2026 at which a zone's offset changes (to the minute). */
function transitions(zone: string): number[] {
	const z = IANAZone.create(zone);
	const found: number[] = [];
	for (let t = FROM; t < TO; t += HOUR) {
		if (z.offset(t) === z.offset(t + HOUR)) continue;
		let [lo, hi] = [t, t + HOUR];
		while (hi - lo > 60_000) {
			const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
			if (z.offset(mid) === z.offset(t)) lo = mid;
			else hi = mid;
		}
		found.push(hi);
	}
	return found;
}

const TRANSITIONS = new Map(AWKWARD_ZONES.map((zone) => [zone, transitions(zone)]));

/** A zone and a run of instants (ascending, some a day apart) starting anywhere in 2026 or within two days of one of its offset changes. */
export const zoneAndTimes = fc
	.record({
		zone: fc.constantFrom(...AWKWARD_ZONES),
		pick: fc.nat(),
		nearChange: fc.boolean(),
		shift: fc.integer({ min: -48 * HOUR, max: 48 * HOUR }),
		anywhere: fc.integer({ min: FROM, max: TO }),
		steps: fc.array(fc.oneof(fc.integer({ min: 0, max: 3 * HOUR }), fc.integer({ min: 20 * HOUR, max: 30 * HOUR })), { minLength: 1, maxLength: 12 }),
	})
	.map(({ zone, pick, nearChange, shift, anywhere, steps }) => {
		const changes = TRANSITIONS.get(zone)!;
		let at = nearChange && changes.length ? changes[pick % changes.length] + shift : anywhere;
		return { zone, times: steps.map((step) => (at += step)) };
	});

const clock = fc.record({ hour: fc.integer({ min: 0, max: 23 }), minute: fc.constantFrom(0, 15, 30, 59) }).map(({ hour, minute }) => `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`);

/** A quiet-hours rule with any start and end (they differ, as the policy schema requires). */
export const quietRule = fc
	.record({ start: clock, end: clock })
	.filter(({ start, end }) => start !== end)
	.map(({ start, end }): QuietHours => ({ id: 'q', start, end, action: 'delay', exemptCategories: [] }) as QuietHours);

/**
 * quietUntil written plainly (luxon for every call): the reference the cached forms must equal. A clock the day skips
 * (spring forward) is the first instant the local clock reads past it, found a minute at a time.
 */
export function referenceQuietUntil(rule: QuietHours, local: DateTime): DateTime | undefined {
	const atClock = (day: DateTime, text: string) => {
		const [hour, minute] = text.split(':').map(Number);
		let at = day.set({ hour, minute, second: 0, millisecond: 0 });
		if (at.hour === hour && at.minute === minute) return at;
		for (let prev = at.minus({ minutes: 1 }); prev.hasSame(at, 'day') && prev.hour * 60 + prev.minute >= hour * 60 + minute; prev = prev.minus({ minutes: 1 })) at = prev;
		return at;
	};
	const day = local.startOf('day');
	const start = atClock(day, rule.start);
	const end = atClock(day, rule.end);
	if (rule.start < rule.end) return local >= start && local < end ? end : undefined;
	if (local >= start) return atClock(day.plus({ days: 1 }), rule.end);
	if (local < end) return end;
	return undefined;
}
