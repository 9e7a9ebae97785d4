import { rng } from './forest';

/** Area under the ROC curve: the chance a random positive is scored above a random negative (ties ½). */
export function auc(p: ArrayLike<number>, y: ArrayLike<number>): number {
	const order = Array.from({ length: p.length }, (_, i) => i).sort((a, b) => p[a] - p[b]);
	let rankSumPos = 0;
	let pos = 0;
	for (let i = 0; i < order.length; ) {
		let j = i;
		while (j + 1 < order.length && p[order[j + 1]] === p[order[i]]) j++;
		const rank = (i + j) / 2 + 1;
		for (let k = i; k <= j; k++) if (y[order[k]]) [rankSumPos, pos] = [rankSumPos + rank, pos + 1];
		i = j + 1;
	}
	const neg = order.length - pos;
	return pos && neg ? (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg) : NaN;
}

export function logLoss(p: ArrayLike<number>, y: ArrayLike<number>): number {
	let s = 0;
	for (let i = 0; i < p.length; i++) {
		const q = Math.min(1 - 1e-6, Math.max(1e-6, p[i]));
		s -= y[i] ? Math.log(q) : Math.log(1 - q);
	}
	return s / p.length;
}

/** Mean squared error of the probabilities: 0 is perfect, 0.25 is a coin toss. */
export function brier(p: ArrayLike<number>, y: ArrayLike<number>): number {
	let s = 0;
	for (let i = 0; i < p.length; i++) s += (p[i] - y[i]) ** 2;
	return s / p.length;
}

export interface CalibrationBin {
	/** Predicted probability range [from, to). */
	from: number;
	to: number;
	count: number;
	meanPredicted: number;
	observedRate: number;
}

/** Rows grouped by predicted probability (tenths): a trustworthy score's observed rate tracks its prediction. */
export function calibrationTable(p: ArrayLike<number>, y: ArrayLike<number>, bins = 10): CalibrationBin[] {
	const out: CalibrationBin[] = Array.from({ length: bins }, (_, b) => ({ from: b / bins, to: (b + 1) / bins, count: 0, meanPredicted: 0, observedRate: 0 }));
	for (let i = 0; i < p.length; i++) {
		const b = out[Math.min(bins - 1, Math.floor(p[i] * bins))];
		b.count++;
		b.meanPredicted += p[i];
		b.observedRate += y[i];
	}
	return out
		.filter((b) => b.count)
		.map((b) => ({ ...b, meanPredicted: b.meanPredicted / b.count, observedRate: b.observedRate / b.count }));
}

export interface Confusion {
	/** Probability cut-off: at or above counts as predicted positive. */
	cutoff: number;
	tp: number;
	fp: number;
	tn: number;
	fn: number;
	precision: number;
	recall: number;
}

export function confusionAt(p: ArrayLike<number>, y: ArrayLike<number>, cutoff: number): Confusion {
	let tp = 0;
	let fp = 0;
	let tn = 0;
	let fn = 0;
	for (let i = 0; i < p.length; i++) {
		const predicted = p[i] >= cutoff;
		if (predicted && y[i]) tp++;
		else if (predicted) fp++;
		else if (y[i]) fn++;
		else tn++;
	}
	return { cutoff, tp, fp, tn, fn, precision: tp + fp ? tp / (tp + fp) : 0, recall: tp + fn ? tp / (tp + fn) : 0 };
}

export interface Evaluation {
	rows: number;
	positives: number;
	auc: number;
	logLoss: number;
	brier: number;
	/** The same metrics of the forest before calibration, to show what calibration changed. */
	uncalibrated: { logLoss: number; brier: number };
	calibration: CalibrationBin[];
	/** At the hot and warm tier cut-offs. */
	confusion: Confusion[];
}

export function evaluate(p: ArrayLike<number>, raw: ArrayLike<number>, y: ArrayLike<number>, cutoffs: number[]): Evaluation {
	let positives = 0;
	for (let i = 0; i < y.length; i++) positives += y[i];
	return {
		rows: y.length,
		positives,
		auc: auc(p, y),
		logLoss: logLoss(p, y),
		brier: brier(p, y),
		uncalibrated: { logLoss: logLoss(raw, y), brier: brier(raw, y) },
		calibration: calibrationTable(p, y),
		confusion: cutoffs.map((c) => confusionAt(p, y, c)),
	};
}

