import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DATA_SETS, dataPath } from '../../bench/datasets';
import { describeWithData } from '../helpers/dataSets';
import { tempDir } from '../helpers/fixtures';

/** These run the built CLI (`npm test` builds first). */
const CLI = join(resolve(__dirname, '../..'), 'dist/cli/nudge.js');
const nudge = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

describeWithData()('nudge train / score / activate / rollback', () => {
	const dir = tempDir();
	const store = join(dir, 'nudge.db');
	const telco = DATA_SETS[1];
	const trainTelco = (...extra: string[]) =>
		nudge('train', '--data', dataPath(telco), '--target', 'Churn', '--positive', 'Yes', '--exclude', 'customerID', '--name', 'churn', '--store', store, '--trees', '30', ...extra);

	test('train prints the evaluation and a progress bar, and stores a version', () => {
		const first = trainTelco('--activate');
		expect(first.stderr).toMatch(/Training churn \[#+\] 30\/30 trees/);
		expect(first.status).toBe(0);
		const auc = Number(/AUC\s+([\d.]+)/.exec(first.stdout)![1]);
		expect(auc).toBeGreaterThan(0.8);
		expect(first.stdout).toMatch(/Evaluated on 1409 held-out rows/);
		expect(first.stdout).toMatch(/Calibration \(held-out rows by predicted probability\)/);
		expect(first.stdout).toMatch(/≥ 70: \d+ right, \d+ false alarms/);
		expect(first.stdout).toMatch(/Not used: customerID \(excluded\)/);
		expect(first.stdout).toMatch(/Saved and activated as churn v1\./);
		const second = trainTelco();
		expect(second.stdout).toMatch(/Saved as churn v2, not activated\./);
	});

	test('score writes one JSON line per row with the active version; --explain adds factors', () => {
		const data = join(dir, 'three.csv');
		writeFileSync(data, 'customerID;gender;SeniorCitizen;Partner;Dependents;tenure;PhoneService;MultipleLines;InternetService;OnlineSecurity;OnlineBackup;DeviceProtection;TechSupport;StreamingTV;StreamingMovies;Contract;PaperlessBilling;PaymentMethod;MonthlyCharges;TotalCharges\n'
			+ 'a;Female;0;No;No;1;Yes;No;Fiber optic;No;No;No;No;Yes;Yes;Month-to-month;Yes;Electronic check;95.5;95.5\n'
			+ 'b;Male;0;Yes;Yes;70;Yes;Yes;DSL;Yes;Yes;Yes;Yes;No;No;Two year;No;"Bank transfer (automatic)";60,1;4200\n');
		const out = nudge('score', '--model', 'churn', '--data', data, '--store', store, '--explain');
		expect(out.status).toBe(0);
		const rows = out.stdout.trim().split('\n').map((l) => JSON.parse(l));
		expect(rows.map((r) => r.row)).toEqual([1, 2]);
		// A new month-to-month fibre customer churns far more often than a two-year DSL one.
		expect(rows[0].probability).toBeGreaterThan(rows[1].probability + 0.3);
		const raises = rows[0].factors.filter((f: { contribution: number }) => f.contribution > 0).map((f: { label: string }) => f.label);
		expect(raises.length).toBeGreaterThan(0);
		for (const label of raises) expect(label).toMatch(/^(Contract = Month-to-month|tenure = 1|InternetService = Fiber optic|TotalCharges = 95.5|MonthlyCharges = 95.5|PaymentMethod = Electronic check|\w+ = No) raises the score$/);
		expect(out.stderr).toMatch(/Scored 2 rows with churn v1/);
	});

	test('activate and rollback switch versions; bad input is a clear error and changes nothing', () => {
		expect(nudge('activate', '--model', 'churn', '--version', '2', '--store', store).stdout).toBe('churn v2 is now active.\n');
		expect(nudge('rollback', '--model', 'churn', '--store', store).stdout).toBe('churn v1 is now active.\n');
		const noTarget = trainTelco('--target', 'Churned', '--activate');
		expect(noTarget.status).toBe(2);
		expect(noTarget.stderr).toMatch(/^nudge: The data has no target column "Churned"/);
		const badVersion = nudge('activate', '--model', 'churn', '--version', '9', '--store', store);
		expect(badVersion.stderr).toMatch(/Model churn has no version 9 \(its versions: 1, 2\)/);
		const wrongData = nudge('score', '--model', 'churn', '--data', dataPath(DATA_SETS[2]), '--store', store);
		expect(wrongData.stderr).toMatch(/does not match the model's features: it lacks the columns "gender"/);
		// A model file is imported only when its trees and features belong together.
		const file = join(dir, 'model.json');
		expect(trainTelco('--out', file, '--trees', '5').status).toBe(0);
		expect(nudge('import', '--model', 'churn-copy', '--file', file, '--store', store).stdout).toBe('Stored as churn-copy v1.\n');
		const tampered = JSON.parse(readFileSync(file, 'utf8'));
		tampered.spec.features.shift();
		writeFileSync(file, JSON.stringify(tampered));
		const refused = nudge('import', '--model', 'churn', '--file', file, '--store', store, '--activate');
		expect(refused.status).toBe(2);
		expect(refused.stderr).toMatch(/not a usable Nudge model: its feature spec does not match its fingerprint/);
		// An --out that cannot be written is refused before training: nothing is stored or activated.
		const noDir = trainTelco('--out', join(dir, 'no-such-dir', 'model.json'), '--trees', '5', '--activate');
		expect(noDir.status).toBe(2);
		expect(noDir.stderr).toMatch(/--out .*no-such-dir.*: cannot write there \(ENOENT\)/);
		// Still v1 active; the three trained versions and nothing else.
		expect(nudge('activate', '--model', 'churn', '--version', '4', '--store', store).stderr).toMatch(/its versions: 1, 2, 3\)/);
		const score = nudge('score', '--model', 'churn', '--data', dataPath(telco), '--store', store);
		expect(score.stderr).toMatch(/Scored 7043 rows with churn v1/);
	});
});

describe('nudge train --seed', () => {
	test('0 seeds the trees like any whole number (the same model twice); a negative or fractional seed is refused', () => {
		const dir = tempDir();
		const data = join(dir, 'leads.csv');
		// 300 leads: visits decide conversion, with a tenth of the labels flipped.
		const rows = Array.from({ length: 300 }, (_, i) => `${i},${(i * 37) % 100},${((i * 37) % 100 > 50) !== (i % 10 === 0) ? 'Yes' : 'No'}`);
		writeFileSync(data, `Lead Id,Visits,Converted\n${rows.join('\n')}\n`);
		const train = (seed: string, store: string) => nudge('train', '--data', data, '--target', 'Converted', '--exclude', 'Lead Id', '--name', 'lead', '--trees', '10', `--seed=${seed}`, '--store', join(dir, store));
		const [first, second] = [train('0', 'a.db'), train('0', 'b.db')];
		expect(first.status).toBe(0);
		const evaluation = (out: string) => out.split('\n').filter((line) => !/ in [\d.]+ s\.$|^Saved /.test(line)).join('\n');
		expect(evaluation(second.stdout)).toBe(evaluation(first.stdout));
		for (const seed of ['-1', '1.5']) expect(train(seed, 'c.db')).toMatchObject({ status: 2, stderr: `nudge: --seed must be a whole number of at least 0, not "${seed}"\n` });
		// Written with a space, a value starting with a dash reads as an option: the command line's own error, no stack trace.
		const spaced = nudge('train', '--data', data, '--target', 'Converted', '--seed', '-1');
		expect(spaced.status).toBe(2);
		expect(spaced.stderr).toMatch(/^nudge: Option '--seed' argument is ambiguous\.\n.*\nTo specify an option argument starting with a dash use '--seed=-XYZ'\.\n$/);
	});
});
