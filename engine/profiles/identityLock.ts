import { NudgeError } from '../errors';
import type { ClaimStore, FoldedSteps, LockedProfiles, ProfileLockRequest, StoreLifecycle } from '../store/types';

/** Locks are claimed keys, taken only on stores several processes share. */
type LockStore = ClaimStore & Pick<StoreLifecycle, 'shared'>;

/** A lock outlives a crashed holder by at most this long. */
const LOCK_TTL_MS = 15_000;
/** A save sent this long before the locks expire could arrive after (a stalled connection): not sent with them. */
const LOCK_MARGIN_MS = 5_000;
/** How long a caller waits for a lock before the event fails (and its sender retries). */
const LOCK_WAIT_MS = 10_000;

/** The claim key that serialises profile updates of one identity (or `contactId:<id>`) across processes. */
export const identityLockKey = (identityKey: string) => `lock:identity:${identityKey}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Retries `take` (a lock claim) with a short jittered pause until it succeeds or LOCK_WAIT_MS have passed. */
async function retrying<T>(what: string, take: () => Promise<T | undefined>): Promise<T> {
	const deadline = Date.now() + LOCK_WAIT_MS;
	for (let attempt = 1; ; attempt++) {
		const taken = await take();
		if (taken !== undefined) return taken;
		if (Date.now() > deadline) throw new NudgeError('STORE_ERROR', `Timed out after ${LOCK_WAIT_MS / 1000} s waiting for ${what}, held by another process`, [], 503);
		await sleep(Math.min(attempt, 20) + Math.random() * 3);
	}
}

/** Claims a lock, waiting while another caller holds it; returns the value it holds while it is this caller's. */
async function acquire(store: ClaimStore, key: string): Promise<number> {
	return retrying(key, async () => {
		const now = Date.now();
		return (await store.claimKey(key, LOCK_TTL_MS, now)) ? now + LOCK_TTL_MS : undefined;
	});
}

/**
 * Runs a profile read-modify-write holding a lock per identity key, across every process sharing the
 * store, so two workers receiving the first events of one new contact at once create one contact, not
 * two (whose caps would be counted apart). Keys are locked in sorted order, so callers never deadlock;
 * a crashed holder's lock expires. Stores used by one process (memory, SQLite) need none.
 */
export async function withIdentityLocks<T>(store: LockStore, identityKeys: string[], run: () => Promise<T>): Promise<T> {
	if (!store.shared || identityKeys.length === 0) return run();
	return withLocks(store, identityKeys.map(identityLockKey), run);
}

/** Runs `run` holding every claim key of `lockKeys`, taken in sorted order (waiting while another caller holds one), on any store. */
export async function withLocks<T>(store: ClaimStore, lockKeys: string[], run: () => Promise<T>): Promise<T> {
	const keys = [...new Set(lockKeys)].sort();
	const held: [string, number][] = [];
	try {
		for (const key of keys) held.push([key, await acquire(store, key)]);
		return await run();
	} finally {
		// Each only while it is still this caller's: a run that outlasted a lock does not let go of the next holder's.
		await Promise.all(held.map(([key, until]) => store.releaseKey(key, until)));
	}
}

/** The lock every update of a contact takes, however its event named the contact: `contactId:<id>`'s. */
export const contactLockKey = (contactId: string) => identityLockKey(`contactId:${contactId}`);

/**
 * What a profile update locks and reads: the locks of `lockKeys` and of every contact read (none on a store of one
 * process) and the identities and profile of `identityKeys` and `contactId`. The locks of `lockKeys` alone would
 * not keep apart two events of one contact that name it by different identities (an email, a userId). The locks to
 * release with the save are heldLockKeys'.
 */
export function profileLockRequest(store: LockStore, lockKeys: string[], identityKeys: string[], contactId?: string): ProfileLockRequest {
	const request = { locks: [] as string[], ttlMs: LOCK_TTL_MS, identityKeys, ...(contactId !== undefined ? { contactId } : {}) };
	return store.shared ? { ...request, locks: [...new Set(lockKeys)].sort().map(identityLockKey), contactLocks: contactLockKey('') } : request;
}

/** The locks a request took with what it read: its own, and those of the contacts read. */
export function heldLockKeys(request: ProfileLockRequest, identities: Map<string, string>): string[] {
	if (request.contactLocks === undefined) return request.locks;
	const ids = [...(request.contactId !== undefined ? [request.contactId] : []), ...identities.values()];
	return [...new Set([...request.locks, ...ids.map((id) => request.contactLocks + id)])];
}

/**
 * The start of a profile update under the same locks in one store step: claims every lock of the request (all or
 * none, waiting while another process holds one) and reads the known identities and the profiles they lead to.
 */
export async function lockAndReadProfiles(store: LockStore & Pick<FoldedSteps, 'lockAndReadProfiles'>, request: ProfileLockRequest): Promise<HeldLocks> {
	const { locks, ttlMs, identityKeys, contactId, reads, contactLocks } = request;
	return retrying(locks.join(', '), async () => {
		const lockedAt = performance.now();
		const now = Date.now();
		const locked = await store.lockAndReadProfiles(locks, ttlMs, now, identityKeys, contactId, reads, contactLocks);
		return locked && { ...locked, lockedAt, lockedUntil: now + ttlMs };
	});
}

/**
 * What a profile update read with its locks, when the step that took them started (performance.now()) and the value
 * they hold (now + ttl, ProfileWrite.lockedUntil) while they are this caller's.
 */
export type HeldLocks = LockedProfiles & { lockedAt: number; lockedUntil: number };

/**
 * Whether locks taken at `lockedAt` are surely still this caller's: they expire LOCK_TTL_MS later, and another caller
 * may take them then; LOCK_MARGIN_MS keeps a step sent now from reaching the store after.
 */
export const locksStillHeld = (lockedAt: number): boolean => performance.now() - lockedAt < LOCK_TTL_MS - LOCK_MARGIN_MS;

/** The refusal of a profile update whose locks ran out before its save: nothing of it is written. */
export function lockedOut(contactId: string): NudgeError {
	return new NudgeError(
		'STORE_ERROR',
		`The profile of contact ${contactId} was not saved: its locks ran out first (this process or the store was slow) and another update may hold them now; nothing of the event was kept and no message left: deliver the event again`,
		[],
		503,
	);
}
