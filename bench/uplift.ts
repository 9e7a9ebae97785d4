import { buildFeatureSpec, encodeTable, labelsOf } from '../engine/scoring/features';
import { predictForest, trainForest } from '../engine/scoring/forest';
import { evaluateUplift, predictUpliftTable, simulate, trainUplift } from '../engine/scoring/uplift';
import { fmt, print } from './stats';

/**
 * Uplift on the simulator (engine/scoring/uplift/simulate.ts), where every row's true uplift is known.
 * Each model is trained on one population and judged on a fresh one from the same seed family, against,
 * in the same run and on the same rows: the oracle (ranking by the true uplift: the best reachable),
 * random targeting, treat-all, and a propensity model (ranking by the chance to convert, what a
 * platform without uplift would do). Then pure noise (every contact the same uplift): the model must
 * not beat random there, so the engine falls back to the average effect.
 *
 * BENCH_UPLIFT_ROWS (default 64,000), BENCH_UPLIFT_SEEDS (5), BENCH_UPLIFT_NOISE_SEEDS (20).
 */
const ROWS = Number(process.env.BENCH_UPLIFT_ROWS ?? 64_000);
const SEEDS = Number(process.env.BENCH_UPLIFT_SEEDS ?? 5);
const NOISE_SEEDS = Number(process.env.BENCH_UPLIFT_NOISE_SEEDS ?? 20);
const NOISE_ROWS = Number(process.env.BENCH_UPLIFT_NOISE_ROWS ?? 20_000);

/** A propensity model: one forest on every row's outcome, ignoring the arm. */
function propensityScores(train: ReturnType<typeof simulate>, test: ReturnType<typeof simulate>): Float64Array {
	const labels = labelsOf(train.table, { target: 'converted' });
	const spec = buildFeatureSpec(train.table, labels, { target: 'converted', exclude: ['treatment'] });
	const forest = trainForest(encodeTable(train.table, spec), labels.y, { trees: 40, maxDepth: 8, minLeaf: 40, bins: 32 });
	return predictForest(forest, encodeTable(test.table, spec));
}

export async function benchUplift(): Promise<void> {
	print(`Uplift on the simulator: ${ROWS.toLocaleString('en-US')} training rows × 10 features, judged on a fresh ${ROWS.toLocaleString('en-US')} rows; ${SEEDS} seeds`);
	print('');
	print('| seed | learner | train s | score rows/s | Qini model | Qini oracle | model / oracle | Qini propensity | top 30% vs random 30% | oracle top 30% vs random | fallback |');
	print('|---|---|---|---|---|---|---|---|---|---|---|');
	const ratios: number[] = [];
	const top30: number[] = [];
	const trainS: number[] = [];
	const rates: number[] = [];
	for (let seed = 1; seed <= SEEDS; seed++) {
		const train = simulate({ rows: ROWS, seed });
		const test = simulate({ rows: ROWS, seed: 1000 + seed });
		const t0 = performance.now();
		const model = trainUplift(train.table, { treatment: 'treatment', outcome: 'converted', seed });
		const seconds = (performance.now() - t0) / 1000;
		const s0 = performance.now();
		const score = predictUpliftTable(model, test.table);
		const rowsPerS = test.table.rows.length / ((performance.now() - s0) / 1000);
		const opts = { replicates: 50 };
		const m = evaluateUplift(score, test.treatment, test.outcome, opts);
		const o = evaluateUplift(test.trueUplift, test.treatment, test.outcome, opts);
		const p = evaluateUplift(propensityScores(train, test), test.treatment, test.outcome, opts);
		const ratio = m.qini.estimate / o.qini.estimate;
		const k30 = m.atK[2].incremental.estimate / m.atK[2].random;
		ratios.push(ratio);
		top30.push(k30);
		trainS.push(seconds);
		rates.push(rowsPerS);
		print(
			`| ${seed} | ${model.summary.learner} | ${fmt(seconds)} | ${Math.round(rowsPerS).toLocaleString('en-US')} | ${fmt(m.qini.estimate, 4)} | ${fmt(o.qini.estimate, 4)} | ${fmt(ratio)} | ${fmt(p.qini.estimate, 4)} | ${fmt(k30)}× | ${fmt(o.atK[2].incremental.estimate / o.atK[2].random)}× | ${model.fallback ? 'yes' : 'no'} |`,
		);
	}
	const min = (a: number[]) => Math.min(...a);
	const max = (a: number[]) => Math.max(...a);
	print('');
	print(`Qini vs oracle: min ${fmt(min(ratios))} (target ≥ 0.70); top 30% vs random 30%: min ${fmt(min(top30))}× (target ≥ 1.5×)`);
	print(`Training: max ${fmt(max(trainS))} s (target ≤ 3 s); scoring: min ${Math.round(min(rates)).toLocaleString('en-US')} rows/s (target ≥ 100,000)`);
	print('');
	let fellBack = 0;
	for (let seed = 1; seed <= NOISE_SEEDS; seed++) {
		const noise = simulate({ rows: NOISE_ROWS, seed: 5000 + seed, signal: 0 });
		const model = trainUplift(noise.table, { treatment: 'treatment', outcome: 'converted', seed });
		if (model.fallback) fellBack++;
	}
	print(`Pure noise (${NOISE_ROWS.toLocaleString('en-US')} rows, every contact the same uplift): fallback engaged in ${fellBack} of ${NOISE_SEEDS} seeds (${fmt((100 * fellBack) / NOISE_SEEDS, 0)}%; target ≥ 95%)`);
}

if (require.main === module) {
	benchUplift().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
