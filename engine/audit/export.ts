import type { Decision, DecisionQuery } from './schema';
import type { Store } from '../store/types';

/** Streams every decision matching the query, page by page, in creation order. */
export async function* iterateDecisions(store: Store, query: DecisionQuery = {}, pageSize = 1000): AsyncGenerator<Decision> {
	let after = query.after;
	for (;;) {
		const page = await store.queryDecisions({ ...query, after, limit: pageSize });
		for (const d of page) yield d;
		if (page.length < pageSize) return;
		const last = page[page.length - 1];
		after = { createdAt: last.createdAt, decisionId: last.decisionId };
	}
}

/** JSONL export, one decision per line. */
export async function exportJsonl(store: Store, query: DecisionQuery, write: (line: string) => void): Promise<number> {
	let n = 0;
	for await (const d of iterateDecisions(store, query)) {
		write(`${JSON.stringify(d)}\n`);
		n++;
	}
	return n;
}
