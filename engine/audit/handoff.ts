import type { Decision } from './schema';

type Handoff = NonNullable<Decision['handoff']>;

/**
 * An escalation's one-line brief: who (a name, an email or a contact id, with their role), the score, what they did and
 * why they scored. A reader shown masked decisions gets it with `who` masked (redactDecision).
 */
export function handoffSummary(who: string, score: { tier: string; value: number }, interests: Handoff['interests'], topFactors: string[]): string {
	const did = interests.length ? interests.map((i) => (i.count > 1 ? `${i.event} ×${i.count}` : i.event)).join(', ') : 'no engagement yet';
	return `${who}: ${score.tier} lead, score ${score.value}. Interested in: ${did}. Why: ${topFactors.join('; ') || 'no positive factor'}.`;
}
