/**
 * At-least-once ingest across processes, once per journey: each journey whose trigger receives an event opens its own
 * decision for it (the contact's profile counts the event once: profiles.ts takenIn). Two keys per event and journey,
 * with two clocks:
 * - the lease (`journey-event-lease:…`): a delivery holds it for EVENT_LEASE_MS of wall time while it takes the
 *   event in. A holder that died (kill -9, lost host) frees the event once the lease runs out in real time,
 *   also when the event's own clock is its past timestamp (replays), so the next delivery takes it over and
 *   an event whose first taker died before storing it is not lost.
 * - the mark (`journey-event:…`): set once the decision row is durable, for the de-duplication window on the
 *   event's clock (`at`), so a repeat within the window, or a rerun of the same replay, is a duplicate.
 * A delivery that finds the lease held by another waits for the mark (a duplicate) or the lease to free.
 */
import { NudgeError } from '../errors';
import type { HeldLocks } from '../profiles/identityLock';
import type { HeldProfileUpdate } from '../profiles/heldUpdate';
import type { ClaimStore, FoldedSteps, KeyHold, ProfileLockRequest, TakeIn } from '../store/types';

/** The claims an event's ingest takes, with the folded steps over them. */
type EventClaims = ClaimStore & Pick<FoldedSteps, 'claimKeyUnlessMarked' | 'claimKeyUnlessMarkedAndLock' | 'finishTakeIn'>;

/** How long a delivery may take between claiming an event and storing its decision (wall time). */
export const EVENT_LEASE_MS = 30_000;
/** How long a repeated delivery waits for an in-progress one before asking the sender to retry. */
const WAIT_MS = 5_000;

/** An event in a journey: the journey's name is length-prefixed, so no journey and id can spell another pair's key. */
export interface EventTake {
	journey: string;
	eventId: string;
}
const takeKey = ({ journey, eventId }: EventTake) => `${journey.length}:${journey}:${eventId}`;
export const eventMarkKey = (take: EventTake) => `journey-event:${takeKey(take)}`;
export const eventLeaseKey = (take: EventTake) => `journey-event-lease:${takeKey(take)}`;
/**
 * The mark versions before this one set once per store, whichever journey took the event in: it still makes a repeat
 * within its window a duplicate in every journey (profiles.ts takenIn says when it is looked at).
 */
