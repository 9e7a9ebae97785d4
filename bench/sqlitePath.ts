import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJourney } from '../engine/journeys/journey';
import { benchEngine, event, POLICY_FILE, SEND_TIME, warmUp } from './decide';
import { fmt, print } from './stats';

/**
 * bench/decide's SQLite path alone, send as a dry run, many decisions in flight: what to profile
 * (`node --cpu-prof --cpu-prof-dir=prof dist/bench/sqlitePath.js`), with the process's CPU time per decision,
 * which a loaded machine moves less than the rate. BENCH_DECISIONS=12000 BENCH_IN_FLIGHT=64
 * BENCH_SEND_TIME=1: with quiet hours and engagements, so the best send time is computed; BENCH_POLICY=<file>: another
 * policy (bench/decide). Prints how the decisions ended.
 */
const DECISIONS = Number(process.env.BENCH_DECISIONS ?? 12_000);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 64);

export async function benchSqlitePath(): Promise<void> {
	const dir = mkdtempSync(join(tmpdir(), 'nudge-sqlite-path-'));
	const engine = benchEngine(`sqlite:${join(dir, 'bench.db')}`);
	const target = { dryRun: true as const };
	await warmUp(engine, target);
	let next = 0;
	let timed = 0;
	const ended = new Map<string, number>();
	const cpu = process.cpuUsage();
	const started = performance.now();
	await Promise.all(
		Array.from({ length: IN_FLIGHT }, async () => {
			while (next < DECISIONS) {
				const d = await runJourney(engine, 'nurture', event(next++), target);
				if (d.sendTime) timed++;
				const end = d.reason ? `${d.status} ${d.reason}` : d.status;
				ended.set(end, (ended.get(end) ?? 0) + 1);
			}
		}),
	);
	const seconds = (performance.now() - started) / 1000;
	const used = process.cpuUsage(cpu);
	await engine.close();
	rmSync(dir, { recursive: true, force: true });
	print(`bench/sqlitePath: ${fmt(DECISIONS, 0)} decisions, ${IN_FLIGHT} in flight, SQLite, dry run${SEND_TIME ? ', quiet hours and engagements (best send time computed)' : ''}${POLICY_FILE ? `, policy ${POLICY_FILE}` : ''}`);
	print(`  ${fmt(DECISIONS / seconds, 0)} decisions/s   CPU ${fmt((used.user + used.system) / DECISIONS, 1)} µs per decision   ${fmt(timed, 0)} with a best send time`);
	print(`  ended: ${[...ended].map(([end, n]) => `${end} ${fmt(n, 0)}`).join(', ')}`);
}

if (require.main === module) {
	benchSqlitePath().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
