import { join } from 'node:path';
import { Engine } from '../../engine/engine';
import { NudgeError } from '../../engine/errors';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { OUTCOME_LABEL, outcomeTrainingTable } from '../../engine/scoring/outcomes';
import { activateModel, importModel, modelOperation, rollbackModel, trainAndSave } from '../../engine/scoring/registry';
import { crossValidate, serializeModel } from '../../engine/scoring/model';
import { MemoryStore } from '../../engine/store/memory';
import { SqliteStore } from '../../engine/store/sqlite';
import type { Store } from '../../engine/store/types';
import { tempDir, trackEvent } from '../helpers/fixtures';
import { synthetic } from './synthetic';

const options = { target: 'Converted', exclude: ['Lead Id', 'Last Seen'], trees: 20 };
const now = new Date('2026-11-20T10:00:00Z');
const table = synthetic(2000);
// Knows nothing about visits, the strongest signal: a weaker model.
const weak = { ...options, exclude: [...options.exclude, 'Visits'] };

async function expectNudgeError(p: Promise<unknown>, message: RegExp): Promise<void> {
	const error = await p.then(
		() => undefined,
		(e) => e,
	);
	expect(error).toBeInstanceOf(NudgeError);
	expect(error.message).toMatch(message);
}

describe.each([
	['memory', () => new MemoryStore()],
	['sqlite', () => new SqliteStore(join(tempDir(), 'models.db'))],
] as [string, () => Store][])('model versions on the %s store', (_kind, open) => {
	let store: Store;
	beforeEach(() => (store = open()));
	afterEach(() => store.close());

	test('saving does not activate; activation and rollback are explicit and logged', async () => {
		const v1 = await trainAndSave(store, 'lead', table, weak, { now });
		expect(v1).toMatchObject({ version: 1, activated: false });
		expect(await store.activeModelVersion('lead')).toBeUndefined();
		await activateModel(store, 'lead', 1, { now, note: 'first' });
		const v2 = await trainAndSave(store, 'lead', table, options, { activate: true, requireBetter: true, now });
		expect(v2.activated).toBe(true);
		expect(v2.model.evaluation.auc).toBeGreaterThan(v2.activeAuc!);
		expect(await store.activeModelVersion('lead')).toBe(2);
		// The weak model again: it does not beat v2 on the same held-out rows, so v2 stays active.
		const v3 = await trainAndSave(store, 'lead', table, weak, { activate: true, requireBetter: true, now });
		expect(v3).toMatchObject({ version: 3, activated: false });
		expect(v3.activation).toMatch(/does not beat the active v2/);
		expect(await store.activeModelVersion('lead')).toBe(2);
		await rollbackModel(store, 'lead', { now });
		expect(await store.activeModelVersion('lead')).toBe(1);
		expect((await store.modelActivations('lead')).map((a) => [a.action, a.version, a.previous])).toEqual([
			['activate', 1, undefined],
			['activate', 2, 1],
			['rollback', 1, 2],
		]);
		const listed = await store.listModelVersions('lead');
		expect(listed.map((v) => [v.version, v.active])).toEqual([
			[1, true],
			[2, false],
			[3, false],
		]);
		expect(listed[1].meta).toMatchObject({ target: 'Converted', positive: '1', summary: { rows: 2000 }, evaluation: { auc: v2.model.evaluation.auc } });
	});

	test('bad models and unknown versions are refused and nothing is activated', async () => {
		await expectNudgeError(activateModel(store, 'lead', 1), /no model named "lead"/);
		await expectNudgeError(rollbackModel(store, 'lead'), /no earlier active version/);
		const { model } = await trainAndSave(store, 'lead', table, options, { activate: true, now });
		await expectNudgeError(activateModel(store, 'lead', 7), /has no version 7 \(its versions: 1\)/);
		const mixed = JSON.parse(serializeModel(model));
		mixed.spec.features.pop();
		mixed.spec.fingerprint = 'x';
		await expectNudgeError(importModel(store, 'lead', JSON.stringify(mixed)), /feature spec does not match/);
		await expectNudgeError(trainAndSave(store, 'lead', { columns: ['a'], rows: [['1']] }, options, { activate: true }), /no target column "Converted"/);
		await expectNudgeError(trainAndSave(store, 'bad name!', table, options), /Model name "bad name!" is not valid/);
		expect((await store.listModelVersions('lead')).map((v) => v.version)).toEqual([1]);
		expect(await store.modelActivations('lead')).toHaveLength(1);
	});
});

test('model versions survive reopening the SQLite store', async () => {
	const path = join(tempDir(), 'reopen.db');
	const first = new SqliteStore(path);
	await trainAndSave(first, 'lead', table, options, { activate: true, now });
	await first.close();
	const again = new SqliteStore(path);
	expect(await again.activeModelVersion('lead')).toBe(1);
	expect((await again.getModelVersion('lead'))?.body.length).toBeGreaterThan(1000);
	await again.close();
});

