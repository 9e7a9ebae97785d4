import { DateTime } from 'luxon';
import type { Channel } from '../channels';
import { quietUntil } from '../guard/quietHours';
import type { Policy } from '../policy/schema';
import type { ArmStats, LearnerStatsStore } from '../store/types';

/**
 * Send-time optimisation: the contact's best local hour, learned from the hours at which they engaged
 * (opens, clicks, conversions), shrunk toward the whole population's hours, and never inside quiet
 * hours. Engagement is counted in the store's learner counts (`hour:<contact>#<h>`, `hour:*#<h>`).
 */
export const ENGAGEMENT = new Set(['open', 'click', 'conversion']);
const POPULATION = 'hour:*';
const HOURS = Array.from({ length: 24 }, (_, h) => h);

/** The counts one engagement at `at` (contact's local time) adds: one for the contact's hour, one for the population's. */
export function engagementDeltas(contactId: string, at: Date, zone: string): { key: string; delta: Partial<ArmStats> }[] {
	const hour = DateTime.fromJSDate(at, { zone }).hour;
	return [`hour:${contactId}`, POPULATION].map((scope) => ({ key: `${scope}#${hour}`, delta: { trials: 1 } }));
}

/** The learner keys holding one contact's engagement hours (erasing the contact deletes them). */
export const contactHourKeys = (contactId: string) => HOURS.map((h) => `hour:${contactId}#${h}`);

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

/**
 * score(h) = contact's engagements at h + strength × population share at h. With no history the
 * population's best hour wins; with a strong personal habit, the contact's. Hours inside a quiet-hours
 * rule for the channel are skipped. Undefined when nobody has engaged yet (then there is no basis).
 */
export async function bestSendTime(args: { store: LearnerStatsStore; policy: Policy; contactId: string; channel: Channel; zone: string; now: Date; strength?: number }): Promise<SendTime | undefined> {
	const { store, policy, contactId, channel, zone, now, strength = 5 } = args;
	const keys = [...contactHourKeys(contactId), ...HOURS.map((h) => `${POPULATION}#${h}`)];
	const stats = await store.getArmStats(keys);
	const count = (scope: string, h: number) => stats.get(`${scope}#${h}`)?.trials ?? 0;
	const population = HOURS.map((h) => count(POPULATION, h));
	const total = population.reduce((a, b) => a + b, 0);
	if (!total) return undefined;
	const own = HOURS.map((h) => count(`hour:${contactId}`, h));
	const local = DateTime.fromJSDate(now, { zone });
	const rules = policy.quietHours.filter((r) => !r.channels || r.channels.includes(channel));
	const startOf = (h: number) => {
		const today = local.set({ hour: h, minute: 0, second: 0, millisecond: 0 });
		// The current hour counts as now; an earlier hour means tomorrow.
		return h === local.hour ? local : today < local ? today.plus({ days: 1 }) : today;
	};
	const allowed = HOURS.filter((h) => rules.every((r) => !quietUntil(r, startOf(h))));
	if (!allowed.length) return undefined;
	const score = (h: number, withOwn: boolean) => (withOwn ? own[h] : 0) + (strength * population[h]) / total;
	const pick = (withOwn: boolean) => allowed.reduce((b, h) => (score(h, withOwn) > score(b, withOwn) ? h : b));
	const hour = pick(true);
	return { hour, sendAt: startOf(hour).toUTC().toISO()!, basis: hour === pick(false) ? 'population' : 'contact', contactEngagements: own.reduce((a, b) => a + b, 0) };
}
