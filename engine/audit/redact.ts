import type { Decision } from './schema';

/**
 * PII redaction for the decision console: what identifies a person (email addresses, phone numbers,
 * names, postal addresses, identities) is replaced before anything leaves the engine, unless the
 * operator explicitly configured the console to reveal it.
 */

/** Trait and profile keys whose values identify a person, whatever they contain. */
const PII_KEY = /(e-?mail|phone|mobile|^tel$|telephone|fax|(^|_|[a-z])(first|last|full|middle|given|family|display|sur|user)?_?name$|^name$|address|street|city|zip|postal|post_?code|^ip$|ip_?address|birth|^dob$|ssn|passport|push_?token|^userId$|anonymousId)/i;

/**
 * International numbers (+ and 8–15 digits) and North American style 3-3-4 numbers; not ISO dates or ids.
 * Every repetition is bounded, so each starting point costs a bounded amount of work: linear in the text.
 */
const PHONE = /(?<![\w-])(?:\+\d[\d\s().-]{6,17}\d|\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4})(?![\w-])/g;

export const REDACTED = '[redacted]';

const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
/** [A-Z0-9.-]: a domain's characters. */
const isDomainChar = (c: number) => isLetter(c) || (c >= 48 && c <= 57) || c === 46 || c === 45;
/** [A-Z0-9._%+-]: a mailbox name's characters. */
const isLocalChar = (c: number) => isDomainChar(c) || c === 95 || c === 37 || c === 43;

/**
 * Masks what the pattern /[A-Z0-9._%+-]+@[A-Z0-9.-]+\.[A-Z]{2,}/gi matches, found from each '@' outwards in
 * one pass: the regular expression backtracks from every starting point, so a long run of name characters
 * cost time proportional to its square (80 KB of them took seconds and stalled the process).
 */
function maskEmails(text: string): string {
	let out = '';
	let done = 0;
	for (let at = text.indexOf('@'); at !== -1; at = text.indexOf('@', at + 1)) {
		let start = at;
		while (start > done && isLocalChar(text.charCodeAt(start - 1))) start--;
		if (start === at) continue;
		let domainEnd = at + 1;
		while (domainEnd < text.length && isDomainChar(text.charCodeAt(domainEnd))) domainEnd++;
		// The last dot with at least one domain character before it and two letters after it ends the domain.
		let end = -1;
		for (let dot = domainEnd - 3; dot > at + 1 && end === -1; dot--) {
			if (text.charCodeAt(dot) === 46 && isLetter(text.charCodeAt(dot + 1)) && isLetter(text.charCodeAt(dot + 2))) end = dot + 3;
		}
		if (end === -1) continue;
		while (end < domainEnd && isLetter(text.charCodeAt(end))) end++;
		out += `${text.slice(done, start)}[email redacted]`;
		done = end;
	}
	return done ? out + text.slice(done) : text;
}

/** Email addresses and phone numbers inside free text (explanations, details, ids) are masked. */
export function redactText(text: string): string {
	return maskEmails(text).replace(PHONE, '[phone redacted]');
}

export function isPiiKey(key: string): boolean {
	return PII_KEY.test(key);
}

/**
 * Masks a value: under a PII key the whole value goes; elsewhere strings lose the emails and phone numbers
 * they contain and objects are walked. `piiKeys` false keeps key-based masking off (a decision's own fields,
 * such as `event.name` or `model`, are not personal; only text inside them can be).
 */
export function redactValue(value: unknown, piiKeys = true): unknown {
	if (typeof value === 'string') return redactText(value);
	if (Array.isArray(value)) return value.map((v) => redactValue(v, piiKeys));
	if (value && typeof value === 'object') {
		const out: Record<string, unknown> = {};
		for (const [k, v] of Object.entries(value)) out[k] = piiKeys && isPiiKey(k) && v !== null && v !== undefined && v !== '' ? REDACTED : redactValue(v, piiKeys);
		return out;
	}
	return value;
}

/**
 * A decision with its personal data masked: its own fields keep their keys (only emails and phone numbers in
 * their text go), its annotations (free-form, from flows) are masked by key as well. The console and
 * `nudge export --redact` show decisions this way.
 */
export function redactDecision(d: Decision): Decision {
	return redactValue({ ...d, annotations: redactValue(d.annotations, true) }, false) as Decision;
}
