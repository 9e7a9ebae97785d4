import type { Decision } from '../audit/schema';

/** The Frequency Cap node's outputs, in order, on both platforms. */
export const GUARD_OUTPUTS = ['allowed', 'delayed', 'blocked', 'review'] as const;
export type GuardOutputName = (typeof GUARD_OUTPUTS)[number];

/**
 * Which output a decision leaves the guardrails step by: allowed (holds a cap slot, or was already
 * sent), delayed (waits until `guard.retryAt`), review (waits for a person), blocked (everything else:
 * suppressed here or earlier, or failed).
 */
export function guardOutput(decision: Decision): GuardOutputName {
	if (decision.status === 'sent' || (decision.status === 'pending' && decision.guard?.allowed)) return 'allowed';
	if (decision.status === 'delayed') return 'delayed';
	if (decision.status === 'review') return 'review';
	return 'blocked';
}
