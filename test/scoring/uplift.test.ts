import { join } from 'node:path';
import { seededRandom } from '../../engine/decide/sampling';
import { encodeRecord } from '../../engine/scoring/features';
import { serializeModel, trainModel } from '../../engine/scoring/model';
import { activateModel, importModel } from '../../engine/scoring/registry';
import {
	GROUPS,
	activeUplift,
	admitTop,
	cutoffFor,
	deserializeUplift,
	evaluateUplift,
	explainUplift,
	predictUpliftTable,
	qiniCoefficient,
	scoreUplift,
	serializeUplift,
	simulate,
	trainUplift,
} from '../../engine/scoring/uplift';
import type { Table } from '../../engine/scoring/table';
import { SqliteStore } from '../../engine/store/sqlite';
import { tempDir } from '../helpers/fixtures';

const OPTIONS = { treatment: 'treatment', outcome: 'converted' } as const;

describe('the simulator', () => {
	test('is reproducible and its true uplift spans the four groups’ effects', () => {
		const a = simulate({ rows: 2000, seed: 3 });
		expect(simulate({ rows: 2000, seed: 3 }).table).toEqual(a.table);
		expect(simulate({ rows: 2000, seed: 4 }).table).not.toEqual(a.table);
		const rates = Object.values(GROUPS).map((g) => g.p1 - g.p0);
		const [lo, hi] = [Math.min(...a.trueUplift), Math.max(...a.trueUplift)];
		expect(lo).toBeGreaterThanOrEqual(Math.min(...rates));
		expect(hi).toBeLessThanOrEqual(Math.max(...rates));
		// Persuadables and sleeping dogs both occur: some contacts gain a lot, some lose.
		expect(hi).toBeGreaterThan(0.15);
		expect(lo).toBeLessThan(-0.05);
		expect(a.table.columns).toEqual(['x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9', 'treatment', 'converted']);
	});

	test('the observed effect matches the true average uplift; with no signal every contact has the same uplift', () => {
		const s = simulate({ rows: 60_000, seed: 5 });
		const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((x, y) => x + y, 0) / xs.length;
		const rate = (arm: number) => mean(Array.from(s.outcome).filter((_, r) => s.treatment[r] === arm));
		// Within four standard errors of a difference of two rates near 0.2 on 30,000 rows each.
		const se = Math.sqrt((2 * 0.2 * 0.8) / 30_000);
		expect(Math.abs(rate(1) - rate(0) - mean(s.trueUplift))).toBeLessThan(4 * se);
		const flat = simulate({ rows: 1000, seed: 5, signal: 0 });
		expect(new Set(flat.trueUplift).size).toBe(1);
	});
});

