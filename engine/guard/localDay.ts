import { DateTime } from 'luxon';

const DAY_MS = 86_400_000;

export interface LocalDay {
	/** `now` in the zone. */
	local: DateTime;
	/**
	 * The instants over which a local time has `local`'s date and UTC offset: its midnight to the next, when the
	 * offset holds all day. Anything computed from a local time's date and offset alone (luxon's `set`, `startOf`,
	 * `plus` of days use nothing else) is the same for every instant in it, so it may be cached for the span.
	 * Undefined on a day whose offset changes (a DST day): then nothing is cached.
	 */
	span?: { from: number; until: number };
}

/**
 * The first instant of `date`'s local date, as ms: its midnight, or where the clocks fall back across midnight
 * (Havana: 01:00 → 00:00) the first of its two midnights, which luxon's startOf('day') does not give (it gives the
 * second, and a calendar cap would not count what was sent in the hour between).
 */
export function startOfLocalDate(date: DateTime): number {
	const start = date.startOf('day');
	const before = DateTime.fromMillis(start.toMillis() - 1, { zone: start.zone });
	return before.offset > start.offset && before.hasSame(start, 'day') ? start.toMillis() - (before.offset - start.offset) * 60_000 : start.toMillis();
}

/**
 * The local day of `now` in `zone`. The offset is checked at the day's first instant, its middle and its last: no
 * zone of the time zone database changes its offset twice within 36 hours (every zone Node knows, 1990–2040, read
 * every 3 hours), so three equal readings mean the offset holds all day.
 */
export function localDay(now: number, zone: string): LocalDay {
	const local = DateTime.fromMillis(now, { zone });
	const from = local.startOf('day').toMillis();
	const until = from + DAY_MS;
	const offsetAt = (ms: number) => DateTime.fromMillis(ms, { zone }).offset;
	// Midnight itself must exist: where the clocks jump at 00:00 (Santiago, Havana), startOf('day') is 01:00.
	const atMidnight = (from + local.offset * 60_000) % DAY_MS === 0;
	const steady = atMidnight && from <= now && now < until && [from, from + DAY_MS / 2, until - 1].every((ms) => offsetAt(ms) === local.offset);
	return steady ? { local, span: { from, until } } : { local };
}
