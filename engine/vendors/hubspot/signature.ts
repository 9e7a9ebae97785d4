/** HubSpot's webhook signature check (v3); throws NudgeError(BAD_SIGNATURE, 401) with a message that says what to fix. */
import { createHmac } from 'node:crypto';
import { headerValue, MAX_SIGNATURE_AGE_MS } from '../../events/signature';
import { needSecretAndBody, rejectSignature, sameText } from '../signing';

export const HUBSPOT_SIGNATURE_HEADER = 'x-hubspot-signature-v3';
export const HUBSPOT_TIMESTAMP_HEADER = 'x-hubspot-request-timestamp';

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
	if (!request.url) rejectSignature('The request URL is not known, so the HubSpot signature cannot be checked');
	const signature = headerValue(request.headers, HUBSPOT_SIGNATURE_HEADER);
	const timestamp = headerValue(request.headers, HUBSPOT_TIMESTAMP_HEADER);
	if (!signature || !timestamp) {
		rejectSignature('Missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header: only HubSpot app webhooks (signature v3) are accepted');
	}
	const ts = Number(timestamp);
	if (!Number.isFinite(ts)) rejectSignature('X-HubSpot-Request-Timestamp must be a Unix time in milliseconds');
	if (now.getTime() - ts > MAX_SIGNATURE_AGE_MS) rejectSignature('The HubSpot request is more than 5 minutes old (replayed request or wrong clock)');
	if (ts - now.getTime() > MAX_SIGNATURE_AGE_MS) rejectSignature('The HubSpot request timestamp is more than 5 minutes in the future (wrong clock)');
	const expected = hubspotSignature(clientSecret, request.method ?? 'POST', request.url, request.rawBody!, timestamp);
	if (!sameText(signature.trim(), expected)) {
		rejectSignature('X-HubSpot-Signature-v3 does not match: check the app’s client secret in the HubSpot credential and that the public webhook URL is the one HubSpot calls');
	}
}