function shuffled(indices: number[], random: () => number): number[] {
	for (let i = indices.length - 1; i > 0; i--) {
		const j = Math.floor(random() * (i + 1));
		[indices[i], indices[j]] = [indices[j], indices[i]];
	}
	return indices;
}

/** Row indices of each class, shuffled with the seed. */
function byClass(y: ArrayLike<number>, rows: ArrayLike<number>, seed: number): number[][] {
	const random = rng(seed);
	const classes: number[][] = [[], []];
	for (let i = 0; i < rows.length; i++) classes[y[rows[i]] ? 1 : 0].push(rows[i]);
	return classes.map((c) => shuffled(c, random));
}

export interface Split {
	train: Uint32Array;
	test: Uint32Array;
}

const sortedRows = (rows: number[]) => Uint32Array.from(rows).sort();

/** A random split keeping each class's share: `fraction` of each class goes to test. */
export function stratifiedSplit(y: ArrayLike<number>, fraction: number, seed: number, rows: ArrayLike<number> = Array.from({ length: y.length }, (_, i) => i)): Split {
	const train: number[] = [];
	const test: number[] = [];
	for (const c of byClass(y, rows, seed)) {
		const k = Math.round(c.length * fraction);
		// A loop, not push(...rows): spreading a class of hundreds of thousands of rows overflows the call stack.
		for (let i = 0; i < c.length; i++) (i < k ? test : train).push(c[i]);
	}
	return { train: sortedRows(train), test: sortedRows(test) };
}

/** The latest `fraction` of rows (by time) are the test set: the model is judged on the future. */
export function timeSplit(times: ArrayLike<number>, fraction: number): Split {
	const order = Array.from({ length: times.length }, (_, i) => i).sort((a, b) => times[a] - times[b]);
	const k = order.length - Math.round(order.length * fraction);
	return { train: sortedRows(order.slice(0, k)), test: sortedRows(order.slice(k)) };
}

/** Stratified k-fold: each row is in exactly one test fold, each fold with the same class shares. */
export function stratifiedKFold(y: ArrayLike<number>, k: number, seed: number): Split[] {
	const folds: number[][] = Array.from({ length: k }, () => []);
	for (const c of byClass(y, Array.from({ length: y.length }, (_, i) => i), seed)) c.forEach((r, i) => folds[i % k].push(r));
	return folds.map((test, f) => ({ test: sortedRows(test), train: sortedRows(folds.flatMap((fold, g) => (g === f ? [] : fold))) }));
}

/**
 * Isotonic calibration (pool-adjacent-violators), fitted on rows the forest did not train on. Stored as
 * block centres; a probability between two centres is interpolated, beyond them clamped.
 */
export type Calibrator = { kind: 'isotonic'; x: number[]; y: number[] } | { kind: 'platt'; a: number; b: number };

const finiteNumbers = (v: unknown): v is number[] => Array.isArray(v) && v.every((n) => typeof n === 'number' && Number.isFinite(n));

/**
 * Why a calibrator read from a file is not one `calibrate` can use, or undefined when it is: anything else would
 * score NaN, throw, or (isotonic values beyond 0..1, or inputs out of order for its binary search) score outside 0..100.
 */
export function calibratorProblem(c: unknown): string | undefined {
	const k = c as Record<string, unknown> | null | undefined;
	if (k?.kind === 'platt') return finiteNumbers([k.a, k.b]) ? undefined : 'its calibration is missing or not numbers';
	const { x, y } = k ?? {};
	if (!(k?.kind === 'isotonic' && finiteNumbers(x) && finiteNumbers(y) && x.length > 0 && x.length === y.length)) return 'its calibration is missing or not numbers';
	const inUnit = (v: number[]) => v.every((n) => n >= 0 && n <= 1);
	if (!inUnit(x) || !inUnit(y)) return 'its calibration maps to or from values outside 0..1, which are not probabilities';
	if (x.some((v, i) => i > 0 && v < x[i - 1])) return 'its calibration inputs are not in increasing order';
	return undefined;
}

