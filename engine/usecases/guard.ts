import type { Decision } from '../audit/schema';
import { moveTo, reopen } from '../audit/status';
import { Channel } from '../channels';
import { NudgeError } from '../errors';
import { checkStorable } from '../events/limits';
import { evaluateGuards } from '../guard/guard';
import { waitTimer } from '../guard/waits';
import type { DecisionRef } from '../items/decisionRef';
import { type EngineContext, type ProfileLoader, endedElsewhere, nowFor, save, suppress, loadDecision, profileLoader } from './context';
import { sendClaim } from './send';
import { holdOutOrGate } from './choose';
import { moveMergedLedgers } from '../profiles/profiles';
import { contextOf } from '../decide/learner';
import { channelOutsideJourney } from '../decide/chooseChannel';
import { AmbiguousExemption, SendKeyHeld } from '../guard/frequencyCap';
import { isoTime, parseTime } from '../util/isoTime';

/** What the Frequency Cap step may be told about the message (and a channel other than the chosen one). */
export interface GuardOptions {
	channel?: Channel;
	category?: string;
	tags?: string[];
	offerValue?: number;
	variant?: string;
}

/**
 * The guardrails step (the Frequency Cap node): suppression list, consent, negative triggers, human
 * review, quiet hours and caps. Ends allowed (a cap slot reserved), delayed (with `guard.retryAt`),
 * blocked (suppressed with a reason) or in review. A delayed decision is checked again when it comes
 * back. `message` says what is sent (category such as "transactional", tags, offer value, variant).
 */
export async function checkCap(ctx: EngineContext, ref: DecisionRef | unknown, options: Channel | GuardOptions = {}): Promise<Decision> {
	const decision = await loadDecision(ctx, ref);
	const opts = typeof options === 'string' ? { channel: options } : options;
	checkStorable(opts, 'Cannot check the cap: the message settings are not text Nudge can store');
	if (decision.status === 'pending' && decision.guard?.allowed) {
		// Allowed already, its slot held: a second check (a retried or duplicated execution, a decision handed out again
		// by its wait) would reserve a second slot for one message, or be blocked by its own. Not once the slot may have
		// gone to another message (held past reservationTimeoutSeconds), nor for another channel or message: checked again.
		if (holdsSlot(ctx, decision) && sameRequest(decision, opts) && !channelOutsideJourney(ctx.policy, decision.journey, decision.channel!)) return decision;
		if (decision.guard.reservationId) {
			// Its send under way (or its contact's erasure) holds the send key: the slot stays with the message being sent.
			if ((await ctx.store.keyHeldUntil(sendClaim(decision.decisionId).key, nowFor(ctx, decision).getTime())) !== undefined) return endedElsewhere(ctx, decision);
			await ctx.store.settleCap(decision.guard.reservationId, 'release');
		}
	}
	return decision.status === 'pending' || decision.status === 'delayed' ? guardStage(ctx, decision, profileLoader(ctx, decision), opts) : decision;
}

/** Whether an allowed decision's cap reservation still holds its slot (reservationTimeoutSeconds after the check). */
function holdsSlot(ctx: EngineContext, decision: Decision): boolean {
	return nowFor(ctx, decision).getTime() < parseTime(decision.updatedAt) + ctx.policy.reservationTimeoutSeconds * 1000;
}

/** Whether a check asks for what the decision was allowed for: its channel, and the message it was checked with (tags in any order). */
function sameRequest(decision: Decision, opts: GuardOptions): boolean {
	if (opts.channel && opts.channel !== decision.channel) return false;
	const message: Record<string, unknown> = decision.message ?? {};
	const comparable = (value: unknown) => JSON.stringify(Array.isArray(value) ? [...value].sort() : value);
	return Object.entries(opts).every(([key, value]) => key === 'channel' || value === undefined || comparable(value) === comparable(message[key]));
}

/**
 * `wait: false` keeps a delayed decision out of the journey's wait queue (its caller asks again); `reserve: false` only
 * looks at the caps; `claimSend` (the send follows at once) claims the send's key with the cap slot, one store step,
 * and says in `claimSend.claimed` whether it did (the send then skips its own claim: sendStage's `claimed`).
 */
