import type { Pool, PoolClient } from 'pg';
import type { Decision, DecisionQuery, Outcome } from '../audit/schema';
import { NudgeError, redactUrl } from '../errors';
import type { Profile } from '../profiles/schema';
import { evaluateCounters, LedgerEntry } from './capMatch';
import { queryLimit } from './matchDecision';
import { activationFromRow, ModelActivation } from './models';
import { reconnectDelayMs } from './connection';
import { checkArmDeltas } from './armStats';
import { INACTIVITY_QUEUE, queuePrefix, RETENTION_BATCH, type ArmStats, type CapCounter, type CapReservation, type CapVerdict, type ContactErasure, type ErasureCounts, type LeasedTimer, type PruneTarget, type Store, type KeyHold, type ProfileWrite, type StoredTimer, type TakeIn, type TimerQueue } from './types';
import { ComposedSteps } from './folded';
import { timerIsFor } from './erasure';
import type { DecisionFilter, FactKey, SummaryPage } from './decisionFacts';
import { countSql, countsFromRows, listSummariesSql, summaryFromRow } from './factsSql';
import { KeyedRow, olderPages, PRUNE_TABLES, prunePages } from './prune';

/** The console's facts (decisionFacts.ts `factsOf`, in SQL) as a view over the decision bodies, so nothing is written twice. */
const factsViewSql = (s: string) => `
CREATE OR REPLACE VIEW ${s}.decision_facts AS
SELECT decision_id, created_at, journey, contact_id, status, reason,
  body->>'channel' AS channel,
  (SELECT c->>'ruleId' FROM jsonb_array_elements(COALESCE(body->'guard'->'checks', '[]'::jsonb)) WITH ORDINALITY AS t(c, i)
    WHERE c->>'kind' = 'frequency_cap' AND c->>'passed' = 'false' AND COALESCE(c->>'exempt', 'false') <> 'true' ORDER BY i LIMIT 1) AS cap_rule,
  CASE WHEN status = 'sent' THEN 4
    WHEN body ? 'channel' AND COALESCE(body->'choice'->>'method', '') <> 'holdout' THEN CASE WHEN body->'guard'->>'allowed' = 'true' THEN 3 ELSE 2 END
    WHEN body ? 'score' THEN 1 ELSE 0 END AS stage,
  CASE WHEN body ? 'choice' THEN CASE WHEN body->'choice'->>'method' = 'holdout' THEN 'holdout' ELSE 'treated' END END AS grp,
  CASE WHEN body ? 'conversion'
    THEN EXISTS (SELECT 1 FROM jsonb_array_elements(body->'outcomes') AS o WHERE body->'conversion' ? (o->>'type'))
    ELSE COALESCE(body->'outcomes' @> '[{"type":"conversion"}]'::jsonb, false) END AS converted,
  (body->'score'->>'probability')::float8 AS probability,
  CASE WHEN body->'score'->>'probability' IS NOT NULL
    THEN LEAST(100, GREATEST(0, floor((body->'score'->>'probability')::float8 * 100 + 1e-9)))::int END AS score_bin,
  body->'score'->>'model' AS model,
  (body->'score'->>'value')::float8 AS score_value,
  COALESCE(body->'event'->>'name', body->'event'->>'type') AS event_name,
  body->>'policyVersion' AS policy_version
FROM ${s}.decisions;
`;

export interface PostgresStoreOptions {
	/** The schema holding Nudge's tables (default `nudge`), created on first use. */
	schema?: string;
	/** Connections in the pool (default 10). */
	maxConnections?: number;
	/** Attempts to get a connection before a call fails (default 5, with backoff). */
	connectAttempts?: number;
}

const schemaSql = (s: string) => `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.profiles (contact_id TEXT PRIMARY KEY, body JSONB NOT NULL);
CREATE TABLE IF NOT EXISTS ${s}.identities (key TEXT PRIMARY KEY, contact_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ${s}.claimed_keys (key TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS ${s}.cap_ledger (
  reservation_id TEXT PRIMARY KEY, contact_id TEXT NOT NULL, channel TEXT NOT NULL, journey TEXT NOT NULL,
  tags TEXT[] NOT NULL, at BIGINT NOT NULL, expires_at BIGINT NOT NULL, committed BOOLEAN NOT NULL DEFAULT false);
CREATE INDEX IF NOT EXISTS cap_ledger_contact ON ${s}.cap_ledger (contact_id, at);
CREATE TABLE IF NOT EXISTS ${s}.decisions (
  decision_id TEXT PRIMARY KEY, contact_id TEXT NOT NULL, journey TEXT NOT NULL, status TEXT NOT NULL,
  reason TEXT, created_at TEXT NOT NULL, body JSONB NOT NULL);
CREATE INDEX IF NOT EXISTS decisions_created ON ${s}.decisions (created_at, decision_id);
CREATE INDEX IF NOT EXISTS decisions_contact ON ${s}.decisions (contact_id, created_at, decision_id);
CREATE INDEX IF NOT EXISTS decisions_journey ON ${s}.decisions (journey, created_at, decision_id);
CREATE INDEX IF NOT EXISTS decisions_reason ON ${s}.decisions (reason, created_at, decision_id);
CREATE INDEX IF NOT EXISTS decisions_status ON ${s}.decisions (status, created_at, decision_id);
CREATE TABLE IF NOT EXISTS ${s}.outcomes (outcome_id TEXT PRIMARY KEY, decision_id TEXT NOT NULL, body JSONB NOT NULL);
CREATE TABLE IF NOT EXISTS ${s}.model_versions (
  name TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL, meta JSONB NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS ${s}.model_active (name TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ${s}.model_activations (
  seq BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL, previous INTEGER,
  action TEXT NOT NULL, at TEXT NOT NULL, note TEXT);
CREATE TABLE IF NOT EXISTS ${s}.cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ${s}.timers (timer_id TEXT PRIMARY KEY, due_at BIGINT NOT NULL, body TEXT NOT NULL);
ALTER TABLE ${s}.timers ADD COLUMN IF NOT EXISTS lease TEXT, ADD COLUMN IF NOT EXISTS lease_until BIGINT;
CREATE INDEX IF NOT EXISTS timers_due ON ${s}.timers (due_at, timer_id);
CREATE TABLE IF NOT EXISTS ${s}.learner_arms (
  key TEXT PRIMARY KEY, trials DOUBLE PRECISION NOT NULL DEFAULT 0, successes DOUBLE PRECISION NOT NULL DEFAULT 0,
  negatives DOUBLE PRECISION NOT NULL DEFAULT 0, value_sum DOUBLE PRECISION NOT NULL DEFAULT 0, value_sq DOUBLE PRECISION NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS decisions_message ON ${s}.decisions ((body->'delivery'->>'providerMessageId'))
  WHERE body->'delivery'->>'providerMessageId' IS NOT NULL;
`;

