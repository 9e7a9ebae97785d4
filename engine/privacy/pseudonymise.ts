import type { Decision } from '../audit/schema';
import { isOpen } from '../audit/status';
import type { Profile } from '../profiles/schema';
import { IDENTITY_KINDS } from '../profiles/schema';

/** What an erased value reads as in the free text of a pseudonymised decision. */
export const ERASED = '[erased]';

/** Shorter values (a two-letter country, a boolean's "no") are too common to be the person's alone, and would mangle the text. */
const MIN_SCRUBBED_LENGTH = 3;

/**
 * The person's own values, to cut out of a decision's free text: the contact id, every identity, contact point and
 * trait text at any depth (Segment's `address.city`, `company.name`; numbers stay: they cannot be told apart from
 * counts). Longest first, so a value containing another goes whole.
 */
export function personalValues(contactId: string, profile: Profile | undefined, extra: string[] = []): string[] {
	const values = [contactId, ...extra];
	if (profile) {
		for (const kind of IDENTITY_KINDS) values.push(...(profile.identities[kind] ?? []));
		values.push(...[profile.email, profile.phone, profile.pushToken].filter((v): v is string => !!v));
		textsIn(profile.traits, values);
	}
	return [...new Set(values.map((v) => v.trim()).filter((v) => v.length >= MIN_SCRUBBED_LENGTH))].sort((a, b) => b.length - a.length);
}

/** Every text inside a trait value (objects and arrays walked; traits are bounded in size and depth at ingest). */
function textsIn(value: unknown, into: string[]): void {
	if (typeof value === 'string') into.push(value);
	else if (value && typeof value === 'object') for (const inner of Object.values(value)) textsIn(inner, into);
}

/**
 * The person's values cut out of a text in any case (an address typed "Ana@Example.org" is stored lower-cased), also
 * as a link's parameter writes them (`ana%40example.org`).
 */
function scrubber(personal: string[]): <T extends string | undefined>(text: T) => T {
	if (!personal.length) return (text) => text;
	const spellings = [...new Set(personal.flatMap((v) => [v, encodeURIComponent(v)]))].sort((a, b) => b.length - a.length);
	const values = new RegExp(spellings.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'gi');
	return (text) => (text === undefined ? text : (text.replace(values, ERASED) as typeof text));
}

/**
 * A decision as the log keeps it after its contact is erased: the same decision, status, reason, rule, channel,
 * score value and tier, guard checks, outcomes and trail, so counts and lift do not move; under a pseudonym, without
 * what only describes the person or the message: annotations (what flows attached, e.g. message text), the hand-off
 * brief, the score's and the uplift gate's factors (trait values in words), a reviewer's note, the provider's message
 * id and error text, an agent request's hash (of the contact id and the message: recomputed by anyone holding both, it
 * would link the pseudonym back). Every other free text loses the person's values (`personal`, in any case), the
 * trail's included (a repeated outcome's id). A decision still
 * open (pending, delayed, in review) ends suppressed CONTACT_ERASED: its wait or review would never send it.
 */
export function pseudonymiseDecision(d: Decision, pseudonym: string, personal: string[], erasedAt: string): Decision {
	const scrub = scrubber(personal);
	const out: Decision = {
		...d,
		handoff: undefined,
		contactId: pseudonym,
		explanation: scrub(d.explanation),
		event: { ...d.event, eventId: scrub(d.event.eventId), name: scrub(d.event.name) },
		candidates: d.candidates?.map((c) => ({ ...c, detail: scrub(c.detail) })),
		choice: d.choice && { ...d.choice, context: scrub(d.choice.context) },
		variantChoice: d.variantChoice && { ...d.variantChoice, context: scrub(d.variantChoice.context) },
		score: d.score && { ...d.score, factors: [], note: scrub(d.score.note) },
		uplift: d.uplift && { ...d.uplift, factors: [], note: scrub(d.uplift.note) },
		guard: d.guard && { ...d.guard, checks: d.guard.checks.map((c) => ({ ...c, detail: scrub(c.detail) })) },
		review: d.review && { ...d.review, note: undefined },
		// What an agent wrote to the person, and a key it may have named after them.
		agent: d.agent && { ...d.agent, idempotencyKey: scrub(d.agent.idempotencyKey), content: undefined, requestHash: ERASED },
		delivery: d.delivery && { ...d.delivery, providerMessageId: undefined, error: undefined },
		outcomes: d.outcomes.map((o) => ({ ...o, outcomeId: scrub(o.outcomeId) })),
		outcomeFor: d.outcomeFor && { ...d.outcomeFor, outcomeId: scrub(d.outcomeFor.outcomeId) },
		trail: d.trail.map((t) => ({ ...t, stage: scrub(t.stage) })),
		annotations: { erasedAt },
	};
	// Not ended yet: after an erasure nothing may take it up again, so it ends here.
	if (isOpen(d.status)) {
		Object.assign(out, { status: 'suppressed', reason: 'CONTACT_ERASED', explanation: 'the contact was erased before this decision ended: nothing is sent', loggedAt: erasedAt });
		out.trail = [...out.trail, { stage: 'erase', at: erasedAt, status: 'suppressed' }];
		delete out.ruleId;
	}
	// Drops the fields left undefined, as a stored decision never has them.
	return JSON.parse(JSON.stringify(out)) as Decision;
}
