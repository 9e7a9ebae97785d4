import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Decision, DecisionQuery, Outcome } from '../audit/schema';
import { NudgeError } from '../errors';
import type { Profile } from '../profiles/schema';
import { queryLimit } from './matchDecision';
import { activationFromRow, ModelActivation } from './models';
import { INACTIVITY_QUEUE, queuePrefix, RETENTION_BATCH, type ArmStats, type CapCounter, type CapReservation, type CapVerdict, type ContactErasure, type ErasureCounts, type KeyClaim, type LeasedTimer, type PruneTarget, type Store, type StoredTimer, type TakeIn, type TimerQueue } from './types';
import { ComposedSteps } from './folded';
import { checkArmDeltas } from './armStats';
import { DecisionFacts, DecisionFilter, FactKey, factsOf, scoreBinOf, SummaryPage } from './decisionFacts';
import { countSql, countsFromRows, listSummariesSql, summaryFromRow } from './factsSql';
import { KeyedRow, olderPages, PRUNE_TABLES, prunePages } from './prune';
import { LedgerBook } from './capLedger';
import { decodeDecision } from './decisionCodec';
import { DECISION_COLUMNS, decisionOfRow, DecisionRow, rowBody } from './decisionRow';
import { ArmStatsCopy } from './armStatsCopy';
import { HOURS, POPULATION_SCOPE, sendHourOf, sendHourRange, type SendHours } from './sendHours';
import { setBounded } from './boundedMap';

/**
 * The console's facts of each decision (decisionFacts.ts) in indexed columns, written with the decision,
 * so its counts over a million decisions group small rows instead of parsing every JSON body. The
 * `by_*` indexes cover the views' GROUP BYs (lift, funnel, channel mix, models, cap hits, suppressions per
 * hour; factsSql.ts must keep the same expressions): SQLite then
 * counts in index order without sorting (1M decisions: lift 2.8 s → 0.34 s; see docs/benchmarks.md).
 * Every index is upkeep on each of a decision's writes (about three: accepted, before the send, logged), so
 * one serves two uses where it can: `channel_mix` pages the stream by channel and covers the channel mix.
 */
const CONSOLE_SCHEMA = `
CREATE TABLE IF NOT EXISTS decision_facts (
  decision_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, journey TEXT NOT NULL, contact_id TEXT NOT NULL, status TEXT NOT NULL,
  reason TEXT, channel TEXT, cap_rule TEXT, stage INTEGER NOT NULL, grp TEXT, converted INTEGER NOT NULL,
  probability REAL, score_bin INTEGER, model TEXT, score_value REAL, event_name TEXT, policy_version TEXT);
CREATE INDEX IF NOT EXISTS decision_facts_created ON decision_facts (created_at, decision_id);
CREATE INDEX IF NOT EXISTS decision_facts_journey ON decision_facts (journey, created_at);
CREATE INDEX IF NOT EXISTS decision_facts_reason ON decision_facts (reason, created_at);
CREATE INDEX IF NOT EXISTS decision_facts_channel_mix ON decision_facts (channel, created_at, status, reason);
CREATE INDEX IF NOT EXISTS decision_facts_contact ON decision_facts (contact_id, created_at);
CREATE INDEX IF NOT EXISTS decision_facts_status ON decision_facts (status, created_at, reason);
CREATE INDEX IF NOT EXISTS decision_facts_by_lift ON decision_facts (journey, grp, status, channel, converted);
CREATE INDEX IF NOT EXISTS decision_facts_by_funnel ON decision_facts (journey, stage, converted);
CREATE INDEX IF NOT EXISTS decision_facts_by_model ON decision_facts (model, score_bin, converted);
CREATE INDEX IF NOT EXISTS decision_facts_by_cap ON decision_facts (cap_rule, status);
CREATE INDEX IF NOT EXISTS decision_facts_by_hour ON decision_facts (status, substr(created_at, 1, 13), reason);
-- Retention (engine/privacy/retention.ts) deletes old decisions: their facts go with them.
CREATE TRIGGER IF NOT EXISTS decision_facts_follow_deletes AFTER DELETE ON decisions
  BEGIN DELETE FROM decision_facts WHERE decision_id = old.decision_id; END;
`;

/** Polling cursors and inactivity timers (issue 6), kept apart from the core schema. */
const INTEGRATION_SCHEMA = `
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS timers (timer_id TEXT PRIMARY KEY, due_at INTEGER NOT NULL, body TEXT NOT NULL, lease TEXT, lease_until INTEGER);
CREATE INDEX IF NOT EXISTS timers_due ON timers (due_at, timer_id);
`;

