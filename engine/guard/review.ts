import { checkAgentApproval } from '../agents/approvals';
import type { Decision, GuardCheck } from '../audit/schema';
import { holds } from '../policy/conditions';
import type { Policy, ReviewRule } from '../policy/schema';
import type { Profile } from '../profiles/schema';
import type { VariantRecords } from '../store/types';

/**
 * Review thresholds: offer value, account value, low score confidence, a new content variant (one no reviewer has
 * approved yet: a read only, so concurrent checks all see it new until an approval).
 */
export async function checkReview(
	store: VariantRecords,
	policy: Policy,
	profile: Profile,
	decision: Decision,
): Promise<{ checks: GuardCheck[]; hits: { id: string }[] }> {
	const context = { ...profile, message: decision.message ?? {}, score: decision.score ?? {}, event: decision.event };
	const checks: GuardCheck[] = [];
	const hits: ReviewRule[] = [];
	for (const rule of policy.review) {
		if (rule.journeys && !rule.journeys.includes(decision.journey)) continue;
		let hit = false;
		let detail: string | undefined;
		if (rule.when && !decision.score && rule.when.field.startsWith('score.')) {
			// A rule on the score cannot be read for a decision nobody scored (no Score step, or one that failed and an
			// error setting let the decision go on): a person decides, rather than the rule passing unread.
			hit = true;
			detail = `${rule.when.field}: the decision has no score (no Score step before this one, or it failed), so a person decides`;
		} else if (rule.when) {
			hit = holds(rule.when, context);
			if (hit) detail = `${rule.when.field} ${rule.when.op} ${JSON.stringify(rule.when.value ?? '')}`;
		} else {
			const variant = decision.message?.variant;
			// An agent's variant is a free label over text it writes itself: an approval of the label (a journey's
			// reviewed template) says nothing of that text, so an agent's action is held until its own content is approved.
			hit = !!variant && (!!decision.agent || !(await store.isVariantApproved(variant)));
			if (hit) detail = decision.agent ? `content variant "${variant}" is an agent's own text: a person approves each action's content` : `content variant "${variant}" has not been approved yet`;
		}
		checks.push({ kind: 'review', ruleId: rule.id, passed: !hit, ...(detail ? { detail } : {}) });
		if (hit) hits.push(rule);
	}
	// An agent's action also meets the policy's agents.approval rules here.
	const agent = checkAgentApproval(policy, profile, decision);
	return { checks: [...checks, ...agent.checks], hits: [...hits, ...agent.hits] };
}
