import { z } from 'zod/v4';
import { EVENT_LIMITS, boundedId, boundedString, isForbiddenKey } from './limits';
import { inIsoYears, isoTime, parseTime } from '../util/isoTime';

const id = () => boundedString(EVENT_LIMITS.idChars).min(1);
// An event's name keys the contact's counters: "__proto__" could not be one.
export const eventName = () => boundedString(EVENT_LIMITS.nameChars).refine((name) => !isForbiddenKey(name), 'is a name Nudge does not take ("__proto__", "constructor" and "prototype" are not allowed)');

/** Event names are matched without regard to case everywhere a policy names them (journeys, negative triggers). */
export const eventNameKey = (name: string): string => name.toLowerCase();
export const sameEventName = (a: string, b: string): boolean => eventNameKey(a) === eventNameKey(b);

export const EVENT_SOURCES = ['segment', 'hubspot', 'salesforce', 'webhook', 'nudge'] as const;
export const EVENT_TYPES = ['identify', 'track', 'page', 'group', 'alias'] as const;

/** The identities an event can carry; the profile module stitches them into one contact. */
export const IdentitiesSchema = z
	.object({
		contactId: id().optional(),
		email: boundedString(EVENT_LIMITS.emailChars).pipe(z.email('is not a valid email address')).optional(),
		userId: id().optional(),
		anonymousId: id().optional(),
		hubspotId: id().optional(),
		salesforceId: id().optional(),
	})
	.strict();
export type Identities = z.infer<typeof IdentitiesSchema>;

/**
 * An ISO 8601 date-time that is a real time of the years 0000–9999 (the pattern alone passes an offset such as +99:99,
 * which no clock has), kept in one form, UTC with milliseconds (`isoTime`): times from senders in other offsets or
 * precisions then compare as text wherever the engine compares them (a profile's last seen, retention, the log).
 */
export const isoDate = z.iso
	.datetime({ offset: true, message: 'must be an ISO 8601 date-time, e.g. 2026-11-21T09:30:00Z', abort: true })
	.refine((text) => inIsoYears(parseTime(text)), 'is not a real time: its UTC offset must be between -23:59 and +23:59, and the time within the years 0000–9999')
	.transform((text) => {
		// zod runs a transform after a failed refinement too: text that is no time stays as it is (and is refused).
		const ms = parseTime(text);
		return inIsoYears(ms) ? isoTime(ms) : text;
	});

/** One event from any source, after normalisation. */
export const CustomerEventSchema = z.object({
	eventId: id(),
	source: z.enum(EVENT_SOURCES),
	type: z.enum(EVENT_TYPES),
	name: eventName().min(1).optional(),
	occurredAt: isoDate,
	receivedAt: isoDate,
	identities: IdentitiesSchema.refine((ids) => Object.values(ids).some(Boolean), {
		message: 'the event names no contact: give at least one of email, userId, anonymousId, hubspotId, salesforceId or contactId',
	}),
	traits: z.record(z.string(), z.unknown()).default({}),
	properties: z.record(z.string(), z.unknown()).default({}),
});
export type CustomerEvent = z.infer<typeof CustomerEventSchema>;

/** Nudge's own input format: the normalised event with the bookkeeping fields optional. */
export const NudgeEventInputSchema = CustomerEventSchema.extend({
	eventId: id().optional(),
	source: z.enum(EVENT_SOURCES).optional(),
	occurredAt: isoDate.optional(),
	receivedAt: isoDate.optional(),
}).refine((e) => e.type !== 'track' || !!e.name, { message: 'a track event needs a name', path: ['name'] });

/** A property of a HubSpot merge's event: the records folded into its contact, as hubspotId values (profiles.ts links them). */
export const MERGED_HUBSPOT_IDS = 'mergedHubspotIds';

/** Segment's common fields (https://segment.com/docs/connections/spec/common/). */
export const SegmentEventSchema = z
	.object({
		type: z.enum(EVENT_TYPES),
		messageId: id().optional(),
		userId: boundedId().nullish(),
		anonymousId: boundedId().nullish(),
		previousId: boundedString(EVENT_LIMITS.idChars).nullish(),
		groupId: boundedString(EVENT_LIMITS.idChars).nullish(),
		event: eventName().optional(),
		name: eventName().optional(),
		traits: z.record(z.string(), z.unknown()).optional(),
		properties: z.record(z.string(), z.unknown()).optional(),
		context: z.record(z.string(), z.unknown()).optional(),
		timestamp: isoDate.optional(),
		originalTimestamp: isoDate.optional(),
		sentAt: isoDate.optional(),
		receivedAt: isoDate.optional(),
	})
	.refine((e) => e.userId != null || e.anonymousId != null, {
		message: 'a Segment event needs a userId or an anonymousId',
		path: ['userId'],
	})
	.refine((e) => e.type !== 'track' || !!e.event, { message: 'a Segment track call needs an event name', path: ['event'] })
	.refine((e) => e.type !== 'alias' || !!e.previousId, { message: 'a Segment alias call needs a previousId', path: ['previousId'] })
	.refine((e) => e.type !== 'group' || !!e.groupId, { message: 'a Segment group call needs a groupId', path: ['groupId'] });
export type SegmentEvent = z.infer<typeof SegmentEventSchema>;
