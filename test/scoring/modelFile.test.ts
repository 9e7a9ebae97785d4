import { NudgeError } from '../../engine/errors';
import { fingerprintOf } from '../../engine/scoring/features';
import { deserializeModel, serializeModel, trainModel } from '../../engine/scoring/model';
import { importModel } from '../../engine/scoring/registry';
import { deserializeUplift, serializeUplift, simulate, trainUplift } from '../../engine/scoring/uplift';
import { MemoryStore } from '../../engine/store/memory';
import { synthetic } from './synthetic';

/**
 * A model file (nudge import, the Model node, a version stored by an older release) is checked whole before it
 * is stored or scores: anything that would loop, score NaN or throw while scoring is refused with the usual
 * "This is not a usable Nudge model…" error naming what is wrong, and nothing is stored.
 */

const LEAD = { target: 'Converted', exclude: ['Lead Id', 'Last Seen'], trees: 3 };
const propensityJson = serializeModel(trainModel(synthetic(400), LEAD));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const modelFile = (): Record<string, any> => JSON.parse(propensityJson);

const int32 = (s: string) => new Int32Array(Uint8Array.from(Buffer.from(s, 'base64')).buffer);
const float32 = (s: string) => new Float32Array(Uint8Array.from(Buffer.from(s, 'base64')).buffer);
const base64 = (a: Int32Array | Float32Array) => Buffer.from(a.buffer).toString('base64');

/** The tree's root split sends both branches to `to`. */
function rootBranchesTo(tree: string[], to: number): string[] {
	const [feature, threshold, left, right, value] = tree;
	const [l, r] = [int32(left), int32(right)];
	expect(int32(feature)[0]).toBeGreaterThanOrEqual(0);
	l[0] = to;
	r[0] = to;
	return [feature, threshold, base64(l), base64(r), value];
}

async function refusedAtImport(file: unknown, message: RegExp): Promise<void> {
	const store = new MemoryStore();
	const error = await importModel(store, 'lead', JSON.stringify(file)).then(
		() => undefined,
		(e) => e,
	);
	expect(error).toBeInstanceOf(NudgeError);
	expect(error.message).toMatch(message);
	expect(await store.listModelVersions('lead')).toEqual([]);
}

