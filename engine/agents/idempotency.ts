import type { Decision } from '../audit/schema';
import { NudgeError } from '../errors';
import { contentHash } from '../ids';
import type { Store } from '../store/types';

/**
 * The same idempotency key twice is one action. The action's decision id is derived from (agent, key), so a
 * repeat finds it; a lease (the store's claim keys, atomic on every backend) lets one caller at a time decide
 * or re-decide it, so two racing calls — in one process or on two workers — cannot both act.
 */
export const actionDecisionId = (agentId: string, idempotencyKey: string) => `d_agent_${contentHash({ agentId, idempotencyKey }, 32)}`;

/** A caller that died holding the lease holds it no longer than this. */
export const ACTION_LEASE_MS = 30_000;
/** How long a racing caller waits for the lease before it is told to retry. */
const WAIT_MS = 10_000;

/** Runs `work` holding the action's lease; a racing caller waits for it, then runs after (and finds the decision). */
export async function withActionLease<T>(store: Store, decisionId: string, now: () => number, work: () => Promise<T>): Promise<T> {
	const key = `agent-lease:${decisionId}`;
	const started = Date.now();
	for (let pause = 2; !(await store.claimKey(key, ACTION_LEASE_MS, now())); pause = Math.min(pause * 2, 50)) {
		if (Date.now() - started > WAIT_MS) {
			throw new NudgeError('CONFLICT', `Action ${decisionId} is still being decided by another call: ask again with the same idempotency key in a few seconds`, [], 409);
		}
		await new Promise((resolve) => setTimeout(resolve, pause));
	}
	try {
		return await work();
	} finally {
		await store.releaseKey(key);
	}
}

/** The action its key names, when the request is that action (same hash); other content under a used key is CONFLICT. */
export function sameAction(decision: Decision, request: { agentId: string; idempotencyKey: string }, requestHash: string): Decision {
	if (decision.agent?.requestHash !== requestHash) {
		throw new NudgeError('CONFLICT', `Idempotency key ${request.idempotencyKey} was already used by agent ${request.agentId} for a different request (contact, channel or message): use a new key for a new action`, [], 409);
	}
	return decision;
}
