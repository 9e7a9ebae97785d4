/**
 * ISO 8601 UTC times, as `Date#toISOString` writes them and `Date.parse` reads them, without V8's cost: it formats
 * each time through a printf-style formatter (about 7,000 instructions a call) and a decision formats or checks a time
 * about 25 times, which was 8% of the SQLite path's instructions (docs/benchmarks.md, bench/instructions). Here the
 * canonical form (`YYYY-MM-DDTHH:mm:ss.sssZ`, years 0000–9999) is written and read with arithmetic; anything else
 * goes to the built-ins, so every result equals theirs (test/engine/isoTime.test.ts).
 */
const DAY_MS = 86_400_000;
/** 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the four-digit years (others are written ±YYYYYY). */
const FIRST_MS = -62_167_219_200_000;
const LAST_MS = 253_402_300_799_999;
const TWO = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const THREE = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/** Days from 1970-01-01 to a date of the proleptic Gregorian calendar (month 1–12). */
function daysFromCivil(year: number, month: number, day: number): number {
	const y = month <= 2 ? year - 1 : year;
	const era = Math.floor(y / 400);
	const yearOfEra = y - era * 400;
	const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
	return era * 146_097 + yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear - 719_468;
}

/** Whether `ms` is a time `isoTime` writes in the canonical form (years 0000–9999, whole milliseconds). */
export const inIsoYears = (ms: number): boolean => ms >= FIRST_MS && ms <= LAST_MS && Number.isInteger(ms);

let lastMs = NaN;
let lastText = '';

/** `new Date(ms).toISOString()`, the same string (and the same RangeError for a time that is not one). */
export function isoTime(ms: number): string {
	if (ms === lastMs) return lastText;
	if (!inIsoYears(ms)) return new Date(ms).toISOString();
	const days = Math.floor(ms / DAY_MS);
	let rest = ms - days * DAY_MS;
	const milli = rest % 1000;
	rest = (rest - milli) / 1000;
	const second = rest % 60;
	rest = (rest - second) / 60;
	const minute = rest % 60;
	const hour = (rest - minute) / 60;
	// The civil date of `days` (H. Hinnant's algorithm, the inverse of daysFromCivil).
	const z = days + 719_468;
	const era = Math.floor(z / 146_097);
	const dayOfEra = z - era * 146_097;
	const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
	const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
	const mp = Math.floor((5 * dayOfYear + 2) / 153);
	const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
	const month = mp < 10 ? mp + 3 : mp - 9;
	const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
	lastMs = ms;
	lastText = `${TWO[Math.floor(year / 100)]}${TWO[year % 100]}-${TWO[month]}-${TWO[day]}T${TWO[hour]}:${TWO[minute]}:${TWO[second]}.${THREE[milli]}Z`;
	return lastText;
}

const daysInMonth = (year: number, month: number) =>
	month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;

/** Digits at `from` (length `count`) as a number; -1 if any is not a digit. */
function digits(text: string, from: number, count: number): number {
	let n = 0;
	for (let i = from; i < from + count; i++) {
		const d = text.charCodeAt(i) - 48;
		if (d < 0 || d > 9) return -1;
		n = n * 10 + d;
	}
	return n;
}

/** The time of a text in the canonical form with every field in range; NaN for any other text. */
function canonicalMs(text: string): number {
	if (text.length !== 24) return NaN;
	const c = (i: number) => text.charCodeAt(i);
	// - - T : : . Z
	if (c(4) !== 45 || c(7) !== 45 || c(10) !== 84 || c(13) !== 58 || c(16) !== 58 || c(19) !== 46 || c(23) !== 90) return NaN;
	const year = digits(text, 0, 4);
	const month = digits(text, 5, 2);
	const day = digits(text, 8, 2);
	const hour = digits(text, 11, 2);
	const minute = digits(text, 14, 2);
	const second = digits(text, 17, 2);
	const milli = digits(text, 20, 3);
	if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 || milli < 0) return NaN;
	return daysFromCivil(year, month, day) * DAY_MS + ((hour * 60 + minute) * 60 + second) * 1000 + milli;
}

/** `Date.parse(text)`, the same number. */
export function parseTime(text: string): number {
	const ms = canonicalMs(text);
	return ms === ms ? ms : Date.parse(text);
}

/** The time of a text that `isoTime` writes exactly as it is (it reads back unchanged); NaN for any other. */
export function exactIsoTime(text: string): number {
	const ms = canonicalMs(text);
	if (ms === ms) return ms;
	const parsed = Date.parse(text);
	return Number.isFinite(parsed) && isoTime(parsed) === text ? parsed : NaN;
}

/**
 * How far ahead of the engine's clock a time reported by another system may be: its clock may run a little fast.
 * Anything later is not a time that happened yet (a typo, a test date, a bad clock), and taken as true it would
 * outrank every real statement until then (an unsubscribe dated 2099 would outlast every later opt-in).
 */
export const MAX_CLOCK_SKEW_MS = 3_600_000;

/** Whether `ms` is later than `nowMs` by more than the clock skew allowed. */
export const beyondClockSkew = (ms: number, nowMs: number): boolean => ms > nowMs + MAX_CLOCK_SKEW_MS;
