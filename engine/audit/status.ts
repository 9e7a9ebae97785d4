/**
 * The decision's state machine: the one place that says which status may follow which. Every status change in
 * the engine goes through `moveTo` (or `reopen`), so a step can never, say, send a suppressed decision or revive
 * a sent one: an illegal move throws before anything is stored or sent.
 */
import { NudgeError } from '../errors';
import type { Decision, DecisionStatus } from './schema';

/** A decision not ended yet: it may still be sent (pending), or come back (delayed, in review). */
export const OPEN_STATUSES: readonly DecisionStatus[] = ['pending', 'delayed', 'review'];
export const isOpen = (status: DecisionStatus | undefined): boolean => status !== undefined && OPEN_STATUSES.includes(status);

/** Which statuses each status may move to. sent, suppressed and failed are final. */
export const TRANSITIONS: Readonly<Record<DecisionStatus, readonly DecisionStatus[]>> = {
	// Opened by an event or an agent: every step may settle it; Frequency Cap may also hold it (delayed, review).
	pending: ['pending', 'delayed', 'review', 'sent', 'failed', 'suppressed'],
	// Checked again when due: allowed (pending), still held, in review, or blocked. Never sent straight from
	// here, whatever its category: the hold is a guardrail's.
	delayed: ['pending', 'delayed', 'review', 'suppressed'],
	// A person's verdict: approved goes on (pending), rejected ends suppressed. Never sent before the verdict.
	review: ['pending', 'suppressed'],
	sent: [],
	suppressed: [],
	failed: [],
};

export function canMove(from: DecisionStatus, to: DecisionStatus): boolean {
	return TRANSITIONS[from].includes(to);
}

/** Throws, naming the decision and both statuses, when `to` may not follow the decision's status. */
export function checkMove(decision: Decision, to: DecisionStatus): void {
	if (canMove(decision.status, to)) return;
	const final = TRANSITIONS[decision.status].length === 0 ? ` (${decision.status} is final)` : '';
	throw new NudgeError('CONFLICT', `Decision ${decision.decisionId} cannot go from ${decision.status} to ${to}${final}`, [], 409);
}

export function moveTo(decision: Decision, to: DecisionStatus): void {
	checkMove(decision, to);
	decision.status = to;
}

/** Back to pending (allowed by the guardrails, or approved by a person): the reason it was held no longer applies. */
export function reopen(decision: Decision): void {
	moveTo(decision, 'pending');
	delete decision.reason;
	delete decision.ruleId;
}
