import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { parse } from 'csv-parse/sync';
import { NudgeError } from '../errors';

/** Training or scoring data: one value per column per row, as read (text from CSV, any JSON value). */
export interface Table {
	columns: string[];
	rows: unknown[][];
	/** Columns left out of the rows on purpose, and why: a model trained on them lists them as not used. */
	skipped?: { name: string; reason: string }[];
}

export type TableFormat = 'csv' | 'json' | 'jsonl';

const DELIMITERS = [',', ';', '\t'] as const;

/**
 * The delimiter of a CSV export: comma, semicolon (many European CRM exports) or tab. The header line
 * decides, outside quotes; the one that splits it into the most columns wins, comma on a tie.
 */
export function detectDelimiter(text: string): string {
	const end = text.search(/\r?\n/);
	const header = end < 0 ? text : text.slice(0, end);
	let best: string = ',';
	let bestCount = 0;
	for (const d of DELIMITERS) {
		let count = 0;
		let quoted = false;
		for (const ch of header) {
			if (ch === '"') quoted = !quoted;
			else if (ch === d && !quoted) count++;
		}
		if (count > bestCount) [best, bestCount] = [d, count];
	}
	return best;
}

/** Parses CSV text with a real parser (quoted fields may hold delimiters and line breaks). */
export function parseCsv(text: string, delimiter = detectDelimiter(text)): Table {
	let records: string[][];
	try {
		records = parse(text.replace(/^\uFEFF/, ''), { delimiter, relax_column_count: false, skip_empty_lines: true }) as string[][];
	} catch (error) {
		throw new NudgeError('INVALID_INPUT', `The CSV file could not be read: ${(error as Error).message}`);
	}
	if (!records.length) throw new NudgeError('INVALID_INPUT', 'The CSV file is empty: it needs a header row and at least one data row');
	const [columns, ...rows] = records;
	checkColumns(columns.map((c) => c.trim()));
	return { columns: columns.map((c) => c.trim()), rows };
}

function checkColumns(columns: string[]): void {
	const seen = new Set<string>();
	columns.forEach((c, i) => {
		if (!c) throw new NudgeError('INVALID_INPUT', `Column ${i + 1} of the header has no name: every column needs one`);
		if (seen.has(c)) throw new NudgeError('INVALID_INPUT', `Two columns are both named "${c}": rename one so each column has its own name`);
		seen.add(c);
	});
}

/** A record's own value under `key`: a row or contact without "constructor" has none, not Object.prototype's function. */
export const ownValue = (record: Record<string, unknown>, key: string): unknown => (Object.hasOwn(record, key) ? record[key] : undefined);

/** Objects (one per contact) to a table: the columns are every key seen, in first-seen order. */
export function tableFromObjects(objects: unknown[], what = 'The data'): Table {
	const columns: string[] = [];
	const index = new Map<string, number>();
	objects.forEach((o, i) => {
		if (!o || typeof o !== 'object' || Array.isArray(o)) {
			throw new NudgeError('INVALID_INPUT', `${what}: record ${i + 1} is not a JSON object (one object per contact is expected)`);
		}
		for (const key of Object.keys(o)) if (!index.has(key)) index.set(key, columns.push(key) - 1);
	});
	const rows = objects.map((o) => columns.map((c) => ownValue(o as Record<string, unknown>, c)));
	return { columns, rows };
}

export function parseJson(text: string): Table {
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch (error) {
		throw new NudgeError('INVALID_INPUT', `The JSON file could not be read: ${(error as Error).message}`);
	}
	const list = Array.isArray(value) ? value : value && typeof value === 'object' && Array.isArray((value as { rows?: unknown }).rows) ? (value as { rows: unknown[] }).rows : undefined;
	if (!list) throw new NudgeError('INVALID_INPUT', 'The JSON file must hold an array of objects, one per contact');
	return tableFromObjects(list, 'The JSON file');
}

export function parseJsonl(text: string): Table {
	const objects: unknown[] = [];
	text.split(/\r?\n/).forEach((line, i) => {
		if (!line.trim()) return;
		try {
			objects.push(JSON.parse(line));
		} catch (error) {
			throw new NudgeError('INVALID_INPUT', `Line ${i + 1} of the JSONL file is not JSON: ${(error as Error).message}`);
		}
	});
	return tableFromObjects(objects, 'The JSONL file');
}

