import { createHash } from 'node:crypto';
import { REDACTED } from '../audit/redact';
import { isCredentialName } from '../util/credentialNames';
import { NudgeError } from '../errors';
import { type Table, ownValue } from './table';
import { parseTime } from '../util/isoTime';

/**
 * How raw columns become model inputs. Built automatically from the training data, stored with the
 * model and printed by `nudge train`, so a marketer can see what the model reads:
 *
 * - numeric: the number itself; blank is "missing" (trees send it to its own side of a split);
 * - boolean: yes/no, true/false → 1/0;
 * - categorical: each value seen at least `minCategoryCount` times is a level; rarer values and values
 *   never seen in training share the "(other)" level, and blank is a level of its own ("(blank)") because
 *   a blank field often says something (a form not filled in). Levels are numbered in order of their
 *   conversion rate in the training rows, so one split can separate any high-rate group from a low one;
 * - date: days before the scoring time ("recency").
 *
 * Placeholder values (by default "", "NA", "N/A", "null", "none"; add more, e.g. "Select") count as blank.
 */
export type FeatureKind = 'numeric' | 'boolean' | 'categorical' | 'date';

export interface Feature {
	name: string;
	kind: FeatureKind;
	/** Categorical: level → code. */
	levels?: Record<string, number>;
	/** Categorical: the code of unseen and rare values. */
	otherCode?: number;
}

export interface FeatureSpec {
	target: string;
	positive: string;
	features: Feature[];
	/** Columns not used, each with why. */
	skipped: { name: string; reason: string }[];
	placeholders: string[];
	/** sha-256 of the features: a model only scores data encoded with its own spec. */
	fingerprint: string;
}

export interface FeatureOptions {
	target: string;
	/** The target value that counts as a success; guessed for 1/0, true/false, yes/no. */
	positive?: string;
	/** Columns to leave out (ids, fields filled in after the outcome). */
	exclude?: string[];
	/** Extra values that mean "not filled in", e.g. "Select". */
	placeholders?: string[];
	minCategoryCount?: number;
}

export const DEFAULT_PLACEHOLDERS = ['', 'na', 'n/a', 'null', 'none', 'nan'];
const BLANK = '(blank)';
const OTHER = '(other)';
const TRUE_WORDS = new Set(['true', 'yes', 'y']);
const FALSE_WORDS = new Set(['false', 'no', 'n']);
const DATE_RE = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;
/** A text's time, only in the form training takes for a date: Date.parse alone would read "12" or "March 3" as days in 2001. */
const dateOf = (s: string): number => (DATE_RE.test(s) ? parseTime(s) : NaN);

export class Placeholders {
	private readonly set: Set<string>;
	constructor(readonly list: string[]) {
		this.set = new Set(list.map((p) => p.trim().toLowerCase()));
	}
	/** The value as trimmed text, or undefined when it is blank or a placeholder. */
	text(v: unknown): string | undefined {
		if (v === undefined || v === null) return undefined;
		if (typeof v === 'number' && !Number.isFinite(v)) return undefined;
		const s = (typeof v === 'object' ? JSON.stringify(v) : String(v)).trim();
		return this.set.has(s.toLowerCase()) ? undefined : s;
	}
}

function placeholdersOf(options: { placeholders?: string[] }): Placeholders {
	return new Placeholders([...DEFAULT_PLACEHOLDERS, ...(options.placeholders ?? [])]);
}

/**
 * Numbers as exports write them: "1240", "1,240.5" (thousands commas), "60,1" (a decimal comma, as in
 * semicolon-separated European exports). A comma followed by exactly three digits is read as thousands.
 */
function toNumber(s: string): number {
	if (/^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) return Number(s.replace(/,/g, ''));
	if (/^[+-]?\d+,\d+$/.test(s)) return Number(s.replace(',', '.'));
	return s.trim() === '' ? NaN : Number(s);
}
const isNumber = (s: string) => Number.isFinite(toNumber(s));

export function fingerprintOf(features: Feature[]): string {
	return createHash('sha256').update(JSON.stringify(features)).digest('hex').slice(0, 16);
}

const KINDS: readonly unknown[] = ['numeric', 'boolean', 'categorical', 'date'] satisfies FeatureKind[];
const isText = (v: unknown): v is string => typeof v === 'string';
const isCode = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

