import type { ProfileWrite, Store } from '../store/types';
import { lockedOut, locksStillHeld } from './identityLock';
import { releaseLocks, saveAndRelease } from './profiles';

/**
 * A profile update made under its contact's locks and not saved yet: the one-call journey leaves the save, with the
 * locks' release, to the next store step it takes (Store.foldsTakeIn: Choose Channel's look on Redis), one round trip
 * fewer a decision. Meanwhile the locks keep every other update of the contact out, in every process. The locks
 * expire, and another caller may then take them: a save left too long (locksStillHeld), or one a step refused as the
 * locks were no longer this caller's (ProfileWrite.lockedUntil), is neither carried nor sent, nor are its locks let go
 * here; the event's take-in is refused whole (lockedOut), for its retry to make the update afresh (made again here,
 * the decision would go on from the profile it read, which another caller may have changed: its consent, its contact;
 * and another delivery may have taken the event in meanwhile). Saved or abandoned once: a second call does nothing
 * (a failed save has let the locks go).
 */
export class HeldProfileUpdate {
	private settled = false;
	private lostLocks = false;

	constructor(
		private readonly store: Store,
		readonly write: ProfileWrite,
		private readonly lockedAt: number,
	) {}

	/** The save for a step to carry while the locks are surely still held; undefined past that. */
	get carriable(): ProfileWrite | undefined {
		return !this.settled && !this.lostLocks && locksStillHeld(this.lockedAt) ? this.write : undefined;
	}

	/** A step found the locks another caller's (they ran out). */
	lost(): void {
		this.lostLocks = true;
	}

	/** A step carrying `carriable` has succeeded. */
	carried(): void {
		this.settled = true;
	}

	/** Saves in a step of its own while the locks are surely held; refused (lockedOut) past that. */
	async save(): Promise<void> {
		if (this.settled) return;
		const write = this.carriable;
		this.settled = true;
		if (!write) throw lockedOut(this.write.profile.contactId);
		await saveAndRelease(this.store, write);
	}

	/** Not saved: the locks let go while they are surely still held (past that they run out alone). */
	async abandon(): Promise<void> {
		const write = this.carriable;
		this.settled = true;
		if (write) await releaseLocks(this.store, write.release);
	}
}