describe('the engine scores with the active model', () => {
	const policy = loadPolicy({ ...DEFAULT_POLICY, scoring: { ...DEFAULT_POLICY.scoring, model: 'lead' } });
	const hot = { traits: { Visits: 19, Source: 'Referral', 'Opted In': 'Yes' } };
	const cold = { traits: { Visits: 0, Source: 'Direct', 'Opted In': 'No' } };

	async function scored(engine: Engine, email: string, extra: Record<string, unknown>) {
		const { decision } = await engine.ingest(trackEvent(email, 'Pricing Viewed', extra));
		return (await engine.score(decision)).score!;
	}

	test('no active version: the rules score, and the score says so', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy });
		const score = await scored(engine, 'a@x.io', hot);
		expect(score).toMatchObject({ fallback: true, note: 'rules used: no version of model "lead" is active' });
		expect(score.model).toMatch(/^rules:/);
	});

	test('with an active, well-trained version: a calibrated probability, its tier and factors from the profile traits', async () => {
		const store = new MemoryStore();
		await trainAndSave(store, 'lead', table, options, { activate: true, now });
		const engine = new Engine({ store, policy });
		const h = await scored(engine, 'h@x.io', hot);
		const c = await scored(engine, 'c@x.io', cold);
		expect(h).toMatchObject({ model: 'lead@v1', fallback: false, tier: 'hot' });
		expect(h.note).toBeUndefined();
		expect(c).toMatchObject({ model: 'lead@v1', fallback: false, tier: 'cold' });
		expect(h.factors.map((f) => f.label)).toContain('Visits = 19 raises the score');
		expect(c.factors.map((f) => f.label)).toContain('Visits = 0 lowers the score');
	});

	test('an active version that no longer loads does not stop decisions: the rules score and say why', async () => {
		const store = new MemoryStore();
		await store.saveModelVersion('lead', now.toISOString(), {}, '{"format":"nudge-model/1","spec":{}}');
		await store.activateModelVersion({ name: 'lead', version: 1, action: 'activate', at: now.toISOString() });
		const score = await scored(new Engine({ store, policy }), 'h@x.io', hot);
		expect(score).toMatchObject({ fallback: true, note: expect.stringMatching(/^rules used: model "lead" could not be loaded \(This is not a usable Nudge model/) });
	});

	test('cold start: a version trained on too little data is not used, and every score says why', async () => {
		const store = new MemoryStore();
		await trainAndSave(store, 'lead', synthetic(600), options, { activate: true, now });
		const engine = new Engine({ store, policy });
		const score = await scored(engine, 'h@x.io', hot);
		expect(score.fallback).toBe(true);
		expect(score.note).toMatch(/model lead v1 is not used yet: trained on 600 rows with \d+ successes; a model scores from 1000 rows with 120 successes/);
	});
});

describe('learning from outcomes', () => {
	test('decisions and their recorded conversions become labelled rows; retraining stores a version that learned the pattern', async () => {
		const store = new MemoryStore();
		const engine = new Engine({ store, policy: loadPolicy({ ...DEFAULT_POLICY, scoring: { ...DEFAULT_POLICY.scoring, model: 'lead' } }) });
		// Pro-plan contacts who viewed pricing at least twice convert; a few others do too.
		for (let c = 0; c < 400; c++) {
			const plan = c % 2 ? 'pro' : 'free';
			const views = c % 5;
			let last;
			for (let v = 0; v <= views; v++) last = await engine.ingest(trackEvent(`c${c}@x.io`, 'Pricing Viewed', { eventId: `e-${c}-${v}`, traits: { plan, region: ['eu', 'us'][c % 3 ? 0 : 1] } }));
			if ((plan === 'pro' && views >= 2) || c % 37 === 0) await engine.recordOutcome({ decisionId: last!.decision.decisionId, type: 'conversion' });
		}
		const table = await outcomeTrainingTable(store);
		expect(table.rows).toHaveLength(400);
		expect(table.columns).toEqual(expect.arrayContaining(['Pricing Viewed', 'plan', 'region', 'converted']));
		const result = await modelOperation(store, { operation: 'retrain', name: 'lead', options: { trees: 20, minLeaf: 3 }, activate: true });
		expect(result).toMatchObject({ version: 1, active: 1, summary: { rows: 400 } });
		// Its held-out fifth (about 80 rows) moves with which of the 11 off-pattern converters land in it (AUC 0.90-1.0
		// over runs), so the pattern is judged by 5-fold cross-validation over all 400 rows (0.945-0.965 over runs).
		expect(result.evaluation!.auc).toBeGreaterThan(0.7);
		const folds = crossValidate(table, { trees: 20, minLeaf: 3, target: OUTCOME_LABEL, positive: '1' });
		expect(folds.reduce((sum, e) => sum + e.auc, 0) / folds.length).toBeGreaterThan(0.9);
		// 400 contacts is below the cold-start threshold: the engine still scores with the rules, and says so.
		const { decision } = await engine.ingest(trackEvent('new@x.io', 'Pricing Viewed', { traits: { plan: 'pro' } }));
		expect((await engine.score(decision)).score).toMatchObject({ fallback: true, note: expect.stringMatching(/trained on 400 rows/) });
	});
});