describe('uplift metrics', () => {
	// Rows: score, treated?, converted?. Computed by hand from the definitions in metrics.ts.
	const t = [1, 0, 1, 0];
	const y = [1, 0, 0, 1];

	test('Qini coefficient: area between the Qini curve and the random line, by hand', () => {
		expect(qiniCoefficient([4, 3, 2, 1], t, y)).toBeCloseTo(0.1875, 10);
		expect(qiniCoefficient([1, 2, 3, 4], t, y)).toBeCloseTo(-0.09375, 10);
		// One score for everyone ranks nobody: exactly the random line.
		expect(qiniCoefficient([5, 5, 5, 5], t, y)).toBeCloseTo(0, 12);
	});

	test('the Qini coefficient is causalml qini_score (normalize=False) × (N+1)/N², as documented', () => {
		const random = seededRandom(11);
		const n = 2000;
		const s = new Float64Array(n);
		const t = new Uint8Array(n);
		const y = new Uint8Array(n);
		for (let i = 0; i < n; i++) {
			s[i] = random();
			t[i] = random() < 0.5 ? 1 : 0;
			y[i] = random() < (t[i] ? 0.1 + 0.3 * s[i] : 0.1) ? 1 : 0;
		}
		// causalml.metrics.get_qini + qini_score(normalize=False), written out: the mean gap over the N+1 curve points.
		const order = Array.from(s.keys()).sort((a, b) => s[b] - s[a]);
		let [nt, nc, yt, yc] = [0, 0, 0, 0];
		const q = [0];
		for (const r of order) {
			if (t[r]) [nt, yt] = [nt + 1, yt + y[r]];
			else [nc, yc] = [nc + 1, yc + y[r]];
			q.push(nc > 0 ? yt - (yc * nt) / nc : yt);
		}
		let gap = 0;
		for (let i = 0; i <= n; i++) gap += q[i] - (q[n] * i) / n;
		const causalml = gap / (n + 1);
		expect(qiniCoefficient(s, t, y)).toBeCloseTo((causalml * (n + 1)) / (n * n), 12);
	});

	test('on simulated rows the oracle beats random and a reversed oracle loses to it; intervals hold the estimate', () => {
		const s = simulate({ rows: 20_000, seed: 11 });
		const oracle = evaluateUplift(s.trueUplift, s.treatment, s.outcome, { replicates: 50 });
		const reversed = evaluateUplift(s.trueUplift.map((v) => -v), s.treatment, s.outcome, { replicates: 50 });
		const flat = evaluateUplift(new Float64Array(s.trueUplift.length), s.treatment, s.outcome, { replicates: 50 });
		expect(oracle.beatsRandom).toBe(true);
		expect(oracle.verdict).toMatch(/^beats random targeting/);
		expect(reversed.beatsRandom).toBe(false);
		expect(reversed.qini.estimate).toBeLessThan(0);
		expect(flat.beatsRandom).toBe(false);
		expect(flat.verdict).toMatch(/does not beat random targeting.*average effect/);
		for (const i of [oracle.qini, oracle.auuc, oracle.averageEffect, ...oracle.atK.map((k) => k.incremental)]) {
			expect(i.low).toBeLessThanOrEqual(i.estimate);
			expect(i.high).toBeGreaterThanOrEqual(i.estimate);
			expect(i.high).toBeGreaterThan(i.low);
		}
		// Treat-all is the curve's end; a random k gets k of it; the oracle's top 30% gets far more.
		const k30 = oracle.atK[2];
		expect(k30.k).toBe(0.3);
		expect(k30.random).toBeCloseTo(0.3 * k30.treatAll, 12);
		expect(k30.incremental.estimate).toBeGreaterThan(2 * k30.random);
		expect(oracle.curve[20].qini).toBeCloseTo(k30.treatAll, 12);
		expect(oracle.auuc.random).toBeCloseTo(oracle.averageEffect.estimate / 2, 12);
		expect(oracle.auuc.estimate).toBeGreaterThan(oracle.auuc.random);
		// Uplift at k is the rate difference among the top k: high for the oracle's top 10%.
		expect(oracle.atK[0].uplift.estimate).toBeGreaterThan(3 * oracle.averageEffect.estimate);
	});
	test('rows without a held-out arm never beat random: nothing is measured without a control group', () => {
		const s = simulate({ rows: 4000, seed: 11 });
		const treated = new Uint8Array(s.treatment.length).fill(1);
		// Conversion itself as the score: the best possible propensity ranking.
		const e = evaluateUplift(s.outcome, treated, s.outcome, { replicates: 20 });
		expect(e.beatsRandom).toBe(false);
		expect(e.verdict).toMatch(/^cannot be judged: the rows have no held-out \(control\) contact/);
	});
});

