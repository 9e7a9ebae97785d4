import { DateTime } from 'luxon';
import type { CapWindow } from '../policy/schema';
import { isTimeZone, timeZoneOf } from '../policy/timeZone';
import { durationMs } from './duration';
import { startOfLocalDate } from './localDay';
import { SpanCache } from './spanCache';

/** A contact's time zone when it is valid, else the policy's (a bad zone must not break decisions). */
export function zoneFor(contactZone: string | undefined, policyZone: string): string {
	return (contactZone && timeZoneOf(contactZone)) || policyZone;
}

/** Why the policy's zone stands in for the contact's own, when it does: said on the checks that used it. */
export function zoneFallbackNote(contactZone: string | undefined, zone: string): string | undefined {
	return contactZone && !isTimeZone(contactZone) ? `the contact's time zone ${JSON.stringify(contactZone)} is not a time zone, so the policy's ${zone} applies` : undefined;
}

export interface WindowSpan {
	/** Epoch ms: sends at or after this count. */
	since: number;
	/** Calendar windows: when the period ends and every slot frees. */
	resetsAt?: number;
	/** Rolling windows: how long each send counts. */
	lengthMs?: number;
	/** Human label for the decision log ("24h", "calendar week"). */
	label: string;
}

/**
 * Calendar periods only change at their boundaries, so each window of a policy keeps, per zone, its current span
 * until `now` leaves it: time-zone arithmetic was most of a cap check's cost (bench/caps). Keyed by the window
 * object itself, so a check builds no key.
 */
const calendarSpans = new SpanCache<CapWindow, WindowSpan>(2_000);

/**
 * The span a cap window covers at `now`. Calendar periods start at local midnight in the contact's
 * zone (luxon handles DST: a day may be 23 or 25 hours long).
 */
export function windowSpan(window: CapWindow, now: number, zone: string): WindowSpan {
	if (window.kind === 'rolling') {
		const lengthMs = durationMs(window.duration);
		return { since: now - lengthMs, lengthMs, label: window.duration };
	}
	const cached = calendarSpans.find(window, zone, now);
	if (cached) return cached;
	const span = calendarSpan(window, now, zone);
	return calendarSpans.keep(window, zone, { from: span.since, until: span.resetsAt! }, span);
}

function calendarSpan(window: Extract<CapWindow, { kind: 'calendar' }>, now: number, zone: string): WindowSpan {
	const local = DateTime.fromMillis(now, { zone });
	let first: DateTime;
	if (window.unit === 'week') {
		const back = (local.weekday - window.weekStartsOn + 7) % 7;
		first = local.startOf('day').minus({ days: back });
	} else first = local.startOf(window.unit);
	const next = first.plus(window.unit === 'day' ? { days: 1 } : window.unit === 'week' ? { weeks: 1 } : { months: 1 });
	// Each period from the first instant of its first date (startOfLocalDate: a midnight that happens twice counts once).
	return { since: startOfLocalDate(first), resetsAt: startOfLocalDate(next), label: `calendar ${window.unit} (${zone})` };
}
