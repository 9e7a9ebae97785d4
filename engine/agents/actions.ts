import type { Decision } from '../audit/schema';
import { isOpen, reopen } from '../audit/status';
import { channelOutsideJourney } from '../decide/chooseChannel';
import { contextOf } from '../decide/learner';
import { NudgeError } from '../errors';
import { checkStorable, couldBeStoredId } from '../events/limits';
import { durationMs } from '../guard/duration';
import { contactIds } from '../profiles/profiles';
import type { Profile } from '../profiles/schema';
import { chooseStage, holdOutOrGate } from '../usecases/choose';
import { type EngineContext, type ProfileLoader, newDecision, save, suppress, loadDecision, profileLoader } from '../usecases/context';
import { guardStage } from '../usecases/guard';
import { logStage } from '../usecases/log';
import { scoreStage } from '../usecases/score';
import { send, type SendTarget, withSendKey } from '../usecases/send';
import { approvalDecisionId, approvalState, newApprovalId } from './approvals';
import { reserveBlastRadius } from './blastRadius';
import { agentGate } from './gate';
import { actionDecisionId, sameAction, withActionLease } from './idempotency';
import { ActionRequest, parseActionRequest, requestHash, resolveActionContact } from './request';
import { ActionVerdict, verdictKind, verdictOf } from './verdict';
import { isoTime, parseTime } from '../util/isoTime';

/**
 * An action an AI agent (or any caller) proposes: one verdict — allow (a cap slot reserved: send it with
 * `sendAction`), defer (ask again at `retryAt`), needs_approval (a person decides with `decideApproval`), or
 * deny — with reason codes, the binding rule and a sentence the agent can act on. The journeys' guardrails
 * (consent, suppression, negative triggers, review, quiet hours, caps, holdouts) run unchanged, after the
 * policy's agent switches and blast radius. The same idempotency key is one action, even when calls race.
 * A dry run answers without claiming the key, reserving, sending or logging anything. Bad input throws a
 * NudgeError (INVALID_INPUT, UNKNOWN_CONTACT) and changes nothing. See docs/policy.md#agents.
 */
export async function requestAction(ctx: EngineContext, input: unknown): Promise<ActionVerdict> {
	const request = parseActionRequest(input);
	const profile = await resolveActionContact(ctx.store, request.contact);
	const journey = request.journey ?? ctx.policy.agents.journey;
	// A made-up journey would escape the caps, holdouts and review rules scoped to the real ones.
	if (journey !== ctx.policy.agents.journey && !Object.prototype.hasOwnProperty.call(ctx.policy.journeys, journey)) {
		const known = [ctx.policy.agents.journey, ...Object.keys(ctx.policy.journeys)].join(', ');
		throw new NudgeError('INVALID_INPUT', `Journey "${journey}" is not in the policy: leave it out (actions then belong to "${ctx.policy.agents.journey}") or name one of ${known}`);
	}
	const hash = requestHash(request, profile.contactId, journey);
	// An earlier action's contact may have been merged into this one since (the same person): the request hashed as then.
	const hashOf = (existing: Decision) => (existing.contactId !== profile.contactId && contactIds(profile).includes(existing.contactId) ? requestHash(request, existing.contactId, journey) : hash);
	const decisionId = actionDecisionId(request.agentId, request.idempotencyKey);
	if (request.dryRun) {
		const existing = await ctx.store.getDecision(decisionId);
		// As the real request would: the earlier action's verdict, or CONFLICT for other content under its key.
		if (existing) return verdictOf(sameAction(existing, request, hashOf(existing)), { dryRun: true, duplicate: true });
		return verdictOf(await newAction(ctx, decisionId, request, profile, journey, hash, true), { dryRun: true });
	}
	return withActionLease(ctx.store, decisionId, () => ctx.wallNow().getTime(), async () => {
		const existing = await ctx.store.getDecision(decisionId);
		return existing ? revisitAction(ctx, existing, request, profile, hashOf(existing)) : verdictOf(await newAction(ctx, decisionId, request, profile, journey, hash, false));
	});
}

