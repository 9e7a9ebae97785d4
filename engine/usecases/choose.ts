import type { EventMark } from '../events/eventClaim';
import type { Decision } from '../audit/schema';
import { chooseChannel, openChannels } from '../decide/chooseChannel';
import { holdoutKey, holdoutOf } from '../decide/holdout';
import { lowUpliftExplanation, upliftView } from '../decide/upliftGate';
import { waitTrial } from '../decide/bookkeeping';
import { chooseArm, chooseArmKeys, contextOf, variantScopes, WAIT } from '../decide/learner';
import { bestSendTime } from '../decide/sendTime';
import { NudgeError } from '../errors';
import { checkStorable } from '../events/limits';
import { AmbiguousExemption, capLook } from '../guard/frequencyCap';
import { zoneFor } from '../guard/windows';
import type { DecisionRef } from '../items/decisionRef';
import { escalationFor, handoffFor } from '../journeys/journey';
import type { Profile } from '../profiles/schema';
import type { TakeIn } from '../store/types';
import { type EngineContext, type ProfileLoader, nowFor, save, suppress, loadDecision, profileOf, profileLoader } from './context';

/**
 * Picks the content variant for a slot (e.g. `cart-subject` among ["A", "B"]) with the same learner as
 * channels, per context; once a variant's probability of being best reaches `learner.promoteAt` (and
 * every variant was sent `promoteMinTrials` times) it is promoted and every later decision gets it.
 * The choice is recorded in `variantChoice` and as `message.variant`. `variants` may be a list, or text
 * with one variant per line (or comma-separated), as node settings give it.
 */
export async function chooseVariant(ctx: EngineContext, ref: DecisionRef | unknown, slot: string, variants: string[] | string): Promise<Decision> {
	const name = typeof slot === 'string' ? slot.trim() : '';
	const given = typeof variants === 'string' ? variants.split(/[\n,]/).filter((v) => v.trim()) : variants;
	const list = Array.isArray(given) ? given.map((v) => (typeof v === 'string' ? v.trim() : '')) : [];
	if (!name) throw new NudgeError('INVALID_INPUT', 'A content slot needs a name, e.g. "cart-subject"');
	checkStorable({ slot: name, variants: list }, 'Cannot choose a variant');
	if (!list.length || list.some((v) => !v) || new Set(list).size !== list.length) {
		throw new NudgeError('INVALID_INPUT', `Slot "${name}" needs a list of distinct, non-empty variant names, e.g. ["A", "B"]`);
	}
	const decision = await loadDecision(ctx, ref);
	if (decision.status !== 'pending') return decision;
	const now = nowFor(ctx, decision);
	const context = decision.choice?.context ?? contextOf(decision, await profileOf(ctx, decision), ctx.policy.learner);
	const scopes = variantScopes(name, context);
	const winner = await ctx.store.variantWinner(name);
	const picked = await chooseArm({ store: ctx.store, policy: ctx.policy, arms: list, context: scopes.context, globalScope: scopes.globalScope, random: ctx.random });
	const promoted = winner !== undefined && list.includes(winner);
	const variant = promoted ? winner : picked.arm;
	decision.variantChoice = {
		slot: name,
		variant,
		context,
		method: promoted ? 'promoted' : picked.method,
		estimates: picked.estimates.map((e) => ({ variant: e.arm, mean: e.mean, sampled: e.sampled })),
	};
	decision.message = { ...decision.message, variant };
	return save(ctx, decision, 'variant', now);
}

export async function chooseDecisionChannel(ctx: EngineContext, ref: DecisionRef | unknown): Promise<Decision> {
	const decision = await loadDecision(ctx, ref);
	return decision.status === 'pending' ? chooseStage(ctx, decision, profileLoader(ctx, decision)) : decision;
}

/**
 * `learn: false` (a dry run) leaves the learner's counts alone when it picks "wait". `mark`: the one-call journey's
 * event mark not yet set, carried by the look at the caps (usecases/run.ts).
 */
