import type { Score } from '../audit/schema';
import type { Policy, ScoreRule } from '../policy/schema';
import type { Profile } from '../profiles/schema';

/** Reads `traits.title`, `counters.Email Opened`, `consent.email`… from a profile. */
export function profileField(profile: Profile, path: string): unknown {
	const dot = path.indexOf('.');
	const head = dot < 0 ? path : path.slice(0, dot);
	const rest = dot < 0 ? '' : path.slice(dot + 1);
	const root = (profile as unknown as Record<string, unknown>)[head];
	if (!rest) return root;
	// Counter and trait names may themselves contain dots or spaces, so try the whole remainder first.
	if (root && typeof root === 'object' && rest in (root as object)) return (root as Record<string, unknown>)[rest];
	return rest.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), root);
}

function asNumber(v: unknown): number | undefined {
	const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() ? Number(v) : NaN;
	return Number.isFinite(n) ? n : undefined;
}

export function ruleMatches(rule: ScoreRule, actual: unknown): boolean {
	const expected = rule.value;
	switch (rule.op) {
		case 'exists':
			return actual !== undefined && actual !== null && actual !== '';
		case 'eq':
			return actual === expected || (asNumber(actual) !== undefined && asNumber(actual) === asNumber(expected));
		case 'neq':
			return !(actual === expected || (asNumber(actual) !== undefined && asNumber(actual) === asNumber(expected)));
		case 'gt':
		case 'gte':
		case 'lt':
		case 'lte': {
			const a = asNumber(actual ?? 0);
			const b = asNumber(expected);
			if (a === undefined || b === undefined) return false;
			return rule.op === 'gt' ? a > b : rule.op === 'gte' ? a >= b : rule.op === 'lt' ? a < b : a <= b;
		}
		case 'in':
			return Array.isArray(expected) && typeof actual === 'string'
				? expected.some((e) => typeof e === 'string' && actual.toLowerCase().includes(e.toLowerCase()))
				: Array.isArray(expected) && expected.includes(actual);
		case 'contains':
			return typeof actual === 'string' && typeof expected === 'string' && actual.toLowerCase().includes(expected.toLowerCase());
	}
}

export function tierOf(value: number, tiers: Policy['scoring']['tiers']): Score['tier'] {
	return value >= tiers.hot ? 'hot' : value >= tiers.warm ? 'warm' : 'cold';
}

/**
 * The transparent rules model: a base plus the points of every matching rule, clamped to 0–100.
 * Each matching rule is a factor, so the explanation is the model itself.
 */
export function scoreWithRules(profile: Profile, policy: Policy, policyVersion: string): Score {
	const { base, rules, tiers } = policy.scoring;
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