async function newAction(ctx: EngineContext, decisionId: string, request: ActionRequest, contact: Profile, journey: string, hash: string, dryRun: boolean): Promise<Decision> {
	const now = ctx.wallNow();
	const { text, subject, ...facts } = request.message;
	const decision: Decision = {
		...newDecision(ctx, {
			decisionId,
			at: now,
			journey,
			contactId: contact.contactId,
			event: { eventId: `agent:${request.agentId}:${request.idempotencyKey}`, source: 'agent', type: 'track', name: 'Agent Action Requested', occurredAt: isoTime(now.getTime()) },
		}),
		agent: {
			agentId: request.agentId,
			idempotencyKey: request.idempotencyKey,
			requestHash: hash,
			requestedChannel: request.channel,
			...(text !== undefined || subject !== undefined ? { content: { text, subject } } : {}),
			verdict: 'deny',
			reasons: [],
		},
	};
	// First the switches and the blast radius: a looping agent is counted even when its requests are forged.
	if (!(await admitAction(ctx, decision, now, dryRun))) return settleAction(ctx, decision, dryRun);
	if (request.approvalId) {
		// A new action presenting an approval: the approval belongs to another request (or to none).
		const approved = await ctx.store.getDecision(approvalDecisionId(request.approvalId) ?? '');
		const state = approvalState(approved, request.approvalId, request.agentId, hash, now.getTime());
		if (state.state === 'refused') suppress(decision, state.reason, state.explanation, 'agents.approval');
		else suppress(decision, 'APPROVAL_MISMATCH', `approval ${request.approvalId} was asked under idempotency key ${approved!.agent!.idempotencyKey}: present it with that key`, 'agents.approval');
		return settleAction(ctx, decision, dryRun);
	}
	const profile = profileLoader(ctx, decision, contact);
	await scoreStage(ctx, decision, profile, false);
	// The agent's own facts win over the journey's offer by score tier.
	decision.message = { ...decision.message, ...Object.fromEntries(Object.entries(facts).filter(([, v]) => v !== undefined)) };
	if (request.channel === 'choose') await chooseStage(ctx, decision, profile, false, !dryRun);
	else {
		const context = contextOf(decision, contact, ctx.policy.learner);
		const outside = channelOutsideJourney(ctx.policy, decision.journey, request.channel);
		if (outside) {
			decision.channel = request.channel;
			suppress(decision, 'NO_ELIGIBLE_CHANNEL', outside);
		} else if (!(await holdOutOrGate(ctx, decision, contact, context))) {
			decision.choice = { context, method: 'requested', arm: request.channel };
			decision.channel = request.channel;
		}
	}
	if (decision.status === 'pending') await guardAction(ctx, decision, profile, false, dryRun);
	return settleAction(ctx, decision, dryRun);
}

/** The policy's agent switches and the agent's blast radius; false when the action is denied by one. */
async function admitAction(ctx: EngineContext, decision: Decision, now: Date, dryRun: boolean): Promise<boolean> {
	const agentId = decision.agent!.agentId;
	const gate = agentGate(ctx.policy, agentId);
	if (gate) {
		suppress(decision, gate.reason, gate.explanation, gate.rule);
		return false;
	}
	const blast = await reserveBlastRadius(ctx.store, ctx.policy, agentId, decision.contactId, now.getTime(), !dryRun);
	if (!blast.ok) suppress(decision, 'BLAST_RADIUS', blast.explanation, blast.rule.id);
	return blast.ok;
}

/** The journeys' guardrails for an action; a delay waits for the agent to ask again, a review for an approval. */
async function guardAction(ctx: EngineContext, decision: Decision, profile: ProfileLoader, approved: boolean, dryRun: boolean): Promise<void> {
	await guardStage(ctx, decision, profile, {}, false, approved, { wait: false, reserve: !dryRun });
	if (decision.status === 'review') {
		const ttl = durationMs(ctx.policy.agents.approvalTtl);
		const requestedAt = parseTime(decision.review!.requestedAt);
		decision.agent!.approval = { approvalId: newApprovalId(decision.decisionId), rules: decision.review!.rules, expiresAt: isoTime(requestedAt + ttl) };
	}
}