const logit = (p: number) => {
	const q = Math.min(1 - 1e-4, Math.max(1e-4, p));
	return Math.log(q / (1 - q));
};
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/**
 * Platt scaling on the logit of the forest's probability: p' = σ(a·logit(p) + b), fitted by Newton's
 * method on held-out rows, with Platt's smoothed targets so a few rows cannot push it to 0 or 1.
 * Two parameters cannot over-fit a few thousand rows, and they undo the forest's typical pull of
 * probabilities towards the middle.
 */
export function fitPlatt(p: ArrayLike<number>, y: ArrayLike<number>): Calibrator {
	let pos = 0;
	for (let i = 0; i < y.length; i++) pos += y[i];
	const neg = y.length - pos;
	const hi = (pos + 1) / (pos + 2);
	const lo = 1 / (neg + 2);
	const z = Array.from(p, logit);
	const t = Array.from(y, (v) => (v ? hi : lo));
	// Cross-entropy against the smoothed targets: softplus(−s) + (1 − t)·s, computed without overflow.
	const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
	const loss = (a: number, b: number) => {
		let f = 0;
		for (let i = 0; i < z.length; i++) {
			const s = a * z[i] + b;
			f += softplus(-s) + (1 - t[i]) * s;
		}
		return f;
	};
	let a = 1;
	let b = 0;
	let current = loss(a, b);
	for (let iter = 0; iter < 100; iter++) {
		let ga = 0, gb = 0, haa = 1e-9, hab = 0, hbb = 1e-9; // prettier-ignore
		for (let i = 0; i < z.length; i++) {
			const q = sigmoid(a * z[i] + b);
			const d = q - t[i];
			const w = q * (1 - q);
			ga += d * z[i];
			gb += d;
			haa += w * z[i] * z[i];
			hab += w * z[i];
			hbb += w;
		}
		if (Math.abs(ga) + Math.abs(gb) < 1e-7 * z.length) break;
		const det = haa * hbb - hab * hab;
		// Newton's direction, with a backtracking line search so a step never increases the loss.
		const [da, db] = det > 1e-12 ? [(hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det] : [ga / haa, gb / hbb];
		let step = 1;
		while (step > 1e-8) {
			const next = loss(a - step * da, b - step * db);
			if (next <= current - 1e-4 * step * (ga * da + gb * db)) {
				[a, b, current] = [a - step * da, b - step * db, next];
				break;
			}
			step /= 2;
		}
		if (step <= 1e-8) break;
	}
	// Calibration may stretch probabilities but never reverse the forest's ranking.
	return { kind: 'platt', a: Math.max(a, 0), b };
}

export function fitIsotonic(p: ArrayLike<number>, y: ArrayLike<number>): Calibrator {
	const order = Array.from({ length: p.length }, (_, i) => i).sort((a, b) => p[a] - p[b]);
	const blocks: { sumP: number; sumY: number; n: number }[] = [];
	for (const i of order) {
		blocks.push({ sumP: p[i], sumY: y[i], n: 1 });
		while (blocks.length > 1) {
			const b = blocks[blocks.length - 1];
			const a = blocks[blocks.length - 2];
			if (a.sumY / a.n < b.sumY / b.n) break;
			blocks.pop();
			a.sumP += b.sumP;
			a.sumY += b.sumY;
			a.n += b.n;
		}
	}
	// Keep the extremes away from 0 and 1: a handful of held-out rows never proves certainty.
	const n = p.length;
	return {
		kind: 'isotonic',
		x: blocks.map((b) => b.sumP / b.n),
		y: blocks.map((b) => Math.min(1 - 0.5 / n, Math.max(0.5 / n, b.sumY / b.n))),
	};
}

export function calibrate(c: Calibrator, p: number): number {
	if (c.kind === 'platt') return sigmoid(c.a * logit(p) + c.b);
	const { x, y } = c;
	if (p <= x[0]) return y[0];
	if (p >= x[x.length - 1]) return y[y.length - 1];
	let lo = 0;
	let hi = x.length - 1;
	while (hi - lo > 1) {
		const mid = (lo + hi) >>> 1;
		if (x[mid] <= p) lo = mid;
		else hi = mid;
	}
	const t = (p - x[lo]) / (x[hi] - x[lo] || 1);
	return y[lo] + t * (y[hi] - y[lo]);
}
