import { z } from 'zod/v4';
import { iterateDecisions } from '../audit/export';
import type { Decision } from '../audit/schema';
import type { Profile } from '../profiles/schema';
import { contactHourKeys } from '../store/types';
import { describeIssues, issuesFromZod, NudgeError } from '../errors';
import { newId } from '../ids';
import { identityLockKey, withIdentityLocks } from '../profiles/identityLock';
import { contactIdKey, identityKey, profileById, profileIdentityKeys } from '../profiles/profiles';
import type { ErasureCounts, Store } from '../store/types';
import { personalValues, pseudonymiseDecision } from './pseudonymise';
import { type HeldKey, releaseHeld, SEND_UNDER_WAY_WAIT_MS, stopSends } from './stopSends';
import { suppressIdentities } from './suppression';
import { isoTime } from '../util/isoTime';
import { storableText } from '../events/limits';
import { eventMarkKey } from '../events/eventClaim';

/** One contact, named by its contact id or by an email address it was seen with. */
export const ContactRefSchema = z
	.object({
		// Not trimmed: a contact id is exact, as ingest keeps it (" x" and "x" are two people).
		contactId: storableText(z.string().min(1, 'give a contact id').max(512, 'at most 512 characters')).optional(),
		// An address as events give it: other text (a contact id, a request posted as text) names nobody, and erasing by
		// it would answer as if it had erased someone.
		email: storableText(z.string().trim().min(3, 'give an email address').max(320, 'at most 320 characters'))
			.pipe(z.email('is not an email address (to name the contact by its id, give contactId)'))
			.optional(),
	})
	.strict()
	.refine((r) => (r.contactId === undefined) !== (r.email === undefined), { message: 'name the contact by its contact id or by its email address (one of them)' });
export type ContactRef = z.infer<typeof ContactRefSchema>;

export function parseContactRef(input: unknown, action: string): ContactRef {
	const parsed = ContactRefSchema.safeParse(input);
	if (!parsed.success) {
		const issues = issuesFromZod(parsed.error);
		throw new NudgeError('INVALID_INPUT', `Cannot ${action}: ${describeIssues(issues)}`, issues);
	}
	return parsed.data;
}

/**
 * The contact id the reference names, or undefined when no contact has that email address. A contact id merged into
 * another contact names that contact: the person's data lives on there.
 */
export async function resolveContact(store: Store, ref: ContactRef): Promise<string | undefined> {
	if (ref.contactId) return (await profileById(store, ref.contactId))?.contactId ?? ref.contactId;
	const key = identityKey('email', ref.email!);
	return (await store.resolveIdentities([key])).get(key);
}

export interface EraseOptions {
	/** Keep a salted hash of the person's identities, so a later event from them makes a do-not-contact contact. */
	suppress?: boolean;
}

/** The journeys an erased person's events are held in as taken in, and for how long (the policy's de-duplication window). */
export interface ErasedEventHold {
	journeys: string[];
	windowMs: number;
	/** On the event clock (replays) decisions are dated by their events: every one is looked at, not the last window's. */
	eventClock?: boolean;
}

/** The agents' blast radius marks of a person (agents/blastRadius.ts blastRadiusTouches), deleted with them. */
export interface AgentTouches {
	windowMs: number;
	keys(contactIds: string[], agentIds: string[]): string[];
}

/** The marks of the agents that acted on the person within the longest `contacts` rule's window. */
export async function agentTouchKeys(store: Store, contactIds: string[], now: number, touches: AgentTouches): Promise<string[]> {
	const agentIds = new Set<string>();
	for await (const d of iterateDecisions(store, { contactIds, from: isoTime(now - touches.windowMs) })) if (d.agent) agentIds.add(d.agent.agentId);
	return agentIds.size ? touches.keys(contactIds, [...agentIds]) : [];
}

/** Marks set at once while an erasure holds the person's events (each a store call; a policy may name 1,000 journeys). */
const HOLDS_AT_ONCE = 64;

/**
 * Marks each of the person's events still within its de-duplication window as taken in, in every journey: a journey
 * whose trigger had not received one yet (a sender's queue, a destination per journey) would otherwise make a new
 * contact of the erased data; the journeys that took it in hold their marks already. Called before the contact's locks
 * are taken (however many marks, the locks cannot run out meanwhile) and again under them for the events another
 * process took in between (`marked`: the events marked already, which are skipped).
 */
