import { NudgeError } from '../errors';
import { Calibrator, Evaluation, Split, calibrate, calibratorProblem, evaluate, fitIsotonic, fitPlatt, stratifiedKFold, stratifiedSplit, timeSplit } from './evaluate';
import { FeatureOptions, FeatureSpec, buildFeatureSpec, describeValue, encodeRecord, encodeTable, fingerprintOf, labelsOf, specProblem } from './features';
import { Forest, ForestOptions, Steps, Tree, drain, drainAsync, explainRow, growForest, predictForest } from './forest';
import { tierOf } from './rulesModel';
import { type Table, ownValue } from './table';
import { isoTime, parseTime } from '../util/isoTime';

/** Tier cut-offs on the 0–100 score (the policy's `scoring.tiers`). */
export interface Tiers {
	hot: number;
	warm: number;
}
export const DEFAULT_TIERS: Tiers = { hot: 70, warm: 40 };

export interface TrainOptions extends FeatureOptions, ForestOptions {
	/** Share of rows held out for evaluation (default 0.2). */
	testFraction?: number;
	/** Share of the training rows held out to fit the calibration (default 0.2). */
	calibrationFraction?: number;
	/** A date column: hold out the latest rows instead of a random stratified share. */
	timeColumn?: string;
	tiers?: Tiers;
	/** Platt (default: two parameters, steady on small held-out sets) or isotonic (needs more rows). */
	calibration?: 'platt' | 'isotonic';
	/** Scoring time for date features (default now). */
	asOf?: Date;
}

export interface TrainingSummary {
	rows: number;
	positives: number;
	trainRows: number;
	calibrationRows: number;
	testRows: number;
	split: 'stratified' | 'time';
	trees: number;
	maxDepth: number;
	trainedAt: string;
	trainMs: number;
}

/** Everything needed to score and to judge a model; plain JSON once serialised. */
export interface TrainedModel {
	spec: FeatureSpec;
	forest: Forest;
	calibrator: Calibrator;
	evaluation: Evaluation;
	summary: TrainingSummary;
}

export function splitFor(table: Table, y: Uint8Array, options: TrainOptions): { split: Split; kind: 'stratified' | 'time' } {
	const fraction = options.testFraction ?? 0.2;
	if (!options.timeColumn) return { split: stratifiedSplit(y, fraction, (options.seed ?? 42) + 1), kind: 'stratified' };
	const c = table.columns.indexOf(options.timeColumn);
	if (c < 0) throw new NudgeError('INVALID_INPUT', `The data has no time column "${options.timeColumn}"`);
	const times = table.rows.map((row, i) => {
		const t = parseTime(String(row[c] ?? ''));
		if (Number.isNaN(t)) throw new NudgeError('INVALID_INPUT', `Row ${i + 1} of the time column "${options.timeColumn}" is not a date ("${row[c] ?? ''}")`);
		return t;
	});
	return { split: timeSplit(times, fraction), kind: 'time' };
}

/**
 * Trains on `split.train` and evaluates on `split.test`: the feature spec and forest see only
 * training rows; a stratified share of them is held back to fit the calibration.
 */
export function trainOnSplit(table: Table, options: TrainOptions, given?: { split: Split; kind: 'stratified' | 'time' }): TrainedModel {
	return drain(trainSteps(table, options, given));
}

/** trainOnSplit, letting the event loop run between trees (nodes, servers). */
export function trainOnSplitAsync(table: Table, options: TrainOptions, given?: { split: Split; kind: 'stratified' | 'time' }): Promise<TrainedModel> {
	return drainAsync(trainSteps(table, options, given));
}

