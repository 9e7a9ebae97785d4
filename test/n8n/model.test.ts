/** Nudge Model inside n8n's WorkflowExecute: train from items or a file, activate, roll back, and Score using it. */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, ftruncateSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { IDataObject } from 'n8n-workflow';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { closeAllEngines } from '../../engine/registry';
import { MAX_DATA_FILE_BYTES, tableRecords } from '../../engine/scoring/table';
import { simulate } from '../../engine/scoring/uplift';
import { tempDir } from '../helpers/fixtures';
import { seedOutcomes, synthetic } from '../scoring/synthetic';
import { fixture } from './fixtures';
import { nudgeNode, runWorkflow, type WorkflowJson } from './harness';

afterAll(closeAllEngines);

// The folder n8n lets nodes read files from, as an n8n 2 server's N8N_RESTRICT_FILE_ACCESS_TO (default ~/.n8n-files).
const readable = tempDir('nudge-n8n-files-');
process.env.N8N_RESTRICT_FILE_ACCESS_TO = readable;

const rows = tableRecords(synthetic(2000)).map((r) => {
	delete r['Last Seen'];
	return r as IDataObject;
});
const policy = JSON.stringify({ ...DEFAULT_POLICY, scoring: { ...DEFAULT_POLICY.scoring, model: 'lead' } });
const train = { operation: 'train', modelName: 'lead', target: 'Converted', exclude: 'Lead Id', trees: 30 };

async function run(f: ReturnType<typeof fixture>, parameters: IDataObject, input: IDataObject[] = [{}], extra = {}) {
	const wf: WorkflowJson = { nodes: [nudgeNode('Model', 'nudgeModel', parameters, extra)], connections: {} };
	return runWorkflow({ workflow: wf, startNode: 'Model', input: [input.map((json) => ({ json }))], credentials: f.credentials });
}

