import { HOLDOUT_BUCKETS, holdoutBucket } from '../../decide/holdout';
import { NudgeError } from '../../errors';
import { calibratorProblem, stratifiedSplit } from '../evaluate';
import { FeatureOptions, FeatureSpec, Placeholders, DEFAULT_PLACEHOLDERS, buildFeatureSpec, encodeRecord, encodeTable, labelsOf } from '../features';
import { ForestOptions, Steps, drain, drainAsync } from '../forest';
import { Factor, forestFromJson, forestToJson, readModelJson, readingModel, topFactors } from '../model';
import type { Table } from '../table';
import { Fitted, LEARNERS, Learner, LearnerKind, explainUplift, fitLearner, predictUplift } from './learners';
import { UpliftEvaluation, evaluateUplift, qiniCoefficient } from './metrics';
import { isoTime } from '../../util/isoTime';

/**
 * An uplift model: trained on rows with a treatment column (messaged 1, held out 0, assigned at random)
 * and an outcome column; both learners are fitted, the one with the higher out-of-bag Qini is kept, and it
 * is evaluated on held-out rows it never saw (metrics.ts). When it does not beat random there, the model
 * is kept for the record but `fallback` is set: the engine then gives every contact the average effect.
 */
export const MIN_UPLIFT_ROWS = { perArm: 200, conversionsPerArm: 10 };

export interface UpliftOptions extends Pick<FeatureOptions, 'exclude' | 'placeholders' | 'minCategoryCount' | 'positive'>, ForestOptions {
	treatment: string;
	outcome: string;
	/** Share of rows held out for evaluation (default 0.3: uplift is a small difference and needs rows). */
	testFraction?: number;
	/** Force a learner instead of choosing by out-of-bag Qini. */
	learner?: LearnerKind;
	/** Bootstrap replicates for the intervals (default 200). */
	replicates?: number;
}

export interface UpliftSummary {
	rows: number;
	treated: number;
	control: number;
	trainRows: number;
	testRows: number;
	learner: LearnerKind;
	/** Out-of-bag Qini of each learner tried: why this one was chosen. */
	selection: { learner: LearnerKind; oobQini: number }[];
	trees: number;
	trainedAt: string;
	trainMs: number;
}

export interface UpliftModel {
	spec: FeatureSpec;
	treatment: string;
	learner: Learner;
	evaluation: UpliftEvaluation;
	summary: UpliftSummary;
	/** The model does not beat random on held-out rows: score every contact with `averageEffect`. */
	fallback: boolean;
	/** Conversion rate treated − control over all rows. */
	averageEffect: number;
	/** Predicted uplift at each percentile of the held-out rows, high to low: `cutoffs[k-1]` admits the top k%. */
	cutoffs: number[];
	/**
	 * For each cut-off, the share of held-out rows predicted above it and the share predicted at it: a forest with few
	 * distinct predictions ties many contacts at a cut-off, and the gate admits only as many of them as keep the top
	 * share (admitTop). Models trained before it was recorded lack it and admit every tie.
	 */
	cutoffShares?: { above: number[]; at: number[] };
}

const TREATED = new Set(['1', 'true', 'yes', 'y', 'treated', 'treatment']);
const CONTROL = new Set(['0', 'false', 'no', 'n', 'control', 'holdout']);

/** The treatment column as 1/0; anything else is an error naming the row and the value. */
export function treatmentOf(table: Table, column: string, placeholders: string[] = []): Uint8Array {
	const c = table.columns.indexOf(column);
	if (c < 0) throw new NudgeError('INVALID_INPUT', `The data has no treatment column "${column}"; its columns are: ${table.columns.slice(0, 12).join(', ')}`);
	const ph = new Placeholders([...DEFAULT_PLACEHOLDERS, ...placeholders]);
	return Uint8Array.from(table.rows, (row, i) => {
		const v = ph.text(row[c])?.toLowerCase();
		if (v !== undefined && TREATED.has(v)) return 1;
		if (v !== undefined && CONTROL.has(v)) return 0;
		throw new NudgeError('INVALID_INPUT', `Row ${i + 1} of the treatment column "${column}" is "${row[c] ?? ''}": it must say whether the contact was messaged (1/0, true/false, yes/no, treated/control)`);
	});
}

