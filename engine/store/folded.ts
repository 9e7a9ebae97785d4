import type { Profile } from '../profiles/schema';
import { NamedRecords } from './records';
import { readSendHours, sendHoursIn, sendTimeKeys, type SendHours } from './sendHours';
import { noCounters, type ArmStats, type CapCounter, type CapReservation, type CapVerdict, type FoldedSteps, type KeyClaim, type LockedProfiles, type ProfileLockRequest, type RecordReads, type Store, type TakeIn } from './types';

/**
 * The folded steps (roles.ts FoldedSteps) composed of the store's plain methods, with the named records: for the
 * backends that extend this (memory, SQLite, PostgreSQL: in-process, or a round trip that is not the bottleneck),
 * and for a composed store whose parts split a step's roles (compose.ts). Redis runs each as one script.
 */
export class ComposedSteps extends NamedRecords implements FoldedSteps {
	/** Claim first, then look at the mark: a holder sets its mark before it lets the lease go. */
	async claimKeyUnlessMarked(this: Store, key: string, ttlMs: number, now: number, mark: string, markAt: number): Promise<'claimed' | 'held' | 'marked'> {
		if (await this.claimKey(key, ttlMs, now)) {
			if ((await this.keyHeldUntil(mark, markAt)) === undefined) return 'claimed';
			await this.releaseKey(key);
			return 'marked';
		}
		return (await this.keyHeldUntil(mark, markAt)) === undefined ? 'held' : 'marked';
	}

	async claimKeyUnlessMarkedAndLock(this: Store, key: string, ttlMs: number, now: number, mark: string, markAt: number, lock: ProfileLockRequest): Promise<{ claim: 'claimed' | 'held' | 'marked'; locked?: LockedProfiles }> {
		const claim = await this.claimKeyUnlessMarked(key, ttlMs, now, mark, markAt);
		if (claim !== 'claimed') return { claim };
		const locked = await this.lockAndReadProfiles(lock.locks, lock.ttlMs, now, lock.identityKeys, lock.contactId, lock.reads, lock.contactLocks);
		return locked ? { claim, locked } : { claim };
	}

	async finishTakeIn(this: Store, { profile, mark }: TakeIn): Promise<boolean> {
		// The lease first: past it, another delivery of the event may have claimed it (a later value) or marked it (a
		// check, then the writes: only Redis makes them one step).
		if (mark.claimedUntil !== undefined) {
			const lease = await this.keyHeldUntil(mark.release, mark.claimedUntil - 1);
			if (lease !== mark.claimedUntil && (lease !== undefined || (await this.keyHeldUntil(mark.hold, mark.now)) !== undefined)) return false;
		}
		if (profile && !(await this.saveProfileAndRelease(profile.profile, profile.identityKeys, profile.merged, profile.release, profile.lockedUntil))) return false;
		await this.holdKey(mark.hold, mark.ttlMs, mark.now);
		await this.releaseKey(mark.release);
		return true;
	}

	/**
	 * Locks in sorted order; one that is held lets go of those taken, so two callers never wait on each other. Reads no
	 * records: here each would be a call of its own, on every event, where the caller asks only for what it needs.
	 */
	async lockAndReadProfiles(this: Store, locks: string[], ttlMs: number, now: number, identityKeys: string[], contactId?: string, _reads?: RecordReads, contactLocks?: string): Promise<LockedProfiles | undefined> {
		const held: string[] = [];
		const letGo = () => Promise.all(held.map((k) => this.releaseKey(k)));
		const take = async (keys: string[]) => {
			for (const key of keys) {
				if (!(await this.claimKey(key, ttlMs, now))) {
					await letGo();
					return false;
				}
				held.push(key);
			}
			return true;
		};
		if (!(await take([...new Set(locks)].sort()))) return undefined;
		const identities = await this.resolveIdentities(identityKeys);
		const ids = new Set([...(contactId ? [contactId] : []), ...identities.values()]);
		if (contactLocks) {
			if (!(await take([...ids].map((id) => contactLocks + id).filter((key) => !held.includes(key)).sort()))) return undefined;
			// Resolved before the contacts' locks were taken: a merge meanwhile (another update under those locks) moves an
			// identity to another contact, which this update has not locked. Let go, for the caller to try again.
			const again = await this.resolveIdentities(identityKeys);
			if (again.size !== identities.size || [...again].some(([key, id]) => identities.get(key) !== id)) {
				await letGo();
				return undefined;
			}
		}
		// Read together, as before the fold: merges on a network store are not serial round trips.
		const found = await Promise.all([...ids].map(async (id) => [id, await this.getProfile(id)] as const));
		const profiles = new Map<string, Profile>();
		for (const [id, profile] of found) if (profile) profiles.set(id, profile);
		return { identities, profiles };
	}

