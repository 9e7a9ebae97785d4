import { z } from 'zod/v4';
import { ChannelSchema, ConsentStateSchema } from '../channels';

export const IDENTITY_KINDS = ['email', 'userId', 'anonymousId', 'hubspotId', 'salesforceId'] as const;
export type IdentityKind = (typeof IDENTITY_KINDS)[number];

export const ProfileSchema = z.object({
	contactId: z.string(),
	createdAt: z.string(),
	updatedAt: z.string(),
	/** Every identity ever seen for this contact, by kind. */
	identities: z.partialRecord(z.enum(IDENTITY_KINDS), z.array(z.string())),
	traits: z.record(z.string(), z.unknown()),
	/**
	 * When each trait's value in force was stated (its event's time; `email` also for the address the contact is mailed
	 * at): a statement delivered after a newer one (a HubSpot retry, a Segment replay) changes nothing. Traits saved
	 * before it was kept have no time, and any event replaces them.
	 */
	traitsAt: z.record(z.string(), z.string()).optional(),
	email: z.string().optional(),
	phone: z.string().optional(),
	pushToken: z.string().optional(),
	timezone: z.string().optional(),
	consent: z.partialRecord(ChannelSchema, ConsentStateSchema),
	/** When each channel's consent in force was stated (its event's or outcome's time): an older statement changes nothing. */
	consentAt: z.partialRecord(ChannelSchema, z.string()).optional(),
	/** Count of each event name seen, e.g. `{"Email Opened": 4}`. */
	counters: z.record(z.string(), z.number()),
	firstSeenAt: z.string(),
	lastSeenAt: z.string(),
	lastEngagedAt: z.string().optional(),
	lifecycle: z.string().optional(),
	/**
	 * What the contact's holdout buckets are drawn from (decide/holdout.ts), fixed at its first event: a user id that
	 * comes later, or a merge, never moves the person to the other arm of an experiment.
	 */
	holdoutKey: z.string().optional(),
	/** Contacts folded into this one when an event linked them: their decisions still name them (erasure finds them here). */
	mergedFrom: z.array(z.string()).optional(),
	/**
	 * Merged contacts whose frequency-cap ledgers are still to move to this one: set by the save that merged them, and
	 * cleared by this contact's next update once it moved them (a move that failed after the save is made then).
	 */
	capLedgerFrom: z.array(z.string()).optional(),
	/** Never contact: an identity of this contact belonged to a person erased at their request with suppression (engine/privacy). */
	doNotContact: z.boolean().optional(),
	/** When each negative trigger's pause was last cleared (its clearing event's time): an older start pauses nothing. */
	pausesClearedAt: z.record(z.string(), z.string()).optional(),
	/**
	 * The events this profile took in last (TAKEN_IN_KEPT 6-character hashes of their ids in one text, newest last; an
	 * earlier version kept a list of 8-character ones): an event that a second
	 * journey's trigger receives opens a decision there but is applied to the profile once. `since` (ms, the engine's
	 * clock): from when the list names every event the contact took in (0: from its first event; for a contact saved by
	 * an earlier version, or merged with one, its next update by this one); events taken in before then may have the
	 * store-wide mark earlier versions set.
	 */
	takenIn: z.object({ since: z.number().optional(), ids: z.union([z.string(), z.array(z.string())]) }).optional(),
	/** Journeys paused by negative triggers, by trigger id (DESIGN §4). */
	pauses: z
		.record(z.string(), z.object({ since: z.string(), until: z.string().optional(), event: z.string().optional() }))
		.optional(),
});
export type Profile = z.infer<typeof ProfileSchema>;
