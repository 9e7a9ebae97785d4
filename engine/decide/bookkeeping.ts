/**
 * The learner's bookkeeping: every count a decision adds to the arm stats, computed here and nowhere else.
 * A decision is one trial of the channel (or wait) it chose and of its content variant, counted once when the
 * message leaves (a wait: when it is chosen); its outcomes then add successes, negatives or value to the arms it
 * tried. Engagements also teach the send-time learner. Callers store the deltas (store.addArmStats).
 */
import type { Decision, Outcome } from '../audit/schema';
import type { LearnerPolicy } from '../policy/schema';
import type { ArmStats } from '../store/types';
import { armDeltas, outcomeDelta, variantScopes, WAIT } from './learner';
import { ENGAGEMENT, engagementDeltas } from './sendTime';

export type ArmDelta = { key: string; delta: Partial<ArmStats> };

/** A chosen wait is its trial at once (nothing will leave); marks it counted. */
export function waitTrial(choice: NonNullable<Decision['choice']>): ArmDelta[] {
	choice.trialCounted = true;
	return armDeltas(choice.context, WAIT);
}

/** A message that left: one trial for its chosen channel and one for its content variant, each once; marks them counted. */
export function sentTrials(decision: Decision): ArmDelta[] {
	const deltas: ArmDelta[] = [];
	if (decision.choice && decision.channel && !decision.choice.trialCounted) {
		deltas.push(...armDeltas(decision.choice.context, decision.channel));
		Object.assign(decision.choice, { arm: decision.channel, trialCounted: true });
	}
	const vc = decision.variantChoice;
	if (vc && !vc.trialCounted) {
		const scopes = variantScopes(vc.slot, vc.context);
		deltas.push(...armDeltas(scopes.context, vc.variant, { trials: 1 }, scopes.globalScope));
		vc.trialCounted = true;
	}
	return deltas;
}

/** The arms a decision tried (a counted channel or wait, a counted variant): only they learn from its outcomes. */
function triedArms(decision: Decision) {
	const choice = decision.choice?.trialCounted && decision.choice.arm ? decision.choice : undefined;
	const variant = decision.variantChoice?.trialCounted ? decision.variantChoice : undefined;
	return { choice, variant };
}

/** Whether an outcome needs the decision's one reward claim first: a decision is one trial, so it earns at most one success. */
export function claimsReward(decision: Decision, outcome: Outcome, learner: LearnerPolicy): boolean {
	const { choice, variant } = triedArms(decision);
	return (!!choice || !!variant) && learner.objective === 'conversion' && (learner.reward as string[]).includes(outcome.type);
}

/** A content slot to consider promoting once one of its variants earned a success. */
export interface PromotionCheck {
	slot: string;
	variants: string[];
	globalScope: string;
}

/** A new outcome on the arms its decision tried; `firstReward` says the decision's reward claim was won by this outcome. */
export function outcomeDeltas(decision: Decision, outcome: Outcome, learner: LearnerPolicy, firstReward: boolean): { deltas: ArmDelta[]; promote?: PromotionCheck } {
	const { choice, variant } = triedArms(decision);
	const delta = (choice || variant) && outcomeDelta(outcome, learner, firstReward);
	if (!delta) return { deltas: [] };
	const deltas = choice ? armDeltas(choice.context, choice.arm!, delta) : [];
	if (!variant) return { deltas };
	const scopes = variantScopes(variant.slot, variant.context);
	deltas.push(...armDeltas(scopes.context, variant.variant, delta, scopes.globalScope));
	const promote = delta.successes ? { slot: variant.slot, variants: variant.estimates.map((e) => e.variant), globalScope: scopes.globalScope } : undefined;
	return { deltas, ...(promote ? { promote } : {}) };
}

/** An engagement (open, click, conversion) at `at` teaches the send-time learner its hour in the contact's zone (read only then). */
export async function engagementTrials(decision: Decision, outcome: Outcome, at: Date, zone: () => Promise<string>): Promise<ArmDelta[]> {
	// An erased contact's decision (under its pseudonym) starts no per-person counts that no erasure would ever find.
	return ENGAGEMENT.has(outcome.type) && decision.contactId && !decision.annotations?.erasedAt ? engagementDeltas(decision.contactId, at, await zone()) : [];
}
