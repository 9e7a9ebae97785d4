import { join, resolve } from 'node:path';
import { fmt, print } from './stats';

/**
 * Instructions per decision of the SQLite path (bench/sqlitePath: dry run, 64 in flight), counted by valgrind's
 * callgrind. The count does not depend on what else the machine runs, where CPU time on the shared two-core machine
 * moved by 10–20% between runs of one build; it still varies by up to about 9% between runs of one build, as some
 * work follows the clock (under valgrind a decision takes ~50 times as long: group commits gather differently,
 * waiting facts come due, the collector's helper threads run more or less), so read only larger changes from one
 * pair of runs. Each build runs twice, with 300 and 1,500 decisions after the same warm-up: their difference over
 * 1,200 is the steady state's count per decision (start-up and warm-up cancel). User-space instructions only: the
 * kernel's work for SQLite's writes is not counted.
 *
 *   node dist/bench/instructions.js [baseline dist]      (the baseline needs dist/bench/sqlitePath.js; ~2.5 min a build)
 */
const SHORT = 300;
const LONG = 1_500;

async function instructions(dist: string, decisions: number): Promise<number> {
	const { spawnSync } = await import('node:child_process');
	const run = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, join(dist, 'bench/sqlitePath.js')], {
		env: { ...process.env, BENCH_DECISIONS: String(decisions) },
		encoding: 'utf8',
		maxBuffer: 64 * 1024 * 1024,
	});
	if (run.error) throw new Error(`could not run valgrind (${run.error.message}): install it, e.g. apt-get install valgrind`);
	const collected = /Collected : (\d+)/.exec(run.stderr);
	if (run.status !== 0 || !collected) throw new Error(`${dist}/bench/sqlitePath.js under valgrind failed (exit ${run.status}):\n${run.stderr.slice(-2000)}`);
	return Number(collected[1]);
}

async function perDecision(dist: string): Promise<number> {
	return ((await instructions(dist, LONG)) - (await instructions(dist, SHORT))) / (LONG - SHORT);
}

export async function benchInstructions(baseline?: string): Promise<void> {
	const candidate = resolve(__dirname, '..');
	print(`bench/instructions: SQLite path, dry run, 64 in flight; callgrind instructions per decision ((${LONG} − ${SHORT} decisions) / ${LONG - SHORT})`);
	const ours = await perDecision(candidate);
	print(`  this build   ${fmt(ours, 0).padStart(10)}   (${candidate})`);
	if (!baseline) return;
	const base = await perDecision(resolve(baseline));
	print(`  baseline     ${fmt(base, 0).padStart(10)}   (${resolve(baseline)})`);
	print(`  this build / baseline: ${fmt(ours / base, 3)}`);
}

if (require.main === module) {
	benchInstructions(process.argv[2]).catch((error: Error) => {
		process.stderr.write(`${error.message}\n`);
		process.exit(1);
	});
}
