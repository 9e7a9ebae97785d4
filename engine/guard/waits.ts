/**
 * Waiting is the engine's job. A decision the guardrails delay (quiet hours, a cap's `retryAt`) is kept in
 * the store's `waits` timer queue under its due time, so no flow holds it (an n8n Wait node would hold the
 * whole execution; a Node-RED delay node loses it on restart). When due, `takeDueDecisions` leases each to
 * exactly one taker (the timer leases of engine/events/timers.ts); the taker puts it back into the flow at
 * the guardrails step, which checks it again — the same decision is then sent, suppressed or delayed anew.
 * A handed-out decision's wait is not deleted: it stays leased for `WAIT_RETRY_MS`, so a decision whose flow
 * failed before it was sent (the execution failed, the store was down, the process died) comes out again then,
 * instead of staying `delayed` (or allowed and unsent) with nothing to bring it back. A check that delays it
 * again moves the wait; one that settles it leaves a wait that hands out nothing and is deleted when next taken.
 */
import type { Decision } from '../audit/schema';
import type { Engine } from '../engine';
import { type LeasedTimer, type StoredTimer, waitQueue } from '../store/types';

/**
 * The wait of one decision, in its journey's queue (a decision waits at most once at a time: a new delay moves it).
 * The body names the contact, as every timer's does, so erasing the contact removes the wait (store/erasure.ts).
 */
export function waitTimer(decision: Pick<Decision, 'decisionId' | 'journey' | 'contactId'>, dueAt: number): StoredTimer {
	return { timerId: `${waitQueue(decision.journey)}:${decision.decisionId}`, dueAt, body: JSON.stringify({ decisionId: decision.decisionId, contactId: decision.contactId }) };
}

/**
 * How long a handed-out decision waits to come out again if nothing checked it meanwhile: long enough for its
 * execution to reach Frequency Cap even in a busy n8n queue (a second hand-out sends nothing twice — a send
 * is claimed by its decision id — but is a wasted execution), short enough to resend within the hour.
 */
export const WAIT_RETRY_MS = 10 * 60_000;

/**
 * A decision its wait still has to bring back: delayed, or allowed by Frequency Cap and never sent (its flow failed
 * between Frequency Cap and Send; Frequency Cap checks it again if its slot may be gone, usecases/guard.ts).
 */
function stillToSend(decision: Decision): boolean {
	return decision.status === 'delayed' || (decision.status === 'pending' && !!decision.guard?.allowed && !decision.delivery);
}

export interface DueDecisions {
	/** Decisions whose time came and that are still to send (stillToSend), earliest first: put each back at the guardrails step. */
	decisions: Decision[];
	/** Waits that could not be read (e.g. the store failed): not acknowledged, so due again after the lease. */
	failed: { timerId: string; error: Error }[];
	/** Deletes the waits that handed out nothing (their decision settled or gone); call once the decisions left the node. */
	acknowledge(): Promise<void>;
}

/**
 * Takes the journey's waits due at `now`, each leased for `leaseMs`. A wait whose decision is no longer delayed
 * (an order cancelled the reminder, or it was checked again meanwhile) or is gone hands out nothing and is
 * acknowledged; a delayed decision's wait stays leased (see above).
 */
export async function takeDueDecisions(engine: Engine, journey: string, now = Date.now(), limit = 100, leaseMs = WAIT_RETRY_MS): Promise<DueDecisions> {
	const due = await engine.store.takeDueTimers(now, limit, leaseMs, waitQueue(journey));
	const decisions: Decision[] = [];
	const failed: DueDecisions['failed'] = [];
	const done: LeasedTimer[] = [];
	for (const timer of due) {
		try {
			const { decisionId } = JSON.parse(timer.body) as { decisionId: string };
			const decision = await engine.store.getDecision(decisionId);
			if (decision && stillToSend(decision)) decisions.push(decision);
			else done.push(timer);
		} catch (error) {
			failed.push({ timerId: timer.timerId, error: error as Error });
		}
	}
	return {
		decisions,
		failed,
		async acknowledge() {
			for (const timer of done) await engine.store.ackTimer(timer.timerId, timer.lease);
		},
	};
}
