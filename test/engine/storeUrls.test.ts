/**
 * Store URLs in messages and how they are parsed: a password never shows in an error (any scheme, any
 * number of URLs, passwords with @ or percent-encoding), and a URL that is not one of the known stores
 * is refused instead of becoming a SQLite file named after it.
 */
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { NudgeError, redactUrl } from '../../engine/errors';
import { openStore, sqliteFileOf } from '../../engine/store/open';
import { PostgresStore } from '../../engine/store/postgres';
import { RedisStore } from '../../engine/store/redis';
import { tempDir } from '../helpers/fixtures';

/** The text shows neither the password nor, once percent-decoded, its plain form. */
function expectNoPassword(text: string, ...passwords: string[]) {
	const decoded = decodeURIComponent(text.replace(/%(?![0-9a-f]{2})/gi, '%25'));
	for (const password of passwords) {
		expect(text).not.toContain(password);
		expect(decoded).not.toContain(password);
	}
}

function messageOf(open: () => unknown): string {
	try {
		open();
	} catch (error) {
		expect(error).toBeInstanceOf(NudgeError);
		return (error as Error).message;
	}
	throw new Error('expected the store URL to be refused');
}

describe('redactUrl', () => {
	test.each([
		['an unknown scheme, upper case', 'Unknown store "Redis2://default:S3cretPW@cache:6379"', 'Unknown store "Redis2://default:***@cache:6379"'],
		['a password with @', 'redis://default:p@ss@cache.internal:6379/0', 'redis://default:***@cache.internal:6379/0'],
		['a percent-encoded password', 'redis://:S3cret%50W@cache:6379', 'redis://:***@cache:6379'],
		['both URLs of a split store', 'split:hot=redis://a:S3cretPW@h;log=postgres://u:0therPW@db:5432/nudge', 'split:hot=redis://a:***@h;log=postgres://u:***@db:5432/nudge'],
		['one slash', 'redis:/default:S3cretPW@cache:6379', 'redis:/default:***@cache:6379'],
		['an unencoded / in the password', 'at redis://u:S3c/retPW@cache:6379 now', 'at redis://u:***@cache:6379 now'],
		['quotes, a space and < in the password', `Unknown store "postgres://u:S3c'r"e\`t <PW@db:5432/x": check it`, 'Unknown store "postgres://u:***@db:5432/x": check it'],
		['secret query parameters', 'postgres://db/x?password=S3cretPW&sslmode=require&auth_token=0therPW', 'postgres://db/x?password=***&sslmode=require&auth_token=***'],
		['a Unix-socket URL (no host)', 'cannot connect to postgresql://nudge:S3cretPW@/nudge?host=/var/run/postgresql', 'cannot connect to postgresql://nudge:***@/nudge?host=/var/run/postgresql'],
		['a socket path after the @', 'redis://:S3cretPW@/tmp/redis.sock', 'redis://:***@/tmp/redis.sock'],
		['a port and no host', 'postgres://nudge:S3cretPW@:5432/nudge', 'postgres://nudge:***@:5432/nudge'],
		['an unexpanded variable as the host', 'redis://nudge:S3cretPW@$REDIS_HOST:6379', 'redis://nudge:***@$REDIS_HOST:6379'],
		['nothing after the @', 'redis://nudge:S3cretPW@', 'redis://nudge:***@'],
	])('%s', (_label, text, masked) => {
		expect(redactUrl(text)).toBe(masked);
		expectNoPassword(redactUrl(text), 'S3cretPW', 'S3cret%50W', 'p@ss', '0therPW', 'S3c/retPW');
	});

	test('leaves URLs without a password and ordinary text alone', () => {
		for (const text of ['postgres://postgres@127.0.0.1:5432/test', 'redis://127.0.0.1:6379?prefix=nudge:', 'Bad filter: reason: must be one of X', 'C:\\nudge\\nudge.db', 'mailto:ana@example.com']) {
			expect(redactUrl(text)).toBe(text);
		}
	});

	test('every NudgeError message is masked, whoever builds it', () => {
		const error = new NudgeError('STORE_ERROR', 'Could not reach redis://default:S3cretPW@cache:6379', [{ path: 'store', message: 'redis://x:0therPW@h is down' }]);
		expect(error.message).toBe('Could not reach redis://default:***@cache:6379');
		expectNoPassword(JSON.stringify({ message: error.message, issues: error.issues }), 'S3cretPW', '0therPW');
	});
});