export async function chooseStage(ctx: EngineContext, decision: Decision, profile: ProfileLoader, persist = true, learn = true, mark?: EventMark): Promise<Decision> {
	const now = nowFor(ctx, decision);
	const contact = await profile();
	// A score tier the journey escalates (hot leads → a sales task) has only that channel to go by.
	const escalation = escalationFor(ctx.policy, decision.journey, decision.score);
	const only = escalation ? [escalation.channel] : undefined;
	// "Not capped" is part of eligibility: a read-only look at the caps of the channels still in the running.
	const open = openChannels(contact, ctx.policy, decision.journey, only);
	const message = { journey: decision.journey, category: escalation?.category ?? decision.message?.category, tags: decision.message?.tags ?? [] };
	let look: ReturnType<typeof capLook>;
	try {
		look = capLook(ctx.policy, open, message, now.getTime(), zoneFor(contact.timezone, ctx.policy.timezone));
	} catch (error) {
		// A message the policy cannot tell exempt or counted: blocked with the reason, in the log, as the guardrails
		// block it on a named channel (usecases/guard.ts), not an exception that leaves the decision open.
		if (!(error instanceof AmbiguousExemption)) throw error;
		suppress(decision, 'POLICY_BLOCKED', error.message);
		return save(ctx, decision, 'choose', now, { persist });
	}
	const context = contextOf(decision, contact, ctx.policy.learner);
	// The learner's and the send time's counts are read with the caps, for every channel that could still be
	// picked (the capped ones drop out below, and their counts go unused): one store call.
	const statKeys = escalation ? [] : chooseArmKeys([...open, WAIT], context);
	const read = (takeIn?: TakeIn) => ctx.store.peekCapAndReadArmStats(decision.contactId, look.counters, now.getTime(), statKeys, !escalation, takeIn);
	const { verdict, stats, hours } = mark ? await mark.carriedBy(read) : await read();
	const capped = look.capped(verdict);
	const choice = chooseChannel(contact, ctx.policy, decision.journey, capped, only);
	decision.candidates = choice.candidates;
	if (await holdOutOrGate(ctx, decision, contact, context)) {
		// held out (outcomes still recorded) or stopped by the uplift gate
	} else if (!choice.channel) {
		decision.choice = { context, method: 'none_eligible' };
		suppress(decision, choice.reason!, choice.explanation);
	} else if (escalation) {
		decision.choice = { context, method: 'escalated', arm: choice.channel };
		decision.channel = choice.channel;
		decision.message = { ...decision.message, category: escalation.category };
		decision.handoff = handoffFor(ctx.policy, decision.journey, contact, decision.score!);
		decision.explanation = `${decision.score!.tier} score (${decision.score!.value}): handed to a person by ${choice.channel} (policy journeys.${decision.journey}.escalate)`;
	} else {
		const arms = choice.candidates.filter((c) => c.eligible).map((c) => c.channel);
		const picked = await chooseArm({ store: ctx.store, policy: ctx.policy, arms, context, random: ctx.random, stats });
		for (const e of picked.estimates) Object.assign(decision.candidates.find((c) => c.channel === e.arm)!, { mean: e.mean, sampled: e.sampled });
		decision.choice = { context, method: picked.method, arm: picked.arm };
		const estimate = picked.estimates.find((e) => e.arm === picked.arm)!;
		const why = {
			default_order: 'is the first eligible channel in the policy order (nothing learned yet)',
			thompson: `drew the highest sampled expected value (${estimate.sampled.toFixed(4)}, mean ${estimate.mean.toFixed(4)}) of ${arms.length} eligible`,
			greedy: `has the highest expected value (mean ${estimate.mean.toFixed(4)}) of ${arms.length} eligible`,
			explore: 'was tried to keep learning (exploration floor)',
		}[picked.method];
		if (picked.arm === WAIT) {
			if (learn) await ctx.store.addArmStats(waitTrial(decision.choice));
			suppress(decision, 'WAIT_CHOSEN', `no action now: waiting ${why}`);
		} else {
			decision.channel = picked.arm;
			decision.explanation = `${picked.arm} ${why}`;
			const sendTime = await bestSendTime({ store: ctx.store, policy: ctx.policy, contactId: decision.contactId, channel: picked.arm, zone: zoneFor(contact.timezone, ctx.policy.timezone), now, hours });
			if (sendTime) decision.sendTime = sendTime;
		}
	}
	return save(ctx, decision, 'choose', now, { persist });
}

/**
 * The holdout, then the journey's uplift gate: true when either settled the decision. Holdout first and
 * regardless of eligibility (the control group is a random slice of everyone); the gate's view goes on holdout
 * decisions too, so training compares like with like. Journeys and agent actions both pass here.
 */
export async function holdOutOrGate(ctx: EngineContext, decision: Decision, contact: Profile, context: string): Promise<boolean> {
	const gate = ctx.policy.journeys[decision.journey]?.uplift;
	if (gate) decision.uplift = await upliftView(ctx.store, gate, contact);
	if (holdOut(ctx, decision, contact, context)) return true;
	if (!gate || decision.uplift?.admitted !== false) return false;
	decision.choice = { context, method: 'uplift_gate' };
	suppress(decision, 'LOW_UPLIFT', lowUpliftExplanation(decision.uplift, gate));
	return true;
}

/** Puts the decision in its control group when the contact is held out (suppressed HOLDOUT, outcomes still measured). */
export function holdOut(ctx: EngineContext, decision: Decision, contact: Profile, context: string): boolean {
	const holdout = holdoutOf(ctx.policy.holdout, holdoutKey(contact), decision.journey);
	if (!holdout) return false;
	decision.choice = { context, method: 'holdout', holdout };
	const group = holdout.group === 'global' ? 'the global control group' : `the holdout of journey ${decision.journey}`;
	suppress(decision, 'HOLDOUT', `contact is in ${group} (bucket ${holdout.bucket}): no message is sent; outcomes are still recorded to measure lift`);
	return true;
}
