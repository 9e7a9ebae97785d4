import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { engagementDeltas } from '../../engine/decide/sendTime';
import { waitTimer } from '../../engine/guard/waits';
import { MemoryStore } from '../../engine/store/memory';
import { openStore } from '../../engine/store/open';
import { FACTS_BATCH, SqliteStore } from '../../engine/store/sqlite';
import { countSql, listSummariesSql } from '../../engine/store/factsSql';
import { contactHourKeys } from '../../engine/store/sendHours';
import { waitQueue } from '../../engine/store/types';
import type { Channel } from '../../engine/channels';
import { NudgeError } from '../../engine/errors';
import { decision, profile, tempDir } from '../helpers/fixtures';
import { describeStoreContract } from './storeContract';
import { createEngine } from '../../engine/registry';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';

describeStoreContract('memory', () => new MemoryStore());
describeStoreContract('sqlite', () => new SqliteStore(join(tempDir(), 'store.db')));

describe('SQLite store', () => {
	test('is created on first use, in WAL mode, and keeps data across reopening', async () => {
		const path = join(tempDir(), 'nested', 'dir', 'nudge.db');
		expect(existsSync(path)).toBe(false);
		const first = new SqliteStore(path);
		await first.saveProfile(profile('c1', { email: 'a@x.io' }), ['email:a@x.io'], []);
		await first.putDecision(decision('d1'));
		await first.close();
		expect(existsSync(path)).toBe(true);
		// The WAL journal mode is recorded in the file header (bytes 18-19 = 2).
		const header = readFileSync(path).subarray(18, 20);
		expect([...header]).toEqual([2, 2]);
		const second = new SqliteStore(path);
		expect((await second.getProfile('c1'))?.email).toBe('a@x.io');
		expect((await second.getDecision('d1'))?.decisionId).toBe('d1');
		await second.close();
	});

	test('a waiting decision survives reopening, and a taker that died before acknowledging loses it to the next after the lease', async () => {
		const path = join(tempDir(), 'nudge.db');
		const first = new SqliteStore(path);
		await first.scheduleTimer(waitTimer({ decisionId: 'd1', journey: 'nurture', contactId: 'c1' }, 1000));
		expect(await first.takeDueTimers(1000, 10, 500, waitQueue('nurture'))).toHaveLength(1); // taken, never acknowledged
		await first.close();
		const second = new SqliteStore(path);
		expect(await second.takeDueTimers(1499, 10, 500, waitQueue('nurture'))).toEqual([]);
		const [again] = await second.takeDueTimers(1500, 10, 500, waitQueue('nurture'));
		expect(again).toMatchObject({ timerId: 'wait:nurture:d1', dueAt: 1000 });
		expect(await second.ackTimer(again.timerId, again.lease)).toBe(true);
		await second.close();
	});

	test('sync resolves after the batch commits, and another connection then sees the writes', async () => {
		const path = join(tempDir(), 'nudge.db');
		const writer = new SqliteStore(path);
		const reader = new SqliteStore(path);
		await writer.putDecision(decision('d1'));
		expect(await reader.getDecision('d1')).toBeUndefined();
		await writer.sync();
		expect((await reader.getDecision('d1'))?.decisionId).toBe('d1');
		await writer.close();
		await reader.close();
	});

	test('two connections racing for the last cap slot: exactly one gets it', async () => {
		const path = join(tempDir(), 'nudge.db');
		const a = new SqliteStore(path);
		const b = new SqliteStore(path);
		const counter = [{ ruleId: 'one', limit: 1, since: 0, match: {}, excludeTags: [] }];
		const reserve = (s: SqliteStore, id: string) =>
			s.reserveCap({ reservationId: id, contactId: 'c1', channel: 'email', journey: 'nurture', tags: [], at: 1, expiresAt: 10_000 }, counter);
		const first = await reserve(a, 'ra');
		await a.sync();
		const second = await reserve(b, 'rb');
		await b.sync();
		expect([first.ok, second.ok]).toEqual([true, false]);
		await a.close();
		await b.close();
	});

	test('reservations settled in the turn they were made are stored as settled (committed kept, released gone) and count so after reopening', async () => {
		const path = join(tempDir(), 'nudge.db');
		const store = new SqliteStore(path);
		const all = [{ ruleId: 'all', limit: 9, since: 0, match: {}, excludeTags: [] }];
		const reserve = (id: string) => store.reserveCap({ reservationId: id, contactId: 'c1', channel: 'email', journey: 'nurture', tags: ['promo', 'news'], at: 5, expiresAt: 50 }, all);
		await reserve('kept');
		await reserve('given-back');
		await reserve('left-pending');
		expect(await store.settleCap('kept', 'commit')).toBe(true);
		expect(await store.settleCap('kept', 'commit')).toBe(false);
		expect(await store.settleCap('given-back', 'release')).toBe(true);
		expect(await store.settleCap('given-back', 'release')).toBe(false);
		expect((await store.peekCap('c1', all, 10)).counts).toEqual([2]);
		await store.sync();
		const raw = new DatabaseSync(path);
		const rows = raw.prepare('SELECT reservation_id, tags, state FROM cap_ledger ORDER BY reservation_id').all();
		raw.close();
		expect(rows.map((r) => ({ ...r }))).toEqual([
			{ reservation_id: 'kept', tags: '["promo","news"]', state: 'committed' },
			{ reservation_id: 'left-pending', tags: '["promo","news"]', state: 'pending' },
		]);
		await store.close();
		// Reopened: the committed one counts past every expiry, the pending one until it expires.
		const again = new SqliteStore(path);
		expect((await again.peekCap('c1', all, 10)).counts).toEqual([2]);
		expect((await again.peekCap('c1', all, 60)).counts).toEqual([1]);
		expect(await again.settleCap('left-pending', 'commit')).toBe(true);
		expect((await again.peekCap('c1', all, 60)).counts).toEqual([2]);
		await again.close();
	});

	test('a reservation whose row cannot be written is a 503 and leaves the ledger, its copy and the batch as they were', async () => {
		const path = join(tempDir(), 'nudge.db');
		const store = new SqliteStore(path);
		const all = [{ ruleId: 'all', limit: 9, since: 0, match: {}, excludeTags: [] }];
		const reserve = (id: string, at: number) => store.reserveCap({ reservationId: id, contactId: 'c1', channel: 'email', journey: 'nurture', tags: [], at, expiresAt: 50 }, all);
		await reserve('r1', 5);
		// The same id again: its INSERT breaks the primary key, in the batch that holds r1's row.
		await expect(reserve('r1', 6)).rejects.toMatchObject({ code: 'STORE_ERROR', httpStatus: 503 });
		expect((await reserve('r2', 7)).counts).toEqual([1]);
		expect((await store.peekCap('c1', all, 10)).counts).toEqual([2]);
		expect(await store.settleCap('r1', 'commit')).toBe(true);
		await store.sync();
		const raw = new DatabaseSync(path);
		const rows = raw.prepare('SELECT reservation_id, at, state FROM cap_ledger ORDER BY reservation_id').all();
		raw.close();
		expect(rows.map((r) => ({ ...r }))).toEqual([
			{ reservation_id: 'r1', at: 5, state: 'committed' },
			{ reservation_id: 'r2', at: 7, state: 'pending' },
		]);
		await store.close();
	});

	test('each connection counts what the others committed: reservations, commits, releases, erasures (its copy of the ledger follows)', async () => {
		const path = join(tempDir(), 'nudge.db');
		const a = new SqliteStore(path);
		const b = new SqliteStore(path);
		const all = [{ ruleId: 'all', limit: 3, since: 0, match: {}, excludeTags: [] }];
		const reserve = async (s: SqliteStore, id: string, at: number) => {
			const verdict = await s.reserveCap({ reservationId: id, contactId: 'c1', channel: 'email', journey: 'nurture', tags: [], at, expiresAt: at + 100 }, all);
			await s.sync();
			return verdict;
		};
		const count = async (s: SqliteStore, now: number) => (await s.peekCap('c1', all, now)).counts[0];
		expect((await reserve(a, 'a1', 1)).counts).toEqual([0]);
		expect((await reserve(b, 'b1', 2)).counts).toEqual([1]);
		// a has c1 in its copy from before b wrote: it must see b's row.
		expect((await reserve(a, 'a2', 3)).counts).toEqual([2]);
		expect(await count(b, 4)).toBe(3);
		// (One thread: each connection commits before the other writes.)
		expect(await b.settleCap('a1', 'commit')).toBe(true);
		await b.sync();
		expect(await a.settleCap('a2', 'release')).toBe(true);
		await a.sync();
		// Past every expiry: only the committed a1 counts, on both.
		expect([await count(a, 500), await count(b, 500)]).toEqual([1, 1]);
		expect(await a.settleCap('a1', 'commit')).toBe(false);
		await a.sync();
		expect((await reserve(b, 'b2', 501)).counts).toEqual([1]);
		expect((await reserve(a, 'a3', 502)).counts).toEqual([2]);
		expect(await reserve(b, 'b3', 503)).toMatchObject({ ok: false, counts: [3] });
		expect(await a.settleCap('a3', 'release')).toBe(true);
		await a.sync();
		expect((await reserve(b, 'b4', 504)).counts).toEqual([2]);
		await b.eraseContact({ contactId: 'c1', identityKeys: [], claimKeys: [], armKeys: [], pseudonymise: (d) => d });
		expect(await count(a, 505)).toBe(0);
		await a.close();
		await b.close();
	});

	/** Two connections to one file, and each one's trials for `keys`. */
	function twoConnections(keys: string[]) {
		const path = join(tempDir(), 'nudge.db');
		const read = async (s: SqliteStore) => Object.fromEntries([...(await s.getArmStats(keys))].map(([key, stats]) => [key, stats.trials]));
		return { path, a: new SqliteStore(path), b: new SqliteStore(path), read };
	}

	test('each connection reads the learner counts the others committed: increments, erasures, raw writes (its copy follows)', async () => {
		const keys = ['global#email', 'hour:c1#9'];
		const { path, a, b, read } = twoConnections(keys);
		await a.addArmStats([{ key: 'global#email', delta: { trials: 1, successes: 1 } }]);
		await a.sync();
		// Both now hold both keys in their copies, one of them as having no row.
		expect([await read(a), await read(b)]).toEqual([{ 'global#email': 1 }, { 'global#email': 1 }]);
		await b.addArmStats([{ key: 'global#email', delta: { trials: 2 } }, { key: 'hour:c1#9', delta: { trials: 1 } }]);
		await b.sync();
		expect(await read(a)).toEqual({ 'global#email': 3, 'hour:c1#9': 1 });
		expect(await read(b)).toEqual({ 'global#email': 3, 'hour:c1#9': 1 });
		// Its own increment is read before it commits; the other connection reads it once committed.
		await a.addArmStats([{ key: 'hour:c1#9', delta: { trials: 1, valueSum: 2.5 } }]);
		expect(await read(a)).toEqual({ 'global#email': 3, 'hour:c1#9': 2 });
		await a.sync();
		expect((await b.getArmStats(['hour:c1#9'])).get('hour:c1#9')).toEqual({ trials: 2, successes: 0, negatives: 0, valueSum: 2.5, valueSq: 0 });
		await b.eraseContact({ contactId: 'c1', identityKeys: [], claimKeys: [], armKeys: ['hour:c1#9'], pseudonymise: (d) => d });
		expect(await read(a)).toEqual({ 'global#email': 3 });
		expect(await read(b)).toEqual({ 'global#email': 3 });
		// A writer that is not a Nudge store (or an older version of it) is followed too.
		const raw = new DatabaseSync(path, { timeout: 5_000 });
		raw.exec(`UPDATE learner_arms SET trials = 10 WHERE key = 'global#email'`);
		raw.close();
		expect([await read(a), await read(b)]).toEqual([{ 'global#email': 10 }, { 'global#email': 10 }]);
		// What a caller does with the counts it got does not change the copy.
		(await a.getArmStats(keys)).get('global#email')!.trials = 99;
		expect(await read(a)).toEqual({ 'global#email': 10 });
		await a.close();
		await b.close();
	});

	test('each connection reads the send hours the others committed: by scope in its copy, through increments, erasures, raw writes', async () => {
		const { path, a, b } = twoConnections([]);
		const own = async (s: SqliteStore, contactId = 'c1') => (await s.getSendHours(contactId)).own.flatMap((n, h) => (n ? [`${h}:${n}`] : []));
		const population = async (s: SqliteStore) => (await s.getSendHours('c1')).population.flatMap((n, h) => (n ? [`${h}:${n}`] : []));
		// Both copies know c1 and the population as having none.
		expect([await own(a), await own(b), await population(a)]).toEqual([[], [], []]);
		await b.addArmStats(engagementDeltas('c1', new Date('2026-11-02T09:30:00Z'), 'UTC'));
		await b.sync();
		expect([await own(a), await population(a)]).toEqual([['9:1'], ['9:1']]);
		// Its own increment is read before it commits; the other connection reads it once committed.
		await a.addArmStats([...engagementDeltas('c1', new Date('2026-11-02T09:45:00Z'), 'UTC'), ...engagementDeltas('c1#9', new Date('2026-11-02T17:00:00Z'), 'UTC')]);
		expect([await own(a), await own(a, 'c1#9'), await population(a)]).toEqual([['9:2'], ['17:1'], ['9:2', '17:1']]);
		await a.sync();
		expect([await own(b), await own(b, 'c1#9'), await population(b)]).toEqual([['9:2'], ['17:1'], ['9:2', '17:1']]);
		await b.eraseContact({ contactId: 'c1', identityKeys: [], claimKeys: [], armKeys: contactHourKeys('c1'), pseudonymise: (d) => d });
		expect([await own(a), await own(a, 'c1#9'), await own(b)]).toEqual([[], ['17:1'], []]);
		const raw = new DatabaseSync(path, { timeout: 5_000 });
		raw.exec(`INSERT INTO learner_arms (key, trials) VALUES ('hour:c1#0', 3)`);
		raw.close();
		expect([await own(a), await own(b)]).toEqual([['0:3'], ['0:3']]);
		await a.close();
		await b.close();
	});

	test('the folded cap commit counts the learner through the copy: read at once by this connection, once committed by another', async () => {
		const keys = ['global#email', 'ctx#email'];
		const { a, b, read } = twoConnections(keys);
		await a.addArmStats([{ key: 'global#email', delta: { trials: 1 } }]);
		await a.sync();
		// Both copies know both keys (one without a row) before the folded step writes them.
		expect([await read(a), await read(b)]).toEqual([{ 'global#email': 1 }, { 'global#email': 1 }]);
		expect((await a.reserveCap({ reservationId: 'r1', contactId: 'c1', channel: 'email', journey: 'j', tags: [], at: 10, expiresAt: 1000 }, [])).ok).toBe(true);
		const trials = keys.map((key) => ({ key, delta: { trials: 1 } }));
		expect(await a.settleCapAndCount('r1', 'commit', trials)).toBe(true);
		expect(await read(a)).toEqual({ 'global#email': 2, 'ctx#email': 1 });
		await a.sync();
		expect(await read(b)).toEqual({ 'global#email': 2, 'ctx#email': 1 });
		await a.close();
		await b.close();
	});
});

