import { NudgeError } from '../errors';
import type { ModelVersionInfo } from '../store/models';
import type { Store } from '../store/types';
import { deserializeModel } from './model';
import { deserializeUplift } from './uplift/model';
import { isoTime } from '../util/isoTime';

/**
 * The versions of a named model in the store, whichever kind it is (propensity or uplift): naming,
 * activation, rollback and the cached active version. Both kinds' registries build on it.
 */

export const checkName = (name: string) => {
	if (!/^[\w.-]{1,64}$/.test(name)) throw new NudgeError('INVALID_INPUT', `Model name "${name}" is not valid: use letters, digits, "-", "_" or "." (e.g. "lead")`);
};

/** An uplift model's body (serializeUplift writes its format first). */
export const isUpliftBody = (body: string) => /^\{"format":"nudge-uplift\//.test(body);

/** Checks a stored body loads, whichever kind of model it is (propensity or uplift). */
function readAnyModel(body: string): unknown {
	return (isUpliftBody(body) ? deserializeUplift : deserializeModel)(body);
}

/** Activates a version after checking it loads; a missing or broken version changes nothing. */
export async function activateModel(store: Store, name: string, version: number, options: { note?: string; now?: Date; action?: 'activate' | 'rollback' } = {}): Promise<ModelVersionInfo> {
	const record = await store.getModelVersion(name, version);
	if (!record) {
		const known = (await store.listModelVersions(name)).map((v) => v.version);
		throw new NudgeError('INVALID_INPUT', known.length ? `Model ${name} has no version ${version} (its versions: ${known.join(', ')})` : `There is no model named "${name}": train one first`);
	}
	readAnyModel(record.body);
	const entry = { name, version, action: options.action ?? 'activate', at: isoTime(options.now?.getTime() ?? Date.now()), ...(options.note ? { note: options.note } : {}) } as const;
	if (!(await store.activateModelVersion(entry))) throw new NudgeError('CONFLICT', `Model ${name} v${version} disappeared while activating it`);
	return { name: record.name, version: record.version, createdAt: record.createdAt, meta: record.meta, active: true };
}

/** Re-activates the version that was active before the current one. */
export async function rollbackModel(store: Store, name: string, options: { note?: string; now?: Date } = {}): Promise<ModelVersionInfo> {
	const log = await store.modelActivations(name);
	const last = log[log.length - 1];
	if (last?.previous === undefined) throw new NudgeError('INVALID_INPUT', `Model ${name} has no earlier active version to roll back to`);
	return activateModel(store, name, last.previous, { ...options, action: 'rollback' });
}

/** Loaded models per store, by kind, name and version: a score costs one cheap active-version lookup. */
const cache = new WeakMap<Store, Map<string, { version: number; model: unknown }>>();

/** The active version of a model, read by `read` (which refuses a body of another kind) and cached. */
export async function loadActive<T>(store: Store, name: string, read: (json: string) => T): Promise<{ version: number; model: T } | undefined> {
	const version = await store.activeModelVersion(name);
	if (version === undefined) return undefined;
	let byName = cache.get(store);
	if (!byName) cache.set(store, (byName = new Map()));
	const key = `${read.name}\u0000${name}`;
	const hit = byName.get(key) as { version: number; model: T } | undefined;
	if (hit?.version === version) return hit;
	const record = await store.getModelVersion(name, version);
	if (!record) return undefined;
	const loaded = { version, model: read(record.body) };
	byName.set(key, loaded);
	return loaded;
}
