import { NudgeError } from '../../engine/errors';
import { auc, brier, calibrate, calibrationTable, confusionAt, fitIsotonic, fitPlatt, stratifiedKFold, stratifiedSplit, timeSplit } from '../../engine/scoring/evaluate';
import { buildFeatureSpec, describeValue, encodeRecord, encodeTable, labelsOf } from '../../engine/scoring/features';
import { binEdges, binOf, explainRow, predictForest, rng, trainForest } from '../../engine/scoring/forest';
import { deserializeModel, scoreRecord, serializeModel, splitFor, trainModel } from '../../engine/scoring/model';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, ftruncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { detectDelimiter, MAX_DATA_FILE_BYTES, parseCsv, parseJson, parseJsonl, readTable, Table, tableFromObjects } from '../../engine/scoring/table';
import { tempDir } from '../helpers/fixtures';
import { synthetic } from './synthetic';

const asOf = new Date('2026-01-01T00:00:00Z');

describe('reading data', () => {
	test('the delimiter is detected (comma, semicolon, tab), quoted delimiters stay inside their field', () => {
		expect(detectDelimiter('a,b;c\n')).toBe(',');
		expect(detectDelimiter('a;b;c\r\n1;2;3')).toBe(';');
		expect(detectDelimiter('a\tb\n')).toBe('\t');
		expect(detectDelimiter('"x;y;z",b\n')).toBe(',');
		const t = parseCsv('Name;Specialization;Converted\r\nAnn;"Banking; Investment";1\r\nBo;"Media, Ads";0\r\n');
		expect(t.columns).toEqual(['Name', 'Specialization', 'Converted']);
		expect(t.rows).toEqual([
			['Ann', 'Banking; Investment', '1'],
			['Bo', 'Media, Ads', '0'],
		]);
	});

	test('JSON arrays and JSONL become tables with the union of keys', () => {
		expect(parseJson('[{"a":1},{"b":true}]')).toEqual({ columns: ['a', 'b'], rows: [[1, undefined], [undefined, true]] });
		expect(parseJsonl('{"a":1}\n\n{"a":2,"c":"x"}\n')).toEqual({ columns: ['a', 'c'], rows: [[1, undefined], [2, 'x']] });
		expect(() => parseJsonl('{"a":1}\nnot json')).toThrow(/Line 2 of the JSONL file is not JSON/);
		expect(() => parseJson('{"a":1}')).toThrow(/array of objects/);
		expect(() => parseCsv('a,a\n1,2\n')).toThrow(/Two columns are both named "a"/);
	});

	test('a regular file whose size reads as 0 but never ends (/proc/self/pagemap) is refused, not read until memory runs out', () => {
		if (!existsSync('/proc/self/pagemap')) return;
		// In a child process (capped at 3 GB of address space): read in this one it would hold jest's thread.
		const root = resolve(__dirname, '../..');
		const script = `
			const fs = require('fs'); const ts = require('typescript');
			require.extensions['.ts'] = (m, f) => m._compile(ts.transpileModule(fs.readFileSync(f, 'utf8'), { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText, f);
			const { readTable } = require(${JSON.stringify(join(root, 'engine/scoring/table.ts'))});
			try { readTable('/proc/self/pagemap'); console.log('READ'); } catch (e) { console.log('REFUSED: ' + e.message); }
		`;
		const child = spawnSync('bash', ['-c', 'ulimit -v 3000000; exec "$0" -e "$1"', process.execPath, script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
		const result = child.stdout.trim() || `no answer: exit ${child.status}, signal ${child.signal}, ${child.stderr.trim().split('\n').slice(-3).join(' | ')}`;
		// Refused at the size limit at most: not "Failed to allocate memory" after reading gigabytes.
		expect(result).toMatch(/^REFUSED: (Cannot read the data file \/proc\/self\/pagemap: it is |The data file \/proc\/self\/pagemap is larger than 100 MB)/);
	}, 90_000);

	test('a data file is read only when it is a regular file within the size limit; the rest is refused before it is read', () => {
		const dir = tempDir();
		const small = join(dir, 'small.csv');
		writeFileSync(small, 'a,b\n1,2\n');
		expect(readTable(small)).toEqual({ columns: ['a', 'b'], rows: [['1', '2']] });
		// One byte over, as a sparse file (no disk used): refused by its size, not read into memory.
		const large = join(dir, 'large.csv');
		const fd = openSync(large, 'w');
		ftruncateSync(fd, MAX_DATA_FILE_BYTES + 1);
		closeSync(fd);
		expect(() => readTable(large)).toThrow(new NudgeError('INVALID_INPUT', `The data file ${large} is larger than 100 MB: train on a sample of its rows (a few hundred thousand are plenty)`));
		// A device never ends and a pipe may never answer: either would hold the process's one thread.
		expect(() => readTable('/dev/zero')).toThrow('Cannot read the data file /dev/zero: it is not a regular file (a device or a pipe); give the path of a CSV, JSON or JSONL file');
		const fifo = join(dir, 'pipe.csv');
		execFileSync('mkfifo', [fifo]);
		expect(() => readTable(fifo)).toThrow(`Cannot read the data file ${fifo}: it is not a regular file (a device or a pipe)`);
		expect(() => readTable(dir)).toThrow(`Cannot read the data file ${dir}: it is a folder; give the path of a CSV, JSON or JSONL file`);
		expect(() => readTable(join(dir, 'missing.csv'))).toThrow(`Cannot read the data file ${join(dir, 'missing.csv')}: no such file`);
	});
});

describe('feature spec', () => {
	const table = synthetic(400);
	const options = { target: 'Converted', exclude: ['Lead Id'] };
	const labels = labelsOf(table, options);
	const spec = buildFeatureSpec(table, labels, options);

	test('kinds are inferred and excluded columns are listed with why', () => {
		expect(spec.features.map((f) => [f.name, f.kind])).toEqual([
			['Visits', 'numeric'],
			['Source', 'categorical'],
			['Last Seen', 'date'],
			['Opted In', 'boolean'],
		]);
		expect(spec.skipped).toEqual([{ name: 'Lead Id', reason: 'excluded' }]);
		expect(labels.positive).toBe('1');
	});

	test('a factor names a credential column (a trait such as apiKey) without quoting its value', () => {
		const apiKey = { name: 'apiKey', kind: 'categorical' as const, levels: { '(blank)': 0 }, otherCode: 1 };
		expect(describeValue(apiKey, 'ak-51d0e2', spec)).toBe('apiKey = [redacted]');
		expect(describeValue(apiKey, '', spec)).toBe('apiKey is blank');
		expect(describeValue(spec.features[1], 'TikTok', spec)).toBe('Source = TikTok (rare or new value)');
	});

	test('categorical levels are ordered by conversion rate; blank is a level; unseen values share "(other)"', () => {
		const source = spec.features[1];
		const levels = source.levels!;
		expect(Object.keys(levels).sort()).toEqual(['(blank)', '(other)', 'Direct', 'Google', 'Olark', 'Referral']);
		// Referral converts most in the synthetic data, so it gets the highest code.
		expect(levels.Referral).toBe(Math.max(...Object.values(levels)));
		const row = encodeRecord({ Visits: '3', Source: 'TikTok', 'Last Seen': '2025-12-22', 'Opted In': 'no' }, spec, asOf);
		expect(Array.from(row)).toEqual([3, source.otherCode, 10, 0]);
		const blank = encodeRecord({ Source: '' }, spec, asOf);
		expect(blank[1]).toBe(levels['(blank)']);
		expect(Number.isNaN(blank[0])).toBe(true);
	});

	test('a date column reads only what training takes for a date: "12" or "March 3" is blank, not a day in 2001', () => {
		const at = spec.features.findIndex((f) => f.kind === 'date');
		expect(spec.features[at].name).toBe('Last Seen');
		expect(['12', 'March 3', '2025-12-22'].map((v) => encodeRecord({ 'Last Seen': v }, spec, asOf)[at])).toEqual([Number.NaN, Number.NaN, 10]);
	});

	test('numbers as exports write them: thousands commas, decimal commas', () => {
		const t: Table = { columns: ['Spend', 'y'], rows: [['1,240', '1'], ['60,1', '0'], ['-3.5', '1'], ['7', '0']] };
		const numeric = buildFeatureSpec(t, labelsOf(t, { target: 'y' }), { target: 'y' });
		expect(numeric.features[0].kind).toBe('numeric');
		expect(Array.from(encodeTable(t, numeric).columns[0])).toEqual([1240, 60.1, -3.5, 7]);
	});

	test('placeholder values are configurable and count as blank', () => {
		const t: Table = { columns: ['City', 'y'], rows: Array.from({ length: 40 }, (_, i) => [i % 2 ? 'Select' : i % 4 ? 'Pune' : 'Delhi', String(i % 3 === 0 ? 1 : 0)]) };
		const withSelect = buildFeatureSpec(t, labelsOf(t, { target: 'y' }), { target: 'y', placeholders: ['Select'], minCategoryCount: 1 });
		expect(Object.keys(withSelect.features[0].levels!).sort()).toEqual(['(blank)', '(other)', 'Delhi', 'Pune']);
		const without = buildFeatureSpec(t, labelsOf(t, { target: 'y' }), { target: 'y', minCategoryCount: 1 });
		expect(Object.keys(without.features[0].levels!)).toContain('Select');
	});

	test('bad input is a clear error naming the column', () => {
		expect(() => labelsOf(table, { target: 'converted' })).toThrow(/no target column "converted" \(did you mean "Converted"\?\)/);
		const oneClass: Table = { columns: ['x', 'won'], rows: [['1', 'yes'], ['2', 'yes']] };
		expect(() => labelsOf(oneClass, { target: 'won' })).toThrow(/has only one value \("yes"\)/);
		expect(() => labelsOf(table, { target: 'Converted', positive: 'won' })).toThrow(/"won" never occurs/);
		// Nearly all numbers with stray text: a broken export.
		const junk: Table = { columns: ['Revenue', 'y'], rows: Array.from({ length: 100 }, (_, i) => [i === 5 ? '#REF!' : String(i), String(i % 2)]) };
		expect(() => buildFeatureSpec(junk, labelsOf(junk, { target: 'y' }), { target: 'y' })).toThrow(/Column "Revenue" is mostly numbers but 1 rows hold text such as "#REF!"/);
		// A different value in every row: an id or free text.
		expect(() => buildFeatureSpec(table, labels, { target: 'Converted' })).toThrow(/Column "Lead Id" has a different value in almost every row.*exclude it/);
		expect(() => buildFeatureSpec(table, labels, { target: 'Converted', exclude: ['Nope'] })).toThrow(/no excluded column "Nope"/);
		const err = (() => {
			try {
				encodeTable({ columns: ['Visits'], rows: [['1']] }, spec);
			} catch (e) {
				return e as NudgeError;
			}
			return undefined;
		})();
		expect(err).toBeInstanceOf(NudgeError);
		expect(err!.message).toMatch(/lacks the columns "Source", "Last Seen", "Opted In"/);
	});
});

describe('columns, traits and categories named after Object.prototype members', () => {
	test('rows given as objects: a row lacking the key "constructor" or "toString" is blank there, not the text of a JS function', () => {
		const table = tableFromObjects([{ constructor: 'Web', toString: 'x', y: '1' }, { y: '0' }]);
		expect(table.rows[1]).toEqual([undefined, undefined, '0']);
	});

	test('a contact without the trait "constructor" is encoded as the "(blank)" level, not as "(other)"', () => {
		// "constructor" is Web or blank; blank rows convert more.
		const rows: unknown[][] = Array.from({ length: 80 }, (_, i) => [i % 2 ? 'Web' : '', String(i % 4 === 0 ? 1 : i % 2 ? 0 : i % 8 === 2 ? 1 : 0)]);
		const table: Table = { columns: ['constructor', 'y'], rows };
		const spec = buildFeatureSpec(table, labelsOf(table, { target: 'y' }), { target: 'y' });
		const f = spec.features[0];
		expect(f.kind).toBe('categorical');
		// What profileRecord builds for a contact lacking the trait: the key is simply absent.
		expect(encodeRecord({}, spec)[0]).toBe(f.levels!['(blank)']);
	});

	test('a value "constructor", "toString" or "__proto__" a model never saw encodes as its other category, not as missing', () => {
		const table: Table = { columns: ['Source', 'y'], rows: Array.from({ length: 60 }, (_, i) => [i % 3 ? 'Google' : 'Referral', String(i % 2)]) };
		const spec = buildFeatureSpec(table, labelsOf(table, { target: 'y' }), { target: 'y', minCategoryCount: 1 });
		const other = encodeRecord({ Source: 'Billboard' }, spec)[0];
		expect(Number.isNaN(other)).toBe(false);
		for (const value of ['constructor', 'toString', '__proto__']) expect(encodeRecord({ Source: value }, spec)[0]).toBe(other);
	});

	test('a frequent value "__proto__" is a category of its own', () => {
		const table: Table = { columns: ['Source', 'y'], rows: Array.from({ length: 60 }, (_, i) => [i % 3 ? 'Google' : '__proto__', String(i % 3 ? 0 : 1)]) };
		const spec = buildFeatureSpec(table, labelsOf(table, { target: 'y' }), { target: 'y', minCategoryCount: 1 });
		const [google, proto, other] = ['Google', '__proto__', 'Billboard'].map((v) => encodeRecord({ Source: v }, spec)[0]);
		expect([google, proto, other].every((code) => Number.isInteger(code))).toBe(true);
		expect(new Set([google, proto, other]).size).toBe(3);
	});
});

describe('forest', () => {
	const table = synthetic(3000);
	const options = { target: 'Converted', exclude: ['Lead Id'] };
	const labels = labelsOf(table, options);
	const spec = buildFeatureSpec(table, labels, options);
	const data = encodeTable(table, spec, { asOf });

	test('bins: missing is bin 0, values fall in quantile bins, few distinct values each get a bin', () => {
		const edges = binEdges(Float64Array.from([3, 1, 2, NaN, 2]), 64);
		expect(Array.from(edges)).toEqual([1.5, 2.5]);
		expect([NaN, 1, 2, 3, 99].map((v) => binOf(edges, v))).toEqual([0, 1, 2, 3, 3]);
		// 8 bins in all: missing plus 7 quantile bins, so 6 edges.
		expect(binEdges(Float64Array.from({ length: 1000 }, (_, i) => i), 8).length).toBe(6);
	});

	test('the same seed gives the same forest; another seed another one', () => {
		const a = predictForest(trainForest(data, labels.y, { trees: 10, seed: 1 }), data);
		const b = predictForest(trainForest(data, labels.y, { trees: 10, seed: 1 }), data);
		const c = predictForest(trainForest(data, labels.y, { trees: 10, seed: 2 }), data);
		expect(b).toEqual(a);
		expect(c).not.toEqual(a);
	});

	test('it learns the rule on rows it never saw, and depth and leaf limits hold', () => {
		const split = stratifiedSplit(labels.y, 0.3, 1);
		const train = encodeTable(table, spec, { rows: split.train, asOf });
		const test = encodeTable(table, spec, { rows: split.test, asOf });
		const yTest = Uint8Array.from(split.test, (r) => labels.y[r]);
		const forest = trainForest(train, Uint8Array.from(split.train, (r) => labels.y[r]), { trees: 30, maxDepth: 4, minLeaf: 20 });
		expect(auc(predictForest(forest, test), yTest)).toBeGreaterThan(0.9);
		// A stump forest is far weaker than a deep one on this interaction-rich rule.
		const stumps = trainForest(train, Uint8Array.from(split.train, (r) => labels.y[r]), { trees: 30, maxDepth: 1 });
		expect(auc(predictForest(stumps, test), yTest)).toBeLessThan(auc(predictForest(forest, test), yTest));
		for (const tree of forest.trees) {
			const depth = (node: number): number => (tree.feature[node] < 0 ? 0 : 1 + Math.max(depth(tree.left[node]), depth(tree.right[node])));
			expect(depth(0)).toBeLessThanOrEqual(4);
		}
		expect(stumps.trees.every((t) => t.feature.length <= 3)).toBe(true);
	});

	test('explanations add up: bias + contributions = the forest probability', () => {
		const forest = trainForest(data, labels.y, { trees: 20 });
		const probs = predictForest(forest, data);
		for (const r of [0, 1, 2, 17, 999]) {
			const row = Float64Array.from(data.columns, (c) => c[r]);
			const { probability, contributions } = explainRow(forest, row);
			expect(probability).toBeCloseTo(probs[r], 6);
			expect(forest.bias + contributions.reduce((s, c) => s + c, 0)).toBeCloseTo(probability, 6);
		}
	});
});

describe('evaluation', () => {
	test('AUC counts ordered pairs, ties as half', () => {
		expect(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75);
		expect(auc([0.5, 0.5], [0, 1])).toBe(0.5);
		expect(auc([0.9, 0.1], [0, 1])).toBe(0);
	});

	test('Brier, calibration table and confusion matrix', () => {
		expect(brier([1, 0, 0.5], [1, 0, 1])).toBeCloseTo(0.25 / 3);
		const table = calibrationTable([0.05, 0.15, 0.12, 0.95], [0, 1, 0, 1]);
		expect(table.map((b) => [b.from, b.count, b.observedRate])).toEqual([
			[0, 1, 0],
			[0.1, 2, 0.5],
			[0.9, 1, 1],
		]);
		expect(confusionAt([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0], 0.7)).toEqual({ cutoff: 0.7, tp: 1, fp: 1, tn: 1, fn: 1, precision: 0.5, recall: 0.5 });
	});

	test('splits: stratified keeps class shares, k-fold covers each row once, time split holds out the latest', () => {
		const y = Uint8Array.from({ length: 100 }, (_, i) => (i < 30 ? 1 : 0));
		const s = stratifiedSplit(y, 0.2, 3);
		expect(s.test.length).toBe(20);
		expect(Array.from(s.test).filter((r) => y[r]).length).toBe(6);
		const folds = stratifiedKFold(y, 5, 3);
		const seen = folds.flatMap((f) => Array.from(f.test)).sort((a, b) => a - b);
		expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i));
		for (const f of folds) expect(Array.from(f.test).filter((r) => y[r]).length).toBe(6);
		expect(Array.from(timeSplit([5, 1, 4, 2, 3], 0.4).test)).toEqual([0, 2]);
	});

	test('Platt calibration converges on perfectly separated held-out rows and keeps their order', () => {
		const p = [...Array(30).fill(0), ...Array(30).fill(1)];
		const y = p.map((v) => v);
		const c = fitPlatt(p, y);
		expect(calibrate(c, 1)).toBeGreaterThan(0.9);
		expect(calibrate(c, 0)).toBeLessThan(0.1);
	});

	test('isotonic and Platt calibration are monotone and fix a squashed forest', () => {
		const random = rng(5);
		const truth = Array.from({ length: 2000 }, () => random());
		const y = truth.map((t) => (random() < t ? 1 : 0));
		const squashed = truth.map((t) => 0.4 + t * 0.2);
		for (const c of [fitIsotonic(squashed, y), fitPlatt(squashed, y)]) {
			const mapped = squashed.map((p) => calibrate(c, p));
			expect(brier(mapped, y)).toBeLessThan(brier(squashed, y) - 0.03);
			for (let i = 1; i < 10; i++) expect(calibrate(c, 0.4 + i * 0.02)).toBeGreaterThanOrEqual(calibrate(c, 0.4 + (i - 1) * 0.02));
		}
	});
});

