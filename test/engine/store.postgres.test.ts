import type { PoolClient } from 'pg';
import { Engine } from '../../engine/engine';
import { NudgeError } from '../../engine/errors';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { openStore } from '../../engine/store/open';
import { PostgresStore } from '../../engine/store/postgres';
import { RedisStore } from '../../engine/store/redis';
import type { SplitStore } from '../../engine/store/split';
import { decision, profile } from '../helpers/fixtures';
import { describeWithServer, runId, TEST_POSTGRES_URL, TEST_REDIS_URL } from '../helpers/services';
import { describeSharedStoreContract } from './sharedStoreContract';
import { describeStoreContract } from './storeContract';

const withPostgres = describeWithServer('PostgreSQL', TEST_POSTGRES_URL);
const withBoth = describeWithServer('Redis', TEST_REDIS_URL);

const schemas: string[] = [];
const prefixes: string[] = [];
const freshSchema = () => {
	const schema = runId('nudgetest');
	schemas.push(schema);
	return schema;
};
const freshPrefix = () => {
	const prefix = `${runId('nudgetest')}:`;
	prefixes.push(prefix);
	return prefix;
};
afterAll(async () => {
	for (const schema of schemas) {
		const cleaner = new PostgresStore(TEST_POSTGRES_URL, { schema });
		await cleaner.dropAll();
		await cleaner.close();
	}
	for (const prefix of prefixes) {
		const cleaner = new RedisStore(TEST_REDIS_URL, { prefix });
		await cleaner.dropAll();
		await cleaner.close();
	}
});

