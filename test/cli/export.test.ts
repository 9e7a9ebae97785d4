import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'csv-parse/sync';
import { DecisionSchema } from '../../engine/audit/schema';
import { SqliteStore } from '../../engine/store/sqlite';
import { decision, tempDir } from '../helpers/fixtures';

const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'dist/cli/nudge.js');
const nudge = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

describe('nudge export (the built CLI)', () => {
	let dir: string;
	let store: string;
	beforeAll(() => {
		if (!existsSync(CLI)) throw new Error('dist/cli/nudge.js is missing: run `npm run build` first (npm test does)');
		dir = tempDir('nudge-export-');
		store = join(dir, 'log.db');
		expect(nudge('replay', '--events', join(ROOT, 'flows/samples/cart-abandonment.jsonl'), '--journey', 'cart-abandonment', '--store', store).status).toBe(0);
	});

	test('JSONL on stdout by default, CSV to --out: the same decisions, oldest first, every CSV row a spreadsheet row', () => {
		const jsonl = nudge('export', '--store', store);
		expect(jsonl.status).toBe(0);
		const decisions = jsonl.stdout.trim().split('\n').map((l) => DecisionSchema.parse(JSON.parse(l)));
		expect(decisions.length).toBeGreaterThan(20);
		expect(decisions.map((d) => d.createdAt)).toEqual(decisions.map((d) => d.createdAt).sort());
		expect(jsonl.stderr).toBe(`nudge export: ${decisions.length} decision(s)\n`);

		const out = join(dir, 'log.csv');
		const csv = nudge('export', '--store', store, '--format', 'csv', '--out', out);
		expect(csv.status).toBe(0);
		expect(csv.stdout).toBe('');
		expect(csv.stderr).toBe(`nudge export: ${decisions.length} decision(s) written to ${out}\n`);
		expect(readdirSync(dir).filter((f) => f.endsWith('.partial'))).toEqual([]);
		const rows = parse(readFileSync(out, 'utf8'), { columns: true }) as Record<string, string>[];
		expect(rows.map((r) => r.decisionId)).toEqual(decisions.map((d) => d.decisionId));
		expect(rows.map((r) => [r.status, r.reason, r.channel, r.policyVersion])).toEqual(decisions.map((d) => [d.status, d.reason ?? '', d.channel ?? '', d.policyVersion]));
		const sent = decisions.findIndex((d) => d.status === 'sent');
		expect(rows[sent]).toMatchObject({ deliveryStatus: 'sent', deliveryProvider: 'dry-run', score: String(decisions[sent].score!.value), tier: decisions[sent].score!.tier });
	});

	test('the console filters narrow the export', () => {
		const ids = (...filters: string[]) =>
			nudge('export', '--store', store, ...filters)
				.stdout.trim()
				.split('\n')
				.filter(Boolean)
				.map((l) => JSON.parse(l) as { decisionId: string; status: string; reason?: string; contactId: string; createdAt: string });
		const all = ids();
		const sent = ids('--status', 'sent');
		expect(sent.length).toBeGreaterThan(0);
		expect(sent).toEqual(all.filter((d) => d.status === 'sent'));
		expect(ids('--reason', 'NOT_A_TRIGGER')).toEqual(all.filter((d) => d.reason === 'NOT_A_TRIGGER'));
		// --contact is not a filter of the log: it asks for that contact's whole record instead.
		const contact = all[0].contactId;
		const record = JSON.parse(nudge('export', '--store', store, '--contact', contact).stdout) as { contactId: string; decisions: Array<{ decisionId: string }> };
		expect(record.contactId).toBe(contact);
		expect(record.decisions.map((d) => d.decisionId).sort()).toEqual(all.filter((d) => d.contactId === contact).map((d) => d.decisionId).sort());
		const middle = all[Math.floor(all.length / 2)].createdAt;
		expect(ids('--from', middle)).toEqual(all.filter((d) => d.createdAt >= middle));
		expect(ids('--to', middle)).toEqual(all.filter((d) => d.createdAt < middle));
		expect(ids('--journey', 'nurture')).toEqual([]);
	});

	test('bad options are errors that name the option and the fix; a failed --out leaves no file', () => {
		const bad = (args: string[], message: RegExp) => {
			const r = nudge('export', '--store', store, ...args);
			expect({ args, status: r.status, stdout: r.stdout }).toEqual({ args, status: 2, stdout: '' });
			expect(r.stderr).toMatch(message);
		};
		bad(['--format', 'xlsx'], /--format must be jsonl or csv, not "xlsx"/);
		bad(['--reason', 'CAPPED'], /reason must be one of FREQUENCY_CAP, /);
		bad(['--status', 'done'], /status must be one of pending, delayed, review, sent, suppressed, failed/);
		bad(['--from', 'last tuesday'], /from must be a date or date-time, e\.g\. 2026-11-20/);
		bad(['--from', '2026-12-01', '--to', '2026-11-01'], /from \(2026-12-01T00:00:00\.000Z\) must be before to/);
		bad(['--out', join(dir, 'missing', 'x.csv')], /--out .*missing\/x\.csv: cannot write there \(ENOENT\)/);
		bad(['--channel', 'email'], /Unknown option '--channel'/);
		expect(existsSync(join(dir, 'missing'))).toBe(false);
		expect(nudge('export', '--help').stdout).toMatch(/^Usage:\n {2}nudge export \[--store STORE\] \[--format jsonl\|csv\]/);
		expect(nudge('--help').stdout).toContain('  export [--store STORE]');
	});

	test("the log export's options with --contact or --email name the conflict; a bad --email names --contact", () => {
		for (const [option, by] of [
			[['--format', 'csv'], '--contact'],
			[['--out', join(dir, 'c.json')], '--contact'],
			[['--journey=cart-abandonment'], '--email'],
		] as const) {
			const r = nudge('export', '--store', store, by, by === '--contact' ? 'u-marco' : 'ana@example.com', ...option);
			const name = option[0].replace(/=.*/, '');
			expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: '' });
			expect(r.stderr).toBe(`nudge: ${name} is not used with ${by}: a contact's export is one JSON document (everything about them) on stdout; save it with > FILE.json. ${name} belongs to the decision log export: leave out ${by} for that\n`);
		}
		expect(existsSync(join(dir, 'c.json'))).toBe(false);
		expect(nudge('export', '--store', store, '--email', 'notanemail')).toMatchObject({ status: 2, stderr: 'nudge: --email "notanemail" is not an email address: to name the contact by its id, give --contact ID\n' });
	});

	test('a reader that stops early (| head) ends the export quietly, not as an error', async () => {
		const big = join(dir, 'big.db');
		const store = new SqliteStore(big);
		for (let i = 0; i < 2000; i++) void store.putDecision(decision(`d${String(i).padStart(5, '0')}`, { createdAt: new Date(Date.UTC(2026, 10, 1, 0, 0, i)).toISOString() }));
		await store.close();
		const piped = spawnSync('bash', ['-c', `"${process.execPath}" "${CLI}" export --store "${big}" | head -c 1 > /dev/null; exit \${PIPESTATUS[0]}`], { encoding: 'utf8' });
		expect({ status: piped.status, stderr: piped.stderr }).toEqual({ status: 0, stderr: 'nudge export: stopped: the reader closed the output\n' });
	});
});
