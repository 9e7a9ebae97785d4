import type { Decision, Score } from '../audit/schema';
import type { DecisionRef } from '../items/decisionRef';
import { offerFor, scoringFor } from '../journeys/journey';
import type { Profile } from '../profiles/schema';
import { activeModel, coldStartReason, modelScore } from '../scoring/registry';
import { scoreWithRules } from '../scoring/rulesModel';
import { type EngineContext, type ProfileLoader, nowFor, save, loadDecision, profileLoader } from './context';

export async function scoreDecision(ctx: EngineContext, ref: DecisionRef | unknown): Promise<Decision> {
	const decision = await loadDecision(ctx, ref);
	return decision.status === 'pending' ? scoreStage(ctx, decision, profileLoader(ctx, decision)) : decision;
}

export async function scoreStage(ctx: EngineContext, decision: Decision, profile: ProfileLoader, persist = true): Promise<Decision> {
	const now = nowFor(ctx, decision);
	decision.score = await scoreProfile(ctx, await profile(), decision.journey);
	// Offer depth by intent (policy journeys.<id>.offers): review thresholds on message.offerValue then apply.
	const offer = offerFor(ctx.policy, decision.journey, decision.score);
	if (offer !== undefined) decision.message = { ...decision.message, offerValue: offer };
	return save(ctx, decision, 'score', now, { persist });
}

/**
 * The active version of the policy's model (`scoring.model`, or the journey's own `scoring`) when it was
 * trained on enough data; otherwise the rules model, with `fallback: true` and a note saying why.
 */
export async function scoreProfile(ctx: EngineContext, profile: Profile, journey?: string): Promise<Score> {
	const scoring = journey ? scoringFor(ctx.policy, journey) : ctx.policy.scoring;
	const { model: name, tiers, minTrainingRows, minTrainingPositives } = scoring;
	if (!name) return scoreWithRules(profile, scoring, ctx.policyVersion);
	const rulesBecause = (why: string): Score => ({ ...scoreWithRules(profile, scoring, ctx.policyVersion), note: `rules used: ${why}` });
	// A stored model that no longer loads, or fails on this contact, must not stop decisions: the rules score, and say why.
	let active: Awaited<ReturnType<typeof activeModel>>;
	try {
		active = await activeModel(ctx.store, name);
	} catch (error) {
		return rulesBecause(`model "${name}" could not be loaded (${messageOf(error)})`);
	}
	if (!active) return rulesBecause(`no version of model "${name}" is active`);
	const coldStart = coldStartReason(active.model, minTrainingRows, minTrainingPositives);
	if (coldStart) return rulesBecause(`model ${name} v${active.version} is not used yet: ${coldStart}`);
	try {
		return modelScore(name, active.version, active.model, profile, tiers);
	} catch (error) {
		return rulesBecause(`model ${name} v${active.version} could not score this contact (${messageOf(error)})`);
	}
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
