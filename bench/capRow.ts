import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { newId } from '../engine/ids';
import { fmt, print } from './stats';

/**
 * The SQLite cap ledger's row on its own: CPU per INSERT of a reservation into `cap_ledger` with the indexes it
 * has and without some of them, with and without a savepoint around it, 50,000 rows in one transaction (as a
 * batch of checks writes them). It says how much of a SQLite cap check is the row (docs/benchmarks.md, bench/caps).
 *
 *   node dist/bench/capRow.js          BENCH_CAP_ROWS=50000
 */
const ROWS = Number(process.env.BENCH_CAP_ROWS ?? 50_000);
const COLUMNS = `contact_id TEXT NOT NULL, channel TEXT NOT NULL, at INTEGER NOT NULL, expires_at INTEGER NOT NULL, state TEXT NOT NULL,
	journey TEXT NOT NULL DEFAULT '', tags TEXT NOT NULL DEFAULT ','`;
const SCHEMAS: [string, string][] = [
	['as shipped: id key, (contact_id, at) index', `CREATE TABLE cap_ledger (reservation_id TEXT PRIMARY KEY, ${COLUMNS}); CREATE INDEX cap_ledger_contact ON cap_ledger (contact_id, at)`],
	['index on contact_id only', `CREATE TABLE cap_ledger (reservation_id TEXT PRIMARY KEY, ${COLUMNS}); CREATE INDEX cap_ledger_contact ON cap_ledger (contact_id)`],
	['without the contact index', `CREATE TABLE cap_ledger (reservation_id TEXT PRIMARY KEY, ${COLUMNS})`],
	['no index at all', `CREATE TABLE cap_ledger (reservation_id TEXT, ${COLUMNS})`],
	[
		'WITHOUT ROWID by (contact_id, at, id), id index',
		`CREATE TABLE cap_ledger (reservation_id TEXT NOT NULL, ${COLUMNS}, PRIMARY KEY (contact_id, at, reservation_id)) WITHOUT ROWID; CREATE UNIQUE INDEX cap_ledger_id ON cap_ledger (reservation_id)`,
	],
];

function usPerRow(dir: string, schema: string, savepoint: boolean): number {
	const db = new DatabaseSync(join(dir, `${Math.random()}.db`));
	db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL');
	db.exec(schema);
	const insert = db.prepare(`INSERT INTO cap_ledger (reservation_id, contact_id, channel, journey, tags, at, expires_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')`);
	const open = db.prepare('SAVEPOINT unit');
	const release = db.prepare('RELEASE unit');
	const ids = Array.from({ length: ROWS }, () => newId('r'));
	const t0 = Date.parse('2026-11-02T09:00:00Z');
	db.exec('BEGIN IMMEDIATE');
	const started = process.cpuUsage();
	for (let i = 0; i < ROWS; i++) {
		if (savepoint) open.run();
		insert.run(ids[i], `c${i % 10_000}`, 'email', 'nurture', ',promo,', t0 + i, t0 + i + 300_000);
		if (savepoint) release.run();
	}
	const { user, system } = process.cpuUsage(started);
	db.exec('COMMIT');
	db.close();
	return (user + system) / ROWS;
}

export function benchCapRow(): void {
	const dir = mkdtempSync(join(tmpdir(), 'nudge-caprow-'));
	print(`bench/capRow: µs of CPU per cap_ledger INSERT, ${fmt(ROWS, 0)} rows in one transaction`);
	for (const [label, schema] of SCHEMAS) print(`  ${label.padEnd(48)} with a savepoint ${fmt(usPerRow(dir, schema, true)).padStart(6)}   one statement ${fmt(usPerRow(dir, schema, false)).padStart(6)}`);
	rmSync(dir, { recursive: true, force: true });
}

if (require.main === module) benchCapRow();