/** Records the verdict on the decision; a final one is logged. A dry run stores nothing. */
async function settleAction(ctx: EngineContext, decision: Decision, dryRun: boolean): Promise<Decision> {
	const agent = decision.agent!;
	agent.verdict = verdictKind(decision);
	agent.reasons = agent.verdict === 'allow' || !decision.reason ? [] : [decision.reason];
	if (dryRun) return decision;
	if (agent.verdict === 'deny') return logStage(ctx, decision, {});
	return save(ctx, decision, 'agent', ctx.wallNow(), { durable: true });
}

/** The same key again: the same verdict, unless its wait is over or an approval is presented. */
async function revisitAction(ctx: EngineContext, decision: Decision, request: ActionRequest, contact: Profile, hash: string): Promise<ActionVerdict> {
	const agent = sameAction(decision, request, hash).agent!;
	const now = ctx.wallNow();
	const profile = profileLoader(ctx, decision, contact);
	if (decision.status === 'review' && agent.approval) {
		const state = request.approvalId
			? approvalState(decision, request.approvalId, request.agentId, hash, now.getTime())
			: parseTime(agent.approval.expiresAt) <= now.getTime()
				? ({ state: 'refused', reason: 'APPROVAL_EXPIRED', explanation: `the approval request expired at ${agent.approval.expiresAt} (policy agents.approvalTtl)` } as const)
				: undefined;
		if (!state || state.state === 'pending') return verdictOf(decision, { duplicate: true });
		if (state.state === 'refused') {
			suppress(decision, state.reason, state.explanation, 'agents.approval');
			return verdictOf(await settleAction(ctx, decision, false));
		}
		reopen(decision);
		if (await admitAction(ctx, decision, now, false)) await guardAction(ctx, decision, profile, true, false);
		return verdictOf(await settleAction(ctx, decision, false));
	}
	if (decision.status === 'delayed' && parseTime(decision.guard?.retryAt ?? '') <= now.getTime()) {
		if (await admitAction(ctx, decision, now, false)) await guardAction(ctx, decision, profile, decision.review?.verdict === 'approved', false);
		return verdictOf(await settleAction(ctx, decision, false));
	}
	return verdictOf(decision, { duplicate: true });
}

/**
 * A person's decision on an agent's action waiting for approval (`needs_approval`), with who decided and why.
 * Approved: the agent may present the approval id with the exact same request until `agents.approvalTtl` from
 * now; refused: the action ends denied (REVIEW_REJECTED). Never an agent's tool.
 */
export async function decideApproval(ctx: EngineContext, approvalId: string, input: { approver: string; approve: boolean; note?: string }): Promise<ActionVerdict> {
	const approver = typeof input?.approver === 'string' ? input.approver.trim() : '';
	if (!approver) throw new NudgeError('INVALID_INPUT', 'An approval needs the approver’s name or email, for the audit trail');
	if (typeof input.approve !== 'boolean') throw new NudgeError('INVALID_INPUT', 'Say whether the action is approved: approve true or false');
	checkStorable({ approver, note: input.note }, 'Cannot record the approval');
	const id = typeof approvalId === 'string' ? approvalDecisionId(approvalId) : undefined;
	const found = id && couldBeStoredId(id) ? await ctx.store.getDecision(id) : undefined;
	if (!found?.agent) throw new NudgeError('UNKNOWN_DECISION', `No agent action waits for approval ${String(approvalId).slice(0, 80)}`, [], 404);
	return withActionLease(ctx.store, found.decisionId, () => ctx.wallNow().getTime(), async () => {
		const now = ctx.wallNow();
		const decision = await loadDecision(ctx, found.decisionId);
		// Ended (sent, refused, expired): refused as it is, before its send key is looked at (a sent action's is held).
		if (!isOpen(decision.status)) throw cannotDecide(decision, alreadyDecided(decision));
		// Written under the action's send key, as a reviewer's verdict is: never over the row of a contact erased meanwhile.
		return verdictOf(await withSendKey(ctx, decision, now, (current) => approvalWritten(ctx, current, approvalId, approver, input, now)));
	});
}

const cannotDecide = (decision: Decision, why: string) => new NudgeError('INVALID_INPUT', `Action ${decision.decisionId} cannot be decided: ${why}`, [], 409);
const alreadyDecided = (decision: Decision) => `it was already ${decision.review?.verdict ?? decision.status}`;

