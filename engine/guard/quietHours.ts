import { DateTime } from 'luxon';
import type { GuardCheck } from '../audit/schema';
import type { Channel } from '../channels';
import type { Policy, QuietHours } from '../policy/schema';
import { isoTime } from '../util/isoTime';
import { localDay } from './localDay';
import { SpanCache } from './spanCache';

export interface QuietHoursVerdict {
	checks: GuardCheck[];
	/** The rule the message falls in, when it may not be sent now. */
	binding?: { rule: QuietHours; retryAt: number };
}

/** The first instant of `day` at which the local clock reads `clock` or later. */
function atClock(day: DateTime, clock: string): DateTime {
	const [hour, minute] = clock.split(':').map(Number);
	const at = day.set({ hour, minute, second: 0, millisecond: 0 });
	if (at.hour === hour && at.minute === minute) return at;
	// A wall time the clocks skip (spring forward): luxon moves it on by the whole gap (02:30 → 03:30), past the moment
	// the clocks jumped (03:00), from which the local time is already later than `clock`: the window starts there.
	return DateTime.fromMillis(offsetChangeBefore(at.toMillis(), at.zone), { zone: at.zone });
}

/**
 * The instant the UTC offset in force at `t` began, when it began less than 12 hours before (no zone changes its
 * offset twice within 36 hours): a binary search by the minute, as offsets change on whole minutes.
 */
function offsetChangeBefore(t: number, zone: DateTime['zone']): number {
	const offsetAt = (ms: number) => DateTime.fromMillis(ms, { zone }).offset;
	const after = offsetAt(t);
	let lo = Math.floor((t - 12 * 3_600_000) / 60_000);
	let hi = Math.floor(t / 60_000);
	if (offsetAt(lo * 60_000) === after) return t;
	while (hi - lo > 1) {
		const mid = Math.floor((lo + hi) / 2);
		if (offsetAt(mid * 60_000) === after) hi = mid;
		else lo = mid;
	}
	return hi * 60_000;
}

/**
 * A rule's window around one local day, as instants: the day's start and end clocks and the next day's end; `crosses`
 * when the window crosses midnight by its clocks (22:00–07:00), which the instants alone do not tell on a day whose
 * skipped hour holds both clocks (00:00–00:30 in Santiago the night 00:00 jumps to 01:00: no such time that day).
 */
interface QuietBounds {
	start: number;
	end: number;
	nextEnd: number;
	crosses: boolean;
}

/** The bounds around `local`'s day: they depend on its date and UTC offset alone. */
function boundsAround(rule: QuietHours, local: DateTime): QuietBounds {
	const day = local.startOf('day');
	return { start: atClock(day, rule.start).toMillis(), end: atClock(day, rule.end).toMillis(), nextEnd: atClock(day.plus({ days: 1 }), rule.end).toMillis(), crosses: rule.start > rule.end };
}

/** When the window containing `now` (an instant in the bounds' day) ends, or undefined when `now` is outside it. */
function endOfWindow({ start, end, nextEnd, crosses }: QuietBounds, now: number): number | undefined {
	if (!crosses) return now >= start && now < end ? end : undefined;
	// The window crosses midnight: late evening (until tomorrow's end) or early morning (until today's end).
	if (now >= start) return nextEnd;
	return now < end ? end : undefined;
}

/** When the quiet window containing `local` ends, or undefined when `local` is outside it. */
export function quietUntil(rule: QuietHours, local: DateTime): DateTime | undefined {
	const until = endOfWindow(boundsAround(rule, local), local.toMillis());
	return until === undefined ? undefined : DateTime.fromMillis(until, { zone: local.zone });
}

/**
 * Luxon took about 30 µs a rule for each decision's bounds (docs/benchmarks.md), and they change only with the local
 * day, so they are kept per rule and zone for the day. Keyed by the rule object, as cap windows are.
 */
const boundsByRule = new SpanCache<QuietHours, QuietBounds>(2_000);

/** `quietUntil(rule, now in zone)` as an instant (ms): the same answer, with luxon asked once per rule, zone and day. */
export function quietUntilMs(rule: QuietHours, now: number, zone: string): number | undefined {
	let bounds = boundsByRule.find(rule, zone, now);
	if (!bounds) {
		const { local, span } = localDay(now, zone);
		bounds = boundsByRule.keep(rule, zone, span, boundsAround(rule, local));
	}
	return endOfWindow(bounds, now);
}

/** Quiet hours in the contact's time zone; exempt categories (transactional by default) pass. */
export function checkQuietHours(policy: Policy, channel: Channel, category: string | undefined, now: number, zone: string): QuietHoursVerdict {
	const checks: GuardCheck[] = [];
	let binding: QuietHoursVerdict['binding'];
	for (const rule of policy.quietHours) {
		if (rule.channels && !rule.channels.includes(channel)) continue;
		const window = `${rule.start}–${rule.end} ${zone}`;
		if (category && rule.exemptCategories.includes(category)) {
			checks.push({ kind: 'quiet_hours', ruleId: rule.id, passed: true, exempt: true, window, detail: `${category} messages are exempt` });
			continue;
		}
		const retryAt = quietUntilMs(rule, now, zone);
		if (retryAt === undefined) {
			checks.push({ kind: 'quiet_hours', ruleId: rule.id, passed: true, window });
			continue;
		}
		checks.push({ kind: 'quiet_hours', ruleId: rule.id, passed: false, window, retryAt: isoTime(retryAt), detail: `it is ${DateTime.fromMillis(now, { zone }).toFormat('HH:mm')} for the contact` });
		if (!binding || rule.action === 'drop' || (binding.rule.action !== 'drop' && retryAt > binding.retryAt)) binding = { rule, retryAt };
	}
	return { checks, binding };
}
