import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DecisionConsole } from '../../engine/audit/queries';
import { joinJsonl } from '../../engine/decide/lift';
import { seededRandom } from '../../engine/decide/sampling';
import { Engine } from '../../engine/engine';
import { loadPolicy } from '../../engine/policy/load';
import { SqliteStore } from '../../engine/store/sqlite';
import { decision, tempDir } from '../helpers/fixtures';

const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'dist/cli/nudge.js');
const nudge = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

/** A store with a 30% global holdout; treated contacts convert at 30%, held-out ones at 10% (seeded). */
async function experiment(path: string): Promise<void> {
	const policy = loadPolicy({ channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } }, holdout: { salt: 'cli', globalShare: 0.3 } });
	const engine = new Engine({ store: new SqliteStore(path), policy, random: seededRandom(4) });
	const world = seededRandom(9);
	for (let i = 0; i < 400; i++) {
		const d = await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { email: `p${i}@x.io` } }, { journey: 'cart', target: { dryRun: true } });
		if (world() < (d.reason === 'HOLDOUT' ? 0.1 : 0.3)) await engine.recordOutcome({ contactId: d.contactId, type: 'conversion' });
	}
	await engine.close();
}

describe('nudge lift', () => {
	test('from the decision log and from JSONL files: the same report, with intervals and sample sizes', async () => {
		const dir = tempDir();
		const store = join(dir, 'lift.db');
		await experiment(store);
		const table = nudge('lift', '--store', store);
		expect(table.stderr).toBe('');
		expect(table.status).toBe(0);
		expect(table.stdout).toMatch(/^journey\tarm\ttreated \(conv\/n\)/);
		expect(table.stdout).toMatch(/\ncart\tall\t\d+\.\d\d% \(\d+\/\d+\)\t\d+\.\d\d% \(\d+\/\d+\)\t\+\d+\.\d\d pp \[/);
		expect(table.stdout).toContain('Newcombe hybrid score interval');
		const json = nudge('lift', '--store', store, '--json');
		const [all] = JSON.parse(json.stdout);
		expect(all.treated.n + all.holdout.n).toBe(400);
		expect(all.significant).toBe(true);
		expect(all.absolute.low).toBeGreaterThan(0);

		// The same experiment as files: decisions without outcomes, outcomes beside them.
		const engine = new Engine({ store: new SqliteStore(store) });
		const exported: string[] = [];
		const outcomes: string[] = [];
		await engine.exportJsonl({}, (line) => {
			const d = JSON.parse(line);
			for (const o of d.outcomes) outcomes.push(JSON.stringify({ decisionId: d.decisionId, ...o }));
			exported.push(JSON.stringify({ ...d, outcomes: [] }));
		});
		await engine.close();
		writeFileSync(join(dir, 'd.jsonl'), exported.join('\n'));
		// A repeated outcome line counts once; one for an unknown decision is reported and skipped.
		writeFileSync(join(dir, 'o.jsonl'), [...outcomes, outcomes[0], JSON.stringify({ decisionId: 'd_gone', type: 'conversion' })].join('\n'));
		const fromFiles = nudge('lift', '--decisions', join(dir, 'd.jsonl'), '--outcomes', join(dir, 'o.jsonl'), '--json');
		expect(fromFiles.stderr).toMatch(/1 outcome\(s\) name decisions not in/);
		expect(JSON.parse(fromFiles.stdout)).toEqual(JSON.parse(json.stdout));
	});

	test("the cart journey's replayed samples: its orders (revenue) count as conversions in lift, the funnel and the console", async () => {
		const store = join(tempDir(), 'cart.db');
		const replayed = nudge('replay', '--events', join(ROOT, 'flows/samples/cart-abandonment.jsonl'), '--journey', 'cart-abandonment', '--store', store);
		expect(replayed.status).toBe(0);
		const lift = nudge('lift', '--store', store, '--journey', 'cart-abandonment', '--json');
		expect(lift.status).toBe(0);
		const [all] = JSON.parse(lift.stdout);
		expect(all).toMatchObject({ journey: 'cart-abandonment', arm: 'all' });
		expect(all.treated.conversions + all.holdout.conversions).toBeGreaterThan(0);
		// No `none` arm (treated decisions that sent nothing are in `all`); events that only updated the profile are counted apart.
		const profileOnly = replayed.stdout.trim().split('\n').filter((l) => JSON.parse(l).reason === 'NOT_A_TRIGGER').length;
		expect(profileOnly).toBeGreaterThan(0);
		expect(all.profileOnly).toBe(profileOnly);
		const table = nudge('lift', '--store', store, '--journey', 'cart-abandonment').stdout;
		expect(table.split('\n').filter((l) => l.startsWith('cart-abandonment\t')).map((l) => l.split('\t')[1])).toEqual(['all', ...JSON.parse(lift.stdout).slice(1).map((r: { arm: string }) => r.arm)]);
		expect(table).not.toMatch(/\tnone\t/);
		expect(table).toContain(`Events that only updated the profile (not triggers: no message, not part of lift): cart-abandonment ${profileOnly}.`);
		// The journey's own definition, not a reader's flag: asking for `conversion` alone finds none.
		const [strict] = JSON.parse(nudge('lift', '--store', store, '--journey', 'cart-abandonment', '--conversion', 'conversion', '--json').stdout);
		expect(strict.treated.conversions + strict.holdout.conversions).toBe(0);

		const engine = new Engine({ store: new SqliteStore(store) });
		try {
			const dc = new DecisionConsole(engine);
			const [consoleAll] = await dc.lift({ journey: 'cart-abandonment' });
			expect(consoleAll.treated.conversions + consoleAll.holdout.conversions).toBe(all.treated.conversions + all.holdout.conversions);
			const [funnel] = await dc.funnel({ journey: 'cart-abandonment' });
			expect(funnel.stages.find((s) => s.stage === 'converted')!.n).toBeGreaterThan(0);
		} finally {
			await engine.close();
		}
	});

	test('lift --decisions on a replay --out file equals lift --store on its store: the decisions carry their outcomes', () => {
		const dir = tempDir();
		const store = join(dir, 'cart.db');
		const out = join(dir, 'decisions.jsonl');
		expect(nudge('replay', '--events', join(ROOT, 'flows/samples/cart-abandonment.jsonl'), '--journey', 'cart-abandonment', '--store', store, '--out', out).status).toBe(0);
		const fromStore = nudge('lift', '--store', store, '--json');
		const fromFile = nudge('lift', '--decisions', out, '--json');
		expect([fromStore.status, fromFile.status]).toEqual([0, 0]);
		const [all] = JSON.parse(fromFile.stdout);
		expect(all.treated.conversions + all.holdout.conversions).toBeGreaterThan(0);
		expect(JSON.parse(fromFile.stdout)).toEqual(JSON.parse(fromStore.stdout));
	});

	test('bad arguments and bad lines are clear errors', async () => {
		const dir = tempDir();
		writeFileSync(join(dir, 'bad.jsonl'), '{"decisionId": "x"}\n');
		expect(nudge('lift', '--decisions', join(dir, 'bad.jsonl')).stderr).toMatch(/Decision line 1 is not a Nudge decision/);
		expect(nudge('lift', '--store', 'a', '--decisions', 'b').stderr).toMatch(/give --store or --decisions, not both/);
		expect(nudge('lift', '--store', join(dir, 's.db'), '--min-sample', '0').stderr).toMatch(/--min-sample must be a whole number/);
		expect(nudge('lift', '--store', join(dir, 'empty.db')).stderr).toMatch(/There is no store at .*empty\.db/);
		await new SqliteStore(join(dir, 'empty.db')).close();
		const empty = nudge('lift', '--store', join(dir, 'empty.db'));
		expect(empty.stdout).toMatch(/nothing to compare/);
		// A file that is not there or is a folder, and a range that ends before it starts: errors, not an empty report.
		expect(nudge('lift', '--decisions', join(dir, 'nonexist.jsonl'))).toMatchObject({ status: 2, stderr: `nudge: Decisions file not found: ${join(dir, 'nonexist.jsonl')} (check --decisions)\n` });
		expect(nudge('lift', '--decisions', join(dir, 'bad.jsonl'), '--outcomes', dir)).toMatchObject({ status: 2, stderr: `nudge: --outcomes ${dir} is a folder, not a file: give the file in it\n` });
		expect(nudge('lift', '--store', join(dir, 'empty.db'), '--from', '2026-11-03', '--to', '2026-11-02')).toMatchObject({ status: 2, stderr: expect.stringMatching(/from \(2026-11-03T00:00:00\.000Z\) must be before to/) });
		expect(nudge('--help').stdout).toContain('lift [--store PATH');
	});

	test('joinJsonl: bad outcome lines name their line', () => {
		const d = JSON.stringify(decision('d1'));
		expect(() => joinJsonl([d], ['{"type": "conversion"}'])).toThrow(/Outcome line 1 is not an outcome \(needs decisionId and type\)/);
		expect(() => joinJsonl([d], ['{"decisionId": "d1", "type": "bought"}'])).toThrow(/Outcome line 1 is not an outcome/);
		expect(() => joinJsonl(['nope'])).toThrow(/Decision line 1 is not JSON/);
		expect(joinJsonl([d, ''], ['{"decisionId": "d1", "type": "click"}']).decisions[0].outcomes).toHaveLength(1);
	});
});