function* trainSteps(table: Table, options: TrainOptions, given?: { split: Split; kind: 'stratified' | 'time' }): Steps<TrainedModel> {
	const started = performance.now();
	const labels = labelsOf(table, options);
	const exclude = [...(options.exclude ?? []), ...(options.timeColumn ? [options.timeColumn] : [])];
	const { split, kind } = given ?? splitFor(table, labels.y, options);
	const asOf = options.asOf ?? new Date();
	const trainSet = split.train;
	const yTrain = Uint8Array.from(trainSet, (r) => labels.y[r]);
	if (!yTrain.includes(1) || !yTrain.includes(0)) throw new NudgeError('INVALID_INPUT', 'The training rows hold only one outcome: add more rows of the rarer outcome');
	const spec = buildFeatureSpec(table, labels, { ...options, exclude }, trainSet);
	const forest = yield* growForest(encodeTable(table, spec, { rows: trainSet, asOf }), yTrain, options);
	// Calibration is fitted on out-of-bag predictions: each training row scored only by trees that never saw it.
	const oob = forest.oob!;
	const held = Array.from(oob.keys()).filter((i) => !Number.isNaN(oob[i]));
	const calibrator = (options.calibration === 'isotonic' ? fitIsotonic : fitPlatt)(held.map((i) => oob[i]), held.map((i) => yTrain[i]));
	delete forest.oob;
	const raw = predictForest(forest, encodeTable(table, spec, { rows: split.test, asOf }));
	const p = raw.map((v) => calibrate(calibrator, v));
	const tiers = options.tiers ?? DEFAULT_TIERS;
	const evaluation = evaluate(p, raw, Uint8Array.from(split.test, (r) => labels.y[r]), [tiers.hot / 100, tiers.warm / 100]);
	return {
		spec,
		forest,
		calibrator,
		evaluation,
		summary: {
			rows: table.rows.length,
			positives: labels.positives,
			trainRows: trainSet.length,
			calibrationRows: held.length,
			testRows: split.test.length,
			split: kind,
			trees: forest.trees.length,
			maxDepth: forest.options.maxDepth,
			trainedAt: isoTime(Date.now()),
			trainMs: Math.round(performance.now() - started),
		},
	};
}

/** Trains a model: spec built automatically, held-out evaluation, calibrated probabilities. */
export function trainModel(table: Table, options: TrainOptions): TrainedModel {
	return trainOnSplit(table, options);
}

/** k-fold cross-validation (stratified, seeded): one model per fold, each evaluated on its own fold. */
export function crossValidate(table: Table, options: TrainOptions, k = 5): Evaluation[] {
	const { y } = labelsOf(table, options);
	return stratifiedKFold(y, k, options.seed ?? 42).map((split) => trainOnSplit(table, options, { split, kind: 'stratified' }).evaluation);
}

export interface Factor {
	label: string;
	/** Score points (0–100 scale) this feature added (+) or took away (−). */
	contribution: number;
}

export interface ModelScore {
	/** 0–100. */
	value: number;
	probability: number;
	tier: 'hot' | 'warm' | 'cold';
	factors: Factor[];
}

/**
 * Scores one contact with its top positive and negative factors. Contributions are measured along the
 * trees' paths on the forest's raw probability, then scaled so that they add up to the calibrated
 * score minus the calibrated base rate.
 */
export function scoreRecord(model: TrainedModel, record: Record<string, unknown>, options: { tiers?: Tiers; top?: number; asOf?: Date } = {}): ModelScore {
	const { spec, forest, calibrator } = model;
	const row = encodeRecord(record, spec, options.asOf);
	const { probability: raw, contributions } = explainRow(forest, row);
	const probability = calibrate(calibrator, raw);
	const base = calibrate(calibrator, forest.bias);
	const scale = Math.abs(raw - forest.bias) > 1e-9 ? (probability - base) / (raw - forest.bias) : 1;
	const value = Math.round(probability * 1000) / 10;
	const tiers = options.tiers ?? DEFAULT_TIERS;
	const points = contributions.map((c) => c * scale * 100);
	return { value, probability, tier: tierOf(value, tiers), factors: topFactors(spec, record, points, 'the score', options.top) };
}

/**
 * The `top` largest positive and negative contributions (in points; under 0.05 is left out), in words:
 * `Lead Source = Google raises the score`.
 */
