import type { Score } from '../audit/schema';
import { NudgeError } from '../errors';
import { outcomeEventNames } from '../journeys/journey';
import type { Policy } from '../policy/schema';
import type { Profile } from '../profiles/schema';
import type { ModelVersionInfo } from '../store/models';
import type { Store } from '../store/types';
import { Evaluation, auc, calibrate, evaluate } from './evaluate';
import { encodeTable, labelsOf } from './features';
import { predictForest } from './forest';
import { DEFAULT_TIERS, TrainOptions, TrainedModel, TrainingSummary, Tiers, deserializeModel, predictTable, scoreRecord, serializeModel, splitFor, trainOnSplitAsync } from './model';
import { OUTCOME_LABEL, OutcomeRowsOptions, TREATED_COLUMN, outcomeTrainingTable, upliftTrainingTable } from './outcomes';
import { Table, readTable, tableFromObjects } from './table';
import type { UpliftEvaluation } from './uplift/metrics';
import { UpliftOptions, UpliftSummary, deserializeUplift } from './uplift/model';
import { trainAndSaveUplift, upliftMetaOf } from './uplift/registry';
import { ACTIVATION_TRIES, activateIfActiveIs, activateModel, activeChangedError, checkName, isUpliftBody, loadActive, rollbackModel } from './versions';
import { isoTime } from '../util/isoTime';

export { activateModel, rollbackModel } from './versions';

/**
 * Models in the store: train → save a version → activate (explicitly, or when asked, only if it beats
 * the active version on the same held-out rows) → roll back. Every activation is logged by the store.
 */

/** Einstein-like cold start: below this much training data a model does not score; the rules do. */
export const COLD_START = { minRows: 1000, minPositives: 120 };

export interface SaveOptions {
	/** Activate the new version. */
	activate?: boolean;
	/** With `activate`: only if its AUC beats the active version's on the new version's held-out rows. */
	requireBetter?: boolean;
	note?: string;
	now?: Date;
	/** Called with the model file once trained, before anything is stored (the CLI's --out): when it fails, nothing is. */
	beforeStore?: (body: string) => Promise<void>;
}

export interface SaveResult {
	version: number;
	model: TrainedModel;
	activated: boolean;
	/** Why it was or was not activated, in words. */
	activation: string;
	/** AUC of the previously active version on the same held-out rows, when compared. */
	activeAuc?: number;
}

function metaOf(model: TrainedModel): Record<string, unknown> {
	return {
		summary: model.summary,
		fingerprint: model.spec.fingerprint,
		target: model.spec.target,
		positive: model.spec.positive,
		features: model.spec.features.map((f) => ({ name: f.name, kind: f.kind })),
		evaluation: model.evaluation,
	};
}

/** Trains on a table, stores the new version and activates it if asked (and if it is good enough). */
export async function trainAndSave(store: Store, name: string, table: Table, options: TrainOptions, save: SaveOptions = {}): Promise<SaveResult> {
	checkName(name);
	const labels = labelsOf(table, options);
	const split = splitFor(table, labels.y, options);
	const model = await trainOnSplitAsync(table, options, split);
	const body = serializeModel(model);
	await save.beforeStore?.(body);
	const version = await store.saveModelVersion(name, isoTime(save.now?.getTime() ?? Date.now()), metaOf(model), body);
	const notActivated = (why: string, activeAuc?: number): SaveResult => ({ version, model, activated: false, activeAuc, activation: `saved as ${name} v${version}, not activated${why}` });
	if (!save.activate) return notActivated('');
	const unjudged = unjudgedReason(model.evaluation);
	if (unjudged) return notActivated(`: ${unjudged}`);
	if (!save.requireBetter) {
		await activateModel(store, name, version, { note: save.note, now: save.now });
		return { version, model, activated: true, activation: `saved and activated as ${name} v${version}` };
	}
	const heldOut = { columns: table.columns, rows: Array.from(split.split.test, (r) => table.rows[r]) };
	const yHeldOut = Uint8Array.from(split.split.test, (r) => labels.y[r]);
	// Compare with the active version, then activate only if it is still the one compared with; when another
	// version was activated meanwhile (a second training at the same time), compare with that one instead.
	for (let attempt = 0; attempt < ACTIVATION_TRIES; attempt++) {
		const active = await store.getModelVersion(name);
		let activeAuc: number | undefined;
		if (active) {
			// The new version is stored by now: an active version that cannot be compared (another kind, a broken file,
			// other columns) leaves it stored and not activated, never a failure that blames the new model.
			let current: TrainedModel | undefined;
			try {
				current = deserializeModel(active.body);
				activeAuc = auc(predictTable(current, heldOut, options.asOf), yHeldOut);
			} catch (error) {
				if (!(error instanceof NudgeError)) throw error;
				const why = current
					? `cannot read this data, so they cannot be compared (${error.message})`
					: isUpliftBody(active.body)
						? 'is an uplift model (nudge uplift train), so it cannot be compared with this propensity model'
						: `cannot be read, so they cannot be compared (${error.message})`;
				return notActivated(`: the active v${active.version} ${why}. Activate v${version} by hand if it should replace it`);
			}
			if (!(model.evaluation.auc > activeAuc)) {
				return notActivated(`: AUC ${model.evaluation.auc.toFixed(3)} does not beat the active v${active.version} (${activeAuc.toFixed(3)}) on the same held-out rows`, activeAuc);
			}
		}
		const note = save.note ?? (active ? `AUC ${model.evaluation.auc.toFixed(3)} beat v${active.version} (${activeAuc!.toFixed(3)})` : undefined);
		if (await activateIfActiveIs(store, name, version, active?.version ?? null, { note, now: save.now })) {
			return { version, model, activated: true, activeAuc, activation: `saved and activated as ${name} v${version}` };
		}
	}
	throw activeChangedError(name);
}

