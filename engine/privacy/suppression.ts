import { createHmac, randomBytes } from 'node:crypto';
import { suppressedIn, suppressionRecordReads } from '../store/records';
import type { CursorStore, ReadRecords, RecordReads, SuppressionRecords } from '../store/types';

/**
 * Erased people who asked not to be contacted again: the store keeps, for each of their identity keys
 * (`email:jane@example.com`, `userId:u1`, normalised as profiles key them), only an HMAC-SHA256 under a salt
 * this store drew at its first such erasure, so the list cannot be read back or matched against a list of
 * addresses without the store. A new contact carrying one of those identities is marked do-not-contact.
 */
const SALT = 'privacy:suppression-salt';
/** The salt is a cursor; each suppressed identity's digest a named record (store/records.ts). */
type SuppressionStore = CursorStore & SuppressionRecords;
const salts = new WeakMap<SuppressionStore, string>();

/** The store's salt; drawn once, compare-and-set so processes sharing the store agree on it. */
async function saltOf(store: SuppressionStore, create: boolean): Promise<string | undefined> {
	let salt = salts.get(store) ?? (await store.getCursor(SALT));
	if (!salt && create) {
		const drawn = randomBytes(32).toString('hex');
		salt = (await store.setCursor(SALT, drawn, undefined)) ? drawn : await store.getCursor(SALT);
	}
	if (salt) salts.set(store, salt);
	return salt;
}

const digestOf = (salt: string, identityKey: string) => createHmac('sha256', salt).update(identityKey).digest('hex');

export async function suppressIdentities(store: SuppressionStore, identityKeys: string[], now: number): Promise<void> {
	const salt = (await saltOf(store, true))!;
	await store.suppressIdentities(identityKeys.map((key) => digestOf(salt, key)), now);
}

/**
 * What a profile update reads of the list with its locks, in the same store step (profiles.ts), so a new identity
 * costs no round trip of its own on a network store: with the salt known, the records of every identity key's
 * digest; before, the salt (unset until the first erasure with suppression).
 */
export function suppressionReads(store: SuppressionStore, identityKeys: string[]): RecordReads {
	const salt = salts.get(store);
	return salt ? suppressionRecordReads(identityKeys.map((key) => digestOf(salt, key))) : { cursors: [SALT], claims: [] };
}

/**
 * Does any of these identity keys belong to an erased person who asked not to be contacted? `read`: what the step of
 * suppressionReads(store, keys ⊇ these) read, so the answer needs no further store call unless it found a salt drawn
 * since (then, once a process, the list is asked as without it).
 */
export async function anySuppressed(store: SuppressionStore, identityKeys: string[], read?: ReadRecords): Promise<boolean> {
	if (!identityKeys.length) return false;
	if (read && !read.cursors.has(SALT)) {
		// Asked with the salt known: its records are in `read`. Asked before any salt: none was set, so none is suppressed.
		const known = salts.get(store);
		return !!known && identityKeys.some((key) => suppressedIn(read, digestOf(known, key)));
	}
	if (read) salts.set(store, read.cursors.get(SALT)!);
	const salt = await saltOf(store, false);
	if (!salt) return false;
	return store.anyIdentitySuppressed(identityKeys.map((key) => digestOf(salt, key)));
}
