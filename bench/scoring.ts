import { auc, calibrate, stratifiedSplit } from '../engine/scoring/evaluate';
import { buildFeatureSpec, encodeTable, labelsOf } from '../engine/scoring/features';
import { predictForest, trainForest } from '../engine/scoring/forest';
import { predictTable, scoreRecord, trainOnSplit } from '../engine/scoring/model';
import { readTable, tableRecords } from '../engine/scoring/table';
import { DATA_SETS, dataPath, trainReference } from './datasets';
import { fmt, percentile, print } from './stats';

/**
 * Scoring on the three real data sets: our forest trainer against `ml-random-forest` (the baseline,
 * run in this process on the same rows with the same trees, depth and leaf size), batch scoring
 * throughput and the latency of one score with its explanation.
 *
 * ml-random-forest's trainer is worse than quadratic in rows, so it gets a stratified subsample of the
 * training rows (BENCH_ML_ROWS, default 2,000) and ours is timed on the same subsample for the ratio,
 * and on all training rows as well.
 */
const TREES = Number(process.env.BENCH_TREES ?? 100);
const DEPTH = 10;
const MIN_LEAF = 10;
const ML_ROWS = Number(process.env.BENCH_ML_ROWS ?? 2_000);
const LATENCY_SAMPLES = 2_000;

function timed<T>(run: () => T): { value: T; ms: number } {
	const t0 = performance.now();
	const value = run();
	return { value, ms: performance.now() - t0 };
}

export async function benchScoring(): Promise<void> {
	print(`Scoring: our forest vs ml-random-forest (${TREES} trees, depth ≤ ${DEPTH}, leaves ≥ ${MIN_LEAF} rows; same rows, same features; 20% held out)`);
	print('');
	for (const set of DATA_SETS) {
		const table = readTable(dataPath(set));
		const labels = labelsOf(table, set.options);
		const split = stratifiedSplit(labels.y, 0.2, 1);
		const spec = buildFeatureSpec(table, labels, set.options, split.train);
		const test = encodeTable(table, spec, { rows: split.test });
		const yTest = Uint8Array.from(split.test, (r) => labels.y[r]);
		const params = { trees: TREES, maxDepth: DEPTH, minLeaf: MIN_LEAF };

		// All training rows: ours only.
		const trainAll = encodeTable(table, spec, { rows: split.train });
		const yAll = Uint8Array.from(split.train, (r) => labels.y[r]);
		trainForest(trainAll, yAll, { ...params, trees: 5 }); // warm-up
		const full = timed(() => trainForest(trainAll, yAll, params));
		const fullAuc = auc(predictForest(full.value, test), yTest);

		// The subsample both trainers get.
		const sub = split.train.length > ML_ROWS ? stratifiedSplit(yAll, ML_ROWS / split.train.length, 2).test : Uint32Array.from(split.train.keys());
		const subRows = Uint32Array.from(sub, (i) => split.train[i]);
		const trainSub = encodeTable(table, spec, { rows: subRows });
		const ySub = Uint8Array.from(subRows, (r) => labels.y[r]);
		const ours = timed(() => trainForest(trainSub, ySub, params));
		const oursAuc = auc(predictForest(ours.value, test), yTest);
		const theirs = timed(() => trainReference(trainSub, ySub, params));
		const theirsAuc = auc(theirs.value(test), yTest);

		print(`${set.name}: ${table.rows.length} rows, ${spec.features.length} features`);
		print(`  train, all ${split.train.length} training rows: ours ${fmt(full.ms / 1000)} s, AUC ${fmt(fullAuc, 3)}`);
		print(
			`  train, ${subRows.length} rows${subRows.length < split.train.length ? ' (subsample: ml-random-forest would take minutes on all)' : ''}: ` +
				`ml-random-forest ${fmt(theirs.ms / 1000)} s, AUC ${fmt(theirsAuc, 3)} | ours ${fmt(ours.ms / 1000, 3)} s, AUC ${fmt(oursAuc, 3)} | ${fmt(theirs.ms / ours.ms, 0)}× faster`,
		);

		// Scoring with the full pipeline's model (calibrated).
		const model = trainOnSplit(table, { ...set.options, ...params }, { split, kind: 'stratified' });
		const encoded = encodeTable(table, model.spec);
		predictForest(model.forest, encoded);
		const batch = timed(() => predictForest(model.forest, encoded).map((p) => calibrate(model.calibrator, p)));
		const endToEnd = timed(() => predictTable(model, table));
		const records = tableRecords(table);
		for (let i = 0; i < 500; i++) scoreRecord(model, records[i % records.length]);
		const latencies: number[] = [];
		for (let i = 0; i < LATENCY_SAMPLES; i++) {
			const record = records[(i * 7919) % records.length];
			const t0 = performance.now();
			scoreRecord(model, record);
			latencies.push(performance.now() - t0);
		}
		latencies.sort((a, b) => a - b);
		print(
			`  batch scoring: ${fmt(table.rows.length / (batch.ms / 1000), 0)} rows/s encoded, ${fmt(table.rows.length / (endToEnd.ms / 1000), 0)} rows/s from raw CSV values (incl. encoding)`,
		);
		print(`  one score with explanation: median ${fmt(percentile(latencies, 50), 3)} ms, p99 ${fmt(percentile(latencies, 99), 3)} ms`);
		print('');
	}
}

if (require.main === module) {
	benchScoring().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