/** Errors that mean "no connection was made", so the call can be retried without doing anything twice. */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN', '57P03', '53300']);

/** deadlock_detected and serialization_failure: PostgreSQL aborted this side, which did nothing; running it again is safe. */
const ABORTED_TO_RETRY = new Set(['40P01', '40001']);
const RETRIES_AFTER_ABORT = 4;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A shared store on PostgreSQL (`postgres://user@host:port/db?schema=nudge`): the decision log
 * (JSONB bodies, indexes for every query the log supports), model versions, and optionally the hot
 * state too (profiles, caps, keys, timers), so it is a complete Store on its own. Decision rows are
 * group-committed (one multi-row upsert per event-loop turn; `sync()` waits for it, and the engine calls
 * it before acknowledging an event or sending); every other write is committed when its promise resolves.
 *
 * Cap checks lock the contact (a transaction-scoped advisory lock), read its live ledger and evaluate
 * the counters with capMatch.ts, so the semantics are exactly the memory store's.
 */
interface LedgerRow {
	channel: string;
	journey: string;
	tags: string[];
	at: string;
	expires_at: string;
	committed: boolean;
}

/** A cap_ledger row as capMatch counts it. */
function ledgerEntry(contactId: string, row: LedgerRow): LedgerEntry {
	return {
		reservationId: '',
		contactId,
		channel: row.channel,
		journey: row.journey,
		tags: row.tags,
		at: Number(row.at),
		expiresAt: Number(row.expires_at),
		state: row.committed ? 'committed' : 'pending',
	};
}

export class PostgresStore extends ComposedSteps implements Store {
	readonly kind = 'postgres';
	readonly shared = true;
	readonly schema: string;
	private readonly pool: Pool;
	private readonly where: string;
	private readonly attempts: number;
	private ready?: Promise<void>;
	private closed = false;

	constructor(url: string, options: PostgresStoreOptions = {}) {
		super();
		const parsed = new URL(url);
		const schema = options.schema ?? parsed.searchParams.get('schema') ?? 'nudge';
		if (!/^[a-z_][a-z0-9_]*$/i.test(schema)) throw new NudgeError('INVALID_CONFIG', `The PostgreSQL schema "${schema}" must be letters, digits and underscores`);
		// Unquoted in SQL, PostgreSQL folds it to lower case: `Nudge` and `nudge` are one schema, so one name for the
		// advisory locks too (with two, two processes spelling it differently would reserve the same cap slot).
		this.schema = schema.toLowerCase();
		parsed.searchParams.delete('schema');
		this.where = redactUrl(url);
		this.attempts = options.connectAttempts ?? 5;
		// Loaded on first use, not when a node loads: a node that never uses it does not pay for it (docs/benchmarks.md, bench/load).
		const { Pool } = require('pg') as typeof import('pg');
		this.pool = new Pool({ connectionString: parsed.toString(), max: options.maxConnections ?? 10, connectionTimeoutMillis: 5000 });
		// An idle connection dropped by the server: the pool replaces it; the error must not crash the process.
		this.pool.on('error', () => undefined);
	}

	private t(table: string): string {
		return `${this.schema}.${table}`;
	}

	/** A pooled connection, retried with backoff while the server refuses connections. */
	private async connect(): Promise<PoolClient> {
		for (let attempt = 1; ; attempt++) {
			try {
				const client = await this.pool.connect();
				// A connection lost while checked out (between queries) errors on the client, not the pool: it
				// fails the next query instead of crashing the process.
				if (client.listenerCount('error') === 0) client.on('error', () => undefined);
				return client;
			} catch (error) {
				const code = (error as { code?: string }).code ?? '';
				const retry = CONNECT_ERRORS.has(code) || /timeout|terminat/i.test((error as Error).message);
				if (!retry || attempt >= this.attempts || this.closed) throw error;
				await sleep(reconnectDelayMs(attempt));
			}
		}
	}

	/**
	 * Runs `op` on a pooled connection (in one transaction with `transaction`). PostgreSQL breaks a deadlock or a
	 * serialization conflict by aborting one side, which then did nothing: a transaction, or an op of one statement
	 * (`whole`), is run again, a few times, rather than failing the caller (a refused event, an erasure to redo).
	 */
	private async withClient<T>(what: string, op: (c: PoolClient) => Promise<T>, transaction = false, whole = transaction): Promise<T> {
		if (this.closed) throw new NudgeError('STORE_ERROR', `The PostgreSQL store at ${this.where} is closed`);
		for (let attempt = 1; ; attempt++) {
			try {
				return await this.onClient(op, transaction);
			} catch (error) {
				if (whole && ABORTED_TO_RETRY.has(String((error as { code?: string }).code)) && attempt < RETRIES_AFTER_ABORT && !this.closed) {
					await sleep(5 * attempt + Math.random() * 10);
					continue;
				}
				if (error instanceof NudgeError) throw error;
				throw new NudgeError('STORE_ERROR', `PostgreSQL store at ${this.where} could not ${what}: ${(error as Error).message}`, [], 503);
			}
		}
	}