describe('SQLite store under the one-call journey', () => {
	test('never commits an event\'s mark without its decision row, also when the event loop turns between the steps', async () => {
		const path = join(tempDir(), 'journey.db');
		const caps = [{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: 1_000, window: { kind: 'rolling', duration: '24h' } }];
		const engine = createEngine({ store: `sqlite:${path}`, policy: { ...DEFAULT_POLICY, caps } });
		const store = engine.store as unknown as { commit(): void };
		const commit = store.commit.bind(store);
		const raw = new DatabaseSync(path, { readOnly: true });
		const marked = raw.prepare(`SELECT substr(key, 7) AS id FROM claimed_keys WHERE key LIKE 'event:%'`);
		const logged = raw.prepare(`SELECT json_extract(body, '$.event.eventId') AS id FROM decisions`);
		let commits = 0;
		const markedWithoutRow: string[] = [];
		// What another connection (or the file after a crash) sees at every commit.
		store.commit = () => {
			commit();
			commits++;
			const rows = new Set(logged.all().map((r) => r.id));
			for (const { id } of marked.all()) if (!rows.has(id)) markedWithoutRow.push(String(id));
		};
		// A store call that lets the event loop turn (the open batch commits then) between the look that sets the
		// event's mark and the commit before the send.
		const look = engine.store.peekCapAndReadArmStats.bind(engine.store);
		engine.store.peekCapAndReadArmStats = async (...args) => {
			const read = await look(...args);
			await new Promise((turned) => setImmediate(turned));
			return read;
		};
		const sent: string[] = [];
		for (let i = 0; i < 20; i++) {
			const d = await engine.decide({ eventId: `e${i}`, type: 'track', name: 'Pricing Viewed', identities: { userId: `u${i % 5}`, email: `u${i % 5}@example.com` } }, { journey: 'nurture', target: { dryRun: true } });
			if (d.status === 'sent') sent.push(d.decisionId);
		}
		store.commit = commit;
		raw.close();
		await engine.close();
		expect(sent.length).toBeGreaterThan(10);
		expect(commits).toBeGreaterThan(40);
		expect(markedWithoutRow).toEqual([]);
	});
});