/** The approver's verdict on an action, written (decideApproval); refused when the action is not waiting for one. */
async function approvalWritten(ctx: EngineContext, decision: Decision, approvalId: string, approver: string, input: { approve: boolean; note?: string }, now: Date): Promise<Decision> {
	const agent = decision.agent!;
	const state = approvalState(decision, approvalId, agent.agentId, agent.requestHash, now.getTime());
	if (state.state !== 'pending' || decision.status !== 'review' || decision.review?.verdict) {
		// Past its window the action can never be sent: it ends suppressed, in the log, not left in review for ever.
		if (state.state === 'refused' && state.reason === 'APPROVAL_EXPIRED' && decision.status === 'review') {
			suppress(decision, state.reason, state.explanation, 'agents.approval');
			await settleAction(ctx, decision, false);
		}
		throw cannotDecide(decision, state.state === 'refused' ? state.explanation : alreadyDecided(decision));
	}
	Object.assign(decision.review!, { verdict: input.approve ? 'approved' : 'rejected', reviewer: approver, decidedAt: isoTime(now.getTime()), ...(input.note ? { note: input.note } : {}) });
	if (!input.approve) {
		suppress(decision, 'REVIEW_REJECTED', `refused by ${approver}${input.note ? `: ${input.note}` : ''}`, 'agents.approval');
		return settleAction(ctx, decision, false);
	}
	// The approval is of this action's exact content (its request hash), never of its variant label: an agent's
	// variant is a free label, and approving it would let any later content under the same label through.
	agent.approval!.expiresAt = isoTime(now.getTime() + durationMs(ctx.policy.agents.approvalTtl));
	// Still `review` until the agent presents the approval (an action is sent only as its agent asks): the log says so.
	decision.explanation = `approved by ${approver}; waiting for agent ${agent.agentId} to request it again with its approval id before ${agent.approval!.expiresAt}`;
	return save(ctx, decision, 'approval', now, { durable: true });
}

/**
 * Sends an allowed agent action by the engine's one send path (`send`: once per decision, only with its cap
 * reservation, consent checked again) and logs it. Anything but an allowed action is refused. An allowed action
 * is not sent, and comes back with its new verdict, when the policy's agent switches now stop it, or when it
 * waited past `reservationTimeoutSeconds` and the guardrails, checked again, no longer allow it.
 */
export async function sendAction(ctx: EngineContext, decisionId: string, target: SendTarget): Promise<Decision> {
	const decision = await loadDecision(ctx, decisionId);
	if (!decision.agent) throw new NudgeError('INVALID_INPUT', `Decision ${decision.decisionId} is not an agent's action: send it with send()`);
	if (decision.status === 'sent') return decision;
	if (verdictKind(decision) !== 'allow') {
		throw new NudgeError('NOT_RESERVED', `Action ${decision.decisionId} is not allowed (${verdictOf(decision).explanation}), so it is not sent`);
	}
	return withActionLease(ctx.store, decision.decisionId, () => ctx.wallNow().getTime(), async () => {
		const current = await loadDecision(ctx, decisionId);
		if (verdictKind(current) !== 'allow' || current.status === 'sent') return current;
		// The policy's switches hold until the message leaves: a kill switch stops allowed actions not yet sent.
		const gate = agentGate(ctx.policy, current.agent!.agentId);
		const now = ctx.wallNow();
		const held = parseTime(current.updatedAt) + ctx.policy.reservationTimeoutSeconds * 1000;
		if (gate || now.getTime() >= held) {
			// A slot held past the reservation timeout may have been given to another message: decide again.
			if (current.guard?.reservationId) await ctx.store.settleCap(current.guard.reservationId, 'release');
			if (gate) suppress(current, gate.reason, gate.explanation, gate.rule);
			else await guardAction(ctx, current, profileLoader(ctx, current), current.review?.verdict === 'approved', false);
			await settleAction(ctx, current, false);
			if (verdictKind(current) !== 'allow') return current;
		}
		return logStage(ctx, await send(ctx, current, target), {});
	});
}
