import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { capLedgerKeepMs, RETENTION_REPORT_KEY, RetentionReport, runRetention } from '../../engine/privacy/retention';
import type { Decision } from '../../engine/audit/schema';
import type { Store } from '../../engine/store/types';
import { MemoryStore } from '../../engine/store/memory';
import { openStore } from '../../engine/store/open';
import { Backend, found, memoryDump, postgresBackend, redisBackend, splitBackend, sqlitePath, sqliteRowDump } from '../helpers/rawStores';
import { describeWithServer, TEST_POSTGRES_URL, TEST_REDIS_URL } from '../helpers/services';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-01T12:00:00.000Z');
/** Kept: decisions 400 days, contacts seen within 300 days; the ledger 32 days (the default caps are shorter); claims 72 h past expiry. */
const policy = () => loadPolicy({ ...DEFAULT_POLICY, holdout: { salt: 'retention', globalShare: 0.5, journeys: {} }, retention: { decisions: '400d', inactiveProfiles: '300d' } });

/** Who is seen an hour before the run: enough that some are in the holdout (half are) and some get a message. */
const RECENT = ['kept', 'ann', 'bob', 'cy', 'di', 'ed', 'flo', 'gus', 'hal', 'ida', 'jo', 'kai', 'lou', 'max', 'ned', 'oz'];

const event = (email: string, eventId: string, name = 'Demo Requested') => ({ type: 'track', name, eventId, identities: { email } });

/**
 * GONE is seen only 500 days ago (its decisions and its profile go), FADED 350 days ago (its profile goes, its
 * decisions stay, pseudonymised), KEPT then, 40 days ago and an hour ago (its old decisions go, the rest stays), and
 * a few others an hour ago. Returns the decisions by when they were made.
 */
async function history(engine: Engine, clock: { at: number }) {
	const decide = async (email: string, eventId: string, name?: string) => engine.decide(event(email, eventId, name), { journey: 'nurture', target: { dryRun: true } });
	clock.at = NOW - 500 * DAY;
	const old = [await decide('gone@example.org', 'evt-old-1'), await decide('kept@example.org', 'evt-old-2'), await decide('gone@example.org', 'evt-old-3', 'Pricing Viewed')];
	await engine.recordOutcome({ decisionId: old[0].decisionId, type: 'conversion', value: 50 });
	clock.at = NOW - 350 * DAY;
	const faded = [await decide('faded@example.org', 'evt-faded-1')];
	await engine.recordOutcome({ decisionId: faded[0].decisionId, type: 'conversion', value: 20 });
	clock.at = NOW - 40 * DAY;
	const mid = [await decide('kept@example.org', 'evt-mid-1')];
	const at = clock.at;
	clock.at = NOW - 3_600_000;
	const recent: Decision[] = [];
	for (const who of RECENT) recent.push(await decide(`${who}@example.org`, `evt-recent-${who}`));
	// Past the ledger's 32 days whoever was in the holdout: a send and a reservation never settled. Made after the
	// contact's last check: the memory store drops such entries when it checks the contact again.
	for (const reservationId of ['r-old-sent', 'r-old-pending']) {
		await engine.store.reserveCap({ reservationId, contactId: mid[0].contactId, channel: 'email', journey: 'nurture', tags: [], at, expiresAt: at + 300_000 }, []);
	}
	await engine.store.settleCap('r-old-sent', 'commit');
	await engine.recordOutcome({ decisionId: recent[1].decisionId, type: 'conversion', value: 90 });
	clock.at = NOW;
	await engine.store.sync();
	return { old, faded, mid, recent };
}

const byGroup = (store: Store, from?: string) => store.countDecisions(from ? { from } : {}, ['journey', 'status', 'reason', 'channel', 'group', 'converted']);
const sortRows = <T extends { key: unknown[] }>(rows: T[]) => [...rows].sort((a, b) => JSON.stringify(a.key).localeCompare(JSON.stringify(b.key)));

