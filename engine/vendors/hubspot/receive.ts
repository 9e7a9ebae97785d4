/**
 * A HubSpot webhook batch taken in: its notifications as events, but a `contact.privacyDeletion` (HubSpot's GDPR
 * delete, https://developers.hubspot.com/docs/api/webhooks) erases the contact through the engine's one erasure path
 * instead. Taken in as an event it left the person's profile in Nudge and wrote one more decision row naming them.
 */
import type { Engine, IngestResult } from '../../engine';
import { describeIssues, issuesFromZod, NudgeError } from '../../errors';
import { checkBatchSize } from '../../events/limits';
import { identityKey } from '../../profiles/profiles';
import { batchRefused, type RefusedEvent } from '../../usecases/ingest';
import { HubSpotWebhookEventSchema, hubspotIdentity } from './normalise';

export interface HubSpotBatchResult {
	results: IngestResult[];
	/** Notifications refused one by one, by their index in the batch. */
	invalid: RefusedEvent[];
	/** Contacts erased by the batch's privacy deletions; undefined when it had none. */
	erased?: number;
}

const isPrivacyDeletion = (raw: unknown) => !!raw && typeof raw === 'object' && (raw as Record<string, unknown>).subscriptionType === 'contact.privacyDeletion';

/**
 * Takes in a batch's valid notifications (refusing the others, as HubSpot never delivers a refused batch again), then
 * erases the contacts its privacy deletions name: after, so a change of the same contact in the batch does not make
 * them again, and the erasure holds the person's events, so HubSpot's retry of one is a duplicate.
 */
export async function ingestHubSpotBatch(engine: Engine, events: unknown[], journey: string): Promise<HubSpotBatchResult> {
	const deletions: { raw: unknown; index: number }[] = [];
	const others: { raw: unknown; index: number }[] = [];
	events.forEach((raw, index) => (isPrivacyDeletion(raw) ? deletions : others).push({ raw, index }));
	if (!deletions.length) {
		const taken = await engine.ingestValid(events, { journey, source: 'hubspot' });
		return { results: taken.results, invalid: taken.invalid };
	}
	checkBatchSize(events.length);
	const batchIndex = (refused: RefusedEvent[]) => refused.map((r) => ({ ...r, index: others[r.index].index }));
	let results: IngestResult[] = [];
	let invalid: RefusedEvent[] = [];
	if (others.length) {
		try {
			const taken = await engine.ingestValid(others.map((o) => o.raw), { journey, source: 'hubspot' });
			results = taken.results;
			invalid = batchIndex(taken.invalid);
		} catch (error) {
			// None of the others could be taken in: they are refused, the deletions still made.
			if (!(error instanceof NudgeError) || error.httpStatus >= 500 || !Array.isArray(error.details.invalid)) throw error;
			invalid = batchIndex(error.details.invalid as RefusedEvent[]);
		}
	}
	const erased = new Set<string>();
	for (const { raw, index } of deletions) {
		const parsed = HubSpotWebhookEventSchema.safeParse(raw);
		if (!parsed.success) {
			const issues = issuesFromZod(parsed.error);
			invalid.push({ index, error: describeIssues(issues), issues });
			continue;
		}
		const contactId = await eraseHubSpotContact(engine, hubspotIdentity('contact', (parsed.data.objectId ?? parsed.data.fromObjectId)!));
		if (contactId !== undefined) erased.add(contactId);
	}
	invalid.sort((a, b) => a.index - b.index);
	if (invalid.length === events.length) throw batchRefused(invalid, events.length, events.length > 1);
	// The batch's other changes of a contact it erased are not handed to the flow: they carry the person's data.
	return { results: results.filter((r) => !erased.has(r.decision.contactId)), invalid, erased: erased.size };
}

/**
 * Erases the contact of a HubSpot id, suppressed: HubSpot retries a failed notification for a day, and one made before
 * the deletion and delivered after it would otherwise make a contactable contact of the person again. Undefined when
 * Nudge has none (never seen, or erased by an earlier delivery).
 */
async function eraseHubSpotContact(engine: Engine, hubspotId: string): Promise<string | undefined> {
	const key = identityKey('hubspotId', hubspotId);
	const contactId = (await engine.store.resolveIdentities([key])).get(key);
	if (contactId === undefined) return undefined;
	try {
		await engine.eraseContact({ contactId }, { suppress: true });
		return contactId;
	} catch (error) {
		// Erased meanwhile by another delivery of the deletion.
		if (error instanceof NudgeError && error.code === 'UNKNOWN_CONTACT') return undefined;
		throw error;
	}
}