describe('trained model', () => {
	const table = synthetic(2000);
	const model = trainModel(table, { target: 'Converted', exclude: ['Lead Id'], trees: 30, asOf });

	test('a score has a probability, tier and plain-words factors that explain it', () => {
		const hot = scoreRecord(model, { Visits: '19', Source: 'Referral', 'Last Seen': '2025-12-30', 'Opted In': 'Yes' }, { asOf });
		const cold = scoreRecord(model, { Visits: '0', Source: 'Direct', 'Last Seen': '2025-11-05', 'Opted In': 'No' }, { asOf });
		expect(hot.tier).toBe('hot');
		expect(cold.tier).toBe('cold');
		expect(hot.value).toBeCloseTo(hot.probability * 100, 0);
		expect(hot.factors[0].label).toMatch(/^(Visits = 19|Source = Referral|Last Seen = 2025-12-30) raises the score$/);
		expect(cold.factors.some((f) => f.contribution < 0 && /lowers the score$/.test(f.label))).toBe(true);
		expect(model.evaluation.auc).toBeGreaterThan(0.9);
		expect(model.evaluation.confusion.map((c) => c.cutoff)).toEqual([0.7, 0.4]);
		expect(model.summary).toMatchObject({ rows: 2000, testRows: 400, trainRows: 1600, split: 'stratified', trees: 30 });
	});

	test('a value the model cannot read (text in a numeric column, "maybe" for yes/no) is scored as blank, and its factor says it is blank', () => {
		const blank = scoreRecord(model, { Visits: '', Source: 'Google', 'Last Seen': '2025-12-01', 'Opted In': '' }, { asOf });
		const unreadable = scoreRecord(model, { Visits: 'lots', Source: 'Google', 'Last Seen': '2025-12-01', 'Opted In': 'maybe' }, { asOf });
		expect(unreadable.probability).toBe(blank.probability);
		expect(unreadable.factors.map((f) => f.label)).toEqual(blank.factors.map((f) => f.label));
		expect(blank.factors.map((f) => f.label)).toContainEqual(expect.stringMatching(/^Visits is blank/));
	});

	test('with a time column the held-out rows are the latest, and the time column is not a feature', () => {
		const options = { target: 'Converted', exclude: ['Lead Id'], timeColumn: 'Last Seen', trees: 10, asOf };
		const { split, kind } = splitFor(table, labelsOf(table, options).y, options);
		expect(kind).toBe('time');
		const seen = (r: number) => Date.parse(String(table.rows[r][3]));
		expect(Math.min(...Array.from(split.test, seen))).toBeGreaterThanOrEqual(Math.max(...Array.from(split.train, seen)));
		const timed = trainModel(table, options);
		expect(timed.summary).toMatchObject({ split: 'time', testRows: 400 });
		expect(timed.spec.features.map((f) => f.name)).not.toContain('Last Seen');
		expect(() => trainModel(table, { ...options, timeColumn: 'Source' })).toThrow(/Row \d+ of the time column "Source" is not a date/);
	});

	test('a model survives serialisation; a tampered or mismatched one is refused', () => {
		const json = serializeModel(model);
		const back = deserializeModel(json);
		const record = { Visits: '7', Source: 'Google', 'Last Seen': '2025-12-01', 'Opted In': 'Yes' };
		expect(scoreRecord(back, record, { asOf })).toEqual(scoreRecord(model, record, { asOf }));
		const parsed = JSON.parse(json);
		parsed.spec.features[0].name = 'Pages';
		expect(() => deserializeModel(JSON.stringify(parsed))).toThrow(/feature spec does not match its fingerprint/);
		// A forest from a spec with another number of features.
		const other = trainModel(table, { target: 'Converted', exclude: ['Lead Id', 'Opted In'], trees: 3, asOf });
		const mixed = JSON.parse(serializeModel(other));
		mixed.spec = JSON.parse(json).spec;
		expect(() => deserializeModel(JSON.stringify(mixed))).toThrow(/forest reads 3 features but its feature spec has 4/);
		expect(() => deserializeModel('{}')).toThrow(/not a usable Nudge model/);
	});
});
