import type { Decision } from '../audit/schema';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkMove, isOpen, moveTo } from '../audit/status';
import { channelEligibility } from '../profiles/eligibility';
import { sentTrials } from '../decide/bookkeeping';
import { deliver, RetryPolicy, Sender, SendResult, WebhookTarget } from '../deliver/provider';
import { NudgeError } from '../errors';
import type { KeyClaim } from '../store/types';
import { suppressionHit } from '../guard/guard';
import type { DecisionRef } from '../items/decisionRef';
import { type EngineContext, type ProfileLoader, endedElsewhere, nowFor, save, suppress, loadDecision, profileLoader } from './context';
import { isoTime } from '../util/isoTime';

/** The key one execution holds to send a decision, for a day: a retried flow never sends it twice. */
export const sendClaim = (decisionId: string): KeyClaim => ({ key: `send:${decisionId}`, ttlMs: 24 * 3_600_000 });

/** How long a reviewer's verdict holds the decision's send key while it is written (withSendKey). */
const VERDICT_HOLD_MS = 60_000;
/** How long a verdict waits for another one being written (or checked). */
export const VERDICT_WAIT_MS = 2_000;

/**
 * Writes a verdict on a decision in review (a reviewer's, an approver's) while holding its send key, which an erasure
 * of its contact holds for every open decision before it pseudonymises them (privacy/stopSends.ts). With the erasure
 * first, the verdict is not written over the erased row: the stored decision is answered (a conflict while the erasure
 * still runs). With the verdict first, the erasure waits for the key. `write` gets the decision as stored under the
 * key, and what it saves is durable before the key is let go.
 */
export async function withSendKey<T>(ctx: EngineContext, decision: Decision, now: Date, write: (current: Decision) => Promise<T>): Promise<T | Decision> {
	const { key } = sendClaim(decision.decisionId);
	const at = now.getTime();
	// Held by another verdict being written (a colleague answering at the same moment) for a moment: waited for, so
	// `write` says what that verdict made of the decision. Held longer (a send, an erasure): the stored decision answers.
	const deadline = Date.now() + VERDICT_WAIT_MS;
	while (!(await ctx.store.claimKey(key, VERDICT_HOLD_MS, at))) {
		if (Date.now() >= deadline || !isOpen((await ctx.store.getDecision(decision.decisionId))?.status)) return endedElsewhere(ctx, decision);
		await sleep(20);
	}
	try {
		const written = await write(await loadDecision(ctx, decision.decisionId));
		await ctx.store.sync();
		return written;
	} finally {
		await ctx.store.releaseKey(key, at + VERDICT_HOLD_MS);
	}
}

/** A webhook, a dry run, or any provider's sender (engine/deliver: Segment, HubSpot…). */
export type SendTarget = WebhookTarget | { dryRun: true } | { sender: Sender; retry?: Partial<RetryPolicy> };

/**
 * Sends once per decision: the decision id is the idempotency key, so a retried flow never sends
 * twice. Only a decision holding a cap reservation may send; success commits it, failure releases it.
 */
export async function send(ctx: EngineContext, ref: DecisionRef | unknown, target: SendTarget, message: { category?: string } = {}): Promise<Decision> {
	const decision = await loadDecision(ctx, ref);
	// Send's category is for a message no cap checked (a receipt): one Frequency Cap checked (allowed, or approved and
	// not yet checked again) keeps the category it was checked and counted under, which the log must show.
	if (message.category && decision.status === 'pending' && !decision.guard) decision.message = { ...decision.message, category: message.category };
	// Sent or failed: a retried flow gets the same answer, and nothing is posted again.
	if (decision.status === 'sent' || decision.status === 'failed') return decision;
	if (decision.status === 'suppressed') {
		throw new NudgeError('NOT_RESERVED', `Decision ${decision.decisionId} was suppressed (${decision.reason}) and cannot be sent: connect Send only after the Allowed output of Frequency Cap`);
	}
	return sendStage(ctx, decision, profileLoader(ctx, decision), target);
}

/**
 * `claimed`: the cap check already claimed this send's key with the cap slot (the one-call journey, whose send
 * follows at once); a send that stops before posting gives it back.
 */