describe('uplift models', () => {
	const train = simulate({ rows: 24_000, seed: 21 });
	const fresh = simulate({ rows: 24_000, seed: 22 });
	const model = trainUplift(train.table, { ...OPTIONS, seed: 1, replicates: 100 });

	test('both learners are tried and the better out-of-bag Qini is kept; the model beats random on held-out rows', () => {
		expect(model.summary.selection.map((s) => s.learner)).toEqual(['t-learner', 'transformed-outcome']);
		const best = Math.max(...model.summary.selection.map((s) => s.oobQini));
		expect(model.summary.selection.find((s) => s.learner === model.learner.kind)!.oobQini).toBe(best);
		expect(model.evaluation.beatsRandom).toBe(true);
		expect(model.fallback).toBe(false);
		expect(model.summary.testRows).toBe(Math.round(train.table.rows.length * 0.3));
		expect(model.evaluation.rows).toBe(model.summary.testRows);
	});

	test.each(['t-learner', 'transformed-outcome'] as const)('%s reaches most of the oracle’s Qini on fresh rows (fixed seeds, generous margin)', (learner) => {
		const m = trainUplift(train.table, { ...OPTIONS, seed: 1, learner, replicates: 20 });
		expect(m.summary.selection).toHaveLength(1);
		const score = predictUpliftTable(m, fresh.table);
		const ours = evaluateUplift(score, fresh.treatment, fresh.outcome, { replicates: 20 });
		const oracle = evaluateUplift(fresh.trueUplift, fresh.treatment, fresh.outcome, { replicates: 20 });
		expect(ours.qini.estimate / oracle.qini.estimate).toBeGreaterThan(0.55);
		expect(ours.atK[2].incremental.estimate / ours.atK[2].random).toBeGreaterThan(1.5);
	});

	test("a fallback model's average effect is the treat-all uplift of all its rows, as documented", () => {
		const noise = simulate({ rows: 4000, seed: 31, signal: 0 });
		const m = trainUplift(noise.table, { ...OPTIONS, trees: 3, replicates: 20 });
		expect(m.fallback).toBe(true);
		const rate = (arm: number) => {
			const rows = Array.from(noise.treatment.keys()).filter((r) => noise.treatment[r] === arm);
			return rows.reduce((sum, r) => sum + noise.outcome[r], 0) / rows.length;
		};
		expect(m.averageEffect).toBeCloseTo(rate(1) - rate(0), 12);
	});

	test('on pure noise the model does not beat random and scores everyone with the average effect', () => {
		// The interval's lower end is a 2.5% one-sided test: about 1 noise seed in 40 passes it (bench/uplift
		// measures the rate over many seeds); these fixed seeds are not among them.
		for (const seed of [31, 34]) {
			const noise = simulate({ rows: 10_000, seed, signal: 0 });
			const m = trainUplift(noise.table, { ...OPTIONS, seed, replicates: 100 });
			expect(m.fallback).toBe(true);
			expect(m.evaluation.verdict).toMatch(/does not beat random/);
			const s = scoreUplift(m, { x0: 3, x2: 3 });
			expect(s).toEqual({ uplift: m.averageEffect, fallback: true, factors: [] });
			expect(new Set(predictUpliftTable(m, noise.table)).size).toBe(1);
		}
	});

	test('a contact’s uplift is explained by its top factors, which add up to it', () => {
		// x0 and x1 make persuadables, x4 sleeping dogs (simulate.ts).
		const persuadable = { x0: 2, x1: 1.5, x2: 0, x3: 0, x4: -2, x5: 0, x6: 0, x7: 0, x8: 0, x9: 0 };
		const sleepingDog = { ...persuadable, x0: -1.5, x1: 0, x4: 2.5 };
		const p = scoreUplift(model, persuadable);
		const d = scoreUplift(model, sleepingDog);
		expect(p.uplift).toBeGreaterThan(0.08);
		expect(d.uplift).toBeLessThan(0);
		expect(p.factors[0].label).toMatch(/^x(0|1|4) = .* raises the uplift$/);
		expect(d.factors.some((f) => /^x(0|4) = .* lowers the uplift$/.test(f.label))).toBe(true);
		const e = explainUplift(model.learner, encodeRecord(persuadable, model.spec));
		expect(e.base + e.contributions.reduce((a, b) => a + b, 0)).toBeCloseTo(e.uplift, 6);
	});

	test('serialised and read back, it scores the same; a top-k cut-off admits about k% of held-out-like rows', () => {
		const back = deserializeUplift(serializeUplift(model));
		expect(predictUpliftTable(back, fresh.table)).toEqual(predictUpliftTable(model, fresh.table));
		expect(back.evaluation).toEqual(model.evaluation);
		const score = predictUpliftTable(model, fresh.table);
		const admitted = score.filter((v) => v >= cutoffFor(model, 20)).length / score.length;
		expect(admitted).toBeGreaterThan(0.15);
		expect(admitted).toBeLessThan(0.25);
	});

	test('a model stored before its shares at the cut-offs were recorded still loads and admits every tie', () => {
		const { cutoffShares, ...old } = JSON.parse(serializeUplift(model));
		expect(cutoffShares.above[19] + cutoffShares.at[19]).toBeGreaterThanOrEqual(0.2 - 1e-9);
		const back = deserializeUplift(JSON.stringify(old));
		expect(back.cutoffShares).toBeUndefined();
		expect(admitTop(back, 20, cutoffFor(back, 20), 'anyone', 'cart')).toEqual({ threshold: cutoffFor(back, 20), admitted: true });
		expect(() => deserializeUplift(JSON.stringify({ ...old, cutoffShares: { above: cutoffShares.above, at: [2] } }))).toThrow(/shares at the cut-offs are not 100 shares between 0 and 1/);
	});

	test('a file that is not a whole uplift model is refused with a reason', () => {
		const json = serializeUplift(model);
		expect(() => deserializeUplift('nope')).toThrow(/not JSON/);
		expect(() => deserializeUplift(json.replace('"nudge-uplift/1"', '"nudge-uplift/9"'))).toThrow(/unknown format/);
		expect(() => deserializeUplift(json.replace('"name":"x1"', '"name":"y1"'))).toThrow(/fingerprint/);
		const edited = JSON.parse(json);
		expect(() => deserializeUplift(JSON.stringify({ ...edited, cutoffs: [...edited.cutoffs.slice(1), 'x'] }))).toThrow(/cut-offs, .* not numbers/);
		expect(() => deserializeUplift(JSON.stringify({ ...edited, averageEffect: null }))).toThrow(/average effect/);
		expect(() => deserializeUplift(JSON.stringify({ ...edited, evaluation: {} }))).toThrow(/evaluation is missing/);
		const learner = edited.learner.kind === 't-learner' ? { ...edited.learner, calibrators: {} } : { ...edited.learner, low: 1, high: 0 };
		expect(() => deserializeUplift(JSON.stringify({ ...edited, learner }))).toThrow(/calibration is missing|outcome range is missing/);
		const propensity = serializeModel(trainModel(train.table, { target: 'converted', exclude: ['treatment'], trees: 3 }));
		expect(() => deserializeUplift(propensity)).toThrow(/propensity model .* not an uplift model/);
		// An average effect no difference of two conversion rates can be: a fallback gate would admit everyone (or no one).
		expect(() => deserializeUplift(JSON.stringify({ ...edited, averageEffect: 7 }))).toThrow(/not a usable Nudge uplift model: its average effect lies beyond ±100 percentage points/);
		// A cut-off beyond ±1 is read as predictions are now, clamped (transformed-outcome models stored before wrote such).
		expect(deserializeUplift(JSON.stringify({ ...edited, cutoffs: edited.cutoffs.map((c: number, k: number) => (k === 0 ? 1e9 : c)) })).cutoffs[0]).toBe(1);
		expect(() => deserializeUplift(JSON.stringify({ ...edited, cutoffs: [...edited.cutoffs].reverse() }))).toThrow(/cut-offs are not ordered from the highest/);
		// A model that beats random set to fallback, or one whose evaluation says it does not with the flag cleared: edited.
		expect(() => deserializeUplift(JSON.stringify({ ...edited, fallback: true }))).toThrow(/fallback flag \(true\) contradicts its own evaluation/);
	});

	test('a model file whose evaluation does not beat random never ranks contacts, whatever its fallback flag says', () => {
		const sim = simulate({ rows: 3000, seed: 9 });
		const flat = trainUplift(sim.table, { ...OPTIONS, trees: 3, replicates: 20 });
		expect(flat.evaluation.beatsRandom).toBe(false);
		const json = JSON.parse(serializeUplift(flat));
		expect(deserializeUplift(JSON.stringify(json)).fallback).toBe(true);
		expect(() => deserializeUplift(JSON.stringify({ ...json, fallback: false }))).toThrow(/not a usable Nudge uplift model: its fallback flag \(false\) contradicts its own evaluation/);
	});

	test('a pretty-printed uplift model file (keys in any order) is imported as an uplift model', async () => {
		const store = new SqliteStore(join(tempDir(), 'import.db'));
		try {
			const { format, ...rest } = JSON.parse(serializeUplift(model));
			await expect(importModel(store, 'pretty', JSON.stringify({ ...rest, format }, null, 2))).resolves.toBe(1);
			await expect(importModel(store, 'pretty', JSON.stringify(JSON.parse(serializeUplift(model)), null, '\t'))).resolves.toBe(2);
			expect((await store.listModelVersions('pretty')).map((v) => v.meta.kind)).toEqual(['uplift', 'uplift']);
			// Stored as given, it loads and activates as an uplift model.
			await activateModel(store, 'pretty', 1);
			expect((await activeUplift(store, 'pretty'))?.model.learner.kind).toBe(model.learner.kind);
		} finally {
			store.close();
		}
	});
});

