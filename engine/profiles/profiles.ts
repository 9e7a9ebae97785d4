import type { Channel, ConsentState } from '../channels';
import { isChannel } from '../channels';
import { MERGED_HUBSPOT_IDS, type CustomerEvent } from '../events/schema';
import { createHash } from 'node:crypto';
import { newId } from '../ids';
import { heldLockKeys, lockAndReadProfiles, lockedOut, profileLockRequest, type HeldLocks } from './identityLock';
import { holdoutKey } from '../decide/holdout';
import { anySuppressed, suppressionReads } from '../privacy/suppression';
import type { ProfileLockRequest, ProfileWrite, Store } from '../store/types';
import { IDENTITY_KINDS, IdentityKind, Profile } from './schema';
import { isTimeZone } from '../policy/timeZone';
import { parseTime } from '../util/isoTime';

/** Events that show a person engaging (they move lastEngagedAt and feed the score's recency). */
const ENGAGEMENT = /open|click|view|visit|reply|demo|download|signup|sign up|purchase|order|cart|checkout/i;
const UNSUBSCRIBE = /^(unsubscribed|opted out|email unsubscribed|sms unsubscribed)$/i;
const SUBSCRIBE = /^(subscribed|opted in)$/i;

/**
 * How many of its last events a profile remembers taking in (Profile.takenIn): a second journey's delivery comes soon
 * after the first, or after the events its destination fell behind by (a Segment destination retrying through an
 * outage). Kept as one text of 6-character ids, 192 characters when full: a busy contact's profile stays under 1 KB
 * (bench/size).
 */
export const TAKEN_IN_KEPT = 32;
/** The characters of an id Profile.takenIn keeps: 36 bits of its hash (a chance in 10^9 that a new event is taken for one of the 32). */
const ID_CHARS = 6;
/** An event id as Profile.takenIn keeps it, whatever the id's length. */
const takenInId = (eventId: string) => createHash('sha256').update(eventId).digest('base64url').slice(0, ID_CHARS);

/**
 * The ids a list holds, oldest first. An earlier version kept a list of 8-character ids: their first 6 are these.
 * Read from the end, where the newest are: characters that do not make a whole id (a row edited or cut short) are
 * left at the start, and the next save drops them, so they misalign nothing.
 */
function takenInIds(taken: Profile['takenIn']): string[] {
	const ids = taken?.ids;
	if (ids === undefined) return [];
	if (Array.isArray(ids)) return ids.map((id) => id.slice(0, ID_CHARS));
	const out: string[] = [];
	for (let end = ids.length; end >= ID_CHARS; end -= ID_CHARS) out.unshift(ids.slice(end - ID_CHARS, end));
	return out;
}

/**
 * Whether the profile took the event in already (a journey's trigger received it before this one's); when not, it is
 * noted as taken in. A list without its start (a new contact's, or one an earlier version saved) starts at `since`.
 */
function tookInBefore(profile: Profile, eventId: string, since: number): boolean {
	const id = takenInId(eventId);
	const taken = (profile.takenIn ??= { ids: '' });
	taken.since ??= since;
	const ids = takenInIds(taken);
	if (ids.includes(id)) return true;
	taken.ids = [...ids, id].slice(-TAKEN_IN_KEPT).join('');
	return false;
}

/**
 * The events two merged contacts took in, the more recently seen contact's last (its events are the likelier to reach
 * another journey next). Either list may miss events an earlier version took in when either contact has none, or its
 * start: the merged list starts again then.
 */
function mergedTakenIn(keep: Profile, other: Profile): Profile['takenIn'] {
	const lists = before(keep.lastSeenAt, other.lastSeenAt) ? [keep.takenIn, other.takenIn] : [other.takenIn, keep.takenIn];
	const ids = [...new Set(lists.flatMap(takenInIds))].slice(-TAKEN_IN_KEPT).join('');
	const starts = lists.map((list) => list?.since);
	return starts.every((since) => since !== undefined) ? { since: Math.max(...(starts as number[])), ids } : { ids };
}

/**
 * The event's de-duplication as versions before this one made it, once per store whichever journey took it in: asked
 * (`marked`) of a contact whose list of events taken in may not name it (saved by such a version, or its list started
 * within the window).
 */
export interface StoreWideMark {
	/** The event's time on the engine's clock (ms) and the de-duplication window. */
	at: number;
	windowMs: number;
	marked: () => Promise<boolean>;
}

