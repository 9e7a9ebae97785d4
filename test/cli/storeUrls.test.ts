/**
 * Store URLs given to the built CLI: a password never reaches the terminal, and a URL that is not a
 * known store is refused instead of becoming a SQLite file named after it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from '../helpers/fixtures';

const CLI = join(resolve(__dirname, '../..'), 'dist/cli/nudge.js');

/** Runs the CLI in an empty folder, so any file it creates there shows. */
function nudge(cwd: string, ...args: string[]) {
	if (!existsSync(CLI)) throw new Error('dist/cli/nudge.js is missing: run `npm run build` first (npm test does)');
	return spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 20_000 });
}

const STORES = [
	['an unknown scheme', 'Redis2://default:S3cret%50W@cache.internal:6379'],
	['redis: with one slash', 'redis:/default:S3cret%50W@cache.internal:6379'],
	['redis without slashes', 'redis:default:S3cret%50W@cache.internal:6379'],
	['a split store with a bad log URL', 'split:hot=redis://default:p@ss%50W@127.0.0.1:1;log=mongodb://u:S3cret%50W@db'],
];

function expectRefusedAndMasked(result: ReturnType<typeof nudge>, dir: string) {
	expect(result.status).toBe(2);
	expect(result.stderr).toMatch(/^nudge: .*(Unknown store|is not a store URL|is not a SQLite file path)/);
	expect(result.stderr).toMatch(/:\*\*\*@/);
	for (const text of [result.stdout, result.stderr, decodeURIComponent(result.stderr)]) expect(text).not.toMatch(/S3cret|p@ss/);
	expect(readdirSync(dir).filter((f) => f !== 'events.jsonl')).toEqual([]);
}

describe('nudge with a bad --store URL', () => {
	test.each(STORES)('console: %s is refused with the password masked', (_label, store) => {
		const dir = tempDir('nudge-cli-urls-');
		expectRefusedAndMasked(nudge(dir, 'console', '--store', store, '--port', '0'), dir);
	});

	test.each(STORES)('activate: %s is refused with the password masked', (_label, store) => {
		const dir = tempDir('nudge-cli-urls-');
		expectRefusedAndMasked(nudge(dir, 'activate', '--model', 'lead', '--version', '1', '--store', store), dir);
	});

	test.each(STORES)('replay (a SQLite file only): %s is refused with the password masked', (_label, store) => {
		const dir = tempDir('nudge-cli-urls-');
		writeFileSync(join(dir, 'events.jsonl'), '');
		expectRefusedAndMasked(nudge(dir, 'replay', '--events', join(dir, 'events.jsonl'), '--store', store), dir);
	});
});
