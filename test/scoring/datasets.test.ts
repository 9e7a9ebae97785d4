import { DATA_SETS, dataPath, trainReference } from '../../bench/datasets';
import { auc, stratifiedSplit } from '../../engine/scoring/evaluate';
import { buildFeatureSpec, encodeTable, labelsOf } from '../../engine/scoring/features';
import { predictForest, trainForest } from '../../engine/scoring/forest';
import { crossValidate } from '../../engine/scoring/model';
import { readTable } from '../../engine/scoring/table';
import { describeWithData } from '../helpers/dataSets';

/**
 * The proof on the three real data sets (../shared/data): 5-fold stratified CV, seeded, with
 * the default forest (100 trees, depth 10, leaves of at least 10 rows). About 2 s per data set.
 */
describeWithData().each(DATA_SETS)('$name, 5-fold CV', (set) => {
	// In beforeAll, not the describe's body: jest runs a skipped describe's body too (without the data sets, it threw).
	let folds: ReturnType<typeof crossValidate>;
	beforeAll(() => {
		folds = crossValidate(readTable(dataPath(set)), set.options, 5);
	});
	const mean = (f: (e: (typeof folds)[number]) => number) => folds.reduce((s, e) => s + f(e), 0) / folds.length;

	test(`mean AUC ≥ ${set.minAuc}`, () => {
		expect(folds).toHaveLength(5);
		expect(mean((e) => e.auc)).toBeGreaterThanOrEqual(set.minAuc);
	});

	test('calibrated Brier score ≤ the uncalibrated forest’s', () => {
		expect(mean((e) => e.brier)).toBeLessThanOrEqual(mean((e) => e.uncalibrated.brier));
	});

	test('every row is evaluated once and the calibration table covers the test rows', () => {
		const table = readTable(dataPath(set));
		expect(folds.reduce((s, e) => s + e.rows, 0)).toBe(table.rows.length);
		for (const e of folds) expect(e.calibration.reduce((s, b) => s + b.count, 0)).toBe(e.rows);
	});
});

describeWithData()('on the real data', () => {
	test('Leads: the sales-assigned fields are leakage (AUC with them is far higher, so they must stay out)', () => {
		const leads = DATA_SETS[0];
		const table = readTable(dataPath(leads));
		const leaky = crossValidate(table, { ...leads.options, exclude: ['Prospect ID', 'Lead Number'], trees: 30 }, 2);
		expect(leaky.reduce((s, e) => s + e.auc, 0) / 2).toBeGreaterThan(0.95);
	});

	/**
	 * The reference: `ml-random-forest` on the same rows, the same encoded features, the same number of
	 * trees, depth and leaf size. Small (1,000 training rows of Telco, 20 trees), because its trainer
	 * takes seconds even here; `bench/scoring` measures the speed.
	 */
	test('on the same Telco rows, our AUC is no lower than ml-random-forest’s', () => {
		const set = DATA_SETS[1];
		const full = readTable(dataPath(set));
		const table = { columns: full.columns, rows: full.rows.slice(0, 1500) };
		const labels = labelsOf(table, set.options);
		const split = stratifiedSplit(labels.y, 1 / 3, 11);
		const spec = buildFeatureSpec(table, labels, set.options, split.train);
		const train = encodeTable(table, spec, { rows: split.train });
		const test = encodeTable(table, spec, { rows: split.test });
		const yTrain = Uint8Array.from(split.train, (r) => labels.y[r]);
		const yTest = Uint8Array.from(split.test, (r) => labels.y[r]);
		const params = { trees: 20, maxDepth: 10, minLeaf: 10 };
		const ours = auc(predictForest(trainForest(train, yTrain, params), test), yTest);

		const theirs = auc(trainReference(train, yTrain, params)(test), yTest);
		expect(ours).toBeGreaterThan(0.8);
		expect(ours).toBeGreaterThanOrEqual(theirs);
	});
});
