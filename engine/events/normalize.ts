import { NudgeError, describeIssues, issuesFromZod } from '../errors';
import { contentHash } from '../ids';
import { fromHubSpotWebhook } from '../vendors/hubspot/normalise';
import { normalizeConsent } from './consent';
import { checkEventBounds, checkJsonSize } from './limits';
import {
	CustomerEvent,
	CustomerEventSchema,
	IdentitiesSchema,
	NudgeEventInputSchema,
	SegmentEvent,
	SegmentEventSchema,
} from './schema';
import { beyondClockSkew, isoTime, parseTime } from '../util/isoTime';
import { isRecord } from '../util/isRecord';


/** Segment payloads carry messageId / userId / anonymousId at the top level; ours carry `identities`. */
export function looksLikeSegment(raw: Record<string, unknown>): boolean {
	return !('identities' in raw) && ('messageId' in raw || 'userId' in raw || 'anonymousId' in raw);
}

function invalid(what: string, issues: ReturnType<typeof issuesFromZod>): NudgeError {
	return new NudgeError('INVALID_EVENT', `${what} is not valid: ${describeIssues(issues)}`, issues);
}

function fromSegment(raw: Record<string, unknown>, now: Date): CustomerEvent {
	const parsed = SegmentEventSchema.safeParse(raw);
	if (!parsed.success) throw invalid('Segment event', issuesFromZod(parsed.error));
	const e: SegmentEvent = parsed.data;
	const contextTraits = isRecord(e.context?.traits) ? e.context.traits : {};
	// A group call's traits describe the account, not the person (its email is the account's billing address): only
	// the person's context traits are theirs; the account's are kept apart below.
	const traits: Record<string, unknown> = e.type === 'group' ? { ...contextTraits } : { ...contextTraits, ...(e.traits ?? {}) };
	if (typeof e.context?.timezone === 'string' && !traits.timezone) traits.timezone = e.context.timezone;
	// Only a valid address becomes the email identity, as for a Nudge-format event (withTraitEmail): "Jane Doe <jane@…>"
	// stays a trait, and the event (a whole Segment batch) is taken in by its other ids instead of refused.
	const email = [traits.email, e.properties?.email].find((v) => typeof v === 'string' && IdentitiesSchema.shape.email.safeParse(v).success) as string | undefined;
	const occurredAt = e.timestamp ?? e.originalTimestamp ?? e.sentAt ?? isoTime(now.getTime());
	const properties: Record<string, unknown> = { ...(e.properties ?? {}) };
	if (e.type === 'group') {
		if (e.groupId) traits.groupId = e.groupId;
		traits.group = { ...(e.groupId ? { id: e.groupId } : {}), ...(e.traits ?? {}) };
	}
	// alias: the profile module links previousId (an old userId or anonymousId) to userId.
	if (e.type === 'alias' && e.previousId) properties.previousId = e.previousId;
	return finish({
		eventId: e.messageId ?? `seg_${contentHash(raw)}`,
		source: 'segment',
		type: e.type,
		name: e.type === 'track' ? e.event : e.type === 'page' ? (e.name ?? 'Page Viewed') : undefined,
		occurredAt,
		receivedAt: isoTime(now.getTime()),
		identities: {
			...(e.userId != null ? { userId: String(e.userId) } : {}),
			...(e.anonymousId != null ? { anonymousId: String(e.anonymousId) } : {}),
			...(email ? { email } : {}),
		},
		traits,
		properties,
	});
}

function fromNudge(raw: Record<string, unknown>, now: Date, source: CustomerEvent['source']): CustomerEvent {
	const parsed = NudgeEventInputSchema.safeParse(raw);
	if (!parsed.success) throw invalid('Event', issuesFromZod(parsed.error));
	const e = parsed.data;
	return finish({
		...e,
		eventId: e.eventId ?? `evt_${contentHash(raw)}`,
		source: e.source ?? source,
		occurredAt: e.occurredAt ?? isoTime(now.getTime()),
		receivedAt: e.receivedAt ?? isoTime(now.getTime()),
	});
}

