import { Random, sampleNormal, seededRandom } from '../../decide/sampling';
import type { Table } from '../table';

/**
 * A population with a known true uplift, for tests and bench/uplift (there is no public uplift data set
 * in the project's data). Each contact belongs, with probabilities that depend on its features, to one of
 * the four groups of the uplift literature:
 *
 * - persuadables convert mostly when messaged;
 * - sure things convert either way;
 * - lost causes convert neither way;
 * - sleeping dogs convert less when messaged (the message reminds them to leave).
 *
 * The chance to convert given the features and the arm is the group mix times each group's rates, so
 * the true uplift of every row is known exactly: `p1 − p0`. Features `x0…x4` carry the signal, the rest
 * are noise. With `signal: 0` the groups do not depend on the features at all: every contact has the same
 * uplift, and a model can only find noise (the fallback must engage).
 */
export interface SimulateOptions {
	rows: number;
	/** Features, at least 5 (x0…x4 drive the groups, the rest are noise). Default 10. */
	features?: number;
	/** Share of rows treated (messaged). Default 0.5. */
	treatShare?: number;
	/** 0 (groups independent of the features) to 1 (default). */
	signal?: number;
	seed?: number;
}

export interface Simulated {
	/** Columns x0…x{n-1}, `treatment` (1/0) and `converted` (1/0). */
	table: Table;
	treatment: Uint8Array;
	outcome: Uint8Array;
	/** The true uplift of each row: P(convert | messaged) − P(convert | not). */
	trueUplift: Float64Array;
	/** Column-major features, as the forest reads them. */
	columns: Float64Array[];
}

/** Conversion rate of each group, not messaged / messaged. */
export const GROUPS = {
	persuadable: { p0: 0.03, p1: 0.3 },
	sureThing: { p0: 0.45, p1: 0.47 },
	lostCause: { p0: 0.01, p1: 0.012 },
	sleepingDog: { p0: 0.25, p1: 0.08 },
} as const;
const RATES = Object.values(GROUPS);

/** Group probabilities from the features: a softmax of linear scores, flattened as `signal` falls. */
function groupMix(x: number[], signal: number, out: Float64Array): void {
	const logits = [1.6 * x[0] + 1.2 * x[1] - 0.6, 1.8 * x[2] - 0.5 * x[0], 0.4 + 0.3 * x[3], 1.8 * x[4] - 0.3 * x[1] - 0.8];
	let max = -Infinity;
	for (const l of logits) max = Math.max(max, l * signal);
	let sum = 0;
	for (let g = 0; g < 4; g++) sum += out[g] = Math.exp(logits[g] * signal - max);
	for (let g = 0; g < 4; g++) out[g] /= sum;
}

export function simulate(options: SimulateOptions): Simulated {
	const n = options.rows;
	const p = Math.max(5, options.features ?? 10);
	const treatShare = options.treatShare ?? 0.5;
	const signal = options.signal ?? 1;
	const random: Random = seededRandom(options.seed ?? 1);
	const columns = Array.from({ length: p }, () => new Float64Array(n));
	const treatment = new Uint8Array(n);
	const outcome = new Uint8Array(n);
	const trueUplift = new Float64Array(n);
	const mix = new Float64Array(4);
	const x = new Array<number>(p);
	const rows: unknown[][] = new Array(n);
	for (let r = 0; r < n; r++) {
		for (let f = 0; f < p; f++) columns[f][r] = x[f] = Math.round(sampleNormal(random) * 1000) / 1000;
		groupMix(x, signal, mix);
		let p0 = 0;
		let p1 = 0;
		for (let g = 0; g < 4; g++) [p0, p1] = [p0 + mix[g] * RATES[g].p0, p1 + mix[g] * RATES[g].p1];
		trueUplift[r] = p1 - p0;
		treatment[r] = random() < treatShare ? 1 : 0;
		outcome[r] = random() < (treatment[r] ? p1 : p0) ? 1 : 0;
		rows[r] = [...x.map(String), String(treatment[r]), String(outcome[r])];
	}
	const names = Array.from({ length: p }, (_, f) => `x${f}`);
	return { table: { columns: [...names, 'treatment', 'converted'], rows }, treatment, outcome, trueUplift, columns };
}
