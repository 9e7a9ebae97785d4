/**
 * Polling triggers (HubSpot CRM search, Salesforce SOQL) share one algorithm, so ties and late writes
 * behave the same everywhere:
 * - the cursor is the pair (modifiedAt, id) of the last record taken, kept in the store with
 *   compare-and-set; a record is new when its pair is strictly greater, so records sharing a
 *   timestamp are neither skipped nor repeated;
 * - a poll only reads up to `now - settleMs`: a write that commits late with an older timestamp
 *   (a long transaction, a search index that lags) is still ahead of the cursor when it appears;
 * - each record becomes an event whose id is (object, id, modifiedAt), so a poll repeated after a
 *   crash between ingest and cursor update is de-duplicated by the engine.
 */
import type { Engine, IngestResult } from '../engine';
import { NudgeError } from '../errors';
import type { CustomerEvent } from './schema';

export interface PollCursor {
	/** Epoch ms of the last record taken. */
	at: number;
	id: string;
}

export interface PolledRecord {
	id: string;
	/** Epoch ms (HubSpot hs_lastmodifieddate, Salesforce SystemModstamp). */
	modifiedAt: number;
	/** The record as the vendor returned it, mapped by the source into an event. */
	raw: Record<string, unknown>;
}

export interface PollPage {
	/** Records strictly after the cursor and before `until`, in (modifiedAt, id) order. */
	records: PolledRecord[];
	/** True when more records were left for the next poll. */
	more: boolean;
}

export interface PollSource {
	/** Event source recorded on each event. */
	readonly source: CustomerEvent['source'];
	/** Cursor name in the store, e.g. `hubspot:contacts`. */
	readonly cursorName: string;
	fetch(after: PollCursor, until: number, limit: number): Promise<PollPage>;
	/** The record as a Nudge-format event (without eventId: the poller sets it). */
	toEvent(record: PolledRecord): Record<string, unknown>;
}

export interface PollOptions {
	journey: string;
	/** Largest number of records taken per poll (default 200). */
	limit?: number;
	/** How far behind now a poll reads, for late writes (default 60 s). */
	settleMs?: number;
	/** Where a first poll starts (default: now − settleMs, i.e. only changes from now on). */
	since?: Date;
	now?: () => number;
}

export interface PollResult {
	accepted: IngestResult[];
	duplicates: number;
	/** Records that could not be read as events: reported, skipped, and the cursor moves past them. */
	invalid: { id: string; error: string }[];
	more: boolean;
	cursor: PollCursor;
}

/** Compares ids numerically when both are numbers (HubSpot), else as text (Salesforce). */
export function compareIds(a: string, b: string): number {
	if (/^\d+$/.test(a) && /^\d+$/.test(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
	return a < b ? -1 : a > b ? 1 : 0;
}

export function isAfter(record: { modifiedAt: number; id: string }, cursor: PollCursor): boolean {
	return record.modifiedAt > cursor.at || (record.modifiedAt === cursor.at && compareIds(record.id, cursor.id) > 0);
}

export function byCursorOrder(a: { modifiedAt: number; id: string }, b: { modifiedAt: number; id: string }): number {
	return a.modifiedAt - b.modifiedAt || compareIds(a.id, b.id);
}

function readCursor(text: string | undefined): PollCursor | undefined {
	if (!text) return undefined;
	const parsed = JSON.parse(text) as PollCursor;
	return typeof parsed.at === 'number' && typeof parsed.id === 'string' ? parsed : undefined;
}

/** The last millisecond before the second `at` falls in: every change stamped in that second is after it. */
const wholeSecondBefore = (at: number) => Math.floor(at / 1000) * 1000 - 1;

/** The records after the journey's cursor, up to `now - settleMs`, in cursor order; and the cursor as stored. */
async function pageAfterCursor(engine: Engine, source: PollSource, options: PollOptions) {
	const now = (options.now ?? Date.now)();
	const settleMs = options.settleMs ?? 60_000;
	const until = now - settleMs;
	// Each journey has its own cursor: two journeys polling the same object each take in every change (a shared one gave
	// the second nothing). A journey without one yet starts at the object's cursor, the furthest any journey's poll
	// reached (earlier versions had that one only).
	const cursorName = `${source.cursorName}@${options.journey}`;
	const stored = await engine.store.getCursor(cursorName);
	const started = stored ?? (await engine.store.getCursor(source.cursorName));
	// A first cursor on a whole second: Salesforce stamps changes in whole seconds, so one pinned at 09:00:00.500 would
	// read a change stamped 09:00:00 (made at .700) as older than itself and skip it for ever.
	const cursor = readCursor(started) ?? { at: wholeSecondBefore(options.since ? options.since.getTime() : until), id: '' };
	const page = await source.fetch(cursor, until, options.limit ?? 200);
	const records = page.records.filter((r) => isAfter(r, cursor) && r.modifiedAt < until).sort(byCursorOrder);
	return { cursorName, stored, cursor, more: page.more, records };
}

/** The event a record becomes; its id is (object, id, modifiedAt), so a record read twice is one event. */
const eventOf = (source: PollSource, record: PolledRecord) => ({ ...source.toEvent(record), eventId: `${source.cursorName}:${record.id}:${record.modifiedAt}`, source: source.source });

/**
 * What the next poll would take in, read without taking it in or moving a cursor: a test fetch in the editor (n8n's
 * manual mode) shows the records without taking them from the active workflow, whose next poll still gets them.
 */
export async function previewPoll(engine: Engine, source: PollSource, options: PollOptions): Promise<{ events: Record<string, unknown>[]; more: boolean }> {
	const { records, more } = await pageAfterCursor(engine, source, options);
	return { events: records.map((record) => eventOf(source, record)), more };
}

/** One poll: fetch what changed after the cursor, ingest it, move the cursor. */
export async function pollOnce(engine: Engine, source: PollSource, options: PollOptions): Promise<PollResult> {
	const { cursorName, stored, cursor, more, records } = await pageAfterCursor(engine, source, options);
	const result: PollResult = { accepted: [], duplicates: 0, invalid: [], more, cursor };
	for (const record of records) {
		const event = eventOf(source, record);
		try {
			const ingested = await engine.ingest(event, { journey: options.journey, source: source.source });
			if (ingested.duplicate) result.duplicates++;
			else result.accepted.push(ingested);
		} catch (error) {
			if (!(error instanceof NudgeError) || error.httpStatus >= 500) throw error;
			result.invalid.push({ id: record.id, error: error.message });
		}
		result.cursor = { at: record.modifiedAt, id: record.id };
	}
	if (!stored) {
		// The first poll pins its starting point, so nothing changed meanwhile is skipped later.
		await engine.store.setCursor(cursorName, JSON.stringify(result.cursor), undefined);
	} else if (result.cursor !== cursor) {
		// Another poller moved it first: its events were the same ones, de-duplicated by id.
		await engine.store.setCursor(cursorName, JSON.stringify(result.cursor), stored);
	}
	await advanceObjectCursor(engine, source.cursorName, result.cursor);
	await engine.store.sync();
	return result;
}

/** Moves the object's cursor forward to `to` (never back); a poller that moved it meanwhile leaves it to that one. */
async function advanceObjectCursor(engine: Engine, name: string, to: PollCursor): Promise<void> {
	const stored = await engine.store.getCursor(name);
	const at = readCursor(stored);
	if (at && !isAfter({ modifiedAt: to.at, id: to.id }, at)) return;
	await engine.store.setCursor(name, JSON.stringify(to), stored);
}