/**
 * The address a contact is mailed at is one of its identities, wherever the sender put it: an email given only as a
 * trait (a CRM sync's `traits.email`) is checked against the suppression list, stitches the contact and finds it for
 * an export or an erasure like one given as an identity. A trait that is no email address stays a trait, unused.
 */
function withTraitEmail(event: CustomerEvent): CustomerEvent {
	const email = event.traits?.email;
	if (event.identities?.email || typeof email !== 'string' || !IdentitiesSchema.shape.email.safeParse(email).success) return event;
	return { ...event, identities: { ...event.identities, email } };
}

/** The event's consent in Nudge's own words (events/consent.ts); a state that is none is refused, naming its field. */
function withConsent(event: CustomerEvent): CustomerEvent {
	if (!isRecord(event.traits) || event.traits.consent === undefined) return event;
	const { consent, issues } = normalizeConsent(event.traits.consent);
	if (issues.length) throw invalid('Event', issues);
	return { ...event, traits: { ...event.traits, consent } };
}

function finish(event: CustomerEvent): CustomerEvent {
	const parsed = CustomerEventSchema.safeParse(withConsent(withTraitEmail(event)));
	if (!parsed.success) throw invalid('Event', issuesFromZod(parsed.error));
	if (parsed.data.identities.email) parsed.data.identities.email = parsed.data.identities.email.toLowerCase();
	return parsed.data;
}

/**
 * An event dated later than it was received, beyond the clock skew allowed (a device clock set years ahead, a test
 * date), is taken as happening when it was received: its own time would keep the contact "seen" until then (never
 * erased as inactive) and outrank every real statement meanwhile (an opt-in, a purchase ending a pause). Taken in, not
 * refused: one such event would otherwise fail a whole Segment batch.
 */
function notAhead(event: CustomerEvent, now: number): CustomerEvent {
	const ahead = (time: string) => beyondClockSkew(parseTime(time), now);
	if (!ahead(event.occurredAt) && !ahead(event.receivedAt)) return event;
	const received = ahead(event.receivedAt) ? isoTime(now) : event.receivedAt;
	return { ...event, receivedAt: received, occurredAt: ahead(event.occurredAt) ? received : event.occurredAt };
}

/**
 * Normalises a payload in Nudge's own format or Segment's spec format into a CustomerEvent.
 * Events without an id get a content hash, so a re-sent identical payload is recognised as a duplicate.
 * The event's bounds (size, nesting, keys, text) are checked first, so nothing below walks an unbounded payload.
 */
export function normalizeEvent(
	raw: unknown,
	options: { source?: CustomerEvent['source']; now?: Date; /** Times past `now` (and the skew allowed) are taken as `now` (notAhead); not on the event clock (replay). */ notAfterNow?: boolean } = {},
): CustomerEvent {
	const event = normalizeAny(raw, options);
	return options.notAfterNow ? notAhead(event, (options.now ?? new Date()).getTime()) : event;
}

function normalizeAny(raw: unknown, options: { source?: CustomerEvent['source']; now?: Date }): CustomerEvent {
	const now = options.now ?? new Date();
	if (typeof raw === 'string') {
		checkJsonSize(raw);
		try {
			raw = JSON.parse(raw);
		} catch {
			throw new NudgeError('INVALID_EVENT', 'Event is not valid JSON');
		}
	}
	if (!isRecord(raw)) {
		throw new NudgeError('INVALID_EVENT', 'Event must be a JSON object with a type and the contact it is about');
	}
	checkEventBounds(raw);
	// HubSpot webhook events; the polling trigger hands over events already in Nudge format.
	if (options.source === 'hubspot' && !('identities' in raw)) return fromNudge(fromHubSpotWebhook(raw), now, 'hubspot');
	if (options.source === 'segment' || looksLikeSegment(raw)) return fromSegment(raw, now);
	return fromNudge(raw, now, options.source ?? 'nudge');
}
