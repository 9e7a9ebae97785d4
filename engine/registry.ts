import { Engine } from './engine';
import { NudgeError } from './errors';
import { contentHash } from './ids';
import { loadPolicy, loadPolicyFile } from './policy/load';
import { DEFAULT_STORE_URL, openStore } from './store/open';

/** What the n8n credential "Nudge Engine" and the Node-RED config node `nudge-engine` hold. */
export interface EngineConfig {
	/** `sqlite:<path>` (default `sqlite:~/.nudge/nudge.db`) or `memory:`. */
	store?: string;
	/** Policy as JSON text or an object; empty means the default policy. */
	policy?: string | Record<string, unknown>;
	/** Path of a policy JSON file (used when `policy` is empty). */
	policyFile?: string;
	clock?: 'wall' | 'event';
}

interface Entry {
	engine: Engine;
	users: number;
}

const engines = new Map<string, Entry>();

function keyOf(config: EngineConfig): string {
	return contentHash({ store: config.store?.trim() || DEFAULT_STORE_URL, policy: config.policy ?? '', file: config.policyFile ?? '', clock: config.clock ?? 'wall' });
}

/** Builds an engine without sharing it (CLI, tests, benchmarks). */
export function createEngine(config: EngineConfig = {}): Engine {
	const hasPolicy = typeof config.policy === 'object' || (typeof config.policy === 'string' && config.policy.trim() !== '');
	// Validate the policy before opening the store, so a bad policy creates no file.
	const policy = hasPolicy ? loadPolicy(config.policy) : config.policyFile ? loadPolicyFile(config.policyFile) : loadPolicy();
	return new Engine({ store: openStore(config.store), policy, clock: config.clock });
}

/**
 * One engine per configuration per process, shared by every node that names the same configuration.
 * Each `acquireEngine` must be paired with a `release` (Node-RED config nodes do it on close).
 */
export function acquireEngine(config: EngineConfig): { engine: Engine; release: () => Promise<void> } {
	if (!config || typeof config !== 'object') {
		throw new NudgeError('INVALID_CONFIG', 'No Nudge engine is configured: select a Nudge Engine credential / config node');
	}
	const key = keyOf(config);
	let entry = engines.get(key);
	if (!entry) {
		entry = { engine: createEngine(config), users: 0 };
		engines.set(key, entry);
	}
	entry.users++;
	const held = entry;
	let released = false;
	return {
		engine: held.engine,
		release: async () => {
			if (released) return;
			released = true;
			if (--held.users === 0 && engines.get(key) === held) {
				engines.delete(key);
				await held.engine.close();
			}
		},
	};
}

/** The shared engine for a configuration, kept for the life of the process (n8n executions). */
export function getEngine(config: EngineConfig): Engine {
	const existing = engines.get(keyOf(config));
	return existing ? existing.engine : acquireEngine(config).engine;
}

/** Closes every shared engine (tests, shutdown). */
export async function closeAllEngines(): Promise<void> {
	const all = [...engines.values()];
	engines.clear();
	await Promise.all(all.map((e) => e.engine.close()));
}
