/**
 * HubSpot webhook events → Nudge events. HubSpot posts a JSON array of up to 100 events per request
 * (https://developers.hubspot.com/docs/api/webhooks#webhook-payloads), each like
 * `{eventId, subscriptionId, portalId, appId, occurredAt (ms), subscriptionType: "contact.propertyChange",
 *   attemptNumber, objectId, propertyName, propertyValue, changeSource}`.
 * A retried delivery carries the same eventId (and a higher attemptNumber), but HubSpot documents eventId as "not
 * guaranteed to be unique" (one change firing two subscriptions shares it): the event id is built from the
 * notification's stable fields (hubspotEventId), so the engine's de-duplication drops a retry and nothing else.
 * Association changes name their objects `fromObjectId`/`toObjectId` (no objectId); merges name the records folded in
 * (`mergedObjectIds`), which the profile module links to the contact (profiles.ts aliasesOf).
 */
import { z } from 'zod/v4';
import { NudgeError, describeIssues, issuesFromZod } from '../../errors';
import { EVENT_LIMITS, boundedId, boundedString, isForbiddenKey } from '../../events/limits';
import { MERGED_HUBSPOT_IDS } from '../../events/schema';
import { contentHash } from '../../ids';
import { runtimeZoneName, timeZoneOf } from '../../policy/timeZone';
import { inIsoYears, isoTime } from '../../util/isoTime';

const id = boundedId()
	.refine((v) => v !== '', 'must not be empty')
	.transform(String);

export const HubSpotWebhookEventSchema = z.object({
	eventId: id,
	portalId: id,
	occurredAt: z.number().refine(inIsoYears, 'must be a time in whole milliseconds since 1970 within the years 0000–9999'),
	subscriptionType: z.string().regex(/^[a-z_]+\.[A-Za-z]+$/, 'must look like contact.propertyChange'),
	/** Absent from association changes, which name fromObjectId instead. */
	objectId: id.optional(),
	fromObjectId: id.optional(),
	toObjectId: id.optional(),
	associationType: boundedString(EVENT_LIMITS.keyChars).optional(),
	associationRemoved: z.boolean().optional(),
	/** A merge: the records folded into the primary one, and the record that results. */
	primaryObjectId: id.optional(),
	mergedObjectIds: z.array(id).max(100, 'names at most 100 records').optional(),
	newObjectId: id.optional(),
	/** New-style generic subscriptions (object.creation…) say which object: 0-1 contact, 0-3 deal. */
	objectTypeId: boundedString(EVENT_LIMITS.keyChars).optional(),
	/** Becomes a trait's key, so it obeys the bounds of one. */
	propertyName: boundedString(EVENT_LIMITS.keyChars)
		.refine((name) => !isForbiddenKey(name), 'is a name Nudge does not take as a trait ("__proto__", "constructor" and "prototype" are not allowed)')
		.optional(),
	propertyValue: z.unknown().optional(),
	changeSource: z.string().optional(),
	attemptNumber: z.number().optional(),
	subscriptionId: id.optional(),
	appId: z.unknown().optional(),
}).refine((e) => e.objectId !== undefined || e.fromObjectId !== undefined, { message: 'is required (or fromObjectId, for an association change)', path: ['objectId'] });
type HubSpotWebhookEvent = z.infer<typeof HubSpotWebhookEventSchema>;

// Maps, not object literals: a sender's text ("constructor", "toString") must not find Object.prototype's members.
const OBJECT_TYPE_IDS = new Map([
	['0-1', 'contact'],
	['0-2', 'company'],
	['0-3', 'deal'],
	['0-5', 'ticket'],
]);
const ACTIONS = new Map([
	['creation', 'Created'],
	['deletion', 'Deleted'],
	['propertyChange', 'Property Changed'],
	['merge', 'Merged'],
	['restore', 'Restored'],
	['associationChange', 'Association Changed'],
	['privacyDeletion', 'Privacy Deleted'],
]);

/** HubSpot contact properties that are Nudge profile fields (the rest stay traits under their own name). */
const CONTACT_FIELDS = new Map([
	['mobilephone', 'phone'],
	['phone', 'phone'],
	['hs_timezone', 'timezone'],
	['lifecyclestage', 'lifecycle'],
]);

const title = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

/**
 * The IANA zone of a HubSpot time zone value (hs_timezone, whose options read "america_slash_los_angeles",
 * "us_slash_eastern", "america_slash_port_hyphen_au_hyphen_prince"), for the webhook and the polling paths alike:
 * copied as it came it named no zone, and quiet hours and send times fell back to the policy's. HubSpot's words are
 * read back ("_slash_" "/", "_hyphen_" "-") and asked of the runtime's zones, aliases and current names included (its
 * list of canonical names has neither Asia/Kolkata nor US/Eastern); one that names no zone is undefined (left out).
 */
