import fc from 'fast-check';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { NudgeError } from '../../engine/errors';
import { openStore } from '../../engine/store/open';
import { MemoryStore } from '../../engine/store/memory';
import { RedisStore } from '../../engine/store/redis';
import { waitQueue } from '../../engine/store/types';
import { waitTimer } from '../../engine/guard/waits';
import { freePort } from '../../bench/privateRedis';
import { counterArb, entryArb, toCounter } from '../helpers/capArbitraries';
import { tempDir } from '../helpers/fixtures';
import { describeWithServer, runId, TEST_REDIS_URL } from '../helpers/services';
import { describeSharedStoreContract } from './sharedStoreContract';
import { describeStoreContract } from './storeContract';

const withRedis = describeWithServer('Redis', TEST_REDIS_URL);

withRedis('Redis store', () => {
	const prefixes: string[] = [];
	const freshPrefix = () => {
		const prefix = `${runId('nudgetest')}:`;
		prefixes.push(prefix);
		return prefix;
	};
	afterAll(async () => {
		for (const prefix of prefixes) {
			const cleaner = new RedisStore(TEST_REDIS_URL, { prefix });
			await cleaner.dropAll();
			await cleaner.close();
		}
	});

	describeStoreContract('redis', () => new RedisStore(TEST_REDIS_URL, { prefix: freshPrefix() }), { readsRecordsWithLocks: true, foldsTakeIn: true });
	describeSharedStoreContract('redis', () => {
		const prefix = freshPrefix();
		return () => new RedisStore(TEST_REDIS_URL, { prefix });
	});

	test('openStore takes redis:// URLs with a key prefix; keys stay under it and dropAll removes them', async () => {
		const prefix = freshPrefix();
		const store = openStore(`${TEST_REDIS_URL}/0?prefix=${prefix}`) as RedisStore;
		expect(store.kind).toBe('redis');
		expect(store.prefix).toBe(prefix);
		await store.saveProfile({ contactId: 'c1' } as never, ['email:a@x.io'], []);
		const keys = await store.client.keys(`${prefix}*`);
		expect(keys.sort()).toEqual([`${prefix}identity:email:a@x.io`, `${prefix}profile:c1`]);
		await store.dropAll();
		expect(await store.client.keys(`${prefix}*`)).toEqual([]);
		await store.close();
	});

	test('waits scheduled by earlier versions (bodies under `wait:<journey>-bodies`) are handed out after the upgrade, and the old keys go', async () => {
		const prefix = freshPrefix();
		const raw = new RedisStore(TEST_REDIS_URL, { prefix }).client;
		const body = JSON.stringify({ decisionId: 'd1', contactId: 'c1' });
		await raw.zadd(`${prefix}wait:a`, 1000, 'wait:a:d1');
		await raw.hset(`${prefix}wait:a-bodies`, 'wait:a:d1', `1000||${body}`);
		await raw.quit();
		const store = new RedisStore(TEST_REDIS_URL, { prefix });
		expect(await store.takeDueTimers(2000, 10, 1000, waitQueue('a'))).toMatchObject([{ timerId: 'wait:a:d1', dueAt: 1000, body }]);
		expect(await store.client.exists(`${prefix}wait:a-bodies`)).toBe(0);
		await store.close();
	});

	test('a timer whose write Redis refuses in the middle of its transaction is an error, not a timer half kept', async () => {
		const prefix = freshPrefix();
		const store = new RedisStore(TEST_REDIS_URL, { prefix });
		await store.client.set(`${prefix}wait-bodies:j`, 'not a hash');
		await expect(store.scheduleTimer(waitTimer({ decisionId: 'd1', journey: 'j', contactId: 'c1' }, 1000))).rejects.toMatchObject({ code: 'STORE_ERROR', message: expect.stringContaining('WRONGTYPE') });
		await store.close();
	});

	test('learner counts written by something else with a "," or ";" in them are refused, not read shifted onto other keys', async () => {
		const prefix = freshPrefix();
		const store = new RedisStore(TEST_REDIS_URL, { prefix });
		await store.addArmStats([{ key: 'a', delta: { trials: 1 } }, { key: 'b', delta: { trials: 2 } }]);
		expect((await store.getArmStats(['a', 'b'])).get('b')?.trials).toBe(2);
		const one = [{ ruleId: 'one', limit: 1, since: 0, match: {}, excludeTags: [] }];
		for (const bad of ['2;3', '1,5']) {
			await store.client.hset(`${prefix}arm:a`, 'trials', bad);
			await expect(store.getArmStats(['a', 'b'])).rejects.toThrow(/could not read learner statistics: .*not a number.*written by something other than Nudge/);
			await expect(store.peekCapAndReadArmStats('c1', one, 10, ['a', 'b'])).rejects.toThrow(/not a number/);
		}
		await store.close();
	});

	test('a cap check is one round trip for all of its rules', async () => {
		const store = new RedisStore(TEST_REDIS_URL, { prefix: freshPrefix() });
		const counters = ['a', 'b', 'c', 'd'].map((ruleId) => ({ ruleId, limit: 5, since: 0, match: {}, excludeTags: [] }));
		// Loads the script into Redis first, so the counted check is the script call alone (no NOSCRIPT retry).
		await store.reserveCap({ reservationId: 'r0', contactId: 'c0', channel: 'email', journey: 'j', tags: [], at: 1, expiresAt: 1000 }, counters);
		// Commands this client sends (the server's own count would include other test files' commands).
		const sent = jest.spyOn(store.client, 'sendCommand');
		await store.reserveCap({ reservationId: 'r1', contactId: 'c1', channel: 'email', journey: 'j', tags: [], at: 1, expiresAt: 1000 }, counters);
		expect(sent.mock.calls.map(([command]) => command.name)).toEqual(['evalsha']);
		sent.mockRestore();
		await store.close();
	});

	test('a check with keepSince deletes the older entries from the raw hash with their reservation keys; younger ones stay', async () => {
		const prefix = freshPrefix();
		const store = new RedisStore(TEST_REDIS_URL, { prefix });
		const all = [{ ruleId: 'all', limit: 100, since: 0, match: {}, excludeTags: [] }];
		const reserve = (id: string, at: number, keepSince?: number) =>
			store.reserveCap({ reservationId: id, contactId: 'c1', channel: 'email', journey: 'j', tags: [], at, expiresAt: at + 1_000, ...(keepSince !== undefined ? { keepSince } : {}) }, all);
		await reserve('old-pending', 10);
		await reserve('old-sent', 20);
		await store.settleCap('old-sent', 'commit');
		await reserve('edge', 30);
		await reserve('young-pending', 40);
		await reserve('young-sent', 50);
		await store.settleCap('young-sent', 'commit');
		const ledger = `${prefix}cap:c1`;
		// A read-only look and a check without a horizon keep everything.
		expect((await store.peekCap('c1', all, 60)).counts).toEqual([5]);
		expect((await reserve('no-horizon', 60)).counts).toEqual([5]);
		expect((await store.client.hkeys(ledger)).sort()).toEqual(['edge', 'no-horizon', 'old-pending', 'old-sent', 'young-pending', 'young-sent']);
		// keepSince 30: entries made before 30 go (an entry made at 30 stays), in the same script that counts.
		expect((await reserve('new', 70, 30)).counts).toEqual([4]);
		expect((await store.client.hkeys(ledger)).sort()).toEqual(['edge', 'new', 'no-horizon', 'young-pending', 'young-sent']);
		expect(await store.client.exists(`${prefix}res:old-pending`)).toBe(0);
		expect(await store.client.exists(`${prefix}res:young-pending`)).toBe(1);
		expect(await store.settleCap('old-pending', 'commit')).toBe(false);
		expect(await store.settleCap('young-pending', 'commit')).toBe(true);
		// A refused check trims too; a horizon that is not a finite time drops nothing.
		const full = [{ ruleId: 'none', limit: 0, since: 0, match: {}, excludeTags: [] }];
		await store.reserveCap({ reservationId: 'refused', contactId: 'c1', channel: 'email', journey: 'j', tags: [], at: 80, expiresAt: 1_080, keepSince: Infinity }, full);
		expect(await store.client.hlen(ledger)).toBe(5);
		expect((await store.reserveCap({ reservationId: 'refused', contactId: 'c1', channel: 'email', journey: 'j', tags: [], at: 80, expiresAt: 1_080, keepSince: 45 }, full)).ok).toBe(false);
		expect((await store.client.hkeys(ledger)).sort()).toEqual(['new', 'no-horizon', 'young-sent']);
		expect(await store.pruneExpired('capLedger', 1_000, true)).toBe(3);
		await store.close();
	});

	test('with any horizons, the Redis ledger answers as the memory store does and keeps exactly the entries made since the last horizon', async () => {
		const store = new RedisStore(TEST_REDIS_URL, { prefix: freshPrefix() });
		const op = fc.oneof(
			fc.record({ entry: entryArb, keepBack: fc.option(fc.integer({ min: 0, max: 80 }), { nil: undefined }), counters: fc.array(counterArb, { maxLength: 3 }) }).map((o) => ({ kind: 'reserve' as const, ...o })),
			fc.record({ kind: fc.constantFrom('commit' as const, 'release' as const), pick: fc.nat() }),
		);
		let run = 0;
		try {
			await fc.assert(
				fc.asyncProperty(fc.array(op, { maxLength: 25 }), async (ops) => {
					const contactId = `p${run++}`;
					const memory = new MemoryStore();
					// The entries each store must still hold: reserved, not released, made at or after every horizon since.
					let kept: { id: string; at: number }[] = [];
					let n = 0;
					for (const o of ops) {
						if (o.kind === 'reserve') {
							const id = `${contactId}-${n++}`;
							const { at, ttl, channel, journey, tags } = o.entry;
							const keepSince = o.keepBack === undefined ? undefined : at - o.keepBack;
							const r = { reservationId: id, contactId, channel, journey, tags, at, expiresAt: at + ttl, ...(keepSince !== undefined ? { keepSince } : {}) };
							const counters = o.counters.map(toCounter);
							const verdict = await store.reserveCap(r, counters);
							expect(verdict).toEqual(await memory.reserveCap(r, counters));
							if (keepSince !== undefined) kept = kept.filter((e) => e.at >= keepSince);
							if (verdict.ok) kept.push({ id, at });
						} else if (n > 0) {
							const id = `${contactId}-${o.pick % n}`;
							const settled = await store.settleCap(id, o.kind);
							expect(settled).toBe(await memory.settleCap(id, o.kind));
							if (settled && o.kind === 'release') kept = kept.filter((e) => e.id !== id);
						}
					}
					expect((await store.client.hkeys(`${store.prefix}cap:${contactId}`)).sort()).toEqual(kept.map((e) => e.id).sort());
				}),
				// No shrinking: each step is a round trip to Redis, and the first counterexample says enough.
				{ numRuns: 100, endOnFailure: true },
			);
		} finally {
			await store.close();
		}
	});

	test('peekCap is one command to Redis for all the rules of the check, and writes nothing', async () => {
		const prefix = freshPrefix();
		const store = new RedisStore(TEST_REDIS_URL, { prefix });
		const counters = ['a', 'b', 'c', 'd'].map((ruleId, i) => ({ ruleId, limit: 1, since: 0, match: i % 2 ? { channel: 'sms' } : {}, excludeTags: ['transactional'] }));
		await store.peekCap('c1', counters, 10); // loads the script (EVALSHA, then EVAL once on NOSCRIPT)
		const sent = jest.spyOn(store.client, 'sendCommand');
		const verdict = await store.peekCap('c1', counters, 10);
		expect(sent.mock.calls.map(([command]) => (command as { name: string }).name)).toEqual(['evalsha']);
		expect(verdict).toEqual({ ok: true, counts: [0, 0, 0, 0], freesAt: [undefined, undefined, undefined, undefined] });
		expect(await store.client.keys(`${prefix}*`)).toEqual([]);
		sent.mockRestore();
		await store.close();
	});
});

