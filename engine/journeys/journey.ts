import { handoffSummary } from '../audit/handoff';
import type { Decision, Score } from '../audit/schema';
import type { Profile } from '../profiles/schema';
import { eventCount } from '../profiles/profiles';
import type { Channel } from '../channels';
import type { Engine, SendTarget } from '../engine';
import { type CustomerEvent, sameEventName } from '../events/schema';
import { readPath } from '../policy/conditions';
import type { JourneyPolicy, Policy, ScoringPolicy } from '../policy/schema';

/** The prebuilt journeys (flows/n8n, flows/node-red, flows/samples; settings in flows/policies/journeys.json). */
export const JOURNEYS = ['nurture', 'cart-abandonment', 'churn-risk'] as const;
export type JourneyName = (typeof JOURNEYS)[number];

export function journeyPolicy(policy: Policy, journey: string): JourneyPolicy | undefined {
	return policy.journeys[journey];
}

/** The outcome types the journey counts as its conversion, stamped on each of its decisions; absent for the default. */
export function conversionOf(policy: Policy, journey: string): Pick<Decision, 'conversion'> {
	const outcomes = journeyPolicy(policy, journey)?.conversion?.outcomes;
	return outcomes ? { conversion: [...new Set(outcomes)] } : {};
}

/** What the journey's rules match an event by: its name, or its type for calls without one (identify). */
export function eventKey(event: Pick<CustomerEvent, 'name' | 'type'>): string {
	return event.name ?? event.type;
}

/** Every event name a journey records as an outcome of its messages (policy `journeys.<id>.outcomes`). */
export function outcomeEventNames(policy: Pick<Policy, 'journeys'>): string[] {
	return [...new Set(Object.values(policy.journeys).flatMap((j) => Object.keys(j.outcomes ?? {})))];
}

/** Does this event start a message decision in the journey? Every event does unless `triggers` is set. */
export function startsMessage(policy: Policy, journey: string, event: Pick<CustomerEvent, 'name' | 'type'>): boolean {
	const triggers = journeyPolicy(policy, journey)?.triggers;
	return !triggers || triggers.some((t) => sameEventName(t, eventKey(event)));
}

/** The outcome this event stands for in the journey, with its amount when the policy names the property. */
export function outcomeOfEvent(policy: Policy, journey: string, event: CustomerEvent): { type: NonNullable<Decision['outcomeFor']>['type']; value?: number } | undefined {
	const outcomes = journeyPolicy(policy, journey)?.outcomes ?? {};
	const key = Object.keys(outcomes).find((name) => sameEventName(name, eventKey(event)));
	if (!key) return undefined;
	const rule = outcomes[key];
	const raw = rule.value ? readPath(event.properties, rule.value) : undefined;
	const value = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() ? Number(raw) : undefined;
	if (value !== undefined && Number.isFinite(value) && value >= 0) return { type: rule.type, value };
	// A revenue outcome needs its amount: without one the event still counts as a conversion.
	return { type: rule.type === 'revenue' ? 'conversion' : rule.type };
}

/** The journey's own score settings, or the policy's. */
export function scoringFor(policy: Policy, journey: string): ScoringPolicy {
	return journeyPolicy(policy, journey)?.scoring ?? policy.scoring;
}

/** The offer depth for a score tier (journeys with `offers`). */
export function offerFor(policy: Policy, journey: string, score: Score | undefined): number | undefined {
	const offers = journeyPolicy(policy, journey)?.offers;
	return offers && score ? offers[score.tier] : undefined;
}

/** Whether this score hands the contact to a person (e.g. a sales task) rather than a message. */
export function escalationFor(policy: Policy, journey: string, score: Score | undefined): { channel: Channel; category: string } | undefined {
	const escalate = journeyPolicy(policy, journey)?.escalate;
	return escalate && score && escalate.tiers.includes(score.tier) ? { channel: escalate.channel, category: escalate.category } : undefined;
}

/**
 * What the person taking over an escalated contact needs: who they are, what they showed interest in (the
 * journey's trigger events they did, most frequent first) and why they scored as they did.
 */
export function handoffFor(policy: Policy, journey: string, profile: Profile, score: Score): NonNullable<Decision['handoff']> {
	const triggers = (journeyPolicy(policy, journey)?.triggers ?? Object.keys(profile.counters)).filter((t) => t !== 'identify');
	const interests = triggers
		.map((event) => ({ event, count: eventCount(profile, event) }))
		.filter((i) => i.count > 0)
		.sort((a, b) => b.count - a.count || a.event.localeCompare(b.event));
	const topFactors = score.factors.filter((f) => f.contribution > 0).slice(0, 3).map((f) => `${f.label} (+${f.contribution})`);
	const t = profile.traits as Record<string, unknown>;
	const text = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);
	const role = [text(t.title), text(t.company)].filter(Boolean).join(', ');
	const who = `${text(t.name) ?? profile.email ?? profile.contactId}${role ? ` (${role})` : ''}`;
	return { summary: handoffSummary(who, score, interests, topFactors), interests, topFactors };
}

/**
 * A journey in one call (CLI replay, benchmarks): event in → the same stages as the flows' nodes, with
 * the journey's branches (not a trigger, an outcome of an earlier message, escalation, offers by tier).
 */
export function runJourney(engine: Engine, journey: JourneyName, rawEvent: unknown, target: SendTarget): Promise<Decision> {
	return engine.decide(rawEvent, { journey, target });
}
