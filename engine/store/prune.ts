/**
 * What the SQL backends share for retention (Store.pruneExpired, Store.inactiveContacts): they walk a table in
 * primary-key order, a page at a time, so each step is one bounded read and one bounded transaction, and the
 * walk never rescans what it has passed (no index on the time column is needed, so writes pay for none).
 */
import { RETENTION_BATCH, type PruneTarget } from './types';

/** The table, its key, and the time (epoch ms) past which a row goes. */
export const PRUNE_TABLES: Record<PruneTarget, { table: string; key: string; time: string }> = {
	capLedger: { table: 'cap_ledger', key: 'reservation_id', time: 'at' },
	claims: { table: 'claimed_keys', key: 'key', time: 'expires_at' },
};

export interface KeyedRow {
	key: string;
	/** Epoch ms (a cap entry's time, a claim's expiry) or an ISO time (a profile's last activity). */
	time: string | number | null;
}

/** Between batches retention lets the events waiting in this process go first (it shares their event loop and store). */
export const yieldToEvents = () => new Promise((resolve) => setImmediate(resolve));

/** Each page of rows after `after` in key order (at most RETENTION_BATCH), until the table ends. */
async function* pages(page: (after: string) => Promise<KeyedRow[]>): AsyncGenerator<KeyedRow[]> {
	for (let after = ''; ; ) {
		const rows = await page(after);
		if (rows.length) yield rows;
		if (rows.length < RETENTION_BATCH) return;
		after = rows[rows.length - 1].key;
		await yieldToEvents();
	}
}

/**
 * Deletes (or with dryRun counts) the rows older than `before`, page by page. `remove` deletes the keys given
 * whose time is still before `before` (a row refreshed meanwhile stays) and says how many it deleted.
 */
export async function prunePages(page: (after: string) => Promise<KeyedRow[]>, remove: (keys: string[]) => Promise<number>, before: number, dryRun: boolean): Promise<number> {
	let pruned = 0;
	for await (const rows of pages(page)) {
		const old = rows.filter((r) => Number(r.time) < before).map((r) => r.key);
		if (old.length) pruned += dryRun ? old.length : await remove(old);
	}
	return pruned;
}

/** The keys of the rows whose ISO time is before `before`, in pages (a row without a time is never taken as old). */
export async function* olderPages(page: (after: string) => Promise<KeyedRow[]>, before: string, pageSize: number): AsyncGenerator<string[]> {
	let found: string[] = [];
	for await (const rows of pages(page)) {
		for (const r of rows) if (typeof r.time === 'string' && r.time < before) found.push(r.key);
		if (found.length < pageSize) continue;
		yield found;
		found = [];
	}
	if (found.length) yield found;
}