export async function sendStage(ctx: EngineContext, decision: Decision, loadProfile: ProfileLoader, target: SendTarget, persist = true, claimed = false): Promise<Decision> {
	const { key, ttlMs } = sendClaim(decision.decisionId);
	let ready: Awaited<ReturnType<typeof readyToSend>>;
	try {
		ready = await readyToSend(ctx, decision, loadProfile, target, persist);
	} catch (error) {
		if (claimed) await ctx.store.releaseKey(key);
		throw error;
	}
	if (!('profile' in ready)) {
		if (claimed) await ctx.store.releaseKey(key);
		return ready;
	}
	const { now, reservationId, profile } = ready;
	if (!claimed && !(await ctx.store.claimKey(key, ttlMs, now.getTime()))) return heldElsewhere(ctx, decision, reservationId);
	// The decision, its reservation and the send claim are durable before the message leaves the process.
	if (!persist) await ctx.store.putDecision(decision);
	await ctx.store.sync();
	const payload = {
		decisionId: decision.decisionId,
		journey: decision.journey,
		channel: decision.channel,
		contact: { contactId: profile.contactId, email: profile.email, phone: profile.phone, traits: profile.traits, identities: profile.identities },
		score: decision.score,
		event: decision.event,
		policyVersion: decision.policyVersion,
		...(decision.handoff ? { handoff: decision.handoff } : {}),
	};
	let result: SendResult;
	try {
		result =
			'dryRun' in target
				? { ok: true, attempts: 0 }
				: 'sender' in target
					? await deliver(target.sender, payload, decision.decisionId, target.retry)
					: await ctx.webhook.post(target, payload, decision.decisionId);
	} catch (error) {
		// Nothing was recorded: free the claim so the send can be retried.
		await ctx.store.releaseKey(key);
		throw error;
	}
	decision.delivery = {
		provider: 'dryRun' in target ? 'dry-run' : 'sender' in target ? target.sender.provider : 'webhook',
		status: result.ok ? 'sent' : 'failed',
		idempotencyKey: decision.decisionId,
		attempts: result.attempts,
		...(result.httpStatus !== undefined ? { httpStatus: result.httpStatus } : {}),
		...(result.providerMessageId ? { providerMessageId: result.providerMessageId } : {}),
		...(result.error ? { error: result.error } : {}),
		at: isoTime(now.getTime()),
	};
	if (result.ok) {
		// The learner counts a trial only for a message that left (a chosen channel, sent); with the cap's commit, one step.
		const trials = sentTrials(decision);
		if (reservationId) await ctx.store.settleCapAndCount(reservationId, 'commit', trials);
		else if (trials.length) await ctx.store.addArmStats(trials);
		moveTo(decision, 'sent');
		decision.explanation = `sent by ${decision.channel}`;
	} else {
		if (reservationId) await ctx.store.settleCap(reservationId, 'release');
		moveTo(decision, 'failed');
		decision.reason = 'SEND_FAILED';
		decision.explanation = `send failed after ${result.attempts} attempt(s): ${result.error ?? ''}`;
	}
	return save(ctx, decision, 'send', now, { persist });
}

/** The send's key is held (endedElsewhere); a cap slot reserved before the key was taken is given back. */
async function heldElsewhere(ctx: EngineContext, decision: Decision, reservationId: string | undefined): Promise<Decision> {
	const stored = await endedElsewhere(ctx, decision);
	if (reservationId && stored.guard?.reservationId !== reservationId) await ctx.store.settleCap(reservationId, 'release');
	return stored;
}

/** What must hold before a send claims its key: a usable target, a cap reservation, consent still given. A decision
 * the recheck blocks comes back suppressed instead. */
async function readyToSend(ctx: EngineContext, decision: Decision, loadProfile: ProfileLoader, target: SendTarget, persist: boolean) {
	if ('sender' in target) target.sender.check?.();
	else if (!('dryRun' in target)) ctx.webhook.check(target.url);
	const now = nowFor(ctx, decision);
	const reservationId = decision.guard?.allowed ? decision.guard.reservationId : undefined;
	const category = decision.message?.category;
	// Only an open decision skips the cap check: one a guardrail holds (review, quiet hours, a cap's delay) waits.
	const unreservedAllowed = decision.status === 'pending' && !!category && ctx.policy.sendWithoutCapCheck.includes(category);
	if (!reservationId && !unreservedAllowed) {
		throw new NudgeError('NOT_RESERVED', `Decision ${decision.decisionId} has not passed Frequency Cap${decision.status === 'delayed' ? ` (it is delayed until ${decision.guard?.retryAt})` : decision.status === 'review' ? ' (it is waiting for review)' : ''}; Nudge only sends messages that hold a cap reservation`);
	}
	// Defence in depth: consent or the suppression list may have changed since Frequency Cap.
	const profile = await loadProfile();
	const blocked = suppressionHit(ctx.policy, profile) ?? (decision.channel ? channelEligibility(decision.channel, profile, ctx.policy)?.detail : 'no channel');
	if (blocked) {
		if (reservationId) await ctx.store.settleCap(reservationId, 'release');
		suppress(decision, suppressionHit(ctx.policy, profile) ? 'SUPPRESSION_LIST' : 'NO_CONSENT', `not sent: ${blocked} (checked again at send)`);
		return save(ctx, decision, 'send', now, { persist });
	}
	// Before anything leaves: a decision that may not end sent is never posted.
	checkMove(decision, 'sent');
	return { now, reservationId, profile };
}
