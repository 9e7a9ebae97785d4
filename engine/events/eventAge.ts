import type { Policy } from '../policy/schema';
import { parseTime } from '../util/isoTime';

/** How long a repeated delivery is recognised after the first (policy dedupWindowHours). */
export const dedupWindowMs = (policy: Pick<Policy, 'dedupWindowHours'>) => policy.dedupWindowHours * 3_600_000;

/**
 * Whether an event happened longer ago than the de-duplication window when it arrived. A repeat is known for
 * dedupWindowHours after the first delivery, which came no earlier than the event happened: acting only on younger
 * events, no repeat (a Segment replay of history, a captured request sent again days later: Segment signs no time)
 * can message anyone twice. So such an event starts nothing: no message (EVENT_TOO_OLD) and no wait.
 */
export function olderThanDedupWindow(policy: Pick<Policy, 'dedupWindowHours'>, occurredAt: string, arrivedAt: number): boolean {
	return arrivedAt - parseTime(occurredAt) > dedupWindowMs(policy);
}
