import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { seededRandom } from '../../engine/decide/sampling';
import { Engine } from '../../engine/engine';
import { loadPolicy } from '../../engine/policy/load';
import { simulate } from '../../engine/scoring/uplift';
import { SqliteStore } from '../../engine/store/sqlite';
import { tempDir, trackEvent } from '../helpers/fixtures';

/** These run the built CLI (`npm test` builds first). */
const CLI = join(resolve(__dirname, '../..'), 'dist/cli/nudge.js');
const nudge = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

describe('nudge uplift train / evaluate', () => {
	const dir = tempDir();
	const store = join(dir, 'nudge.db');
	const sim = simulate({ rows: 8000, seed: 3 });
	const csv = join(dir, 'uplift.csv');
	const write = (file: string, columns: string[], rows: unknown[][]) => writeFileSync(file, [columns.join(','), ...rows.map((r) => r.join(','))].join('\n'));
	write(csv, [...sim.table.columns, 'truth'], sim.table.rows.map((r, i) => [...r, sim.trueUplift[i]]));
	const args = ['--data', csv, '--treatment', 'treatment', '--outcome', 'converted'];

	test('train prints the held-out evaluation against random and treat-all, and stores a version', () => {
		const out = nudge('uplift', 'train', ...args, '--exclude', 'truth', '--store', store, '--name', 'cart', '--activate', '--trees', '20');
		expect(out.stderr).toBe('');
		expect(out.status).toBe(0);
		expect(out.stdout).toMatch(/^Uplift model: (t-learner|transformed-outcome) \(out-of-bag Qini: t-learner -?[\d.]+, transformed-outcome -?[\d.]+\), trained on (\d+) rows/);
		const trained = Number(/trained on (\d+) rows/.exec(out.stdout)![1]);
		expect(out.stdout).toMatch(new RegExp(`Evaluated on ${8000 - trained} held-out rows`));
		expect(Math.abs(trained - 5600)).toBeLessThanOrEqual(2);
		expect(out.stdout).toMatch(/Qini coefficient\s+0\.\d{4} \(95% -?0\.\d{4} to 0\.\d{4}\)\s+random targeting = 0/);
		expect(out.stdout).toMatch(/top 30%: uplift \+\d+\.\d\d pp .* vs random [\d.]+, treat-all [\d.]+, [\d.]+× a random 30%/);
		expect(out.stdout).toMatch(/The model beats random targeting/);
		expect(out.stdout).toMatch(/Saved and activated as cart v1/);
		const json = JSON.parse(nudge('uplift', 'train', ...args, '--exclude', 'truth', '--store', store, '--name', 'cart', '--trees', '5', '--json').stdout);
		expect(json.summary).toMatchObject({ rows: 8000, trainRows: trained, testRows: 8000 - trained, trees: 5 });
		expect(json.evaluation.curve).toHaveLength(21);
	});

	test('evaluate a score column of any CSV, a stored model, or train-and-judge without storing', () => {
		const truth = nudge('uplift', 'evaluate', ...args, '--score', 'truth');
		expect(truth.status).toBe(0);
		expect(truth.stdout).toMatch(/^The score column "truth" on all 8000 rows:/);
		expect(truth.stdout).toMatch(/The model beats random targeting/);
		// Minus the truth is the worst possible targeting: it says so.
		const reversed = join(dir, 'reversed.csv');
		write(reversed, [...sim.table.columns, 'truth'], sim.table.rows.map((r, i) => [...r, -sim.trueUplift[i]]));
		const worst = nudge('uplift', 'evaluate', '--data', reversed, '--treatment', 'treatment', '--outcome', 'converted', '--score', 'truth');
		expect(worst.stdout).toMatch(/does not beat random targeting.*The engine uses the average effect/);
		const stored = nudge('uplift', 'evaluate', ...args, '--model', 'cart', '--store', store);
		expect(stored.stdout).toMatch(/^cart v1 on all 8000 rows \(honest only on rows it was not trained on/);
		// A model file from --out moves to another store with nudge import, and scores the same there.
		const file = join(dir, 'cart-uplift.json');
		expect(nudge('uplift', 'train', ...args, '--exclude', 'truth', '--store', store, '--name', 'cart', '--trees', '5', '--out', file).status).toBe(0);
		const other = join(dir, 'other.db');
		expect(nudge('import', '--model', 'cart', '--file', file, '--store', other, '--activate').stdout).toBe('Stored as cart v1 and activated.\n');
		const there = JSON.parse(nudge('uplift', 'evaluate', ...args, '--model', 'cart', '--store', other, '--json').stdout);
		const here = JSON.parse(nudge('uplift', 'evaluate', ...args, '--model', 'cart', '--version', '3', '--store', store, '--json').stdout);
		expect(there.evaluation.qini).toEqual(here.evaluation.qini);
		const fresh = nudge('uplift', 'evaluate', ...args, '--exclude', 'truth', '--trees', '5', '--json');
		expect(JSON.parse(fresh.stdout).summary.rows).toBe(8000);
	});

	test.each([
		['a missing treatment column', ['--treatment', 'sent'], /no treatment column "sent"/],
		['a missing outcome column', ['--outcome', 'bought'], /no target column "bought"/],
		['a non-binary treatment', ['--treatment', 'x0'], /Row 1 of the treatment column "x0" is "[-\d.]+": it must say whether the contact was messaged/],
		['a missing score column', ['--score', 'nope'], /no score column "nope"/],
	])('%s is a clear error', (_, extra, message) => {
		const out = nudge('uplift', 'evaluate', ...args, ...extra);
		expect(out.status).toBe(2);
		expect(out.stderr).toMatch(message);
	});

	test('one arm empty, too few rows, a bad sub-command: clear errors; --help explains', () => {
		const oneArm = join(dir, 'one-arm.csv');
		write(oneArm, sim.table.columns, sim.table.rows.map((r) => [...r.slice(0, 10), '1', r[11]]));
		expect(nudge('uplift', 'train', '--data', oneArm, '--treatment', 'treatment', '--outcome', 'converted', '--store', store).stderr).toMatch(/No row of "treatment" is held out \(control\)/);
		const few = join(dir, 'few.csv');
		write(few, sim.table.columns, sim.table.rows.slice(0, 250));
		expect(nudge('uplift', 'train', '--data', few, '--treatment', 'treatment', '--outcome', 'converted', '--store', store).stderr).toMatch(/Too few rows to learn uplift/);
		const text = join(dir, 'text-score.csv');
		write(text, [...sim.table.columns, 'segment'], sim.table.rows.map((r, i) => [...r, i === 4 ? 'high' : '0.1']));
		expect(nudge('uplift', 'evaluate', '--data', text, '--treatment', 'treatment', '--outcome', 'converted', '--score', 'segment').stderr).toMatch(/Row 5 of the score column "segment" is "high", not a number/);
		expect(nudge('uplift', 'predict').stderr).toMatch(/uplift needs train or evaluate, not "predict"/);
		expect(nudge('uplift', 'train').stderr).toMatch(/uplift train needs --data FILE --treatment COLUMN --outcome COLUMN, or --journey NAME/);
		expect(nudge('uplift', 'train', ...args, '--journey', 'cart').stderr).toMatch(/not both/);
		const help = nudge('uplift', '--help');
		expect(help.status).toBe(0);
		expect(help.stdout).toMatch(/nudge uplift train/);
		expect(help.stdout).toMatch(/Qini coefficient and AUUC/);
		// evaluate takes the options its train-on-70% run passes on: its usage names them.
		const evaluateUsage = help.stdout.slice(help.stdout.indexOf('uplift evaluate'), help.stdout.indexOf('\n      Uplift:'));
		for (const option of ['--positive VALUE', '--exclude A,B', '--learner', '--trees', '--seed']) expect(evaluateUsage).toContain(option);
	});

	test('evaluate refuses rows without a held-out (control) arm instead of saying a score beats random', () => {
		// Every row messaged: a score that merely predicts conversion (a propensity) would draw a rising Qini curve.
		const random = seededRandom(3);
		const rows: unknown[][] = [];
		for (let i = 0; i < 2000; i++) {
			const score = random();
			rows.push([score.toFixed(4), '1', random() < 0.5 * score ? '1' : '0']);
		}
		const file = join(dir, 'all-treated.csv');
		write(file, ['propensity', 'treatment', 'converted'], rows);
		const out = nudge('uplift', 'evaluate', '--data', file, '--treatment', 'treatment', '--outcome', 'converted', '--score', 'propensity');
		expect(out.stdout).not.toMatch(/beats random targeting/);
		expect(out.status).toBe(2);
		expect(out.stderr).toMatch(/No row of "treatment" is held out \(control\): uplift compares messaged contacts with held-out ones/);
		// A control arm too small to measure anything is refused the same way, naming the arm and what it needs.
		write(file, ['propensity', 'treatment', 'converted'], rows.map((r, i) => [r[0], i < 50 ? '0' : '1', r[2]]));
		expect(nudge('uplift', 'evaluate', '--data', file, '--treatment', 'treatment', '--outcome', 'converted', '--score', 'propensity').stderr).toMatch(/Too few rows to judge uplift: the held-out \(control\) arm has 50 rows/);
	});

	test('an --out that cannot be written stores and activates nothing; a good one holds the stored model', async () => {
		const path = join(dir, 'out.db');
		const failed = nudge('uplift', 'train', ...args, '--store', path, '--name', 'cart', '--activate', '--trees', '3', '--out', join(dir, 'no-such-dir', 'model.json'));
		expect(failed.status).toBe(2);
		expect(failed.stderr).toMatch(/--out .*no-such-dir.*: cannot write there \(ENOENT\)/);
		const file = join(dir, 'model.json');
		expect(nudge('uplift', 'train', ...args, '--store', path, '--name', 'cart', '--trees', '3', '--out', file).status).toBe(0);
		const store = new SqliteStore(path);
		try {
			expect(await store.activeModelVersion('cart')).toBeUndefined();
			expect((await store.listModelVersions('cart')).map((v) => v.version)).toEqual([1]);
			expect(readFileSync(file, 'utf8')).toBe((await store.getModelVersion('cart', 1))!.body);
		} finally {
			store.close();
		}
	});

	test('--journey trains on the store’s decisions: holdout contacts are the control', async () => {
		const path = join(tempDir(), 'journey.db');
		const own = new SqliteStore(path);
		const { policy } = loadPolicy({ channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } }, holdout: { journeys: { cart: 0.5 } } });
		const engine = new Engine({ store: own, policy: loadPolicy(policy), random: seededRandom(3) });
		const traits = (i: number) => Object.fromEntries(sim.table.columns.slice(0, 10).map((c, f) => [c, Number(sim.table.rows[i][f])]));
		for (let i = 0; i < 700; i++) {
			const d = await engine.decide(trackEvent(`j${i}@x.io`, 'Cart Abandoned', { traits: traits(i) }), { journey: 'cart', target: { dryRun: true } });
			// Outcomes as the simulator drew them for this contact's arm: a message's effect shows only on the treated.
			const treated = d.reason !== 'HOLDOUT';
			if (sim.outcome[i] && treated === !!sim.treatment[i]) await engine.recordOutcome({ contactId: d.contactId, type: 'conversion' });
		}
		await engine.close();
		const out = nudge('uplift', 'train', '--journey', 'cart', '--store', path, '--trees', '5', '--json');
		expect(out.stderr).toBe('');
		const json = JSON.parse(out.stdout);
		expect(json.summary.rows).toBe(700);
		expect(json.summary.treated + json.summary.control).toBe(700);
		expect(json.summary.control).toBeGreaterThan(250);
		expect(json.summary.treated).toBeGreaterThan(250);
	});
});

