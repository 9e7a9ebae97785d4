import { readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Engine } from './engine';
import { NudgeError } from './errors';
import { LoadedPolicy, loadPolicy, loadPolicyFile } from './policy/load';
import { DEFAULT_STORE_URL, openStore, sqliteFileOf } from './store/open';
import type { Store } from './store/types';

/** What the n8n credential "Nudge Engine API" and the Node-RED config node `nudge-engine` hold. */
export interface EngineConfig {
	/** `sqlite:<path>` (default `sqlite:~/.nudge/nudge.db`), `memory:`, `redis://…`, `postgres://…` or `split:hot=…;log=…` (see store/open.ts). */
	store?: string;
	/** Policy as JSON text or an object; empty means the default policy. */
	policy?: string | Record<string, unknown>;
	/** Path of a policy JSON file (used when `policy` is empty). */
	policyFile?: string;
	clock?: 'wall' | 'event';
}

/**
 * The store a configuration names, as stores are shared: a SQLite file by its full path, however the setting spells it
 * (`sqlite:<file>`, the plain path, `~`, `.` and `..`, a symbolic link to it or its folder). Two connections to one file in one process would block its
 * thread: SQLite's group commit holds the write lock until the end of the event-loop turn (store/sqlite.ts), so the
 * other connection's write waited its busy timeout (5 s, the whole process frozen) and failed "database is locked".
 */
function storeUrlOf(config: EngineConfig): string {
	const url = config.store?.trim() || DEFAULT_STORE_URL;
	const file = sqliteFileOf(url);
	return file ? `sqlite:${realFile(file)}` : url;
}

/**
 * A file by its real path, through symbolic links (of the file or of its folder), as far as they exist yet: a link
 * whose target is not made yet leads to that target (a volume's file made on first start).
 */
function realFile(file: string, links = 0): string {
	try {
		return realpathSync.native(file);
	} catch {
		// The folder as the system follows it: a link's relative target is read from the link's real folder.
		let folder: string;
		try {
			folder = realpathSync.native(dirname(file));
		} catch {
			return file;
		}
		try {
			if (links < 16) return realFile(resolve(folder, readlinkSync(file)), links + 1);
		} catch {
			// Not a link: the file is not made yet.
		}
		return join(folder, basename(file));
	}
}

/** Validates the configured policy before anything else, so a bad policy opens (and creates) nothing. */
function policyOf(config: EngineConfig): LoadedPolicy {
	const hasPolicy = typeof config.policy === 'object' || (typeof config.policy === 'string' && config.policy.trim() !== '');
	if (hasPolicy) return loadPolicy(config.policy);
	return config.policyFile ? loadPolicyFile(config.policyFile) : loadPolicy();
}

/** Builds an engine that owns its own store (CLI, tests, benchmarks). */
export function createEngine(config: EngineConfig = {}): Engine {
	const policy = policyOf(config);
	return new Engine({ store: openStore(storeUrlOf(config)), policy, clock: config.clock });
}

/**
 * Checks a configuration the way a credential "Test" button or a config node needs: the policy
 * validates and the store opens. Touches none of the shared engines running flows use; their store, when one is
 * open, is the one read (a second connection to a SQLite file they write would wait for their write lock with the
 * process's thread blocked: 5 s, then "database is locked"), and it stays open for them.
 */
export async function checkEngineConfig(config: EngineConfig): Promise<{ policyVersion: string; store: string }> {
	const policy = policyOf(config);
	const url = storeUrlOf(config);
	const store = acquireStore(url);
	try {
		// Network stores connect lazily: one read proves the server answers (and the schema exists).
		await store.getCursor('nudge:connection-check');
		return { policyVersion: policy.version, store: store.kind };
	} finally {
		await releaseStore(url, store);
	}
}

interface Shared<T> {
	value: T;
	users: number;
}

/** Stores are shared by URL, a SQLite file by its path (one connection per file per process: storeUrlOf); engines by store + policy version. */
const stores = new Map<string, Shared<Store>>();
const engines = new Map<string, Shared<Engine>>();

function acquireStore(url: string): Store {
	let entry = stores.get(url);
	if (!entry) stores.set(url, (entry = { value: openStore(url, openPart), users: 0 }));
	entry.users++;
	return entry.value;
}

/**
 * A split store's part: a SQLite file is the shared connection to it (a credential naming the file itself may have it
 * open, and a second connection would block the process: storeUrlOf), let go when the split store closes; any other
 * part is the split store's own.
 */
function openPart(partUrl: string): Store {
	if (!sqliteFileOf(partUrl)) return openStore(partUrl);
	const url = storeUrlOf({ store: partUrl });
	const store = acquireStore(url);
	const part = { close: () => releaseStore(url, store), profileHolder: store.profileHolder ?? store };
	return new Proxy(store, { get: (target, key) => (key in part ? part[key as keyof typeof part] : Reflect.get(target, key, target)) });
}

async function releaseStore(url: string, store: Store): Promise<void> {
	const entry = stores.get(url);
	if (!entry || entry.value !== store) return;
	if (--entry.users === 0) {
		stores.delete(url);
		await store.close();
	}
}

/**
 * One engine per configuration per process, shared by every node that names the same configuration
 * (same store, same policy content — whitespace and key order do not matter).
 * Each `acquireEngine` must be paired with a `release` (Node-RED config nodes do it on close); the last release
 * closes the engine once the work tracked on it (Engine.track) has finished.
 */
export function acquireEngine(config: EngineConfig): { engine: Engine; release: () => Promise<void> } {
	if (!config || typeof config !== 'object') {
		throw new NudgeError('INVALID_CONFIG', 'No Nudge engine is configured: select a Nudge Engine credential / config node');
	}
	const policy = policyOf(config);
	const url = storeUrlOf(config);
	const key = `${url}\n${policy.version}\n${config.clock ?? 'wall'}`;
	let entry = engines.get(key);
	if (!entry) {
		const store = acquireStore(url);
		entry = { value: new Engine({ store, policy, clock: config.clock, ownsStore: false }), users: 0 };
		engines.set(key, entry);
	}
	entry.users++;
	const held = entry;
	let released = false;
	return {
		engine: held.value,
		release: async () => {
			if (released) return;
			released = true;
			if (--held.users === 0 && engines.get(key) === held) {
				engines.delete(key);
				await held.value.close();
				await releaseStore(url, held.value.store);
			}
		},
	};
}

/** The shared engine for a configuration, kept for the life of the process (n8n executions). */
export function getEngine(config: EngineConfig): Engine {
	return acquireEngine(config).engine;
}

/** Closes every shared engine and store (tests, shutdown). */
export async function closeAllEngines(): Promise<void> {
	const all = [...engines.values()];
	const allStores = [...stores.values()];
	engines.clear();
	stores.clear();
	await Promise.all(all.map((e) => e.value.close()));
	await Promise.all(allStores.map((s) => s.value.close()));
}
