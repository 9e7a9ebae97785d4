import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Decision } from '../engine/audit/schema';
import type { Engine } from '../engine/engine';
import { fmt, print } from './stats';

/**
 * Two builds of the package, interleaved (A B B A A…), on the same events, each run in a process of its own: the
 * candidate's decisions/s over the baseline's. For refactors that must not slow the engine. Two paths: `decide` (the
 * one-call journey) and `steps` (what the nodes do: open, score, choose channel, frequency cap, send, log,
 * each its own call), on the memory and SQLite stores, the send a dry run so the engine alone is measured.
 * Also the CPU time per decision (the process's, so with the store's native work), which a loaded machine
 * moves less than the rate; with many decisions in flight, as a busy trigger runs them, group commit applies.
 * A process per run: in one shared process the second build inherited the first's heap and module caches, and
 * on the memory store the figures followed a build's place in the run rather than its code.
 *
 *   node dist/bench/builds.js <baseline dist> [candidate dist, default this build]
 *   BENCH_BUILDS_DECISIONS=3000 BENCH_BUILDS_ROUNDS=5 BENCH_BUILDS_STORES=memory,sqlite BENCH_BUILDS_IN_FLIGHT=1
 */
const N = Number(process.env.BENCH_BUILDS_DECISIONS ?? 3000);
const ROUNDS = Number(process.env.BENCH_BUILDS_ROUNDS ?? 5);
const IN_FLIGHT = Number(process.env.BENCH_BUILDS_IN_FLIGHT ?? 1);
const target = { dryRun: true as const };

function event(tag: string, i: number) {
	const name = ['Email Opened', 'Pricing Viewed', 'Demo Requested', 'Email Clicked'][i % 4];
	return { eventId: `${tag}-${i}`, type: 'track', name, identities: { email: `lead${i % 500}@example.com` }, traits: { title: i % 3 ? 'Marketing Manager' : 'VP Sales', employees: i % 500 } };
}

async function steps(engine: Engine, raw: unknown): Promise<Decision> {
	let d = await engine.open(raw, 'nurture');
	d = await engine.chooseChannel(await engine.score(d));
	if (d.status === 'pending') d = await engine.checkCap(d);
	if (d.status === 'pending') d = await engine.send(d, target);
	return engine.logDecision(d);
}

interface Run {
	perSecond: number;
	cpuMicros: number;
}

/** One run in this process: the child's side of `measureApart`. */
async function measure(dist: string, store: string, path: 'decide' | 'steps', tag: string): Promise<Run> {
	/* eslint-disable @typescript-eslint/no-require-imports -- each build is loaded from its own folder */
	const { Engine } = require(join(dist, 'engine/engine')) as typeof import('../engine/engine');
	const { openStore } = require(join(dist, 'engine/store/open')) as typeof import('../engine/store/open');
	const { loadPolicy } = require(join(dist, 'engine/policy/load')) as typeof import('../engine/policy/load');
	const { DEFAULT_POLICY } = require(join(dist, 'engine/policy/defaultPolicy')) as typeof import('../engine/policy/defaultPolicy');
	/* eslint-enable @typescript-eslint/no-require-imports */
	const dir = mkdtempSync(join(tmpdir(), 'nudge-builds-'));
	const policy = loadPolicy({ ...DEFAULT_POLICY, caps: [{ id: 'loose', scope: { kind: 'any' }, limit: 1e9, window: { kind: 'rolling', duration: '24h' } }] });
	const engine = new Engine({ store: openStore(store === 'sqlite' ? `sqlite:${join(dir, 'b.db')}` : 'memory:'), policy });
	const one = (raw: unknown) => (path === 'decide' ? engine.decide(raw, { journey: 'nurture', target }) : steps(engine, raw));
	for (let i = 0; i < 300; i++) await one(event(`warm-${tag}`, i));
	let next = 0;
	const cpu = process.cpuUsage();
	const started = performance.now();
	await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
		while (next < N) await one(event(tag, next++));
	}));
	const perSecond = N / ((performance.now() - started) / 1000);
	const used = process.cpuUsage(cpu);
	await engine.close();
	rmSync(dir, { recursive: true, force: true });
	return { perSecond, cpuMicros: (used.user + used.system) / N };
}

/** One run in a fresh node process, which prints its Run as JSON. */
async function measureApart(dist: string, store: string, path: 'decide' | 'steps', tag: string): Promise<Run> {
	const { execFileSync } = await import('node:child_process');
	const out = execFileSync(process.execPath, [__filename, 'measure', dist, store, path, tag], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
	return JSON.parse(out) as Run;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
	const [baseline, candidate = resolve(__dirname, '..')] = process.argv.slice(2).map((p) => resolve(p));
	if (!baseline) throw new Error('usage: node dist/bench/builds.js <baseline dist> [candidate dist]');
	print(`bench/builds: ${N} decisions, ${IN_FLIGHT} in flight, ${ROUNDS} interleaved rounds, a process per run, medians; send as a dry run`);
	print(`  baseline ${baseline}\n  candidate ${candidate}`);
	for (const store of (process.env.BENCH_BUILDS_STORES ?? 'memory,sqlite').split(',')) {
		for (const path of ['decide', 'steps'] as const) {
			const runs = { baseline: [] as Run[], candidate: [] as Run[] };
			for (let round = 0; round < ROUNDS; round++) {
				const order = round % 2 ? (['candidate', 'baseline'] as const) : (['baseline', 'candidate'] as const);
				for (const which of order) runs[which].push(await measureApart(which === 'baseline' ? baseline : candidate, store, path, `${which}-${round}`));
			}
			const [b, c] = [median(runs.baseline.map((r) => r.perSecond)), median(runs.candidate.map((r) => r.perSecond))];
			// CPU per decision: the median of each round's candidate/baseline ratio (the two ran back to back).
			const cpu = median(runs.candidate.map((r, round) => r.cpuMicros / runs.baseline[round].cpuMicros));
			print(
				`  ${store.padEnd(6)} ${path.padEnd(6)} baseline ${fmt(b, 0).padStart(6)}/s   candidate ${fmt(c, 0).padStart(6)}/s   candidate/baseline ${fmt(c / b)}` +
					`   CPU per decision ${fmt(median(runs.baseline.map((r) => r.cpuMicros)), 0)} → ${fmt(median(runs.candidate.map((r) => r.cpuMicros)), 0)} µs (${fmt(cpu)}×)`,
			);
		}
	}
}

const [mode, ...args] = process.argv.slice(2);
(mode === 'measure'
	? measure(resolve(args[0]), args[1], args[2] as 'decide' | 'steps', args[3]).then((run) => process.stdout.write(JSON.stringify(run)))
	: main()
).catch((error) => {
	process.stderr.write(`${(error as Error).stack ?? error}\n`);
	process.exit(1);
});
