import { MAX_LIST } from './bounds';

/**
 * The one `field op value` evaluator: scoring rules, negative triggers and review thresholds all use it.
 */
export interface ConditionLike {
	field: string;
	op: 'exists' | 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'contains';
	value?: unknown;
}

/**
 * Reads `traits.title`, `counters.Email Opened`, `message.offerValue`… Names may themselves contain dots
 * or spaces, so at each level the whole remainder is tried first. Own fields only: `traits.constructor` on a
 * contact without that trait is missing (not Object's), and `counters.toString` a counter never seen (0).
 */
export function readPath(root: unknown, path: string): unknown {
	if (!root || typeof root !== 'object') return undefined;
	const record = root as Record<string, unknown>;
	if (Object.hasOwn(record, path)) return record[path];
	const dot = path.indexOf('.');
	const head = path.slice(0, dot);
	if (dot < 0 || !Object.hasOwn(record, head)) return undefined;
	return readPath(record[head], path.slice(dot + 1));
}

function asNumber(v: unknown): number | undefined {
	const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() ? Number(v) : NaN;
	return Number.isFinite(n) ? n : undefined;
}

function equal(a: unknown, b: unknown): boolean {
	return a === b || (asNumber(a) !== undefined && asNumber(a) === asNumber(b));
}

/**
 * Why a condition's `value` cannot work with its operator, or undefined when it can: each of these loaded and then
 * never held (or held for everyone), so a review rule or a pause was silently off.
 */
export function conditionValueIssue(op: ConditionLike['op'], value: unknown): string | undefined {
	if (op === 'exists') return undefined;
	if (value === undefined) return 'needs a value for this operator';
	switch (op) {
		case 'gt':
		case 'gte':
		case 'lt':
		case 'lte':
			return asNumber(value) === undefined ? `compares as a number: give a number, e.g. 50 (not ${JSON.stringify(value)})` : undefined;
		case 'in':
			if (!Array.isArray(value) || !value.length) return 'needs a list of values, e.g. ["VP", "Director"]';
			// Every condition is checked on every decision: a list of addresses to leave out belongs in `suppression`.
			if (value.length > MAX_LIST) return `must have at most ${MAX_LIST} values (to never message a long list of addresses, domains or ids, use suppression)`;
			// For text, `in` means "contains one of them": "" is in every text, so the condition would hold for everyone.
			return value.includes('') ? 'has an empty text "" among its values, which every text contains: remove it' : undefined;
		case 'contains':
			return typeof value === 'string' && value ? undefined : 'needs the text to look for, e.g. "VP"';
		default:
			return undefined;
	}
}

/** A counter the contact never triggered is 0; any other missing field has no number, so no comparison holds on it. */
const missingAs = (field: string): number | undefined => (field.startsWith('counters.') ? 0 : undefined);

export function conditionHolds(condition: ConditionLike, actual: unknown): boolean {
	const expected = condition.value;
	switch (condition.op) {
		case 'exists':
			return actual !== undefined && actual !== null && actual !== '';
		case 'eq':
			return equal(actual, expected);
		case 'neq':
			return !equal(actual, expected);
		case 'gt':
		case 'gte':
		case 'lt':
		case 'lte': {
			const a = asNumber(actual ?? missingAs(condition.field));
			const b = asNumber(expected);
			if (a === undefined || b === undefined) return false;
			return condition.op === 'gt' ? a > b : condition.op === 'gte' ? a >= b : condition.op === 'lt' ? a < b : a <= b;
		}
		case 'in':
			// A text contains one of the texts (ignoring case); anything else equals one of the values as `eq` does ("50" is 50).
			return Array.isArray(expected) && expected.some((e) => (typeof actual === 'string' && typeof e === 'string' ? actual.toLowerCase().includes(e.toLowerCase()) : equal(actual, e)));
		case 'contains':
			return typeof actual === 'string' && typeof expected === 'string' && actual.toLowerCase().includes(expected.toLowerCase());
	}
}

/** Evaluates a condition against an object of named roots (`traits`, `counters`, `event`, `message`…). */
export function holds(condition: ConditionLike, context: unknown): boolean {
	return conditionHolds(condition, readPath(context, condition.field));
}