/**
 * Both arms need enough rows and conversions, or no difference between them can be learned (`learn`) or
 * measured (`judge`, nudge uplift evaluate): without held-out rows any score that predicts conversion
 * would look like uplift.
 */
export function checkArms(t: Uint8Array, y: Uint8Array, treatment: string, purpose: 'learn' | 'judge' = 'learn'): void {
	const n = [0, 0];
	const conv = [0, 0];
	for (let r = 0; r < t.length; r++) [n[t[r]], conv[t[r]]] = [n[t[r]] + 1, conv[t[r]] + y[r]];
	const names = ['held-out (control)', 'treated'];
	for (const a of [1, 0]) {
		if (n[a] === 0) throw new NudgeError('INVALID_INPUT', `No row of "${treatment}" is ${a ? 'treated' : 'held out (control)'}: uplift compares messaged contacts with held-out ones, so both arms are needed (keep a holdout on the journey)`);
		if (n[a] < MIN_UPLIFT_ROWS.perArm || conv[a] < MIN_UPLIFT_ROWS.conversionsPerArm) {
			throw new NudgeError(
				'INVALID_INPUT',
				`Too few rows to ${purpose} uplift: the ${names[a]} arm has ${n[a]} rows with ${conv[a]} conversions; each arm needs at least ${MIN_UPLIFT_ROWS.perArm} rows and ${MIN_UPLIFT_ROWS.conversionsPerArm} conversions`,
			);
		}
	}
}

/** Held-out rows stratified by arm and outcome, so both keep their shares. */
function splitByArm(t: Uint8Array, y: Uint8Array, fraction: number, seed: number): { train: Uint32Array; test: Uint32Array } {
	const parts = [0, 1].map((a) => stratifiedSplit(y, fraction, seed + a, Array.from({ length: t.length }, (_, r) => r).filter((r) => t[r] === a)));
	const join = (k: 'train' | 'test') => Uint32Array.from([...parts[0][k], ...parts[1][k]]).sort();
	return { train: join('train'), test: join('test') };
}

export const UPLIFT_FOREST: ForestOptions = { trees: 30, maxDepth: 7, minLeaf: 50, bins: 32 };

export function trainUplift(table: Table, options: UpliftOptions): UpliftModel {
	return drain(upliftSteps(table, options));
}

export function trainUpliftAsync(table: Table, options: UpliftOptions): Promise<UpliftModel> {
	return drainAsync(upliftSteps(table, options));
}

function* upliftSteps(table: Table, options: UpliftOptions): Steps<UpliftModel> {
	const started = performance.now();
	if (options.treatment === options.outcome) throw new NudgeError('INVALID_INPUT', `The treatment and the outcome are the same column ("${options.treatment}")`);
	const t = treatmentOf(table, options.treatment, options.placeholders);
	const labels = labelsOf(table, { target: options.outcome, positive: options.positive, placeholders: options.placeholders });
	const y = labels.y;
	checkArms(t, y, options.treatment);
	const seed = options.seed ?? 42;
	const split = splitByArm(t, y, options.testFraction ?? 0.3, seed + 1);
	const spec = buildFeatureSpec(table, labels, { target: options.outcome, exclude: [...(options.exclude ?? []), options.treatment], placeholders: options.placeholders, minCategoryCount: options.minCategoryCount }, split.train);
	const forestOptions = { ...UPLIFT_FOREST, ...stripUndefined(options), seed };
	const train = encodeTable(table, spec, { rows: split.train });
	const tTrain = Uint8Array.from(split.train, (r) => t[r]);
	const yTrain = Uint8Array.from(split.train, (r) => y[r]);
	const selection: UpliftSummary['selection'] = [];
	let best: Fitted | undefined;
	let bestQini = -Infinity;
	for (const kind of options.learner ? [options.learner] : LEARNERS) {
		const fitted = yield* fitLearner(kind, train, tTrain, yTrain, forestOptions);
		const oobQini = qiniCoefficient(fitted.oob, tTrain, yTrain);
		selection.push({ learner: kind, oobQini });
		if (oobQini > bestQini) [best, bestQini] = [fitted, oobQini];
	}
	const learner = best!.learner;
	const test = encodeTable(table, spec, { rows: split.test });
	const score = predictUplift(learner, test);
	const tTest = Uint8Array.from(split.test, (r) => t[r]);
	const evaluation = evaluateUplift(score, tTest, Uint8Array.from(split.test, (r) => y[r]), { replicates: options.replicates, seed: seed + 2 });
	const sorted = Float64Array.from(score).sort().reverse();
	const cutoffs = Array.from({ length: 100 }, (_, k) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(((k + 1) / 100) * sorted.length) - 1))]);
	const share = (keep: (v: number, cut: number) => boolean) => cutoffs.map((cut) => sorted.reduce((n, v) => n + (keep(v, cut) ? 1 : 0), 0) / sorted.length);
	const cutoffShares = { above: share((v, cut) => v > cut), at: share((v, cut) => v === cut) };
	// The fallback's average effect over all rows: the held-out rows are kept from the learner to judge its ranking,
	// an average ranks nothing, and with the arms assigned at random all rows give an unbiased, more precise figure.
	let treated = 0;
	let conv1 = 0;
	let conv0 = 0;
	for (let r = 0; r < t.length; r++) [treated, conv1, conv0] = [treated + t[r], conv1 + t[r] * y[r], conv0 + (1 - t[r]) * y[r]];
	return {
		spec,
		treatment: options.treatment,
		learner,
		evaluation,
		fallback: !evaluation.beatsRandom,
		averageEffect: conv1 / treated - conv0 / (t.length - treated),
		cutoffs,
		cutoffShares,
		summary: {
			rows: t.length,
			treated,
			control: t.length - treated,
			trainRows: split.train.length,
			testRows: split.test.length,
			learner: learner.kind,
			selection,
			trees: forestOptions.trees!,
			trainedAt: isoTime(Date.now()),
			trainMs: Math.round(performance.now() - started),
		},
	};
}

