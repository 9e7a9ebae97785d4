import { existsSync } from 'node:fs';
import { NudgeError } from '../engine/errors';
import { DEFAULT_STORE_URL, sqliteFileOf } from '../engine/store/open';

/** Refuses a `--store` naming a SQLite file that is not there (other store URLs pass: their server answers for them). */
export function requireStoreFile(path?: string): void {
	const file = sqliteFileOf(path || DEFAULT_STORE_URL);
	if (file && !existsSync(file)) throw new NudgeError('INVALID_INPUT', `There is no store at ${file}: check --store (without it, the store is ~/.nudge/nudge.db; the demo's is ~/.nudge/demo.db). Nothing was created`);
}
