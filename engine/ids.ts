import { createHash, randomUUID } from 'node:crypto';

export function newId(prefix: string): string {
	return `${prefix}_${randomUUID().replace(/-/g, '')}`;
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