describe('Redis store connection errors', () => {
	test('an unreachable Redis fails each call with a clear STORE_ERROR after retrying, and never crashes the process', async () => {
		const store = new RedisStore('redis://user:secret@127.0.0.1:1/0', { maxRetriesPerRequest: 2 });
		const started = Date.now();
		const failure = await store.reserveCap({ reservationId: 'r', contactId: 'c', channel: 'email', journey: 'j', tags: [], at: 1, expiresAt: 2 }, []).catch((e: unknown) => e);
		expect(failure).toBeInstanceOf(NudgeError);
		expect(failure).toMatchObject({ code: 'STORE_ERROR' });
		expect((failure as Error).message).toMatch(/^Redis store at redis:\/\/user:\*\*\*@127\.0\.0\.1:1\/0 could not check a frequency cap: /);
		expect((failure as Error).message).not.toContain('secret');
		expect(Date.now() - started).toBeLessThan(10_000);
		await store.close();
	});
});

describe('Redis store across a Redis restart', () => {
	const hasServer = spawnSync('redis-server', ['--version']).status === 0;
	const maybe = hasServer ? test : test.skip;
	if (!hasServer) process.stderr.write('\n*** redis-server is not installed: the Redis restart test is SKIPPED ***\n\n');

	maybe('calls fail with a clear error while Redis is down, and work again after it restarts, with nothing lost', async () => {
		// A private server on another loopback port (never the machine's own Redis), persisting to an append-only file.
		const dir = tempDir();
		// A port the kernel says is free (a random one could be the local end of another test's connection: no bind).
		const port = await freePort();
		const start = async () => {
			const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdio: 'ignore' });
			for (let i = 0; i < 100 && server.exitCode === null; i++) {
				if (spawnSync(process.execPath, ['-e', `require('net').connect(${port},'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))`]).status === 0) return server;
				await new Promise((r) => setTimeout(r, 50));
			}
			throw new Error('private redis-server did not start');
		};
		const stop = (server: ChildProcess) => new Promise<void>((resolve) => (server.once('exit', () => resolve()), server.kill('SIGKILL')));
		let server = await start();
		const store = new RedisStore(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 2 });
		const one = [{ ruleId: 'one', limit: 1, since: 0, match: {}, excludeTags: [] }];
		const reserve = (id: string) => store.reserveCap({ reservationId: id, contactId: 'c1', channel: 'email', journey: 'j', tags: [], at: 10, expiresAt: Date.now() + 60_000 }, one);
		try {
			expect((await reserve('before')).ok).toBe(true);
			expect(await store.settleCap('before', 'commit')).toBe(true);
			await stop(server);
			const failure = await reserve('during').catch((e: unknown) => e);
			expect(failure).toMatchObject({ code: 'STORE_ERROR' });
			expect((failure as Error).message).toMatch(new RegExp(`^Redis store at redis://127\\.0\\.0\\.1:${port} could not check a frequency cap: .*ECONNREFUSED`));
			server = await start();
			// The client reconnects by itself; the committed send survived the restart, so the cap is still full.
			let verdict;
			for (let i = 0; i < 50 && !verdict; i++) verdict = await reserve('after').catch(() => new Promise((r) => setTimeout(r, 100)).then(() => undefined));
			expect(verdict).toMatchObject({ ok: false, counts: [1], bindingRuleId: 'one' });
		} finally {
			await store.close();
			await stop(server);
		}
	});
});
