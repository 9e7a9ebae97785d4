/**
 * Signature checks for the vendors' own webhooks. Both compare in constant time and throw
 * NudgeError(BAD_SIGNATURE, 401) with a message that says what to fix — never the secret or the digest.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { NudgeError } from '../errors';
import { MAX_SIGNATURE_AGE_MS } from './signature';

export const SEGMENT_SIGNATURE_HEADER = 'x-signature';
export const HUBSPOT_SIGNATURE_HEADER = 'x-hubspot-signature-v3';
export const HUBSPOT_TIMESTAMP_HEADER = 'x-hubspot-request-timestamp';

function reject(message: string): never {
	throw new NudgeError('BAD_SIGNATURE', message, [], 401);
}

export function headerValue(headers: Record<string, unknown>, name: string): string | undefined {
	const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
	const value = key === undefined ? undefined : headers[key];
	return Array.isArray(value) ? String(value[0]) : typeof value === 'string' ? value : undefined;
}

function sameText(given: string, expected: string): boolean {
	const a = Buffer.from(given);
	const b = Buffer.from(expected);
	return a.length === b.length && timingSafeEqual(a, b);
}

function needSecretAndBody(secret: string, rawBody: Buffer | string | undefined, what: string): asserts rawBody is Buffer | string {
	if (!secret) reject(`No ${what} is configured for this trigger; add it to the credential the trigger uses`);
	if (rawBody === undefined) reject('The raw request body is not available, so the signature cannot be checked');
}

/**
 * Segment Webhooks (Actions): `X-Signature` is the hex HMAC-SHA1 of the raw body keyed with the
 * destination's shared secret (https://www.twilio.com/docs/segment/connections/destinations/catalog/actions-webhook).
 * Segment signs no timestamp, so replays are stopped by messageId de-duplication instead.
 */
export function segmentSignature(secret: string, rawBody: Buffer | string): string {
	return createHmac('sha1', secret).update(rawBody).digest('hex');
}

export function verifySegmentRequest(secret: string, rawBody: Buffer | string | undefined, headers: Record<string, unknown>): void {
	needSecretAndBody(secret, rawBody, 'Segment shared secret');
	const given = headerValue(headers, SEGMENT_SIGNATURE_HEADER);
	if (!given) reject('Missing X-Signature header: set a shared secret in the Segment destination’s settings');
	if (!sameText(given.trim().toLowerCase(), segmentSignature(secret, rawBody))) {
		reject('X-Signature does not match: the Segment destination and this trigger must use the same shared secret');
	}
}

/**
 * HubSpot decodes these escapes in the URI before signing
 * (https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests#validate-the-v3-request-signature).
 */
const HUBSPOT_URI_DECODES: Record<string, string> = {
	'%3A': ':',
	'%2F': '/',
	'%3F': '?',
	'%40': '@',
	'%21': '!',
	'%24': '$',
	'%27': "'",
	'%28': '(',
	'%29': ')',
	'%2A': '*',
	'%2C': ',',
	'%3B': ';',
};

export function hubspotSignatureUri(uri: string): string {
	return uri.replace(/%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, (m) => HUBSPOT_URI_DECODES[m.toUpperCase()]);
}

/** base64 HMAC-SHA256 of method + URI + body + timestamp, keyed with the app's client secret. */
export function hubspotSignature(clientSecret: string, method: string, uri: string, rawBody: Buffer | string, timestampMs: string): string {
	return createHmac('sha256', clientSecret)
		.update(`${method.toUpperCase()}${hubspotSignatureUri(uri)}`)
		.update(rawBody)
		.update(timestampMs)
		.digest('base64');
}

export interface HubSpotRequest {
	rawBody: Buffer | string | undefined;
	headers: Record<string, unknown>;
	method?: string;
	/** The full URI HubSpot called, e.g. https://n8n.example.com/webhook/…/events?x=1. */
	url?: string;
}

export function verifyHubSpotRequest(clientSecret: string, request: HubSpotRequest, now = new Date()): void {
	needSecretAndBody(clientSecret, request.rawBody, 'HubSpot app client secret');
	if (!request.url) reject('The request URL is not known, so the HubSpot signature cannot be checked');
	const signature = headerValue(request.headers, HUBSPOT_SIGNATURE_HEADER);
	const timestamp = headerValue(request.headers, HUBSPOT_TIMESTAMP_HEADER);
	if (!signature || !timestamp) {
		reject('Missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header: only HubSpot app webhooks (signature v3) are accepted');
	}
	const ts = Number(timestamp);
	if (!Number.isFinite(ts)) reject('X-HubSpot-Request-Timestamp must be a Unix time in milliseconds');
	if (now.getTime() - ts > MAX_SIGNATURE_AGE_MS) reject('The HubSpot request is more than 5 minutes old (replayed request or wrong clock)');
	if (ts - now.getTime() > MAX_SIGNATURE_AGE_MS) reject('The HubSpot request timestamp is more than 5 minutes in the future (wrong clock)');
	const expected = hubspotSignature(clientSecret, request.method ?? 'POST', request.url, request.rawBody!, timestamp);
	if (!sameText(signature.trim(), expected)) {
		reject('X-HubSpot-Signature-v3 does not match: check the app’s client secret in the HubSpot credential and that the public webhook URL is the one HubSpot calls');
	}
}