/**
 * What in a feature spec read from a file is of the wrong shape, or undefined: encoding reads every part of it
 * on each score, so a categorical feature without its levels would fail there, not when the file is read.
 */
export function specProblem(spec: FeatureSpec): string | undefined {
	if (!isText(spec.target) || !isText(spec.positive)) return 'its feature spec has no target column or success value';
	if (!Array.isArray(spec.placeholders) || !spec.placeholders.every(isText)) return 'its feature spec has no list of placeholder values';
	if (!Array.isArray(spec.skipped) || !spec.skipped.every((c) => isText(c?.name) && isText(c?.reason))) return 'its list of columns not used is not a list of names and reasons';
	for (const [i, f] of spec.features.entries()) {
		const what = `feature ${i + 1}${isText(f?.name) ? ` ("${f.name}")` : ''}`;
		if (!isText(f?.name) || !KINDS.includes(f.kind)) return `${what} has no name or no known kind (numeric, boolean, categorical or date)`;
		if (f.kind !== 'categorical') continue;
		const levels = f.levels;
		if (typeof levels !== 'object' || levels === null || Array.isArray(levels) || !Object.values(levels).every(isCode) || !isCode(f.otherCode)) {
			return `${what} is categorical but its levels or its code for other values are missing or not numbers`;
		}
	}
	return undefined;
}

function columnIndex(table: Table, name: string, role: string): number {
	const i = table.columns.indexOf(name);
	if (i < 0) {
		const near = table.columns.find((c) => c.toLowerCase() === name.toLowerCase());
		throw new NudgeError(
			'INVALID_INPUT',
			`The data has no ${role} column "${name}"${near ? ` (did you mean "${near}"?)` : ''}. Its columns are: ${table.columns.join(', ')}`,
		);
	}
	return i;
}

export interface Labels {
	positive: string;
	/** 1 for the positive value, 0 for any other non-blank value. */
	y: Uint8Array;
	positives: number;
}

/** Reads the target column: each row must have a value, and both outcomes must occur. */
export function labelsOf(table: Table, options: Pick<FeatureOptions, 'target' | 'positive' | 'placeholders'>): Labels {
	const t = columnIndex(table, options.target, 'target');
	const ph = placeholdersOf(options);
	const counts = new Map<string, number>();
	const values = table.rows.map((row, i) => {
		const v = ph.text(row[t]);
		if (v === undefined) throw new NudgeError('INVALID_INPUT', `Row ${i + 1} has no value in the target column "${options.target}": every training row needs a known outcome (remove the rows still open)`);
		counts.set(v, (counts.get(v) ?? 0) + 1);
		return v;
	});
	const distinct = [...counts.keys()];
	if (distinct.length < 2) {
		throw new NudgeError('INVALID_INPUT', `The target column "${options.target}" has only one value ("${distinct[0] ?? ''}") in ${table.rows.length} rows: a model needs examples of both outcomes to learn what separates them`);
	}
	let positive = options.positive;
	if (positive === undefined) {
		positive = distinct.find((d) => ['1', 'true', 'yes', 'y'].includes(d.toLowerCase()));
		if (positive === undefined || distinct.length > 2) {
			throw new NudgeError('INVALID_INPUT', `Say which value of "${options.target}" counts as a success (positive value): it has ${distinct.length} values (${distinct.slice(0, 8).join(', ')})`);
		}
	} else if (!counts.has(positive)) {
		const near = distinct.find((d) => d.toLowerCase() === positive!.toLowerCase());
		if (!near) throw new NudgeError('INVALID_INPUT', `The positive value "${positive}" never occurs in "${options.target}"; its values are: ${distinct.slice(0, 8).join(', ')}`);
		positive = near;
	}
	if (counts.get(positive) === table.rows.length) {
		throw new NudgeError('INVALID_INPUT', `Every row of "${options.target}" is "${positive}": a model needs examples of both outcomes`);
	}
	const y = Uint8Array.from(values, (v) => (v === positive ? 1 : 0));
	return { positive, y, positives: counts.get(positive)! };
}