export function identityKey(kind: IdentityKind, value: string): string {
	return `${kind}:${kind === 'email' ? value.toLowerCase() : value}`;
}

export function eventIdentityKeys(event: CustomerEvent): string[] {
	return IDENTITY_KINDS.flatMap((kind) => {
		const value = event.identities[kind];
		return value ? [identityKey(kind, value)] : [];
	});
}

/**
 * The identity key a contact id is indexed under once its contact was merged into another: an event, an outcome or a
 * request naming the old id then finds the contact it lives on in, never an empty one of that id.
 */
export const contactIdKey = (contactId: string) => `contactId:${contactId}`;

/** The keys the identity index points at the profile: its identities', and the ids of the contacts merged into it. */
export function profileIdentityKeys(profile: Profile): string[] {
	const own = IDENTITY_KINDS.flatMap((kind) => (profile.identities[kind] ?? []).map((v) => identityKey(kind, v)));
	return [...own, ...(profile.mergedFrom ?? []).map(contactIdKey)];
}

/** Every id the contact's decisions, cap ledger entries and hour counts are kept under: its own and those merged into it. */
export const contactIds = (profile: Profile): string[] => [profile.contactId, ...(profile.mergedFrom ?? [])];

/** A contact's profile by its id, or by the id of a contact merged into it since (one more read, only then). */
export async function profileById(store: Store, contactId: string): Promise<Profile | undefined> {
	const profile = await store.getProfile(contactId);
	if (profile) return profile;
	const survivor = (await store.resolveIdentities([contactIdKey(contactId)])).get(contactIdKey(contactId));
	return survivor === undefined ? undefined : store.getProfile(survivor);
}

function emptyProfile(contactId: string, at: string): Profile {
	return {
		contactId,
		createdAt: at,
		updatedAt: at,
		identities: {},
		traits: {},
		consent: {},
		counters: {},
		firstSeenAt: at,
		lastSeenAt: at,
	};
}

function addIdentity(profile: Profile, kind: IdentityKind, value: string): void {
	const list = (profile.identities[kind] ??= []);
	const v = kind === 'email' ? value.toLowerCase() : value;
	if (!list.includes(v)) list.push(v);
}

function isConsent(value: unknown): value is ConsentState {
	return value === 'opted_in' || value === 'opted_out' || value === 'unknown';
}

/** How many events of a name the contact did (an event named "toString" counts from 0, not from Object.prototype's). */
export const eventCount = (profile: Profile, name: string): number => (Object.hasOwn(profile.counters, name) ? profile.counters[name] : 0);

/**
 * Sets a channel's consent as stated at `at` (an event's or an outcome's time), unless the consent in force was stated
 * later: a statement delivered late (an old opt-in after a newer opt-out) changes nothing. True when it was set.
 */
export function stateConsent(profile: Profile, channel: Channel, state: ConsentState, at: string): boolean {
	// A consent saved before its time was kept was stated no earlier than the contact's first event.
	const since = profile.consentAt?.[channel] ?? (profile.consent[channel] !== undefined ? profile.firstSeenAt : undefined);
	if (since !== undefined && before(at, since)) return false;
	// At the same time (senders' whole seconds), an opt-out stands.
	if (since !== undefined && state !== 'opted_out' && profile.consent[channel] === 'opted_out' && !before(since, at)) return false;
	profile.consent[channel] = state;
	(profile.consentAt ??= {})[channel] = at;
	return true;
}

/** Whether time `a` is before `b`, as times: profiles saved before event times were kept in one form may hold others. */
const before = (a: string, b: string): boolean => parseTime(a) < parseTime(b);

/** Two records of times by key as one, each key's later time (undefined when both are). */
function laterTimes<T extends Record<string, string>>(mine: T | undefined, theirs: T | undefined): T | undefined {
	if (!theirs) return mine;
	const out: Record<string, string> = { ...mine };
	for (const [key, at] of Object.entries(theirs)) if (!Object.hasOwn(out, key) || before(out[key], at)) out[key] = at;
	return out as T;
}

/** When a profile's value of a trait was stated, if it says. */
const statedAt = (profile: Profile, key: string): string | undefined => (profile.traitsAt && Object.hasOwn(profile.traitsAt, key) ? profile.traitsAt[key] : undefined);