async function holdErasedEvents(store: Store, contactIds: string[], now: number, { journeys, windowMs, eventClock }: ErasedEventHold, marked: Set<string>): Promise<void> {
	// One mark an event and journey, from the event's latest decision (several journeys may have taken it in). Every
	// decision of the window, page by page: a person with hundreds of events in it has each held.
	const events = new Map<string, { at: number; journeys: Set<string> }>();
	for await (const d of iterateDecisions(store, { contactIds, ...(eventClock ? {} : { from: isoTime(now - windowMs) }) })) {
		if (marked.has(d.event.eventId)) continue;
		const known = events.get(d.event.eventId) ?? { at: 0, journeys: new Set(journeys) };
		known.at = Math.max(known.at, Date.parse(d.createdAt));
		known.journeys.add(d.journey);
		events.set(d.event.eventId, known);
	}
	const holds = [...events].flatMap(([eventId, { at, journeys: all }]) => [...all].map((journey) => () => store.holdKey(eventMarkKey({ journey, eventId }), windowMs, at)));
	for (let i = 0; i < holds.length; i += HOLDS_AT_ONCE) await Promise.all(holds.slice(i, i + HOLDS_AT_ONCE).map((hold) => hold()));
	for (const eventId of events.keys()) marked.add(eventId);
}

/** How long an erasure, under the person's locks, waits for a send under way of a decision opened since it began. */
const LATE_SEND_WAIT_MS = 5_000;

/** What is kept of an erasure (in the store, under `privacy:erasure:<erasureId>`): nothing about the person. */
export interface ErasureReceipt {
	/** Also the pseudonym the contact's decisions now carry, so an audit can find them. */
	erasureId: string;
	at: string;
	/** False when the store held nothing about the contact (only a suppression may have been recorded). */
	found: boolean;
	suppressed: boolean;
	counts: ErasureCounts;
}

export const erasureReceiptKey = (erasureId: string) => `privacy:erasure:${erasureId}`;

interface LockedErasure {
	/** The email address the contact was named by: its identity is deleted (and suppressed) too. */
	email?: string;
	suppress?: boolean;
	suppressAt?: number;
	/** False leaves SQLite's file unrebuilt (ContactErasure.scrub). */
	scrub?: boolean;
	/** Checked on the profile read under the locks: true keeps the contact (retention: it was active meanwhile). */
	keep?: (profile: Profile | undefined) => boolean;
	/** Under the locks, marks the events of the person taken in since their first marking (holdErasedEvents). */
	holdLateEvents?: (contactIds: string[]) => Promise<void>;
	/** Under the locks, holds the send keys of the decisions opened since the erasure first held them (stopSends). */
	stopLateSends?: (contactIds: string[]) => Promise<void>;
	/** Claimed keys deleted with the contact's own (the agents' blast radius marks of the person). */
	claimKeys?: string[];
}

/**
 * Erases a contact under its identity locks, so a concurrent event cannot half-recreate it: the store's
 * erasure of it and of the contacts merged into it, its decisions pseudonymised under `pseudonym`.
 * Undefined when `keep` kept it.
 */
