import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { NudgeError } from '../errors';
import { MemoryStore } from './memory';
import { SqliteStore } from './sqlite';
import type { Store } from './types';

/** Where the embedded store lives when nothing is configured. */
export const DEFAULT_STORE_URL = 'sqlite:~/.nudge/nudge.db';

export function expandHome(path: string): string {
	return path === '~' || path.startsWith('~/') ? resolve(homedir(), path.slice(2)) : resolve(path);
}

/**
 * Opens a store from its URL: `sqlite:<path>` (default, `~` expands), `memory:`.
 * Shared network stores plug in here by scheme.
 */
export function openStore(url: string = DEFAULT_STORE_URL): Store {
	const spec = url.trim() || DEFAULT_STORE_URL;
	if (spec === 'memory:' || spec === 'memory') return new MemoryStore();
	if (spec.startsWith('sqlite:')) {
		const path = spec.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
		if (!path) throw new NudgeError('INVALID_CONFIG', 'The store URL "sqlite:" needs a file path, e.g. sqlite:~/.nudge/nudge.db');
		return new SqliteStore(path === ':memory:' ? path : expandHome(path));
	}
	throw new NudgeError(
		'INVALID_CONFIG',
		`Unknown store "${spec}". Use sqlite:<file path> (the default, e.g. ${DEFAULT_STORE_URL}) or memory:`,
	);
}
