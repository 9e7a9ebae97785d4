import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'dist/cli/nudge.js');
const nudge = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const COMMANDS = ['replay', 'train', 'score', 'import', 'activate', 'rollback', 'lift', 'uplift', 'console', 'erase', 'export', 'mcp', 'retention'];

describe('nudge --version and --help', () => {
	test('--version prints the installed package version', () => {
		const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
		for (const flag of ['--version', '-v']) {
			const run = nudge(flag);
			expect({ flag, status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({ flag, status: 0, stdout: `${version}\n`, stderr: '' });
		}
	});

	test.each(COMMANDS)('nudge %s --help shows that command alone and runs nothing', (command) => {
		const run = nudge(command, '--help');
		expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
		expect(run.stdout).toMatch(new RegExp(`^Usage:\n(.*\n)? {2}nudge ${command} `));
		const pair = ['activate', 'rollback'];
		for (const other of COMMANDS.filter((c) => c !== command && !(pair.includes(c) && pair.includes(command)))) expect(run.stdout).not.toMatch(new RegExp(`^ {2}nudge ${other} `, 'm'));
	});

	test('-h and `nudge help <command>` say the same; help wins over the command\'s own checks', () => {
		const help = nudge('replay', '--help').stdout;
		expect(nudge('replay', '--events', 'missing.jsonl', '-h').stdout).toBe(help);
		expect(nudge('help', 'replay').stdout).toBe(help);
		expect(nudge('replay').stderr).toMatch(/replay needs --events/);
	});

	test('`nudge help <command>` with a command that does not exist says so, exit 2', () => {
		const run = nudge('help', 'frobnicate');
		expect({ status: run.status, stdout: run.stdout }).toEqual({ status: 2, stdout: '' });
		expect(run.stderr).toMatch(/^nudge: unknown command "frobnicate"/);
	});

	test('nudge --help lists every command and how to get more', () => {
		const run = nudge('--help');
		expect(run.status).toBe(0);
		for (const command of COMMANDS) expect(run.stdout).toMatch(new RegExp(`^ {2}${command} `, 'm'));
		expect(run.stdout).toContain('nudge <command> --help');
		expect(run.stdout).toMatch(/--store STORE, in every command but replay: a SQLite file \(~\/\.nudge\/nudge\.db when absent\)/);
		// A usage line is at most 110 characters wide, so a terminal shows it as written.
		expect(run.stdout.split('\n').filter((line) => line.length > 110)).toEqual([]);
		expect(nudge('frobnicate').stderr).toMatch(/unknown command "frobnicate"/);
	});
});
