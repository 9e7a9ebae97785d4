import { Calibrator, calibrate, fitPlatt } from '../evaluate';
import type { Encoded } from '../features';
import { Forest, ForestOptions, Steps, explainRow, growForest, predictForest } from '../forest';

/**
 * Two uplift learners on the project's forest (forest.ts):
 *
 * - `t-learner` (two models): one forest per arm learns P(convert | features) from that arm's rows, each
 *   Platt-calibrated on its out-of-bag predictions; the uplift is the difference of the two.
 * - `transformed-outcome` (class transformation, Athey & Imbens 2015): Z = y·(t/e − (1−t)/(1−e)), with e
 *   the treated share, has E[Z | x] = uplift(x) when the arm is random, so one forest fitted to Z
 *   predicts the uplift directly. The forest's split score is the Gini gain, which for any target equals
 *   the variance reduction up to constants, so it regresses Z once Z is mapped onto [0, 1].
 *
 * Both give an out-of-bag uplift for every training row (scored only by trees, or the other arm's model,
 * that never saw it): the learner is chosen on that, and the held-out rows stay untouched for evaluation.
 */
export type LearnerKind = 't-learner' | 'transformed-outcome';
export const LEARNERS: LearnerKind[] = ['t-learner', 'transformed-outcome'];

export type Learner =
	| { kind: 't-learner'; control: Forest; treated: Forest; calibrators: { control: Calibrator; treated: Calibrator } }
	/** Z is stored as (Z − low) / (high − low). */
	| { kind: 'transformed-outcome'; forest: Forest; low: number; high: number };

export interface Fitted {
	learner: Learner;
	/** Out-of-bag uplift of each training row. */
	oob: Float64Array;
}

/** Rows of `data` picked by index. */
function subset(data: Encoded, rows: number[]): Encoded {
	return { nRows: rows.length, columns: data.columns.map((c) => Float64Array.from(rows, (r) => c[r])) };
}

function oobCalibrated(forest: Forest, y: ArrayLike<number>): Calibrator {
	const oob = forest.oob!;
	const held = Array.from(oob.keys()).filter((i) => !Number.isNaN(oob[i]));
	return fitPlatt(held.map((i) => oob[i]), held.map((i) => y[i]));
}

export function* fitLearner(kind: LearnerKind, data: Encoded, t: Uint8Array, y: Uint8Array, options: ForestOptions): Steps<Fitted> {
	const n = data.nRows;
	const oob = new Float64Array(n);
	if (kind === 't-learner') {
		const arms = [0, 1].map((a) => Array.from({ length: n }, (_, r) => r).filter((r) => t[r] === a));
		const fits: Forest[] = [];
		for (const rows of arms) fits.push(yield* growForest(subset(data, rows), Uint8Array.from(rows, (r) => y[r]), options));
		const [control, treated] = fits;
		const calibrators = { control: oobCalibrated(control, arms[0].map((r) => y[r])), treated: oobCalibrated(treated, arms[1].map((r) => y[r])) };
		// Each row: its own arm's out-of-bag probability, the other arm's model (which never saw it) as is.
		const other = [predictForest(treated, subset(data, arms[0])), predictForest(control, subset(data, arms[1]))];
		arms[0].forEach((r, i) => (oob[r] = calibrate(calibrators.treated, other[0][i]) - calibrate(calibrators.control, oobOr(control, i))));
		arms[1].forEach((r, i) => (oob[r] = calibrate(calibrators.treated, oobOr(treated, i)) - calibrate(calibrators.control, other[1][i])));
		delete control.oob;
		delete treated.oob;
		return { learner: { kind, control, treated, calibrators }, oob };
	}
	let treatedRows = 0;
	for (let r = 0; r < n; r++) treatedRows += t[r];
	const e = treatedRows / n;
	const [low, high] = [-1 / (1 - e), 1 / e];
	const z = Float64Array.from({ length: n }, (_, r) => ((y[r] ? (t[r] ? 1 / e : -1 / (1 - e)) : 0) - low) / (high - low));
	const forest = yield* growForest(data, z, options);
	for (let r = 0; r < n; r++) oob[r] = low + (high - low) * oobOr(forest, r);
	delete forest.oob;
	return { learner: { kind, forest, low, high }, oob };
}

/**
 * A transformed outcome ranges over ±1/e: a leaf of few rows can average beyond ±1, which no difference of two
 * rates can be, so a prediction is kept within ±1 (its factors still add up to the unclamped value).
 */
const toRate = (v: number) => Math.min(1, Math.max(-1, v));

/** A row's out-of-bag prediction, or the forest's base value when every tree saw it. */
function oobOr(forest: Forest, i: number): number {
	const v = forest.oob![i];
	return Number.isNaN(v) ? forest.bias : v;
}

export function predictUplift(learner: Learner, data: Encoded): Float64Array {
	if (learner.kind === 't-learner') {
		const p1 = predictForest(learner.treated, data);
		const p0 = predictForest(learner.control, data);
		return p1.map((p, r) => calibrate(learner.calibrators.treated, p) - calibrate(learner.calibrators.control, p0[r]));
	}
	const { low, high } = learner;
	return predictForest(learner.forest, data).map((v) => toRate(low + (high - low) * v));
}

/** One row's uplift and each feature's share of it (in probability units; they sum to uplift − base). */
export function explainUplift(learner: Learner, row: Float64Array): { uplift: number; base: number; contributions: Float64Array } {
	if (learner.kind === 't-learner') {
		// Each arm's path contributions, scaled like model.ts scoreRecord so they add up to the calibrated gap.
		const arm = (forest: Forest, c: Calibrator) => {
			const { probability: raw, contributions } = explainRow(forest, row);
			const p = calibrate(c, raw);
			const base = calibrate(c, forest.bias);
			const scale = Math.abs(raw - forest.bias) > 1e-9 ? (p - base) / (raw - forest.bias) : 1;
			return { p, base, contributions: contributions.map((v) => v * scale) };
		};
		const t = arm(learner.treated, learner.calibrators.treated);
		const c = arm(learner.control, learner.calibrators.control);
		return { uplift: t.p - c.p, base: t.base - c.base, contributions: t.contributions.map((v, f) => v - c.contributions[f]) };
	}
	const { low, high } = learner;
	const { probability, contributions } = explainRow(learner.forest, row);
	return { uplift: toRate(low + (high - low) * probability), base: low + (high - low) * learner.forest.bias, contributions: contributions.map((v) => v * (high - low)) };
}