/** Did the other profile state the trait after the kept one (both times known)? */
function statedLater(keep: Profile, other: Profile, key: string): boolean {
	const mine = statedAt(keep, key);
	const theirs = statedAt(other, key);
	return mine !== undefined && theirs !== undefined && before(mine, theirs);
}

type DerivedField = 'phone' | 'pushToken' | 'lifecycle' | 'timezone';

/** The field a trait's value gives the profile (applyEvent), or undefined when it gives none (blank, not text). */
function fieldOfTrait(key: DerivedField, value: unknown): string | undefined {
	if (typeof value !== 'string') return undefined;
	if (key === 'lifecycle') return value;
	return value.trim() ? (key === 'phone' ? value.trim() : value) : undefined;
}

/** Both profiles' traits, each with the value stated later (without both times, the kept profile's) and its time. */
function mergeTraits(keep: Profile, other: Profile): void {
	const traits = { ...other.traits, ...keep.traits };
	const times: Record<string, string> = {};
	for (const key of Object.keys(traits)) {
		// A time stated without the trait (the address mailed at, given as an identity only) takes no value from it.
		const from = Object.hasOwn(other.traits, key) && (!Object.hasOwn(keep.traits, key) || statedLater(keep, other, key)) ? other : keep;
		traits[key] = from.traits[key];
		const at = statedAt(from, key);
		if (at !== undefined) times[key] = at;
	}
	// The address mailed at is stated under "email" too (applyEvent), with or without a trait of that name.
	const emailFrom = other.email && (!keep.email || statedLater(keep, other, 'email')) ? other : keep;
	if (emailFrom.email !== undefined) keep.email = emailFrom.email;
	const emailAt = statedAt(emailFrom, 'email');
	if (emailAt !== undefined && !Object.hasOwn(traits, 'email')) times.email = emailAt;
	// The fields applyEvent takes from traits: the later-stated one's, or the kept contact's. A field is as old as its
	// trait only while it holds the trait's value: a blank phone or a zone that is no zone stated later left it as it was.
	const fieldAt = (p: Profile, key: DerivedField) => (p[key] !== undefined && fieldOfTrait(key, p.traits[key]) === p[key] ? statedAt(p, key) : undefined);
	const laterField = (key: DerivedField) => {
		const [mine, theirs] = [fieldAt(keep, key), fieldAt(other, key)];
		return mine !== undefined && theirs !== undefined && before(mine, theirs);
	};
	for (const key of ['phone', 'pushToken', 'lifecycle'] as const) {
		if (other[key] !== undefined && (keep[key] === undefined || laterField(key))) keep[key] = other[key];
	}
	// A real zone over one that is no zone (the guardrails would fall back to the policy's); of two real ones, the later-stated.
	const realZone = other.timezone !== undefined && isTimeZone(other.timezone);
	if (other.timezone && (!keep.timezone || (realZone && (!isTimeZone(keep.timezone) || laterField('timezone'))))) keep.timezone = other.timezone;
	keep.traits = traits;
	if (keep.traitsAt || other.traitsAt) keep.traitsAt = times;
}

/** Folds the second profile into the first (the older one keeps its id): identities, traits, counters. */
export function mergeProfiles(keep: Profile, other: Profile): Profile {
	for (const kind of IDENTITY_KINDS) for (const v of other.identities[kind] ?? []) addIdentity(keep, kind, v);
	mergeTraits(keep, other);
	for (const [name, n] of Object.entries(other.counters)) keep.counters[name] = eventCount(keep, name) + n;
	for (const [ch, state] of Object.entries(other.consent)) {
		// An opt-out anywhere wins: merging must never re-open a channel someone closed.
		if (state === 'opted_out' || !keep.consent[ch as Channel]) keep.consent[ch as Channel] = state;
	}
	keep.consentAt = laterTimes(keep.consentAt, other.consentAt);
	// Transitive (a chain of merges ends on one contact), and never the contact itself (its id would point at itself).
	keep.mergedFrom = [...new Set([...(keep.mergedFrom ?? []), other.contactId, ...(other.mergedFrom ?? [])])].filter((id) => id !== keep.contactId);
	if (other.doNotContact) keep.doNotContact = true;
	keep.pausesClearedAt = laterTimes(keep.pausesClearedAt, other.pausesClearedAt);
	keep.takenIn = mergedTakenIn(keep, other);
	// A journey paused on either contact stays paused: the pause that lasts longer (one until cleared, or the later end).
	for (const [id, pause] of Object.entries(other.pauses ?? {})) {
		const mine = keep.pauses?.[id];
		if (!mine || (mine.until !== undefined && (pause.until === undefined || pause.until > mine.until))) (keep.pauses ??= {})[id] = pause;
	}
	if (before(other.firstSeenAt, keep.firstSeenAt)) keep.firstSeenAt = other.firstSeenAt;
	if (before(keep.lastSeenAt, other.lastSeenAt)) keep.lastSeenAt = other.lastSeenAt;
	if (other.lastEngagedAt && (!keep.lastEngagedAt || before(keep.lastEngagedAt, other.lastEngagedAt))) {
		keep.lastEngagedAt = other.lastEngagedAt;
	}
	return keep;
}

