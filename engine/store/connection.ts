/** Shared by the network stores (Redis, PostgreSQL). */

/** Wait before reconnect attempt `attempt` (1, 2, …): 50 ms doubling up to 2 s. */
export function reconnectDelayMs(attempt: number): number {
	return Math.min(50 * 2 ** Math.max(0, attempt - 1), 2000);
}