function describeRetention(backend: Backend): void {
	test(`${backend.name}: deletes what is past the policy's retention, keeps the rest, counts right, and runs once of two`, async () => {
		const store = backend.open();
		const clock = { at: NOW };
		const engine = new Engine({ store, policy: policy(), now: () => new Date(clock.at) });
		const { old, faded, mid, recent } = await history(engine, clock);
		const decisionsCutoff = new Date(NOW - 400 * DAY).toISOString();
		const gone = ['gone@example.org', 'faded@example.org', 'evt-old-1', 'evt-old-2', 'evt-old-3', 'r-old-sent', 'r-old-pending', ...old.map((d) => d.decisionId)];
		// FADED's decision stays, pseudonymised: its event id is no personal data.
		const kept = ['kept@example.org', 'evt-recent-kept', 'evt-faded-1', ...[...faded, ...mid, ...recent].map((d) => d.decisionId)];
		// The search finds what it looks for: everything is there before.
		expect(found(await backend.dump(store), [...gone, ...kept])).toEqual([...gone, ...kept]);
		const keptCounts = sortRows(await byGroup(store, decisionsCutoff));
		expect(keptCounts.some((row) => row.key[4] === 'holdout')).toBe(true);
		expect(keptCounts.some((row) => row.key[4] === 'treated' && row.key[1] === 'sent')).toBe(true);
		const sent = recent.find((d) => d.status === 'sent')!;
		const ledgerCutoff = NOW - capLedgerKeepMs(engine.policy);

		// A dry run counts and changes nothing.
		const dry = await engine.runRetention({ dryRun: true });
		expect(dry).toMatchObject({ dryRun: true, counts: { decisions: old.length, profiles: 2 } });
		expect(dry.counts.capEntries).toBeGreaterThanOrEqual(2);
		expect(dry.counts.claims).toBeGreaterThanOrEqual(4);
		expect(found(await backend.dump(store), [...gone, ...kept])).toEqual([...gone, ...kept]);
		expect(await store.getCursor(RETENTION_REPORT_KEY)).toBeUndefined();

		// Two workers at once: one runs, the other skips; nothing is deleted or counted twice, and nothing fails.
		const runs = await Promise.all([engine.runRetention(), engine.runRetention()]);
		const ran = runs.filter((r) => !r.skipped);
		expect(ran).toHaveLength(1);
		expect(runs.find((r) => r.skipped)?.skipped).toMatch(/another retention run/);
		expect(ran[0].counts).toEqual(dry.counts);
		expect(JSON.parse((await store.getCursor(RETENTION_REPORT_KEY))!) as RetentionReport).toEqual(ran[0]);

		const dump = await backend.dump(store);
		expect(found(dump, gone)).toEqual([]);
		expect(found(dump, kept)).toEqual(kept);
		// The counts, lift and holdout of what is kept are those it had.
		expect(sortRows(await byGroup(store))).toEqual(keptCounts);
		expect((await engine.queryDecisions({ limit: 1000 })).map((d) => d.decisionId).sort()).toEqual([...faded, ...mid, ...recent].map((d) => d.decisionId).sort());
		expect((await store.getDecision(faded[0].decisionId))?.contactId).toMatch(/^erased_/);
		expect(await store.getDecision(old[0].decisionId)).toBeUndefined();
		// Nothing past the ledger's window is left; the last hour's send still counts.
		expect(await store.pruneExpired('capLedger', ledgerCutoff, true)).toBe(0);
		expect(await store.pruneExpired('claims', NOW - 72 * 3_600_000, true)).toBe(0);
		// The email sent an hour ago still holds the daily email cap.
		const capped = await engine.decide(event(`${RECENT[recent.indexOf(sent)]}@example.org`, 'evt-now-sent'), { journey: 'nurture', target: { dryRun: true } });
		expect(capped.contactId).toBe(sent.contactId);
		expect(capped.status).not.toBe('sent');
		// A claim inside its window still de-duplicates.
		await expect(engine.ingest(event('kept@example.org', 'evt-recent-kept'), { journey: 'nurture' })).resolves.toMatchObject({ duplicate: true });

		// Idempotent: the next run finds nothing more.
		clock.at = NOW + 60_000;
		expect((await engine.runRetention()).counts).toEqual({ decisions: 0, profiles: 0, capEntries: 0, claims: 0 });
		await engine.close();
	});
}

const withRedis = describeWithServer('Redis', TEST_REDIS_URL);
const withPostgres = describeWithServer('PostgreSQL', TEST_POSTGRES_URL);

describe('retention', () => {
	describeRetention({ name: 'memory', open: () => new MemoryStore(), dump: async (store) => memoryDump(store as MemoryStore) });
	// Rows, not the file's bytes: pages freed by earlier updates keep old bytes until reused (docs/privacy.md).
	describeRetention({ name: 'sqlite (every row of every table)', open: () => openStore(`sqlite:${sqlitePath()}`), dump: sqliteRowDump });
	withRedis('on Redis (every key and value, by SCAN)', () => {
		describeRetention(redisBackend('nudgeretain'));
	});
	withPostgres('on PostgreSQL (every row of every table, as text)', () => {
		describeRetention(postgresBackend('nudgeretain'));
		withRedis('and split', () => {
			describeRetention(splitBackend('nudgeretain'));
		});
	});
});

