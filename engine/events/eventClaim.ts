/**
 * At-least-once ingest across processes, on two keys with two clocks:
 * - the lease (`event-lease:<id>`): a delivery holds it for EVENT_LEASE_MS of wall time while it takes the
 *   event in. A holder that died (kill -9, lost host) frees the event once the lease runs out in real time,
 *   also when the event's own clock is its past timestamp (replays), so the next delivery takes it over and
 *   an event whose first taker died before storing it is not lost.
 * - the mark (`event:<id>`): set once the decision row is durable, for the de-duplication window on the
 *   event's clock (`at`), so a repeat within the window, or a rerun of the same replay, is a duplicate.
 * A delivery that finds the lease held by another waits for the mark (a duplicate) or the lease to free.
 */
import { NudgeError } from '../errors';
import type { ClaimStore } from '../store/types';

/** How long a delivery may take between claiming an event and storing its decision (wall time). */
export const EVENT_LEASE_MS = 30_000;
/** How long a repeated delivery waits for an in-progress one before asking the sender to retry. */
const WAIT_MS = 5_000;

export const eventMarkKey = (eventId: string) => `event:${eventId}`;
export const eventLeaseKey = (eventId: string) => `event-lease:${eventId}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function marked(store: ClaimStore, eventId: string, at: number): Promise<boolean> {
	return (await store.keyHeldUntil(eventMarkKey(eventId), at)) !== undefined;
}

/** True when this caller takes the event in; false when it was taken in before (a duplicate). */
export async function claimEvent(store: ClaimStore, eventId: string, at: number): Promise<boolean> {
	const started = Date.now();
	for (let pause = 10; ; pause = Math.min(pause * 2, 200)) {
		const now = Date.now();
		if (await store.claimKey(eventLeaseKey(eventId), EVENT_LEASE_MS, now)) {
			// Marked before this lease was taken: a holder stored it and its lease has gone since.
			if (!(await marked(store, eventId, at))) return true;
			await store.releaseKey(eventLeaseKey(eventId));
			return false;
		}
		if (await marked(store, eventId, at)) return false;
		if (now - started >= WAIT_MS) {
			const until = await store.keyHeldUntil(eventLeaseKey(eventId), now);
			const left = until === undefined ? 'deliver it again now' : `if that process stopped, deliver it again in ${Math.ceil((until - now) / 1000)} s (when its claim runs out)`;
			throw new NudgeError('STORE_ERROR', `Event ${eventId} is being taken in by another process; ${left}`, [], 503);
		}
		await sleep(pause);
	}
}

/**
 * The event's decision is durable: repeats within the de-duplication window are duplicates. The lease
 * goes after the mark is set (a delivery meeting the lease finds the mark): left to run out, it would
 * hold up a repeat that comes after the window on the event's clock (a replay runs faster than real time).
 */
export async function commitEvent(store: ClaimStore, eventId: string, at: number, windowMs: number): Promise<void> {
	await store.holdKey(eventMarkKey(eventId), windowMs, at);
	await store.releaseKey(eventLeaseKey(eventId));
}

/** Not taken in: a retried delivery may claim it again at once. */
export function releaseEvent(store: ClaimStore, eventId: string): Promise<void> {
	return store.releaseKey(eventLeaseKey(eventId));
}
