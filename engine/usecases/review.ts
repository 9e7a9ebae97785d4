import { decideApproval } from '../agents/actions';
import type { Decision } from '../audit/schema';
import { reopen } from '../audit/status';
import { NudgeError } from '../errors';
import type { DecisionRef } from '../items/decisionRef';
import { type EngineContext, nowFor, save, suppress, loadDecision, profileLoader } from './context';
import { guardStage } from './guard';
import { VERDICT_WAIT_MS, withSendKey } from './send';
import { setTimeout as sleep } from 'node:timers/promises';
import { isoTime } from '../util/isoTime';
import { checkStorable } from '../events/limits';

/**
 * A reviewer's verdict on a decision waiting in review. Approved: the remaining guardrails run (the
 * review is not asked again) and the decision goes on; rejected: it ends suppressed (REVIEW_REJECTED).
 * Who decided, when and why is recorded in `decision.review`.
 */
export async function resolveReview(ctx: EngineContext, ref: DecisionRef | unknown, verdict: { approve: boolean; reviewer: string; note?: string }): Promise<Decision> {
	checkStorable({ reviewer: verdict?.reviewer, note: verdict?.note }, 'Cannot record the review verdict');
	const decision = await loadDecision(ctx, ref);
	// An agent's action is approved under its approval id, bound to its content (engine/agents).
	if (decision.agent?.approval) {
		await decideApproval(ctx, decision.agent.approval.approvalId, { approver: verdict.reviewer, approve: verdict.approve, note: verdict.note });
		return loadDecision(ctx, decision.decisionId);
	}
	if (decision.status !== 'review' || !decision.review) return finishApproval(ctx, givenAlready(decision, verdict.approve));
	const reviewer = verdict.reviewer?.trim();
	if (!reviewer) throw new NudgeError('INVALID_INPUT', 'A review verdict needs the reviewer’s name or email, for the audit trail');
	const now = nowFor(ctx, decision);
	let repeated = false;
	const written = await withSendKey(ctx, decision, now, async (current) => {
		// Another reviewer's verdict may have landed since the decision was read (that reviewer's step goes on with it).
		if (current.status !== 'review' || !current.review) {
			repeated = true;
			return givenAlready(current, verdict.approve);
		}
		Object.assign(current.review, { verdict: verdict.approve ? 'approved' : 'rejected', reviewer, decidedAt: isoTime(now.getTime()), ...(verdict.note ? { note: verdict.note } : {}) });
		if (!verdict.approve) {
			suppress(current, 'REVIEW_REJECTED', `rejected by ${reviewer}${verdict.note ? `: ${verdict.note}` : ''}`);
			return save(ctx, current, 'review', now);
		}
		if (current.message?.variant) await ctx.store.approveVariant(current.message.variant, now.getTime());
		reopen(current);
		return save(ctx, current, 'review', now);
	});
	if (repeated || written.status !== 'pending') return repeated ? finishApproval(ctx, written) : written;
	return guardStage(ctx, written, profileLoader(ctx, written), {}, true);
}

const unchecked = (decision: Decision) => decision.status === 'pending' && decision.review?.verdict === 'approved' && decision.guard?.outcome === 'review';

/**
 * An approval given again, on a decision whose check after the approval has not completed: a colleague's approval still
 * checking it is waited for (VERDICT_WAIT_MS); one that never completed (the store failed then) is done now, as the
 * approval would have. Else the repeat answers a decision neither allowed nor in review, which a flow routes to
 * Blocked and nothing finishes.
 */
async function finishApproval(ctx: EngineContext, decision: Decision): Promise<Decision> {
	const deadline = Date.now() + VERDICT_WAIT_MS;
	let current = decision;
	while (unchecked(current) && Date.now() < deadline) {
		await sleep(20);
		current = await loadDecision(ctx, decision.decisionId);
	}
	return unchecked(current) ? guardStage(ctx, current, profileLoader(ctx, current), {}, true) : current;
}

/**
 * The same verdict again (approve clicked twice, an execution retried, Retry On Fail running the node again) answers
 * with the decision as that verdict left it, so the approved message goes on once and no later item fails for it. The
 * other verdict, or one on a decision never in review, is refused.
 */
function givenAlready(decision: Decision, approve: boolean): Decision {
	if (decision.review?.verdict === (approve ? 'approved' : 'rejected')) return decision;
	throw new NudgeError('INVALID_INPUT', `Decision ${decision.decisionId} is not waiting for review (it is ${decision.status}${decision.review?.verdict ? `, ${decision.review.verdict} by ${decision.review.reviewer}` : ''})`);
}