describe('SQLite store errors name the file, never the server’s directories', () => {
	test('a store that cannot be created', () => {
		const dir = tempDir();
		writeFileSync(join(dir, 'taken'), 'a file where a folder should be');
		const open = () => new SqliteStore(join(dir, 'taken', 'sub', 'nudge.db'));
		expect(open).toThrow(expect.objectContaining({ code: 'STORE_ERROR', httpStatus: 503, message: expect.stringMatching(/^Cannot open the SQLite store nudge\.db: ENOTDIR: not a directory, mkdir$/) }));
	});

	test('a write that fails is a 503 that says which file', async () => {
		const path = join(tempDir(), 'nudge.db');
		const store = new SqliteStore(path);
		await store.putDecision(decision('d1'));
		await store.sync();
		const other = new DatabaseSync(path, { timeout: 5_000 });
		other.exec('DROP TABLE profiles');
		other.close();
		const failure = await store.saveProfile(profile('c1'), ['email:a@x.io'], []).catch((error: NudgeError) => error);
		expect(failure).toMatchObject({ code: 'STORE_ERROR', httpStatus: 503, message: expect.stringMatching(/^Could not write to the SQLite store nudge\.db: /) });
		expect((failure as NudgeError).message).not.toContain(dirname(path));
		await store.close();
	});
});