export const storeWideEventMarkKey = (eventId: string) => `event:${eventId}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The lease's value (its run-out time) when this caller takes the event in; undefined when it was taken in before (a
 * duplicate).
 */
export async function claimEvent(store: EventClaims, take: EventTake, at: number): Promise<number | undefined> {
	const started = Date.now();
	for (let pause = 10; ; pause = Math.min(pause * 2, 200)) {
		const now = Date.now();
		// One step: the lease, unless the mark says a holder stored the event already (before or after this lease).
		const claim = await store.claimKeyUnlessMarked(eventLeaseKey(take), EVENT_LEASE_MS, now, eventMarkKey(take), at);
		if (claim !== 'held') return claim === 'claimed' ? now + EVENT_LEASE_MS : undefined;
		if (now - started >= WAIT_MS) {
			const until = await store.keyHeldUntil(eventLeaseKey(take), now);
			const left = until === undefined ? 'deliver it again now' : `if that process stopped, deliver it again in ${Math.ceil((until - now) / 1000)} s (when its claim runs out)`;
			throw new NudgeError('STORE_ERROR', `Event ${take.eventId} is being taken in by another process; ${left}`, [], 503);
		}
		await sleep(pause);
	}
}

/**
 * One try at the event with its contact's profile update started in the same store step: the lease (unless marked),
 * then the identity locks and the profile read. 'held': another delivery has the event (claimEvent waits for it);
 * `locked` is absent when a lock was held by another caller (the event stays claimed).
 */
export async function claimEventAndLock(store: EventClaims, take: EventTake, at: number, lock: ProfileLockRequest): Promise<{ claim: 'claimed' | 'held' | 'marked'; claimedUntil: number; locked?: HeldLocks }> {
	const lockedAt = performance.now();
	const now = Date.now();
	const { claim, locked } = await store.claimKeyUnlessMarkedAndLock(eventLeaseKey(take), EVENT_LEASE_MS, now, eventMarkKey(take), at, lock);
	const claimedUntil = now + EVENT_LEASE_MS;
	return locked ? { claim, claimedUntil, locked: { ...locked, lockedAt, lockedUntil: now + lock.ttlMs } } : { claim, claimedUntil };
}

/**
 * The event's mark, set once its decision is durable: repeats within the de-duplication window are duplicates. The
 * lease goes after the mark is set (a delivery meeting the lease finds the mark): left to run out, it would hold up a
 * repeat that comes after the window on the event's clock (a replay runs faster than real time). The one-call journey
 * lets its next store step carry it (Choose Channel's look: one round trip fewer on Redis, usecases/run.ts) instead of
 * a step of its own, and with it the contact's profile update when that was left too (`profile`: on a shared store,
 * whose save the nodes' ingest also leaves to the mark's step); until then the lease keeps the event from a repeated delivery, as while it was
 * taken in, and the identity locks keep the contact's other updates out. It is set before any message leaves.
 *
 * The mark is set, and the profile saved, only while the lease still holds the value it was claimed with
 * (`claimedUntil`) and the locks theirs: a delivery that stalled past its lease (30 s) may find that another delivery
 * of the event took it over and in, and taking it in too would make a second decision, and a second message. Such a
 * take-in is refused whole before any message, with nothing written and nothing let go (the lease and the locks may be
 * another caller's): the event is left to its retry, a duplicate once the other delivery has marked it. A mark that
 * cannot be set (the store failed) lets the event go, and the profile update with it, so a retried delivery can take it.
 */
export class EventMark {
	private state: 'pending' | 'done' | 'failed' | 'refused' = 'pending';
	readonly mark: KeyHold;

	constructor(
		private readonly store: EventClaims,
		private readonly take: EventTake,
		at: number,
		windowMs: number,
		claimedUntil: number | undefined,
		private profile?: HeldProfileUpdate,
	) {
		this.mark = { hold: eventMarkKey(take), ttlMs: windowMs, now: at, release: eventLeaseKey(take), ...(claimedUntil === undefined ? {} : { claimedUntil }) };
	}

	/** The take-in was refused (its lease or its locks ran out): nothing of it was written, and the caller lets nothing go. */
	get refused(): boolean {
		return this.state === 'refused';
	}

	/** The take-in failed in the store, and the event was let go already. */
	get letGo(): boolean {
		return this.state === 'failed';
	}

	/**
	 * Runs a store step carrying the take-in's end, done once the step succeeds; nothing to carry once it is done. A
	 * take-in the step refuses, or whose profile update was left so long that its locks may have run out, is refused
	 * (thrown) before anything more of the decision is done: no choice, no learner count, no logged verdict.
	 */
	async carriedBy<T extends { tookIn?: false }>(step: (takeIn?: TakeIn) => Promise<T>): Promise<T> {
		if (this.state !== 'pending') return step();
		const takeIn = this.takeIn();
		if (!takeIn) return this.refuse();
		const result = await step(takeIn);
		// Refused (the lease or the locks ran out and another caller holds them): nothing more of the decision is done.
		if (result.tookIn === false) return this.refuse();
		this.state = 'done';
		await this.profile?.carried();
		return result;
	}

	/** Ends the take-in in a step of its own, unless a step carried it, or it failed or was refused before. */
	async set(): Promise<void> {
		if (this.state !== 'pending') return;
		const takeIn = this.takeIn();
		let took = false;
		try {
			if (takeIn) took = await this.store.finishTakeIn(takeIn);
		} catch (error) {
			this.state = 'failed';
			await this.profile?.abandon();
			await releaseEvent(this.store, this.take, this.mark.claimedUntil).catch(() => undefined);
			throw error;
		}
		if (!took) return this.refuse();
		this.state = 'done';
		await this.profile?.carried();
	}

	/**
	 * Nothing of the take-in was written, and its locks and lease may be another caller's. The lease is let go only while
	 * it still holds this delivery's value (refused for the locks alone, it is): the sender's retry need not wait for it
	 * to run out (EVENT_LEASE_MS). The locks run out soon (LOCK_TTL_MS) and are left.
	 */
	private async refuse(): Promise<never> {
		this.state = 'refused';
		this.profile?.lost();
		if (this.mark.claimedUntil !== undefined) await releaseEvent(this.store, this.take, this.mark.claimedUntil).catch(() => undefined);
		throw takeInRefused(this.take.eventId);
	}

	/** The mark, with the profile update's save when one was left; undefined when that save's locks may have run out. */
	private takeIn(): TakeIn | undefined {
		if (!this.profile) return { mark: this.mark };
		const profile = this.profile.carriable;
		return profile && { mark: this.mark, profile };
	}
}

/** The refusal of a take-in whose lease or locks ran out before its end: nothing of it is kept. */
function takeInRefused(eventId: string): NudgeError {
	return new NudgeError(
		'STORE_ERROR',
		`Event ${eventId} was not taken in: its claim or its contact's locks ran out first (this process or the store was slow) and another delivery or update may hold them now; nothing of it was kept and no message left: deliver the event again (a duplicate, if another delivery took it in meanwhile)`,
		[],
		503,
	);
}

/**
 * Not taken in: a retried delivery may claim it again at once. With the lease's value (`claimedUntil`), only while the
 * lease still holds it: a delivery that stalled past its lease does not let go of the one another delivery took since.
 */
export function releaseEvent(store: ClaimStore, take: EventTake, claimedUntil?: number): Promise<void> {
	return store.releaseKey(eventLeaseKey(take), claimedUntil);
}
