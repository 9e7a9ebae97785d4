import type { Decision, ReasonCode } from '../audit/schema';
import type { Channel } from '../channels';

export const VERDICTS = ['allow', 'defer', 'needs_approval', 'deny'] as const;
export type VerdictKind = (typeof VERDICTS)[number];

/** The one answer to an action request (DESIGN §12). */
export interface ActionVerdict {
	verdict: VerdictKind;
	/** The action's decision in the log; `sendAction(decisionId)` sends an allowed one. */
	decisionId: string;
	agentId: string;
	/** Why, as stable codes (engine/audit/schema.ts REASON_CODES); empty when allowed. */
	reasons: ReasonCode[];
	/** The binding rule: a cap, quiet hours or review rule id, `consent:<channel>`, `agents.killSwitch`… */
	rule?: string;
	/** One sentence an agent can act on. */
	explanation: string;
	/** defer: when to ask again (the same request, the same idempotency key). */
	retryAt?: string;
	/** needs_approval: what to present once a person approved (with the same request). */
	approvalId?: string;
	approvalExpiresAt?: string;
	/** The channel the message goes by (chosen by the engine when the request said "choose"). */
	channel?: Channel;
	dryRun: boolean;
	/** This idempotency key was seen before: this is its earlier action's verdict. */
	duplicate?: boolean;
}

/** The verdict a decision stands at: allowed (a cap slot held, or sent), delayed, held for review, or not sent. */
export function verdictKind(decision: Decision): VerdictKind {
	switch (decision.status) {
		case 'pending':
			return decision.guard?.allowed ? 'allow' : 'deny';
		case 'sent':
			return 'allow';
		case 'delayed':
			return 'defer';
		case 'review':
			return 'needs_approval';
		default:
			return 'deny';
	}
}

/** What to do next, said to the agent. */
function advice(decision: Decision, kind: VerdictKind): string {
	const why = decision.explanation ?? '';
	switch (kind) {
		case 'allow':
			return decision.status === 'sent' ? `Already sent by ${decision.channel}: do not send again.` : `Allowed by ${decision.channel} (${why}): send it now with the decision id; the cap slot is held for a few minutes.`;
		case 'defer':
			return `Not now (${why}): ask again with the same idempotency key at or after ${decision.guard?.retryAt}.`;
		case 'needs_approval':
			return decision.review?.verdict === 'approved'
				? `Approved by ${decision.review.reviewer}: request it again with the same idempotency key, the same content and approvalId ${decision.agent?.approval?.approvalId} before ${decision.agent?.approval?.expiresAt}.`
				: `A person must approve this first (${decision.agent?.approval?.rules.join(', ')}): once approved, request it again with the same idempotency key, the same content and approvalId ${decision.agent?.approval?.approvalId} before ${decision.agent?.approval?.expiresAt}.`;
		default:
			return decision.status === 'failed' ? `The send failed (${why}): do not retry this action.` : `Denied (${decision.reason}: ${why}): do not retry this action as it is.`;
	}
}

export function verdictOf(decision: Decision, options: { dryRun?: boolean; duplicate?: boolean } = {}): ActionVerdict {
	const kind = verdictKind(decision);
	const approval = decision.agent?.approval;
	const rule = decision.ruleId ?? decision.guard?.bindingRuleId;
	return {
		verdict: kind,
		decisionId: decision.decisionId,
		agentId: decision.agent?.agentId ?? '',
		reasons: kind === 'allow' || !decision.reason ? [] : [decision.reason],
		...(rule && kind !== 'allow' ? { rule } : {}),
		explanation: advice(decision, kind),
		...(kind === 'defer' && decision.guard?.retryAt ? { retryAt: decision.guard.retryAt } : {}),
		...(kind === 'needs_approval' && approval ? { approvalId: approval.approvalId, approvalExpiresAt: approval.expiresAt } : {}),
		...(decision.channel ? { channel: decision.channel } : {}),
		dryRun: !!options.dryRun,
		...(options.duplicate ? { duplicate: true } : {}),
	};
}
