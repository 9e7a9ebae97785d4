import { iterateDecisions } from '../audit/export';
import type { Decision } from '../audit/schema';
import { contactHourKeys } from '../store/types';
import { NudgeError } from '../errors';
import type { Profile } from '../profiles/schema';
import { contactIds } from '../profiles/profiles';
import type { Store } from '../store/types';
import { parseContactRef, resolveContact } from './erase';
import { isoTime } from '../util/isoTime';

/** Everything Nudge holds about one contact (GDPR Art. 15), as one JSON document. */
export interface ContactRecord {
	exportedAt: string;
	contactId: string;
	/** Identities, contact points, traits, consent per channel, event counts, lifecycle, paused journeys. */
	profile?: Profile;
	/** Engagements counted per local hour (0–23) for send-time choice; hours without any are left out. */
	engagementHours: Record<string, number>;
	/** Every decision about the contact (and contacts merged into it), oldest first, with its score, checks, delivery and outcomes. */
	decisions: Decision[];
}

/**
 * Reads the profile, the send-time counts and the whole decision log of one contact. Cap reservations and
 * timers are not listed apart: each reservation is a sent decision's, and a timer waits on an event listed here.
 */
export async function contactRecord(store: Store, input: unknown, now: Date): Promise<ContactRecord> {
	const ref = parseContactRef(input, 'export the contact');
	const contactId = await resolveContact(store, ref);
	if (!contactId) throw new NudgeError('UNKNOWN_CONTACT', `No contact has the email address ${ref.email}`, [], 404);
	const profile = await store.getProfile(contactId);
	const decisions: Decision[] = [];
	// Contacts merged into this one keep their decisions under their own ids.
	const ids = profile ? contactIds(profile) : [contactId];
	for (const id of ids) for await (const d of iterateDecisions(store, { contactId: id })) decisions.push(d);
	decisions.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.decisionId < b.decisionId ? -1 : 1));
	if (!profile && !decisions.length) throw new NudgeError('UNKNOWN_CONTACT', `No contact has the id ${contactId}`, [], 404);
	// Its engagement hours, also those counted under the ids merged into it (erasure deletes those too).
	const stats = await store.getArmStats(ids.flatMap(contactHourKeys));
	const engagementHours: Record<string, number> = {};
	for (const id of ids) {
		contactHourKeys(id).forEach((key, h) => {
			const trials = stats.get(key)?.trials;
			if (trials) engagementHours[h] = (engagementHours[h] ?? 0) + trials;
		});
	}
	return { exportedAt: isoTime(now.getTime()), contactId, ...(profile ? { profile } : {}), engagementHours, decisions };
}