/**
 * The traits of an event stated at `at` that are no older than the values in force, each now stated at `at`. A change
 * delivered after a newer one (HubSpot retries a failed notification with its first time; a Segment replay) leaves the
 * newer value, and so what the contact points, zone and lifecycle follow.
 */
function takeTraits(profile: Profile, stated: Record<string, unknown>, at: string): Record<string, unknown> {
	const times = (profile.traitsAt ??= {});
	const taken: Record<string, unknown> = {};
	for (const [key, value] of Object.entries(stated)) {
		if (Object.hasOwn(times, key) && before(at, times[key])) continue;
		taken[key] = value;
		times[key] = at;
	}
	return taken;
}

/** Applies one event to a profile: identities, traits, contact points, consent, counters, recency. */
export function applyEvent(profile: Profile, event: CustomerEvent): Profile {
	const at = event.occurredAt;
	for (const kind of IDENTITY_KINDS) {
		const value = event.identities[kind];
		if (value) addIdentity(profile, kind, value);
	}
	const { consent, ...stated } = event.traits as Record<string, unknown> & { consent?: unknown };
	const traits = takeTraits(profile, stated, at);
	Object.assign(profile.traits, traits);
	// A valid traits.email is an identity by now (events/normalize.ts); one that is no address is never mailed. The
	// address mailed at is stated under "email" like the trait: an older statement of it changes nothing either.
	if (event.identities.email && takeTraits(profile, { email: true }, at).email) profile.email = event.identities.email.toLowerCase();
	if (typeof traits.phone === 'string' && traits.phone.trim()) profile.phone = traits.phone.trim();
	if (typeof traits.pushToken === 'string' && traits.pushToken) profile.pushToken = traits.pushToken;
	// A zone that is no zone (a typo, "GMT+2") never replaces a real one: quiet hours would move to the policy's zone.
	if (typeof traits.timezone === 'string' && traits.timezone && (isTimeZone(traits.timezone) || !profile.timezone || !isTimeZone(profile.timezone))) profile.timezone = traits.timezone;
	if (typeof traits.lifecycle === 'string') profile.lifecycle = traits.lifecycle;
	if (consent && typeof consent === 'object') {
		for (const [ch, state] of Object.entries(consent as Record<string, unknown>)) {
			if (isChannel(ch) && isConsent(state)) stateConsent(profile, ch, state, at);
		}
	}
	if (event.name) {
		profile.counters[event.name] = eventCount(profile, event.name) + 1;
		if (ENGAGEMENT.test(event.name) && (!profile.lastEngagedAt || before(profile.lastEngagedAt, at))) {
			profile.lastEngagedAt = at;
		}
		if (UNSUBSCRIBE.test(event.name) || SUBSCRIBE.test(event.name)) {
			const channel = isChannel(event.properties.channel) ? event.properties.channel : /sms/i.test(event.name) ? 'sms' : 'email';
			stateConsent(profile, channel, UNSUBSCRIBE.test(event.name) ? 'opted_out' : 'opted_in', at);
		}
	}
	if (before(profile.lastSeenAt, at)) profile.lastSeenAt = at;
	if (before(at, profile.firstSeenAt)) profile.firstSeenAt = at;
	profile.updatedAt = event.receivedAt;
	return profile;
}

/** One id that now means the event's contact, as each kind of identity it may be known by. */
type Alias = { kind: IdentityKind; value: string }[];

/**
 * Ids an event says now mean its contact: a Segment alias's previousId (an old userId or an anonymousId), the records
 * a HubSpot merge folded into the event's one. Their contacts become this one, as any two an event links.
 */