describe('large tables', () => {
	test('400,000 rows with a 10% holdout are split and trained without overflowing the call stack', () => {
		const random = seededRandom(5);
		const rows: unknown[][] = [];
		for (let i = 0; i < 400_000; i++) {
			const treated = i % 10 ? 1 : 0;
			rows.push([String(Math.round(random() * 10)), String(treated), random() < (treated ? 0.03 : 0.02) ? '1' : '0']);
		}
		const model = trainUplift({ columns: ['x', 'treatment', 'converted'], rows }, { ...OPTIONS, replicates: 1, trees: 1, maxDepth: 2, learner: 'transformed-outcome' });
		expect(model.summary.trainRows + model.summary.testRows).toBe(400_000);
		expect(model.summary.testRows).toBeCloseTo(120_000, -2);
	});
});

describe('bad training data gets a clear error', () => {
	const base = simulate({ rows: 1000, seed: 41 }).table;
	const withColumn = (table: Table, column: string, value: (row: unknown[], i: number) => unknown): Table => {
		const c = table.columns.indexOf(column);
		return { columns: table.columns, rows: table.rows.map((row, i) => row.map((v, j) => (j === c ? value(row, i) : v))) };
	};

	test.each([
		['a missing treatment column', base, { ...OPTIONS, treatment: 'sent' }, /no treatment column "sent"/],
		['a missing outcome column', base, { ...OPTIONS, outcome: 'bought' }, /no target column "bought"/],
		['a non-binary treatment', withColumn(base, 'treatment', (_, i) => (i === 7 ? 'maybe' : '1')), OPTIONS, /Row 8 of the treatment column "treatment" is "maybe"/],
		['one arm empty', withColumn(base, 'treatment', () => 'yes'), OPTIONS, /No row of "treatment" is held out \(control\)/],
		['too few rows', { columns: base.columns, rows: base.rows.slice(0, 300) }, OPTIONS, /Too few rows to learn uplift: the .* arm has \d+ rows/],
		['the same column twice', base, { ...OPTIONS, outcome: 'treatment' }, /same column/],
	])('%s', (_, table, options, message) => {
		expect(() => trainUplift(table, options)).toThrow(message);
	});
});
