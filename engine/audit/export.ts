import type { Decision, DecisionQuery } from './schema';
import type { Store } from '../store/types';
import { redactDecision } from './redact';
import { decisionCsvHeader, decisionCsvRow } from './csv';

/** Streams every decision matching the query, page by page, in the query's order (creation order unless newest first). */
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

/**
 * The newest decision matching the query and `match`, read newest first a page at a time, only as far back as the
 * first match: a contact's outcome events each find their message without reading (and decoding) every decision
 * the contact had in the attribution window.
 */
export async function latestDecision(store: Store, query: DecisionQuery, match: (d: Decision) => boolean): Promise<Decision | undefined> {
	for await (const d of iterateDecisions(store, { ...query, newestFirst: true }, LATEST_PAGE)) if (match(d)) return d;
	return undefined;
}
const LATEST_PAGE = 20;

/** latestDecision over several contact ids (a contact's own and those merged into it: profiles.ts contactIds), in one read. */
export function latestDecisionOf(store: Store, contactIds: string[], query: Omit<DecisionQuery, 'contactId' | 'contactIds'>, match: (d: Decision) => boolean): Promise<Decision | undefined> {
	return latestDecision(store, contactIds.length === 1 ? { ...query, contactId: contactIds[0] } : { ...query, contactIds }, match);
}

export const EXPORT_FORMATS = ['jsonl', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportOptions {
	/** jsonl (default): each decision as the log holds it, one JSON per line; csv: flat columns (engine/audit/csv.ts). */
	format?: ExportFormat;
	/** Mask personal data as the decision console does (engine/audit/redact.ts). */
	redact?: boolean;
	/** Decisions read from the store at a time (default 1000). */
	pageSize?: number;
}

/** Output is handed over in chunks of about this many characters: few writes, and little held at once. */
const CHUNK_CHARS = 64 * 1024;

/**
 * Writes the decisions matching the query, oldest first, a page at a time: memory stays bounded by a page
 * and a chunk whatever the log's size. `write` may return a promise (a stream's drain), which is awaited
 * before more is read. Returns the number of decisions written.
 */
export async function exportDecisions(store: Store, query: DecisionQuery, options: ExportOptions, write: (chunk: string) => void | Promise<void>): Promise<number> {
	const line = options.format === 'csv' ? decisionCsvRow : (d: Decision) => `${JSON.stringify(d)}\n`;
	let chunk = options.format === 'csv' ? decisionCsvHeader() : '';
	let n = 0;
	for await (const d of iterateDecisions(store, query, options.pageSize)) {
		chunk += line(options.redact ? redactDecision(d) : d);
		n++;
		if (chunk.length >= CHUNK_CHARS) {
			await write(chunk);
			chunk = '';
		}
	}
	if (chunk) await write(chunk);
	return n;
}

/** JSONL export, one decision per line and per call of `write` (for callers that read each decision). */
export async function exportJsonl(store: Store, query: DecisionQuery, write: (line: string) => void): Promise<number> {
	let n = 0;
	for await (const d of iterateDecisions(store, query)) {
		write(`${JSON.stringify(d)}\n`);
		n++;
	}
	return n;
}