function aliasesOf(event: CustomerEvent): Alias[] {
	const previousId = event.type === 'alias' && typeof event.properties.previousId === 'string' ? event.properties.previousId : undefined;
	if (previousId) return [[{ kind: 'userId', value: previousId }, { kind: 'anonymousId', value: previousId }]];
	const merged = event.source === 'hubspot' ? event.properties[MERGED_HUBSPOT_IDS] : undefined;
	return Array.isArray(merged) ? merged.filter((id): id is string => typeof id === 'string' && id !== '').map((value) => [{ kind: 'hubspotId', value }]) : [];
}

const aliasKeysOf = (event: CustomerEvent): string[] => aliasesOf(event).flatMap((alias) => alias.map(({ kind, value }) => identityKey(kind, value)));

/** What the profile update of an event locks and reads (the store step may take it with the event's claim: usecases/ingest.ts). */
export function profileUpdateRequest(store: Store, event: CustomerEvent): ProfileLockRequest {
	const own = eventIdentityKeys(event);
	const keys = [...own, ...aliasKeysOf(event)];
	const direct = event.identities.contactId;
	// A contact id is locked as the contact's own lock, and resolved too: merged away, it leads to the surviving contact.
	const withDirect = [...keys, ...(direct ? [contactIdKey(direct)] : [])];
	const request = profileLockRequest(store, withDirect, withDirect, direct);
	// Redis reads the suppression list's records in the same round trip; other stores are asked for the contact's new
	// identities only, after the read (ingestIntoProfile).
	const checked = suppressionChecked(event);
	return store.readsRecordsWithLocks && checked.length ? { ...request, reads: suppressionReads(store, checked) } : request;
}

/**
 * The keys of an event that the suppression list is asked about: its identities, the id an alias gives the contact
 * (Segment's previousId: a suppressed user id aliased to a new contact stays suppressed) and the contact id it names
 * (erased with suppression, it stays so).
 */
function suppressionChecked(event: CustomerEvent): string[] {
	const direct = event.identities.contactId;
	return [...eventIdentityKeys(event), ...aliasKeysOf(event), ...(direct ? [contactIdKey(direct)] : [])];
}

/**
 * Finds (or creates) the contact an event is about, stitching every identity it carries: when an
 * event links identities that belonged to two contacts, they become one (the oldest id survives).
 * `locked`: what was read with the locks of profileUpdateRequest(store, event), which the caller holds already.
 */
export async function ingestIntoProfile(
	store: Store,
	event: CustomerEvent,
	/** Runs after the event is applied, before the profile is saved (e.g. negative triggers). */
	afterApply?: (profile: Profile, event: CustomerEvent) => void,
	locked?: HeldLocks,
): Promise<Profile> {
	const { write } = (await applyToProfile(store, event, afterApply, locked))!;
	await saveAndRelease(store, write);
	return write.profile;
}

/**
 * A profile update's save with its locks' release; a save that fails lets the locks go. Locks that ran out and were
 * taken by another caller meanwhile (the store was that slow) save nothing and are left to that caller: refused.
 */
export async function saveAndRelease(store: Store, { profile, identityKeys, merged, release, lockedUntil }: ProfileWrite): Promise<void> {
	let saved: boolean;
	try {
		saved = await store.saveProfileAndRelease(profile, identityKeys, merged, release, lockedUntil);
	} catch (error) {
		await releaseLocks(store, release, lockedUntil);
		throw error;
	}
	if (!saved) throw lockedOut(profile.contactId);
	await afterMerge(store, { profile, merged });
}

/**
 * Once a merge is saved, the merged contacts' sends count under the survivor's caps: their ledgers move to it. Only
 * then: a merge whose save failed (and whose event may never be delivered again) leaves each contact its own ledger.
 * The saved profile names them (`capLedgerFrom`) until its next update, which moves them again: a move that fails here,
 * or never runs, is made then. Moving again moves nothing.
 */
export async function afterMerge(store: Store, { profile, merged }: Pick<ProfileWrite, 'profile' | 'merged'>): Promise<void> {
	if (merged.length) await moveMergedLedgers(store, profile);
}

/** Moves the cap ledgers the profile names as still to move (`capLedgerFrom`) to it; moving again moves nothing. */
export async function moveMergedLedgers(store: Store, profile: Profile): Promise<void> {
	if (profile.capLedgerFrom?.length) await store.moveCapLedger(profile.capLedgerFrom, profile.contactId);
}