describe('importing a propensity model file', () => {
	test('the file as written reads back and is stored', async () => {
		expect(deserializeModel(propensityJson).forest.trees).toHaveLength(3);
		expect(await importModel(new MemoryStore(), 'lead', propensityJson)).toBe(1);
	});

	test('a tree whose branch points back at its own node, or past its last node, is refused (scoring it would never reach a leaf)', async () => {
		const looping = modelFile();
		looping.forest.trees[0] = rootBranchesTo(looping.forest.trees[0], 0);
		await refusedAtImport(looping, /^This is not a usable Nudge model: tree 1 has a branch that does not lead down the tree/);
		const outside = modelFile();
		outside.forest.trees[1] = rootBranchesTo(outside.forest.trees[1], 10_000);
		await refusedAtImport(outside, /tree 2 has a branch that does not lead down the tree/);
	});

	test('a model with NaN node values or no trees is refused, not stored to score NaN', async () => {
		const nan = modelFile();
		nan.forest.trees = nan.forest.trees.map(([f, t, l, r, v]: string[]) => [f, t, l, r, base64(float32(v).map(() => Number.NaN))]);
		await refusedAtImport(nan, /tree 1 has a node value that is not a number/);
		const empty = modelFile();
		empty.forest.trees = [];
		await refusedAtImport(empty, /its forest has no trees/);
	});

	test('a model without a usable calibrator is refused', async () => {
		const missing = modelFile();
		delete missing.calibrator;
		await refusedAtImport(missing, /its calibration is missing or not numbers/);
		const notNumbers = modelFile();
		notNumbers.calibrator = { kind: 'platt', a: 'x', b: null };
		await refusedAtImport(notNumbers, /its calibration is missing or not numbers/);
		const uneven = modelFile();
		uneven.calibrator = { kind: 'isotonic', x: [0.1, 0.5], y: [0.2] };
		await refusedAtImport(uneven, /its calibration is missing or not numbers/);
	});

	test('an isotonic calibration mapping beyond 0..1, or with its inputs out of order, is refused: it would score outside 0..100', async () => {
		const beyond = modelFile();
		beyond.calibrator = { kind: 'isotonic', x: [0, 1], y: [7, 42] };
		await refusedAtImport(beyond, /^This is not a usable Nudge model: its calibration maps to or from values outside 0\.\.1/);
		const unsorted = modelFile();
		unsorted.calibrator = { kind: 'isotonic', x: [0.9, 0.1], y: [0.2, 0.8] };
		await refusedAtImport(unsorted, /^This is not a usable Nudge model: its calibration inputs are not in increasing order/);
	});

	test('a feature of the wrong shape is refused even with the fingerprint recomputed, not a TypeError while scoring', async () => {
		const noLevels = modelFile();
		delete noLevels.spec.features.find((f: { kind: string }) => f.kind === 'categorical').levels;
		noLevels.spec.fingerprint = fingerprintOf(noLevels.spec.features);
		await refusedAtImport(noLevels, /^This is not a usable Nudge model: feature 2 \("Source"\) is categorical but its levels or its code for other values are missing/);
		const unknownKind = modelFile();
		unknownKind.spec.features[0].kind = 'text';
		unknownKind.spec.fingerprint = fingerprintOf(unknownKind.spec.features);
		await refusedAtImport(unknownKind, /^This is not a usable Nudge model: feature 1 \("Visits"\) has no name or no known kind/);
	});

	test('a feature spec without its list of placeholder values (outside the fingerprint) is refused, not a TypeError while scoring', async () => {
		const file = modelFile();
		delete file.spec.placeholders;
		await refusedAtImport(file, /^This is not a usable Nudge model: its feature spec has no list of placeholder values/);
	});

	test('wrongly typed trees are refused with the usual error naming the problem, not a TypeError', async () => {
		const numbers = modelFile();
		numbers.forest.trees = [5];
		await refusedAtImport(numbers, /a tree is not five arrays in base64/);
		// Base64 of a length no Int32Array has.
		const short = modelFile();
		short.forest.trees[0][0] = Buffer.from([1, 2, 3]).toString('base64');
		await refusedAtImport(short, /^This is not a usable Nudge model: it could not be read \(.+\)\. Train the model again$/);
		const unequal = modelFile();
		unequal.forest.trees[0][4] = base64(new Float32Array([0.5]));
		await refusedAtImport(unequal, /tree 1 has no nodes or arrays of different lengths/);
	});
});

describe('importing an uplift model file (same trees, same checks)', () => {
	const upliftJson = serializeUplift(trainUplift(simulate({ rows: 4000, seed: 3 }).table, { treatment: 'treatment', outcome: 'converted', learner: 't-learner', trees: 3, seed: 1, replicates: 5 }));
	// eslint-disable-next-line @typescript-eslint/no-explicit-any
	const upliftFile = (): Record<string, any> => JSON.parse(upliftJson);

	test('a tree whose branch points back at its own node is refused', async () => {
		const looping = upliftFile();
		looping.learner.treated.trees[0] = rootBranchesTo(looping.learner.treated.trees[0], 0);
		expect(() => deserializeUplift(JSON.stringify(looping))).toThrow(/^This is not a usable Nudge uplift model: tree 1 has a branch that does not lead down the tree/);
		await refusedAtImport(looping, /not a usable Nudge uplift model/);
	});

	test('wrongly typed trees and calibrators are refused with the usual error', async () => {
		const typed = upliftFile();
		typed.learner.control.trees = [5];
		await refusedAtImport(typed, /^This is not a usable Nudge uplift model: a tree is not five arrays in base64/);
		const calibrator = upliftFile();
		calibrator.learner.calibrators.control = { kind: 'isotonic', x: [], y: [] };
		await refusedAtImport(calibrator, /its calibration is missing or not numbers/);
		calibrator.learner.calibrators.control = { kind: 'isotonic', x: [0.2, 0.6], y: [-0.5, 1.5] };
		await refusedAtImport(calibrator, /its calibration maps to or from values outside 0\.\.1/);
		expect(deserializeUplift(upliftJson).learner.kind).toBe('t-learner');
	});
});
