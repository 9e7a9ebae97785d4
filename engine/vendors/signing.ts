/**
 * What the vendors' webhook signature checks share: comparing in constant time, and the BAD_SIGNATURE (401) error
 * whose message says what to fix, never the secret or the digest.
 */
import { timingSafeEqual } from 'node:crypto';
import { NudgeError } from '../errors';

export function rejectSignature(message: string): never {
	throw new NudgeError('BAD_SIGNATURE', message, [], 401);
}

export function sameText(given: string, expected: string): boolean {
	const a = Buffer.from(given);
	const b = Buffer.from(expected);
	return a.length === b.length && timingSafeEqual(a, b);
}

export function needSecretAndBody(secret: string, rawBody: Buffer | string | undefined, what: string): asserts rawBody is Buffer | string {
	if (!secret) rejectSignature(`No ${what} is configured for this trigger; add it to the credential the trigger uses`);
	if (rawBody === undefined) rejectSignature('The raw request body is not available, so the signature cannot be checked');
}
