import { DateTime } from 'luxon';
import type { GuardCheck } from '../audit/schema';
import type { Channel } from '../channels';
import type { Policy, QuietHours } from '../policy/schema';
import { isoTime } from '../util/isoTime';

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

/** When the quiet window containing `local` ends, or undefined when `local` is outside it. */
export function quietUntil(rule: QuietHours, local: DateTime): DateTime | undefined {
	const day = local.startOf('day');
	const start = atClock(day, rule.start);
	const end = atClock(day, rule.end);
	if (start < end) return local >= start && local < end ? end : undefined;
	// The window crosses midnight: late evening (until tomorrow's end) or early morning (until today's end).
	if (local >= start) return atClock(day.plus({ days: 1 }), rule.end);
	if (local < end) return end;
	return undefined;
}

/** Quiet hours in the contact's time zone; exempt categories (transactional by default) pass. */
export function checkQuietHours(policy: Policy, channel: Channel, category: string | undefined, now: number, zone: string): QuietHoursVerdict {
	const local = DateTime.fromMillis(now, { zone });
	const checks: GuardCheck[] = [];
	let binding: QuietHoursVerdict['binding'];
	for (const rule of policy.quietHours) {
		if (rule.channels && !rule.channels.includes(channel)) continue;
		const window = `${rule.start}–${rule.end} ${zone}`;
		if (category && rule.exemptCategories.includes(category)) {
			checks.push({ kind: 'quiet_hours', ruleId: rule.id, passed: true, exempt: true, window, detail: `${category} messages are exempt` });
			continue;
		}
		const until = quietUntil(rule, local);
		if (!until) {
			checks.push({ kind: 'quiet_hours', ruleId: rule.id, passed: true, window });
			continue;
		}
		const retryAt = until.toMillis();
		checks.push({ kind: 'quiet_hours', ruleId: rule.id, passed: false, window, retryAt: isoTime(retryAt), detail: `it is ${local.toFormat('HH:mm')} for the contact` });
		if (!binding || rule.action === 'drop' || (binding.rule.action !== 'drop' && retryAt > binding.retryAt)) binding = { rule, retryAt };
	}
	return { checks, binding };
}
