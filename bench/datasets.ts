import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { RandomForestClassifier } from 'ml-random-forest';
import type { Encoded } from '../engine/scoring/features';
import type { TrainOptions } from '../engine/scoring/model';

/**
 * The reference forest (a devDependency: only benchmarks and tests load this module) and the three
 * public data sets of ../shared/data (see its README for sources and leakage traps), with
 * the columns each must leave out. Found beside the repository (`<repo>/../shared/data`) from the
 * sources or from dist/, or at NUDGE_DATA_DIR.
 */
const candidates = () => [process.env.NUDGE_DATA_DIR, resolve(__dirname, '../../shared/data'), resolve(__dirname, '../../../shared/data')];

/** The data folder, or undefined when it is not on this machine. */
export function findDataDir(): string | undefined {
	return candidates().find((c) => c && existsSync(resolve(c, 'leads/Leads.csv')));
}

export function dataDir(): string {
	const found = findDataDir();
	if (!found) throw new Error(`The shared data sets are not beside the repository (looked in ${candidates().filter(Boolean).join(', ')}); set NUDGE_DATA_DIR`);
	return found;
}

export interface DataSet {
	name: string;
	file: string;
	options: TrainOptions;
	/** Lowest acceptable 5-fold CV AUC (issue 4). */
	minAuc: number;
}

export const DATA_SETS: DataSet[] = [
	{
		name: 'Leads (without sales-assigned fields)',
		file: 'leads/Leads.csv',
		options: {
			target: 'Converted',
			positive: '1',
			// Ids, and fields the sales team fills in after contact (leakage).
			exclude: ['Prospect ID', 'Lead Number', 'Tags', 'Lead Quality', 'Lead Profile', 'Asymmetrique Activity Index', 'Asymmetrique Profile Index', 'Asymmetrique Activity Score', 'Asymmetrique Profile Score'],
			// "Select" is the form's "not chosen".
			placeholders: ['Select'],
		},
		minAuc: 0.9,
	},
	{
		name: 'Telco churn',
		file: 'telco-churn/WA_Fn-UseC_-Telco-Customer-Churn.csv',
		options: { target: 'Churn', positive: 'Yes', exclude: ['customerID'] },
		minAuc: 0.84,
	},
	{
		name: 'Online shoppers',
		file: 'online-shoppers/online_shoppers_intention.csv',
		options: { target: 'Revenue', positive: 'TRUE' },
		minAuc: 0.92,
	},
];

export const dataPath = (set: DataSet) => resolve(dataDir(), set.file);

/** Encoded rows as ml-random-forest takes them: plain arrays, missing as -1. */
const referenceRows = (d: Encoded) => Array.from({ length: d.nRows }, (_, r) => d.columns.map((c) => (Number.isNaN(c[r]) ? -1 : c[r])));

/**
 * The reference forest (`ml-random-forest`) on the same encoded rows with the same trees, depth, leaf
 * size and √features per split as ours; returns its probability of the positive class for new rows.
 */
export function trainReference(train: Encoded, y: ArrayLike<number>, params: { trees: number; maxDepth: number; minLeaf: number }): (rows: Encoded) => number[] {
	const p = train.columns.length;
	const forest = new RandomForestClassifier({
		nEstimators: params.trees,
		maxFeatures: Math.round(Math.sqrt(p)) / p,
		replacement: true,
		useSampleBagging: true,
		noOOB: true,
		seed: 42,
		treeOptions: { maxDepth: params.maxDepth, minNumSamples: params.minLeaf },
	});
	forest.train(referenceRows(train), Array.from(y));
	return (rows) => forest.predictProbability(referenceRows(rows), 1);
}
