import { existsSync } from 'node:fs';
import type { Engine } from '../engine/engine';
import { NudgeError } from '../engine/errors';
import { createEngine, type EngineConfig } from '../engine/registry';
import { DEFAULT_STORE_URL, openStore, sqliteFileOf } from '../engine/store/open';
import { PostgresStore } from '../engine/store/postgres';
import { RedisStore } from '../engine/store/redis';
import type { Store } from '../engine/store/types';

/** Refuses a `--store` naming a SQLite file that is not there (other store URLs pass: their server answers for them). */
export function requireStoreFile(path?: string): void {
	const file = sqliteFileOf(path || DEFAULT_STORE_URL);
	if (file && !existsSync(file)) throw new NudgeError('INVALID_INPUT', `There is no store at ${file}: check --store (without it, the store is ~/.nudge/nudge.db; the demo's is ~/.nudge/demo.db). Nothing was created`);
}

/** The PostgreSQL stores a store is made of (itself, or a split store's parts). */
function postgresParts(store: Store): PostgresStore[] {
	if (store instanceof PostgresStore) return [store];
	const parts = (store as { parts?: Record<string, Store> }).parts;
	return parts ? Object.values(parts).flatMap(postgresParts) : [];
}

/**
 * Refuses a store whose data is not there, creating nothing: a PostgreSQL schema (?schema=) that is not there, or a Redis
 * store with nothing under its prefix (?prefix=). For a command that reads the log, or changes what it holds, a mistyped
 * schema or prefix is a mistyped SQLite path, not an empty log to answer from. A split store's Redis part is not asked:
 * it holds the hot state, which a Redis without persistence loses on restart while the log (PostgreSQL) keeps it.
 */
export async function requireStoredData(store: Store): Promise<void> {
	if (store instanceof RedisStore) await store.requirePrefix();
	for (const part of postgresParts(store)) await part.requireSchema();
}

/** `opened` when the store's data is there (requireStoredData); otherwise it is closed and the refusal thrown. */
async function withDataOrClosed<T extends { close(): Promise<unknown> }>(opened: T, store: Store): Promise<T> {
	try {
		await requireStoredData(store);
		return opened;
	} catch (error) {
		await opened.close().catch(() => undefined);
		throw error;
	}
}

/** Opens a `--store` whose data must be there already: a SQLite file that is, a PostgreSQL schema that is, a Redis prefix with keys. */
export async function openExistingStore(path?: string): Promise<Store> {
	requireStoreFile(path);
	const store = openStore(path || DEFAULT_STORE_URL);
	return await withDataOrClosed(store, store);
}

/** An engine (createEngine's: the policy is loaded before the store opens) on a `--store` whose data must be there already. */
export async function createExistingEngine(config: EngineConfig): Promise<Engine> {
	requireStoreFile(config.store);
	const engine = createEngine(config);
	return await withDataOrClosed(engine, engine.store);
}

/**
 * Opens --store (a SQLite file path or any store URL) for one command and closes it after, whatever happens. A command
 * that reads or changes what is stored gives `existing` (openExistingStore): opening a mistyped --store would create an
 * empty store and answer from it as if that were the truth.
 */
export async function withStore<T>(path: string | undefined, run: (store: Store) => Promise<T>, { existing = false } = {}): Promise<T> {
	const store = existing ? await openExistingStore(path) : openStore(path || DEFAULT_STORE_URL);
	try {
		return await run(store);
	} finally {
		await store.close();
	}
}