/** The format from the file name (.csv, .tsv, .json, .jsonl/.ndjson), else from the first character. */
export function formatOf(path: string, text: string): TableFormat {
	const ext = extname(path).toLowerCase();
	if (ext === '.json') return 'json';
	if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
	if (ext === '.csv' || ext === '.tsv' || ext === '.txt') return 'csv';
	const first = text.trimStart()[0];
	return first === '[' ? 'json' : first === '{' ? 'jsonl' : 'csv';
}

export function parseTable(text: string, format: TableFormat): Table {
	return format === 'csv' ? parseCsv(text) : format === 'json' ? parseJson(text) : parseJsonl(text);
}

/**
 * The largest data file read: a table takes about ten times its file's size in memory once parsed, inside n8n's or
 * Node-RED's process. Larger exports are sampled first (most training needs far fewer rows).
 */
export const MAX_DATA_FILE_BYTES = 100 * 1024 * 1024;

/** A data file over MAX_DATA_FILE_BYTES, refused before it is read (whole) into memory. */
export function dataFileTooLarge(path: string): string {
	return `The data file ${path} is larger than ${MAX_DATA_FILE_BYTES / 1024 / 1024} MB: train on a sample of its rows (a few hundred thousand are plenty)`;
}

/** A data file that is a folder, a device or a pipe (one never ends, the other may never answer): refused before it is read. */
export function dataFileNotRegular(path: string, folder: boolean): string {
	return `Cannot read the data file ${path}: it is ${folder ? 'a folder' : 'not a regular file (a device or a pipe)'}; give the path of a CSV, JSON or JSONL file`;
}

/**
 * A data file's text: only a regular file (a device such as /dev/zero never ends, a pipe may never answer: opened
 * without waiting, they are refused) of at most MAX_DATA_FILE_BYTES, its size read from the open file itself.
 */
function readDataText(path: string): string {
	const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
	try {
		const stat = fstatSync(fd);
		if (!stat.isFile()) throw new NudgeError('INVALID_INPUT', dataFileNotRegular(path, stat.isDirectory()));
		if (stat.size > MAX_DATA_FILE_BYTES) throw new NudgeError('INVALID_INPUT', dataFileTooLarge(path));
		return readAtMost(fd, path);
	} finally {
		closeSync(fd);
	}
}

const CHUNK_BYTES = 1024 * 1024;

/**
 * The file's text, read until its end but never past the limit: its size said is not always what it holds (a file
 * still being written grows; /proc's files say 0 and some never end), and readFileSync reads to the end whatever.
 */
function readAtMost(fd: number, path: string): string {
	const chunks: Buffer[] = [];
	let total = 0;
	for (;;) {
		const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
		const read = readSync(fd, chunk, 0, CHUNK_BYTES, null);
		if (read === 0) return Buffer.concat(chunks, total).toString('utf8');
		total += read;
		if (total > MAX_DATA_FILE_BYTES) throw new NudgeError('INVALID_INPUT', dataFileTooLarge(path));
		chunks.push(read === CHUNK_BYTES ? chunk : chunk.subarray(0, read));
	}
}

/** Reads a CSV, JSON or JSONL file into a table. */
export function readTable(path: string, format?: TableFormat): Table {
	let text: string;
	try {
		text = readDataText(path);
	} catch (error) {
		if (error instanceof NudgeError) throw error;
		throw new NudgeError('INVALID_INPUT', dataFileUnreadable(path, error));
	}
	return format ? parseTable(text, format) : tableFromText(path, text);
}

/** The table a data file's text holds, its format from the file's name or its first character (formatOf). */
export function tableFromText(path: string, text: string): Table {
	return parseTable(text, formatOf(path, text));
}

/** Why a data file could not be read, naming it as the user gave it. */
export function dataFileUnreadable(path: string, error: unknown): string {
	return `Cannot read the data file ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`;
}

/** The rows of a table as objects keyed by column name. */
export function tableRecords(table: Table): Record<string, unknown>[] {
	return table.rows.map((row) => Object.fromEntries(table.columns.map((c, i) => [c, row[i]])));
}
