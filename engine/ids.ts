import { createHash, randomFillSync } from 'node:crypto';

/** Random bytes drawn 4 KB at a time and hex-encoded in one call: one id takes 20 of its characters. */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let poolHex = '';
let poolOffset = 2 * POOL_BYTES;
/** The current millisecond in base 36, made once per millisecond rather than once per id. */
let lastMs = -1;
let lastTime = '';

/**
 * Time-ordered ids (milliseconds first, then 80 random bits, like UUIDv7): new decisions, reservations and send
 * keys append at the end of their store indexes instead of landing on random pages, which measurably cuts the
 * SQLite store's write volume (docs/benchmarks.md). They also sort by creation. A reservation id is made on
 * every cap check, so the random part is a slice of a pool of random bytes hex-encoded 4 KB at a time (encoding
 * 10 bytes per id was 5% of a memory store's cap check; bench/caps).
 */
export function newId(prefix: string): string {
	if (poolOffset + 20 > poolHex.length) {
		randomFillSync(pool);
		poolHex = pool.toString('hex');
		poolOffset = 0;
	}
	// Two slices shorter than V8's 13-character minimum for a sliced string are copies: an id kept for long does
	// not hold the whole pool's string alive.
	const random = poolHex.slice(poolOffset, poolOffset + 10) + poolHex.slice(poolOffset + 10, poolOffset + 20);
	poolOffset += 20;
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
