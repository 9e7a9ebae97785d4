import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { SqliteStore } from '../../engine/store/sqlite';
import { tempDir } from '../helpers/fixtures';

const CLI = join(resolve(__dirname, '../..'), 'dist/cli/nudge.js');
const nudge = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

/** Ten contacts with sends, holdouts and conversions; one of them is Nora. */
async function seed(path: string): Promise<void> {
	const engine = new Engine({ store: new SqliteStore(path), policy: loadPolicy({ ...DEFAULT_POLICY, holdout: { salt: 'cli', globalShare: 0.3, journeys: {} } }) });
	for (let i = 0; i < 10; i++) {
		const email = i === 0 ? 'nora.vance@example.com' : `p${i}@example.com`;
		const d = await engine.decide({ type: 'track', name: 'Demo Requested', identities: { email, userId: `user-${i}` }, traits: i === 0 ? { name: 'Nora Vance' } : {} }, { journey: 'nurture', target: { dryRun: true } });
		if (i % 3 === 0) await engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion' });
	}
	await engine.close();
}

describe('nudge export --contact and nudge erase', () => {
	test('export gives the whole record; erase leaves nothing of the person in the file and the lift report as it was', async () => {
		const store = join(tempDir(), 'privacy.db');
		await seed(store);
		const lift = nudge('lift', '--store', store, '--json').stdout;

		const exported = nudge('export', '--email', 'Nora.Vance@example.com', '--store', store);
		expect(exported.stderr).toBe('');
		const record = JSON.parse(exported.stdout);
		expect(record.profile).toMatchObject({ email: 'nora.vance@example.com', traits: { name: 'Nora Vance' }, identities: { userId: ['user-0'] } });
		expect(record.decisions).toHaveLength(1);
		expect(record.decisions[0].contactId).toBe(record.contactId);
		expect(JSON.parse(nudge('export', '--contact', record.contactId, '--store', store).stdout).profile.email).toBe('nora.vance@example.com');

		const erased = nudge('erase', '--email', 'nora.vance@example.com', '--store', store, '--suppress');
		expect(erased.stderr).toBe('');
		expect(erased.status).toBe(0);
		expect(JSON.parse(erased.stdout)).toMatchObject({ found: true, suppressed: true, counts: { profiles: 1, decisions: 1 } });
		const bytes = readFileSync(store).toString('latin1');
		for (const needle of ['nora.vance@example.com', 'Nora Vance', 'user-0"', record.contactId]) expect(bytes.includes(needle)).toBe(false);
		expect(nudge('lift', '--store', store, '--json').stdout).toBe(lift);

		const gone = nudge('export', '--email', 'nora.vance@example.com', '--store', store);
		expect(gone.status).not.toBe(0);
		expect(gone.stderr).toBe('nudge: No contact has the email address nora.vance@example.com\n');
	});

	test('a command without the contact says how to name it', () => {
		const result = nudge('erase', '--store', join(tempDir(), 'x.db'));
		expect(result.status).toBe(2);
		expect(result.stderr).toBe('nudge: erase needs the contact: give --contact ID or --email ADDRESS (one of them)\n');
	});
});

describe('nudge retention', () => {
	test('a dry run counts and deletes nothing; a run deletes what is past the policy and reports counts only', async () => {
		const store = join(tempDir(), 'retention.db');
		const long = Date.now() - 500 * 86_400_000;
		const engine = new Engine({ store: new SqliteStore(store), now: () => new Date(long) });
		const old = await engine.decide({ type: 'track', name: 'Demo Requested', identities: { email: 'old.contact@example.com' } }, { journey: 'nurture', target: { dryRun: true } });
		await engine.close();
		await seed(store);
		const policy = join(tempDir(), 'policy.json');
		writeFileSync(policy, JSON.stringify({ ...DEFAULT_POLICY, retention: { decisions: '400d', inactiveProfiles: '450d' } }));

		const dry = nudge('retention', '--store', store, '--policy', policy, '--dry-run');
		expect(dry.status).toBe(0);
		expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, counts: { decisions: 1, profiles: 1 } });
		expect(dry.stderr).toMatch(/^Retention dry run \(nothing deleted\), would delete: 1 decisions made before /);
		expect(readFileSync(store).toString('latin1')).toContain(old.decisionId);

		const run = nudge('retention', '--store', store, '--policy', policy);
		expect(run.status).toBe(0);
		const report = JSON.parse(run.stdout);
		expect(report).toMatchObject({ dryRun: false, counts: { decisions: 1, profiles: 1 } });
		// Counts and times only: nothing about the person.
		expect(run.stdout + run.stderr).not.toContain('old.contact');
		const check = new SqliteStore(store);
		expect(await check.getDecision(old.decisionId)).toBeUndefined();
		expect(await check.resolveIdentities(['email:old.contact@example.com'])).toEqual(new Map());
		expect((await check.queryDecisions({ limit: 100 })).length).toBe(10);
		await check.close();
	});

	test('a policy whose retention is out of bounds is refused with the bound', () => {
		const policy = join(tempDir(), 'bad.json');
		writeFileSync(policy, JSON.stringify({ ...DEFAULT_POLICY, retention: { decisions: '7d' } }));
		const result = nudge('retention', '--store', join(tempDir(), 'x.db'), '--policy', policy);
		expect(result.status).toBe(2);
		expect(result.stderr).toContain('retention.decisions: must be from "30d" to "3650d" (10 years)');
	});
});