	/** The locks' values are read before the save, not in one step with it: a store of one process takes no locks. */
	async saveProfileAndRelease(this: Store, profile: Profile, identityKeys: string[], merged: string[], release: string[], lockedUntil?: number): Promise<boolean> {
		if (lockedUntil !== undefined) for (const key of release) if ((await this.keyHeldUntil(key, 0)) !== lockedUntil) return false;
		await this.saveProfile(profile, identityKeys, merged);
		if (release.length) await Promise.all(release.map((key) => this.releaseKey(key)));
		return true;
	}

	async reserveCapAndClaim(this: Store, reservation: CapReservation, counters: CapCounter[], claim: KeyClaim): Promise<CapVerdict & { claimed: boolean; held?: boolean }> {
		if ((await this.keyHeldUntil(claim.key, reservation.at)) !== undefined) return { ...(await this.peekCap(reservation.contactId, counters, reservation.at)), claimed: false, held: true };
		const verdict = await this.reserveCap(reservation, counters);
		// Two store steps: a key claimed between them (an erasure) is seen after, and the slot given back.
		if (verdict.ok && claim.lookOnly && (await this.keyHeldUntil(claim.key, reservation.at)) !== undefined) {
			await this.settleCap(reservation.reservationId, 'release');
			return { ...verdict, claimed: false, held: true };
		}
		return { ...verdict, claimed: verdict.ok && !claim.lookOnly && (await this.claimKey(claim.key, claim.ttlMs, reservation.at)) };
	}

	/** The send hours are read as their keys with the arms', in one getArmStats (one query on PostgreSQL). */
	async peekCapAndReadArmStats(this: Store, contactId: string, counters: CapCounter[], now: number, armKeys: string[], sendHours = false, takeIn?: TakeIn): Promise<{ verdict: CapVerdict; stats: Map<string, ArmStats>; hours?: SendHours; tookIn?: false }> {
		if (takeIn && !(await this.finishTakeIn(takeIn))) return { ...(await this.peekCapAndReadArmStats(contactId, counters, now, armKeys, sendHours)), tookIn: false };
		const hourKeys = sendHours ? sendTimeKeys(contactId) : [];
		const [verdict, stats] = await Promise.all([counters.length ? this.peekCap(contactId, counters, now) : noCounters(), this.getArmStats([...armKeys, ...hourKeys])]);
		return sendHours ? { verdict, stats, hours: sendHoursIn(stats, hourKeys) } : { verdict, stats };
	}

	/** Read by key; a store may keep them otherwise (SQLite: a copy by contact). */
	getSendHours(this: Store, contactId: string): Promise<SendHours> {
		return readSendHours(this, contactId);
	}

	async settleCapAndCount(this: Store, reservationId: string, outcome: 'commit' | 'release', deltas: { key: string; delta: Partial<ArmStats> }[]): Promise<boolean> {
		const settled = await this.settleCap(reservationId, outcome);
		if (deltas.length) await this.addArmStats(deltas);
		return settled;
	}
}
