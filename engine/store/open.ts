import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { NudgeError } from '../errors';
import { MemoryStore } from './memory';
import { PostgresStore } from './postgres';
import { RedisStore } from './redis';
import { splitStore } from './split';
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

/** `scheme:` at the start of a store setting. Two letters at least: `C:\nudge.db` is a Windows path. */
const SCHEME = /^([a-z][a-z0-9+.-]+):/i;

/** The network stores' schemes (each followed by `//host`). */
const NETWORK_SCHEMES = new Set(['redis', 'rediss', 'postgres', 'postgresql']);

function invalidStore(spec: string, why: string): NudgeError {
	return new NudgeError('INVALID_CONFIG', `The store "${spec}" ${why}. Use ${STORE_URL_FORMS}`);
}

/**
 * Opens a store from its URL: `sqlite:<path>` or a plain file path (default, `~` expands), `memory:`,
 * `redis://…` / `rediss://…`, `postgres://…` / `postgresql://…`, or `split:hot=<url>;log=<url>`, where
 * the hot store keeps profiles, keys, caps, cursors, timers and learner counts and the log store keeps
 * decisions, outcomes and models. Schemes are case-insensitive (`Redis://` is `redis://`, RFC 3986);
 * any other scheme, or a network URL without `//`, is refused rather than taken for a file name.
 * Network stores connect lazily and retry with backoff.
 */
export function openStore(url: string = DEFAULT_STORE_URL, openPart: (url: string) => Store = openStore): Store {
	const spec = url.trim() || DEFAULT_STORE_URL;
	const scheme = SCHEME.exec(spec)?.[1].toLowerCase();
	if (scheme === undefined) return spec.toLowerCase() === 'memory' ? new MemoryStore() : openSqlite(spec);
	const rest = spec.slice(scheme.length + 1);
	if (scheme === 'memory') {
		if (rest) throw invalidStore(spec, 'is not a store URL: the in-memory store is just memory:');
		return new MemoryStore();
	}
	if (scheme === 'sqlite') {
		const path = rest.replace(/^\/\/(?=\/)/, '');
		if (!path) throw new NudgeError('INVALID_CONFIG', 'The store URL "sqlite:" needs a file path, e.g. sqlite:~/.nudge/nudge.db');
		return openSqlite(path);
	}
	if (NETWORK_SCHEMES.has(scheme)) {
		if (!rest.startsWith('//')) throw invalidStore(spec, `is not a store URL: it must start with ${scheme}:// followed by the host`);
		const normalised = `${scheme}:${rest}`;
		if (!URL.canParse(normalised)) {
			throw invalidStore(spec, 'is not a valid URL (in a password, write @ as %40, / as %2F, ? as %3F, # as %23 and : as %3A)');
		}
		return scheme.startsWith('redis') ? new RedisStore(normalised) : new PostgresStore(normalised);
	}
	if (scheme === 'split') return openSplit(spec, rest, openPart);
	throw new NudgeError('INVALID_CONFIG', `Unknown store "${spec}". Use ${STORE_URL_FORMS}`);
}

/**
 * The file a store setting names when it is a SQLite store (`~` expanded), or undefined for any other store, and for
 * a path that looks like a URL (`sqlite:redis://…`), which opening refuses (openSqlite).
 */
export function sqliteFileOf(url: string = DEFAULT_STORE_URL): string | undefined {
	const spec = url.trim() || DEFAULT_STORE_URL;
	const scheme = SCHEME.exec(spec)?.[1].toLowerCase();
	const path = scheme === undefined ? spec : scheme === 'sqlite' ? spec.slice(scheme.length + 1).replace(/^\/\/(?=\/)/, '') : '';
	if (!path || path === ':memory:' || path.toLowerCase() === 'memory' || (scheme !== undefined && SCHEME.test(path))) return undefined;
	return expandHome(path);
}

/** A SQLite file: a plain path, never something that looks like a URL (a typo'd redis:/… must not become a file name). */
function openSqlite(path: string): Store {
	if (path !== ':memory:' && SCHEME.test(path)) throw invalidStore(path, 'is not a SQLite file path: it looks like a URL');
	return new SqliteStore(path === ':memory:' ? path : expandHome(path));
}

/** The SQLite files a store setting keeps its data in (a split store's parts too, any scheme's case): none for a server. */
export function sqliteFilesOf(url: string): string[] {
	const spec = url.trim();
	if (/^split:/i.test(spec)) {
		const { hot, log } = splitParts(spec, spec.slice('split:'.length));
		return [...sqliteFilesOf(hot), ...sqliteFilesOf(log)];
	}
	const file = sqliteFileOf(spec);
	return file ? [file] : [];
}

function splitParts(spec: string, rest: string): { hot: string; log: string } {
	const parts = new Map(
		rest
			.split(';')
			.map((part) => part.trim())
			.filter(Boolean)
			.map((part) => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)] as const),
	);
	const hot = parts.get('hot');
	const log = parts.get('log');
	if (!hot || !log || parts.size !== 2 || [hot, log].some((u) => /^split:/i.test(u))) {
		throw new NudgeError('INVALID_CONFIG', `The store URL "${spec}" must be split:hot=<store URL>;log=<store URL>, e.g. split:hot=redis://127.0.0.1:6379;log=postgres://postgres@127.0.0.1:5432/nudge`);
	}
	return { hot, log };
}

/** A split store of its two parts, each opened with `openPart` (the registry's shares a SQLite file's connection). */
function openSplit(spec: string, rest: string, openPart: (url: string) => Store): Store {
	const { hot, log } = splitParts(spec, rest);
	const hotStore = openPart(hot);
	try {
		return splitStore(hotStore, openPart(log));
	} catch (error) {
		void hotStore.close();
		throw error;
	}
}
