import { NudgeError } from '../errors';
import type { ClaimStore, StoreLifecycle } from '../store/types';

/** Locks are claimed keys, taken only on stores several processes share. */
type LockStore = ClaimStore & Pick<StoreLifecycle, 'shared'>;

/** A lock outlives a crashed holder by at most this long. */
const LOCK_TTL_MS = 15_000;
/** How long a caller waits for a lock before the event fails (and its sender retries). */
const LOCK_WAIT_MS = 10_000;

/** The claim key that serialises profile updates of one identity (or `contactId:<id>`) across processes. */
export const identityLockKey = (identityKey: string) => `lock:identity:${identityKey}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function acquire(store: LockStore, key: string): Promise<void> {
	const deadline = Date.now() + LOCK_WAIT_MS;
	for (let attempt = 1; ; attempt++) {
		if (await store.claimKey(key, LOCK_TTL_MS, Date.now())) return;
		if (Date.now() > deadline) throw new NudgeError('STORE_ERROR', `Timed out after ${LOCK_WAIT_MS / 1000} s waiting for ${key}, held by another process`, [], 503);
		await sleep(Math.min(attempt, 20) + Math.random() * 3);
	}
}

/**
 * Runs a profile read-modify-write holding a lock per identity key, across every process sharing the
 * store, so two workers receiving the first events of one new contact at once create one contact, not
 * two (whose caps would be counted apart). Keys are locked in sorted order, so callers never deadlock;
 * a crashed holder's lock expires. Stores used by one process (memory, SQLite) need none.
 */
export async function withIdentityLocks<T>(store: LockStore, identityKeys: string[], run: () => Promise<T>): Promise<T> {
	if (!store.shared || identityKeys.length === 0) return run();
	const keys = [...new Set(identityKeys)].sort().map(identityLockKey);
	const held: string[] = [];
	try {
		for (const key of keys) {
			await acquire(store, key);
			held.push(key);
		}
		return await run();
	} finally {
		await Promise.all(held.map((key) => store.releaseKey(key)));
	}
}
