import { createHash, randomUUID } from 'node:crypto';

/**
 * Time-ordered ids (milliseconds first, then 80 bits of a random UUID, like UUIDv7): new decisions, reservations
 * and send keys append at the end of their store indexes instead of landing on random pages, which
 * measurably cuts the SQLite store's write volume (docs/benchmarks.md). They also sort by creation.
 */
export function newId(prefix: string): string {
	// The first 20 hex digits of the UUID (8-4-4-4 of its 8-4-4-4-12 groups), without a regular expression:
	// a reservation id is made on every cap check (bench/caps).
	const u = randomUUID();
	return `${prefix}_${Date.now().toString(36).padStart(9, '0')}${u.slice(0, 8)}${u.slice(9, 13)}${u.slice(14, 18)}${u.slice(19, 23)}`;
}

/** Stable JSON: object keys sorted, so equal content always hashes the same. */
export function canonicalJson(value: unknown): string {
	if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
	if (value && typeof value === 'object') {
		const entries = Object.keys(value as object)
			.filter((k) => (value as Record<string, unknown>)[k] !== undefined)
			.sort()
			.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
		return `{${entries.join(',')}}`;
	}
	return JSON.stringify(value);
}

export function contentHash(value: unknown, length = 16): string {
	return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, length);
}
