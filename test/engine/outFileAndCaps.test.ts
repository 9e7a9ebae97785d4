/**
 * SQLite's one-step cap check undone whole when its claim fails, and an --out never replacing a file the command keeps
 * its data in (any spelling of the store, a split store's parts), written through a link whose file is not there yet.
 */
import { existsSync, lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteStore } from '../../engine/store/sqlite';
import type { CapCounter, CapReservation } from '../../engine/store/types';
import { openOutFile } from '../../cli/outFile';
import { tempDir } from '../helpers/fixtures';

const AT = Date.parse('2026-03-02T12:00:00Z');
const counters = (limit: number): CapCounter[] => [{ ruleId: 'daily', limit, since: AT - 86_400_000, match: {}, excludeTags: [] }];
const reservation = (id: string): CapReservation => ({ reservationId: id, contactId: 'c-1', channel: 'email', journey: 'j', tags: [], at: AT, expiresAt: AT + 600_000 });

describe('SQLite reserveCapAndClaim in one step', () => {
	/*
	 * The look at the key, the reservation and the claim are one write: a claim that fails (the disk full, here a
	 * trigger) takes the reservation back with it, so no cap slot stays taken for a check that answered an error.
	 */
	test('a claim that fails after the reservation leaves no cap slot taken', async () => {
		const file = join(tempDir('lastlook-'), 'n.db');
		const store = new SqliteStore(file);
		try {
			await store.peekCap('c-1', counters(1), AT); // schema in place
			await store.sync();
			const raw = new DatabaseSync(file);
			raw.exec(`CREATE TRIGGER boom BEFORE INSERT ON claimed_keys WHEN NEW.key = 'send:d-1' BEGIN SELECT RAISE(ABORT, 'disk full'); END`);
			raw.close();
			await expect(store.reserveCapAndClaim(reservation('r-1'), counters(1), { key: 'send:d-1', ttlMs: 86_400_000 })).rejects.toThrow();
			await store.sync().catch(() => undefined);
			const raw2 = new DatabaseSync(file);
			raw2.exec('DROP TRIGGER boom');
			raw2.close();
			const next = await store.reserveCapAndClaim(reservation('r-2'), counters(1), { key: 'send:d-2', ttlMs: 86_400_000 });
			expect(next.ok).toBe(true);
		} finally {
			await store.close();
		}
	});
});

describe("--out and the command's own files", () => {
	/*
	 * The store's file is found as opening it finds it: a scheme in another case (SQLite:) is the same file.
	 */
	test('--out naming the store given as SQLite:<file> (scheme in another case) is refused', async () => {
		const dir = tempDir('lastlook-');
		const db = join(dir, 'n.db');
		writeFileSync(db, 'database');
		await expect(openOutFile(db, [`SQLite:${db}`]).then((out) => out.finish(false))).rejects.toThrow(/is a file the command reads or keeps its data in/);
	});

	/*
	 * A split store's SQLite parts are files the command keeps its data in.
	 */
	test('--out naming the log file of a split store is refused', async () => {
		const dir = tempDir('lastlook-');
		const log = join(dir, 'log.db');
		writeFileSync(log, 'database');
		await expect(openOutFile(log, [`split:hot=memory:;log=sqlite:${log}`]).then((out) => out.finish(false))).rejects.toThrow(/is a file the command reads or keeps its data in/);
	});

	/*
	 * A link whose file is not there yet is written through: the file it names is made, the link stays a link.
	 */
	test('--out a symbolic link whose file is not there yet is written through, the link kept', async () => {
		const dir = tempDir('lastlook-');
		const real = join(dir, 'model.json');
		const link = join(dir, 'latest.json');
		symlinkSync(real, link);
		const out = await openOutFile(link);
		out.stream.write('{"ok":true}');
		await out.finish(true);
		expect(lstatSync(link).isSymbolicLink()).toBe(true);
		expect(existsSync(real) && readFileSync(real, 'utf8')).toBe('{"ok":true}');
	});
});

describe('docs/uplift.md on clamped cut-offs', () => {
	/*
	 * The docs say what loading a model does: an average effect beyond ±100 pp is refused, a cut-off beyond is read clamped.
	 */
	test('docs/uplift.md does not promise that a cut-off beyond ±100 pp is refused', () => {
		const doc = readFileSync(join(__dirname, '../../docs/uplift.md'), 'utf8').replace(/\s+/g, ' ');
		expect(doc.includes('Refused as well: an average effect or cut-off beyond ±100 percentage points')).toBe(false);
	});
});
