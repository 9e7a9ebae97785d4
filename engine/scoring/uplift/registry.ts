import type { Store } from '../../store/types';
import type { SaveOptions } from '../registry';
import { activateModel, checkName, loadActive } from '../versions';
import type { Table } from '../table';
import { UpliftModel, UpliftOptions, deserializeUplift, serializeUplift, trainUpliftAsync } from './model';
import { isoTime } from '../../util/isoTime';

/**
 * Uplift models live in the store's model registry beside the propensity models, versioned and activated
 * the same way; their body says which kind they are, so neither kind is ever read as the other.
 */
export function upliftMetaOf(model: UpliftModel): Record<string, unknown> {
	return {
		kind: 'uplift',
		summary: model.summary,
		fingerprint: model.spec.fingerprint,
		treatment: model.treatment,
		target: model.spec.target,
		features: model.spec.features.map((f) => ({ name: f.name, kind: f.kind })),
		fallback: model.fallback,
		averageEffect: model.averageEffect,
		evaluation: model.evaluation,
	};
}

export interface UpliftSaveResult {
	version: number;
	model: UpliftModel;
	activated: boolean;
	message: string;
}

/** Trains, stores a new version and activates it when asked, saying whether it beats random. */
export async function trainAndSaveUplift(store: Store, name: string, table: Table, options: UpliftOptions, save: Pick<SaveOptions, 'activate' | 'note' | 'now' | 'beforeStore'> = {}): Promise<UpliftSaveResult> {
	checkName(name);
	const model = await trainUpliftAsync(table, options);
	const body = serializeUplift(model);
	await save.beforeStore?.(body);
	const version = await store.saveModelVersion(name, isoTime(save.now?.getTime() ?? Date.now()), upliftMetaOf(model), body);
	if (save.activate) await activateModel(store, name, version, { note: save.note, now: save.now });
	const verb = save.activate ? 'saved and activated' : 'saved, not activated,';
	return { version, model, activated: !!save.activate, message: `${verb} as ${name} v${version}; the model ${model.evaluation.verdict}` };
}

export function activeUplift(store: Store, name: string): Promise<{ version: number; model: UpliftModel } | undefined> {
	return loadActive(store, name, deserializeUplift);
}

/** A stored version (the active one when `version` is absent). */
export async function storedUplift(store: Store, name: string, version?: number): Promise<{ version: number; model: UpliftModel } | undefined> {
	if (version === undefined) return activeUplift(store, name);
	const record = await store.getModelVersion(name, version);
	return record && { version, model: deserializeUplift(record.body) };
}
