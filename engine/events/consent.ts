import { CHANNELS, type ConsentState } from '../channels';
import type { FieldIssue } from '../errors';

/**
 * How senders write a consent state. Each spelling read here was dropped without a word before, leaving the channel's
 * consent `unknown`: with a policy that mails on unknown consent, a contact who had opted out ("opted-out",
 * "OPTED_OUT", "unsubscribed") was mailed.
 */
const SPELLINGS: Record<string, ConsentState> = {
	opted_in: 'opted_in',
	opt_in: 'opted_in',
	optin: 'opted_in',
	subscribed: 'opted_in',
	granted: 'opted_in',
	true: 'opted_in',
	yes: 'opted_in',
	opted_out: 'opted_out',
	opt_out: 'opted_out',
	optout: 'opted_out',
	unsubscribed: 'opted_out',
	denied: 'opted_out',
	revoked: 'opted_out',
	withdrawn: 'opted_out',
	false: 'opted_out',
	no: 'opted_out',
	unknown: 'unknown',
};

const words = (text: string) => text.trim().toLowerCase().replace(/[\s-]+/g, '_');

/** A consent state as written by a sender (any case, hyphens or spaces, true/false), or undefined when it is none. */
export function consentStateOf(value: unknown): ConsentState | undefined {
	if (typeof value === 'boolean') return value ? 'opted_in' : 'opted_out';
	return typeof value === 'string' ? SPELLINGS[words(value)] : undefined;
}

/**
 * An event's `traits.consent` in Nudge's own words: channels in lower case ("Email" is email), states as `opted_in`,
 * `opted_out` or `unknown`. A state that is none of them is an issue naming its field: guessing would either mail
 * someone who said no or silence someone who said yes. Keys that are no channel are kept as they are (no channel reads them).
 */
export function normalizeConsent(consent: unknown): { consent?: Record<string, unknown>; issues: FieldIssue[] } {
	if (consent === undefined) return { issues: [] };
	if (!consent || typeof consent !== 'object' || Array.isArray(consent)) {
		return { issues: [{ path: 'traits.consent', message: 'must be an object of channel to state, e.g. {"email": "opted_out", "sms": "opted_in"}' }] };
	}
	const out: Record<string, unknown> = {};
	// Kept as own keys whatever their names (`__proto__` would otherwise set the object's prototype).
	const keep = (key: string, value: unknown) => Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
	const spelledBy = new Map<string, string>();
	const issues: FieldIssue[] = [];
	for (const [key, value] of Object.entries(consent)) {
		const channel = words(key);
		if (!(CHANNELS as readonly string[]).includes(channel)) {
			keep(key, value);
			continue;
		}
		const state = consentStateOf(value);
		const earlier = spelledBy.get(channel);
		if (!state) issues.push({ path: `traits.consent.${key}`, message: `${JSON.stringify(value)?.slice(0, 40) ?? 'nothing'} is not a consent state: use "opted_in", "opted_out" or "unknown"` });
		// "email" and "Email" saying different things: which one the person meant cannot be told, and the last one
		// winning could turn an opt-out into an opt-in.
		else if (earlier !== undefined && out[channel] !== state) {
			issues.push({ path: `traits.consent.${key}`, message: `says ${JSON.stringify(state)} for ${channel}, which "${earlier}" says is ${JSON.stringify(out[channel])}: give the channel once` });
		} else {
			spelledBy.set(channel, key);
			keep(channel, state);
		}
	}
	return { consent: out, issues };
}