describe('SQLite store upgrades', () => {
	test('a file from the first version (cap ledger without journey and tags) is migrated and keeps its slots', async () => {
		const { DatabaseSync } = await import('node:sqlite');
		const path = join(tempDir(), 'old.db');
		const old = new DatabaseSync(path);
		old.exec(`CREATE TABLE cap_ledger (reservation_id TEXT PRIMARY KEY, contact_id TEXT NOT NULL, channel TEXT NOT NULL,
			at INTEGER NOT NULL, expires_at INTEGER NOT NULL, state TEXT NOT NULL)`);
		old.prepare(`INSERT INTO cap_ledger VALUES ('r-old', 'c1', 'email', 100, 200, 'committed')`).run();
		old.close();
		const store = new SqliteStore(path);
		const verdict = await store.reserveCap(
			{ reservationId: 'r-new', contactId: 'c1', channel: 'email', journey: 'nurture', tags: ['promo'], at: 1000, expiresAt: 5000 },
			[{ ruleId: 'one', limit: 1, since: 0, match: { channel: 'email' }, excludeTags: [] }],
		);
		expect(verdict).toMatchObject({ ok: false, counts: [1] });
		await store.close();
	});

	test('a send tagged "Black Friday, 2026" counts toward that tag\'s cap after reopening; a ledger row of earlier versions (",promo,news,") keeps its tags', async () => {
		const path = join(tempDir(), 'tags.db');
		const rule = (tag: string) => ({ ruleId: tag, limit: 9, since: 0, match: { tag }, excludeTags: [] });
		const store = new SqliteStore(path);
		await store.reserveCap({ reservationId: 'r1', contactId: 'c1', channel: 'email', journey: 'j', tags: ['Black Friday, 2026'], at: 1000, expiresAt: 10_000 }, []);
		await store.settleCap('r1', 'commit');
		await store.close();
		const raw = new DatabaseSync(path);
		raw.prepare(`INSERT INTO cap_ledger (reservation_id, contact_id, channel, journey, tags, at, expires_at, state) VALUES ('r-old', 'c1', 'email', 'j', ',promo,news,', 1000, 10000, 'committed')`).run();
		raw.close();
		const again = new SqliteStore(path);
		expect((await again.peekCap('c1', [rule('Black Friday, 2026'), rule(' 2026'), rule('promo'), rule('news')], 2000)).counts).toEqual([1, 0, 1, 1]);
		await again.close();
	});

	test('a file whose claimed keys are a rowid table is rebuilt without one on open, every claim kept', async () => {
		const path = join(tempDir(), 'claims.db');
		const old = new DatabaseSync(path);
		old.exec(`CREATE TABLE claimed_keys (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)`);
		old.prepare(`INSERT INTO claimed_keys VALUES ('event:e1', 5000), ('send:d1', 9000), ('event:gone', 10)`).run();
		old.close();
		const [first, second] = [new SqliteStore(path), new SqliteStore(path)];
		const raw = new DatabaseSync(path, { timeout: 5_000 });
		expect((raw.prepare(`SELECT sql FROM sqlite_schema WHERE name = 'claimed_keys'`).get() as { sql: string }).sql).toMatch(/WITHOUT ROWID$/);
		expect(raw.prepare('SELECT key, expires_at FROM claimed_keys ORDER BY key').all().map((r) => Object.values(r).join('@'))).toEqual(['event:e1@5000', 'event:gone@10', 'send:d1@9000']);
		raw.close();
		// Held keys stay held; an expired one can be claimed again; both connections see the same table.
		expect(await first.claimKey('event:e1', 1000, 100)).toBe(false);
		await first.sync();
		expect(await second.keyHeldUntil('send:d1', 100)).toBe(9000);
		expect(await second.claimKey('event:gone', 1000, 100)).toBe(true);
		await first.close();
		await second.close();
	});
});

