import { redactText } from '../audit/redact';
import { Candidate, Decision, Outcome, optsOut, WAIT } from '../audit/schema';
import { readPath } from '../policy/conditions';
import type { LearnerPolicy, Policy } from '../policy/schema';
import type { Profile } from '../profiles/schema';
import type { ArmStats, LearnerStatsStore } from '../store/types';
import { Random, sampleBeta, sampleNormal } from './sampling';

/**
 * The channel learner: Thompson sampling over per-context posteriors, pooled toward the all-contexts
 * posterior, with the policy's default order as the prior. Its state is the store's arm counts, keyed
 * `<scope>#<arm>` where scope is `global` or a context string; counts are increments, so engines in
 * several processes sharing a store all learn from every outcome.
 */

export type Arm = Candidate['channel'];
/** The stats key of a channel (or a content variant): `<scope>#<arm>`. */
export type ChoiceMethod = 'default_order' | 'thompson' | 'greedy' | 'explore';

export const GLOBAL_SCOPE = 'global';
export const armKey = (scope: string, arm: string) => `${scope}#${arm}`;

/**
 * journey, step (the triggering event), score tier, lifecycle stage and the policy's segment key. The counts keyed by it
 * are shared and outlive any one person's erasure, so an address, a phone number or a link (whole: its path and query
 * may name the person) in the event's name or the segment's value (`Referral from ana@example.com`) is masked out of
 * the key.
 */
export function contextOf(decision: Pick<Decision, 'journey' | 'event' | 'score'>, profile: Profile, learner: LearnerPolicy): string {
	const parts = [
		`journey=${decision.journey}`,
		`step=${contextText(decision.event.name ?? decision.event.type)}`,
		`tier=${decision.score?.tier ?? 'unscored'}`,
		`lifecycle=${profile.lifecycle ?? 'unknown'}`,
	];
	if (learner.segmentKey) {
		const value = readPath(profile, learner.segmentKey);
		parts.push(`segment=${value === undefined || value === null ? 'unknown' : contextText(String(value))}`);
	}
	return parts.join('|');
}

const LINK = /[a-z][a-z0-9+.-]*:\/\/\S*/gi;
const contextText = (text: string) => redactText(text.replace(LINK, '[link]'));

const EMPTY: ArmStats = { trials: 0, successes: 0, negatives: 0, valueSum: 0, valueSq: 0 };

/** The prior follows the default order: earlier candidates start with a slightly higher mean. */
function priorMean(rank: number, count: number): number {
	return 0.5 - (0.1 * rank) / Math.max(count, 1);
}

export interface Posterior {
	mean: number;
	sample(random: Random): number;
}

/**
 * Beta posterior on the chance of a reward. The global posterior is Beta(prior + global counts); a
 * context starts from the global mean with the weight of `poolStrength` decisions (never more than the
 * global evidence) and adds its own counts, so a context with little data behaves like the whole
 * population and one with much data like itself. Each negative outcome counts as `negativeWeight` failures.
 */
function betaPosterior(global: ArmStats, local: ArmStats, priorMeanValue: number, learner: LearnerPolicy): Posterior {
	const failures = (s: ArmStats) => Math.max(0, s.trials - s.successes) + learner.negativeWeight * s.negatives;
	const ga = learner.priorStrength * priorMeanValue + global.successes;
	const gb = learner.priorStrength * (1 - priorMeanValue) + failures(global);
	const globalMean = ga / (ga + gb);
	const weight = Math.min(learner.poolStrength, ga + gb);
	const a = globalMean * weight + local.successes;
	const b = (1 - globalMean) * weight + failures(local);
	// With poolStrength 0 and no local data the posterior is the global one.
	const [alpha, beta] = a + b > 0 ? [a, b] : [ga, gb];
	return { mean: alpha / (alpha + beta), sample: (random) => sampleBeta(random, alpha, beta) };
}

/**
 * Normal posterior on value (revenue) per message, pooled the same way. Each negative outcome costs
 * `negativeWeight` times the population's average value per message. The spread is the population's
 * observed spread (or the mean's size while there is too little data), divided by √(evidence).
 */
function normalPosterior(global: ArmStats, local: ArmStats, population: ArmStats, priorShift: number, learner: LearnerPolicy): Posterior {
	const unitLoss = population.trials > 0 ? population.valueSum / population.trials : 0;
	const net = (s: ArmStats) => s.valueSum - learner.negativeWeight * unitLoss * s.negatives;
	const globalMean = global.trials > 0 ? net(global) / global.trials : unitLoss;
	const weight = Math.min(learner.poolStrength, global.trials);
	const n = weight + local.trials;
	const mean = (n > 0 ? (globalMean * weight + net(local)) / n : globalMean) + priorShift;
	const popMean = population.trials > 0 ? population.valueSum / population.trials : 0;
	const variance = population.trials > 1 ? Math.max(population.valueSq / population.trials - popMean * popMean, 0) : 0;
	const sd = Math.sqrt(variance || Math.max(popMean * popMean, 1)) / Math.sqrt(n + learner.priorStrength);
	return { mean, sample: (random) => sampleNormal(random, mean, sd) };
}

export interface ArmChoice<A extends string = Arm> {
	arm: A;
	method: ChoiceMethod;
	/** Per eligible arm, in candidate order. */
	estimates: { arm: A; mean: number; sampled: number }[];
}