describe('nudge uplift train --journey --policy', () => {
	/** A journey whose open events (reported by another flow) only messaged contacts have: an open would predict the arm. */
	async function leakingStore() {
		const path = join(tempDir(), 'leak.db');
		const store = new SqliteStore(path);
		const policy = {
			channelOrder: ['email'],
			channels: { email: { unknownConsent: 'allow' } },
			holdout: { journeys: { cart: 0.5 } },
			journeys: { cart: { outcomes: { 'Email Opened': { type: 'open' }, 'Order Completed': { type: 'conversion' } } } },
		};
		const engine = new Engine({ store, policy: loadPolicy(policy), random: seededRandom(4) });
		const random = seededRandom(8);
		for (let i = 0; i < 520; i++) {
			const email = `leak${i}@x.io`;
			const d = await engine.decide(trackEvent(email, 'Cart Abandoned', { traits: { x: Math.round(random() * 5) } }), { journey: 'cart', target: { dryRun: true } });
			const treated = d.reason !== 'HOLDOUT';
			// The e-mail tool's open events reach Nudge through another flow (journey "newsletter"): only messaged contacts have them.
			if (treated && random() < 0.4) await engine.decide(trackEvent(email, 'Email Opened'), { journey: 'newsletter', target: { dryRun: true } });
			if (random() < (treated ? 0.15 : 0.1)) await engine.recordOutcome({ contactId: d.contactId, type: 'conversion' });
		}
		await engine.close();
		return { path, policy };
	}
	const features = (file: string) => (JSON.parse(readFileSync(file, 'utf8')).spec.features as { name: string }[]).map((f) => f.name);

	test("the policy's outcome events (an open another flow reported) are not features; without --policy the report says what was left out", async () => {
		const { path, policy } = await leakingStore();
		const dir = tempDir();
		const policyFile = join(dir, 'policy.json');
		writeFileSync(policyFile, JSON.stringify(policy));
		const withPolicy = nudge('uplift', 'train', '--journey', 'cart', '--store', path, '--policy', policyFile, '--trees', '3', '--out', join(dir, 'with.json'), '--json');
		expect(withPolicy.stderr).toBe('');
		expect(JSON.parse(withPolicy.stdout).note).toBeUndefined();
		expect(features(join(dir, 'with.json'))).not.toContain('Email Opened');
		expect(features(join(dir, 'with.json'))).toContain('x');
		const without = nudge('uplift', 'train', '--journey', 'cart', '--store', path, '--trees', '3', '--out', join(dir, 'without.json'));
		expect(without.status).toBe(0);
		// Without the policy the open is not known to be an outcome: it is a feature, and the report says how to avoid it.
		expect(features(join(dir, 'without.json'))).toContain('Email Opened');
		expect(without.stdout).toMatch(/Without --policy only the events the log recorded as journey outcomes are left out of the features \(none\): .* Pass --policy FILE/);
		expect(nudge('uplift', 'train', ...['--data', policyFile, '--treatment', 't', '--outcome', 'y'], '--policy', policyFile).stderr).toMatch(/--policy goes with --journey/);
		expect(nudge('uplift', '--help').stdout).toMatch(/--journey NAME \[--policy FILE\]/);
	});

	test("a --policy without the journey (another environment's) is refused: its outcome events are not this journey's", async () => {
		const { path } = await leakingStore();
		const other = join(tempDir(), 'other.json');
		writeFileSync(other, JSON.stringify({ channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } }, journeys: { checkout: {} } }));
		const run = nudge('uplift', 'train', '--journey', 'cart', '--store', path, '--policy', other, '--trees', '3', '--json');
		expect({ status: run.status, said: /has no journey "cart" \(journeys: checkout\)/.test(run.stderr) }).toEqual({ status: 2, said: true });
	});
});
