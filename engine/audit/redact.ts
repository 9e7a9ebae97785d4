import { redactLinks } from '../errors';
import { isCredentialName, nameWords } from '../util/credentialNames';
import { handoffSummary } from './handoff';
import type { Decision } from './schema';

/**
 * PII redaction for the decision console: what identifies a person (email addresses, phone numbers,
 * names, postal addresses, identities) is replaced before anything leaves the engine, unless the
 * operator explicitly configured the console to reveal it. Credentials kept in traits are replaced even then.
 */

/** Trait and profile keys whose values identify a person, whatever they contain. */
const PII_KEY = /(e-?mail|phone|mobile|^tel$|telephone|fax|(^|_|[a-z])(first|last|full|middle|given|family|display|sur|user)?_?name$|^name$|address|street|city|zip|postal|post_?code|^ip$|ip_?address|birth|^dob$|ssn|passport|push_?token|^userId$|anonymousId)/i;

/**
 * International numbers (+ and 8–15 digits) and North American style 3-3-4 numbers ((415) 555-0100, (415)555-0100,
 * 415.555.0100); not ISO dates or ids.
 * Every repetition is bounded, so each starting point costs a bounded amount of work: linear in the text.
 */
const PHONE = /(?<![\w-])(?:\+\d[\d\s().-]{6,17}\d|(?:\(\d{3}\)[\s.-]?|\d{3}[\s.-])\d{3}[\s.-]\d{4})(?![\w-])/g;

/**
 * National numbers, which start with the trunk prefix 0 (UK 020 7946 0958, 07700 900123; FR 06 12 34 56 78; DE
 * 030 1234567): a 0 and an area code, then two to four groups, 9 to 15 digits in all (NATIONAL_DIGITS). Fewer digits
 * leave dates such as 01.02.2026 and short numbers alone; colons, commas and slashes are no separators here, and a
 * number they join to another (the 00 0900 1000 of 9:00 0900 1000) is none: times, amounts and ratios never match.
 * Bounded as PHONE.
 */
const NATIONAL_PHONE = /(?<![\w-]|\d[.,:/])\(?0\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4}(?![\w-]|[.,:/]\d)/g;
const NATIONAL_DIGITS = { min: 9, max: 15 };

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

function maskNationalPhone(match: string): string {
	const digits = match.replace(/\D/g, '').length;
	return digits >= NATIONAL_DIGITS.min && digits <= NATIONAL_DIGITS.max ? '[phone redacted]' : match;
}

/** Email addresses and phone numbers inside free text (explanations, details, ids) are masked. */
export function redactText(text: string): string {
	return maskEmails(redactLinks(text)).replace(PHONE, '[phone redacted]').replace(NATIONAL_PHONE, maskNationalPhone);
}

/** PII_KEY's names read on a key's words too (`First Name`, `first-name`, `user_id`), and `name` as any of its words (`name_first`). */
const PII_WORDS = /(?:^|_)(?:name|user_id|anonymous_id)(?:_|$)/;

export function isPiiKey(key: string): boolean {
	if (PII_KEY.test(key)) return true;
	const words = nameWords(key);
	return PII_KEY.test(words) || PII_WORDS.test(words);
}


const hasValue = (v: unknown) => v !== null && v !== undefined && v !== '';

/**
 * An object's entries with their keys' own text masked: an email address used as a key (an annotation such as
 * "sent to ana@example.com", an event counter) shows as much as one in a value. Two keys that mask alike both stay.
 */
function mapEntries(value: object, map: (key: string, v: unknown) => unknown, maskKeys: boolean): Record<string, unknown> {
	const out: Record<string, unknown> = {};
	for (const [k, v] of Object.entries(value)) {
		const masked = maskKeys ? redactText(k) : k;
		let shown = masked;
		for (let n = 2; Object.prototype.hasOwnProperty.call(out, shown); n++) shown = `${masked} (${n})`;
		out[shown] = map(k, v);
	}
	return out;
}

/**
 * Masks a value: under a PII or secret key the whole value goes; elsewhere strings lose the emails and phone
 * numbers they contain, in keys too, and objects are walked. `piiKeys` false keeps key-based masking off (a
 * decision's own fields, such as `event.name` or `model`, are not personal; only text inside them can be).
 */
export function redactValue(value: unknown, piiKeys = true): unknown {
	if (typeof value === 'string') return redactText(value);
	if (Array.isArray(value)) return value.map((v) => redactValue(v, piiKeys));
	if (value && typeof value === 'object') {
		return mapEntries(value, (k, v) => (piiKeys && (isPiiKey(k) || isCredentialName(k)) && hasValue(v) ? REDACTED : redactValue(v, piiKeys)), true);
	}
	return value;
}

/**
 * Masks only credentials, at any depth: values under credentials' keys (isCredentialName), and in text a link's password and secret
 * parameters (a login link's `?token=`, redactLinks). What is left where personal data is revealed.
 */
export function withoutSecrets(value: unknown): unknown {
	if (typeof value === 'string') return redactLinks(value);
	if (Array.isArray(value)) return value.map(withoutSecrets);
	if (value && typeof value === 'object') return mapEntries(value, (k, v) => (isCredentialName(k) && hasValue(v) ? REDACTED : withoutSecrets(v)), false);
	return value;
}

/**
 * A contact's traits as they leave the engine for a reader (the console's features, an AI agent's lookup_contact):
 * credentials always masked, personal data too unless the operator chose to reveal it.
 */
export function shownTraits(traits: Record<string, unknown>, revealPii: boolean): Record<string, unknown> {
	return (revealPii ? withoutSecrets(traits) : redactValue(traits, true)) as Record<string, unknown>;
}

/**
 * A decision with its personal data masked: its own fields keep their keys (only emails and phone numbers in
 * their text go), its annotations (free-form, from flows) are masked by key as well. The console and
 * `nudge export --redact` show decisions this way.
 */
export function redactDecision(d: Decision): Decision {
	// An escalation's brief names the contact (their name, title and company): told again without them.
	const handoff = d.handoff && { ...d.handoff, summary: handoffSummary(REDACTED, d.score ?? { tier: 'unscored', value: 0 }, d.handoff.interests, d.handoff.topFactors) };
	return redactValue({ ...d, annotations: redactValue(d.annotations, true), ...(handoff ? { handoff } : {}) }, false) as Decision;
}