export async function guardStage(ctx: EngineContext,
	decision: Decision,
	profile: ProfileLoader,
	options: GuardOptions,
	persist = true,
	reviewApproved = false,
	flags: { wait?: boolean; reserve?: boolean; claimSend?: { claimed: boolean } } = {},
): Promise<Decision> {
	// On the event clock (replay), a delayed decision is checked again at its due time.
	const retryAt = decision.status === 'delayed' && decision.guard?.retryAt ? parseTime(decision.guard.retryAt) : 0;
	const now = new Date(Math.max(nowFor(ctx, decision).getTime(), ctx.clock === 'event' ? retryAt : 0));
	const channel = options.channel ?? decision.channel;
	if (!channel) {
		throw new NudgeError('INVALID_INPUT', `Decision ${decision.decisionId} has no channel yet: put Choose Channel before Frequency Cap, or set the channel on the node`);
	}
	// The guardrails are the policy's last word on the message: the log names the version whose rules decided it (a
	// delayed decision checked again after setPolicy is decided by the new one).
	decision.policyVersion = ctx.policyVersion;
	// A channel set on the node, and the chosen one too: a decision delayed before the policy took its channel out of
	// the journey is not sent on it when it comes back.
	const outside = channelOutsideJourney(ctx.policy, decision.journey, channel);
	if (outside) {
		decision.channel = channel;
		suppress(decision, 'NO_ELIGIBLE_CHANNEL', outside);
		return save(ctx, decision, 'guard', now, { persist });
	}
	// A channel given on the node with no Choose Channel before it: the holdout and the uplift gate apply all the same (a
	// contact in a control group is messaged by no journey, whatever the flow).
	if (!decision.channel && !decision.choice) {
		const contact = await profile();
		if (await holdOutOrGate(ctx, decision, contact, contextOf(decision, contact, ctx.policy.learner))) return save(ctx, decision, 'guard', now, { persist });
	}
	const message = { category: options.category, tags: options.tags, offerValue: options.offerValue, variant: options.variant };
	const given = Object.fromEntries(Object.entries(message).filter(([, v]) => v !== undefined));
	// A reviewer approved the message they saw: checked again for another channel, offer, category, tags or variant, it
	// goes to review again (a 30 % offer approved is not a 95 % one).
	const approved = reviewApproved || (decision.review?.verdict === 'approved' && sameRequest(decision, { ...given, channel }));
	decision.channel = channel;
	if (Object.keys(given).length) decision.message = { ...decision.message, ...given };
	const contact = await profile();
	// A merge's ledgers not moved yet (its move failed; the next update of the contact moves them for good): moved
	// before the caps are counted, on every path (an agent's action, a due decision) and not only an event's.
	await moveMergedLedgers(ctx.store, contact);
	let result: Awaited<ReturnType<typeof evaluateGuards>>;
	try {
		// The send's key goes with the slot: claimed when the send follows at once, else looked at (held by an erasure of
		// the contact, or by an execution sending the decision, it reserves nothing).
		const claim = flags.claimSend ? sendClaim(decision.decisionId) : { ...sendClaim(decision.decisionId), lookOnly: true };
		result = await evaluateGuards({ store: ctx.store, policy: ctx.policy, profile: contact, decision, channel, now: now.getTime(), reviewApproved: approved, reserve: flags.reserve, claim });
	} catch (error) {
		if (error instanceof SendKeyHeld) return endedElsewhere(ctx, decision);
		// A message the policy cannot tell exempt or counted is blocked with the reason, in the log: never left pending
		// or delayed without its wait (a delayed one whose policy changed meanwhile).
		if (!(error instanceof AmbiguousExemption)) throw error;
		suppress(decision, 'POLICY_BLOCKED', error.message);
		return save(ctx, decision, 'guard', now, { persist });
	}
	if (flags.claimSend) flags.claimSend.claimed = !!result.claimed;
	decision.guard = {
		outcome: result.outcome,
		allowed: result.outcome === 'allowed',
		checks: result.checks,
		...(result.reservationId ? { reservationId: result.reservationId } : {}),
		...(result.retryAt !== undefined ? { retryAt: isoTime(result.retryAt) } : {}),
		...(result.bindingRuleId ? { bindingRuleId: result.bindingRuleId } : {}),
	};
	decision.explanation = result.explanation;
	if (result.outcome === 'allowed') {
		reopen(decision);
	} else if (result.outcome === 'blocked') {
		suppress(decision, result.reason!, result.explanation, result.bindingRuleId);
	} else {
		moveTo(decision, result.outcome === 'delayed' ? 'delayed' : 'review');
		decision.reason = result.reason;
		decision.ruleId = result.bindingRuleId;
		if (result.outcome === 'review') decision.review = { rules: result.reviewRules ?? [], requestedAt: isoTime(now.getTime()) };
		// The store keeps the wait, not the flow: the decision comes back when due (guard/waits.ts).
		else if (flags.wait !== false) await ctx.store.scheduleTimer(waitTimer(decision, result.retryAt!));
	}
	return save(ctx, decision, 'guard', now, { persist, durable: decision.status !== 'pending' });
}