/**
 * Why a model's held-out evaluation cannot judge it, or undefined when it can: without both outcomes among
 * the held-out rows its AUC is undefined, and such a model must not go live unjudged.
 */
export function unjudgedReason(evaluation: Evaluation): string | undefined {
	if (Number.isFinite(evaluation.auc)) return undefined;
	const missing = evaluation.positives === 0 ? 'no success' : 'no failure';
	return `its ${evaluation.rows} held-out rows hold ${missing}, so how well it ranks contacts cannot be measured. Add rows with more ${evaluation.positives === 0 ? 'successes' : 'failures'} (the held-out share needs some of each outcome) and train again`;
}

/** Stores a serialised model (a file from `nudge train --out` or `nudge uplift train --out`) as a new version; a broken one is refused. */
export async function importModel(store: Store, name: string, json: string, now = new Date()): Promise<number> {
	checkName(name);
	const meta = isUpliftBody(json) ? upliftMetaOf(deserializeUplift(json)) : metaOf(deserializeModel(json));
	return store.saveModelVersion(name, isoTime(now.getTime()), meta, json);
}

/**
 * How a contact's profile feeds a model: each feature is looked up by its column name in the profile's
 * traits, then its event counters (e.g. "Email Opened"), then the profile's own fields (lifecycle,
 * timezone…). A feature found nowhere is blank, which the model handles like a blank cell in training.
 */
export function profileRecord(profile: Profile, model: Pick<TrainedModel, 'spec'>): Record<string, unknown> {
	const record: Record<string, unknown> = {};
	const top = profile as unknown as Record<string, unknown>;
	for (const { name } of model.spec.features) {
		if (Object.hasOwn(profile.traits, name)) record[name] = profile.traits[name];
		else if (Object.hasOwn(profile.counters, name)) record[name] = profile.counters[name];
		else if (typeof top[name] === 'string' || typeof top[name] === 'number') record[name] = top[name];
	}
	return record;
}

export function activeModel(store: Store, name: string): Promise<{ version: number; model: TrainedModel } | undefined> {
	return loadActive(store, name, deserializeModel);
}

/** Why a model may not score yet (cold start), or undefined when it may. */
export function coldStartReason(model: TrainedModel, minRows = COLD_START.minRows, minPositives = COLD_START.minPositives): string | undefined {
	const { rows, positives } = model.summary;
	if (rows >= minRows && positives >= minPositives) return undefined;
	return `trained on ${rows} rows with ${positives} successes; a model scores from ${minRows} rows with ${minPositives} successes`;
}

/** A model's score in the decision's score shape. */
export function modelScore(name: string, version: number, model: TrainedModel, profile: Profile, tiers: Tiers): Score {
	const s = scoreRecord(model, profileRecord(profile, model), { tiers });
	return { value: s.value, probability: s.probability, tier: s.tier, model: `${name}@v${version}`, fallback: false, factors: s.factors };
}

/** A stored model's evaluation on new labelled data (rows with the model's target column). */
export function evaluateOn(model: TrainedModel, table: Table, tiers: Tiers = DEFAULT_TIERS): Evaluation {
	const { y } = labelsOf(table, { target: model.spec.target, positive: model.spec.positive, placeholders: model.spec.placeholders });
	const raw = predictForest(model.forest, encodeTable(table, model.spec));
	return evaluate(raw.map((p) => calibrate(model.calibrator, p)), raw, y, [tiers.hot / 100, tiers.warm / 100]);
}

/** Training data as the nodes receive it: rows as objects (one per contact), or a file path. */
export function dataTable(data: unknown): Table {
	if (typeof data === 'string' && data.trim()) return readTable(data.trim());
	if (Array.isArray(data)) {
		if (!data.length) throw new NudgeError('INVALID_INPUT', 'No rows to learn from: pass one object per contact, or the path of a CSV/JSON export');
		return tableFromObjects(data, 'The rows');
	}
	throw new NudgeError('INVALID_INPUT', 'Give the data as a list of rows (one object per contact) or the path of a CSV, JSON or JSONL file');
}

