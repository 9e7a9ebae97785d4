import { NudgeError } from '../errors';
import type { ModelActivation, ModelVersionInfo } from '../store/models';
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

/**
 * Whether a body is an uplift model, by its `format`: a leading "format" key (serializeUplift writes it first) is read
 * without parsing the whole body; any other layout (pretty-printed, keys reordered) is parsed.
 */
export function isUpliftBody(body: string): boolean {
	const first = /^\s*\{\s*"format"\s*:\s*"([^"\\]*)"/.exec(body);
	if (first) return first[1].startsWith('nudge-uplift/');
	try {
		return String(JSON.parse(body)?.format).startsWith('nudge-uplift/');
	} catch {
		return false;
	}
}

/** Checks a stored body loads, whichever kind of model it is (propensity or uplift). */
function readAnyModel(body: string): unknown {
	return (isUpliftBody(body) ? deserializeUplift : deserializeModel)(body);
}

type ActivateOptions = { note?: string; now?: Date; action?: 'activate' | 'rollback' };

/** Activates a version after checking it loads; a missing or broken version changes nothing. */
export async function activateModel(store: Store, name: string, version: number, options: ActivateOptions = {}): Promise<ModelVersionInfo> {
	const activated = await activateIfActiveIs(store, name, version, undefined, options);
	if (!activated) throw new NudgeError('CONFLICT', `Model ${name} v${version} disappeared while activating it`);
	return activated;
}

/**
 * activateModel, only if the active version is still `expected` (null: none is active; undefined: whichever):
 * undefined when it changed meanwhile, so a caller that chose by comparing with one version never replaces
 * another it did not see (two trainings with --require-better at once). The store checks and activates in one step.
 */
export async function activateIfActiveIs(store: Store, name: string, version: number, expected: number | null | undefined, options: ActivateOptions = {}): Promise<ModelVersionInfo | undefined> {
	const record = await store.getModelVersion(name, version);
	if (!record) {
		const known = (await store.listModelVersions(name)).map((v) => v.version);
		throw new NudgeError('INVALID_INPUT', known.length ? `Model ${name} has no version ${version} (its versions: ${known.join(', ')})` : `There is no model named "${name}": train one first`);
	}
	readAnyModel(record.body);
	const entry = { name, version, action: options.action ?? 'activate', at: isoTime(options.now?.getTime() ?? Date.now()), ...(options.note ? { note: options.note } : {}) } as const;
	if (!(await store.activateModelVersion(entry, expected))) return undefined;
	return { name: record.name, version: record.version, createdAt: record.createdAt, meta: record.meta, active: true };
}

/** How often a compare-and-set activation is tried again when the active version keeps changing under it. */
export const ACTIVATION_TRIES = 5;

export const activeChangedError = (name: string) =>
	new NudgeError('CONFLICT', `The active version of model ${name} kept changing while this one was activated (other trainings or activations at the same time): try again`);

/**
 * The versions that were active one after another, oldest first, as the activation log tells it: an
 * activation adds its version, a rollback removes the version it rolled back from. The last is the active
 * version, the one before it the version a rollback goes back to.
 */
export function activationHistory(log: readonly Pick<ModelActivation, 'version' | 'action'>[]): number[] {
	const history: number[] = [];
	for (const { version, action } of log) {
		if (action === 'rollback') {
			history.pop();
			// Normally the version rolled back to is now last; a log written otherwise still ends on it.
			const at = history.lastIndexOf(version);
			if (at >= 0) history.length = at + 1;
			else history.push(version);
		} else if (history[history.length - 1] !== version) history.push(version);
	}
	return history;
}

/**
 * Re-activates the version that was active before the current one; rolling back again goes further back
 * (never to a version just rolled back from).
 */
export async function rollbackModel(store: Store, name: string, options: { note?: string; now?: Date } = {}): Promise<ModelVersionInfo> {
	for (let attempt = 0; attempt < ACTIVATION_TRIES; attempt++) {
		const history = activationHistory(await store.modelActivations(name));
		if (history.length < 2) throw new NudgeError('INVALID_INPUT', `Model ${name} has no earlier active version to roll back to`);
		const [previous, current] = history.slice(-2);
		const activated = await activateIfActiveIs(store, name, previous, current, { ...options, action: 'rollback' });
		if (activated) return activated;
	}
	throw activeChangedError(name);
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
