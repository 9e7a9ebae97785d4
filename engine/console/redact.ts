/**
 * PII redaction for the decision console: what identifies a person (email addresses, phone numbers,
 * names, postal addresses, identities) is replaced before anything leaves the engine, unless the
 * operator explicitly configured the console to reveal it.
 */

/** Trait and profile keys whose values identify a person, whatever they contain. */
const PII_KEY = /(e-?mail|phone|mobile|^tel$|telephone|fax|(^|_|[a-z])(first|last|full|middle|given|family|display|sur|user)?_?name$|^name$|address|street|city|zip|postal|post_?code|^ip$|ip_?address|birth|^dob$|ssn|passport|push_?token|^userId$|anonymousId)/i;

const EMAIL = /[A-Z0-9._%+-]+@[A-Z0-9.-]+\.[A-Z]{2,}/gi;
/** International numbers (+ and 8–15 digits) and North American style 3-3-4 numbers; not ISO dates or ids. */
const PHONE = /(?<![\w-])(?:\+\d[\d\s().-]{6,17}\d|\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4})(?![\w-])/g;

export const REDACTED = '[redacted]';

/** Email addresses and phone numbers inside free text (explanations, details, ids) are masked. */
export function redactText(text: string): string {
	return text.replace(EMAIL, '[email redacted]').replace(PHONE, '[phone redacted]');
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
