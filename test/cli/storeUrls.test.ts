/**
 * Store URLs given to the built CLI: a password never reaches the terminal, and a URL that is not a
 * known store is refused instead of becoming a SQLite file named after it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openStore } from '../../engine/store/open';
import { PostgresStore } from '../../engine/store/postgres';
import { RedisStore } from '../../engine/store/redis';
import { tempDir } from '../helpers/fixtures';
import { describeWithServer, runId, TEST_POSTGRES_URL, TEST_REDIS_URL } from '../helpers/services';

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

describe('a store password holding quotes, spaces or < never reaches the terminal', () => {
	test.each([
		['a quote', "postgres://alice:S3cret'PW@127.0.0.1:1/nudge"],
		['a double quote', 'postgres://alice:S3cret"PW@127.0.0.1:1/nudge'],
		['a space', 'postgres://alice:S3cret PW@127.0.0.1:1/nudge'],
		['a backtick', 'redis://:S3cret`PW@127.0.0.1:1'],
		['a <', 'postgres://alice:S3cret<PW@127.0.0.1:1/nudge'],
	])('export: a password with %s is masked in the error', (_label, store) => {
		const result = nudge(tempDir('nudge-cli-urls-'), 'export', '--store', store);
		expect(result.status).toBe(2);
		expect(result.stderr).toMatch(/^nudge: .* store at (postgres|redis):\/\/(alice)?:\*\*\*@127\.0\.0\.1:1/);
		expect(result.stderr).not.toMatch(/S3cret/);
	});
});

describe('nudge with a SQLite --store that is not there', () => {
	// A mistyped path must not become a new, empty store that answers "nothing to delete / export / erase".
	test.each([
		['retention', ['retention', '--dry-run']],
		['export', ['export']],
		['export --contact', ['export', '--email', 'ana@example.com']],
		['erase', ['erase', '--email', 'ana@example.com', '--suppress']],
		['lift', ['lift']],
		['score', ['score', '--model', 'lead', '--data', 'rows.csv']],
		['rollback', ['rollback', '--model', 'lead']],
		['uplift evaluate --model', ['uplift', 'evaluate', '--data', 'rows.csv', '--treatment', 't', '--outcome', 'y', '--model', 'm']],
		['uplift train --journey', ['uplift', 'train', '--journey', 'cart-abandonment']],
		['console', ['console', '--port', '0']],
		['mcp', ['mcp']],
	])('%s is refused, names the file and creates nothing', (_label, args) => {
		const dir = tempDir('nudge-cli-missing-');
		writeFileSync(join(dir, 'rows.csv'), 't,y\n1,0\n');
		const result = nudge(dir, ...args, '--store', 'nudgee.db');
		expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 2, stderr: expect.stringMatching(/^nudge: There is no store at .*nudgee\.db: check --store .*Nothing was created\n$/) });
		expect(readdirSync(dir)).toEqual(['rows.csv']);
	});

	test('a store that is there is read as before', async () => {
		const dir = tempDir('nudge-cli-missing-');
		await openStore(join(dir, 'nudge.db')).close();
		expect(nudge(dir, 'retention', '--dry-run', '--store', 'nudge.db').status).toBe(0);
		expect(nudge(dir, 'export', '--store', 'nudge.db')).toMatchObject({ status: 0, stderr: 'nudge export: 0 decision(s)\n' });
	});
});

describeWithServer('PostgreSQL', TEST_POSTGRES_URL)('nudge with a PostgreSQL --store whose schema is not there', () => {
	const withSchema = (schema: string) => `${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}schema=${schema}`;
	/** Whether the schema is in the database, asked without the store (whose first query would create it). */
	async function schemaExists(schema: string): Promise<boolean> {
		const { Client } = await import('pg');
		const client = new Client({ connectionString: TEST_POSTGRES_URL });
		await client.connect();
		try {
			return ((await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount ?? 0) > 0;
		} finally {
			await client.end();
		}
	}

	// A mistyped ?schema= must not become a new, empty schema that answers "0 decisions" or "nothing to compare".
	test.each([
		['export', ['export'], false],
		['export --contact', ['export', '--contact', 'u-1'], false],
		['lift', ['lift'], false],
		['console', ['console', '--port', '0'], false],
		['mcp', ['mcp'], false],
		['a split store’s log', ['export'], true],
		['score', ['score', '--model', 'lead', '--data', 'leads.csv'], false],
		['activate', ['activate', '--model', 'lead', '--version', '1'], false],
		['rollback', ['rollback', '--model', 'lead'], false],
		['uplift evaluate --journey', ['uplift', 'evaluate', '--journey', 'nurture', '--score', 'x'], false],
	])('%s is refused, names the schema and creates nothing', async (_label, args, split) => {
		const schema = runId('typo');
		const store = withSchema(schema);
		const dir = tempDir('nudge-cli-schema-');
		writeFileSync(join(dir, 'leads.csv'), 'a,b\n1,2\n');
		const result = nudge(dir, ...args, '--store', split ? `split:hot=memory:;log=${store}` : store);
		expect(result.status).toBe(2);
		expect(result.stderr).toMatch(new RegExp(`^nudge: There is no schema "${schema}" in the PostgreSQL database at postgres://.*: check \\?schema= in the store URL .*Nothing was created\n$`));
		expect(await schemaExists(schema)).toBe(false);
	});

	test('a schema that is there is read as before', async () => {
		const schema = runId('there');
		const store = new PostgresStore(withSchema(schema));
		try {
			await store.getCursor('any');
			expect(nudge(tempDir('nudge-cli-schema-'), 'export', '--store', withSchema(schema))).toMatchObject({ status: 0, stderr: 'nudge export: 0 decision(s)\n' });
		} finally {
			await store.dropAll();
			await store.close();
		}
	});
});

describeWithServer('Redis', TEST_REDIS_URL)('nudge with a Redis --store with nothing under its prefix', () => {
	const withPrefix = (prefix: string) => `${TEST_REDIS_URL}?prefix=${prefix}`;

	// A mistyped ?prefix= must not answer "0 decisions" from an empty key space as if that were the log.
	test.each([
		['export', ['export']],
		['export --contact', ['export', '--contact', 'u-1']],
		['lift', ['lift']],
		['console', ['console', '--port', '0']],
		['mcp', ['mcp']],
		['rollback', ['rollback', '--model', 'lead']],
	])('%s is refused and names the prefix', (_label, args) => {
		const prefix = `${runId('typo')}:`;
		const result = nudge(tempDir('nudge-cli-prefix-'), ...args, '--store', withPrefix(prefix));
		expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 2, stderr: `nudge: Nothing is stored under the prefix "${prefix}" in the Redis database at ${TEST_REDIS_URL}: check ?prefix= in the store URL (without it, the prefix is nudge:)\n` });
	});

	test('a prefix with data is read as before', async () => {
		const prefix = `${runId('there')}:`;
		const store = new RedisStore(withPrefix(prefix));
		try {
			await store.setCursor('any', 'x', undefined);
			expect(nudge(tempDir('nudge-cli-prefix-'), 'export', '--store', withPrefix(prefix))).toMatchObject({ status: 0, stderr: 'nudge export: 0 decision(s)\n' });
		} finally {
			await store.dropAll();
			await store.close();
		}
	});
});