/**
 * Builds the feature spec from training rows (`rows` indexes into the table; all rows by default).
 * A column that is mostly numbers with stray text, or one that holds a different value in almost every
 * row (an id, free text), is an error naming the column: it would only add noise, so exclude it.
 */
export function buildFeatureSpec(table: Table, labels: Labels, options: FeatureOptions, rows?: ArrayLike<number>): FeatureSpec {
	const ph = placeholdersOf(options);
	const exclude = new Set(options.exclude ?? []);
	for (const name of exclude) columnIndex(table, name, 'excluded');
	const minCount = options.minCategoryCount ?? 10;
	const idx = rows ?? Uint32Array.from(table.rows.keys());
	const n = idx.length;
	const prior = labels.positives / table.rows.length;
	const features: Feature[] = [];
	const skipped: FeatureSpec['skipped'] = [...(table.skipped ?? [])];
	table.columns.forEach((name, c) => {
		if (name === options.target) return;
		if (exclude.has(name)) return void skipped.push({ name, reason: 'excluded' });
		const texts: (string | undefined)[] = new Array(n);
		const distinct = new Map<string, { n: number; pos: number }>();
		let present = 0;
		let numeric = 0;
		let bool = 0;
		let date = 0;
		const junk: string[] = [];
		for (let k = 0; k < n; k++) {
			const r = idx[k];
			const raw = table.rows[r][c];
			const s = typeof raw === 'boolean' ? String(raw) : ph.text(raw);
			texts[k] = s;
			if (s === undefined) continue;
			present++;
			const low = s.toLowerCase();
			if (isNumber(s)) numeric++;
			else if (junk.length < 3 && !junk.includes(s)) junk.push(s);
			if (TRUE_WORDS.has(low) || FALSE_WORDS.has(low)) bool++;
			if (!Number.isNaN(dateOf(s))) date++;
			const d = distinct.get(s) ?? { n: 0, pos: 0 };
			d.n++;
			d.pos += labels.y[r];
			distinct.set(s, d);
		}
		if (present === 0) return void skipped.push({ name, reason: 'always blank' });
		if (distinct.size === 1 && present === n) return void skipped.push({ name, reason: 'same value in every row' });
		if (numeric === present) return void features.push({ name, kind: 'numeric' });
		if (bool === present) return void features.push({ name, kind: 'boolean' });
		if (date === present) return void features.push({ name, kind: 'date' });
		if (numeric >= 0.9 * present) {
			throw new NudgeError(
				'INVALID_INPUT',
				`Column "${name}" is mostly numbers but ${present - numeric} rows hold text such as ${junk.map((j) => `"${j}"`).join(', ')}. Fix those cells, declare such values as blank (placeholders), or exclude the column`,
			);
		}
		if (present >= 50 && distinct.size > 0.5 * present) {
			throw new NudgeError(
				'INVALID_INPUT',
				`Column "${name}" has a different value in almost every row (${distinct.size} distinct values in ${present} rows), like an id or free text, so a model cannot learn from it: exclude it`,
			);
		}
		// Categorical: frequent levels by smoothed conversion rate; rare and unseen share "(other)".
		const smooth = (pos: number, count: number) => (pos + prior * 10) / (count + 10);
		const kept: [string, number][] = [];
		let otherN = 0;
		let otherPos = 0;
		for (const [v, d] of distinct) {
			if (d.n >= minCount) kept.push([v, smooth(d.pos, d.n)]);
			else [otherN, otherPos] = [otherN + d.n, otherPos + d.pos];
		}
		const blank = n - present;
		if (blank > 0) {
			let blankPos = 0;
			for (let k = 0; k < n; k++) if (texts[k] === undefined) blankPos += labels.y[idx[k]];
			kept.push([BLANK, smooth(blankPos, blank)]);
		}
		kept.push([OTHER, otherN ? smooth(otherPos, otherN) : prior]);
		kept.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
		// Own properties only, read with levelOf: a value such as "__proto__" is a level, "constructor" an unseen one.
		const levels: Record<string, number> = Object.fromEntries(kept.map(([v], code) => [v, code]));
		features.push({ name, kind: 'categorical', levels, otherCode: levels[OTHER] });
	});
	if (!features.length) throw new NudgeError('INVALID_INPUT', 'No column is left to learn from: every column is the target, excluded or empty');
	return { target: options.target, positive: labels.positive, features, skipped, placeholders: ph.list, fingerprint: fingerprintOf(features) };
}

