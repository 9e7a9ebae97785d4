import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJourney } from '../engine/journeys/journey';
import { DEFAULT_POLICY } from '../engine/policy/defaultPolicy';
import { createEngine } from '../engine/registry';
import { startSinkProcess } from './sink';
import { fmt, percentile, print } from './stats';

/**
 * The full decision path — ingest → score → choose → cap → send (HTTP to a local sink) → log — on the
 * SQLite store and on the memory store in the same run. Caps are loose enough that every decision
 * goes all the way to the send, so the figure is the cost of a decision that is sent.
 */
const CONTACTS = 2_000;
const DECISIONS = Number(process.env.BENCH_DECISIONS ?? 20_000);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 32);

const policy = {
	...DEFAULT_POLICY,
	caps: [
		{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: 1_000_000, window: { kind: 'rolling', duration: '24h' } },
		{ id: 'all-weekly', scope: { kind: 'any' }, limit: 1_000_000, window: { kind: 'rolling', duration: '7d' } },
	],
};

function event(i: number) {
	const c = i % CONTACTS;
	return {
		eventId: `bench-${i}`,
		type: 'track',
		name: ['Email Opened', 'Pricing Viewed', 'Demo Requested', 'Email Clicked'][i % 4],
		identities: { email: `lead${c}@example.com`, userId: `u${c}` },
		traits: { title: c % 3 ? 'Marketing Manager' : 'VP Sales', employees: c % 500 },
	};
}

interface Result {
	store: string;
	perSecond: number;
	p50: number;
	p99: number;
	sent: number;
}

async function measure(storeKind: 'sqlite' | 'memory', sinkUrl: string): Promise<Result> {
	const dir = mkdtempSync(join(tmpdir(), 'nudge-bench-'));
	const engine = createEngine({ store: storeKind === 'sqlite' ? `sqlite:${join(dir, 'bench.db')}` : 'memory:', policy });
	const target = { url: sinkUrl, maxAttempts: 1 };
	// Warm up JIT, connections and SQLite pages.
	for (let i = 0; i < 500; i++) await runJourney(engine, 'nurture', { ...event(i), eventId: `warm-${i}` }, target);
	const latencies: number[] = [];
	let next = 0;
	let sent = 0;
	const started = performance.now();
	await Promise.all(
		Array.from({ length: IN_FLIGHT }, async () => {
			while (next < DECISIONS) {
				const i = next++;
				const t0 = performance.now();
				const d = await runJourney(engine, 'nurture', event(i), target);
				latencies.push(performance.now() - t0);
				if (d.status === 'sent') sent++;
			}
		}),
	);
	const seconds = (performance.now() - started) / 1000;
	await engine.close();
	rmSync(dir, { recursive: true, force: true });
	latencies.sort((a, b) => a - b);
	return { store: storeKind, perSecond: DECISIONS / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), sent };
}

export async function benchDecide(): Promise<void> {
	const sink = await startSinkProcess();
	print(`bench/decide: ${fmt(DECISIONS, 0)} decisions over ${CONTACTS} contacts, ${IN_FLIGHT} in flight, one process (the webhook sink runs in a child process)`);
	const results: Result[] = [];
	for (const kind of ['memory', 'sqlite'] as const) results.push(await measure(kind, sink.url));
	const { received, unique } = await sink.counts();
	await sink.close();
	print(`  sink received ${fmt(received, 0)} requests with ${fmt(unique, 0)} distinct idempotency keys`);
	for (const r of results) {
		print(`  ${r.store.padEnd(7)} ${fmt(r.perSecond, 0).padStart(8)} decisions/s   p50 ${fmt(r.p50)} ms   p99 ${fmt(r.p99)} ms   sent ${r.sent}`);
	}
	const [memory, sqlite] = results;
	print(`  sqlite/memory throughput ratio: ${fmt(sqlite.perSecond / memory.perSecond)}`);
}

if (require.main === module) {
	benchDecide().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