/** The counts chooseArm reads: each arm's, globally and in its context. */
export const chooseArmKeys = (arms: string[], context: string, globalScope = GLOBAL_SCOPE) => arms.flatMap((arm) => [armKey(globalScope, arm), armKey(context, arm)]);

/**
 * Picks among the eligible arms (in the policy's order); see docs/choosing.md. Channels pool toward the
 * `global` scope; content variants toward their slot's own scope (`globalScope`).
 */
export async function chooseArm<A extends string>(args: { store: LearnerStatsStore; policy: Policy; arms: A[]; context: string; random: Random; globalScope?: string; stats?: Map<string, ArmStats> }): Promise<ArmChoice<A>> {
	const { store, policy, arms, context, random, globalScope = GLOBAL_SCOPE } = args;
	const learner = policy.learner;
	if (!arms.length) throw new RangeError('chooseArm needs at least one eligible arm');
	const globalKeys = arms.map((arm) => armKey(globalScope, arm));
	const localKeys = arms.map((arm) => armKey(context, arm));
	// `stats`: read already, with other counts the caller needs, in one store call (at least chooseArmKeys).
	const stats = args.stats ?? (await store.getArmStats(globalKeys.flatMap((key, i) => [key, localKeys[i]])));
	const of = (key: string) => stats.get(key) ?? EMPTY;
	const population = globalKeys.reduce((sum, key) => {
		const s = of(key);
		return { trials: sum.trials + s.trials, successes: 0, negatives: 0, valueSum: sum.valueSum + s.valueSum, valueSq: sum.valueSq + s.valueSq };
	}, EMPTY);
	const posteriors = arms.map((arm, rank) => {
		const global = of(globalKeys[rank]);
		const local = of(localKeys[rank]);
		return learner.objective === 'value'
			? normalPosterior(global, local, population, -1e-9 * rank, learner)
			: betaPosterior(global, local, priorMean(rank, arms.length), learner);
	});
	const estimates = posteriors.map((p, i) => ({ arm: arms[i], mean: p.mean, sampled: p.sample(random) }));
	const best = (score: (e: (typeof estimates)[number]) => number) => estimates.reduce((b, e) => (score(e) > score(b) ? e : b)).arm;
	const greedy = best((e) => e.mean);
	if (population.trials === 0) return { arm: arms[0], method: 'default_order', estimates };
	if (learner.exploration.mode === 'off') return { arm: greedy, method: 'greedy', estimates };
	// One draw splits decisions into exploration-floor, Thompson and greedy shares, so the share of
	// decisions that try something other than the best mean stays within [floor, ceiling].
	const u = random();
	const others = arms.filter((a) => a !== greedy);
	if (u < learner.exploration.floor && others.length) return { arm: others[Math.floor(random() * others.length)], method: 'explore', estimates };
	if (u < learner.exploration.ceiling) return { arm: best((e) => e.sampled), method: 'thompson', estimates };
	return { arm: greedy, method: 'greedy', estimates };
}

/** A change to one arm, applied in its context and globally. A sent message (or a chosen wait) adds `{ trials: 1 }`. */
export function armDeltas(context: string, arm: string, delta: Partial<ArmStats> = { trials: 1 }, globalScope = GLOBAL_SCOPE): { key: string; delta: Partial<ArmStats> }[] {
	return [globalScope, context].map((scope) => ({ key: armKey(scope, arm), delta }));
}

/** Content variants of one slot (e.g. a subject line) learn in their own scope, per context too. */
export const variantScopes = (slot: string, context: string) => ({ globalScope: `variant:${slot}`, context: `variant:${slot}|${context}` });

/**
 * The posterior probability that each arm is the best, by Monte Carlo over the Beta posteriors of the
 * slot's global counts (the promotion rule: a variant is promoted when this exceeds the policy's threshold).
 */
export async function probabilityBest(args: { store: LearnerStatsStore; policy: Policy; arms: string[]; globalScope: string; random: Random; draws?: number }): Promise<{ arm: string; probability: number; trials: number }[]> {
	const { store, policy, arms, globalScope, random, draws = 2000 } = args;
	const stats = await store.getArmStats(arms.map((a) => armKey(globalScope, a)));
	const posteriors = arms.map((arm, rank) => betaPosterior(stats.get(armKey(globalScope, arm)) ?? EMPTY, EMPTY, priorMean(rank, arms.length), { ...policy.learner, poolStrength: 0 }));
	const wins = arms.map(() => 0);
	for (let i = 0; i < draws; i++) {
		let best = 0;
		let top = -Infinity;
		posteriors.forEach((p, j) => {
			const x = p.sample(random);
			if (x > top) [top, best] = [x, j];
		});
		wins[best]++;
	}
	return arms.map((arm, i) => ({ arm, probability: wins[i] / draws, trials: stats.get(armKey(globalScope, arm))?.trials ?? 0 }));
}

/**
 * What one newly recorded outcome adds to its decision's arm. A reward counts once per decision (the
 * caller claims it), revenue adds its value for the value objective, negatives count against the arm.
 */
export function outcomeDelta(outcome: Outcome, learner: LearnerPolicy, firstReward: boolean): Partial<ArmStats> | undefined {
	if (optsOut(outcome.type)) return { negatives: 1 };
	if (learner.objective === 'value') {
		return outcome.type === 'revenue' && outcome.value ? { valueSum: outcome.value, valueSq: outcome.value * outcome.value } : undefined;
	}
	return firstReward && (learner.reward as string[]).includes(outcome.type) ? { successes: 1 } : undefined;
}

export { WAIT };
