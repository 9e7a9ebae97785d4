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
 * quietUntil written plainly (luxon for every call): the reference the cached forms must equal. The local clock
 * decides (the second 02:15 of a fall-back night is as quiet as the first); the window ends at the first instant after
 * `local` at which the clock reads outside it: one at which it reads the end time, or one at which the clocks change
 * (found a minute at a time), whichever comes first.
 */
export function referenceQuietUntil(rule: QuietHours, local: DateTime): DateTime | undefined {
	const zone = local.zone;
	const minutes = (text: string) => Number(text.slice(0, 2)) * 60 + Number(text.slice(3));
	const [start, end] = [minutes(rule.start), minutes(rule.end)];
	const inside = (t: number) => {
		const at = DateTime.fromMillis(t, { zone });
		const m = at.hour * 60 + at.minute;
		return start < end ? m >= start && m < end : m >= start || m < end;
	};
	const now = local.toMillis();
	if (!inside(now)) return undefined;
	const candidates: number[] = [];
	const offsets = new Set([zone.offset(now)]);
	for (let t = now; t < now + 27 * HOUR; t += HOUR) {
		if (zone.offset(t) === zone.offset(t + HOUR)) continue;
		let change = Math.floor(t / 60_000) * 60_000;
		while (zone.offset(change) === zone.offset(t)) change += 60_000;
		candidates.push(change);
		offsets.add(zone.offset(change));
	}
	// The end time on the days around `local` (the end may be more than a day away when the clocks skip it), under each
	// offset in force meanwhile, where that offset holds.
	for (const day of [-1, 0, 1, 2].map((d) => local.startOf('day').plus({ days: d }))) {
		for (const offset of offsets) {
			const t = Date.UTC(day.year, day.month - 1, day.day, Math.floor(end / 60), end % 60) - offset * 60_000;
			if (t > now && zone.offset(t) === offset) candidates.push(t);
		}
	}
	const until = candidates.sort((a, b) => a - b).find((t) => !inside(t));
	return until === undefined ? undefined : DateTime.fromMillis(until, { zone });
}
