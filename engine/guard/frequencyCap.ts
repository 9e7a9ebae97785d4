import type { GuardCheck } from '../audit/schema';
import type { Channel } from '../channels';
import { newId } from '../ids';
import type { CapRule, Policy } from '../policy/schema';
import type { CapCounter, Store } from '../store/types';
import { durationMs } from './duration';

export function rulesFor(policy: Policy, channel: Channel): CapRule[] {
	return policy.caps.filter((rule) => rule.scope.kind === 'any' || rule.scope.channel === channel);
}

export function countersFor(rules: CapRule[], now: number): CapCounter[] {
	return rules.map((rule) => ({
		ruleId: rule.id,
		limit: rule.limit,
		channel: rule.scope.kind === 'channel' ? rule.scope.channel : undefined,
		since: now - durationMs(rule.window.duration),
	}));
}

export interface CapResult {
	allowed: boolean;
	reservationId?: string;
	checks: GuardCheck[];
	bindingRuleId?: string;
	explanation: string;
}

/**
 * Check-and-reserve: if every applicable rule has room, a slot is reserved (atomically, in the store)
 * until the send commits it, a failure releases it, or the policy's timeout expires it.
 */
export async function checkAndReserve(
	store: Store,
	policy: Policy,
	contactId: string,
	channel: Channel,
	now: number,
): Promise<CapResult> {
	const rules = rulesFor(policy, channel);
	const counters = countersFor(rules, now);
	const reservationId = newId('r');
	const verdict = await store.reserveCap(
		{ reservationId, contactId, channel, at: now, expiresAt: now + policy.reservationTimeoutSeconds * 1000 },
		counters,
	);
	const checks: GuardCheck[] = rules.map((rule, i) => ({
		kind: 'frequency_cap',
		ruleId: rule.id,
		passed: verdict.counts[i] < rule.limit,
		count: verdict.counts[i],
		limit: rule.limit,
		window: rule.window.duration,
	}));
	if (verdict.ok) {
		return { allowed: true, reservationId, checks, explanation: `within ${rules.length} cap rule(s) for ${channel}` };
	}
	const binding = checks.find((c) => c.ruleId === verdict.bindingRuleId)!;
	return {
		allowed: false,
		checks,
		bindingRuleId: verdict.bindingRuleId,
		explanation: `cap ${binding.ruleId} reached: ${binding.count} of ${binding.limit} in the last ${binding.window}`,
	};
}