/** The learner's per-(context, arm) counts (issue 5). */
const LEARNER_SCHEMA = `
CREATE TABLE IF NOT EXISTS learner_arms (
  key TEXT PRIMARY KEY, trials REAL NOT NULL DEFAULT 0, successes REAL NOT NULL DEFAULT 0, negatives REAL NOT NULL DEFAULT 0,
  value_sum REAL NOT NULL DEFAULT 0, value_sq REAL NOT NULL DEFAULT 0);
`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS profiles (contact_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS identities (key TEXT PRIMARY KEY, contact_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS identities_contact ON identities (contact_id);
CREATE TABLE IF NOT EXISTS claimed_keys (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cap_ledger (
  reservation_id TEXT PRIMARY KEY, contact_id TEXT NOT NULL, channel TEXT NOT NULL,
  at INTEGER NOT NULL, expires_at INTEGER NOT NULL, state TEXT NOT NULL,
  journey TEXT NOT NULL DEFAULT '', tags TEXT NOT NULL DEFAULT ',');
CREATE INDEX IF NOT EXISTS cap_ledger_contact ON cap_ledger (contact_id, at);
CREATE TABLE IF NOT EXISTS decisions (
  decision_id TEXT PRIMARY KEY, contact_id TEXT NOT NULL, journey TEXT NOT NULL, status TEXT NOT NULL,
  reason TEXT, created_at TEXT NOT NULL, body TEXT NOT NULL, message_id TEXT);
CREATE INDEX IF NOT EXISTS decisions_created ON decisions (created_at, decision_id);
CREATE INDEX IF NOT EXISTS decisions_contact ON decisions (contact_id, created_at);
CREATE INDEX IF NOT EXISTS decisions_journey ON decisions (journey, created_at);
CREATE INDEX IF NOT EXISTS decisions_reason ON decisions (reason, created_at);
CREATE TABLE IF NOT EXISTS outcomes (outcome_id TEXT PRIMARY KEY, decision_id TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS model_versions (
  name TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL, meta TEXT NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS model_active (name TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS model_activations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, version INTEGER NOT NULL, previous INTEGER,
  action TEXT NOT NULL, at TEXT NOT NULL, note TEXT);
`;

/**
 * A ledger row's tags: a JSON array, so a tag may hold a comma ("Black Friday, 2026"). Rows of earlier versions hold
 * `,a,b,` (always starting with a comma) and are read as they were written.
 */
function ledgerTags(stored: string): string[] {
	return stored.startsWith('[') ? (JSON.parse(stored) as string[]) : stored.split(',').filter(Boolean);
}

/**
 * How messages name the store: the file's name, never the server's directories (a store error can reach a
 * webhook's caller). Node's file errors end with the path they concern (`EACCES: …, mkdir '/srv/…'`): dropped.
 */
function storeName(path: string): string {
	return path === ':memory:' ? 'in memory' : basename(path);
}
/** Contacts whose cap ledger rows the store keeps in process to count them (about 1.4 KB each with one entry, 2.9 KB with five). */
const CAP_COPY_CONTACTS = 20_000;
/** Learner keys whose counts the store keeps in process (about 200 bytes each: 2,000 contacts' send-time hours are 48,000 keys). */
const ARM_COPY_KEYS = 100_000;
/** Send-hour scopes (contacts) whose 24 counts the store keeps in process (about 100 bytes each without engagements). */
const HOUR_COPY_SCOPES = 100_000;
/** Decisions whose facts row as last written the store remembers (those in flight, a few hundred, and the latest after them). */
const WRITTEN_FACTS = 10_000;
/**
 * How long a decision's facts row may wait before it is written (see `waitingFacts`): another process's console sees
 * a decision within about this time; every query of this connection sees it at once.
 */
const FACTS_WAIT_MS = 1_000;
/**
 * Settled decisions' facts are written together once this many facts wait: one commit then touches each index's
 * pages once for all of them (facts of decisions made one at a time were 40% of the WAL frames written), and the
 * commit that writes them stays short: 256 at once made a decision in every 256 take about 3 ms longer, 64 add under
 * a millisecond for about the same saving (docs/benchmarks.md).
 */
export const FACTS_BATCH = 64;
/** The facts columns a later write of a decision may change (factsRow's order from index 4). */
const CHANGING_FACTS = ['status', 'reason', 'channel', 'cap_rule', 'stage', 'grp', 'converted', 'probability', 'score_bin', 'model', 'score_value', 'event_name', 'policy_version'];
/** A facts row's columns in factsRow's order, and its insert (the first four never change). */
const FACTS_COLUMNS = ['decision_id', 'created_at', 'journey', 'contact_id', ...CHANGING_FACTS];
const INSERT_FACTS = `INSERT INTO decision_facts (${FACTS_COLUMNS.join(', ')}) VALUES (${FACTS_COLUMNS.map(() => '?').join(', ')})`;
const UPSERT_FACTS = `${INSERT_FACTS} ON CONFLICT(decision_id) DO UPDATE SET ${CHANGING_FACTS.map((c) => `${c} = excluded.${c}`).join(', ')}`;

const columnsOf = (db: DatabaseSync, table: string) => (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);

const withoutPaths = (error: unknown) => (error as Error).message.replace(/ '[^']*'/g, '');

function openDatabase(path: string): DatabaseSync {
	try {
		if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
		return new DatabaseSync(path);
	} catch (error) {
		throw new NudgeError('STORE_ERROR', `Cannot open the SQLite store ${storeName(path)}: ${withoutPaths(error)}`, [], 503);
	}
}

/**
 * The embedded default: one SQLite file in WAL mode, created on first use.
 *
 * Group commit: writes apply at once inside one open BEGIN IMMEDIATE transaction per event-loop turn,
 * which commits at the end of the turn, so a burst of decisions costs one WAL commit instead of one
 * per write (see docs/benchmarks.md). A decision is written at every step of a flow, so decision rows
 * are coalesced: each decision's latest version in a batch is written once, just before the commit
 * (or before a query reads the table), and reads of a queued decision are served from the queue. `sync()` resolves once everything applied so far is committed;
 * the engine calls it before anything leaves the process (an acknowledged event, a send) and when a
 * decision settles. Each unit (a cap check-and-reserve, a profile merge) runs in a savepoint, so it is
 * atomic and a failing unit rolls back alone. The write lock makes check-and-reserve atomic across
 * processes too. If a commit ever fails the store fails closed: every later call rejects, so nothing is
 * reported as stored that was not.
 */
export class SqliteStore extends ComposedSteps implements Store {
	readonly kind = 'sqlite';
	private readonly db: DatabaseSync;
	private readonly stmt: Record<string, StatementSync>;
	private batchOpen = false;
	private waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
	private failure?: NudgeError;
	private readonly queuedDecisions = new Map<string, { row: Decision; body: string; facts: DecisionFacts }>();
	/**
	 * The cap_ledger rows of recently checked contacts, counted in process (capLedger.ts) instead of by a query per
	 * check (bench/caps). Exact while no other connection writes: it is dropped whenever PRAGMA data_version says
	 * one has committed, checked as each write transaction starts (the write lock then keeps others out until it
	 * commits) and before a read-only look outside one.
	 */
	private readonly capCopy = new LedgerBook(CAP_COPY_CONTACTS);
	/** The learner's counts read or written here, kept exact the same way as the cap ledger's copy. */
	private readonly armCopy = new ArmStatsCopy(ARM_COPY_KEYS, HOUR_COPY_SCOPES);
	/**
	 * Each decision's facts row as this connection last wrote it, so its next write (a decision is written about three
	 * times: accepted, before the send, logged) sets only the columns that changed: the indexes over the others are
	 * not touched. Dropped with the other copies, since another connection may have rewritten a row.
	 */
	private readonly writtenFacts = new Map<string, FactsRow>();
	/**
	 * Each decision row's indexed columns that change (reason, provider message id) as this connection last wrote
	 * them: a later write sets only the columns that changed among them, with the body and status, so the entries in
	 * the indexes over the others are not touched (an upsert sets every column it names, and SQLite then moves the
	 * row's entries in every index over them). Dropped with the other copies.
	 */
	private readonly writtenRows = new Map<string, { reason: string | null; messageId: string | null }>();
	/**
	 * Facts not yet written, of decisions this connection first wrote pending: a decision is written about three times
	 * on its way (accepted, before the send, logged) and each facts row write moved its entries in a dozen indexes
	 * (docs/benchmarks.md). Its facts wait here, in the order they first came, replaced as it moves on, and are written
	 * once it has settled and FACTS_BATCH facts wait (all settled ones together), once they are FACTS_WAIT_MS old, or
	 * when anything reads or deletes decisions through this connection. While facts wait, the file's row for them is
	 * missing or pending, and the decision row itself is written at once, so a file closed without them gets them
	 * when it opens next (`repairFacts`). `facts` is dropped when another connection commits (it may have moved the
	 * decision on): they are then made from the decision row when written.
	 */
	private readonly waitingFacts = new Map<string, { facts?: DecisionFacts; since: number }>();
	private waitingTimer?: NodeJS.Timeout;
	private dataVersion = -1;

	constructor(readonly path: string) {
		super();
		this.db = openDatabase(path);
		// The busy timeout first: connections opened at the same moment (worker threads, processes) wait for
		// each other's schema setup instead of failing with "database is locked".
		// wal_autocheckpoint 10000 pages (~40 MB): with SQLite's default (1,000) about one decision in a hundred
		// paid for a checkpoint, which was the whole p99 of bench/decide (5.3 ms → 1.3–1.7 ms); checkpoints
		// are rarer and larger instead.
		this.db.exec('PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 10000;');
		this.db.exec(SCHEMA);
		this.db.exec(INTEGRATION_SCHEMA);
		this.db.exec(LEARNER_SCHEMA);
		this.db.exec(CONSOLE_SCHEMA);
		this.migrate();
		const p = (sql: string) => this.db.prepare(sql);
		this.stmt = {
			getProfile: p('SELECT body FROM profiles WHERE contact_id = ?'),
			putProfile: p('INSERT INTO profiles (contact_id, body) VALUES (?, ?) ON CONFLICT(contact_id) DO UPDATE SET body = excluded.body'),
			delProfile: p('DELETE FROM profiles WHERE contact_id = ?'),
			getIdentity: p('SELECT contact_id FROM identities WHERE key = ?'),
			// A key already on this contact (every later event of a known contact) is left alone: rewriting it
			// with the same value still dirtied its page and the index's, on random pages of each (bench/decide).
			putIdentity: p(
				'INSERT INTO identities (key, contact_id) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET contact_id = excluded.contact_id WHERE identities.contact_id <> excluded.contact_id',
			),
			// One statement: inserts, or takes over an expired claim; zero changes means someone holds it.
			claimKey: p('INSERT INTO claimed_keys (key, expires_at) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET expires_at = excluded.expires_at WHERE claimed_keys.expires_at <= ?'),
			delKey: p('DELETE FROM claimed_keys WHERE key = ?'),
			putReservation: p(`INSERT INTO cap_ledger (reservation_id, contact_id, channel, journey, tags, at, expires_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')`),
			commitReservation: p(`UPDATE cap_ledger SET state = 'committed' WHERE reservation_id = ? AND state = 'pending'`),
			releaseReservation: p(`DELETE FROM cap_ledger WHERE reservation_id = ? AND state = 'pending'`),
			moveLedger: p('UPDATE cap_ledger SET contact_id = ? WHERE contact_id = ?'),
			putBody: p('UPDATE decisions SET status = ?, body = ? WHERE decision_id = ?'),
			putBodyAndMessageId: p('UPDATE decisions SET status = ?, body = ?, message_id = ? WHERE decision_id = ?'),
			putDecision: p(`INSERT INTO decisions (decision_id, contact_id, journey, status, reason, created_at, body, message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT(decision_id) DO UPDATE SET status = excluded.status, reason = excluded.reason, body = excluded.body, message_id = excluded.message_id`),
			getDecision: p(`SELECT ${DECISION_COLUMNS} FROM decisions WHERE decision_id = ?`),
			putFacts: p(UPSERT_FACTS),
			putOutcome: p('INSERT INTO outcomes (outcome_id, decision_id, body) VALUES (?, ?, ?) ON CONFLICT(outcome_id) DO NOTHING'),
			ledgerOf: p('SELECT reservation_id, channel, journey, tags, at, expires_at, state FROM cap_ledger WHERE contact_id = ? ORDER BY at'),
			dataVersion: p('PRAGMA data_version'),
			savepoint: p('SAVEPOINT unit'),
			release: p('RELEASE unit'),
		};
	}

	private storeError(error: unknown): NudgeError {
		if (error instanceof NudgeError) return error;
		return new NudgeError('STORE_ERROR', `Could not write to the SQLite store ${storeName(this.path)}: ${withoutPaths(error)}`, [], 503);
	}

	/** Applies a write unit in this turn's transaction (visible to this process at once, durable after sync). */
	private openBatch(): void {
		if (this.batchOpen) return;
		this.db.exec('BEGIN IMMEDIATE');
		this.batchOpen = true;
		setImmediate(() => this.commit());
		this.checkCopies();
	}

	/** Drops the in-process copies (cap ledger, learner counts) if another connection has committed since they were last checked. */
	private checkCopies(): void {
		const version = Number((this.stmt.dataVersion.get() as { data_version: number }).data_version);
		if (version === this.dataVersion) return;
		this.dropCopies();
		this.dataVersion = version;
	}

	private dropCopies(): void {
		this.capCopy.clear();
		this.armCopy.clear();
		this.writtenFacts.clear();
		this.writtenRows.clear();
		for (const waiting of this.waitingFacts.values()) waiting.facts = undefined;
	}

	/** The contact's cap ledger, read into the copy on first use. */
	private capLedger(contactId: string): void {
		if (this.capCopy.get(contactId)) return;
		const rows = this.stmt.ledgerOf.all(contactId) as { reservation_id: string; channel: string; journey: string; tags: string; at: number; expires_at: number; state: string }[];
		this.capCopy.load(
			contactId,
			rows.map((row) => ({
				reservationId: row.reservation_id,
				contactId,
				channel: row.channel,
				journey: row.journey,
				tags: ledgerTags(row.tags),
				at: Number(row.at),
				expiresAt: Number(row.expires_at),
				state: row.state === 'committed' ? 'committed' : 'pending',
			})),
		);
	}

	/**
	 * Writes the queued decision rows into the open transaction, and every waiting facts row; `atCommit`, only those
	 * due: none until FACTS_BATCH wait or the first has waited FACTS_WAIT_MS, then the settled ones and those that
	 * have waited that long (a pending decision's facts would be written again when it settles).
	 */
	private writeQueuedDecisions(atCommit = false): void {
		const now = performance.now();
		for (const { row, body, facts } of this.queuedDecisions.values()) this.writeRow(row, body, facts, now);
		this.queuedDecisions.clear();
		if (!this.waitingFacts.size) return;
		const first = this.waitingFacts.values().next().value!;
		if (atCommit && this.waitingFacts.size < FACTS_BATCH && now - first.since < FACTS_WAIT_MS) return;
		for (const [id, { facts, since }] of this.waitingFacts) {
			if (atCommit && facts?.status === 'pending' && now - since < FACTS_WAIT_MS) continue;
			this.waitingFacts.delete(id);
			if (facts) this.putFacts(facts);
			else this.putFactsOfRow(id);
		}
	}

	/** The facts of a decision as its row is now (another connection may have written it since); none if it is gone. */
	private putFactsOfRow(decisionId: string): void {
		const row = this.stmt.getDecision.get(decisionId) as DecisionRow | undefined;
		if (row) this.putFacts(factsOf(decisionOfRow(row)));
	}

	/**
	 * A decision's row (its body and status, and its message id when only that changed, when this connection wrote it
	 * before with the same reason), and its facts: they wait when they waited already or the decision is pending
	 * (`waitingFacts`); the facts of a decision settled before this connection wrote it, whose row in the file may be
	 * settled too, are written at once.
	 */
	private writeRow(row: Pick<Decision, 'decisionId' | 'contactId' | 'journey' | 'status' | 'reason' | 'createdAt' | 'delivery'>, body: string, facts: DecisionFacts, now: number): void {
		const messageId = row.delivery?.providerMessageId ?? null;
		const reason = row.reason ?? null;
		const before = this.writtenRows.get(row.decisionId);
		let updated = 0;
		if (before?.reason === reason) {
			updated = Number(
				(before.messageId === messageId ? this.stmt.putBody.run(row.status, body, row.decisionId) : this.stmt.putBodyAndMessageId.run(row.status, body, messageId, row.decisionId)).changes,
			);
		}
		// A row gone meanwhile (zero changes) is written whole.
		if (!updated) this.stmt.putDecision.run(row.decisionId, row.contactId, row.journey, row.status, reason, row.createdAt, body, messageId);
		setBounded(this.writtenRows, row.decisionId, { reason, messageId }, WRITTEN_FACTS);
		const waiting = this.waitingFacts.get(facts.decisionId);
		if (waiting) waiting.facts = facts;
		else if (facts.status === 'pending') this.waitingFacts.set(facts.decisionId, { facts, since: now });
		else this.putFacts(facts);
	}

	/** Once facts wait, a batch is opened when they are due, so they are written though no other write comes. */
	private scheduleWaitingFacts(): void {
		if (!this.waitingFacts.size || this.waitingTimer || this.failure) return;
		this.waitingTimer = setTimeout(() => {
			this.waitingTimer = undefined;
			if (!this.db.isOpen || this.failure || !this.waitingFacts.size) return;
			try {
				this.openBatch();
			} catch {
				// The write lock is busy past the timeout: the next write or query writes them.
			}
		}, FACTS_WAIT_MS);
		this.waitingTimer.unref();
	}

	private write<T>(unit: () => T): Promise<T> {
		if (this.failure) return Promise.reject(this.failure);
		try {
			this.openBatch();
			this.stmt.savepoint.run();
			try {
				const result = unit();
				this.stmt.release.run();
				return Promise.resolve(result);
			} catch (error) {
				this.db.exec('ROLLBACK TO unit');
				this.db.exec('RELEASE unit');
				throw error;
			}
		} catch (error) {
			// Whatever the unit changed is rolled back: so are the copies.
			this.dropCopies();
			return Promise.reject(this.storeError(error));
		}
	}

	/**
	 * A unit whose only write is one statement: a statement is atomic by itself (SQLite undoes it whole when it
	 * fails), so it needs no savepoint, which was a tenth of a cap check here (bench/caps).
	 */
	private writeStatement<T>(unit: () => T): Promise<T> {
		if (this.failure) return Promise.reject(this.failure);
		try {
			this.openBatch();
			return Promise.resolve(unit());
		} catch (error) {
			this.capCopy.clear();
			return Promise.reject(this.storeError(error));
		}
	}

	sync(): Promise<void> {
		if (this.failure) return Promise.reject(this.failure);
		if (!this.batchOpen) return Promise.resolve();
		return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
	}

	private commit(): void {
		if (!this.batchOpen) return;
		const waiters = this.waiters;
		this.waiters = [];
		this.batchOpen = false;
		try {
			this.writeQueuedDecisions(true);
			this.db.exec('COMMIT');
		} catch (error) {
			this.queuedDecisions.clear();
			this.waitingFacts.clear();
			this.dropCopies();
			if (this.db.isTransaction) this.db.exec('ROLLBACK');
			this.failure = new NudgeError('STORE_ERROR', `The SQLite store ${storeName(this.path)} failed to commit and has stopped accepting writes (restart to recover): ${withoutPaths(error)}`, [], 503);
			for (const w of waiters) w.reject(this.failure);
			return;
		}
		this.scheduleWaitingFacts();
		for (const w of waiters) w.resolve();
	}

	/** Files made by earlier versions lack the ledger's journey and tags columns, the timers' lease and the facts' policy version, and have indexes since folded. */
	private migrate(): void {
		const columns = (table: string) => columnsOf(this.db, table);
		const ledger = columns('cap_ledger');
		if (!ledger.includes('journey')) this.db.exec(`ALTER TABLE cap_ledger ADD COLUMN journey TEXT NOT NULL DEFAULT ''`);
		if (!ledger.includes('tags')) this.db.exec(`ALTER TABLE cap_ledger ADD COLUMN tags TEXT NOT NULL DEFAULT ','`);
		if (!columns('timers').includes('lease')) this.db.exec('ALTER TABLE timers ADD COLUMN lease TEXT; ALTER TABLE timers ADD COLUMN lease_until INTEGER');
		this.migrateOnce(
			() => !columns('decision_facts').includes('policy_version'),
			() => {
				this.db.exec('ALTER TABLE decision_facts ADD COLUMN policy_version TEXT');
				const fill = this.db.prepare('UPDATE decision_facts SET policy_version = ? WHERE decision_id = ?');
				// Read through the codec: the body may be in its stored form (decisionCodec.ts).
				for (const row of this.db.prepare(`SELECT ${DECISION_COLUMNS} FROM decisions`).iterate() as Iterable<DecisionRow>) {
					const d = decisionOfRow(row);
					fill.run(d.policyVersion, d.decisionId);
				}
			},
		);
		this.db.exec('CREATE INDEX IF NOT EXISTS decision_facts_by_policy ON decision_facts (policy_version)');
		this.migrateMessageIds();
		this.migrateClaimedKeys();
		// Folded into decision_facts_channel_mix.
		this.db.exec('DROP INDEX IF EXISTS decision_facts_channel; DROP INDEX IF EXISTS decision_facts_by_channel');
		this.repairFacts();
	}

	/**
	 * Applies a change to the file when it is needed: asked first, then again under the write lock (another connection
	 * opening the same file may have just made it), in one transaction.
	 */
	private migrateOnce(needed: () => boolean, apply: () => void): void {
		if (!needed()) return;
		this.db.exec('BEGIN IMMEDIATE');
		try {
			if (needed()) apply();
			this.db.exec('COMMIT');
		} catch (error) {
			this.db.exec('ROLLBACK');
			throw error;
		}
	}

	/**
	 * Claimed keys (events' leases and marks, sends) are one b-tree keyed by the key: as a rowid table, each claim
	 * changed a page of the table and one of its key index, on random pages of each (6.4 of the 26 WAL frames a
	 * decision made one at a time wrote; docs/benchmarks.md). A file from before is rebuilt so on open, keys kept.
	 */
	private migrateClaimedKeys(): void {
		this.migrateOnce(
			() => !/WITHOUT\s+ROWID/i.test((this.db.prepare(`SELECT sql FROM sqlite_schema WHERE name = 'claimed_keys'`).get() as { sql: string }).sql),
			() =>
				this.db.exec(`CREATE TABLE claimed_keys_rebuilt (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
					INSERT INTO claimed_keys_rebuilt (key, expires_at) SELECT key, expires_at FROM claimed_keys;
					DROP TABLE claimed_keys;
					ALTER TABLE claimed_keys_rebuilt RENAME TO claimed_keys;`),
		);
	}

	/**
	 * The provider message id lookup (Record Outcome by message id) was an index on `json_extract(body, …)`, which parsed
	 * the whole body on each of a decision's writes (6% of the SQLite path's instructions, docs/benchmarks.md). It is a
	 * column now, written with the row; a file from before gets the column filled from its bodies once, on open.
	 */
	private migrateMessageIds(): void {
		const fromBody = `json_extract(body, '$.delivery.providerMessageId')`;
		this.migrateOnce(
			() => !columnsOf(this.db, 'decisions').includes('message_id'),
			() => this.db.exec(`ALTER TABLE decisions ADD COLUMN message_id TEXT; UPDATE decisions SET message_id = ${fromBody} WHERE ${fromBody} IS NOT NULL; DROP INDEX IF EXISTS decisions_message`),
		);
		this.db.exec('CREATE INDEX IF NOT EXISTS decisions_message_id ON decisions (message_id) WHERE message_id IS NOT NULL');
	}

	/**
	 * On open, the facts rows a connection may have left behind are made again from their decisions: missing ones (a
	 * file written before the console existed, or closed with pending decisions' facts still waiting) and those of
	 * decisions pending when last written, which may have moved on since (`waitingFacts`). Pending decisions are few
	 * (those in flight and those a flow left waiting); the missing ones are found through the two primary keys.
	 */
	private repairFacts(): void {
		const stale = `FROM decisions WHERE decision_id NOT IN (SELECT decision_id FROM decision_facts)
			OR decision_id IN (SELECT decision_id FROM decision_facts WHERE status = 'pending')`;
		this.migrateOnce(
			() => !!this.db.prepare(`SELECT 1 ${stale} LIMIT 1`).get(),
			() => {
				const upsert = this.db.prepare(UPSERT_FACTS);
				for (const row of this.db.prepare(`SELECT ${DECISION_COLUMNS} ${stale}`).iterate() as Iterable<DecisionRow>) upsert.run(...factsRow(factsOf(decisionOfRow(row))));
			},
		);
	}

	private putFacts(f: DecisionFacts): void {
		const row = factsRow(f);
		const before = this.writtenFacts.get(f.decisionId);
		// Deleting a row forgets it (retention, erasure); one gone all the same is written whole again.
		if (!before || !this.updateFacts(before, row)) this.stmt.putFacts.run(...row);
		setBounded(this.writtenFacts, f.decisionId, row, WRITTEN_FACTS);
	}

	/** Sets the columns that differ from the row as last written; false when the row is not there. */
	private updateFacts(before: FactsRow, row: FactsRow): boolean {
		const changed: number[] = [];
		for (let i = 0; i < CHANGING_FACTS.length; i++) if (before[i + 4] !== row[i + 4]) changed.push(i);
		if (!changed.length) return true;
		const update = this.prepared(`UPDATE decision_facts SET ${changed.map((i) => `${CHANGING_FACTS[i]} = ?`).join(', ')} WHERE decision_id = ?`);
		return Number(update.run(...changed.map((i) => row[i + 4]), row[0]).changes) > 0;
	}

	async getProfile(contactId: string) {
		const row = this.stmt.getProfile.get(contactId) as { body: string } | undefined;
		return row ? (JSON.parse(row.body) as Profile) : undefined;
	}

	async resolveIdentities(keys: string[]) {
		const found = new Map<string, string>();
		for (const k of keys) {
			const row = this.stmt.getIdentity.get(k) as { contact_id: string } | undefined;
			if (row) found.set(k, row.contact_id);
		}
		return found;
	}

	saveProfile(profile: Profile, identityKeys: string[], merged: string[]) {
		return this.write(() => {
			for (const id of merged) this.stmt.delProfile.run(id);
			this.stmt.putProfile.run(profile.contactId, JSON.stringify(profile));
			for (const k of identityKeys) this.stmt.putIdentity.run(k, profile.contactId);
		});
	}

	claimKey(key: string, ttlMs: number, now: number) {
		return this.write(() => Number(this.stmt.claimKey.run(key, now + ttlMs, now).changes) > 0);
	}

	releaseKey(key: string, heldAs?: number) {
		return this.write(() => {
			if (heldAs === undefined) this.stmt.delKey.run(key);
			else this.prepared('DELETE FROM claimed_keys WHERE key = ? AND expires_at = ?').run(key, heldAs);
		});
	}

	holdKey(key: string, ttlMs: number, now: number) {
		return this.write(() => {
			this.prepared('INSERT INTO claimed_keys (key, expires_at) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET expires_at = excluded.expires_at').run(key, now + ttlMs);
		});
	}

	async keyHeldUntil(key: string, now: number) {
		const row = this.prepared('SELECT expires_at FROM claimed_keys WHERE key = ? AND expires_at > ?').get(key, now) as { expires_at: number } | undefined;
		return row ? Number(row.expires_at) : undefined;
	}

	/** Counted on the copy of the contact's ledger (capLedger.ts), inside the write lock; the row is the truth kept. */
	reserveCap(r: CapReservation, counters: CapCounter[]): Promise<CapVerdict> {
		// One INSERT, after which only the copy changes: a failed insert leaves both as they were.
		return this.writeStatement(() => {
			this.capLedger(r.contactId);
			const verdict = this.capCopy.evaluate(r.contactId, counters, r.at);
			if (!verdict.ok) return verdict;
			this.stmt.putReservation.run(r.reservationId, r.contactId, r.channel, r.journey, JSON.stringify(r.tags), r.at, r.expiresAt);
			this.capCopy.add(r);
			return verdict;
		});
	}

	async peekCap(contactId: string, counters: CapCounter[], now: number): Promise<CapVerdict> {
		if (this.failure) throw this.failure;
		if (!this.batchOpen) this.checkCopies();
		this.capLedger(contactId);
		return this.capCopy.evaluate(contactId, counters, now);
	}

	/**
	 * The look at the key, the reservation and the claim in one write (SQLite runs it whole, under the file's write
	 * lock): an erasure, which holds the keys of its contact's open decisions, cannot land between them. Two statements:
	 * a savepoint (write), so a claim that fails takes the reservation back with it.
	 */
	reserveCapAndClaim(r: CapReservation, counters: CapCounter[], claim: KeyClaim): Promise<CapVerdict & { claimed: boolean; held?: boolean }> {
		return this.write(() => {
			this.capLedger(r.contactId);
			if (this.prepared('SELECT 1 FROM claimed_keys WHERE key = ? AND expires_at > ?').get(claim.key, r.at)) return { ...this.capCopy.evaluate(r.contactId, counters, r.at), claimed: false, held: true };
			const verdict = this.capCopy.evaluate(r.contactId, counters, r.at);
			if (!verdict.ok) return { ...verdict, claimed: false };
			this.stmt.putReservation.run(r.reservationId, r.contactId, r.channel, r.journey, JSON.stringify(r.tags), r.at, r.expiresAt);
			this.capCopy.add(r);
			const claimed = !claim.lookOnly && Number(this.stmt.claimKey.run(claim.key, r.at + claim.ttlMs, r.at).changes) > 0;
			return { ...verdict, claimed };
		});
	}

	/** The rows re-keyed; the copies of both contacts' ledgers dropped (read again at their next check). */
	moveCapLedger(from: string[], to: string) {
		return this.write(() => {
			let moved = 0;
			for (const id of from) {
				if (id === to) continue;
				moved += Number(this.stmt.moveLedger.run(to, id).changes);
				this.capCopy.drop(id);
			}
			this.capCopy.drop(to);
			return moved;
		});
	}

	settleCap(reservationId: string, outcome: 'commit' | 'release') {
		const stmt = outcome === 'commit' ? this.stmt.commitReservation : this.stmt.releaseReservation;
		return this.writeStatement(() => {
			const settled = Number(stmt.run(reservationId).changes) > 0;
			if (settled) this.capCopy.settle(reservationId, outcome);
			return settled;
		});
	}

	async putDecision(d: Decision) {
		if (this.failure) throw this.failure;
		try {
			this.openBatch();
		} catch (error) {
			throw this.storeError(error);
		}
		const { decisionId, contactId, journey, status, reason, createdAt, delivery } = d;
		this.queuedDecisions.set(decisionId, { row: { decisionId, contactId, journey, status, reason, createdAt, delivery } as Decision, body: rowBody(d), facts: factsOf(d) });
	}

	private putDecisionRow(d: Decision): void {
		this.writeRow(d, rowBody(d), factsOf(d), performance.now());
	}

	async getDecision(decisionId: string) {
		const queued = this.queuedDecisions.get(decisionId);
		if (queued) return decodeDecision(queued.body, queued.row);
		const row = this.stmt.getDecision.get(decisionId) as DecisionRow | undefined;
		return row ? decisionOfRow(row) : undefined;
	}

	async queryDecisions(q: DecisionQuery) {
		this.writeQueuedDecisions();
		const where: string[] = [];
		const args: (string | number)[] = [];
		const add = (sql: string, ...values: (string | number)[]) => {
			where.push(sql);
			args.push(...values);
		};
		if (q.contactId) add('contact_id = ?', q.contactId);
		// One parameter however many ids (SQLite allows 32,766 a statement; one statement is prepared for any count).
		if (q.contactIds) add('contact_id IN (SELECT value FROM json_each(?))', JSON.stringify(q.contactIds));
		if (q.journey) add('journey = ?', q.journey);
		if (q.reason) add('reason = ?', q.reason);
		if (q.status) add('status = ?', q.status);
		if (q.from) add('created_at >= ?', q.from);
		if (q.to) add('created_at < ?', q.to);
		const [later, order] = q.newestFirst ? ['<', 'created_at DESC, decision_id DESC'] : ['>', 'created_at, decision_id'];
		if (q.after) add(`(created_at ${later} ? OR (created_at = ? AND decision_id ${later} ?))`, q.after.createdAt, q.after.createdAt, q.after.decisionId);
		// A contact's decisions are few; without statistics SQLite would rather scan a journey's or a reason's whole
		// window (an outcome event's look for its message took half the template policy's CPU, docs/benchmarks.md).
		const index = q.contactId || q.contactIds ? 'INDEXED BY decisions_contact' : '';
		const sql = `SELECT ${DECISION_COLUMNS} FROM decisions ${index} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ?`;
		const rows = this.prepared(sql).all(...args, queryLimit(q)) as unknown as DecisionRow[];
		return rows.map(decisionOfRow);
	}

	addOutcome(decisionId: string, outcome: Outcome, sameAs?: string) {
		return this.write(() => {
			this.writeQueuedDecisions();
			const row = this.stmt.getDecision.get(decisionId) as DecisionRow | undefined;
			if (!row) return false;
			const d = decisionOfRow(row);
			if (sameAs !== undefined && d.outcomes.some((o) => o.outcomeId === sameAs)) return false;
			if (Number(this.stmt.putOutcome.run(outcome.outcomeId, decisionId, JSON.stringify(outcome)).changes) === 0) {
				return false;
			}
			d.outcomes.push(outcome);
			if (outcome.at > d.updatedAt) d.updatedAt = outcome.at;
			this.putDecisionRow(d);
			return true;
		});
	}

	saveModelVersion(name: string, createdAt: string, meta: Record<string, unknown>, body: string) {
		return this.write(() => {
			const { v } = this.db.prepare('SELECT COALESCE(MAX(version), 0) + 1 AS v FROM model_versions WHERE name = ?').get(name) as { v: number };
			this.db.prepare('INSERT INTO model_versions (name, version, created_at, meta, body) VALUES (?, ?, ?, ?, ?)').run(name, v, createdAt, JSON.stringify(meta), body);
			return Number(v);
		});
	}

	async getModelVersion(name: string, version?: number) {
		const active = await this.activeModelVersion(name);
		const v = version ?? active;
		if (v === undefined) return undefined;
		const row = this.db.prepare('SELECT created_at, meta, body FROM model_versions WHERE name = ? AND version = ?').get(name, v) as
			| { created_at: string; meta: string; body: string }
			| undefined;
		return row && { name, version: v, createdAt: row.created_at, active: v === active, meta: JSON.parse(row.meta), body: row.body };
	}

	async activeModelVersion(name: string) {
		const row = this.db.prepare('SELECT version FROM model_active WHERE name = ?').get(name) as { version: number } | undefined;
		return row && Number(row.version);
	}

	async listModelVersions(name: string) {
		const active = await this.activeModelVersion(name);
		const rows = this.db.prepare('SELECT version, created_at, meta FROM model_versions WHERE name = ? ORDER BY version').all(name) as { version: number; created_at: string; meta: string }[];
		return rows.map((r) => ({ name, version: Number(r.version), createdAt: r.created_at, active: Number(r.version) === active, meta: JSON.parse(r.meta) }));
	}

	async activateModelVersion(a: Omit<ModelActivation, 'previous'>, expected?: number | null) {
		const ok = await this.write(() => {
			if (!this.db.prepare('SELECT 1 FROM model_versions WHERE name = ? AND version = ?').get(a.name, a.version)) return false;
			const prev = this.db.prepare('SELECT version FROM model_active WHERE name = ?').get(a.name) as { version: number } | undefined;
			if (expected !== undefined && (prev ? Number(prev.version) : null) !== expected) return false;
			this.db.prepare('INSERT INTO model_active (name, version) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET version = excluded.version').run(a.name, a.version);
			this.db
				.prepare('INSERT INTO model_activations (name, version, previous, action, at, note) VALUES (?, ?, ?, ?, ?, ?)')
				.run(a.name, a.version, prev ? Number(prev.version) : null, a.action, a.at, a.note ?? null);
			return true;
		});
		// An activation changes what every later score uses: durable before it is reported done.
		if (ok) await this.sync();
		return ok;
	}

	async modelActivations(name: string) {
		const rows = this.db.prepare('SELECT version, previous, action, at, note FROM model_activations WHERE name = ? ORDER BY seq').all(name) as {
			version: number;
			previous: number | null;
			action: ModelActivation['action'];
			at: string;
			note: string | null;
		}[];
		return rows.map((r) => activationFromRow(name, r));
	}

	private readonly integrationStatements = new Map<string, StatementSync>();
	private prepared(sql: string): StatementSync {
		let statement = this.integrationStatements.get(sql);
		if (!statement) this.integrationStatements.set(sql, (statement = this.db.prepare(sql)));
		return statement;
	}

	async getCursor(name: string) {
		const row = this.prepared('SELECT value FROM cursors WHERE name = ?').get(name) as { value: string } | undefined;
		return row?.value;
	}

	deleteCursor(name: string) {
		return this.write(() => {
			this.prepared('DELETE FROM cursors WHERE name = ?').run(name);
		});
	}

	setCursor(name: string, value: string, expected: string | undefined) {
		return this.write(() => {
			const changed =
				expected === undefined
					? this.prepared('INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING').run(name, value).changes
					: this.prepared('UPDATE cursors SET value = ? WHERE name = ? AND value = ?').run(value, name, expected).changes;
			return Number(changed) > 0;
		});
	}

	scheduleTimer(timer: StoredTimer, onlyIfAbsent = false) {
		const conflict = onlyIfAbsent ? 'DO NOTHING' : 'DO UPDATE SET due_at = excluded.due_at, body = excluded.body, lease = NULL, lease_until = NULL';
		return this.write(() => {
			this.prepared(`INSERT INTO timers (timer_id, due_at, body) VALUES (?, ?, ?) ON CONFLICT(timer_id) ${conflict}`).run(timer.timerId, timer.dueAt, timer.body);
		});
	}

	cancelTimer(timerId: string) {
		return this.write(() => Number(this.prepared('DELETE FROM timers WHERE timer_id = ?').run(timerId).changes) > 0);
	}

	takeDueTimers(now: number, limit: number, leaseMs: number, queue: TimerQueue = INACTIVITY_QUEUE) {
		const { prefix, without, journeyText = null } = queuePrefix(queue);
		return this.write(() => {
			// A journey's part of the inactivity queue: the timers whose body names it (journeyFragment).
			const rows = this.prepared(
				`SELECT timer_id AS timerId, due_at AS dueAt, body FROM timers WHERE due_at <= ? AND (lease_until IS NULL OR lease_until <= ?) AND (instr(timer_id, ?) = 1) <> ?
				 AND (? IS NULL OR instr(body, ?) > 0) ORDER BY due_at, timer_id LIMIT ?`,
			).all(now, now, prefix, without ? 1 : 0, journeyText, journeyText, limit) as unknown as StoredTimer[];
			const lease = this.prepared('UPDATE timers SET lease = ?, lease_until = ? WHERE timer_id = ?');
			return rows.map((row): LeasedTimer => {
				const taken = { timerId: row.timerId, dueAt: Number(row.dueAt), body: row.body, lease: randomUUID() };
				lease.run(taken.lease, now + leaseMs, row.timerId);
				return taken;
			});
		});
	}

	ackTimer(timerId: string, lease: string) {
		return this.write(() => Number(this.prepared('DELETE FROM timers WHERE timer_id = ? AND lease = ?').run(timerId, lease).changes) > 0);
	}

	/** Served from the copy (armStatsCopy.ts); the keys it does not know are read in one query and remembered. */
	async getArmStats(keys: string[]) {
		const found = new Map<string, ArmStats>();
		if (!this.batchOpen) this.checkCopies();
		const unknown = this.armCopy.read(keys, found);
		if (!unknown.length) return found;
		// One call for all keys (send time asks for 48, the learner for ~14 per decision): a statement
		// per key made these reads the largest cost of a decision (bench/decide).
		const get = this.prepared(`SELECT key, trials, successes, negatives, value_sum AS valueSum, value_sq AS valueSq
			FROM learner_arms WHERE key IN (SELECT value FROM json_each(?))`);
		const rows = new Map<string, ArmStats>();
		for (const row of get.all(JSON.stringify(unknown)) as unknown as (ArmStats & { key: string })[]) {
			rows.set(row.key, { trials: row.trials, successes: row.successes, negatives: row.negatives, valueSum: row.valueSum, valueSq: row.valueSq });
		}
		for (const key of unknown) {
			const stats = rows.get(key);
			this.armCopy.remember(key, stats);
			if (stats) found.set(key, stats);
		}
		return found;
	}

	/** The look and the arms' counts as composed; the send hours from the copy by scope (getSendHours), not as 48 keys. */
	async peekCapAndReadArmStats(contactId: string, counters: CapCounter[], now: number, armKeys: string[], sendHours = false, takeIn?: TakeIn) {
		const look = await super.peekCapAndReadArmStats(contactId, counters, now, armKeys, false, takeIn);
		return sendHours ? { ...look, hours: await this.getSendHours(contactId) } : look;
	}

	/** Served from the copy by scope (armStatsCopy.ts); a scope it does not know is read as one range of keys and remembered. */
	async getSendHours(contactId: string): Promise<SendHours> {
		if (!this.batchOpen) this.checkCopies();
		return { own: this.scopeHours(contactId), population: this.scopeHours(POPULATION_SCOPE) };
	}

	private scopeHours(scope: string): number[] {
		const known = this.armCopy.hoursOf(scope);
		if (known) return known;
		const { from, below } = sendHourRange(scope);
		const counts = HOURS.map(() => 0);
		let any = false;
		for (const { key, trials } of this.prepared('SELECT key, trials FROM learner_arms WHERE key >= ? AND key < ?').all(from, below) as unknown as { key: string; trials: number }[]) {
			// The range also holds other contacts' hours when their id extends this one past a `#`.
			const at = sendHourOf(key);
			if (at?.scope !== scope) continue;
			counts[at.hour] = trials;
			any = true;
		}
		this.armCopy.rememberHours(scope, any ? counts : undefined);
		return counts;
	}

	addArmStats(deltas: { key: string; delta: Partial<ArmStats> }[]) {
		try {
			checkArmDeltas(deltas);
		} catch (error) {
			return Promise.reject(error);
		}
		return this.write(() => {
			// Increments in SQL, so writers in other processes add to each other's counts instead of overwriting them.
			const add = this.prepared(`INSERT INTO learner_arms (key, trials, successes, negatives, value_sum, value_sq) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT(key) DO UPDATE SET trials = trials + excluded.trials, successes = successes + excluded.successes,
				negatives = negatives + excluded.negatives, value_sum = value_sum + excluded.value_sum, value_sq = value_sq + excluded.value_sq`);
			for (const { key, delta: d } of deltas) {
				add.run(key, d.trials ?? 0, d.successes ?? 0, d.negatives ?? 0, d.valueSum ?? 0, d.valueSq ?? 0);
				this.armCopy.add(key, d);
			}
		});
	}

	async findDecisionByMessageId(messageId: string) {
		for (const { row, body } of this.queuedDecisions.values()) {
			const d = decodeDecision(body, row);
			if (d.delivery?.providerMessageId === messageId) return d;
		}
		const row = this.prepared(`SELECT ${DECISION_COLUMNS} FROM decisions WHERE message_id = ? LIMIT 1`).get(messageId) as
			| DecisionRow
			| undefined;
		return row ? decisionOfRow(row) : undefined;
	}

	async listDecisionSummaries(filter: DecisionFilter, page: SummaryPage) {
		this.writeQueuedDecisions();
		const args: (string | number)[] = [];
		const sql = listSummariesSql('decision_facts', filter, page, (v) => (args.push(v), '?'));
		return (this.prepared(sql).all(...args) as Record<string, unknown>[]).map(summaryFromRow);
	}

	async countDecisions(filter: DecisionFilter, by: FactKey[]) {
		this.writeQueuedDecisions();
		const args: (string | number)[] = [];
		const sql = countSql('decision_facts', filter, by, (v) => (args.push(v), '?'));
		return countsFromRows(this.prepared(sql).all(...args) as Record<string, unknown>[], by);
	}

	async deleteDecisions(decisionIds: string[]) {
		const ids = JSON.stringify(decisionIds);
		const deleted = await this.secureWrite(() => {
			this.writeQueuedDecisions();
			this.prepared('DELETE FROM outcomes WHERE decision_id IN (SELECT value FROM json_each(?))').run(ids);
			// Their console facts go with them (decision_facts_follow_deletes).
			for (const id of decisionIds) {
				this.writtenFacts.delete(id);
				this.writtenRows.delete(id);
			}
			return Number(this.prepared('DELETE FROM decisions WHERE decision_id IN (SELECT value FROM json_each(?))').run(ids).changes);
		});
		await this.sync();
		return deleted;
	}

	/** One transaction per page (committed before the next), so the job never holds the write lock for long. */
	pruneExpired(target: PruneTarget, before: number, dryRun: boolean) {
		const { table, key, time } = PRUNE_TABLES[target];
		const page = async (after: string) => this.prepared(`SELECT ${key} AS key, ${time} AS time FROM ${table} WHERE ${key} > ? ORDER BY ${key} LIMIT ?`).all(after, RETENTION_BATCH) as unknown as KeyedRow[];
		const remove = async (keys: string[]) => {
			const n = await this.secureWrite(() => {
				if (target === 'capLedger') this.capCopy.clear();
				return Number(this.prepared(`DELETE FROM ${table} WHERE ${key} IN (SELECT value FROM json_each(?)) AND ${time} < ?`).run(JSON.stringify(keys), before).changes);
			});
			await this.sync();
			return n;
		};
		return prunePages(page, remove, before, dryRun);
	}

	inactiveContacts(before: string, pageSize: number) {
		const page = async (after: string) =>
			this.prepared(`SELECT contact_id AS key, json_extract(body, '$.lastSeenAt') AS time FROM profiles WHERE contact_id > ? ORDER BY contact_id LIMIT ?`).all(after, RETENTION_BATCH) as unknown as KeyedRow[];
		return olderPages(page, before, pageSize);
	}

	/**
	 * A unit whose deletes overwrite the bytes they free (secure_delete, for this unit only: the rest of the
	 * engine's deletes do not pay for it), so retention leaves no deleted data in the file's free pages.
	 */
	private secureWrite<T>(unit: () => T): Promise<T> {
		return this.write(() => {
			this.db.exec('PRAGMA secure_delete = ON');
			try {
				return unit();
			} finally {
				this.db.exec('PRAGMA secure_delete = OFF');
			}
		});
	}

	async eraseContact({ contactId, claimKeys, armKeys, pseudonymise, scrub = true }: ContactErasure): Promise<ErasureCounts> {
		const counts = await (scrub ? this.write.bind(this) : this.secureWrite.bind(this))((): ErasureCounts => {
			this.writeQueuedDecisions();
			const run = (sql: string, ...args: string[]) => Number(this.prepared(sql).run(...args).changes);
			for (const key of claimKeys) run('DELETE FROM claimed_keys WHERE key = ?', key);
			for (const key of armKeys) {
				run('DELETE FROM learner_arms WHERE key = ?', key);
				this.armCopy.drop(key);
			}
			const rows = this.prepared(`SELECT ${DECISION_COLUMNS} FROM decisions WHERE contact_id = ?`).all(contactId) as unknown as DecisionRow[];
			for (const row of rows) {
				const d = pseudonymise(decisionOfRow(row));
				// Status and reason too: an open decision ends with the erasure (CONTACT_ERASED).
				this.prepared('UPDATE decisions SET contact_id = ?, status = ?, reason = ?, body = ?, message_id = ? WHERE decision_id = ?').run(d.contactId, d.status, d.reason ?? null, rowBody(d), d.delivery?.providerMessageId ?? null, d.decisionId);
				run('DELETE FROM decision_facts WHERE decision_id = ?', d.decisionId);
				this.writtenFacts.delete(d.decisionId);
				this.writtenRows.delete(d.decisionId);
				this.putFacts(factsOf(d));
				run('DELETE FROM outcomes WHERE decision_id = ?', d.decisionId);
				for (const o of d.outcomes) this.stmt.putOutcome.run(o.outcomeId, d.decisionId, JSON.stringify(o));
			}
			this.capCopy.drop(contactId);
			return {
				profiles: run('DELETE FROM profiles WHERE contact_id = ?', contactId),
				identities: run('DELETE FROM identities WHERE contact_id = ?', contactId),
				capEntries: run('DELETE FROM cap_ledger WHERE contact_id = ?', contactId),
				timers: run(`DELETE FROM timers WHERE CASE WHEN json_valid(body) THEN json_extract(body, '$.contactId') END = ?`, contactId),
				decisions: rows.length,
			};
		});
		if (scrub) {
			await this.sync();
			this.scrubFreedSpace();
		} else await this.sync();
		return counts;
	}

	/**
	 * SQLite leaves deleted and overwritten rows' bytes in free pages and in the WAL: after an erasure the file is
	 * rebuilt (VACUUM) and the WAL checkpointed and emptied, so no copy of the erased data stays in either file. Takes
	 * time in proportion to the file's size; a reader holding an old snapshot (another process) keeps the WAL until it ends.
	 */
	private scrubFreedSpace(): void {
		try {
			this.commit();
			this.db.exec('VACUUM');
			this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
		} catch (error) {
			throw this.storeError(error);
		}
	}

	async close() {
		if (!this.db.isOpen) return;
		clearTimeout(this.waitingTimer);
		// Everything is written now, waiting facts too: a file closed this way needs no repair when it opens next.
		if ((this.batchOpen || this.waitingFacts.size) && !this.failure) {
			try {
				this.openBatch();
				this.writeQueuedDecisions();
			} catch {
				// Repaired when the file opens next (repairFacts).
			}
		}
		this.commit();
		this.db.close();
	}
}

type FactsRow = (string | number | null)[];

function factsRow(f: DecisionFacts): FactsRow {
	return [f.decisionId, f.createdAt, f.journey, f.contactId, f.status, f.reason, f.channel, f.capRule, f.stage, f.group, f.converted ? 1 : 0,
		f.probability, scoreBinOf(f.probability), f.model, f.scoreValue, f.eventName, f.policyVersion];
}