/** What the Model node (n8n and Node-RED) and the CLI ask of the store's models. */
export type ModelRequest =
	| ({ operation: 'train'; name: string; data: Table; options: TrainOptions } & Pick<SaveOptions, 'activate' | 'requireBetter' | 'note'>)
	/** Learn from outcomes: the engine's decisions and recorded outcomes become the rows (outcomes.ts). */
	| ({ operation: 'retrain'; name: string; outcomes?: OutcomeRowsOptions; options?: Omit<TrainOptions, 'target' | 'positive'> } & Pick<SaveOptions, 'activate' | 'requireBetter' | 'note'>)
	| { operation: 'evaluate'; name: string; version?: number; data: Table }
	| { operation: 'activate'; name: string; version: number; note?: string }
	| { operation: 'rollback'; name: string; note?: string }
	| { operation: 'list'; name: string }
	/** An uplift model (uplift/model.ts): from rows with treatment and outcome columns, or a journey's decisions (its holdout is the control). */
	| ({ operation: 'trainUplift'; name: string; data?: Table; journey?: string; options: Omit<UpliftOptions, 'treatment' | 'outcome'> & { treatment?: string; outcome?: string } } & Pick<SaveOptions, 'activate' | 'note'>);

export interface ModelResponse {
	name: string;
	/** The version trained, evaluated or activated. */
	version?: number;
	/** The active version after the operation. */
	active?: number;
	message: string;
	evaluation?: Evaluation;
	summary?: TrainingSummary;
	versions?: ModelVersionInfo[];
	/** trainUplift: the held-out evaluation (Qini, AUUC, uplift at k, curve), whether the engine falls back to the average effect, and the summary. */
	uplift?: { evaluation: UpliftEvaluation; fallback: boolean; averageEffect: number; summary: UpliftSummary };
}

async function storedModel(store: Store, name: string, version?: number): Promise<{ version: number; model: TrainedModel }> {
	const found = version === undefined ? await activeModel(store, name) : await store.getModelVersion(name, version).then((r) => r && { version, model: deserializeModel(r.body) });
	if (!found) throw new NudgeError('INVALID_INPUT', version === undefined ? `Model "${name}" has no active version: train one and activate it` : `Model "${name}" has no version ${version}`);
	return found;
}

/**
 * Runs one model operation. `policy`: the engine's, so training rows from the log leave out every event its journeys
 * record as outcomes (outcomes.ts), not only those the log shows.
 */
export async function modelOperation(store: Store, request: ModelRequest, policy?: Pick<Policy, 'journeys'>): Promise<ModelResponse> {
	const { name } = request;
	const outcomeEvents = policy ? outcomeEventNames(policy) : undefined;
	switch (request.operation) {
		case 'train':
		case 'retrain': {
			const [data, options] =
				request.operation === 'train'
					? [request.data, request.options]
					: [await outcomeTrainingTable(store, { ...request.outcomes, outcomeEvents }), { ...request.options, target: OUTCOME_LABEL, positive: '1' }];
			const r = await trainAndSave(store, name, data, options, request);
			return { name, version: r.version, active: await store.activeModelVersion(name), message: r.activation, evaluation: r.model.evaluation, summary: r.model.summary };
		}
		case 'evaluate': {
			const { version, model } = await storedModel(store, name, request.version);
			const evaluation = evaluateOn(model, request.data);
			return { name, version, active: await store.activeModelVersion(name), message: `${name} v${version}: AUC ${evaluation.auc.toFixed(3)} on ${evaluation.rows} rows`, evaluation };
		}
		case 'activate':
		case 'rollback': {
			const info = request.operation === 'activate' ? await activateModel(store, name, request.version, { note: request.note }) : await rollbackModel(store, name, { note: request.note });
			return { name, version: info.version, active: info.version, message: `${name} v${info.version} is now active` };
		}
		case 'trainUplift': {
			const { journey, data, options } = request;
			if (!!journey === !!data) throw new NudgeError('INVALID_INPUT', 'Uplift training needs rows (with treatment and outcome columns) or a journey whose decisions to learn from, not both');
			const table = journey ? await upliftTrainingTable(store, { journey, outcomeEvents }) : data!;
			const columns = journey ? { treatment: TREATED_COLUMN, outcome: OUTCOME_LABEL, positive: '1' } : { treatment: options.treatment ?? '', outcome: options.outcome ?? '' };
			const r = await trainAndSaveUplift(store, name, table, { ...options, ...columns }, request);
			const { evaluation, fallback, averageEffect, summary } = r.model;
			return { name, version: r.version, active: await store.activeModelVersion(name), message: r.message, uplift: { evaluation, fallback, averageEffect, summary } };
		}
		case 'list': {
			const versions = await store.listModelVersions(name);
			return { name, active: await store.activeModelVersion(name), versions, message: `${name}: ${versions.length} version(s)` };
		}
	}
}
