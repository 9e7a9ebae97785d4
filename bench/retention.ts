import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Decision } from '../engine/audit/schema';
import { Engine } from '../engine/engine';
import { DEFAULT_POLICY } from '../engine/policy/defaultPolicy';
import { loadPolicy } from '../engine/policy/load';
import { SqliteStore } from '../engine/store/sqlite';
import { fmt, percentile, print } from './stats';

/**
 * The retention job on SQLite: how fast it deletes old decisions and cap-ledger entries against how fast the
 * same rows were written (the baseline, in the same run), and what it costs an event that arrives while it
 * runs: decision latency, one at a time, with the job running in the same process against without it.
 */
const OLD = Number(process.env.BENCH_RETENTION_OLD ?? 50_000);
const KEPT = Number(process.env.BENCH_RETENTION_KEPT ?? 10_000);
const SAMPLES = Number(process.env.BENCH_RETENTION_SAMPLES ?? 500);
const DAY = 86_400_000;

const policy = loadPolicy({ ...DEFAULT_POLICY, caps: [{ id: 'loose', scope: { kind: 'any' }, limit: 1_000_000, window: { kind: 'rolling', duration: '7d' } }] });

/** Writes `n` copies of a real decision made `ageMs` ago, each with a cap-ledger entry; returns the ms it took. */
async function seed(store: SqliteStore, template: Decision, n: number, ageMs: number, tag: string): Promise<number> {
	const started = performance.now();
	const at = Date.now() - ageMs;
	for (let i = 0; i < n; i++) {
		const createdAt = new Date(at + i).toISOString();
		const decisionId = `d_${tag}${String(i).padStart(8, '0')}`;
		await store.putDecision({ ...template, decisionId, contactId: `c_${tag}${i % 5_000}`, createdAt, updatedAt: createdAt });
		await store.reserveCap({ reservationId: `r_${tag}${i}`, contactId: `c_${tag}${i % 5_000}`, channel: 'email', journey: 'nurture', tags: [], at: at + i, expiresAt: at + i + 300_000 }, []);
		if (i % 1_000 === 999) await store.sync();
	}
	await store.sync();
	return performance.now() - started;
}

/** Decision latencies, one at a time: SAMPLES of them, or as many as `more()` allows. */
async function latencies(engine: Engine, label: string, more = (i: number) => i < SAMPLES): Promise<number[]> {
	const out: number[] = [];
	for (let i = 0; more(i); i++) {
		const started = performance.now();
		await engine.decide({ type: 'track', name: 'Pricing Viewed', eventId: `${label}-${i}`, identities: { email: `lead${i % 200}@example.com` } }, { journey: 'nurture', target: { dryRun: true } });
		out.push(performance.now() - started);
	}
	return out.sort((a, b) => a - b);
}

export async function benchRetention(): Promise<void> {
	const dir = mkdtempSync(join(tmpdir(), 'nudge-bench-retention-'));
	try {
		const store = new SqliteStore(join(dir, 'bench.db'));
		const engine = new Engine({ store, policy, ownsStore: false });
		const template = await engine.decide({ type: 'track', name: 'Demo Requested', identities: { email: 'template@example.com' }, traits: { title: 'VP Sales' } }, { journey: 'nurture', target: { dryRun: true } });
		const writeMs = await seed(store, template, OLD, 500 * DAY, 'old');
		await seed(store, template, KEPT, DAY, 'new');

		const quiet = await latencies(engine, 'quiet');
		let retentionMs = 0;
		let running = true;
		const job = (async () => {
			const started = performance.now();
			const report = await engine.runRetention();
			retentionMs = performance.now() - started;
			running = false;
			return report;
		})();
		// Events arriving for as long as the job runs.
		const busy = await latencies(engine, 'busy', () => running);
		const report = await job;
		const deleted = report.counts.decisions + report.counts.capEntries;

		print(`bench/retention — SQLite, ${OLD.toLocaleString('en-US')} decisions and cap entries past retention, ${KEPT.toLocaleString('en-US')} kept`);
		print(`  written (baseline):  ${fmt(writeMs / 1000)} s for ${(2 * OLD).toLocaleString('en-US')} rows, ${fmt((2 * OLD) / (writeMs / 1000), 0)} rows/s`);
		print(`  retention:           ${fmt(retentionMs / 1000)} s for ${deleted.toLocaleString('en-US')} rows, ${fmt(deleted / (retentionMs / 1000), 0)} rows/s (${fmt(retentionMs / writeMs)}× the time to write them)`);
		print(`  decide while idle:   p50 ${fmt(percentile(quiet, 50))} ms, p99 ${fmt(percentile(quiet, 99))} ms (${SAMPLES} one at a time)`);
		print(`  decide while it runs: p50 ${fmt(percentile(busy, 50))} ms, p99 ${fmt(percentile(busy, 99))} ms (${busy.length} decisions; p50 ${fmt(percentile(busy, 50) / percentile(quiet, 50))}×, p99 ${fmt(percentile(busy, 99) / percentile(quiet, 99))}×)`);
		await engine.close();
		await store.close();
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

if (require.main === module) benchRetention().catch((error) => {
	process.stderr.write(`${error?.stack ?? error}\n`);
	process.exit(1);
});