withPostgres('PostgreSQL store', () => {
	describeStoreContract('postgres', () => new PostgresStore(TEST_POSTGRES_URL, { schema: freshSchema(), maxConnections: 4 }));
	describeSharedStoreContract('postgres', () => {
		const schema = freshSchema();
		return () => new PostgresStore(TEST_POSTGRES_URL, { schema, maxConnections: 2 });
	});

	test('a group commit PostgreSQL aborts to break a deadlock is run again: the decisions are written, the caller sees no error', async () => {
		const schema = freshSchema();
		const store = new PostgresStore(TEST_POSTGRES_URL, { schema });
		await store.putDecision(decision('d1'));
		await store.putDecision(decision('d2'));
		await store.sync();
		const { Client } = await import('pg');
		const other = new Client({ connectionString: TEST_POSTGRES_URL });
		await other.connect();
		try {
			await other.query('BEGIN');
			await other.query(`UPDATE ${schema}.decisions SET reason = 'other' WHERE decision_id = 'd2'`);
			await store.putDecision({ ...decision('d1'), status: 'sent' });
			await store.putDecision({ ...decision('d2'), status: 'sent' });
			const committing = store.sync();
			// The store's upsert takes d1, then waits for d2; the other transaction now waits for d1: a deadlock, which
			// PostgreSQL breaks by aborting the side that waited first (the store's statement, after deadlock_timeout).
			await new Promise((resolve) => setTimeout(resolve, 200));
			await other.query(`UPDATE ${schema}.decisions SET reason = 'other' WHERE decision_id = 'd1'`);
			await other.query('COMMIT');
			await committing;
		} finally {
			await other.end();
		}
		expect([(await store.getDecision('d1'))?.status, (await store.getDecision('d2'))?.status]).toEqual(['sent', 'sent']);
		await store.close();
	});

	test('a decision row PostgreSQL refuses (a NUL in its text) is reported, and never blocks the decisions written with it or after it', async () => {
		const schema = freshSchema();
		const store = new PostgresStore(TEST_POSTGRES_URL, { schema });
		await store.putDecision({ ...decision('d-bad'), annotations: { note: 'pasted\u0000text' } });
		await store.putDecision(decision('d-good'));
		await expect(store.sync()).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('d-bad') });
		await store.putDecision(decision('d-later'));
		await store.sync();
		const reader = new PostgresStore(TEST_POSTGRES_URL, { schema });
		expect(await reader.getDecision('d-good')).toBeDefined();
		expect(await reader.getDecision('d-later')).toBeDefined();
		expect(await reader.getDecision('d-bad')).toBeUndefined();
		await reader.close();
		await store.close();
	});

	test("a note with a NUL in it is refused at once (INVALID_INPUT), and other contacts' decisions are still written", async () => {
		const schema = freshSchema();
		const store = new PostgresStore(TEST_POSTGRES_URL, { schema });
		const engine = new Engine({ store, policy: loadPolicy(DEFAULT_POLICY) });
		const demo = (email: string) => ({ type: 'track', name: 'Demo Requested', identities: { email } });
		const first = await engine.decide(demo('ann@example.com'), { journey: 'nurture', target: { dryRun: true } });
		await expect(engine.logDecision(first.decisionId, { note: 'pasted\u0000text' })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('note') });
		const second = await engine.decide(demo('bob@example.com'), { journey: 'nurture', target: { dryRun: true } });
		await store.sync();
		const reader = new PostgresStore(TEST_POSTGRES_URL, { schema });
		expect(await reader.getDecision(second.decisionId)).toBeDefined();
		await reader.close();
		await engine.close();
	});

	test('ids with a NUL in them find nothing, as on the other stores, instead of reporting the store down', async () => {
		const engine = new Engine({ store: new PostgresStore(TEST_POSTGRES_URL, { schema: freshSchema() }), policy: loadPolicy(DEFAULT_POLICY) });
		await expect(engine.getProfile('a\u0000b')).resolves.toBeUndefined();
		await expect(engine.variantWinner('slot\u0000')).resolves.toBeUndefined();
		await expect(engine.queryDecisions({ contactId: 'a\u0000b' })).resolves.toEqual([]);
		await expect(engine.decideApproval('d\u0000.1', { approver: 'me', approve: true })).rejects.toMatchObject({ code: 'UNKNOWN_DECISION' });
		await engine.close();
	});

	test('a decision stays readable while its group commit is in flight', async () => {
		const store = new PostgresStore(TEST_POSTGRES_URL, { schema: freshSchema() });
		await store.sync(); // schema created, so the next commit is a single round trip
		for (let i = 0; i < 20; i++) {
			await store.putDecision(decision(`d${i}`));
			const committing = store.sync();
			expect((await store.getDecision(`d${i}`))?.decisionId).toBe(`d${i}`);
			await committing;
		}
		await store.close();
	});

	test('openStore takes postgres:// URLs with a schema; the decision body is JSONB and the log queries use indexes', async () => {
		const schema = freshSchema();
		const store = openStore(`${TEST_POSTGRES_URL}?schema=${schema}`) as PostgresStore;
		expect(store.kind).toBe('postgres');
		expect(store.schema).toBe(schema);
		await store.putDecision(decision('d1', { contactId: 'c9' }));
		await store.sync();
		const check = new (await import('pg')).Client({ connectionString: TEST_POSTGRES_URL });
		await check.connect();
		try {
			const type = await check.query(`SELECT data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'decisions' AND column_name = 'body'`, [schema]);
			expect(type.rows[0].data_type).toBe('jsonb');
			await check.query('SET enable_seqscan = off');
			const plan = await check.query(`EXPLAIN SELECT body FROM ${schema}.decisions WHERE contact_id = 'c9' ORDER BY created_at, decision_id LIMIT 100`);
			expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/decisions_contact/);
		} finally {
			await check.end();
		}
		await store.close();
	});

	test('a schema name that is not a plain identifier is refused', () => {
		expect(() => new PostgresStore(TEST_POSTGRES_URL, { schema: 'x; DROP TABLE y' })).toThrow(/letters, digits and underscores/);
	});
});

withPostgres('Split store (Redis hot state + PostgreSQL log)', () => {
	withBoth('with Redis', () => {
		const openSplit = () => openStore(`split:hot=${TEST_REDIS_URL}?prefix=${freshPrefix()};log=${TEST_POSTGRES_URL}?schema=${freshSchema()}`);
		describeStoreContract('split redis+postgres', openSplit, { readsRecordsWithLocks: true, foldsTakeIn: true });

		test('hot state goes to Redis and the decision log to PostgreSQL', async () => {
			const store = openSplit() as SplitStore;
			const { hot, log } = store.parts;
			expect(store.kind).toBe('redis+postgres');
			await store.saveProfile(profile('c1'), ['email:a@x.io'], []);
			await store.putDecision(decision('d1'));
			expect(await hot.getProfile('c1')).toBeDefined();
			expect(await log.getProfile('c1')).toBeUndefined();
			expect(await log.getDecision('d1')).toBeDefined();
			expect(await hot.getDecision('d1')).toBeUndefined();
			await store.close();
		});
	});
});

