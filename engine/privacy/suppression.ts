import { createHmac, randomBytes } from 'node:crypto';
import type { ClaimStore, CursorStore } from '../store/types';

/**
 * Erased people who asked not to be contacted again: the store keeps, for each of their identity keys
 * (`email:jane@example.com`, `userId:u1`, normalised as profiles key them), only an HMAC-SHA256 under a salt
 * this store drew at its first such erasure, so the list cannot be read back or matched against a list of
 * addresses without the store. A new contact carrying one of those identities is marked do-not-contact.
 */
const SALT = 'privacy:suppression-salt';
const FOREVER_MS = 100 * 365 * 86_400_000;
/** The salt is a cursor; each suppressed identity a held key. */
type SuppressionStore = CursorStore & ClaimStore;
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

const suppressionKey = (salt: string, identityKey: string) => `suppressed:${createHmac('sha256', salt).update(identityKey).digest('hex')}`;

export async function suppressIdentities(store: SuppressionStore, identityKeys: string[], now: number): Promise<void> {
	const salt = (await saltOf(store, true))!;
	for (const key of identityKeys) await store.holdKey(suppressionKey(salt, key), FOREVER_MS, now);
}

/** Does any of these identity keys belong to an erased person who asked not to be contacted? */
export async function anySuppressed(store: SuppressionStore, identityKeys: string[], now: number): Promise<boolean> {
	if (!identityKeys.length) return false;
	const salt = await saltOf(store, false);
	if (!salt) return false;
	for (const key of identityKeys) if ((await store.keyHeldUntil(suppressionKey(salt, key), now)) !== undefined) return true;
	return false;
}
