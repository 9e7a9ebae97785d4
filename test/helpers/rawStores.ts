/** Stores under test with a dump of every byte they hold, to prove by search that data is gone (erasure, retention). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { MemoryStore } from '../../engine/store/memory';
import { RecentMap } from '../../engine/store/recentMap';
import { openStore } from '../../engine/store/open';
import { PostgresStore } from '../../engine/store/postgres';
import { RedisStore } from '../../engine/store/redis';
import { splitStore, type SplitStore } from '../../engine/store/split';
import type { Store } from '../../engine/store/types';
import { tempDir } from './fixtures';
import { describeWithServer, runId, TEST_POSTGRES_URL, TEST_REDIS_URL } from './services';

/** Which needles a dump of the store's raw data still contains. */
export const found = (dump: string | Buffer, needles: string[]) => needles.filter((n) => dump.includes(n));

/** Every field of the memory store, its maps, sets and caches opened up. */
export function memoryDump(store: MemoryStore): string {
	// Nested too: the cap ledger is a LedgerBook holding a RecentMap of ContactLedgers holding Maps.
	const open = (_key: string, value: unknown): unknown =>
		value instanceof Map || value instanceof Set ? [...value.entries()] : value instanceof RecentMap ? [...value.entries()] : value;
	return JSON.stringify(Object.values(store), open);
}

export async function redisDump(store: RedisStore): Promise<string> {
	const r = store.client;
	const parts: string[] = [];
	let cursor = '0';
	do {
		const [next, keys] = await r.scan(cursor, 'MATCH', `${store.prefix}*`, 'COUNT', 1000);
		cursor = next;
		for (const key of keys) {
			const type = await r.type(key);
			const value =
				type === 'string' ? await r.get(key) : type === 'hash' ? await r.hgetall(key) : type === 'zset' ? await r.zrange(key, 0, -1) : type === 'list' ? await r.lrange(key, 0, -1) : await r.smembers(key);
			parts.push(key, JSON.stringify(value));
		}
	} while (cursor !== '0');
	return parts.join('\n');
}

export async function postgresDump(store: PostgresStore): Promise<string> {
	const probe = new PostgresStore(TEST_POSTGRES_URL, { schema: store.schema });
	const pool = (probe as unknown as { pool: import('pg').Pool }).pool;
	const tables = (await pool.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`, [store.schema])).rows;
	const parts: string[] = [];
	for (const { table_name } of tables) for (const row of (await pool.query<{ t: string }>(`SELECT t::text AS t FROM ${store.schema}.${table_name} AS t`)).rows) parts.push(`${table_name}: ${row.t}`);
	await probe.close();
	return parts.join('\n');
}

export interface Backend {
	name: string;
	open: () => Store;
	/** All the bytes the backend holds, as it holds them. */
	dump: (store: Store) => Promise<string | Buffer>;
}

export const sqlitePath = () => join(tempDir(), 'nudge.db');
export const sqliteDump = async (store: Store) => {
	const path = (store as unknown as { path: string }).path;
	return Buffer.concat([readFileSync(path), ...(existsSync(`${path}-wal`) ? [readFileSync(`${path}-wal`)] : [])]);
};
/** Every row of every table of a SQLite store, as text (what it holds, not the free pages of its file). */
export const sqliteRowDump = async (store: Store) => {
	await store.sync();
	const db = new DatabaseSync((store as unknown as { path: string }).path, { readOnly: true });
	try {
		const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[];
		return tables.map(({ name }) => `${name}: ${JSON.stringify(db.prepare(`SELECT * FROM "${name}"`).all())}`).join('\n');
	} finally {
		db.close();
	}
};
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
	for (const clean of cleanups) await clean();
});
export const redisStore = (label: string) => {
	const store = new RedisStore(TEST_REDIS_URL, { prefix: `${runId(label)}:` });
	cleanups.push(async () => {
		const cleaner = new RedisStore(TEST_REDIS_URL, { prefix: store.prefix });
		await cleaner.dropAll();
		await cleaner.close();
	});
	return store;
};
export const postgresStore = (label: string) => {
	const store = new PostgresStore(TEST_POSTGRES_URL, { schema: runId(label), maxConnections: 4 });
	cleanups.push(async () => {
		const cleaner = new PostgresStore(TEST_POSTGRES_URL, { schema: store.schema });
		await cleaner.dropAll();
		await cleaner.close();
	});
	return store;
};

/** Every backend, each with its dump: memory and SQLite here; Redis, PostgreSQL and split need their servers. */
export const localBackends = (): Backend[] => [
	{ name: 'memory', open: () => new MemoryStore(), dump: async (store) => memoryDump(store as MemoryStore) },
	{ name: 'sqlite (the file and its WAL)', open: () => openStore(`sqlite:${sqlitePath()}`), dump: sqliteDump },
];
export const redisBackend = (label: string): Backend => ({ name: 'redis', open: () => redisStore(label), dump: (store) => redisDump(store as RedisStore) });
export const postgresBackend = (label: string): Backend => ({ name: 'postgres', open: () => postgresStore(label), dump: (store) => postgresDump(store as PostgresStore) });
export const splitBackend = (label: string): Backend => ({
	name: 'split redis+postgres',
	open: () => splitStore(redisStore(label), postgresStore(label)),
	dump: async (store) => {
		const { hot, log } = (store as SplitStore<RedisStore, PostgresStore>).parts;
		return `${await redisDump(hot)}\n${await postgresDump(log)}`;
	},
});

/** `run` on every backend: memory and SQLite, then Redis, PostgreSQL and split when their servers answer (labels name the namespaces). */
export function forEveryBackend(label: string, run: (backend: Backend) => void): void {
	for (const backend of localBackends()) run(backend);
	describeWithServer('Redis', TEST_REDIS_URL)('on Redis', () => run(redisBackend(label)));
	describeWithServer('PostgreSQL', TEST_POSTGRES_URL)('on PostgreSQL', () => {
		run(postgresBackend(label));
		describeWithServer('Redis', TEST_REDIS_URL)('and split', () => run(splitBackend(label)));
	});
}
