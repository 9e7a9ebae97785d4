/** Segment's webhook signature check; throws NudgeError(BAD_SIGNATURE, 401) with a message that says what to fix. */
import { createHmac } from 'node:crypto';
import { headerValue } from '../../events/signature';
import { needSecretAndBody, rejectSignature, sameText } from '../signing';

export const SEGMENT_SIGNATURE_HEADER = 'x-signature';

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
	if (!given) rejectSignature('Missing X-Signature header: set a shared secret in the Segment destination’s settings');
	if (!sameText(given.trim().toLowerCase(), segmentSignature(secret, rawBody))) {
		rejectSignature('X-Signature does not match: the Segment destination and this trigger must use the same shared secret');
	}
}
