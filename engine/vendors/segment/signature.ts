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
 * Whether `signature` is Segment's X-Signature of a batched delivery: with batching on, Webhooks (Actions) posts the
 * JSON array of events and signs its first event alone (`payload.length ? payload[0]['data'] : payload['data']` in
 * segmentio/action-destinations packages/destination-actions/src/destinations/webhook/index.ts), so the right secret
 * gives a signature that does not match the body.
 */
function signsFirstEventOnly(secret: string, rawBody: Buffer | string, signature: string): boolean {
	const text = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
	if (!text.trimStart().startsWith('[')) return false;
	let body: unknown;
	try {
		body = JSON.parse(text);
	} catch {
		return false;
	}
	return Array.isArray(body) && body.length > 0 && sameText(signature, segmentSignature(secret, JSON.stringify(body[0])));
}

export function verifySegmentRequest(secret: string, rawBody: Buffer | string | undefined, headers: Record<string, unknown>): void {
	needSecretAndBody(secret, rawBody, 'Segment shared secret');
	// The header that covers the whole body decides when it is there: a right X-Signature beside it does not pass a wrong one.
	const whole = headerValue(headers, SEGMENT_BODY_SIGNATURE_HEADER);
	if (whole) {
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
