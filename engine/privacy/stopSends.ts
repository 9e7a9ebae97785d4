import { setTimeout as sleep } from 'node:timers/promises';
import { iterateDecisions } from '../audit/export';
import { isOpen, OPEN_STATUSES } from '../audit/status';
import type { Store } from '../store/types';
import { sendClaim } from '../usecases/send';

/** How long an erasure waits for a send already under way to the person to be logged (a provider's retries included). */
export const SEND_UNDER_WAY_WAIT_MS = 30_000;

/**
 * Before a contact is erased at their request: no send of theirs starts any more, and one under way ends first.
 * A send under way (its key claimed, the provider not answered yet) would write its decision back under the person's
 * id after the erasure pseudonymised it. The erasure claims the send key of every open decision (pending, delayed,
 * in review), so none of them sends: the erasure ends them CONTACT_ERASED, and a cap check or a send that finds the
 * key held reserves nothing and answers the erased row (usecases/context.ts endedElsewhere), whether a one-call
 * journey between its stages, a Frequency Cap node or Decisions Due bringing a delayed one back. It waits for every
 * open decision whose key was claimed already (by Send, or by a cap check whose send follows at once) to end; one
 * still open after `waitMs` (its process died mid-send) is erased as it stands; one whose key is let go while it is still
 * open (a reviewer's verdict written) has it held then. Returns the keys it claimed, each
 * with the value it holds, for an erasure that fails to give back (releaseHeld); given `held` (the keys a pass before
 * held), it skips those and adds the new ones to it.
 */
export async function stopSends(store: Store, contactIds: string[], now: () => number, waitMs = SEND_UNDER_WAY_WAIT_MS, held: HeldKey[] = []): Promise<HeldKey[]> {
	const underWay: string[] = [];
	// Added to the caller's list as each is held: an erasure failing half-way gives back every key it held (releaseHeld).
	const mine = new Set(held.map(({ key }) => key));
	const hold = async (decisionId: string) => {
		const { key, ttlMs } = sendClaim(decisionId);
		const at = now();
		if (!(await store.claimKey(key, ttlMs, at))) return false;
		held.push({ key, heldAs: at + ttlMs });
		return true;
	};
	for (const status of OPEN_STATUSES) {
		for await (const decision of iterateDecisions(store, { contactIds, status })) {
			if (!mine.has(sendClaim(decision.decisionId).key) && !(await hold(decision.decisionId))) underWay.push(decision.decisionId);
		}
	}
	const deadline = Date.now() + waitMs;
	for (const decisionId of underWay) {
		// A reviewer's verdict holds the key only while it is written (usecases/send.ts withSendKey): let go with the
		// decision still open (approved), the key is held now, as the others are.
		while (isOpen((await store.getDecision(decisionId))?.status) && Date.now() < deadline && !(await hold(decisionId))) await sleep(50);
	}
	return held;
}

export interface HeldKey {
	key: string;
	heldAs: number;
}

/** An erasure that failed gives back the send keys it held: the contact is kept, and its decisions go on as before. */
export async function releaseHeld(store: Store, held: HeldKey[]): Promise<void> {
	for (const { key, heldAs } of held) await store.releaseKey(key, heldAs);
}

