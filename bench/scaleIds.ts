import { randomBytes } from 'node:crypto';

/** A unique Redis key prefix / PostgreSQL schema name for one run. */
export function runId(label: string): string {
	return `${label}_${process.pid}_${randomBytes(4).toString('hex')}`;
}
