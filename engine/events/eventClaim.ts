/**
 * At-least-once ingest across processes. A delivery claims its event id for EVENT_LEASE_MS while it is
 * being taken in; once the decision row is durable the claim is held for the de-duplication window
 * (`commitEvent`). A later delivery of the same event is then a duplicate. A delivery that finds the
 * claim still in progress waits for it: it becomes a duplicate once the first commits, or takes the
 * event over when the first holder died (kill -9, lost host) and its lease ran out, so an event whose
 * first taker died before storing it is not lost.
 */
import { NudgeError } from '../errors';
import type { Store } from '../store/types';

/** How long a delivery may take between claiming an event and storing its decision. */
export const EVENT_LEASE_MS = 30_000;
/** How long a repeated delivery waits for an in-progress one before asking the sender to retry. */
const WAIT_MS = 5_000;

const keyOf = (eventId: string) => `event:${eventId}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** True when this caller takes the event in; false when it was taken in before (a duplicate). */
export async function claimEvent(store: Store, eventId: string, at: number): Promise<boolean> {
	const key = keyOf(eventId);
	const started = Date.now();
	for (let waited = 0, pause = 10; ; waited = Date.now() - started, pause = Math.min(pause * 2, 200)) {
		// The event's clock may be the event time (replays): advance it by the real time spent waiting.
		const now = at + waited;
		if (await store.claimKey(key, EVENT_LEASE_MS, now)) return true;
		const until = await store.keyHeldUntil(key, now);
		if (until !== undefined && until - now > EVENT_LEASE_MS) return false;
		if (waited >= WAIT_MS) {
			throw new NudgeError('STORE_ERROR', `Event ${eventId} is being taken in by another process; deliver it again shortly`, [], 503);
		}
		if (until !== undefined) await sleep(pause);
	}
}

/** The event's decision is durable: repeats within the de-duplication window are duplicates. */
export function commitEvent(store: Store, eventId: string, at: number, windowMs: number): Promise<void> {
	return store.holdKey(keyOf(eventId), Math.max(windowMs, 2 * EVENT_LEASE_MS), at);
}

/** Not taken in: a retried delivery may claim it again at once. */
export function releaseEvent(store: Store, eventId: string): Promise<void> {
	return store.releaseKey(keyOf(eventId));
}