describe('SQLite store console indexes', () => {
	test('a file made with the console indexes since folded opens with the folded set, and the channel views read the same', async () => {
		const path = join(tempDir(), 'old.db');
		const store = new SqliteStore(path);
		const channels: (Channel | undefined)[] = ['email', 'sms', 'email', undefined];
		for (const [i, channel] of channels.entries()) {
			await store.putDecision(decision(`d${i}`, { createdAt: `2026-11-0${i + 1}T00:00:00.000Z`, status: channel ? 'sent' : 'suppressed', ...(channel ? { channel } : { reason: 'NO_CONSENT' }) }));
		}
		await store.close();
		// The indexes as the previous version created them.
		const old = new DatabaseSync(path);
		old.exec(`DROP INDEX decision_facts_channel_mix;
			CREATE INDEX decision_facts_channel ON decision_facts (channel, created_at);
			CREATE INDEX decision_facts_by_channel ON decision_facts (channel, status);`);
		old.close();
		const indexes = () => {
			const raw = new DatabaseSync(path);
			const names = (raw.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'decision_facts' AND sql IS NOT NULL ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
			raw.close();
			return names;
		};
		expect(indexes()).toContain('decision_facts_by_channel');
		const again = new SqliteStore(path);
		expect(indexes().filter((name) => name.includes('channel'))).toEqual(['decision_facts_channel_mix']);
		expect(await again.countDecisions({}, ['channel', 'status', 'reason'])).toEqual([
			{ key: [null, 'suppressed', 'NO_CONSENT'], n: 1 },
			{ key: ['email', 'sent', null], n: 2 },
			{ key: ['sms', 'sent', null], n: 1 },
		]);
		expect((await again.listDecisionSummaries({ channel: 'email' }, { limit: 10 })).map((r) => r.decisionId)).toEqual(['d2', 'd0']);
		await again.close();
	});

	test('a decision written again sets only what changed, and its facts stay right through erasure, deletion and another connection’s writes', async () => {
		const path = join(tempDir(), 'facts.db');
		const store = new SqliteStore(path);
		const statuses = async () => (await store.countDecisions({}, ['status', 'channel'])).map((r) => `${r.key.join('/')}:${r.n}`);
		const raw = () => new DatabaseSync(path, { timeout: 5_000 });
		await store.putDecision(decision('d1'));
		await store.sync();
		await store.putDecision(decision('d1', { channel: 'email' }));
		await store.sync();
		await store.putDecision(decision('d1', { channel: 'email', status: 'sent' }));
		await store.sync();
		expect(await statuses()).toEqual(['sent/email:1']);
		await store.eraseContact({ contactId: 'c1', identityKeys: [], claimKeys: [], armKeys: [], pseudonymise: (d) => ({ ...d, contactId: 'erased-1' }) });
		expect((await store.listDecisionSummaries({ contactId: 'erased-1' }, { limit: 5 })).map((r) => r.decisionId)).toEqual(['d1']);
		expect(await store.deleteDecisions(['d1'])).toBe(1);
		await store.putDecision(decision('d1', { channel: 'email', status: 'sent' }));
		await store.sync();
		expect(await statuses()).toEqual(['sent/email:1']);
		// Another connection rewrites the row: the next write of the same facts puts them back.
		const other = raw();
		other.exec(`UPDATE decision_facts SET status = 'failed', channel = 'sms'`);
		other.close();
		await store.putDecision(decision('d1', { channel: 'email', status: 'sent' }));
		await store.sync();
		expect(await statuses()).toEqual(['sent/email:1']);
		await store.close();
	});

	/** The facts rows as another connection sees them: id, status, stage and contact. */
	const factsOnDisk = (path: string) => {
		const raw = new DatabaseSync(path, { timeout: 5_000 });
		const rows = (raw.prepare('SELECT decision_id, status, stage, contact_id FROM decision_facts ORDER BY decision_id').all() as Record<string, unknown>[]).map((r) => `${r.decision_id}:${r.status}:${r.stage}:${r.contact_id}`);
		raw.close();
		return rows;
	};
	const scored = { score: { value: 70, probability: 0.7, model: 'rules:default', tier: 'warm' as const, fallback: false, factors: [] } };

	test('facts wait: a decision’s are written once it has settled and a batch of settled ones waits, those of pending ones still in flight stay; this connection’s queries see them all at once', async () => {
		const path = join(tempDir(), 'waiting.db');
		const store = new SqliteStore(path);
		await store.putDecision(decision('d1'));
		await store.sync();
		await store.putDecision(decision('d1', scored));
		await store.sync();
		// The decision row is committed; its facts wait, settled too.
		const raw = new DatabaseSync(path, { timeout: 5_000 });
		expect(raw.prepare(`SELECT count(*) AS n FROM decisions WHERE decision_id = 'd1'`).get()).toEqual({ n: 1 });
		raw.close();
		expect(factsOnDisk(path)).toEqual([]);
		await store.putDecision(decision('d1', { ...scored, channel: 'email', status: 'sent' }));
		await store.putDecision(decision('d0', scored));
		await store.sync();
		expect(factsOnDisk(path)).toEqual([]);
		// Decisions as the engine writes them: pending first (committed), then settled. One short of a batch: all wait.
		const settle = async (id: string) => {
			await store.putDecision(decision(id, scored));
			await store.sync();
			await store.putDecision(decision(id, { ...scored, channel: 'email', status: 'sent' }));
			await store.sync();
		};
		const id = (i: number) => `e${String(i).padStart(4, '0')}`;
		for (let i = 0; i < FACTS_BATCH - 3; i++) await settle(id(i));
		expect(factsOnDisk(path)).toEqual([]);
		// The batch is full: every settled decision's facts are written in one commit; pending ones in flight wait on.
		await store.putDecision(decision('f1', scored));
		await store.sync();
		const written = factsOnDisk(path);
		expect(written).toHaveLength(FACTS_BATCH - 2);
		expect(written[0]).toBe('d1:sent:4:c1');
		expect(written.at(-1)).toBe(`${id(FACTS_BATCH - 4)}:sent:4:c1`);
		expect(written.some((row) => row.startsWith('d0:') || row.startsWith('f1:'))).toBe(false);
		// A query of this connection writes what waits first.
		expect((await store.countDecisions({}, ['status'])).map((r) => `${r.key[0]}:${r.n}`)).toEqual(['pending:2', `sent:${FACTS_BATCH - 2}`]);
		expect(factsOnDisk(path)).toEqual(['d0:pending:1:c1', ...written, 'f1:pending:1:c1'].sort());
		await store.close();
	});

	test('facts waiting while another connection moves their decision on are made from the decision as it is now', async () => {
		const path = join(tempDir(), 'moved.db');
		const first = new SqliteStore(path);
		const second = new SqliteStore(path);
		await first.putDecision(decision('d1', scored));
		await first.sync();
		// The second connection first sees d1 settled: its facts go straight to the file.
		await second.putDecision(decision('d1', { ...scored, channel: 'email', status: 'sent' }));
		await second.sync();
		expect(factsOnDisk(path)).toEqual(['d1:sent:4:c1']);
		// The first one's waiting facts (pending) must not take the settled row back.
		await first.close();
		expect(factsOnDisk(path)).toEqual(['d1:sent:4:c1']);
		await second.close();
	});

	test('facts that wait are written about a second later with no other write, and when the store closes', async () => {
		const path = join(tempDir(), 'later.db');
		const store = new SqliteStore(path);
		await store.putDecision(decision('d1', scored));
		await store.sync();
		expect(factsOnDisk(path)).toEqual([]);
		const deadline = Date.now() + 10_000;
		while (factsOnDisk(path).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
		expect(factsOnDisk(path)).toEqual(['d1:pending:1:c1']);
		await store.putDecision(decision('d2'));
		await store.close();
		expect(factsOnDisk(path)).toEqual(['d1:pending:1:c1', 'd2:pending:0:c1']);
	});

	test('a file left with facts missing or behind its pending decisions has them made again from the decisions when it opens', async () => {
		const path = join(tempDir(), 'repair.db');
		const store = new SqliteStore(path);
		await store.putDecision(decision('d1', scored));
		await store.putDecision(decision('d2', { ...scored, channel: 'email', status: 'sent' }));
		await store.putDecision(decision('d3', scored));
		await store.putDecision(decision('d4', { ...scored, channel: 'email', status: 'sent' }));
		await store.close();
		// As a process that died with facts waiting leaves it: one row behind its decision, one missing.
		const raw = new DatabaseSync(path);
		raw.exec(`UPDATE decision_facts SET stage = 0 WHERE decision_id = 'd1'; DELETE FROM decision_facts WHERE decision_id IN ('d3', 'd4'); UPDATE decision_facts SET stage = 3 WHERE decision_id = 'd2'`);
		raw.close();
		await new SqliteStore(path).close();
		// d2 is settled: its row is the one written at the time, and is left as it is; d4 settled with its facts waiting.
		expect(factsOnDisk(path)).toEqual(['d1:pending:1:c1', 'd2:sent:3:c1', 'd3:pending:1:c1', 'd4:sent:4:c1']);
	});

	test('facts waiting for an erased contact are written erased, and those of deleted decisions are not written back', async () => {
		const path = join(tempDir(), 'erase-waiting.db');
		const store = new SqliteStore(path);
		await store.putDecision(decision('d1', scored));
		await store.putDecision(decision('d2', { ...scored, contactId: 'c2' }));
		await store.sync();
		await store.eraseContact({ contactId: 'c1', identityKeys: [], claimKeys: [], armKeys: [], pseudonymise: (d) => ({ ...d, contactId: 'erased-1' }) });
		expect(await store.deleteDecisions(['d2'])).toBe(1);
		await store.close();
		expect(factsOnDisk(path)).toEqual(['d1:pending:1:erased-1']);
	});

	test('a decision row written again with its reason and message id unchanged keeps every column right, after another connection’s writes and deletes too', async () => {
		const path = join(tempDir(), 'rows.db');
		const store = new SqliteStore(path);
		const sent = (extra = {}) => decision('d1', { status: 'sent', channel: 'email', delivery: { provider: 'webhook', status: 'sent', idempotencyKey: 'k', attempts: 1, providerMessageId: 'm-1', at: '2026-11-01T00:00:01.000Z' }, ...extra });
		const rows = () => {
			const raw = new DatabaseSync(path, { timeout: 5_000 });
			const all = raw.prepare('SELECT decision_id, status, reason, message_id FROM decisions ORDER BY decision_id').all();
			raw.close();
			return all.map((r) => Object.values(r).join('|'));
		};
		await store.putDecision(decision('d1', { status: 'suppressed', reason: 'HOLDOUT' }));
		await store.sync();
		await store.putDecision(decision('d1', { status: 'suppressed', reason: 'HOLDOUT', annotations: { note: 'again' } }));
		await store.sync();
		expect(rows()).toEqual(['d1|suppressed|HOLDOUT|']);
		expect((await store.queryDecisions({ reason: 'HOLDOUT' })).map((d) => d.annotations)).toEqual([{ note: 'again' }]);
		await store.putDecision(sent());
		await store.sync();
		await store.putDecision(sent({ annotations: { note: 'logged' } }));
		await store.sync();
		expect(rows()).toEqual(['d1|sent||m-1']);
		expect((await store.findDecisionByMessageId('m-1'))?.annotations).toEqual({ note: 'logged' });
		// Another connection changes the indexed columns, then deletes the row: each next write puts it back whole.
		const other = new DatabaseSync(path, { timeout: 5_000 });
		other.exec(`UPDATE decisions SET reason = 'NO_CONSENT', message_id = NULL`);
		other.close();
		await store.putDecision(sent({ annotations: { note: 'third' } }));
		await store.sync();
		expect(rows()).toEqual(['d1|sent||m-1']);
		const deleter = new DatabaseSync(path, { timeout: 5_000 });
		deleter.exec(`DELETE FROM decisions`);
		deleter.close();
		await store.putDecision(sent({ annotations: { note: 'fourth' } }));
		await store.sync();
		expect(rows()).toEqual(['d1|sent||m-1']);
		expect((await store.getDecision('d1'))?.annotations).toEqual({ note: 'fourth' });
		// The reason as it was and the message id new (a decision pending, then sent): the message id is set with the body.
		const d2 = (messageId?: string) => decision('d2', messageId ? { status: 'sent', delivery: { provider: 'webhook', status: 'sent', idempotencyKey: 'k2', attempts: 1, providerMessageId: messageId, at: '2026-11-01T00:00:01.000Z' } } : {});
		await store.putDecision(d2());
		await store.sync();
		await store.putDecision(d2('m-2'));
		await store.sync();
		expect(rows()).toEqual(['d1|sent||m-1', 'd2|sent||m-2']);
		await store.putDecision(d2('m-3'));
		await store.sync();
		expect(rows()).toEqual(['d1|sent||m-1', 'd2|sent||m-3']);
		expect(await store.findDecisionByMessageId('m-2')).toBeUndefined();
		expect((await store.findDecisionByMessageId('m-3'))?.decisionId).toBe('d2');
		await store.close();
	});

	test('the stream by channel and the channel mix read the folded index (no table rows, no sort of the stream)', async () => {
		const path = join(tempDir(), 'plan.db');
		await new SqliteStore(path).close();
		const raw = new DatabaseSync(path);
		const args: (string | number)[] = [];
		const param = (value: string | number) => (args.push(value), '?');
		const plan = (sql: string) => (raw.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args.splice(0)) as { detail: string }[]).map((r) => r.detail).join(' | ');
		expect(plan(countSql('decision_facts', {}, ['channel', 'status', 'reason'], param))).toContain('COVERING INDEX decision_facts_channel_mix');
		expect(plan(listSummariesSql('decision_facts', { channel: 'sms' }, { limit: 50 }, param))).toMatch(
			/^SEARCH decision_facts USING INDEX decision_facts_channel_mix \(channel=\?\) \| USE TEMP B-TREE FOR LAST TERM OF ORDER BY$/,
		);
		raw.close();
	});
});

describe('openStore', () => {
	test('opens memory and sqlite stores by URL', async () => {
		const mem = openStore('memory:');
		expect(mem.kind).toBe('memory');
		const dir = tempDir();
		const sqlite = openStore(`sqlite:${join(dir, 'x.db')}`);
		expect(sqlite.kind).toBe('sqlite');
		await sqlite.close();
		expect(existsSync(join(dir, 'x.db'))).toBe(true);
	});

	test('an unknown store URL is a clear configuration error', () => {
		expect(() => openStore('mongodb://localhost')).toThrow(NudgeError);
		expect(() => openStore('mongodb://localhost')).toThrow(/Unknown store "mongodb:\/\/localhost". Use sqlite:<file path>/);
		expect(() => openStore('sqlite:')).toThrow(/needs a file path/);
	});
});
