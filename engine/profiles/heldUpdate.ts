import type { ProfileWrite, Store } from '../store/types';
import { locksStillHeld } from './identityLock';
import { afterMerge, releaseLocks } from './profiles';

/**
 * A profile update made under its contact's locks and not saved yet: on a shared store the save, with the locks'
 * release, is left to the step that ends the event's take-in (events/eventClaim.ts EventMark: the nodes' ingest's last
 * step, or the one-call journey's next store step, Choose Channel's look on Redis), fenced with the event's lease.
 * Meanwhile the locks keep every other update of the contact out, in every process. The locks expire, and another
 * caller may then take them: a save left too long (locksStillHeld), or one a step refused as the locks were no longer
 * this caller's (ProfileWrite.lockedUntil), is neither carried nor sent, nor are its locks let go here; the event's
 * take-in is refused whole, for its retry to make the update afresh (made again here, the decision would go on from the
 * profile it read, which another caller may have changed: its consent, its contact; and another delivery may have
 * taken the event in meanwhile). Carried or abandoned once: a second call does nothing (a failed step has let the
 * locks go).
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

	/** A step carrying `carriable` has succeeded: the save is made, and what follows a merge is done (afterMerge). */
	async carried(): Promise<void> {
		this.settled = true;
		await afterMerge(this.store, this.write);
	}

	/** Not saved: the locks let go while they are surely still held (past that they run out alone). */
	async abandon(): Promise<void> {
		const write = this.carriable;
		this.settled = true;
		if (write) await releaseLocks(this.store, write.release, write.lockedUntil);
	}
}