describe('the retention lease', () => {
	test('a run whose lease ran out does not free the lease another run now holds: a third run is skipped', async () => {
		const NOW = Date.parse('2026-06-01T12:00:00.000Z');
		const { policy } = loadPolicy({ ...DEFAULT_POLICY, retention: { decisions: '400d', inactiveProfiles: '300d' } });
		const store = new MemoryStore();
		// Each run's first page of decisions waits on a gate of its own, so runs A and B overlap.
		const gates: (() => void)[] = [];
		const query = store.queryDecisions.bind(store);
		store.queryDecisions = (async (...args: Parameters<typeof query>) => {
			await new Promise<void>((resolve) => gates.push(resolve));
			return query(...args);
		}) as typeof store.queryDecisions;
		const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
		const a = runRetention(store, policy, new Date(NOW));
		await settle();
		// A is slow: its 15-minute lease runs out and B takes it over (as for a run that died).
		const b = runRetention(store, policy, new Date(NOW + 16 * 60_000));
		await settle();
		expect(gates).toHaveLength(2);
		gates[0](); // A finishes while B still runs.
		expect((await a).skipped).toBeUndefined();
		// B still holds the lease: a third worker is skipped.
		const c = runRetention(store, policy, new Date(NOW + 17 * 60_000));
		await settle();
		const cStarted = gates.length > 2;
		for (const open of gates.slice(1)) open();
		await settle();
		for (const open of gates.slice(1)) open();
		const [, reportC] = await Promise.all([b, c]);
		expect(cStarted).toBe(false);
		expect(reportC.skipped).toBe('another retention run is under way on this store');
	});
});

describe('retention on the trigger nodes\' schedule', () => {
	test('of two workers on one store, one runs it once per retention.every; with auto off, none does', async () => {
		const store = new MemoryStore();
		const clock = { at: NOW };
		const worker = () => new Engine({ store, ownsStore: false, policy: loadPolicy({ ...DEFAULT_POLICY, retention: { every: '1d' } }), now: () => new Date(clock.at) });
		const [a, b] = [worker(), worker()];
		clock.at = NOW - 500 * DAY;
		await a.decide(event('old@example.org', 'evt-old'), { journey: 'nurture', target: { dryRun: true } });
		clock.at = NOW;
		const first = await Promise.all([a.retentionIfDue(), b.retentionIfDue()]);
		expect(first.filter(Boolean)).toHaveLength(1);
		expect(first.find(Boolean)?.counts.decisions).toBe(1);
		// Within the day: neither runs it again, even past each process's own 10-minute pause.
		clock.at = NOW + 3_600_000;
		expect(await Promise.all([a.retentionIfDue(), b.retentionIfDue()])).toEqual([undefined, undefined]);
		clock.at = NOW + DAY + 60_000;
		expect((await Promise.all([a.retentionIfDue(), b.retentionIfDue()])).filter(Boolean)).toHaveLength(1);

		const off = new Engine({ store, ownsStore: false, policy: loadPolicy({ ...DEFAULT_POLICY, retention: { auto: false } }), now: () => new Date(clock.at) });
		clock.at = NOW + 3 * DAY;
		expect(await off.retentionIfDue()).toBeUndefined();
		const lines: [string, boolean][] = [];
		a.startRetentionIfDue((line, failed) => lines.push([line, failed]));
		await new Promise((resolve) => setTimeout(resolve, 50));
		expect(lines).toEqual([[expect.stringMatching(/^Retention deleted: 0 decisions made before /), false]]);
	});
});

describe('how long the cap ledger is kept', () => {
	it('keeps an agent blast radius window longer than every cap, since its counts live in the same ledger', () => {
		expect(capLedgerKeepMs(policy().policy)).toBe(32 * DAY);
		const agents = { blastRadius: [{ id: 'agent-contacts-per-quarter', count: 'contacts', limit: 5000, window: '90d' }] };
		expect(capLedgerKeepMs(loadPolicy({ ...DEFAULT_POLICY, agents }).policy)).toBe(90 * DAY);
	});
});