export function hubspotTimeZone(value: unknown): string | undefined {
	if (typeof value !== 'string' || !value) return undefined;
	const name = value.replace(/_slash_/gi, '/').replace(/_hyphen_/gi, '-');
	// Named in lower case, as HubSpot writes it: the runtime's own name for the zone ("us/eastern" → America/New_York),
	// whatever spellings of it contacts have used.
	return timeZoneOf(name) === undefined ? undefined : runtimeZoneName(name);
}

/**
 * The event id of a notification: what tells it from another that shares its eventId (the subscription, the object,
 * the property or association) and nothing a retry changes (attemptNumber, occurredAt). An id past the engine's bound
 * (HubSpot's ids are numbers, but a sender's may be long text) is a hash of the same fields.
 */
function hubspotEventId(e: HubSpotWebhookEvent, objectId: string): string {
	const association = e.toObjectId !== undefined ? [e.toObjectId, e.associationType ?? '', e.associationRemoved ? 'removed' : 'added'] : [];
	const parts = [e.portalId, e.eventId, e.subscriptionId ?? '', objectId, ...association, ...(e.propertyName !== undefined ? [e.propertyName] : [])];
	const text = `hubspot:${parts.join(':')}`;
	return text.length <= EVENT_LIMITS.idChars ? text : `hubspot:${contentHash(parts, 32)}`;
}

/** The other records a merge made into this one (primary, merged and resulting records), as HubSpot names them. */
function mergedRecords(e: HubSpotWebhookEvent, objectId: string): string[] {
	const ids = [e.primaryObjectId, ...(e.mergedObjectIds ?? []), e.newObjectId].filter((v): v is string => v !== undefined && v !== objectId);
	return [...new Set(ids)];
}

/**
 * The contact a HubSpot record stands for. A contact is the person; any other record (deal, company…)
 * is its own Nudge contact keyed `hubspotId = "<object>:<id>"`, so deal events can still drive
 * decisions such as a task for the deal owner.
 */
export function hubspotIdentity(objectName: string, objectId: string): string {
	return objectName === 'contact' ? objectId : `${objectName}:${objectId}`;
}

/** One HubSpot webhook event as a Nudge-format event (validated again by the engine like any other). */
export function fromHubSpotWebhook(raw: Record<string, unknown>): Record<string, unknown> {
	const parsed = HubSpotWebhookEventSchema.safeParse(raw);
	if (!parsed.success) {
		const issues = issuesFromZod(parsed.error);
		throw new NudgeError('INVALID_EVENT', `HubSpot event is not valid: ${describeIssues(issues)}`, issues);
	}
	const e = parsed.data;
	const [prefix, action] = e.subscriptionType.split('.');
	const objectName = prefix === 'object' ? (OBJECT_TYPE_IDS.get(e.objectTypeId ?? '') ?? `object_${e.objectTypeId ?? 'unknown'}`) : prefix;
	// An association change starts from fromObjectId: the event is about that object.
	const objectId = (e.objectId ?? e.fromObjectId)!;
	const identities: Record<string, string> = { hubspotId: hubspotIdentity(objectName, objectId) };
	const traits: Record<string, unknown> = {};
	const changed = action === 'propertyChange' && e.propertyName !== undefined;
	if (changed && objectName === 'contact') {
		const value = e.propertyValue;
		traits[e.propertyName!] = value;
		const field = CONTACT_FIELDS.get(e.propertyName!);
		const fieldValue = field === 'timezone' ? hubspotTimeZone(value) : value;
		if (field && typeof fieldValue === 'string' && fieldValue) traits[field] = fieldValue;
		if (e.propertyName === 'email' && typeof value === 'string' && value.includes('@')) identities.email = value;
	}
	const merged = action === 'merge' ? mergedRecords(e, objectId) : [];
	const name = objectName === 'deal' && e.propertyName === 'dealstage' ? 'Deal Stage Changed' : `${title(objectName)} ${ACTIONS.get(action) ?? title(action)}`;
	return {
		eventId: hubspotEventId(e, objectId),
		source: 'hubspot',
		type: changed && objectName === 'contact' ? 'identify' : 'track',
		name,
		occurredAt: isoTime(e.occurredAt),
		identities,
		traits,
		properties: {
			portalId: e.portalId,
			objectType: objectName,
			objectId,
			subscriptionType: e.subscriptionType,
			...(e.propertyName !== undefined ? { propertyName: e.propertyName, propertyValue: e.propertyValue } : {}),
			...(e.toObjectId !== undefined ? { toObjectId: e.toObjectId, associationType: e.associationType, associationRemoved: e.associationRemoved } : {}),
			...(merged.length ? { [MERGED_HUBSPOT_IDS]: merged.map((id) => hubspotIdentity(objectName, id)) } : {}),
			...(e.changeSource ? { changeSource: e.changeSource } : {}),
		},
	};
}
