import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteStore } from '../engine/store/sqlite';
import { synthetic } from './console';
import { fmt, print } from './stats';

/**
 * `nudge export` memory at 1M decisions: the built CLI runs in a child with a 64 MB heap limit
 * (--max-old-space-size=64) and exports the whole log of a SQLite store to a pipe, as JSONL and as CSV.
 * The baseline, in the same run and store, is the same export limited (--to) to the first 10k decisions,
 * then the first tenth: if the export held the log in memory its peak would grow with the size; bounded,
 * it levels off.
 * The decisions are written by direct SQL (the store's schema, bodies from bench/console's generator).
 */
const TOTAL = Number(process.env.BENCH_EXPORT_SIZE ?? 1_000_000);
const SMALL = Math.min(10_000, TOTAL);
const HEAP_MB = 64;
const CLI = join(__dirname, '..', 'cli', 'nudge.js');

/** Loaded into the child: samples the heap and reports the peaks (and the process's max RSS) on stderr at exit. */
const PEAK_PROBE = `let peak = 0;
const sample = () => { peak = Math.max(peak, process.memoryUsage().heapUsed); };
setInterval(sample, 20).unref();
process.on('exit', () => { sample(); process.stderr.write('\\nPEAK ' + JSON.stringify({ heap: peak, rss: process.resourceUsage().maxRSS * 1024 }) + '\\n'); });
`;

async function fillBySql(file: string): Promise<void> {
	await new SqliteStore(file).close();
	const db = new DatabaseSync(file);
	const insert = db.prepare('INSERT INTO decisions (decision_id, contact_id, journey, status, reason, created_at, body) VALUES (?, ?, ?, ?, ?, ?, ?)');
	db.exec('BEGIN');
	for (let i = 0; i < TOTAL; i++) {
		const d = synthetic(i, TOTAL);
		insert.run(d.decisionId, d.contactId, d.journey, d.status, d.reason ?? null, d.createdAt, JSON.stringify(d));
	}
	// Facts rows too, so the store does not derive them on open (the export reads only the decisions table).
	db.exec(`INSERT INTO decision_facts (decision_id, created_at, journey, contact_id, status, reason, stage, converted, policy_version)
		SELECT decision_id, created_at, journey, contact_id, status, reason, 0, 0, 'default@bench' FROM decisions`);
	db.exec('COMMIT');
	db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
	db.close();
}

interface Run {
	decisions: number;
	seconds: number;
	heap: number;
	rss: number;
}

async function exportRun(probe: string, store: string, format: string, to?: string): Promise<Run> {
	const { spawnSync } = await import('node:child_process');
	const args = [`--max-old-space-size=${HEAP_MB}`, '--require', probe, CLI, 'export', '--store', store, '--format', format, ...(to ? ['--to', to] : [])];
	const t = performance.now();
	const child = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', maxBuffer: 1 << 20 });
	const seconds = (performance.now() - t) / 1000;
	const peak = /PEAK (\{.*\})/.exec(child.stderr);
	const count = /nudge export: (\d+) decision/.exec(child.stderr);
	if (child.status !== 0 || !peak || !count) throw new Error(`export ${format} failed (exit ${child.status}): ${child.stderr}`);
	const { heap, rss } = JSON.parse(peak[1]) as { heap: number; rss: number };
	return { decisions: Number(count[1]), seconds, heap, rss };
}

export async function benchExport(): Promise<void> {
	const dir = mkdtempSync(join(tmpdir(), 'nudge-export-bench-'));
	try {
		const store = join(dir, 'log.db');
		const probe = join(dir, 'peak.cjs');
		writeFileSync(probe, PEAK_PROBE);
		const t = performance.now();
		await fillBySql(store);
		print(`bench/export: nudge export in a child with a ${HEAP_MB} MB heap limit, whole log to a pipe (${fmt(TOTAL, 0)} decisions written by SQL in ${fmt((performance.now() - t) / 1000, 1)} s)`);
		const mb = (bytes: number) => `${fmt(bytes / 1048576, 1)} MB`;
		print('| format | decisions | time | peak heap | peak RSS | peak heap ÷ 10k export | peak RSS ÷ 10k export |');
		print('| --- | --- | --- | --- | --- | --- | --- |');
		// The first 10k (the baseline), the first tenth, then the whole log: each ends where --to says.
		const sizes = [...new Set([SMALL, Math.floor(TOTAL / 10), TOTAL])].filter((n) => n >= SMALL).sort((a, b) => a - b);
		for (const format of ['jsonl', 'csv']) {
			let baseline: Run | undefined;
			for (const size of sizes) {
				const run = await exportRun(probe, store, format, size < TOTAL ? synthetic(size, TOTAL).createdAt : undefined);
				if (run.decisions !== size) throw new Error(`export ${format} wrote ${run.decisions} of ${size} decisions`);
				baseline ??= run;
				print(`| ${format}${run === baseline ? ' (baseline)' : ''} | ${fmt(run.decisions, 0)} | ${fmt(run.seconds, 1)} s | ${mb(run.heap)} | ${mb(run.rss)} | ${fmt(run.heap / baseline.heap)} | ${fmt(run.rss / baseline.rss)} |`);
			}
		}
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

if (require.main === module) {
	benchExport().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