describe('Nudge Model', () => {
	it('trains on the input items, activates, and Nudge Score then scores with the model', async () => {
		const f = fixture({ policy });
		const trained = await run(f, { ...train, activate: true }, rows);
		expect(trained.error).toBeUndefined();
		const [out] = trained.output('Model');
		expect(out).toMatchObject({ name: 'lead', version: 1, active: 1, message: 'saved and activated as lead v1', summary: { rows: 2000, trees: 30 } });
		expect((out.evaluation as IDataObject).auc).toBeGreaterThan(0.9);

		const score: WorkflowJson = { nodes: [nudgeNode('Score Lead', 'nudgeScore')], connections: {} };
		const event = { type: 'track', name: 'Pricing Viewed', identities: { email: 'hot@example.com' }, traits: { Visits: 19, Source: 'Referral', 'Opted In': 'Yes' } };
		const result = await runWorkflow({ workflow: score, startNode: 'Score Lead', input: [[{ json: event }]], credentials: f.credentials });
		const decision = result.output('Score Lead')[0].decision as IDataObject;
		expect(decision.score).toMatchObject({ model: 'lead@v1', fallback: false, tier: 'hot' });
	});

	it('trains from a CSV file, keeps the better version, lists versions and rolls back', async () => {
		const f = fixture({ policy });
		const path = join(readable, 'crm.csv');
		const table = synthetic(1500, 3);
		writeFileSync(path, [table.columns.join(';'), ...table.rows.map((r) => r.join(';'))].join('\n'));
		const fileTrain = { ...train, dataSource: 'file', filePath: path };
		expect((await run(f, { ...fileTrain, activate: true, exclude: 'Lead Id,Visits' })).output('Model')[0]).toMatchObject({ version: 1, active: 1 });
		expect((await run(f, { ...fileTrain, activate: true, requireBetter: true })).output('Model')[0]).toMatchObject({ version: 2, active: 2 });
		const evaluated = (await run(f, { operation: 'evaluate', modelName: 'lead', dataSource: 'file', filePath: path, version: 1 })).output('Model')[0];
		expect(evaluated).toMatchObject({ version: 1, active: 2, message: expect.stringMatching(/^lead v1: AUC 0\.\d+ on 1500 rows$/) });
		expect((await run(f, { operation: 'rollback', modelName: 'lead', note: 'v2 misbehaves' })).output('Model')[0]).toMatchObject({ version: 1, active: 1, message: 'lead v1 is now active' });
		const listed = (await run(f, { operation: 'list', modelName: 'lead' })).output('Model')[0];
		expect((listed.versions as IDataObject[]).map((v) => [v.version, v.active])).toEqual([
			[1, true],
			[2, false],
		]);
	});

	it('File Path reads only what n8n lets nodes read: a file outside N8N_RESTRICT_FILE_ACCESS_TO, in a .git folder, behind a symbolic link or over the size limit is refused and nothing is trained', async () => {
		const f = fixture({ policy });
		const table = synthetic(300, 3);
		const csv = [table.columns.join(';'), ...table.rows.map((r) => r.join(';'))].join('\n');
		const outside = join(tempDir(), 'crm.csv');
		mkdirSync(join(readable, '.git'));
		const inGit = join(readable, '.git', 'crm.csv');
		for (const path of [outside, inGit]) writeFileSync(path, csv);
		for (const path of [outside, inGit]) {
			const refused = await run(f, { ...train, dataSource: 'file', filePath: path, activate: true });
			expect(refused.error?.message).toBe(`n8n does not let nodes read ${path}: put the file in a folder N8N_RESTRICT_FILE_ACCESS_TO allows (n8n 2's default is ~/.n8n-files), not in n8n's own folder or a .git folder`);
		}
		symlinkSync(dirname(outside), join(readable, 'linked'));
		const linked = await run(f, { ...train, dataSource: 'file', filePath: join(readable, 'linked', 'crm.csv'), activate: true });
		expect(linked.error?.message).toMatch(/n8n does not let nodes read .*linked\/crm\.csv|Cannot read the data file .*linked\/crm\.csv: Access to the file is not allowed/);
		const missing = await run(f, { ...train, dataSource: 'file', filePath: join(readable, 'gone.csv') });
		expect(missing.error?.message).toBe(`Cannot read the data file ${join(readable, 'gone.csv')}: no such file`);
		// Past the size limit the read stops (a sparse file: no disk used) and the run says what to do.
		const large = join(readable, 'large.csv');
		const fd = openSync(large, 'w');
		ftruncateSync(fd, MAX_DATA_FILE_BYTES + 1);
		closeSync(fd);
		const tooLarge = await run(f, { ...train, dataSource: 'file', filePath: large, activate: true });
		expect(tooLarge.error?.message).toBe(`The data file ${large} is larger than 100 MB: train on a sample of its rows (a few hundred thousand are plenty)`);
		expect((await run(f, { operation: 'list', modelName: 'lead' })).output('Model')[0]).toMatchObject({ versions: [] });
	});

	it('a named pipe in the readable folder is refused as not a regular file, not waited on for ever (n8n’s read stream would hold the execution and a thread of its pool)', async () => {
		const f = fixture({ policy });
		const fifo = join(readable, 'export-pipe.csv');
		execFileSync('mkfifo', [fifo]);
		try {
			const outcome = await Promise.race([
				run(f, { ...train, dataSource: 'file', filePath: fifo }).then((r) => (r.error ? `error: ${r.error.message}` : 'trained')),
				new Promise<string>((resolve) => setTimeout(() => resolve('no answer after 10 s'), 10_000)),
			]);
			expect(outcome).toBe(`error: Cannot read the data file ${fifo}: it is not a regular file (a device or a pipe); give the path of a CSV, JSON or JSONL file`);
		} finally {
			// Lets a waiting open go (a writer that closes at once: the reader sees the end of the file).
			try {
				closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
			} catch {
				// no reader waiting
			}
		}
	}, 30_000);

	it('retrains from the outcomes recorded on Nudge decisions', async () => {
		const f = fixture({ policy });
		await seedOutcomes(f.engine, 60, 'demo');
		const out = (await run(f, { operation: 'train', modelName: 'lead', dataSource: 'outcomes', trees: 10 })).output('Model')[0];
		expect(out).toMatchObject({ version: 1, message: 'saved as lead v1, not activated', summary: { rows: 60, positives: 30 } });
		expect((out.evaluation as IDataObject).auc).toBe(1);
	});

	it('bad input stops the run with an actionable message, and nothing is stored or activated', async () => {
		const f = fixture({ policy });
		const noTarget = await run(f, { ...train, target: 'Won', activate: true }, rows);
		expect(noTarget.error?.message).toMatch(/The data has no target column "Won"/);
		const oneClass = await run(f, { ...train, activate: true }, rows.map((r) => ({ ...r, Converted: '1' })));
		expect(oneClass.error?.message).toMatch(/"Converted" has only one value/);
		const missingVersion = await run(f, { operation: 'activate', modelName: 'lead', version: 3 });
		expect(missingVersion.error?.message).toMatch(/There is no model named "lead": train one first/);
		const listed = (await run(f, { operation: 'list', modelName: 'lead' })).output('Model')[0];
		expect(listed).toMatchObject({ versions: [], message: 'lead: 0 version(s)' });
		expect(listed.active).toBeUndefined();
		// With "On Error → Continue" the error becomes the output item.
		const continued = await run(f, { ...train, target: 'Won' }, rows.slice(0, 5), { continueOnFail: true });
		expect(continued.output('Model')[0].error).toMatch(/no target column "Won"/);
	});
});

