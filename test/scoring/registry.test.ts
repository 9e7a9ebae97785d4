import { join } from 'node:path';
import { Engine } from '../../engine/engine';
import { NudgeError } from '../../engine/errors';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { OUTCOME_LABEL, outcomeTrainingTable } from '../../engine/scoring/outcomes';
import { activateModel, importModel, modelOperation, rollbackModel, trainAndSave } from '../../engine/scoring/registry';
import * as modelModule from '../../engine/scoring/model';
import { crossValidate, serializeModel, trainModel } from '../../engine/scoring/model';
import { simulate } from '../../engine/scoring/uplift';
import { trainAndSaveUplift } from '../../engine/scoring/uplift/registry';
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

	test('rolling back twice goes back two versions, never to the version just rolled back from', async () => {
		for (let seed = 1; seed <= 3; seed++) await trainAndSave(store, 'lead', table, { ...options, trees: 3, seed }, { activate: true, now });
		await rollbackModel(store, 'lead', { now });
		expect(await store.activeModelVersion('lead')).toBe(2);
		await rollbackModel(store, 'lead', { now });
		expect(await store.activeModelVersion('lead')).toBe(1);
		await expectNudgeError(rollbackModel(store, 'lead'), /no earlier active version/);
		// Activating a version again puts it on top: a rollback from it returns to the version it replaced.
		await activateModel(store, 'lead', 3, { now });
		await rollbackModel(store, 'lead', { now });
		expect(await store.activeModelVersion('lead')).toBe(1);
		expect((await store.modelActivations('lead')).map((a) => [a.action, a.version])).toEqual([
			['activate', 1],
			['activate', 2],
			['activate', 3],
			['rollback', 2],
			['rollback', 1],
			['activate', 3],
			['rollback', 1],
		]);
	});

	test('two trainings with require-better at once: the weaker one does not replace the better one activated meanwhile', async () => {
		await trainAndSave(store, 'lead', table, { ...options, exclude: [...weak.exclude, 'Source'], trees: 10 }, { activate: true, now });
		// The weaker training reads the active version (v1), then waits while the better one is trained and activated.
		let weakerRead!: () => void;
		const weakerHasRead = new Promise<void>((resolve) => (weakerRead = resolve));
		let betterDone!: () => void;
		const waitForBetter = new Promise<void>((resolve) => (betterDone = resolve));
		let activeReads = 0;
		const racing = new Proxy(store, {
			get(target, prop) {
				const value = Reflect.get(target, prop, target);
				if (prop !== 'getModelVersion') return typeof value === 'function' ? value.bind(target) : value;
				return async (name: string, version?: number) => {
					const record = await target.getModelVersion(name, version);
					if (version === undefined && ++activeReads === 1) {
						weakerRead();
						await waitForBetter;
					}
					return record;
				};
			},
		});
		const weaker = trainAndSave(racing, 'lead', table, { ...weak, trees: 10 }, { activate: true, requireBetter: true, now });
		await weakerHasRead;
		const better = await trainAndSave(store, 'lead', table, { ...options, trees: 10, seed: 5 }, { activate: true, requireBetter: true, now });
		betterDone();
		const lost = await weaker;
		expect(better.activated).toBe(true);
		expect(better.model.evaluation.auc).toBeGreaterThan(lost.model.evaluation.auc);
		// Its activation found v1 no longer active, so it compared again, with the better version, and lost.
		expect(lost).toMatchObject({ activated: false, activation: expect.stringMatching(new RegExp(`does not beat the active v${better.version}`)) });
		expect(await store.activeModelVersion('lead')).toBe(better.version);
	});

	test('require-better while the active version is an uplift model or unreadable: the new version is saved, not activated, and the result says why', async () => {
		const sim = simulate({ rows: 2000, seed: 3 });
		await trainAndSaveUplift(store, 'lead', sim.table, { treatment: 'treatment', outcome: 'converted', learner: 't-learner', trees: 3, seed: 1, replicates: 5 }, { activate: true, now });
		const beside = await trainAndSave(store, 'lead', table, { ...options, trees: 5 }, { activate: true, requireBetter: true, now });
		expect(beside).toMatchObject({ version: 2, activated: false, activation: expect.stringMatching(/^saved as lead v2, not activated: the active v1 is an uplift model \(nudge uplift train\), so it cannot be compared .*Activate v2 by hand/) });
		// An active version edited in the database.
		await store.saveModelVersion('lead', now.toISOString(), {}, '{"format":"nudge-model/1","spec":{}}');
		await store.activateModelVersion({ name: 'lead', version: 3, action: 'activate', at: now.toISOString() });
		const overBroken = await trainAndSave(store, 'lead', table, { ...options, trees: 5 }, { activate: true, requireBetter: true, now });
		expect(overBroken).toMatchObject({ version: 4, activated: false, activation: expect.stringMatching(/^saved as lead v4, not activated: the active v3 cannot be read, so they cannot be compared \(This is not a usable Nudge model/) });
		expect(await store.activeModelVersion('lead')).toBe(3);
	});

	test('a version whose held-out rows hold no success cannot be judged: it is saved, not activated, and the result says what to add', async () => {
		// 2 successes in 1000 rows: the stratified fifth held out takes round(0.4) = 0 of them.
		const rows = Array.from({ length: 1000 }, (_, i) => [String(i % 17), i % 2 ? 'a' : 'b', i === 10 || i === 500 ? '1' : '0']);
		const r = await trainAndSave(store, 'lead', { columns: ['Visits', 'Source', 'Converted'], rows }, { target: 'Converted', trees: 3, minLeaf: 1 }, { activate: true, now });
		expect(Number.isNaN(r.model.evaluation.auc)).toBe(true);
		expect(r.activated).toBe(false);
		expect(r.activation).toMatch(/^saved as lead v1, not activated: its 200 held-out rows hold no success, .* Add rows with more successes/);
		expect(await store.activeModelVersion('lead')).toBeUndefined();
		expect(await store.listModelVersions('lead')).toHaveLength(1);
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

	test('an active version without a calibrator does not stop decisions: the rules score and say why', async () => {
		const store = new MemoryStore();
		const file = JSON.parse(serializeModel(trainModel(table, options)));
		delete file.calibrator;
		// As an older release could store it, or as edited in the database: it is the active version.
		await store.saveModelVersion('lead', now.toISOString(), {}, JSON.stringify(file));
		await store.activateModelVersion({ name: 'lead', version: 1, action: 'activate', at: now.toISOString() });
		const score = await scored(new Engine({ store, policy }), 'h@x.io', hot);
		expect(score).toMatchObject({ fallback: true, note: expect.stringMatching(/^rules used: model "lead" could not be loaded \(This is not a usable Nudge model: its calibration is missing/) });
	});

	test('an active version that fails while scoring a contact does not stop decisions: the rules score and say why', async () => {
		const store = new MemoryStore();
		await trainAndSave(store, 'lead', table, options, { activate: true, now });
		const failing = jest.spyOn(modelModule, 'scoreRecord').mockImplementation(() => {
			throw new TypeError("Cannot read properties of undefined (reading 'kind')");
		});
		try {
			const score = await scored(new Engine({ store, policy }), 'h@x.io', hot);
			expect(failing).toHaveBeenCalled();
			expect(score).toMatchObject({ fallback: true, note: "rules used: model lead v1 could not score this contact (Cannot read properties of undefined (reading 'kind'))" });
			expect(score.model).toMatch(/^rules:/);
		} finally {
			failing.mockRestore();
		}
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
