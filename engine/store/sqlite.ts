import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Decision, DecisionQuery, Outcome } from '../audit/schema';
import { NudgeError } from '../errors';
import type { Profile } from '../profiles/schema';
import { queryLimit } from './matchDecision';
import type { CapCounter, CapReservation, CapVerdict, Store } from './types';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS profiles (contact_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS identities (key TEXT PRIMARY KEY, contact_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS identities_contact ON identities (contact_id);
CREATE TABLE IF NOT EXISTS claimed_keys (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cap_ledger (
  reservation_id TEXT PRIMARY KEY, contact_id TEXT NOT NULL, channel TEXT NOT NULL,
  at INTEGER NOT NULL, expires_at INTEGER NOT NULL, state TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS cap_ledger_contact ON cap_ledger (contact_id, at);
CREATE TABLE IF NOT EXISTS decisions (
  decision_id TEXT PRIMARY KEY, contact_id TEXT NOT NULL, journey TEXT NOT NULL, status TEXT NOT NULL,
  reason TEXT, created_at TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS decisions_created ON decisions (created_at, decision_id);
CREATE INDEX IF NOT EXISTS decisions_contact ON decisions (contact_id, created_at);
CREATE INDEX IF NOT EXISTS decisions_journey ON decisions (journey, created_at);
CREATE INDEX IF NOT EXISTS decisions_reason ON decisions (reason, created_at);
CREATE TABLE IF NOT EXISTS outcomes (outcome_id TEXT PRIMARY KEY, decision_id TEXT NOT NULL, body TEXT NOT NULL);
`;

function openDatabase(path: string): DatabaseSync {
	if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
	try {
		return new DatabaseSync(path);
	} catch (error) {
		throw new NudgeError('STORE_ERROR', `Cannot open the SQLite store at ${path}: ${(error as Error).message}`);
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
export class SqliteStore implements Store {
	readonly kind = 'sqlite';
	private readonly db: DatabaseSync;
	private readonly stmt: Record<string, StatementSync>;
	private batchOpen = false;
	private waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
	private failure?: NudgeError;
	private readonly queuedDecisions = new Map<string, { row: Decision; json: string }>();

	constructor(readonly path: string) {
		this.db = openDatabase(path);
		this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
		this.db.exec(SCHEMA);
		const p = (sql: string) => this.db.prepare(sql);
		this.stmt = {
			getProfile: p('SELECT body FROM profiles WHERE contact_id = ?'),
			putProfile: p('INSERT INTO profiles (contact_id, body) VALUES (?, ?) ON CONFLICT(contact_id) DO UPDATE SET body = excluded.body'),
			delProfile: p('DELETE FROM profiles WHERE contact_id = ?'),
			getIdentity: p('SELECT contact_id FROM identities WHERE key = ?'),
			putIdentity: p('INSERT INTO identities (key, contact_id) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET contact_id = excluded.contact_id'),
			// One statement: inserts, or takes over an expired claim; zero changes means someone holds it.
			claimKey: p('INSERT INTO claimed_keys (key, expires_at) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET expires_at = excluded.expires_at WHERE claimed_keys.expires_at <= ?'),
			delKey: p('DELETE FROM claimed_keys WHERE key = ?'),
			countAny: p(`SELECT COUNT(*) AS n FROM cap_ledger WHERE contact_id = ? AND at >= ? AND (state = 'committed' OR expires_at > ?)`),
			countChannel: p(`SELECT COUNT(*) AS n FROM cap_ledger WHERE contact_id = ? AND at >= ? AND channel = ? AND (state = 'committed' OR expires_at > ?)`),
			putReservation: p(`INSERT INTO cap_ledger (reservation_id, contact_id, channel, at, expires_at, state) VALUES (?, ?, ?, ?, ?, 'pending')`),
			commitReservation: p(`UPDATE cap_ledger SET state = 'committed' WHERE reservation_id = ? AND state = 'pending'`),
			releaseReservation: p(`DELETE FROM cap_ledger WHERE reservation_id = ? AND state = 'pending'`),
			putDecision: p(`INSERT INTO decisions (decision_id, contact_id, journey, status, reason, created_at, body) VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT(decision_id) DO UPDATE SET status = excluded.status, reason = excluded.reason, body = excluded.body`),
			getDecision: p('SELECT body FROM decisions WHERE decision_id = ?'),
			putOutcome: p('INSERT INTO outcomes (outcome_id, decision_id, body) VALUES (?, ?, ?) ON CONFLICT(outcome_id) DO NOTHING'),
		};
	}

	private storeError(error: unknown): NudgeError {
		if (error instanceof NudgeError) return error;
		return new NudgeError('STORE_ERROR', `Could not write to the SQLite store at ${this.path}: ${(error as Error).message}`);
	}

	/** Applies a write unit in this turn's transaction (visible to this process at once, durable after sync). */
	private openBatch(): void {
		if (this.batchOpen) return;
		this.db.exec('BEGIN IMMEDIATE');
		this.batchOpen = true;
		setImmediate(() => this.commit());
	}

	/** Writes the queued decision rows into the open transaction. */
	private writeQueuedDecisions(): void {
		for (const { row, json } of this.queuedDecisions.values()) {
			this.stmt.putDecision.run(row.decisionId, row.contactId, row.journey, row.status, row.reason ?? null, row.createdAt, json);
		}
		this.queuedDecisions.clear();
	}

	private write<T>(unit: () => T): Promise<T> {
		if (this.failure) return Promise.reject(this.failure);
		try {
			this.openBatch();
			this.db.exec('SAVEPOINT unit');
			try {
				const result = unit();
				this.db.exec('RELEASE unit');
				return Promise.resolve(result);
			} catch (error) {
				this.db.exec('ROLLBACK TO unit');
				this.db.exec('RELEASE unit');
				throw error;
			}
		} catch (error) {
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
			this.writeQueuedDecisions();
			this.db.exec('COMMIT');
		} catch (error) {
			this.queuedDecisions.clear();
			if (this.db.isTransaction) this.db.exec('ROLLBACK');
			this.failure = new NudgeError('STORE_ERROR', `The SQLite store at ${this.path} failed to commit and has stopped accepting writes (restart to recover): ${(error as Error).message}`);
			for (const w of waiters) w.reject(this.failure);
			return;
		}
		for (const w of waiters) w.resolve();
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

	releaseKey(key: string) {
		return this.write(() => {
			this.stmt.delKey.run(key);
		});
	}

	reserveCap(r: CapReservation, counters: CapCounter[]): Promise<CapVerdict> {
		return this.write(() => {
			const counts = counters.map((c) => {
				const row = (
					c.channel === undefined
						? this.stmt.countAny.get(r.contactId, c.since, r.at)
						: this.stmt.countChannel.get(r.contactId, c.since, c.channel, r.at)
				) as { n: number };
				return Number(row.n);
			});
			const full = counters.findIndex((c, i) => counts[i] >= c.limit);
			if (full >= 0) return { ok: false, counts, bindingRuleId: counters[full].ruleId };
			this.stmt.putReservation.run(r.reservationId, r.contactId, r.channel, r.at, r.expiresAt);
			return { ok: true, counts };
		});
	}

	settleCap(reservationId: string, outcome: 'commit' | 'release') {
		const stmt = outcome === 'commit' ? this.stmt.commitReservation : this.stmt.releaseReservation;
		return this.write(() => Number(stmt.run(reservationId).changes) > 0);
	}

	async putDecision(d: Decision) {
		if (this.failure) throw this.failure;
		try {
			this.openBatch();
		} catch (error) {
			throw this.storeError(error);
		}
		const { decisionId, contactId, journey, status, reason, createdAt } = d;
		this.queuedDecisions.set(decisionId, { row: { decisionId, contactId, journey, status, reason, createdAt } as Decision, json: JSON.stringify(d) });
	}

	private putDecisionRow(d: Decision): void {
		this.stmt.putDecision.run(d.decisionId, d.contactId, d.journey, d.status, d.reason ?? null, d.createdAt, JSON.stringify(d));
	}

	async getDecision(decisionId: string) {
		const queued = this.queuedDecisions.get(decisionId);
		if (queued) return JSON.parse(queued.json) as Decision;
		const row = this.stmt.getDecision.get(decisionId) as { body: string } | undefined;
		return row ? (JSON.parse(row.body) as Decision) : undefined;
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
		if (q.journey) add('journey = ?', q.journey);
		if (q.reason) add('reason = ?', q.reason);
		if (q.status) add('status = ?', q.status);
		if (q.from) add('created_at >= ?', q.from);
		if (q.to) add('created_at < ?', q.to);
		if (q.after) add('(created_at > ? OR (created_at = ? AND decision_id > ?))', q.after.createdAt, q.after.createdAt, q.after.decisionId);
		const sql = `SELECT body FROM decisions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, decision_id LIMIT ?`;
		const rows = this.db.prepare(sql).all(...args, queryLimit(q)) as { body: string }[];
		return rows.map((r) => JSON.parse(r.body) as Decision);
	}

	addOutcome(decisionId: string, outcome: Outcome) {
		return this.write(() => {
			this.writeQueuedDecisions();
			const row = this.stmt.getDecision.get(decisionId) as { body: string } | undefined;
			if (!row) return false;
			if (Number(this.stmt.putOutcome.run(outcome.outcomeId, decisionId, JSON.stringify(outcome)).changes) === 0) {
				return false;
			}
			const d = JSON.parse(row.body) as Decision;
			d.outcomes.push(outcome);
			if (outcome.at > d.updatedAt) d.updatedAt = outcome.at;
			this.putDecisionRow(d);
			return true;
		});
	}

	async close() {
		if (!this.db.isOpen) return;
		this.commit();
		this.db.close();
	}
}
