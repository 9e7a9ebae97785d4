import { DateTime, type Zone } from 'luxon';
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

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** "21:30" as ms after midnight. */
const clockMs = (clock: string) => (Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3))) * MINUTE_MS;

/** What the local clock reads at `t` (ms after midnight) under a UTC offset of `offset` minutes. */
const wallAt = (t: number, offset: number) => (((t + offset * MINUTE_MS) % DAY_MS) + DAY_MS) % DAY_MS;

/**
 * The zone's UTC offset at an instant, and the next instant (within a day) at which it changes, with the offset from
 * then: all a window's end needs, as no zone changes its offset twice within 36 hours.
 */
interface ZoneLine {
	offset: number;
	change?: number;
	after?: number;
}

/** The offset at `t`, and its next change within the following day (found to the minute: offsets change on whole minutes). */
function lineFrom(t: number, zone: Zone): ZoneLine {
	const offset = zone.offset(t);
	const after = zone.offset(t + DAY_MS);
	if (after === offset) return { offset };
	let lo = Math.floor(t / MINUTE_MS);
	let hi = Math.floor((t + DAY_MS) / MINUTE_MS);
	while (hi - lo > 1) {
		const mid = Math.floor((lo + hi) / 2);
		if (zone.offset(mid * MINUTE_MS) === offset) lo = mid;
		else hi = mid;
	}
	return { offset, change: hi * MINUTE_MS, after };
}

/** Is the local clock `wall` (ms after midnight) inside the rule's window (start included, end not; it may cross midnight)? */
function inWindow(rule: QuietHours, wall: number): boolean {
	const start = clockMs(rule.start);
	return (wall - start + DAY_MS) % DAY_MS < (clockMs(rule.end) - start + DAY_MS) % DAY_MS;
}

/**
 * When the window containing `now` ends, or undefined when `now` is outside it. The local clock decides, not instants
 * worked out from it: the night the clocks fall back, the second 02:15 is as quiet as the first (luxon reads an
 * ambiguous time as the first, and the window seemed to have ended an hour before). The end is the first instant the
 * clock reads the end time, or the moment the clocks jump out of the window (past the end in spring, or back before
 * the start in autumn).
 */
function endOfWindow(rule: QuietHours, now: number, { offset, change, after }: ZoneLine): number | undefined {
	const wall = wallAt(now, offset);
	if (!inWindow(rule, wall)) return undefined;
	const end = clockMs(rule.end);
	const reached = now + ((end - wall + DAY_MS) % DAY_MS);
	if (change === undefined || reached < change) return reached;
	const then = wallAt(change, after!);
	return inWindow(rule, then) ? change + ((end - then + DAY_MS) % DAY_MS) : change;
}

/** When the quiet window containing `local` ends, or undefined when `local` is outside it. */
export function quietUntil(rule: QuietHours, local: DateTime): DateTime | undefined {
	const until = endOfWindow(rule, local.toMillis(), lineFrom(local.toMillis(), local.zone));
	return until === undefined ? undefined : DateTime.fromMillis(until, { zone: local.zone });
}

/**
 * Luxon took about 30 µs a rule for each decision (docs/benchmarks.md), and the zone's line changes only with the local
 * day (on a day whose offset holds all day, the next change is found from its last instant), so it is kept per rule
 * and zone for the day. Keyed by the rule object, as cap windows are.
 */
const linesByRule = new SpanCache<QuietHours, ZoneLine>(2_000);

/** `quietUntil(rule, now in zone)` as an instant (ms): the same answer, with luxon asked once per rule, zone and day. */
export function quietUntilMs(rule: QuietHours, now: number, zone: string): number | undefined {
	let line = linesByRule.find(rule, zone, now);
	if (!line) {
		const { local, span } = localDay(now, zone);
		line = linesByRule.keep(rule, zone, span, lineFrom(span ? span.until - 1 : now, local.zone));
	}
	return endOfWindow(rule, now, line);
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