/** Lets locks go; with the value they were taken with (`lockedUntil`), only those still holding it (not another caller's). */
export async function releaseLocks(store: Store, locks: string[], lockedUntil?: number): Promise<void> {
	await Promise.all(locks.map((key) => store.releaseKey(key, lockedUntil))).catch(() => undefined);
}

/**
 * ingestIntoProfile up to the save: the profile with the event applied, holding the locks, and what its save writes
 * (`write`, whose `release` are the locks). An event the profile took in already (another journey's delivery) is not
 * applied again. Undefined, the locks let go and nothing written, when `storeWide` says an earlier version took the
 * event in (a duplicate). A failure lets the locks go.
 */
export async function applyToProfile(
	store: Store,
	event: CustomerEvent,
	afterApply?: (profile: Profile, event: CustomerEvent) => void,
	locked?: HeldLocks,
	storeWide?: StoreWideMark,
): Promise<{ write: ProfileWrite; lockedAt: number } | undefined> {
	const direct = event.identities.contactId;
	const aliases = aliasesOf(event);
	const request = profileUpdateRequest(store, event);
	// Locks taken and the profile's sources read in one store step; the save lets the locks go in the same step.
	const { identities: resolved, profiles: found, records, lockedAt, lockedUntil } = locked ?? (await lockAndReadProfiles(store, request));
	const held = heldLockKeys(request, resolved);
	try {
		const ids = new Set<string>();
		if (direct && found.has(direct)) ids.add(direct);
		for (const contactId of resolved.values()) ids.add(contactId);
		const profiles = [...ids].map((id) => found.get(id)).filter((p): p is Profile => !!p);
		profiles.sort((a, b) => parseTime(a.createdAt) - parseTime(b.createdAt));
		const profile = profiles[0] ?? emptyProfile(direct ?? newId('c'), event.occurredAt);
		// A contact saved before holdout keys were kept fixes its key from what it was until now, not from this event's
		// new user id or a contact merged into it: its arm stays the one it was drawn by.
		if (profiles[0]) profile.holdoutKey ??= holdoutKey(profile);
		// Ledgers an earlier merge saved but did not move (afterMerge failed, or the process stopped) move now, before
		// this save clears them: the merge is saved, so they are this contact's.
		await moveMergedLedgers(store, profile);
		delete profile.capLedgerFrom;
		const merged = profiles.slice(1);
		if (merged.length) profile.capLedgerFrom = [...new Set(merged.flatMap((other) => [other.contactId, ...(other.capLedgerFrom ?? [])]))];
		for (const other of merged) mergeProfiles(profile, other);
		// A contact id the event names that no contact has (an integrator's own id for this person, sent with an identity of
		// the contact) is kept among the contact's ids as a merged one is: an event naming it alone later reaches this
		// contact, with its consent and caps, never a new empty contact of that id.
		if (direct && direct !== profile.contactId && !found.has(direct) && !resolved.has(contactIdKey(direct))) profile.mergedFrom = [...new Set([...(profile.mergedFrom ?? []), direct])];
		const existed = profiles.length > 0;
		const since = profile.takenIn?.since;
		if (storeWide && existed && (since === undefined || storeWide.at < since + storeWide.windowMs) && (await storeWide.marked())) {
			await releaseLocks(store, held, lockedUntil);
			return undefined;
		}
		const known = new Set(profileIdentityKeys(profile));
		const fresh = !tookInBefore(profile, event.eventId, existed ? (storeWide?.at ?? Date.now()) : 0);
		if (fresh) applyEvent(profile, event);
		// A new contact's key, from its first event: a user id that comes later (a login) or a merge never moves it.
		profile.holdoutKey ??= holdoutKey(profile);
		// Only identities new to the contact can match the suppression list (an old one was checked when it came).
		if (!profile.doNotContact && (await anySuppressed(store, suppressionChecked(event).filter((k) => !known.has(k)), records))) profile.doNotContact = true;
		if (fresh) afterApply?.(profile, event);
		// An alias is kept under the kinds it is known by (all of them when it is new).
		for (const alias of aliases) {
			const known = alias.filter(({ kind, value }) => resolved.has(identityKey(kind, value)));
			for (const { kind, value } of known.length ? known : alias) addIdentity(profile, kind, value);
		}
		return { write: { profile, identityKeys: profileIdentityKeys(profile), merged: merged.map((p) => p.contactId), release: held, lockedUntil }, lockedAt };
	} catch (error) {
		await releaseLocks(store, held, lockedUntil);
		throw error;
	}
}
