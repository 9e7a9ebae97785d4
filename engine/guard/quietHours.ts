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

function atClock(day: DateTime, clock: string): DateTime {
	const [hour, minute] = clock.split(':').map(Number);
	// luxon moves a wall time that does not exist (the DST spring-forward gap) to the next valid instant.
	return day.set({ hour, minute, second: 0, millisecond: 0 });
}

/** A rule's window around one local day, as instants: the day's start and end clocks and the next day's end. */
interface QuietBounds {
	start: number;
	end: number;
	nextEnd: number;
}

/** The bounds around `local`'s day: they depend on its date and UTC offset alone. */
function boundsAround(rule: QuietHours, local: DateTime): QuietBounds {
	const day = local.startOf('day');
	return { start: atClock(day, rule.start).toMillis(), end: atClock(day, rule.end).toMillis(), nextEnd: atClock(day.plus({ days: 1 }), rule.end).toMillis() };
}

/** When the window containing `now` (an instant in the bounds' day) ends, or undefined when `now` is outside it. */
function endOfWindow({ start, end, nextEnd }: QuietBounds, now: number): number | undefined {
	if (start < end) return now >= start && now < end ? end : undefined;
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
