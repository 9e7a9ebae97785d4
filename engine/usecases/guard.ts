import type { Decision } from '../audit/schema';
import { moveTo, reopen } from '../audit/status';
import { Channel } from '../channels';
import { NudgeError } from '../errors';
import { evaluateGuards } from '../guard/guard';
import { waitTimer } from '../guard/waits';
import type { DecisionRef } from '../items/decisionRef';
import { type EngineContext, type ProfileLoader, nowFor, save, suppress, loadDecision, profileLoader } from './context';
import { sendClaim } from './send';
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
	return decision.status === 'pending' || decision.status === 'delayed' ? guardStage(ctx, decision, profileLoader(ctx, decision), opts) : decision;
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
	decision.channel = channel;
	const message = { category: options.category, tags: options.tags, offerValue: options.offerValue, variant: options.variant };
	const given = Object.fromEntries(Object.entries(message).filter(([, v]) => v !== undefined));
	if (Object.keys(given).length) decision.message = { ...decision.message, ...given };
	const approved = reviewApproved || decision.review?.verdict === 'approved';
	const result = await evaluateGuards({ store: ctx.store, policy: ctx.policy, profile: await profile(), decision, channel, now: now.getTime(), reviewApproved: approved, reserve: flags.reserve, ...(flags.claimSend ? { claim: sendClaim(decision.decisionId) } : {}) });
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
