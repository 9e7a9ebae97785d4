import { checkAgentApproval } from '../agents/approvals';
import type { Decision, GuardCheck } from '../audit/schema';
import { holds } from '../policy/conditions';
import type { Policy, ReviewRule } from '../policy/schema';
import type { Profile } from '../profiles/schema';
import type { Store } from '../store/types';

/** A variant stays "new" until a reviewer approves one decision that uses it. */
export const approvedVariantKey = (variant: string) => `variant-approved:${variant}`;
const FOREVER_MS = 100 * 365 * 86_400_000;

export async function markVariantApproved(store: Store, variant: string, now: number): Promise<void> {
	await store.holdKey(approvedVariantKey(variant), FOREVER_MS, now);
}

/** A read only: a check never marks the variant, even for a moment, so concurrent checks all see it new. */
async function variantIsNew(store: Store, variant: string, now: number): Promise<boolean> {
	return (await store.keyHeldUntil(approvedVariantKey(variant), now)) === undefined;
}

/** Review thresholds: offer value, account value, low score confidence, a new content variant… */
export async function checkReview(
	store: Store,
	policy: Policy,
	profile: Profile,
	decision: Decision,
	now: number,
): Promise<{ checks: GuardCheck[]; hits: { id: string }[] }> {
	const context = { ...profile, message: decision.message ?? {}, score: decision.score ?? {}, event: decision.event };
	const checks: GuardCheck[] = [];
	const hits: ReviewRule[] = [];
	for (const rule of policy.review) {
		if (rule.journeys && !rule.journeys.includes(decision.journey)) continue;
		let hit = false;
		let detail: string | undefined;
		if (rule.when) {
			hit = holds(rule.when, context);
			if (hit) detail = `${rule.when.field} ${rule.when.op} ${JSON.stringify(rule.when.value ?? '')}`;
		} else {
			const variant = decision.message?.variant;
			hit = !!variant && (await variantIsNew(store, variant, now));
			if (hit) detail = `content variant "${variant}" has not been approved yet`;
		}
		checks.push({ kind: 'review', ruleId: rule.id, passed: !hit, ...(detail ? { detail } : {}) });
		if (hit) hits.push(rule);
	}
	// An agent's action also meets the policy's agents.approval rules here.
	const agent = checkAgentApproval(policy, profile, decision);
	return { checks: [...checks, ...agent.checks], hits: [...hits, ...agent.hits] };
}