withPostgres('PostgreSQL take-in', () => {
	test('a delivery ending its take-in on a gone lease, and another claiming the event before that commits: one takes it in', async () => {
		const schema = freshSchema();
		const [a, b] = [new PostgresStore(TEST_POSTGRES_URL, { schema }), new PostgresStore(TEST_POSTGRES_URL, { schema })];
		const [lease, hold] = ['event-lease:g1', 'event:g1'];
		// Delivery A claimed the event; its lease was let go meanwhile (by a delivery that failed).
		expect(await a.claimKeyUnlessMarked(lease, 30_000, 0, hold, 5000)).toBe('claimed');
		await a.releaseKey(lease);
		// A's end is held at its COMMIT, every statement of it done.
		let atCommit!: () => void;
		let letCommit!: () => void;
		const reachedCommit = new Promise<void>((resolve) => (atCommit = resolve));
		const commitGate = new Promise<void>((resolve) => (letCommit = resolve));
		const internals = a as unknown as { endTakeIn: (c: PoolClient, ...rest: unknown[]) => Promise<boolean> };
		const end = internals.endTakeIn.bind(a);
		internals.endTakeIn = (c, ...rest) => {
			const query = c.query.bind(c) as (...args: unknown[]) => Promise<unknown>;
			(c as unknown as { query: unknown }).query = async (...args: unknown[]) => {
				if (args[0] === 'COMMIT') {
					(c as unknown as { query: unknown }).query = query;
					atCommit();
					await commitGate;
				}
				return query(...args);
			};
			return end(c, ...rest);
		};
		const first = a.finishTakeIn({ mark: { hold, ttlMs: 10_000, now: 5000, release: lease, claimedUntil: 30_000 } });
		await reachedCommit;
		// Delivery B (another process) claims the event now; A commits a moment later.
		const claim = b.claimKeyUnlessMarked(lease, 30_000, 1000, hold, 5000);
		await new Promise((resolve) => setTimeout(resolve, 200));
		letCommit();
		const tookA = await first;
		const tookB = (await claim) === 'claimed' ? await b.finishTakeIn({ mark: { hold, ttlMs: 10_000, now: 5000, release: lease, claimedUntil: 31_000 } }) : false;
		expect([tookA, tookB]).toEqual([true, false]);
		expect(await claim).toBe('marked');
		await a.close();
		await b.close();
	});
});

describe('PostgreSQL and split store configuration errors', () => {
	test('an unreachable PostgreSQL fails with a clear STORE_ERROR after retrying with backoff', async () => {
		const store = new PostgresStore('postgres://nudge:secret@127.0.0.1:1/none', { connectAttempts: 3 });
		const started = Date.now();
		// The write is queued for the group commit; sync(), which the engine awaits before acknowledging an event, fails.
		await store.putDecision(decision('d1'));
		const failure = await store.sync().catch((e: unknown) => e);
		expect(failure).toBeInstanceOf(NudgeError);
		expect((failure as Error).message).toMatch(/^PostgreSQL store at postgres:\/\/nudge:\*\*\*@127\.0\.0\.1:1\/none could not write decisions: .*ECONNREFUSED/);
		// The row is kept for the next attempt, not dropped.
		expect((await store.getDecision('d1'))?.decisionId).toBe('d1');
		await expect(store.getProfile('c1')).rejects.toThrow(/could not read a profile/);
		// Three attempts: two backoff waits (50 + 100 ms) before giving up.
		expect(Date.now() - started).toBeGreaterThanOrEqual(150);
		await store.close();
	});

	test('a malformed split URL names the expected form', () => {
		expect(() => openStore('split:hot=redis://127.0.0.1:6379')).toThrow(/must be split:hot=<store URL>;log=<store URL>/);
		expect(() => openStore('split:hot=redis://u:pw@h:1;log=x;extra=y')).toThrow(/u:\*\*\*@h/);
	});
});

withPostgres('PostgreSQL schema spelled in two cases', () => {
	test('`?schema=Nudge…` and `?schema=nudge…` (one schema to PostgreSQL) serialise their cap reservations: the last slot goes once', async () => {
		const schema = freshSchema();
		const upper = openStore(`${TEST_POSTGRES_URL}?schema=${schema.toUpperCase()}`) as PostgresStore;
		const lower = openStore(`${TEST_POSTGRES_URL}?schema=${schema}`) as PostgresStore;
		try {
			expect(upper.schema).toBe(lower.schema);
			const one = [{ ruleId: 'one', limit: 1, since: 0, match: {}, excludeTags: [] }];
			const attempts = Array.from({ length: 20 }, (_, i) =>
				(i % 2 ? upper : lower).reserveCap({ reservationId: `r${i}`, contactId: 'c1', channel: 'email', journey: 'j', tags: [], at: 10, expiresAt: 100_000 }, one),
			);
			expect((await Promise.all(attempts)).filter((verdict) => verdict.ok)).toHaveLength(1);
		} finally {
			await upper.close();
			await lower.close();
		}
	});
});
