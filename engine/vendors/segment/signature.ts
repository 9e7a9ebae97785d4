/** Segment's webhook signature check; throws NudgeError(BAD_SIGNATURE, 401) with a message that says what to fix. */
import { createHmac } from 'node:crypto';
import { headerValue } from '../../events/signature';
import { needSecretAndBody, rejectSignature, sameText } from '../signing';

export const SEGMENT_SIGNATURE_HEADER = 'x-signature';
/**
 * The destination's "Use X-Segment-Signature Header" setting: the same HMAC over the whole body sent, a batch's every
 * event included (segmentio/action-destinations, destinations/webhook/index.ts), so batching may be on with it.
 */
export const SEGMENT_BODY_SIGNATURE_HEADER = 'x-segment-signature';

/**
 * Segment Webhooks (Actions): `X-Signature` is the hex HMAC-SHA1 of the raw body keyed with the
 * destination's shared secret (https://www.twilio.com/docs/segment/connections/destinations/catalog/actions-webhook).
 * Segment signs no timestamp, so replays are stopped by messageId de-duplication instead.
 */
export function segmentSignature(secret: string, rawBody: Buffer | string): string {
	return createHmac('sha1', secret).update(rawBody).digest('hex');
}

/**
 * The text of a JSON array's first element as the array's JSON holds it, found by one scan that parses nothing (an
 * unsigned body may be megabytes of nesting: the check of a refused request must stay cheap); undefined for anything else.
 */
function firstElementText(text: string): string | undefined {
	if (text.charCodeAt(0) !== 0x5b) return undefined;
	let depth = 0;
	for (let i = 1; i < text.length; i++) {
		const c = text.charCodeAt(i);
		if (c === 0x22) {
			// A string: to its closing quote, past escaped characters.
			for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
		} else if (c === 0x7b || c === 0x5b) depth++;
		else if (c === 0x7d || c === 0x5d) {
			if (depth === 0) return i > 1 ? text.slice(1, i) : undefined;
			depth--;
		} else if (c === 0x2c && depth === 0) return text.slice(1, i);
	}
	return undefined;
}

/**
 * Whether `signature` is Segment's X-Signature of a batched delivery: with batching on, Webhooks (Actions) posts the
 * JSON array of events (JSON.stringify's) and signs its first event alone (`payload.length ? payload[0]['data'] :
 * payload['data']` in segmentio/action-destinations packages/destination-actions/src/destinations/webhook/index.ts),
 * so the right secret gives a signature that does not match the body.
 */
function signsFirstEventOnly(secret: string, rawBody: Buffer | string, signature: string): boolean {
	const first = firstElementText(typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8'));
	return first !== undefined && sameText(signature, segmentSignature(secret, first));
}

export function verifySegmentRequest(secret: string, rawBody: Buffer | string | undefined, headers: Record<string, unknown>): void {
	needSecretAndBody(secret, rawBody, 'Segment shared secret');
	// The header that covers the whole body decides when it is there: a right X-Signature beside it does not pass a wrong one.
	const whole = headerValue(headers, SEGMENT_BODY_SIGNATURE_HEADER);
	if (whole !== undefined) {
		if (sameText(whole.trim().toLowerCase(), segmentSignature(secret, rawBody))) return;
		rejectSignature('X-Segment-Signature does not match: the Segment destination and this trigger must use the same shared secret');
	}
	const given = headerValue(headers, SEGMENT_SIGNATURE_HEADER);
	if (!given) rejectSignature('Missing X-Signature (or X-Segment-Signature) header: set a shared secret in the Segment destination’s settings');
	const signature = given.trim().toLowerCase();
	if (sameText(signature, segmentSignature(secret, rawBody))) return;
	// The other events of a batch are signed by nothing: taking them in would take in whatever anyone appended.
	if (signsFirstEventOnly(secret, rawBody, signature)) {
		rejectSignature('This is a batched delivery, and with X-Signature Segment signs only the first event of a batch, so the others cannot be checked and nothing was taken in: in the Webhooks (Actions) destination’s settings turn on Use X-Segment-Signature Header (it signs the whole batch), or turn batching off in its Send mapping (Enable Batching)');
	}
	rejectSignature('X-Signature does not match: the Segment destination and this trigger must use the same shared secret');
}
