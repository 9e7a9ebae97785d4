import { setTimeout as sleep } from 'node:timers/promises';
import type { Store } from '../store/types';
import { sendClaim } from '../usecases/send';

/** How long an erasure waits for a send already under way to the person to be logged (a provider's retries included). */
export const SEND_UNDER_WAY_WAIT_MS = 30_000;

/**
 * Before a contact is erased at their request: no send of theirs starts any more, and one under way ends first.
 * A send under way (its decision allowed, its key claimed, the provider not answered yet) would write its decision back
 * under the person's id after the erasure pseudonymised it. The erasure claims the send key of each decision Frequency
 * Cap allowed, so none of them starts (the erasure ends them CONTACT_ERASED), and waits for those it could not claim to
 * leave `pending`; one still pending after `waitMs` (its process died mid-send) is erased as it stands.
 */
export async function stopSends(store: Store, contactIds: string[], now: () => number, waitMs = SEND_UNDER_WAY_WAIT_MS): Promise<void> {
	const allowed = (await store.queryDecisions({ contactIds, status: 'pending' })).filter((d) => d.guard?.allowed);
	const underWay: string[] = [];
	for (const { decisionId } of allowed) {
		const { key, ttlMs } = sendClaim(decisionId);
		if (!(await store.claimKey(key, ttlMs, now()))) underWay.push(decisionId);
	}
	const deadline = Date.now() + waitMs;
	for (const decisionId of underWay) {
		while ((await store.getDecision(decisionId))?.status === 'pending' && Date.now() < deadline) await sleep(50);
	}
}
