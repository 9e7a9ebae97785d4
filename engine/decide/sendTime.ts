import { DateTime } from 'luxon';
import type { Channel } from '../channels';
import { localDay } from '../guard/localDay';
import { quietUntil, quietUntilMs } from '../guard/quietHours';
import { SpanCache } from '../guard/spanCache';
import type { Policy, QuietHours } from '../policy/schema';
import { HOURS, POPULATION_SCOPE, sendHourKey, type ArmStats, type LearnerStatsStore, type SendHours } from '../store/types';
import { isoTime } from '../util/isoTime';

/**
 * Send-time optimisation: the contact's best local hour, learned from the hours at which they engaged
 * (opens, clicks, conversions), shrunk toward the whole population's hours, and never inside quiet
 * hours. Engagement is counted in the store's learner counts (store/sendHours.ts: `hour:<contact>#<h>`, `hour:*#<h>`).
 */
export const ENGAGEMENT = new Set(['open', 'click', 'conversion']);

/** The counts one engagement at `at` (contact's local time) adds: one for the contact's hour, one for the population's. */
export function engagementDeltas(contactId: string, at: Date, zone: string): { key: string; delta: Partial<ArmStats> }[] {
	const hour = DateTime.fromJSDate(at, { zone }).hour;
	// A contact whose id is `*` shares the population's keys (store/sendHours.ts): its engagement counts there once.
	return [...new Set([contactId, POPULATION_SCOPE])].map((scope) => ({ key: sendHourKey(scope, hour), delta: { trials: 1 } }));
}

export interface SendTime {
	/** The local hour (0–23) chosen. */
	hour: number;
	/** The next start of that hour from now, as an ISO instant. */
	sendAt: string;
	/** `contact` when the contact's own history moved the choice away from the population's best hour. */
	basis: 'contact' | 'population';
	/** How many of the contact's own engagements were counted. */
	contactEngagements: number;
}

const HOUR_MS = 3_600_000;

/** Each local hour's start on the day of `now` and on the next, and whether a quiet-hours rule holds it. */
interface HourStarts {
	today: number[];
	tomorrow: number[];
	quietToday: boolean[];
	quietTomorrow: boolean[];
	/** The local hour of an instant of the day. */
	hourOf(now: number): number;
}

/**
 * When the local clock first shows h:00 on `day`'s date. An hour the clocks go back over comes twice; luxon's `set` picks
 * either, by the offset it starts from (so tomorrow's hour depended on when today's starts were first worked out).
 */
function firstStart(day: DateTime, h: number): DateTime {
	const start = day.set({ hour: h, minute: 0, second: 0, millisecond: 0 });
	const hourBefore = start.minus({ hours: 1 });
	return hourBefore.hour === h && hourBefore.minute === 0 && hourBefore.day === start.day ? hourBefore : start;
}

function hourStarts(rules: QuietHours[], { local, span }: { local: DateTime; span?: { from: number } }): HourStarts {
	const starts: HourStarts = { today: [], tomorrow: [], quietToday: [], quietTomorrow: [], hourOf: span ? (now) => Math.floor((now - span.from) / HOUR_MS) : () => local.hour };
	// Tomorrow's hours from tomorrow's date: from today's, the day after the clocks skip 02:00 its hour 2 was 03:00.
	const nextDay = local.plus({ days: 1 });
	for (const h of HOURS) {
		const today = firstStart(local, h);
		const tomorrow = firstStart(nextDay, h);
		starts.today.push(today.toMillis());
		starts.tomorrow.push(tomorrow.toMillis());
		starts.quietToday.push(rules.some((r) => quietUntil(r, today)));
		starts.quietTomorrow.push(rules.some((r) => quietUntil(r, tomorrow)));
	}
	return starts;
}

/**
 * The hours' starts change only with the local day, so they are kept per policy, channel and zone for the day: luxon
 * took about 1 ms a decision for them with one quiet-hours rule (docs/benchmarks.md).
 */
const startsByPolicy = new SpanCache<QuietHours[], HourStarts>(2_000);

/** When each local hour next starts from `now` (the current hour: now), or undefined when quiet hours hold it then. */
export function nextHourStarts(policy: Policy, channel: Channel, zone: string, now: number): { hour: number; startOf: (h: number) => number | undefined } {
	const rules = policy.quietHours.filter((r) => !r.channels || r.channels.includes(channel));
	const key = `${channel} ${zone}`;
	let starts = startsByPolicy.find(policy.quietHours, key, now);
	if (!starts) {
		const day = localDay(now, zone);
		starts = startsByPolicy.keep(policy.quietHours, key, day.span, hourStarts(rules, day));
	}
	const hour = starts.hourOf(now);
	const quietNow = rules.some((r) => quietUntilMs(r, now, zone) !== undefined);
	const startOf = (h: number) => {
		// The current hour counts as now; an hour whose start today has passed means tomorrow.
		if (h === hour) return quietNow ? undefined : now;
		const later = starts.today[h] < now;
		return (later ? starts.quietTomorrow[h] : starts.quietToday[h]) ? undefined : later ? starts.tomorrow[h] : starts.today[h];
	};
	return { hour, startOf };
}

/**
 * score(h) = contact's engagements at h + strength × population share at h. With no history the
 * population's best hour wins; with a strong personal habit, the contact's. Hours inside a quiet-hours
 * rule for the channel are skipped. Undefined when nobody has engaged yet (then there is no basis).
 */
export async function bestSendTime(args: { store: LearnerStatsStore; policy: Policy; contactId: string; channel: Channel; zone: string; now: Date; strength?: number; hours?: SendHours }): Promise<SendTime | undefined> {
	const { store, policy, contactId, channel, zone, now, strength = 5 } = args;
	// `hours`: read already, with other counts the caller needs, in one store call.
	const { own, population } = args.hours ?? (await store.getSendHours(contactId));
	const total = population.reduce((a, b) => a + b, 0);
	if (!total) return undefined;
	const { startOf } = nextHourStarts(policy, channel, zone, now.getTime());
	const starts = HOURS.map(startOf);
	const allowed = HOURS.filter((h) => starts[h] !== undefined);
	if (!allowed.length) return undefined;
	const score = (h: number, withOwn: boolean) => (withOwn ? own[h] : 0) + (strength * population[h]) / total;
	const pick = (withOwn: boolean) => allowed.reduce((b, h) => (score(h, withOwn) > score(b, withOwn) ? h : b));
	const hour = pick(true);
	return { hour, sendAt: isoTime(starts[hour]!), basis: hour === pick(false) ? 'population' : 'contact', contactEngagements: own.reduce((a, b) => a + b, 0) };
}