describe('Nudge Model: Train Uplift', () => {
	const sim = simulate({ rows: 6000, seed: 3 });
	const items = tableRecords(sim.table) as IDataObject[];

	it('trains an uplift model on the input items and reports the held-out Qini against random', async () => {
		const f = fixture({ policy });
		const trained = await run(f, { operation: 'trainUplift', modelName: 'cart-uplift', treatment: 'treatment', target: 'converted', trees: 10, activate: true }, items);
		expect(trained.error).toBeUndefined();
		const [out] = trained.output('Model');
		expect(out).toMatchObject({ name: 'cart-uplift', version: 1, active: 1, message: expect.stringMatching(/^saved and activated as cart-uplift v1; the model (beats|does not beat) random targeting/) });
		const uplift = out.uplift as IDataObject;
		expect(uplift.summary).toMatchObject({ rows: 6000, trees: 10 });
		expect(((uplift.evaluation as IDataObject).curve as IDataObject[]).length).toBe(21);
		expect(uplift.fallback).toBe(!(uplift.evaluation as IDataObject).beatsRandom);
	});

	it('a treatment column that is not yes/no stops the run with the row and value', async () => {
		const f = fixture({ policy });
		const bad = await run(f, { operation: 'trainUplift', modelName: 'cart-uplift', treatment: 'x0', target: 'converted', trees: 5 }, items);
		expect(bad.error?.message).toMatch(/Row 1 of the treatment column "x0" is "[-\d.]+": it must say whether the contact was messaged/);
	});
});

describe('flows/n8n/retrain.json', () => {
	it('is a weekly schedule into Nudge Model: retrain from recorded outcomes, activate only if better', async () => {
		const json = JSON.parse(readFileSync(join(__dirname, '../../flows/n8n/retrain.json'), 'utf8')) as WorkflowJson & IDataObject;
		expect(json.name).toBe('Nudge — Retrain lead model');
		const schedule = json.nodes.find((n) => n.type === 'n8n-nodes-base.scheduleTrigger')!;
		const model = json.nodes.find((n) => n.type === 'n8n-nodes-nudge.nudgeModel')!;
		expect((json.connections as IDataObject)[schedule.name]).toEqual({ main: [[{ node: model.name, type: 'main', index: 0 }]] });
		expect(model.parameters).toMatchObject({ operation: 'train', modelName: 'lead', dataSource: 'outcomes', activate: true, requireBetter: true });
		// The Model node as the schedule would run it (n8n's own Schedule Trigger is not installed here).
		const f = fixture({ policy });
		await seedOutcomes(f.engine, 40, 'flow');
		const wf: WorkflowJson = { nodes: json.nodes.filter((n) => n.type !== schedule.type), connections: {} };
		const result = await runWorkflow({ workflow: wf, startNode: model.name, input: [[{ json: { timestamp: new Date().toISOString() } }]], credentials: f.credentials });
		expect(result.error).toBeUndefined();
		expect(result.output(model.name)[0]).toMatchObject({ name: 'lead', version: 1, active: 1, summary: { rows: 40 } });
		const [activation] = await f.engine.store.modelActivations('lead');
		expect(activation).toMatchObject({ version: 1, action: 'activate', note: 'weekly retrain' });
	});
});
