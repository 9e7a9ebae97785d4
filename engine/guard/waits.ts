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
import { type LeasedTimer, type StoredTimer, timerQueue, waitQueue } from '../store/types';

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
	await adoptEarlierDelays(engine, journey, now);
	const due = await engine.store.takeDueTimers(now, limit, leaseMs, waitQueue(journey));
	const decisions: Decision[] = [];
	const failed: DueDecisions['failed'] = [];
	const done: LeasedTimer[] = [];
	for (const timer of due) {
		try {
			const decision = await engine.store.getDecision(decisionOfWait(timer));
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

/**
 * The decision a wait brings back: named in its body, and in its id (waitTimer). A wait whose body is lost (on Redis, one
 * an earlier version's process wrote during a rolling upgrade where this version does not read bodies, docs/deploy.md)
 * is read by its id, rather than failed at every take for good.
 */
function decisionOfWait(timer: LeasedTimer): string {
	try {
		const { decisionId } = JSON.parse(timer.body) as { decisionId?: unknown };
		if (typeof decisionId === 'string') return decisionId;
	} catch {
		// Read by its id below.
	}
	return timer.timerId.slice(timerQueue(timer.timerId).length + 1);
}

/** Journeys whose delayed decisions this engine has seen adopted (the store's mark read once per process). */
const adopted = new WeakMap<Engine, Set<string>>();
const ADOPT_PAGE = 1_000;

/**
 * Versions before the store kept waits (2026-12-03) delayed a decision by writing it `delayed` with its `retryAt` and
 * leaving the wait to the flow (an n8n Wait node's waiting execution, a Node-RED delay node): no wait of theirs is in the
 * store, so once that execution is gone (the old workflow deleted as the current templates replace it: n8n deletes a
 * deleted workflow's executions, waiting ones too) nothing would bring the decision back. The first take of a journey's
 * due decisions on a store gives each of its delayed decisions that has none a wait at its `retryAt`, once per store (a
 * mark in it); not an agent's action, which the agent asks for again. One still held by such an execution may come out
 * twice: every step takes a decision it has seen before as it stands, so it is sent once.
 */
async function adoptEarlierDelays(engine: Engine, journey: string, now: number): Promise<void> {
	const seen = adopted.get(engine) ?? new Set<string>();
	adopted.set(engine, seen);
	if (seen.has(journey)) return;
	const mark = `adopted-delays:${encodeURIComponent(journey)}`;
	if ((await engine.store.getCursor(mark)) === undefined) {
		let after: { createdAt: string; decisionId: string } | undefined;
		for (;;) {
			const page = await engine.store.queryDecisions({ journey, status: 'delayed', limit: ADOPT_PAGE, ...(after ? { after } : {}) });
			for (const decision of page) {
				// An agent's delayed action has no wait on purpose: the agent asks again (agents/actions.ts).
				const retryAt = decision.guard?.retryAt ? Date.parse(decision.guard.retryAt) : NaN;
				// One that has a wait keeps it (its due time, and its lease if a taker has it now).
				if (!decision.agent && Number.isFinite(retryAt)) await engine.store.scheduleTimer(waitTimer(decision, retryAt), true);
			}
			if (page.length < ADOPT_PAGE) break;
			const last = page[page.length - 1];
			after = { createdAt: last.createdAt, decisionId: last.decisionId };
		}
		// Another process may have set it meanwhile (it adopted the same decisions: the same waits).
		await engine.store.setCursor(mark, new Date(now).toISOString(), undefined);
	}
	seen.add(journey);
}