/** Column-major feature values: `columns[f][row]`, NaN for missing. */
export interface Encoded {
	nRows: number;
	columns: Float64Array[];
}

/** A categorical feature's code for a value it kept; undefined for any other (never a member of Object.prototype). */
const levelOf = (feature: Feature, value: string): number | undefined => (Object.hasOwn(feature.levels!, value) ? feature.levels![value] : undefined);

/** Encodes one value of a feature. */
function encodeValue(feature: Feature, raw: unknown, ph: Placeholders, asOfMs: number): number {
	const s = typeof raw === 'boolean' ? String(raw) : ph.text(raw);
	switch (feature.kind) {
		case 'categorical':
			return levelOf(feature, s ?? BLANK) ?? feature.otherCode!;
		case 'numeric':
			return s !== undefined && isNumber(s) ? toNumber(s) : NaN;
		case 'boolean': {
			const low = s?.toLowerCase();
			return low === undefined ? NaN : TRUE_WORDS.has(low) ? 1 : FALSE_WORDS.has(low) ? 0 : NaN;
		}
		case 'date': {
			const t = s === undefined ? NaN : dateOf(s);
			return Number.isNaN(t) ? NaN : (asOfMs - t) / 86_400_000;
		}
	}
}

/** The spec's columns that the table lacks; scoring such data is an error, not a silent guess. */
function requireColumns(table: Table, spec: FeatureSpec): number[] {
	const missing = spec.features.filter((f) => !table.columns.includes(f.name)).map((f) => f.name);
	if (missing.length) {
		throw new NudgeError(
			'INVALID_INPUT',
			`This data does not match the model's features: it lacks ${missing.length === 1 ? 'the column' : 'the columns'} ${missing.map((m) => `"${m}"`).join(', ')}. Score it with a model trained on the same kind of export, or retrain`,
		);
	}
	return spec.features.map((f) => table.columns.indexOf(f.name));
}

export function encodeTable(table: Table, spec: FeatureSpec, options: { rows?: ArrayLike<number>; asOf?: Date } = {}): Encoded {
	const cols = requireColumns(table, spec);
	const ph = new Placeholders(spec.placeholders);
	const asOf = (options.asOf ?? new Date()).getTime();
	const idx = options.rows ?? Uint32Array.from(table.rows.keys());
	const columns = spec.features.map((f, j) => {
		const out = new Float64Array(idx.length);
		for (let k = 0; k < idx.length; k++) out[k] = encodeValue(f, table.rows[idx[k]][cols[j]], ph, asOf);
		return out;
	});
	return { nRows: idx.length, columns };
}

/** Encodes one contact (a record keyed by column name; absent keys are blank). */
export function encodeRecord(record: Record<string, unknown>, spec: FeatureSpec, asOf = new Date()): Float64Array {
	const ph = new Placeholders(spec.placeholders);
	return Float64Array.from(spec.features, (f) => encodeValue(f, ownValue(record, f.name), ph, asOf.getTime()));
}

/** A feature's raw value in words for an explanation: `Lead Source = Google`, `TotalVisits is blank`. */
export function describeValue(feature: Feature, raw: unknown, spec: FeatureSpec): string {
	const ph = new Placeholders(spec.placeholders);
	const s = typeof raw === 'boolean' ? String(raw) : ph.text(raw);
	// A value the model could not read (text in a numeric column, "maybe" for yes/no) was scored as blank: say so.
	if (s === undefined || (feature.kind !== 'categorical' && Number.isNaN(encodeValue(feature, raw, ph, 0)))) return `${feature.name} is blank`;
	// A credential trait a model was trained on is named, never quoted: factors reach the console and AI agents.
	if (isCredentialName(feature.name)) return `${feature.name} = ${REDACTED}`;
	if (feature.kind === 'numeric' && isNumber(s)) return `${feature.name} = ${toNumber(s).toLocaleString('en-US', { maximumFractionDigits: 2 })}`;
	if (feature.kind === 'categorical' && levelOf(feature, s) === undefined) return `${feature.name} = ${s} (rare or new value)`;
	return `${feature.name} = ${s}`;
}
