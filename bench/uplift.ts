import { buildFeatureSpec, encodeTable, labelsOf } from '../engine/scoring/features';
import { predictForest, trainForest } from '../engine/scoring/forest';
import { LEARNERS, UPLIFT_FOREST, evaluateUplift, predictUpliftTable, simulate, trainUplift } from '../engine/scoring/uplift';
import { fmt, print } from './stats';

/**
 * Uplift on the simulator (engine/scoring/uplift/simulate.ts), where every row's true uplift is known.
 * Each model is trained on one population and judged on a fresh one from the same seed family, against,
 * in the same run and on the same rows: the oracle (ranking by the true uplift: the best reachable),
 * random targeting, treat-all, and a propensity model (ranking by the chance to convert, what a
 * platform without uplift would do). Then pure noise (every contact the same uplift): the model must
 * not beat random there, so the engine falls back to the average effect.
 *
 * Times are wall-clock and CPU (this process's user + system time, steadier on a shared machine); the
 * baseline for both is the propensity forest (same trees, depth and leaves) trained and scored on the
 * same rows in the same run.
 *
 * BENCH_UPLIFT_ROWS (default 64,000), BENCH_UPLIFT_SEEDS (5), BENCH_UPLIFT_NOISE_SEEDS (40).
 */
const ROWS = Number(process.env.BENCH_UPLIFT_ROWS ?? 64_000);
const SEEDS = Number(process.env.BENCH_UPLIFT_SEEDS ?? 5);
const NOISE_SEEDS = Number(process.env.BENCH_UPLIFT_NOISE_SEEDS ?? 40);
const NOISE_ROWS = Number(process.env.BENCH_UPLIFT_NOISE_ROWS ?? 20_000);

/** Wall and CPU seconds of a call. */
function timed<T>(run: () => T): { value: T; wall: number; cpu: number } {
	const c0 = process.cpuUsage();
	const t0 = performance.now();
	const value = run();
	const c = process.cpuUsage(c0);
	return { value, wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

/** A propensity model: one forest on every row's outcome, ignoring the arm (features built and encoded like the uplift model's). */
function propensity(train: ReturnType<typeof simulate>) {
	const labels = labelsOf(train.table, { target: 'converted' });
	const spec = buildFeatureSpec(train.table, labels, { target: 'converted', exclude: ['treatment'] });
	const forest = trainForest(encodeTable(train.table, spec), labels.y, UPLIFT_FOREST);
	return (table: ReturnType<typeof simulate>['table']) => predictForest(forest, encodeTable(table, spec));
}

export async function benchUplift(): Promise<void> {
	print(`Uplift on the simulator: ${ROWS.toLocaleString('en-US')} training rows × 10 features, judged on a fresh ${ROWS.toLocaleString('en-US')} rows; ${SEEDS} seeds`);
	print('');
	print('| seed | learner | train s (CPU s) | ÷ propensity | score rows/s (CPU) | ÷ propensity | Qini model | Qini oracle | model ÷ oracle | Qini propensity | top 30% ÷ random 30% | oracle top 30% ÷ random | fallback |');
	print('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
	const ratios: number[] = [];
	const top30: number[] = [];
	const trainCpu: number[] = [];
	const trainWall: number[] = [];
	const rates: number[] = [];
	for (let seed = 1; seed <= SEEDS; seed++) {
		const train = simulate({ rows: ROWS, seed });
		const test = simulate({ rows: ROWS, seed: 1000 + seed });
		const fit = timed(() => trainUplift(train.table, { treatment: 'treatment', outcome: 'converted', seed }));
		const model = fit.value;
		const base = timed(() => propensity(train));
		const scored = timed(() => predictUpliftTable(model, test.table));
		const baseScored = timed(() => base.value(test.table));
		const rowsPerCpuS = ROWS / scored.cpu;
		const opts = { replicates: 50 };
		const m = evaluateUplift(scored.value, test.treatment, test.outcome, opts);
		const o = evaluateUplift(test.trueUplift, test.treatment, test.outcome, opts);
		const p = evaluateUplift(baseScored.value, test.treatment, test.outcome, opts);
		const ratio = m.qini.estimate / o.qini.estimate;
		const k30 = m.atK[2].incremental.estimate / m.atK[2].random;
		ratios.push(ratio);
		top30.push(k30);
		trainCpu.push(fit.cpu);
		trainWall.push(fit.wall);
		rates.push(rowsPerCpuS);
		print(
			`| ${seed} | ${model.summary.learner} | ${fmt(fit.wall)} (${fmt(fit.cpu)}) | ${fmt(fit.cpu / base.cpu)}× | ${Math.round(ROWS / scored.wall).toLocaleString('en-US')} (${Math.round(rowsPerCpuS).toLocaleString('en-US')}) | ${fmt(scored.cpu / baseScored.cpu)}× | ${fmt(m.qini.estimate, 4)} | ${fmt(o.qini.estimate, 4)} | ${fmt(ratio)} | ${fmt(p.qini.estimate, 4)} | ${fmt(k30)}× | ${fmt(o.atK[2].incremental.estimate / o.atK[2].random)}× | ${model.fallback ? 'yes' : 'no'} |`,
		);
	}
	const min = (a: number[]) => Math.min(...a);
	const max = (a: number[]) => Math.max(...a);
	print('');
	print(`Qini vs oracle: min ${fmt(min(ratios))} (target ≥ 0.70); top 30% vs random 30%: min ${fmt(min(top30))}× (target ≥ 1.5×)`);
	print(`Training (both learners, evaluation and bootstrap included): max ${fmt(max(trainWall))} s wall, ${fmt(max(trainCpu))} s CPU (target ≤ 3 s); scoring: min ${Math.round(min(rates)).toLocaleString('en-US')} rows per CPU second (target ≥ 100,000)`);
	print('');
	// Each learner's scoring, whichever the selection picked above (the T-learner reads two forests).
	const train = simulate({ rows: ROWS, seed: 1 });
	const test = simulate({ rows: ROWS, seed: 1001 });
	for (const learner of LEARNERS) {
		const model = trainUplift(train.table, { treatment: 'treatment', outcome: 'converted', seed: 1, learner, replicates: 20 });
		const scored = timed(() => predictUpliftTable(model, test.table));
		print(`Scoring with the ${learner}: ${Math.round(ROWS / scored.cpu).toLocaleString('en-US')} rows per CPU second (${Math.round(ROWS / scored.wall).toLocaleString('en-US')} per wall second), encoding the rows included`);
	}
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