export function topFactors(spec: FeatureSpec, record: Record<string, unknown>, points: ArrayLike<number>, what: string, top = 3): Factor[] {
	const ranked = Array.from(points, (p, f) => ({ f, points: p })).filter((c) => Math.abs(c.points) >= 0.05);
	const pick = (sign: 1 | -1) =>
		ranked
			.filter((c) => Math.sign(c.points) === sign)
			.sort((a, b) => Math.abs(b.points) - Math.abs(a.points))
			.slice(0, top)
			.map(({ f, points }) => ({
				label: `${describeValue(spec.features[f], ownValue(record, spec.features[f].name), spec)} ${points > 0 ? 'raises' : 'lowers'} ${what}`,
				contribution: Math.round(points * 10) / 10,
			}));
	return [...pick(1), ...pick(-1)];
}

/** Calibrated probabilities for every row of a table (batch scoring). */
export function predictTable(model: TrainedModel, table: Table, asOf?: Date): Float64Array {
	return predictForest(model.forest, encodeTable(table, model.spec, { asOf })).map((p) => calibrate(model.calibrator, p));
}

// Serialisation: typed arrays travel as base64 so a 100-tree model stays a few hundred kB of JSON.
type TypedName = 'Int32Array' | 'Uint8Array' | 'Float32Array' | 'Float64Array';
const TYPED = { Int32Array, Uint8Array, Float32Array, Float64Array };
const b64 = (a: Int32Array | Uint8Array | Float32Array | Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
function fromB64(name: TypedName, s: string) {
	const buf = Buffer.from(s, 'base64');
	const copy = new Uint8Array(buf.byteLength);
	copy.set(buf);
	return new TYPED[name](copy.buffer);
}

export function serializeModel(model: TrainedModel): string {
	return JSON.stringify({
		format: 'nudge-model/1',
		spec: model.spec,
		calibrator: model.calibrator,
		evaluation: model.evaluation,
		summary: model.summary,
		forest: forestToJson(model.forest),
	});
}

/** A forest as plain JSON (typed arrays in base64). */
export function forestToJson(forest: Forest) {
	return {
		nFeatures: forest.nFeatures,
		bias: forest.bias,
		options: forest.options,
		edges: forest.edges.map(b64),
		trees: forest.trees.map((t) => [b64(t.feature), b64(t.threshold), b64(t.left), b64(t.right), b64(t.value)]),
	};
}

const broken = (why: string) => new NudgeError('INVALID_INPUT', `This is not a usable Nudge model: ${why}. Train the model again`);

/**
 * Reads a serialised model and checks it is whole: its feature spec must match its fingerprint, the
 * forest must read exactly the spec's features, and every part scoring uses must be there, so a stored
 * model never scores data encoded another way, never scores NaN and never fails while scoring.
 */
export function deserializeModel(json: string): TrainedModel {
	return readingModel(broken, () => {
		const { m, spec } = readModelJson(json, 'nudge-model/1', broken);
		const calibration = calibratorProblem(m.calibrator);
		if (calibration) throw broken(calibration);
		const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
		// The cold start reads these on every score.
		if (!finite(m.summary?.rows) || !finite(m.summary?.positives)) throw broken('its training summary (rows and successes) is missing');
		if (typeof m.evaluation !== 'object' || m.evaluation === null) throw broken('its evaluation is missing');
		return { spec, calibrator: m.calibrator, evaluation: m.evaluation, summary: m.summary, forest: forestFromJson(m.forest, spec) };
	});
}

/**
 * Runs `read` on a model file: a failure other than its own checks' (a value of the wrong type, base64
 * of a wrong length) is the usual "not a usable Nudge model" error too, naming what went wrong.
 */
export function readingModel<T>(broke: (why: string) => NudgeError, read: () => T): T {
	try {
		return read();
	} catch (error) {
		if (error instanceof NudgeError) throw error;
		throw broke(`it could not be read (${error instanceof Error ? error.message : String(error)})`);
	}
}

/** What each stored format is, to say so when a model of one kind is read as the other. */
const FORMATS: Record<string, string> = {
	'nudge-model/1': 'it is a propensity model (nudge train), not an uplift model',
	'nudge-uplift/1': 'it is an uplift model (nudge uplift train), not a propensity model',
};

/** Parses a stored model, checks it is of `format` and that its feature spec matches its fingerprint. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function readModelJson(json: string, format: string, broke: (why: string) => NudgeError): { m: Record<string, any>; spec: FeatureSpec } {
	let m;
	try {
		m = JSON.parse(json);
	} catch {
		throw broke('the file is not JSON');
	}
	if (m?.format !== format) throw broke(FORMATS[m?.format] ?? `unknown format "${m?.format}"`);
	const spec = m.spec as FeatureSpec;
	if (!Array.isArray(spec?.features) || fingerprintOf(spec.features) !== spec.fingerprint) throw broke('its feature spec does not match its fingerprint (the file was edited or mixed from two models)');
	// The fingerprint proves the features unchanged, not well formed (it can be recomputed), and leaves the rest out.
	const problem = specProblem(spec);
	if (problem) throw broke(problem);
	return { m, spec };
}

/**
 * Reads a forest written by `forestToJson` (propensity and uplift models alike), checking it reads exactly
 * the spec's features and that every tree can be walked to a leaf.
 */
export function forestFromJson(f: ReturnType<typeof forestToJson>, spec: FeatureSpec, broke = broken): Forest {
	const nFeatures = spec.features.length;
	if (f?.nFeatures !== nFeatures || !Array.isArray(f.edges) || f.edges.length !== nFeatures) {
		throw broke(`its forest reads ${f?.nFeatures} features but its feature spec has ${nFeatures} (a forest from a different feature spec)`);
	}
	if (!Array.isArray(f.trees) || !f.trees.length) throw broke('its forest has no trees');
	if (typeof f.bias !== 'number' || !Number.isFinite(f.bias)) throw broke("its forest's base rate is not a number");
	const edges = readingModel(broke, () => f.edges.map((e: string) => fromB64('Float64Array', e) as Float64Array));
	if (edges.some((e) => e.some((v) => !Number.isFinite(v)))) throw broke('its value ranges are not numbers');
	const trees = f.trees.map((t: unknown, i: number) => {
		const tree = readingModel(broke, () => treeFromJson(t, broke));
		const problem = treeProblem(tree, nFeatures);
		if (problem) throw broke(`tree ${i + 1} ${problem}`);
		return tree;
	});
	return { nFeatures, bias: f.bias, options: f.options, edges, trees };
}

function treeFromJson(t: unknown, broke: (why: string) => NudgeError): Tree {
	if (!Array.isArray(t) || t.length !== 5 || !t.every((a) => typeof a === 'string')) throw broke('a tree is not five arrays in base64');
	return {
		feature: fromB64('Int32Array', t[0]) as Int32Array,
		threshold: fromB64('Uint8Array', t[1]) as Uint8Array,
		left: fromB64('Int32Array', t[2]) as Int32Array,
		right: fromB64('Int32Array', t[3]) as Int32Array,
		value: fromB64('Float32Array', t[4]) as Float32Array,
	};
}

/**
 * What makes a tree unusable, or undefined. A branch must lead to a later node (the trainer adds children
 * after their parent): a node pointing back up or at itself would loop for ever on every score.
 */
function treeProblem(t: Tree, nFeatures: number): string | undefined {
	const n = t.value.length;
	if (!n || [t.feature, t.threshold, t.left, t.right].some((a) => a.length !== n)) return 'has no nodes or arrays of different lengths';
	for (let i = 0; i < n; i++) {
		if (!Number.isFinite(t.value[i])) return 'has a node value that is not a number';
		const f = t.feature[i];
		if (f === -1) continue;
		if (f < 0 || f >= nFeatures) return 'splits on a feature its spec does not have';
		if (!(t.left[i] > i && t.left[i] < n && t.right[i] > i && t.right[i] < n)) return 'has a branch that does not lead down the tree (it would never reach a leaf)';
	}
	return undefined;
}
