import { createHash, randomFillSync } from 'node:crypto';

/** Random bytes drawn 4 KB at a time: one id takes 10 of them (as randomUUID buffers its own). */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;
/** The current millisecond in base 36, made once per millisecond rather than once per id. */
let lastMs = -1;
let lastTime = '';

/**
 * Time-ordered ids (milliseconds first, then 80 random bits, like UUIDv7): new decisions, reservations and send
 * keys append at the end of their store indexes instead of landing on random pages, which measurably cuts the
 * SQLite store's write volume (docs/benchmarks.md). They also sort by creation. A reservation id is made on
 * every cap check, so this is built from a pool of random bytes, hex-encoded in one call (3× faster than slicing
 * a randomUUID; bench/caps).
 */
export function newId(prefix: string): string {
	if (poolOffset + 10 > pool.length) {
		randomFillSync(pool);
		poolOffset = 0;
	}
	const random = pool.toString('hex', poolOffset, poolOffset + 10);
	poolOffset += 10;
	const ms = Date.now();
	if (ms !== lastMs) {
		lastMs = ms;
		lastTime = ms.toString(36).padStart(9, '0');
	}
	return `${prefix}_${lastTime}${random}`;
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
