import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Decision, GuardCheck, ReasonCode } from '../audit/schema';
import { holds } from '../policy/conditions';
import type { AgentApprovalRule, Policy } from '../policy/schema';
import type { Profile } from '../profiles/schema';
import { parseTime } from '../util/isoTime';

/**
 * Approvals of agent actions. A request that needs a person is held (status `review`) under an approval id:
 * the decision's id and a random token, so an id cannot be guessed from a decision id. The approval is bound to
 * the request's hash (contact, journey, channel, message): presenting it with other content is APPROVAL_MISMATCH.
 */

/** The policy's `agents.approval` rules, checked at the guardrails' review step of an agent's action. */
export function checkAgentApproval(policy: Policy, profile: Profile, decision: Decision): { checks: GuardCheck[]; hits: AgentApprovalRule[] } {
	const agent = decision.agent;
	if (!agent) return { checks: [], hits: [] };
	const channel = decision.channel;
	const context = { ...profile, message: decision.message ?? {}, score: decision.score ?? {}, channel, agentId: agent.agentId };
	const checks: GuardCheck[] = [];
	const hits: AgentApprovalRule[] = [];
	for (const rule of policy.agents.approval) {
		const detail = rule.when
			? holds(rule.when, context) && `${rule.when.field} ${rule.when.op} ${JSON.stringify(rule.when.value ?? '')}`
			: rule.channels
				? !!channel && rule.channels.includes(channel) && `every ${channel} action needs approval`
				: !policy.agents.known.includes(agent.agentId) && `agent ${agent.agentId} is not in agents.known`;
		checks.push({ kind: 'review', ruleId: rule.id, passed: !detail, ...(detail ? { detail } : {}) });
		if (detail) hits.push(rule);
	}
	return { checks, hits };
}

export function newApprovalId(decisionId: string): string {
	return `${decisionId}.${randomBytes(12).toString('base64url')}`;
}

/** The decision an approval id names (its token is checked against the decision's own). */
export function approvalDecisionId(approvalId: string): string | undefined {
	const dot = approvalId.lastIndexOf('.');
	return dot > 0 ? approvalId.slice(0, dot) : undefined;
}

function sameId(a: string, b: string): boolean {
	const x = Buffer.from(a);
	const y = Buffer.from(b);
	return x.length === y.length && timingSafeEqual(x, y);
}

export type ApprovalState =
	| { state: 'approved' }
	| { state: 'pending'; expiresAt: string }
	| { state: 'refused'; reason: ReasonCode; explanation: string };

/**
 * What an approval id presented by `agentId` for a request hashing to `requestHash` is worth against the decision
 * it names: approved (the request may go on), pending (still waiting for a person), or refused with its reason.
 */
export function approvalState(decision: Decision | undefined, approvalId: string, agentId: string, requestHash: string, now: number): ApprovalState {
	const agent = decision?.agent;
	const approval = agent?.approval;
	if (!decision || !agent || !approval || !sameId(approval.approvalId, approvalId) || agent.agentId !== agentId) {
		return { state: 'refused', reason: 'APPROVAL_INVALID', explanation: `approval ${approvalId.slice(0, 80)} was not issued to agent ${agentId}: request the action without an approvalId to ask for one` };
	}
	if (agent.requestHash !== requestHash) {
		return { state: 'refused', reason: 'APPROVAL_MISMATCH', explanation: `approval ${approvalId} was granted for another request (contact, channel or message differ): an approval covers only the exact content approved` };
	}
	if (decision.review?.verdict === 'rejected') {
		return { state: 'refused', reason: 'REVIEW_REJECTED', explanation: `approval was refused by ${decision.review.reviewer}${decision.review.note ? `: ${decision.review.note}` : ''}` };
	}
	if (parseTime(approval.expiresAt) <= now) {
		return { state: 'refused', reason: 'APPROVAL_EXPIRED', explanation: `approval ${approvalId} expired at ${approval.expiresAt}: request the action again to ask for a new approval` };
	}
	return decision.review?.verdict === 'approved' ? { state: 'approved' } : { state: 'pending', expiresAt: approval.expiresAt };
}
