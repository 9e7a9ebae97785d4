import { CHANNELS, isChannel, type Channel } from '../channels';
import type { GuardOptions, OutcomeInput } from '../engine';
import { NudgeError, redactUrl } from '../errors';

/* A node's settings (and the parts of an item that name things) as the engine's inputs, read one way on both platforms. */

const text = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim() : undefined);

/** What a Frequency Cap node is told about the message, as set on the node (text; tags comma-separated). */
export interface GuardSettings {
	/** A channel other than the one Choose Channel picked; empty for that one. */
	channel?: unknown;
	category?: unknown;
	tags?: unknown;
	offerValue?: unknown;
	variant?: unknown;
}

/** The node's message settings as the engine's guard options; a channel or offer value that is not one is an error. */
export function guardOptionsOf(settings: GuardSettings): GuardOptions {
	const channel = text(settings.channel);
	if (channel && !isChannel(channel)) {
		throw new NudgeError('INVALID_INPUT', `Channel "${channel}" is not a Nudge channel; pick one of ${CHANNELS.join(', ')} or leave it empty`);
	}
	const offer = settings.offerValue;
	const offerValue = offer === undefined || offer === null || String(offer).trim() === '' || offer === 0 ? undefined : Number(offer);
	if (offerValue !== undefined && !Number.isFinite(offerValue)) throw new NudgeError('INVALID_INPUT', `Offer value must be a number (got "${String(offer)}")`);
	const tags = (Array.isArray(settings.tags) ? settings.tags.map(String) : String(settings.tags ?? '').split(',')).map((t) => t.trim()).filter(Boolean);
	const category = text(settings.category);
	const variant = text(settings.variant);
	return {
		...(channel ? { channel: channel as Channel } : {}),
		...(category ? { category } : {}),
		...(tags.length ? { tags } : {}),
		...(offerValue !== undefined ? { offerValue } : {}),
		...(variant ? { variant } : {}),
	};
}

/**
 * What a flow says about the message (Node-RED's msg.message), checked like the node's own settings: an offer value
 * the review rules cannot read ("50%", Infinity) or tags that are not a list are errors naming the field, never
 * let past the rules. `label` names where it came from.
 */
export function messageOptionsOf(value: unknown, label = 'msg.message'): GuardOptions {
	if (value === undefined || value === null) return {};
	if (typeof value !== 'object' || Array.isArray(value)) {
		throw new NudgeError('INVALID_INPUT', `${label} must be an object such as {"category": "promo", "tags": ["spring"], "offerValue": 20}`);
	}
	const { tags } = value as GuardSettings;
	if (tags !== undefined && tags !== null && !(Array.isArray(tags) && tags.every((tag) => typeof tag === 'string'))) {
		throw new NudgeError('INVALID_INPUT', `${label}.tags must be a list of text such as ["spring", "sale"] (got ${JSON.stringify(tags)?.slice(0, 80)})`);
	}
	try {
		return guardOptionsOf(value as GuardSettings);
	} catch (error) {
		throw new NudgeError('INVALID_INPUT', `${label}: ${(error as Error).message}`);
	}
}

/**
 * The node's own settings over what a message says (Node-RED's msg.message): the message fills only what the node leaves
 * blank, so a flow cannot lower an offer the node was set to, or make a promotion it sends "transactional" (exempt from
 * caps and quiet hours). `ignored` names the message's fields the node's settings overrode, for a warning.
 */
export function nodeSettingsFirst(settings: GuardOptions, fromMessage: GuardOptions): { options: GuardOptions; ignored: string[] } {
	const ignored = (Object.keys(fromMessage) as (keyof GuardOptions)[]).filter((key) => settings[key] !== undefined && JSON.stringify(settings[key]) !== JSON.stringify(fromMessage[key]));
	return { options: { ...fromMessage, ...settings }, ignored };
}

/** A reviewer's approve flag: true or false, also as text (HTML forms and query strings send "true"); anything else is an error naming `label`. */
export function approvalOf(value: unknown, label: string): boolean {
	const text = typeof value === 'string' ? value.trim().toLowerCase() : value;
	if (text === true || text === 'true') return true;
	if (text === false || text === 'false') return false;
	throw new NudgeError('INVALID_INPUT', `${label} must be true (approve) or false (reject) (got ${JSON.stringify(value) ?? 'nothing'}); the decision stays in review`);
}

/**
 * A JSON-object setting (text, or an object from an expression) such as Log Decision's annotations; empty is {}.
 * Text that is not JSON, or JSON that is not an object, is an error naming the setting.
 */
export function jsonObjectOf(value: unknown, label: string): Record<string, unknown> {
	let parsed: unknown = value;
	if (typeof value === 'string') {
		if (!value.trim()) return {};
		try {
			parsed = JSON.parse(value);
		} catch (error) {
			// A parse error quotes the text, which may hold a URL with a password.
			const why = redactUrl(error instanceof Error ? error.message : String(error));
			throw new NudgeError('INVALID_INPUT', `${label} is not valid JSON (${why}). ${label} must be a JSON object such as {"campaign": "spring"}`);
		}
	}
	if (parsed === undefined || parsed === null) return {};
	if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new NudgeError('INVALID_INPUT', `${label} must be a JSON object such as {"campaign": "spring"}`);
	return parsed as Record<string, unknown>;
}

/** The places an outcome may name its decision by (text as given; empty counts as absent). */
export interface OutcomeRefs {
	decisionId?: unknown;
	messageId?: unknown;
	contactId?: unknown;
	channel?: unknown;
}

/**
 * Which decision an outcome is about, by the first reference given: the decision id, else the sending tool's
 * message id, else the contact (with the channel, when given, to pick their latest message on it).
 * Undefined when none is given: the node says which field to fill.
 */
export function outcomeReference(refs: OutcomeRefs): Pick<OutcomeInput, 'decisionId' | 'messageId' | 'contactId' | 'channel'> | undefined {
	const decisionId = text(refs.decisionId);
	if (decisionId) return { decisionId };
	const messageId = text(refs.messageId);
	if (messageId) return { messageId };
	const contactId = text(refs.contactId);
	if (!contactId) return undefined;
	const channel = text(refs.channel);
	return { contactId, ...(channel ? { channel: channel as Channel } : {}) };
}

/** A Luxon DateTime as n8n expressions give it ({{ $now }}, DateTime.fromSeconds(…)), without loading Luxon. */
function isoOfDateTime(value: object): string | undefined {
	const toISO = (value as { toISO?: unknown }).toISO;
	if (typeof toISO !== 'function' || (value as { isValid?: unknown }).isValid === false) return undefined;
	const iso: unknown = toISO.call(value);
	return typeof iso === 'string' ? iso : undefined;
}

/**
 * When an outcome happened, as ISO text: text as given (the engine checks it), a Date, or a DateTime; empty is
 * absent (the engine then takes now). Anything else is refused, never replaced by now: a number could be seconds or
 * milliseconds, so its unit is the flow's to say.
 */
export function outcomeTime(value: unknown, label: string): string | undefined {
	if (value === undefined || value === null) return undefined;
	if (typeof value === 'string') return value.trim() || undefined;
	if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
	const iso = typeof value === 'object' ? isoOfDateTime(value) : undefined;
	if (iso !== undefined) return iso;
	const shown = typeof value === 'number' ? `the number ${value}: seconds or milliseconds?` : value instanceof Date ? 'an invalid Date' : `${JSON.stringify(value)?.slice(0, 80) ?? typeof value}`;
	throw new NudgeError('INVALID_INPUT', `${label} must be a date-time such as "2026-05-01T10:00:00Z" or a Date (got ${shown})`);
}