const FOREST_KEYS = ['trees', 'maxDepth', 'minLeaf', 'maxFeatures', 'bins'] as const;
function stripUndefined(options: ForestOptions): ForestOptions {
	return Object.fromEntries(FOREST_KEYS.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
}

/** Predicted uplift of every row of a table (batch scoring); the average effect for a fallback model. */
export function predictUpliftTable(model: UpliftModel, table: Table): Float64Array {
	if (model.fallback) return new Float64Array(table.rows.length).fill(model.averageEffect);
	return predictUplift(model.learner, encodeTable(table, model.spec));
}

export interface UpliftScore {
	/** Predicted P(convert | messaged) − P(convert | not), e.g. 0.04 = +4 percentage points. */
	uplift: number;
	/** The model does not beat random: this is the average effect, the same for everyone. */
	fallback: boolean;
	/** Percentage-point contributions in words (none for the fallback). */
	factors: Factor[];
}

export function scoreUplift(model: UpliftModel, record: Record<string, unknown>, top = 3): UpliftScore {
	if (model.fallback) return { uplift: model.averageEffect, fallback: true, factors: [] };
	const e = explainUplift(model.learner, encodeRecord(record, model.spec));
	return { uplift: e.uplift, fallback: false, factors: topFactors(model.spec, record, e.contributions.map((c) => c * 100), 'the uplift', top) };
}

const cutoffIndex = (percent: number) => Math.min(99, Math.max(0, Math.round(percent) - 1));

/** The predicted uplift that admits the top `percent`% (1–100) of contacts, as seen on held-out rows. */
export function cutoffFor(model: UpliftModel, percent: number): number {
	return model.cutoffs[cutoffIndex(percent)];
}

export interface TopAdmission {
	threshold: number;
	admitted: boolean;
	/** The contact is predicted exactly the cut-off: the share of held-out rows there, and the share of them admitted. */
	tie?: { at: number; admitted: number };
}

/**
 * Whether a predicted uplift is among the top `percent`%. Above the cut-off it is, below it is not; at it (a tie) it is
 * with the probability that keeps the share the model saw on held-out rows, decided by a stable hash of the contact's
 * key (the same contact gets the same answer every time). A model without tie shares admits every tie.
 */
export function admitTop(model: UpliftModel, percent: number, uplift: number, key: string, scope: string): TopAdmission {
	// The top 100% is everyone, also a contact predicted below every held-out row.
	if (percent >= 100) return { threshold: -1, admitted: true };
	const k = cutoffIndex(percent);
	const threshold = model.cutoffs[k];
	const at = model.cutoffShares?.at[k] ?? 0;
	// Predictions are recomputed per contact: the same trees give the same sum, the margin only absorbs rounding.
	if (Math.abs(uplift - threshold) > 1e-12 || !(at > 0)) return { threshold, admitted: uplift >= threshold };
	// The gate's own share (a fractional topPercent too), not the rounded cut-off's.
	const admitted = Math.min(1, Math.max(0, (percent / 100 - model.cutoffShares!.above[k]) / at));
	return { threshold, admitted: holdoutBucket(key, 'uplift-tie', scope) < Math.round(admitted * HOLDOUT_BUCKETS), tie: { at, admitted } };
}

export const UPLIFT_FORMAT = 'nudge-uplift/1';

export function serializeUplift(model: UpliftModel): string {
	const { learner } = model;
	const forests =
		learner.kind === 't-learner'
			? { kind: learner.kind, control: forestToJson(learner.control), treated: forestToJson(learner.treated), calibrators: learner.calibrators }
			: { kind: learner.kind, forest: forestToJson(learner.forest), low: learner.low, high: learner.high };
	return JSON.stringify({ format: UPLIFT_FORMAT, ...model, learner: forests });
}

const broken = (why: string) => new NudgeError('INVALID_INPUT', `This is not a usable Nudge uplift model: ${why}. Train it again with nudge uplift train`);

export function deserializeUplift(json: string): UpliftModel {
	return readingModel(broken, () => {
		const { m, spec } = readModelJson(json, UPLIFT_FORMAT, broken);
		const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
		if (!Array.isArray(m.cutoffs) || m.cutoffs.length !== 100 || !m.cutoffs.every(finite) || !finite(m.averageEffect) || typeof m.fallback !== 'boolean') {
			throw broken('its cut-offs, average effect or fallback flag are missing or not numbers');
		}
		if (typeof m.evaluation?.verdict !== 'string' || !Array.isArray(m.evaluation?.curve) || typeof m.evaluation.beatsRandom !== 'boolean' || !finite(m.evaluation.qini?.low)) throw broken('its evaluation is missing');
		// An uplift is a difference of two conversion rates: beyond ±1 (±100 pp) a gate would admit everyone or no one. An
		// average effect is one; a cut-off of a transformed-outcome model stored before predictions were kept within ±1 can
		// lie beyond, and is read as its prediction is now (clamped), not refused: the gate would stop gating.
		if (!(m.averageEffect >= -1 && m.averageEffect <= 1)) throw broken('its average effect lies beyond ±100 percentage points, which no difference of two conversion rates can');
		m.cutoffs = m.cutoffs.map((c: number) => Math.min(1, Math.max(-1, c)));
		if (m.cutoffs.some((c: number, k: number) => k > 0 && c > m.cutoffs[k - 1])) throw broken('its cut-offs are not ordered from the highest predicted uplift to the lowest');
		const shares = (v: unknown) => Array.isArray(v) && v.length === 100 && v.every((x) => finite(x) && x >= 0 && x <= 1);
		if (m.cutoffShares !== undefined && !(shares(m.cutoffShares?.above) && shares(m.cutoffShares?.at))) throw broken('its shares at the cut-offs are not 100 shares between 0 and 1');
		// The gate ranks contacts only by a model that beat random on its held-out rows (docs/uplift.md §4): the flag must agree.
		const beats = m.evaluation.beatsRandom && m.evaluation.qini.low > 0;
		if (m.fallback === beats || m.evaluation.beatsRandom !== beats) throw broken(`its fallback flag (${m.fallback}) contradicts its own evaluation (Qini 95% interval from ${m.evaluation.qini.low}): the file was edited`);
		const l = m.learner;
		let learner: Learner;
		const calibration = l?.kind === 't-learner' && (calibratorProblem(l.calibrators?.control) ?? calibratorProblem(l.calibrators?.treated));
		if (calibration) throw broken(calibration);
		if (l?.kind === 'transformed-outcome' && !(finite(l.low) && finite(l.high) && l.high > l.low)) throw broken('its outcome range is missing');
		if (l?.kind === 't-learner') learner = { kind: l.kind, control: forestFromJson(l.control, spec, broken), treated: forestFromJson(l.treated, spec, broken), calibrators: l.calibrators };
		else if (l?.kind === 'transformed-outcome') learner = { kind: l.kind, forest: forestFromJson(l.forest, spec, broken), low: l.low, high: l.high };
		else throw broken(`unknown learner "${l?.kind}"`);
		delete m.format;
		return { ...(m as UpliftModel), learner };
	});
}
