import type { Decision, GuardCheck } from '../audit/schema';
import type { Policy } from '../policy/schema';
import { durationMs } from './duration';
import { isoTime, parseTime } from '../util/isoTime';

export interface BestTimeVerdict {
	checks: GuardCheck[];
	/** When the message may go, if that is later than now. */
	waitUntil?: number;
}

/**
 * The wait for the contact's best send time (`decision.sendTime`, set by Choose Channel), for a journey whose
 * policy opts in (`journeys.<id>.sendTime.waitForBestTime`). The wait ends at the best time or once
 * `maxWait` has passed since the channel was chosen, whichever comes first; both are fixed when the channel
 * is chosen, so a decision brought back when due passes this check and meets the other guardrails again.
 */
export function checkBestSendTime(policy: Policy, decision: Pick<Decision, 'journey' | 'sendTime' | 'trail' | 'createdAt'>, now: number): BestTimeVerdict {
	const rule = policy.journeys[decision.journey]?.sendTime;
	if (!rule?.waitForBestTime || !decision.sendTime) return { checks: [] };
	const ruleId = `journeys.${decision.journey}.sendTime`;
	const chosenAt = parseTime(decision.trail.findLast((t) => t.stage === 'choose')?.at ?? decision.createdAt);
	const best = parseTime(decision.sendTime.sendAt);
	const capped = chosenAt + durationMs(rule.maxWait) < best;
	const until = capped ? chosenAt + durationMs(rule.maxWait) : best;
	const why = `the contact's best send time is ${decision.sendTime.sendAt} (local hour ${decision.sendTime.hour}, ${decision.sendTime.basis} basis)`;
	const cap = capped ? `; held at most ${rule.maxWait} (maxWait)` : '';
	if (now >= until) return { checks: [{ kind: 'send_time', ruleId, passed: true, detail: `${why}${cap}: the wait is over` }] };
	return { checks: [{ kind: 'send_time', ruleId, passed: false, retryAt: isoTime(until), detail: `${why}${cap}` }], waitUntil: until };
}