describe('openStore: which URLs open which store', () => {
	let dir: string;
	let cwd: string;
	beforeEach(() => {
		dir = tempDir('nudge-store-urls-');
		cwd = process.cwd();
		process.chdir(dir);
	});
	afterEach(() => process.chdir(cwd));

	test.each([
		['an unknown scheme', 'mongodb://default:S3cret%50W@db:27017', /^Unknown store "mongodb:\/\/default:\*\*\*@db:27017"\. Use sqlite:<file path>/],
		['redis: with one slash', 'redis:/default:S3cretPW@cache:6379', /^The store "redis:\/default:\*\*\*@cache:6379" is not a store URL: it must start with redis:\/\/ followed by the host/],
		['postgres: without slashes', 'postgres:u:S3cretPW@db/nudge', /it must start with postgres:\/\/ followed by the host/],
		['a URL where a SQLite path belongs', 'sqlite:redis:default:S3cretPW@cache', /^The store "redis:default:\*\*\*@cache" is not a SQLite file path: it looks like a URL/],
		['a password with an unencoded /', 'redis://u:S3c/retPW@cache:6379', /is not a valid URL \(in a password, write @ as %40, \/ as %2F/],
		['a split store with an unknown log URL', 'split:hot=memory:;log=Mongo://u:0therPW@db', /^Unknown store "Mongo:\/\/u:\*\*\*@db"/],
		['memory: with something after it', 'memory:cache', /the in-memory store is just memory:/],
		['a scheme named like an object property', 'constructor://u:S3cretPW@h', /^Unknown store "constructor:\/\/u:\*\*\*@h"/],
	])('%s is refused, the message masks the password and no file is created', (_label, url, reason) => {
		const message = messageOf(() => openStore(url));
		expect(message).toMatch(reason);
		expect(message).not.toMatch(/S3cret|0therPW/);
		expect(readdirSync(dir)).toEqual([]);
	});

	test('schemes are case-insensitive: Redis:// opens a Redis store', async () => {
		const store = openStore('Redis://127.0.0.1:6379?prefix=nudge-url-case:');
		expect(store.kind).toBe('redis');
		await store.close();
	});

	test('a plain path is a SQLite file, like sqlite:<path>', async () => {
		const store = openStore(join(dir, 'plain.db'));
		expect(store.kind).toBe('sqlite');
		await store.close();
		expect(existsSync(join(dir, 'plain.db'))).toBe(true);
		expect(openStore('MEMORY:').kind).toBe('memory');
	});

	test('sqliteFileOf names the file of a SQLite setting only', () => {
		expect(sqliteFileOf('plain.db')).toBe(join(dir, 'plain.db'));
		expect(sqliteFileOf('sqlite:///var/nudge/a.db')).toBe('/var/nudge/a.db');
		expect(sqliteFileOf('SQLite:~/x.db')).toBe(join(homedir(), 'x.db'));
		expect(sqliteFileOf('')).toBe(join(homedir(), '.nudge', 'nudge.db'));
		for (const other of ['memory:', 'memory', 'sqlite::memory:', 'redis://127.0.0.1:6379', 'postgres://u@h/db', 'split:hot=memory:;log=memory:']) expect(sqliteFileOf(other)).toBeUndefined();
	});
});

describe('errors of the network stores', () => {
	test('Redis: a connection failure names the store with its password masked', async () => {
		const store = new RedisStore('redis://default:S3cret%50W@127.0.0.1:1/0', { maxRetriesPerRequest: 0 });
		try {
			const error = await store.getCursor('x').then(() => undefined, (e: Error) => e);
			expect(error).toBeInstanceOf(NudgeError);
			expect(error!.message).toMatch(/^Redis store at redis:\/\/default:\*\*\*@127\.0\.0\.1:1\/0 could not/);
			expectNoPassword(error!.message, 'S3cret%50W', 'S3cretPW');
		} finally {
			await store.close();
		}
	});

	test('PostgreSQL: a connection failure names the store with its password masked', async () => {
		const store = new PostgresStore('postgres://postgres:p@ss%50W@127.0.0.1:1/nudge', { connectAttempts: 1 });
		try {
			const error = await store.getCursor('x').then(() => undefined, (e: Error) => e);
			expect(error).toBeInstanceOf(NudgeError);
			expect(error!.message).toMatch(/^PostgreSQL store at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/nudge could not/);
			expectNoPassword(error!.message, 'p@ss%50W', 'p@ssPW');
		} finally {
			await store.close();
		}
	});
});
