/**
 * HubSpot webhook events → Nudge events. HubSpot posts a JSON array of up to 100 events per request
 * (https://developers.hubspot.com/docs/api/webhooks#webhook-payloads), each like
 * `{eventId, subscriptionId, portalId, appId, occurredAt (ms), subscriptionType: "contact.propertyChange",
 *   attemptNumber, objectId, propertyName, propertyValue, changeSource}`.
 * A retried delivery carries the same eventId (and a higher attemptNumber), so the event id is built
 * from portal + eventId and the engine's de-duplication drops the retry.
 */
import { z } from 'zod/v4';
import { NudgeError, describeIssues, issuesFromZod } from '../../errors';
import { EVENT_LIMITS, boundedId, boundedString, isForbiddenKey } from '../../events/limits';
import { inIsoYears, isoTime } from '../../util/isoTime';

const id = boundedId()
	.refine((v) => v !== '', 'must not be empty')
	.transform(String);

export const HubSpotWebhookEventSchema = z.object({
	eventId: id,
	portalId: id,
	occurredAt: z.number().refine(inIsoYears, 'must be a time in whole milliseconds since 1970 within the years 0000–9999'),
	subscriptionType: z.string().regex(/^[a-z_]+\.[A-Za-z]+$/, 'must look like contact.propertyChange'),
	objectId: id,
	/** New-style generic subscriptions (object.creation…) say which object: 0-1 contact, 0-3 deal. */
	objectTypeId: boundedString(EVENT_LIMITS.keyChars).optional(),
	/** Becomes a trait's key, so it obeys the bounds of one. */
	propertyName: boundedString(EVENT_LIMITS.keyChars)
		.refine((name) => !isForbiddenKey(name), 'is a name Nudge does not take as a trait ("__proto__", "constructor" and "prototype" are not allowed)')
		.optional(),
	propertyValue: z.unknown().optional(),
	changeSource: z.string().optional(),
	attemptNumber: z.number().optional(),
	subscriptionId: z.unknown().optional(),
	appId: z.unknown().optional(),
});

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
	const identities: Record<string, string> = { hubspotId: hubspotIdentity(objectName, e.objectId) };
	const traits: Record<string, unknown> = {};
	const changed = action === 'propertyChange' && e.propertyName !== undefined;
	if (changed && objectName === 'contact') {
		const value = e.propertyValue;
		traits[e.propertyName!] = value;
		const field = CONTACT_FIELDS.get(e.propertyName!);
		if (field && typeof value === 'string' && value) traits[field] = value;
		if (e.propertyName === 'email' && typeof value === 'string' && value.includes('@')) identities.email = value;
	}
	const name = objectName === 'deal' && e.propertyName === 'dealstage' ? 'Deal Stage Changed' : `${title(objectName)} ${ACTIONS.get(action) ?? title(action)}`;
	return {
		eventId: `hubspot:${e.portalId}:${e.eventId}`,
		source: 'hubspot',
		type: changed && objectName === 'contact' ? 'identify' : 'track',
		name,
		occurredAt: isoTime(e.occurredAt),
		identities,
		traits,
		properties: {
			portalId: e.portalId,
			objectType: objectName,
			objectId: e.objectId,
			subscriptionType: e.subscriptionType,
			...(e.propertyName !== undefined ? { propertyName: e.propertyName, propertyValue: e.propertyValue } : {}),
			...(e.changeSource ? { changeSource: e.changeSource } : {}),
		},
	};
}
