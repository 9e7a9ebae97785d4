import { Session } from 'node:inspector/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { runJourney } from '../engine/journeys/journey';
import { benchEngine, event, warmUp } from './decide';
import { startSinkProcess } from './sink';
import { fmt, print } from './stats';

/**
 * What one decision allocates, and the young-generation collections that allocation causes: each such pause lands
 * inside one decision, which is where the one-at-a-time latency's tail comes from (`bench/decide tail`). The one-call
 * journey on SQLite (or `memory`), one decision at a time, after bench/decide's warm-up, under V8's sampling heap
 * profiler with collected objects included (what was allocated, not what stayed), by function: self and inclusive.
 *
 *   node dist/bench/alloc.js [sqlite|memory] [http]   BENCH_ALLOC_DECISIONS=3000 BENCH_ALLOC_TOP=25
 */
const DECISIONS = Number(process.env.BENCH_ALLOC_DECISIONS ?? 3_000);
const TOP = Number(process.env.BENCH_ALLOC_TOP ?? 25);

interface SamplingNode {
	callFrame: { functionName: string; url: string; lineNumber: number };
	selfSize: number;
	children: SamplingNode[];
}

const frameName = ({ callFrame: f }: SamplingNode) => `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;

/** Bytes by function: allocated in it (self), and in it or anything it called (inclusive, counted once per stack). */
function bytesByFunction(head: SamplingNode): { total: number; self: Map<string, number>; inclusive: Map<string, number> } {
	const self = new Map<string, number>();
	const inclusive = new Map<string, number>();
	let total = 0;
	const walk = (node: SamplingNode, stack: string[]) => {
		const name = frameName(node);
		total += node.selfSize;
		self.set(name, (self.get(name) ?? 0) + node.selfSize);
		const here = stack.includes(name) ? stack : [...stack, name];
		for (const fn of here) inclusive.set(fn, (inclusive.get(fn) ?? 0) + node.selfSize);
		for (const child of node.children) walk(child, here);
	};
	walk(head, []);
	return { total, self, inclusive };
}

export async function benchAlloc(storeKind: 'sqlite' | 'memory' = 'sqlite', http = false): Promise<void> {
	const sink = http ? await startSinkProcess() : undefined;
	const dir = mkdtempSync(join(tmpdir(), 'nudge-alloc-'));
	const engine = benchEngine(storeKind === 'sqlite' ? `sqlite:${join(dir, 'alloc.db')}` : 'memory:');
	const target = sink ? { url: sink.url, maxAttempts: 1 } : { dryRun: true as const };
	try {
		await warmUp(engine, target);
		// The collections and their pauses, without the profiler (it slows allocation down).
		const minor: number[] = [];
		const observer = new PerformanceObserver((list) => {
			for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor.push(e.duration);
		});
		observer.observe({ entryTypes: ['gc'] });
		for (let i = 0; i < DECISIONS; i++) await runJourney(engine, 'nurture', { ...event(i), eventId: `alloc-gc-${i}` }, target);
		await new Promise((resolve) => setImmediate(resolve));
		observer.disconnect();

		const session = new Session();
		session.connect();
		await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
		for (let i = 0; i < DECISIONS; i++) await runJourney(engine, 'nurture', { ...event(i), eventId: `alloc-${i}` }, target);
		const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: SamplingNode } };
		session.disconnect();

		const { total, self, inclusive } = bytesByFunction(profile.head);
		const kb = (bytes: number) => fmt(bytes / DECISIONS / 1024, 2).padStart(7);
		minor.sort((a, b) => a - b);
		const pauseMs = minor.reduce((sum, ms) => sum + ms, 0);
		print(`bench/alloc: ${storeKind}, ${sink ? 'HTTP send' : 'dry run'}, ${fmt(DECISIONS, 0)} decisions one at a time after the warm-up`);
		print(`  allocated about ${fmt(total / DECISIONS / 1024, 1)} KB a decision (sampled every 1 KB, collected objects included)`);
		print(
			`  young-generation collections: ${minor.length} in ${fmt(DECISIONS, 0)} decisions (one every ${fmt(DECISIONS / Math.max(1, minor.length), 0)}), ` +
				`${fmt(pauseMs, 1)} ms in all, median ${fmt(minor[minor.length >> 1] ?? 0)} ms, longest ${fmt(minor.at(-1) ?? 0)} ms`,
		);
		for (const [title, bytes] of [['allocated in the function itself', self], ['allocated in it or what it called', inclusive]] as const) {
			print(`  KB a decision, ${title}:`);
			// The root and the unnamed frames at the bottom of every stack hold all of it in the inclusive table.
			const shown = [...bytes].filter(([name]) => !name.startsWith('(root)') && !(bytes === inclusive && /^\(anonymous\) :\d+$/.test(name)));
			for (const [name, n] of shown.sort((a, b) => b[1] - a[1]).slice(0, TOP)) print(`    ${kb(n)}  ${name}`);
		}
	} finally {
		await engine.close();
		await sink?.close();
		rmSync(dir, { recursive: true, force: true });
	}
}

if (require.main === module) {
	const [store, send] = process.argv.slice(2);
	benchAlloc(store === 'memory' ? 'memory' : 'sqlite', send === 'http').catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
