/** nudge-model in a real Node-RED runtime: trains from msg.payload rows or a file, activates, rolls back; nudge-score then uses it. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { closeAllEngines } from '../../engine/registry';
import { tableRecords } from '../../engine/scoring/table';
import { simulate } from '../../engine/scoring/uplift';
import { tempDir } from '../helpers/fixtures';
import { seedOutcomes, synthetic } from '../scoring/synthetic';
import { catchAll, credentials, engineNodeDef, engineOf, helper, lastStatus, nextCaught, nextMessage, nodeOf, NUDGE_NODES, TAB } from './_helpers';

const rows = tableRecords(synthetic(2000)).map((r) => {
	delete r['Last Seen'];
	return r;
});
const policy = JSON.stringify({ ...DEFAULT_POLICY, scoring: { ...DEFAULT_POLICY.scoring, model: 'lead' } });
const train = { type: 'nudge-model', z: TAB, engine: 'eng1', modelName: 'lead', target: 'Converted', exclude: 'Lead Id', trees: '30' };

// Node ids differ from every setting value: Node-RED takes a value equal to a node id for a reference.
function flow(): Record<string, unknown>[] {
	return [
		...catchAll(),
		engineNodeDef({ policy }),
		{ id: 'm_train', ...train, operation: 'train', activate: true, requireBetter: true, wires: [['out']] },
		{ id: 'm_rollback', ...train, operation: 'rollback', wires: [['out']] },
		{ id: 'm_list', ...train, operation: 'list', wires: [['out']] },
		{ id: 'm_retrain', ...train, operation: 'retrain', exclude: '', trees: '10', wires: [['out']] },
		{ id: 'm_uplift', ...train, modelName: 'cart-uplift', operation: 'train-uplift', treatment: 'treatment', target: 'converted', exclude: '', trees: '10', activate: true, wires: [['out']] },
		{ id: 'score', type: 'nudge-score', z: TAB, engine: 'eng1', wires: [['scored']] },
		{ id: 'out', type: 'helper', z: TAB },
		{ id: 'scored', type: 'helper', z: TAB },
	];
}

beforeAll(() => helper.startServer());
afterAll(async () => {
	await helper.stopServer();
	await closeAllEngines();
});
beforeEach(() => helper.load(NUDGE_NODES, flow(), credentials()));
afterEach(() => helper.unload());

async function result(id: string, msg: Record<string, unknown>) {
	const out = nextMessage('out', 15_000);
	nodeOf(id).receive(msg);
	return (await out).payload as Record<string, unknown>;
}

describe('nudge-model', () => {
	it('trains an uplift model on msg.payload rows: held-out Qini against random in the output and the status', async () => {
		const sim = simulate({ rows: 6000, seed: 3 });
		const trained = await result('m_uplift', { payload: tableRecords(sim.table) });
		expect(trained).toMatchObject({ name: 'cart-uplift', version: 1, active: 1, message: expect.stringMatching(/^saved and activated as cart-uplift v1; the model (beats|does not beat) random targeting/) });
		const uplift = trained.uplift as { evaluation: { qini: { estimate: number; low: number }; curve: unknown[] }; summary: { rows: number } };
		expect(uplift.summary.rows).toBe(6000);
		expect(uplift.evaluation.curve).toHaveLength(21);
		expect(lastStatus('m_uplift')?.text).toMatch(/^v1 Qini -?0\.\d{3}/);
		const bad = nextCaught();
		nodeOf('m_uplift').receive({ payload: tableRecords(sim.table).map((r) => ({ ...r, treatment: 'maybe' })) });
		expect((await bad).message).toMatch(/Row 1 of the treatment column "treatment" is "maybe"/);
	});

	it('trains on msg.payload rows, activates, shows it in the status, and score lead uses the model', async () => {
		const trained = await result('m_train', { payload: rows });
		expect(trained).toMatchObject({ name: 'lead', version: 1, active: 1, message: 'saved and activated as lead v1' });
		expect((trained.evaluation as { auc: number }).auc).toBeGreaterThan(0.9);
		const statuses = nodeOf('m_train').status.getCalls().map((c) => c.args[0].text);
		expect(statuses.slice(0, 3)).toEqual(['training…', 'training 0%', 'training 10%']);
		expect(statuses).toContain('training 100%');
		expect(lastStatus('m_train')).toEqual({ fill: 'green', shape: 'dot', text: expect.stringMatching(/^v1 AUC 0\.9\d active$/) });

		const scored = nextMessage('scored');
		nodeOf('score').receive({ payload: { type: 'track', name: 'Pricing Viewed', identities: { email: 'hot@example.com' }, traits: { Visits: 19, Source: 'Referral', 'Opted In': 'Yes' } } });
		expect(((await scored).decision as { score: unknown }).score).toMatchObject({ model: 'lead@v1', fallback: false, tier: 'hot' });
	});

	it('trains from a file named in msg.filename; a version that is not better stays inactive; rollback and list', async () => {
		const path = join(tempDir(), 'crm.csv');
		const table = synthetic(1500, 3);
		writeFileSync(path, [table.columns.join('\t'), ...table.rows.map((r) => r.join('\t'))].join('\n'));
		await result('m_train', { filename: path });
		const same = await result('m_train', { filename: path });
		expect(same).toMatchObject({ version: 2, active: 1, message: expect.stringMatching(/not activated: AUC .* does not beat the active v1/) });
		await engineOf().store.activateModelVersion({ name: 'lead', version: 2, action: 'activate', at: new Date().toISOString() });
		expect(await result('m_rollback', { note: 'back' })).toMatchObject({ version: 1, active: 1 });
		const listed = await result('m_list', {});
		expect((listed.versions as { version: number; active: boolean }[]).map((v) => [v.version, v.active])).toEqual([
			[1, true],
			[2, false],
		]);
		expect(lastStatus('m_list')).toEqual({ fill: 'green', shape: 'dot', text: '2 versions' });
	});

	it('retrains from the outcomes recorded on the engine\'s decisions', async () => {
		await seedOutcomes(engineOf(), 60, 'demo');
		const out = await result('m_retrain', {});
		expect(out).toMatchObject({ version: 1, summary: { rows: 60, positives: 30 }, evaluation: { auc: 1 } });
	});

	it('bad data stops the message with an actionable error; nothing is stored', async () => {
		const caught = nextCaught();
		nodeOf('m_train').receive({ payload: rows.map((r) => ({ ...r, Converted: '0' })) });
		expect((await caught).message).toMatch(/"Converted" has only one value \("0"\)/);
		expect(lastStatus('m_train')).toEqual({ fill: 'red', shape: 'dot', text: 'invalid input' });
		const again = nextCaught();
		nodeOf('m_rollback').receive({});
		expect((await again).message).toMatch(/Model lead has no earlier active version/);
		expect(await engineOf().store.listModelVersions('lead')).toEqual([]);
	});

	it('text in msg.payload is not read as a file (a caller’s body could name any file); a device or a folder as msg.filename is refused', async () => {
		const path = join(tempDir(), 'crm.csv');
		const table = synthetic(300, 3);
		writeFileSync(path, [table.columns.join(','), ...table.rows.map((r) => r.join(','))].join('\n'));
		const refusals: [Record<string, unknown>, RegExp][] = [
			[{ payload: path }, /^msg\.payload is text: give the rows in msg\.payload \(one object per contact\), or the data file as msg\.filename or in the node's Data file$/],
			// A device never ends: read, it would hold Node-RED's one thread until memory ran out.
			[{ filename: '/dev/zero' }, /^Cannot read the data file \/dev\/zero: it is not a regular file \(a device or a pipe\)/],
			[{ filename: tempDir() }, /^Cannot read the data file .*: it is a folder; give the path of a CSV, JSON or JSONL file$/],
		];
		for (const [msg, message] of refusals) {
			const caught = nextCaught();
			nodeOf('m_train').receive(msg);
			expect((await caught).message).toMatch(message);
		}
		expect(await engineOf().store.listModelVersions('lead')).toEqual([]);
		// The same file named in msg.filename trains.
		expect(await result('m_train', { filename: path, payload: 'ignored text' })).toMatchObject({ version: 1 });
	});
});
