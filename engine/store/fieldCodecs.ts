/**
 * The building blocks of a stored decision's compact form (decisionCodec.ts): each turns one JSON value into a
 * smaller one and back, or says FAIL when the value is not one it can give back exactly (the decision is then
 * stored as plain JSON). A stored value's JSON type tells how it was written: a number for a listed word or an
 * offset in time, the value itself otherwise.
 */
import { exactIsoTime, isoTime } from '../util/isoTime';

export const FAIL = Symbol('cannot store this value in compact form');

/** What a field's form may refer to: the decision's creation time (ms, when exact), journey, policy version and chosen channel. */
export interface Context {
	base: number | undefined;
	journey: string;
	policyVersion: string;
	channel: string | undefined;
	/** The decision itself: the original when encoding, the fields decoded so far when decoding. */
	decision: Record<string, unknown>;
	/** Times already converted for this decision, either way (a decision repeats a few times many times). */
	times: Map<string | number, string | number>;
}

/** `record` is the object the value belongs to: the original when encoding, the fields decoded so far when decoding. */
export interface FieldCodec {
	encode(value: unknown, context: Context, record: Record<string, unknown>): unknown;
	decode(stored: unknown, context: Context, record: Record<string, unknown>): unknown;
	/** Written from the record's other fields: decoded after them. */
	late?: boolean;
}

/** Any JSON value as itself (in a record, never null: null marks an absent field). */
export const plain: FieldCodec = {
	encode: (value) => (value === null || (typeof value === 'number' && !Number.isFinite(value)) ? FAIL : value),
	decode: (stored) => stored,
};

/** A word from `words` as its index; any other string as itself. */
export function word(words: readonly string[]): FieldCodec {
	const index = new Map(words.map((w, i) => [w, i]));
	return {
		encode: (value) => (typeof value === 'string' ? (index.get(value) ?? value) : FAIL),
		decode: (stored) => (typeof stored === 'number' ? words[stored] : stored),
	};
}

export const flag: FieldCodec = {
	encode: (value) => (typeof value === 'boolean' ? (value ? 1 : 0) : FAIL),
	decode: (stored) => stored === 1,
};

/** An ISO time as milliseconds after the decision's creation, when it reads back exactly; else as itself. */
export const time: FieldCodec = {
	encode(value, { base, times }) {
		if (typeof value !== 'string') return FAIL;
		if (base === undefined) return value;
		let offset = times.get(value);
		if (offset === undefined) {
			const at = exactIsoTime(value);
			times.set(value, (offset = Number.isNaN(at) ? value : at - base));
		}
		return offset;
	},
	decode(stored, { base, times }) {
		if (typeof stored !== 'number') return stored;
		let at = times.get(stored);
		if (at === undefined) times.set(stored, (at = isoTime(base! + stored)));
		return at;
	},
};

/** An object as an array of its fields' values in `fields`' order (null for an absent one, trailing ones cut). */
export function tuple(fields: [string, FieldCodec][]): FieldCodec {
	const position = new Map(fields.map(([name], i) => [name, i]));
	return {
		encode(value, context) {
			if (typeof value !== 'object' || value === null || Array.isArray(value)) return FAIL;
			const record = value as Record<string, unknown>;
			// A field the form does not know.
			for (const name in record) if (!position.has(name)) return FAIL;
			const stored: unknown[] = [];
			let length = 0;
			for (let i = 0; i < fields.length; i++) {
				const [name, codec] = fields[i]!;
				const v = record[name];
				if (v === undefined) {
					stored.push(null);
					continue;
				}
				const encoded = codec.encode(v, context, record);
				if (encoded === FAIL) return FAIL;
				stored.push(encoded);
				length = i + 1;
			}
			stored.length = length;
			return stored;
		},
		decode(stored, context) {
			const record: Record<string, unknown> = {};
			const values = stored as unknown[];
			for (const late of [false, true]) {
				values.forEach((v, i) => {
					const [name, codec] = fields[i]!;
					if (v !== null && !!codec.late === late) record[name] = codec.decode(v, context, record);
				});
			}
			return record;
		},
	};
}

/**
 * An object with its keys kept (or stored under the shorter name `renamed` gives them), the values of the keys
 * named in `fields` in their form.
 */
export function keyed(fields: Record<string, FieldCodec>, renamed: Record<string, string> = {}): FieldCodec {
	const storedNames = new Set(Object.values(renamed));
	const original = new Map(Object.entries(renamed).map(([name, short]) => [short, name]));
	return {
		encode(value, context) {
			if (typeof value !== 'object' || value === null || Array.isArray(value)) return FAIL;
			const record = value as Record<string, unknown>;
			const stored: Record<string, unknown> = {};
			for (const [name, v] of Object.entries(record)) {
				const short = Object.hasOwn(renamed, name) ? renamed[name]! : name;
				// A key spelled like another's short name would read back as that other key.
				if (short === name && storedNames.has(name)) return FAIL;
				const encoded = v === undefined || !Object.hasOwn(fields, name) ? v : fields[name]!.encode(v, context, record);
				if (encoded === FAIL) return FAIL;
				stored[short] = encoded;
			}
			return stored;
		},
		decode(stored, context) {
			const record: Record<string, unknown> = {};
			for (const [short, v] of Object.entries(stored as Record<string, unknown>)) {
				const name = original.get(short) ?? short;
				record[name] = Object.hasOwn(fields, name) ? fields[name]!.decode(v, context, record) : v;
			}
			return record;
		},
	};
}

export function list(item: FieldCodec): FieldCodec {
	return {
		encode(value, context) {
			if (!Array.isArray(value)) return FAIL;
			const stored: unknown[] = [];
			for (const v of value) {
				const encoded = item.encode(v, context, {});
				if (encoded === FAIL) return FAIL;
				stored.push(encoded);
			}
			return stored;
		},
		decode: (stored, context) => (stored as unknown[]).map((v) => item.decode(v, context, {})),
	};
}
