import { createHmac, timingSafeEqual } from 'node:crypto';
import { NudgeError } from '../errors';

export const SIGNATURE_HEADER = 'x-nudge-signature';
export const TIMESTAMP_HEADER = 'x-nudge-timestamp';
/** Requests older (or further in the future) than this are replays or badly skewed clocks. */
export const MAX_SIGNATURE_AGE_MS = 5 * 60 * 1000;

/** Hex HMAC-SHA256 over `<timestamp>.<raw body>`; signing the timestamp stops replays with a fresh header. */
export function signPayload(secret: string, rawBody: string | Buffer, timestampSeconds: number): string {
	return createHmac('sha256', secret).update(`${timestampSeconds}.`).update(rawBody).digest('hex');
}

export function signatureHeaders(secret: string, rawBody: string | Buffer, now = new Date()): Record<string, string> {
	const ts = Math.floor(now.getTime() / 1000);
	return { [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: `v1=${signPayload(secret, rawBody, ts)}` };
}

/** A header's value whatever the case of its name (Node lower-cases them; other servers may not). */
export function headerValue(headers: Record<string, unknown>, name: string): string | undefined {
	const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
	const value = key === undefined ? undefined : headers[key];
	return Array.isArray(value) ? String(value[0]) : typeof value === 'string' ? value : undefined;
}

function header(headers: Record<string, unknown>, name: string): string | undefined {
	const value = headers[name] ?? headers[name.toLowerCase()];
	return Array.isArray(value) ? String(value[0]) : typeof value === 'string' ? value : undefined;
}

function reject(message: string): never {
	throw new NudgeError('BAD_SIGNATURE', message, [], 401);
}

/**
 * Verifies a generic Nudge webhook: shared secret, timestamp within five minutes, constant-time compare.
 * Throws NudgeError(BAD_SIGNATURE, 401) with a message that says what to fix.
 */
export function verifySignedRequest(
	secret: string,
	rawBody: Buffer | string | undefined,
	headers: Record<string, unknown>,
	now = new Date(),
): void {
	if (!secret) reject('No signing secret is configured for this trigger; set one in the Nudge engine settings');
	if (rawBody === undefined) reject('The raw request body is not available, so the signature cannot be checked');
	const signature = header(headers, SIGNATURE_HEADER);
	const timestamp = header(headers, TIMESTAMP_HEADER);
	if (!signature || !timestamp) reject(`Missing ${SIGNATURE_HEADER} or ${TIMESTAMP_HEADER} header`);
	const ts = Number(timestamp);
	if (!Number.isFinite(ts)) reject(`${TIMESTAMP_HEADER} must be a Unix time in seconds`);
	if (Math.abs(now.getTime() - ts * 1000) > MAX_SIGNATURE_AGE_MS) {
		reject('Request timestamp is more than 5 minutes away from now (replayed request or wrong clock)');
	}
	const expected = Buffer.from(`v1=${signPayload(secret, rawBody, ts)}`);
	const given = Buffer.from(signature);
	if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
		reject('Signature does not match: check that sender and trigger use the same signing secret');
	}
}
