import type { Score } from '../audit/schema';
import type { ScoreRule, ScoringPolicy } from '../policy/schema';
import type { Profile } from '../profiles/schema';
import { conditionHolds, readPath } from '../policy/conditions';

/** Reads `traits.title`, `counters.Email Opened`, `consent.email`… from a profile. */
export function profileField(profile: Profile, path: string): unknown {
	return readPath(profile, path);
}

export function ruleMatches(rule: ScoreRule, actual: unknown): boolean {
	return conditionHolds(rule, actual);
}

export function tierOf(value: number, tiers: ScoringPolicy['tiers']): Score['tier'] {
	return value >= tiers.hot ? 'hot' : value >= tiers.warm ? 'warm' : 'cold';
}

/**
 * The transparent rules model: a base plus the points of every matching rule, clamped to 0–100.
 * Each matching rule is a factor, so the explanation is the model itself.
 */
export function scoreWithRules(profile: Profile, scoring: ScoringPolicy, policyVersion: string): Score {
	const { base, rules, tiers } = scoring;
	const factors = rules
		.filter((rule) => ruleMatches(rule, profileField(profile, rule.field)))
		.map((rule) => ({ label: rule.label, contribution: rule.points }));
	const raw = factors.reduce((sum, f) => sum + f.contribution, base);
	const value = Math.max(0, Math.min(100, raw));
	factors.sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution));
	return {
		value,
		probability: value / 100,
		tier: tierOf(value, tiers),
		model: `rules:${policyVersion}`,
		fallback: true,
		factors,
	};
}
