import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { NudgeError } from '../errors';
import { MemoryStore } from './memory';
import { PostgresStore } from './postgres';
import { redactUrl } from './connection';
import { RedisStore } from './redis';
import { SplitStore } from './split';
import { SqliteStore } from './sqlite';
import type { Store } from './types';

/** Where the embedded store lives when nothing is configured. */
export const DEFAULT_STORE_URL = 'sqlite:~/.nudge/nudge.db';

export function expandHome(path: string): string {
	return path === '~' || path.startsWith('~/') ? resolve(homedir(), path.slice(2)) : resolve(path);
}

/** What each store URL looks like (error messages and the credential / config node help). */
export const STORE_URL_FORMS =
	'sqlite:<file path> (the default, e.g. sqlite:~/.nudge/nudge.db), memory:, redis://host:6379[?prefix=nudge:], ' +
	'postgres://user@host:5432/db[?schema=nudge], or split:hot=redis://…;log=postgres://… (Redis for hot state, PostgreSQL for the decision log and models)';

/**
 * Opens a store from its URL: `sqlite:<path>` (default, `~` expands), `memory:`, `redis://…` /
 * `rediss://…`, `postgres://…` / `postgresql://…`, or `split:hot=<url>;log=<url>`, where the hot
 * store keeps profiles, keys, caps, cursors, timers and learner counts and the log store keeps
 * decisions, outcomes and models. Network stores connect lazily and retry with backoff.
 */
export function openStore(url: string = DEFAULT_STORE_URL): Store {
	const spec = url.trim() || DEFAULT_STORE_URL;
	if (spec === 'memory:' || spec === 'memory') return new MemoryStore();
	if (spec.startsWith('sqlite:')) {
		const path = spec.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
		if (!path) throw new NudgeError('INVALID_CONFIG', 'The store URL "sqlite:" needs a file path, e.g. sqlite:~/.nudge/nudge.db');
		return new SqliteStore(path === ':memory:' ? path : expandHome(path));
	}
	if (/^rediss?:\/\//.test(spec)) return new RedisStore(spec);
	if (/^postgres(ql)?:\/\//.test(spec)) return new PostgresStore(spec);
	if (spec.startsWith('split:')) {
		const parts = new Map(
			spec
				.slice('split:'.length)
				.split(';')
				.map((part) => part.trim())
				.filter(Boolean)
				.map((part) => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)] as const),
		);
		const hot = parts.get('hot');
		const log = parts.get('log');
		if (!hot || !log || parts.size !== 2 || [hot, log].some((u) => u.startsWith('split:'))) {
			throw new NudgeError('INVALID_CONFIG', `The store URL "${redactUrl(spec)}" must be split:hot=<store URL>;log=<store URL>, e.g. split:hot=redis://127.0.0.1:6379;log=postgres://postgres@127.0.0.1:5432/nudge`);
		}
		const hotStore = openStore(hot);
		try {
			return new SplitStore(hotStore, openStore(log));
		} catch (error) {
			void hotStore.close();
			throw error;
		}
	}
	throw new NudgeError('INVALID_CONFIG', `Unknown store "${spec}". Use ${STORE_URL_FORMS}`);
}