	private async onClient<T>(op: (c: PoolClient) => Promise<T>, transaction: boolean): Promise<T> {
		if (!this.ready) {
			this.ready = this.setup();
			this.ready.catch(() => (this.ready = undefined));
		}
		await this.ready;
		const client = await this.connect();
		let broken = false;
		try {
			if (!transaction) return await op(client);
			await client.query('BEGIN');
			try {
				const result = await op(client);
				await client.query('COMMIT');
				return result;
			} catch (error) {
				await client.query('ROLLBACK').catch(() => (broken = true));
				throw error;
			}
		} catch (error) {
			if ((error as { code?: string }).code === undefined) broken = true;
			throw error;
		} finally {
			client.release(broken);
		}
	}

	/**
	 * Refuses a schema that is not there, creating nothing (a first query would create it): a command that only reads
	 * (nudge export, lift, console) would otherwise answer from a new, empty schema a typo named, as if that were the log.
	 */
	async requireSchema(): Promise<void> {
		let found: boolean;
		try {
			const client = await this.connect();
			try {
				found = ((await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.schema])).rowCount ?? 0) > 0;
			} finally {
				client.release();
			}
		} catch (error) {
			throw new NudgeError('STORE_ERROR', `PostgreSQL store at ${this.where} could not check its schema: ${(error as Error).message}`, [], 503);
		}
		if (!found) throw new NudgeError('INVALID_INPUT', `There is no schema "${this.schema}" in the PostgreSQL database at ${this.where}: check ?schema= in the store URL (without it, the schema is nudge). Nothing was created`);
	}

	private async setup(): Promise<void> {
		const client = await this.connect();
		try {
			// Several processes starting together: one creates the schema while the others wait.
			await client.query('SELECT pg_advisory_lock(hashtext($1))', [`nudge-schema:${this.schema}`]);
			try {
				await client.query(schemaSql(this.schema));
			} finally {
				await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`nudge-schema:${this.schema}`]);
			}
		} finally {
			client.release();
		}
	}

	private q<T = Record<string, unknown>>(what: string, sql: string, args: unknown[] = []): Promise<T[]> {
		return this.withClient(what, async (c) => (await c.query(sql, args)).rows as T[], false, true);
	}

	/**
	 * Decision rows waiting for the next group commit, by id, as the JSON the row will hold (reads of them
	 * are served from here). Serialised once when written: that is the copy the caller cannot change later,
	 * and the text the flush sends.
	 */
	private queued = new Map<string, string>();
	/** The rows of the group commit in progress: not yet visible in the table, still readable from here. */
	private writing = new Map<string, string>();
	private flushing?: Promise<void>;
	private flushScheduled = false;

	/** Resolves once every decision written so far is committed; rejects when that commit failed. */
	async sync() {
		while (this.queued.size || this.flushing) {
			if (this.flushing) await this.flushing;
			else await this.flush();
		}
	}

	private scheduleFlush(): void {
		if (this.flushScheduled) return;
		this.flushScheduled = true;
		setImmediate(() => {
			this.flushScheduled = false;
			if (!this.closed) this.flush().catch(() => undefined);
		});
	}

	/**
	 * Group commit: every decision queued since the last flush in one multi-row upsert (one round trip,
	 * one WAL flush), one flush at a time. A failed flush puts its rows back for the next one, so
	 * nothing written is dropped, and the sync() callers waiting on it reject. A row PostgreSQL refuses
	 * (its text: a data exception) would fail every later commit it is in: the rows are then written one by
	 * one, and the refused ones dropped and reported to the sync() callers, naming them.
	 */
	private flush(): Promise<void> {
		if (this.flushing) return this.flushing;
		if (!this.queued.size) return Promise.resolve();
		const batch = this.queued;
		this.writing = batch;
		this.queued = new Map();
		let failed = false;
		this.flushing = this.upsertDecisions([...batch.values()])
			.catch((error: unknown) => this.writeOneByOne(batch, error))
			.then(
				() => undefined,
				(error: unknown) => {
					failed = true;
					for (const [id, json] of batch) if (!this.queued.has(id)) this.queued.set(id, json);
					throw error;
				},
			)
			.finally(() => {
				this.flushing = undefined;
				this.writing = new Map();
				// After a failure the rows wait for the next write or sync() to try again (no busy retry loop).
				if (this.queued.size && !failed && !this.closed) this.scheduleFlush();
			});
		return this.flushing;
	}

	/** Decision rows (their JSON) in one upsert; text PostgreSQL refuses fails as INVALID_INPUT, not as the store down. */
	private upsertDecisions(rows: string[]): Promise<unknown> {
		return this.withClient(
			'write decisions',
			async (c) => {
				try {
					// One JSON array of the bodies: PostgreSQL parses each body once and takes the columns from it.
					return await c.query({
						// Named: each connection parses and plans it once, not at every group commit.
						name: 'nudge_put_decisions',
						text: `INSERT INTO ${this.t('decisions')} (decision_id, contact_id, journey, status, reason, created_at, body)
			 SELECT d->>'decisionId', d->>'contactId', d->>'journey', d->>'status', d->>'reason', d->>'createdAt', d FROM jsonb_array_elements($1::jsonb) AS d
			 ON CONFLICT (decision_id) DO UPDATE SET status = excluded.status, reason = excluded.reason, body = excluded.body`,
						values: [`[${rows.join(',')}]`],
					});
				} catch (error) {
					// SQLSTATE class 22, a data exception: e.g. a NUL (\u0000) PostgreSQL cannot keep in text.
					if (String((error as { code?: string }).code).startsWith('22')) throw new NudgeError('INVALID_INPUT', (error as Error).message);
					throw error;
				}
			},
			false,
			true,
		);
	}

	/** After a group commit PostgreSQL refused for a row's text: each row alone, the refused ones left out (and out of `batch`). */
	private async writeOneByOne(batch: Map<string, string>, error: unknown): Promise<void> {
		if (!(error instanceof NudgeError && error.code === 'INVALID_INPUT')) throw error;
		const refused: string[] = [];
		for (const [id, json] of [...batch]) {
			try {
				await this.upsertDecisions([json]);
			} catch (rowError) {
				if (!(rowError instanceof NudgeError && rowError.code === 'INVALID_INPUT')) throw rowError;
				refused.push(`${id} (${rowError.message})`);
			}
			batch.delete(id);
		}
		if (refused.length) {
			throw new NudgeError('INVALID_INPUT', `PostgreSQL store at ${this.where} refused to keep decision ${refused.join(', ')}: it holds text PostgreSQL cannot store; it was not written, the other decisions were`);
		}
	}

	async getProfile(contactId: string) {
		const rows = await this.q<{ body: Profile }>('read a profile', `SELECT body FROM ${this.t('profiles')} WHERE contact_id = $1`, [contactId]);
		return rows[0]?.body;
	}

	async resolveIdentities(keys: string[]) {
		const found = new Map<string, string>();
		if (keys.length === 0) return found;
		const rows = await this.q<{ key: string; contact_id: string }>('resolve identities', `SELECT key, contact_id FROM ${this.t('identities')} WHERE key = ANY($1)`, [keys]);
		for (const r of rows) found.set(r.key, r.contact_id);
		return found;
	}

	saveProfile(profile: Profile, identityKeys: string[], merged: string[]) {
		return this.withClient('save a profile', (c) => this.writeProfile(c, profile, identityKeys, merged), true);
	}

	private async writeProfile(c: PoolClient, profile: Profile, identityKeys: string[], merged: string[]): Promise<void> {
		if (merged.length) await c.query(`DELETE FROM ${this.t('profiles')} WHERE contact_id = ANY($1)`, [merged]);
		await c.query(`INSERT INTO ${this.t('profiles')} (contact_id, body) VALUES ($1, $2) ON CONFLICT (contact_id) DO UPDATE SET body = excluded.body`, [profile.contactId, JSON.stringify(profile)]);
		if (identityKeys.length) {
			await c.query(`INSERT INTO ${this.t('identities')} (key, contact_id) SELECT k, $2 FROM unnest($1::text[]) AS k ON CONFLICT (key) DO UPDATE SET contact_id = excluded.contact_id`, [identityKeys, profile.contactId]);
		}
	}

	/**
	 * The end of a take-in in one transaction, as Redis's script: the rows of the lease and the locks are locked (FOR
	 * UPDATE) and checked, then written. Checked first and written after in steps of their own (the composed default),
	 * another caller could take a lease or a lock that ran out between the two; here its claim (an upsert of the same
	 * row) waits for the commit, and then finds the lease gone and the mark set.
	 */
	finishTakeIn({ profile, mark }: TakeIn): Promise<boolean> {
		return this.withClient('finish taking an event in', (c) => this.endTakeIn(c, profile, mark), true);
	}

	/** A profile's save fenced by its locks, in one transaction (a take-in's end without a mark). */
	saveProfileAndRelease(profile: Profile, identityKeys: string[], merged: string[], release: string[], lockedUntil?: number): Promise<boolean> {
		const write = { profile, identityKeys, merged, release, ...(lockedUntil === undefined ? {} : { lockedUntil }) };
		return this.withClient('save a profile', (c) => this.endTakeIn(c, write), true);
	}

	private async endTakeIn(c: PoolClient, profile?: ProfileWrite, mark?: KeyHold): Promise<boolean> {
		const claims = this.t('claimed_keys');
		const fenced = [...(mark?.claimedUntil !== undefined ? [mark.release] : []), ...(profile?.lockedUntil !== undefined ? profile.release : [])];
		const held = new Map<string, number>();
		if (fenced.length) {
			const { rows } = await c.query<{ key: string; expires_at: string }>(`SELECT key, expires_at FROM ${claims} WHERE key = ANY($1) ORDER BY key FOR UPDATE`, [fenced]);
			for (const row of rows) held.set(row.key, Number(row.expires_at));
		}
		if (mark?.claimedUntil !== undefined && held.get(mark.release) !== mark.claimedUntil) {
			// A lease that is gone (let go by a delivery that failed) is no other's, unless one has marked the event since.
			// It is taken back in this transaction: a claim of it meanwhile (an upsert) waits for the commit, then finds
			// the mark; one made before has it, and this end is refused.
			if (held.has(mark.release)) return false;
			if ((await c.query(`SELECT 1 FROM ${claims} WHERE key = $1 AND expires_at > $2 FOR UPDATE`, [mark.hold, mark.now])).rows.length) return false;
			if (!(await c.query(`INSERT INTO ${claims} (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING 1`, [mark.release, mark.claimedUntil])).rows.length) return false;
		}
		if (profile?.lockedUntil !== undefined && profile.release.some((key) => held.get(key) !== profile.lockedUntil)) return false;
		if (profile) {
			await this.writeProfile(c, profile.profile, profile.identityKeys, profile.merged);
			if (profile.release.length) await c.query(`DELETE FROM ${claims} WHERE key = ANY($1)`, [profile.release]);
		}
		if (mark) {
			await this.holdKeyOn(c, mark.hold, mark.ttlMs, mark.now);
			await c.query(`DELETE FROM ${claims} WHERE key = $1`, [mark.release]);
		}
		return true;
	}

	async claimKey(key: string, ttlMs: number, now: number) {
		const rows = await this.q(
			'claim a key',
			`INSERT INTO ${this.t('claimed_keys')} (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE ${this.t('claimed_keys')}.expires_at <= $3 RETURNING 1`,
			[key, now + ttlMs, now],
		);
		return rows.length > 0;
	}

	async releaseKey(key: string, heldAs?: number) {
		if (heldAs === undefined) await this.q('release a key', `DELETE FROM ${this.t('claimed_keys')} WHERE key = $1`, [key]);
		else await this.q('release a key', `DELETE FROM ${this.t('claimed_keys')} WHERE key = $1 AND expires_at = $2`, [key, heldAs]);
	}

	holdKey(key: string, ttlMs: number, now: number) {
		return this.withClient('hold a key', (c) => this.holdKeyOn(c, key, ttlMs, now));
	}

	private async holdKeyOn(c: PoolClient, key: string, ttlMs: number, now: number): Promise<void> {
		await c.query(`INSERT INTO ${this.t('claimed_keys')} (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at`, [key, now + ttlMs]);
	}

	async keyHeldUntil(key: string, now: number) {
		const rows = await this.q<{ expires_at: string }>('read a key', `SELECT expires_at FROM ${this.t('claimed_keys')} WHERE key = $1 AND expires_at > $2`, [key, now]);
		return rows.length ? Number(rows[0].expires_at) : undefined;
	}

	reserveCap(r: CapReservation, counters: CapCounter[]): Promise<CapVerdict> {
		return this.withClient(
			'check a frequency cap',
			async (c) => {
				await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`nudge-cap:${this.schema}:${r.contactId}`]);
				const since = counters.length ? Math.min(...counters.map((x) => x.since)) : r.at;
				const { rows } = await c.query<LedgerRow>(`SELECT channel, journey, tags, at, expires_at, committed FROM ${this.t('cap_ledger')} WHERE contact_id = $1 AND at >= $2`, [
					r.contactId,
					since,
				]);
				const verdict = evaluateCounters(
					rows.map((row) => ledgerEntry(r.contactId, row)),
					counters,
					r.at,
				);
				if (verdict.ok) {
					await c.query(`INSERT INTO ${this.t('cap_ledger')} (reservation_id, contact_id, channel, journey, tags, at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
						r.reservationId,
						r.contactId,
						r.channel,
						r.journey,
						r.tags,
						r.at,
						r.expiresAt,
					]);
				}
				return verdict;
			},
			true,
		);
	}

	/** One read of the contact's ledger, no lock and no transaction: reserveCap stays the atomic check. */
	async peekCap(contactId: string, counters: CapCounter[], now: number): Promise<CapVerdict> {
		if (!counters.length) return { ok: true, counts: [], freesAt: [] };
		const rows = await this.q<LedgerRow>(
			'look at a frequency cap',
			`SELECT channel, journey, tags, at, expires_at, committed FROM ${this.t('cap_ledger')} WHERE contact_id = $1 AND at >= $2`,
			[contactId, Math.min(...counters.map((c) => c.since))],
		);
		return evaluateCounters(rows.map((row) => ledgerEntry(contactId, row)), counters, now);
	}

	/** Under both contacts' cap locks (reserveCap's), so a check of either waits for the move. */
	moveCapLedger(from: string[], to: string): Promise<number> {
		const others = from.filter((id) => id !== to);
		if (!others.length) return Promise.resolve(0);
		return this.withClient(
			'move a merged contact\'s cap ledger',
			async (c) => {
				// In one order, so two moves over the same contacts cannot deadlock.
				for (const id of [...new Set([...others, to])].sort()) await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`nudge-cap:${this.schema}:${id}`]);
				const { rowCount } = await c.query(`UPDATE ${this.t('cap_ledger')} SET contact_id = $1 WHERE contact_id = ANY($2)`, [to, others]);
				return rowCount ?? 0;
			},
			true,
		);
	}

	async settleCap(reservationId: string, outcome: 'commit' | 'release') {
		const sql =
			outcome === 'commit'
				? `UPDATE ${this.t('cap_ledger')} SET committed = true WHERE reservation_id = $1 AND NOT committed RETURNING 1`
				: `DELETE FROM ${this.t('cap_ledger')} WHERE reservation_id = $1 AND NOT committed RETURNING 1`;
		return (await this.q('settle a cap reservation', sql, [reservationId])).length > 0;
	}

	/** Queued for the next group commit: applied for this process at once, durable after `sync()`. */
	async putDecision(d: Decision) {
		if (this.closed) throw new NudgeError('STORE_ERROR', `The PostgreSQL store at ${this.where} is closed`);
		this.queued.set(d.decisionId, JSON.stringify(d));
		this.scheduleFlush();
	}

	async getDecision(decisionId: string) {
		const queued = this.queued.get(decisionId) ?? this.writing.get(decisionId);
		if (queued) return JSON.parse(queued) as Decision;
		const rows = await this.q<{ body: Decision }>('read a decision', `SELECT body FROM ${this.t('decisions')} WHERE decision_id = $1`, [decisionId]);
		return rows[0]?.body;
	}

	async queryDecisions(q: DecisionQuery) {
		await this.sync();
		const where: string[] = [];
		const args: unknown[] = [];
		const add = (sql: (n: (v: unknown) => string) => string) => where.push(sql((v) => (args.push(v), `$${args.length}`)));
		if (q.contactId) add((n) => `contact_id = ${n(q.contactId)}`);
		if (q.contactIds) add((n) => `contact_id = ANY(${n(q.contactIds)})`);
		if (q.journey) add((n) => `journey = ${n(q.journey)}`);
		if (q.reason) add((n) => `reason = ${n(q.reason)}`);
		if (q.status) add((n) => `status = ${n(q.status)}`);
		if (q.from) add((n) => `created_at >= ${n(q.from)}`);
		if (q.to) add((n) => `created_at < ${n(q.to)}`);
		const [later, order] = q.newestFirst ? ['<', 'created_at DESC, decision_id DESC'] : ['>', 'created_at, decision_id'];
		if (q.after) add((n) => `(created_at, decision_id) ${later} (${n(q.after!.createdAt)}, ${n(q.after!.decisionId)})`);
		args.push(queryLimit(q));
		const sql = `SELECT body FROM ${this.t('decisions')} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT $${args.length}`;
		return (await this.q<{ body: Decision }>('query decisions', sql, args)).map((r) => r.body);
	}

	private factsView?: Promise<unknown>;

	/** The console's queries read the facts view, created on first use (after any queued decisions are committed). */
	private async consoleQuery(what: string, build: (param: (v: string | number) => string) => string): Promise<Record<string, unknown>[]> {
		await this.sync();
		if (!this.factsView) {
			this.factsView = this.withClient('create the console view', async (c) => {
				await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`nudge-facts:${this.schema}`]);
				await c.query(factsViewSql(this.schema));
			}, true);
			this.factsView.catch(() => (this.factsView = undefined));
		}
		await this.factsView;
		const args: (string | number)[] = [];
		const sql = build((v) => (args.push(v), `$${args.length}`));
		return this.q(what, sql, args);
	}

	async listDecisionSummaries(filter: DecisionFilter, page: SummaryPage) {
		return (await this.consoleQuery('list decisions', (param) => listSummariesSql(this.t('decision_facts'), filter, page, param))).map(summaryFromRow);
	}

	async countDecisions(filter: DecisionFilter, by: FactKey[]) {
		return countsFromRows(await this.consoleQuery('count decisions', (param) => countSql(this.t('decision_facts'), filter, by, param)), by);
	}

	async addOutcome(decisionId: string, outcome: Outcome, sameAs?: string) {
		await this.sync();
		return this.withClient(
			'record an outcome',
			async (c) => {
				// The decision's row lock orders two outcomes of one decision, so the other spelling's check holds.
				const { rows } = await c.query<{ body: Decision }>(`SELECT body FROM ${this.t('decisions')} WHERE decision_id = $1 FOR UPDATE`, [decisionId]);
				if (!rows[0]) return false;
				if (sameAs !== undefined && rows[0].body.outcomes.some((o) => o.outcomeId === sameAs)) return false;
				const inserted = await c.query(`INSERT INTO ${this.t('outcomes')} (outcome_id, decision_id, body) VALUES ($1, $2, $3) ON CONFLICT (outcome_id) DO NOTHING`, [
					outcome.outcomeId,
					decisionId,
					JSON.stringify(outcome),
				]);
				if (inserted.rowCount === 0) return false;
				const d = rows[0].body;
				d.outcomes.push(outcome);
				if (outcome.at > d.updatedAt) d.updatedAt = outcome.at;
				await c.query(`UPDATE ${this.t('decisions')} SET body = $2 WHERE decision_id = $1`, [decisionId, JSON.stringify(d)]);
				return true;
			},
			true,
		);
	}

	saveModelVersion(name: string, createdAt: string, meta: Record<string, unknown>, body: string) {
		return this.withClient(
			'save a model version',
			async (c) => {
				await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`nudge-model:${this.schema}:${name}`]);
				const { rows } = await c.query<{ v: number }>(
					`INSERT INTO ${this.t('model_versions')} (name, version, created_at, meta, body)
					 SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4 FROM ${this.t('model_versions')} WHERE name = $1 RETURNING version AS v`,
					[name, createdAt, JSON.stringify(meta), body],
				);
				return Number(rows[0].v);
			},
			true,
		);
	}

	async getModelVersion(name: string, version?: number) {
		const active = await this.activeModelVersion(name);
		const v = version ?? active;
		if (v === undefined) return undefined;
		const rows = await this.q<{ created_at: string; meta: Record<string, unknown>; body: string }>(
			'read a model version',
			`SELECT created_at, meta, body FROM ${this.t('model_versions')} WHERE name = $1 AND version = $2`,
			[name, v],
		);
		const row = rows[0];
		return row && { name, version: v, createdAt: row.created_at, active: v === active, meta: row.meta, body: row.body };
	}

	async activeModelVersion(name: string) {
		const rows = await this.q<{ version: number }>('read the active model version', `SELECT version FROM ${this.t('model_active')} WHERE name = $1`, [name]);
		return rows[0] && Number(rows[0].version);
	}

	async listModelVersions(name: string) {
		const active = await this.activeModelVersion(name);
		const rows = await this.q<{ version: number; created_at: string; meta: Record<string, unknown> }>(
			'list model versions',
			`SELECT version, created_at, meta FROM ${this.t('model_versions')} WHERE name = $1 ORDER BY version`,
			[name],
		);
		return rows.map((r) => ({ name, version: Number(r.version), createdAt: r.created_at, active: Number(r.version) === active, meta: r.meta }));
	}

	activateModelVersion(a: Omit<ModelActivation, 'previous'>, expected?: number | null) {
		return this.withClient(
			'activate a model version',
			async (c) => {
				await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`nudge-model:${this.schema}:${a.name}`]);
				const exists = await c.query(`SELECT 1 FROM ${this.t('model_versions')} WHERE name = $1 AND version = $2`, [a.name, a.version]);
				if (exists.rowCount === 0) return false;
				const prev = await c.query<{ version: number }>(`SELECT version FROM ${this.t('model_active')} WHERE name = $1`, [a.name]);
				// Under the model's lock, so no other activation lands between this check and the update.
				if (expected !== undefined && (prev.rows[0] ? Number(prev.rows[0].version) : null) !== expected) return false;
				await c.query(`INSERT INTO ${this.t('model_active')} (name, version) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET version = excluded.version`, [a.name, a.version]);
				await c.query(`INSERT INTO ${this.t('model_activations')} (name, version, previous, action, at, note) VALUES ($1, $2, $3, $4, $5, $6)`, [
					a.name,
					a.version,
					prev.rows[0]?.version ?? null,
					a.action,
					a.at,
					a.note ?? null,
				]);
				return true;
			},
			true,
		);
	}

	async modelActivations(name: string) {
		const rows = await this.q<{ version: number; previous: number | null; action: ModelActivation['action']; at: string; note: string | null }>(
			'read model activations',
			`SELECT version, previous, action, at, note FROM ${this.t('model_activations')} WHERE name = $1 ORDER BY seq`,
			[name],
		);
		return rows.map((r) => activationFromRow(name, r));
	}

	async getCursor(name: string) {
		const rows = await this.q<{ value: string }>('read a cursor', `SELECT value FROM ${this.t('cursors')} WHERE name = $1`, [name]);
		return rows[0]?.value;
	}

	async deleteCursor(name: string) {
		await this.q('delete a cursor', `DELETE FROM ${this.t('cursors')} WHERE name = $1`, [name]);
	}

	async setCursor(name: string, value: string, expected: string | undefined) {
		const rows =
			expected === undefined
				? await this.q('move a cursor', `INSERT INTO ${this.t('cursors')} (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING 1`, [name, value])
				: await this.q('move a cursor', `UPDATE ${this.t('cursors')} SET value = $2 WHERE name = $1 AND value = $3 RETURNING 1`, [name, value, expected]);
		return rows.length > 0;
	}

	async scheduleTimer(timer: StoredTimer, onlyIfAbsent = false) {
		const conflict = onlyIfAbsent ? 'DO NOTHING' : 'DO UPDATE SET due_at = excluded.due_at, body = excluded.body, lease = NULL, lease_until = NULL';
		await this.q(
			'schedule a timer',
			`INSERT INTO ${this.t('timers')} (timer_id, due_at, body) VALUES ($1, $2, $3) ON CONFLICT (timer_id) ${conflict}`,
			[timer.timerId, timer.dueAt, timer.body],
		);
	}

	async cancelTimer(timerId: string) {
		return (await this.q('cancel a timer', `DELETE FROM ${this.t('timers')} WHERE timer_id = $1 RETURNING 1`, [timerId])).length > 0;
	}

	/**
	 * SKIP LOCKED: concurrent takers lease disjoint timers. A row another taker leased and committed meanwhile
	 * fails the re-checked lease condition, so it is never leased twice.
	 */
	async takeDueTimers(now: number, limit: number, leaseMs: number, queue: TimerQueue = INACTIVITY_QUEUE) {
		const { prefix, without, journeyText = null } = queuePrefix(queue);
		// A journey's part of the inactivity queue: the timers whose body names it (journeyFragment; as text, so a body
		// that is not JSON fails no take).
		const free = `due_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) AND starts_with(timer_id, $4) <> $5
			AND ($6::text IS NULL OR strpos(body, $6::text) > 0)`;
		const rows = await this.q<{ timer_id: string; due_at: string; body: string; lease: string }>(
			'take due timers',
			`UPDATE ${this.t('timers')} SET lease = gen_random_uuid()::text, lease_until = $1::bigint + $3::bigint
			 WHERE ${free} AND timer_id IN (SELECT timer_id FROM ${this.t('timers')} WHERE ${free} ORDER BY due_at, timer_id LIMIT $2 FOR UPDATE SKIP LOCKED)
			 RETURNING timer_id, due_at, body, lease`,
			[now, limit, leaseMs, prefix, without, journeyText],
		);
		return rows
			.map((r): LeasedTimer => ({ timerId: r.timer_id, dueAt: Number(r.due_at), body: r.body, lease: r.lease }))
			.sort((a, b) => a.dueAt - b.dueAt || (a.timerId < b.timerId ? -1 : 1));
	}

	async ackTimer(timerId: string, lease: string) {
		return (await this.q('acknowledge a timer', `DELETE FROM ${this.t('timers')} WHERE timer_id = $1 AND lease = $2 RETURNING 1`, [timerId, lease])).length > 0;
	}

	async getArmStats(keys: string[]) {
		const found = new Map<string, ArmStats>();
		if (keys.length === 0) return found;
		const rows = await this.q<{ key: string; trials: number; successes: number; negatives: number; value_sum: number; value_sq: number }>(
			'read learner statistics',
			`SELECT key, trials, successes, negatives, value_sum, value_sq FROM ${this.t('learner_arms')} WHERE key = ANY($1)`,
			[keys],
		);
		for (const r of rows) found.set(r.key, { trials: r.trials, successes: r.successes, negatives: r.negatives, valueSum: r.value_sum, valueSq: r.value_sq });
		return found;
	}

	/** Increments in SQL inside one transaction (keys in a fixed order, so concurrent writers cannot deadlock). */
	async addArmStats(deltas: { key: string; delta: Partial<ArmStats> }[]) {
		checkArmDeltas(deltas);
		if (deltas.length === 0) return;
		const sorted = [...deltas].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
		await this.withClient(
			'update learner statistics',
			async (c) => {
				for (const { key, delta: d } of sorted) {
					await c.query(
						`INSERT INTO ${this.t('learner_arms')} AS a (key, trials, successes, negatives, value_sum, value_sq) VALUES ($1, $2, $3, $4, $5, $6)
						 ON CONFLICT (key) DO UPDATE SET trials = a.trials + excluded.trials, successes = a.successes + excluded.successes,
						 negatives = a.negatives + excluded.negatives, value_sum = a.value_sum + excluded.value_sum, value_sq = a.value_sq + excluded.value_sq`,
						[key, d.trials ?? 0, d.successes ?? 0, d.negatives ?? 0, d.valueSum ?? 0, d.valueSq ?? 0],
					);
				}
			},
			true,
		);
	}

	async findDecisionByMessageId(messageId: string) {
		await this.sync();
		const rows = await this.q<{ body: Decision }>(
			'find a decision by message id',
			`SELECT body FROM ${this.t('decisions')} WHERE body->'delivery'->>'providerMessageId' = $1 LIMIT 1`,
			[messageId],
		);
		return rows[0]?.body;
	}

	/** One statement: the decisions and their outcomes (the console's facts are a view of the decisions). */
	async deleteDecisions(decisionIds: string[]) {
		await this.sync();
		const rows = await this.q<{ n: string }>(
			'delete old decisions',
			`WITH gone AS (DELETE FROM ${this.t('decisions')} WHERE decision_id = ANY($1) RETURNING decision_id),
			 outcomes AS (DELETE FROM ${this.t('outcomes')} WHERE decision_id IN (SELECT decision_id FROM gone))
			 SELECT count(*) AS n FROM gone`,
			[decisionIds],
		);
		return Number(rows[0].n);
	}

	pruneExpired(target: PruneTarget, before: number, dryRun: boolean) {
		const { table, key, time } = PRUNE_TABLES[target];
		const page = (after: string) => this.q<KeyedRow>('read for retention', `SELECT ${key} AS key, ${time} AS time FROM ${this.t(table)} WHERE ${key} > $1 ORDER BY ${key} LIMIT $2`, [after, RETENTION_BATCH]);
		const remove = async (keys: string[]) => (await this.q('prune for retention', `DELETE FROM ${this.t(table)} WHERE ${key} = ANY($1) AND ${time} < $2 RETURNING 1`, [keys, before])).length;
		return prunePages(page, remove, before, dryRun);
	}

	inactiveContacts(before: string, pageSize: number) {
		const page = (after: string) =>
			this.q<KeyedRow>('read profiles for retention', `SELECT contact_id AS key, body->>'lastSeenAt' AS time FROM ${this.t('profiles')} WHERE contact_id > $1 ORDER BY contact_id LIMIT $2`, [after, RETENTION_BATCH]);
		return olderPages(page, before, pageSize);
	}

	/** One transaction; the contact's decisions are rewritten in one statement. */
	async eraseContact({ contactId, claimKeys, armKeys, pseudonymise }: ContactErasure): Promise<ErasureCounts> {
		await this.sync();
		return this.withClient(
			'erase a contact',
			async (c) => {
				const del = async (table: string, where: string, arg: unknown) => (await c.query(`DELETE FROM ${this.t(table)} WHERE ${where}`, [arg])).rowCount ?? 0;
				await del('claimed_keys', 'key = ANY($1)', claimKeys);
				await del('learner_arms', 'key = ANY($1)', armKeys);
				// Bodies are JSON text: a cheap match on the id as JSON writes it (a quote, a backslash escaped), then the exact
				// test on the parsed body.
				const { rows: timerRows } = await c.query<{ timer_id: string; body: string }>(`SELECT timer_id, body FROM ${this.t('timers')} WHERE strpos(body, $1) > 0`, [JSON.stringify(contactId).slice(1, -1)]);
				const timerIds = timerRows.filter((r) => timerIsFor(r.body, contactId)).map((r) => r.timer_id);
				const { rows } = await c.query<{ body: Decision }>(`SELECT body FROM ${this.t('decisions')} WHERE contact_id = $1 FOR UPDATE`, [contactId]);
				if (rows.length) {
					const erased = JSON.stringify(rows.map((r) => pseudonymise(r.body)));
					await c.query(
						// Status and reason too: an open decision ends with the erasure (CONTACT_ERASED).
						`UPDATE ${this.t('decisions')} AS t SET contact_id = d->>'contactId', status = d->>'status', reason = d->>'reason', body = d FROM jsonb_array_elements($1::jsonb) AS d WHERE t.decision_id = d->>'decisionId'`,
						[erased],
					);
					// The outcomes' ids (kept to drop repeats) as the rewritten decisions carry them.
					await c.query(`DELETE FROM ${this.t('outcomes')} WHERE decision_id = ANY($1)`, [rows.map((r) => r.body.decisionId)]);
					await c.query(
						`INSERT INTO ${this.t('outcomes')} (outcome_id, decision_id, body) SELECT o->>'outcomeId', d->>'decisionId', o
						 FROM jsonb_array_elements($1::jsonb) AS d, jsonb_array_elements(d->'outcomes') AS o ON CONFLICT (outcome_id) DO NOTHING`,
						[erased],
					);
				}
				return {
					profiles: await del('profiles', 'contact_id = $1', contactId),
					identities: await del('identities', 'contact_id = $1', contactId),
					capEntries: await del('cap_ledger', 'contact_id = $1', contactId),
					timers: await del('timers', 'timer_id = ANY($1)', timerIds),
					decisions: rows.length,
				};
			},
			true,
		);
	}

	/** Drops this store's schema with everything in it (tests; never called by the engine). */
	async dropAll(): Promise<void> {
		await this.q('drop the schema', `DROP SCHEMA IF EXISTS ${this.schema} CASCADE`);
		this.ready = undefined;
	}

	async close() {
		if (this.closed) return;
		await this.sync().catch(() => undefined);
		this.closed = true;
		await this.pool.end();
	}
}