export async function eraseUnderLocks(store: Store, contactId: string, pseudonym: string, at: string, options: LockedErasure): Promise<ErasureCounts | undefined> {
	const emailKey = options.email ? [identityKey('email', options.email)] : [];
	const first = await store.getProfile(contactId);
	const lockKeys = [contactIdKey(contactId), ...(first ? profileIdentityKeys(first) : []), ...emailKey];
	return withIdentityLocks(store, lockKeys, async () => {
		const profile = await store.getProfile(contactId);
		if (options.keep?.(profile)) return undefined;
		const identityKeys = [...new Set([...(profile ? profileIdentityKeys(profile) : []), ...emailKey])];
		const personal = personalValues(contactId, profile, [...(options.email ? [options.email] : []), ...(profile?.mergedFrom ?? [])]);
		// An address known only as a trait is suppressed too.
		// Its contact id too: an event naming it (an integrator that kept it) makes a do-not-contact contact.
		if (options.suppress) await suppressIdentities(store, [...new Set([...identityKeys, contactIdKey(contactId), ...(profile?.email ? [identityKey('email', profile.email)] : [])])], options.suppressAt!);
		await options.holdLateEvents?.([contactId, ...(profile?.mergedFrom ?? [])]);
		await options.stopLateSends?.([contactId, ...(profile?.mergedFrom ?? [])]);
		const pseudonymise = (d: Decision) => pseudonymiseDecision(d, pseudonym, personal, at);
		const scrub = options.scrub ?? true;
		// Contacts merged into this one left decisions, ledger entries and hour counts under their own ids: erased first.
		// The contact's own step comes last, as it deletes the contact's locks, which every event of the person (by a
		// merged id too: it leads here) waits on until then.
		const steps = [
			...(profile?.mergedFrom ?? []).map((merged) => ({ contactId: merged, identityKeys: [], claimKeys: [identityLockKey(contactIdKey(merged))], armKeys: contactHourKeys(merged) })),
			{ contactId, identityKeys, claimKeys: [...[...new Set([...lockKeys, ...identityKeys])].map(identityLockKey), ...(options.claimKeys ?? [])], armKeys: contactHourKeys(contactId) },
		];
		const counts: ErasureCounts = { profiles: 0, identities: 0, capEntries: 0, timers: 0, decisions: 0 };
		for (const step of steps) {
			const erased = await store.eraseContact({ ...step, pseudonymise, scrub });
			for (const key of Object.keys(erased) as (keyof ErasureCounts)[]) counts[key] += erased[key];
		}
		return counts;
	});
}

/**
 * GDPR Art. 17: deletes the contact's profile, identities, consent, timers, cap ledger and send-time counts,
 * pseudonymises its decisions (pseudonymise.ts: counts and lift unchanged) and records a receipt without the
 * person's data. Holds the contact's identity locks meanwhile, so a concurrent event cannot half-recreate it.
 */
export async function eraseContact(store: Store, input: unknown, options: EraseOptions, now: Date, events?: ErasedEventHold, touches?: AgentTouches): Promise<ErasureReceipt> {
	const ref = parseContactRef(input, 'erase the contact');
	const contactId = await resolveContact(store, ref);
	const emailKey = ref.email ? [identityKey('email', ref.email)] : [];
	if (!contactId && !options.suppress) {
		throw new NudgeError('UNKNOWN_CONTACT', `No contact has the email address ${ref.email}: nothing to erase. To keep this address from being contacted if it ever comes, erase with suppression on.`, [], 404);
	}
	const receipt: ErasureReceipt = { erasureId: newId('erased'), at: isoTime(now.getTime()), found: false, suppressed: !!options.suppress, counts: { profiles: 0, identities: 0, capEntries: 0, timers: 0, decisions: 0 } };
	if (contactId) {
		const contactIds = [contactId, ...((await store.getProfile(contactId))?.mergedFrom ?? [])];
		const marked = new Set<string>();
		const holdEvents = events && ((ids: string[]) => holdErasedEvents(store, ids, now.getTime(), events, marked));
		await holdEvents?.(contactIds);
		const held: HeldKey[] = [];
		// Another worker may open a decision of the person before the locks are taken (which its events then wait on): its
		// key is held under them. A send of one already under way is waited for briefly, well within the locks' time.
		const stopLateSends = async (ids: string[]) => void (await stopSends(store, ids, () => now.getTime(), LATE_SEND_WAIT_MS, held));
		try {
			await stopSends(store, contactIds, () => now.getTime(), SEND_UNDER_WAY_WAIT_MS, held);
			const claimKeys = touches ? await agentTouchKeys(store, contactIds, now.getTime(), touches) : [];
			receipt.counts = (await eraseUnderLocks(store, contactId, receipt.erasureId, receipt.at, { email: ref.email, suppress: options.suppress, suppressAt: now.getTime(), holdLateEvents: holdEvents, stopLateSends, claimKeys }))!;
		} catch (error) {
			await releaseHeld(store, held).catch(() => undefined);
			throw error;
		}
		receipt.found = Object.values(receipt.counts).some((n) => n > 0);
		if (!receipt.found && !options.suppress) throw new NudgeError('UNKNOWN_CONTACT', `No contact has the id ${contactId}: nothing was erased`, [], 404);
	} else {
		await suppressIdentities(store, emailKey, now.getTime());
	}
	await store.setCursor(erasureReceiptKey(receipt.erasureId), JSON.stringify(receipt), undefined);
	await store.sync();
	return receipt;
}
