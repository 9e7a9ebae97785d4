import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine, SendTarget } from '../engine/engine';
import { runJourney } from '../engine/journeys/journey';
import { DEFAULT_POLICY } from '../engine/policy/defaultPolicy';
import { createEngine } from '../engine/registry';
import { postWebhook } from '../engine/deliver/webhook';
import { startSinkProcess } from './sink';
import { fmt, percentile, print } from './stats';

/**
 * The full decision path — ingest → score → choose → cap → send (HTTP to a local sink) → log — on the
 * SQLite store and on the memory store in the same run. Caps are loose enough that every decision
 * goes all the way to the send, so the figure is the cost of a decision that is sent.
 */
/** BENCH_CONTACTS: how many contacts the events are spread over (default 2,000). */
const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 2_000);
const DECISIONS = Number(process.env.BENCH_DECISIONS ?? 20_000);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 64);
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 2_000);

export const policy = {
	...DEFAULT_POLICY,
	caps: [
		{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: 1_000_000, window: { kind: 'rolling', duration: '24h' } },
		{ id: 'all-weekly', scope: { kind: 'any' }, limit: 1_000_000, window: { kind: 'rolling', duration: '7d' } },
	],
};

/**
 * BENCH_SEND_TIME=1: the decisions run as under a live policy, with a quiet-hours rule and engagements recorded, so
 * Choose Channel computes the best send time (with neither, it stops at "nobody has engaged yet"), and the contacts
 * in a named zone (New York) rather than UTC. The rule is the six hours from three to nine hours after the run's UTC
 * hour, read in New York (UTC−4 or −5): there it starts seven or eight hours from now, so the decisions are sent.
 */
export const SEND_TIME = process.env.BENCH_SEND_TIME === '1';

function sendTimePolicy(now: Date) {
	const clock = (hours: number) => `${String((now.getUTCHours() + hours) % 24).padStart(2, '0')}:00`;
	return { ...policy, timezone: 'America/New_York', quietHours: [{ id: 'night', start: clock(3), end: clock(9) }] };
}

/** BENCH_POLICY=<file>: that policy instead (flows/policies/journeys.json: the shipped templates', caps and all). */
export const POLICY_FILE = process.env.BENCH_POLICY;

/** The benchmark's engine on a store, with its policy (see SEND_TIME and POLICY_FILE). */
export function benchEngine(store: string) {
	if (POLICY_FILE) return createEngine({ store, policyFile: POLICY_FILE });
	return createEngine({ store, policy: SEND_TIME ? sendTimePolicy(new Date()) : policy });
}

/** 1,000 decisions to warm JIT, connections and pages; with SEND_TIME, every fourth is opened (engagements to learn hours from). */
export async function warmUp(engine: Engine, target: SendTarget): Promise<void> {
	for (let i = 0; i < 1000; i++) {
		const decision = await runJourney(engine, 'nurture', { ...event(i), eventId: `warm-${i}` }, target);
		if (SEND_TIME && i % 4 === 0) await engine.recordOutcome({ decisionId: decision.decisionId, type: 'open' });
	}
}

/** The i-th event of the benchmark's stream: four kinds over CONTACTS contacts (bench/size reuses it). */
export function event(i: number) {
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
	sent: number;
	/** One decision at a time: the latency a single event sees. */
	p50: number;
	p99: number;
}

async function measure(storeKind: 'sqlite' | 'memory', sinkUrl: string | undefined): Promise<Result> {
	const dir = mkdtempSync(join(tmpdir(), 'nudge-bench-'));
	const engine = benchEngine(storeKind === 'sqlite' ? `sqlite:${join(dir, 'bench.db')}` : 'memory:');
	const target = sinkUrl ? { url: sinkUrl, maxAttempts: 1 } : { dryRun: true as const };
	await warmUp(engine, target);

	// Latency: one decision at a time.
	const latencies: number[] = [];
	for (let i = 0; i < LATENCY_SAMPLES; i++) {
		const t0 = performance.now();
		await runJourney(engine, 'nurture', { ...event(i), eventId: `lat-${i}` }, target);
		latencies.push(performance.now() - t0);
	}
	latencies.sort((a, b) => a - b);

	// Throughput: many decisions in flight, as a busy trigger produces them.
	let next = 0;
	let sent = 0;
	const started = performance.now();
	await Promise.all(
		Array.from({ length: IN_FLIGHT }, async () => {
			while (next < DECISIONS) {
				const d = await runJourney(engine, 'nurture', event(next++), target);
				if (d.status === 'sent') sent++;
			}
		}),
	);
	const seconds = (performance.now() - started) / 1000;
	await engine.close();
	rmSync(dir, { recursive: true, force: true });
	return { store: storeKind, perSecond: DECISIONS / seconds, sent, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

export async function benchDecide(): Promise<void> {
	const sink = await startSinkProcess();
	print(`bench/decide: full path ingest → score → choose → cap → send (HTTP) → log; ${fmt(DECISIONS, 0)} decisions over ${CONTACTS} contacts${SEND_TIME ? '; quiet hours and engagements (best send time computed)' : ''}`);
	print(`  throughput with ${IN_FLIGHT} decisions in flight; latency one decision at a time (${fmt(LATENCY_SAMPLES, 0)} samples); one process, the webhook sink in a child process`);
	const results: Result[] = [];
	for (const kind of ['memory', 'sqlite'] as const) results.push(await measure(kind, sink.url));
	const { received, unique } = await sink.counts();
	const sendAlone = await measureSendAlone(sink.url);
	await sink.close();
	const line = (label: string, r: Result) =>
		print(`  ${label.padEnd(17)} ${fmt(r.perSecond, 0).padStart(8)} decisions/s   latency p50 ${fmt(r.p50)} ms   p99 ${fmt(r.p99)} ms   sent ${fmt(r.sent, 0)}`);
	for (const r of results) line(r.store, r);
	print(`  sink received ${fmt(received, 0)} requests with ${fmt(unique, 0)} distinct idempotency keys (one send per decision)`);
	const [memory, sqlite] = results;
	print(`  sqlite/memory throughput ratio: ${fmt(sqlite.perSecond / memory.perSecond)}`);
	// The same path with the send as a dry run: what the engine costs without the HTTP round trip.
	const dry = await measure('sqlite', undefined);
	line('sqlite, dry run', dry);
	print(`  sqlite with HTTP / sqlite dry run: ${fmt(sqlite.perSecond / dry.perSecond)}`);
	// What the send alone leaves the rest of a decision at 10,000 decisions/s on one core (issue 18's target).
	const left = 1e6 / 10_000 - 1e6 / sendAlone;
	print(`  the HTTP send alone (the same POSTs, nothing decided): ${fmt(sendAlone, 0)}/s, ${fmt(1e6 / sendAlone, 1)} µs each; sqlite with HTTP / send alone: ${fmt(sqlite.perSecond / sendAlone)}`);
	print(`  at 10,000 decisions/s with the send, the rest of a decision would have ${fmt(left, 1)} µs; the SQLite dry run takes ${fmt(1e6 / dry.perSecond, 1)} µs, memory with HTTP less the send ${fmt(1e6 / memory.perSecond - 1e6 / sendAlone, 1)} µs`);
}

/** The webhook POSTs alone, as the decisions send them (same payload shape, in flight and receiver): the send's own rate. */
async function measureSendAlone(url: string): Promise<number> {
	const payload = (i: number) => {
		const e = event(i);
		return { decisionId: `d_send_${i}`, journey: 'nurture', channel: 'email', contact: { contactId: `c_${i % CONTACTS}`, email: e.identities.email, traits: e.traits, identities: e.identities }, score: 0.5, event: e, policyVersion: 'bench' };
	};
	for (let i = 0; i < 1000; i++) await postWebhook({ url, maxAttempts: 1 }, payload(i), `send-warm-${i}`);
	let next = 0;
	const started = performance.now();
	await Promise.all(
		Array.from({ length: IN_FLIGHT }, async () => {
			while (next < DECISIONS) {
				const i = next++;
				await postWebhook({ url, maxAttempts: 1 }, payload(i), `send-${i}`);
			}
		}),
	);
	return DECISIONS / ((performance.now() - started) / 1000);
}
/**
 * `node dist/bench/decide.js tail [sqlite|memory] [dry]`: where one-at-a-time latency's tail comes from. Decisions one
 * at a time after a warm-up, each timed; prints the percentiles, how many took over 3 ms and how many of those had a
 * garbage collection pause (over 0.5 ms) inside them or waited over 1.5 ms for the receiver's answer (the time
 * from undici's request to its response headers, from undici's diagnostics channels), and the percentiles of the
 * decisions less that wait: what the engine itself takes.
 */
async function benchTail(storeKind: 'sqlite' | 'memory', dryRun: boolean): Promise<void> {
	const { PerformanceObserver } = await import('node:perf_hooks');
	const sink = await startSinkProcess();
	const dir = mkdtempSync(join(tmpdir(), 'nudge-tail-'));
	const engine = benchEngine(storeKind === 'sqlite' ? `sqlite:${join(dir, 'tail.db')}` : 'memory:');
	const target = dryRun ? { dryRun: true as const } : { url: sink.url, maxAttempts: 1 };
	await warmUp(engine, target);
	const pauses: { start: number; ms: number }[] = [];
	const observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => pauses.push({ start: e.startTime, ms: e.duration })));
	observer.observe({ entryTypes: ['gc'] });
	const answer = answerWaits();
	const timed: { start: number; ms: number; http: number }[] = [];
	for (let i = 0; i < LATENCY_SAMPLES * 2; i++) {
		const start = performance.now();
		answer.waited = 0;
		await runJourney(engine, 'nurture', { ...event(i), eventId: `tail-${i}` }, target);
		timed.push({ start, ms: performance.now() - start, http: answer.waited });
	}
	answer.stop();
	observer.disconnect();
	await engine.close();
	await sink.close();
	rmSync(dir, { recursive: true, force: true });
	const ms = timed.map((t) => t.ms).sort((a, b) => a - b);
	const slow = timed.filter((t) => t.ms > 3);
	const withPause = slow.filter((t) => pauses.some((p) => p.start >= t.start && p.start <= t.start + t.ms && p.ms > 0.5));
	const slowAnswer = slow.filter((t) => t.http > 1.5);
	const engineMs = timed.map((t) => t.ms - t.http).sort((a, b) => a - b);
	print(
		`bench/decide tail: ${storeKind}${dryRun ? ', dry run' : ', HTTP send'}, ${fmt(timed.length, 0)} decisions one at a time: p50 ${fmt(percentile(ms, 50))} ms, p90 ${fmt(percentile(ms, 90))} ms, ` +
			`p99 ${fmt(percentile(ms, 99))} ms, max ${fmt(ms.at(-1)!)} ms; ${slow.length} over 3 ms, ${withPause.length} of them with a GC pause over 0.5 ms inside ` +
			`(${pauses.length} pauses, ${fmt(pauses.reduce((sum, p) => sum + p.ms, 0), 0)} ms in all), ${slowAnswer.length} waited over 1.5 ms for the receiver's answer`,
	);
	if (!dryRun) {
		const waits = timed.map((t) => t.http).sort((a, b) => a - b);
		print(
			`  the receiver's answer (request to response headers): p50 ${fmt(percentile(waits, 50))} ms, p99 ${fmt(percentile(waits, 99))} ms; ` +
				`the decisions less that wait: p50 ${fmt(percentile(engineMs, 50))} ms, p99 ${fmt(percentile(engineMs, 99))} ms`,
		);
	}
}

/** Sums, into `waited`, the time each undici request spends from its creation to its response headers (diagnostics channels). */
function answerWaits(): { waited: number; stop(): void } {
	const started = new WeakMap<object, number>();
	const state = { waited: 0, stop };
	const onCreate = (m: unknown) => started.set((m as { request: object }).request, performance.now());
	const onHeaders = (m: unknown) => {
		const at = started.get((m as { request: object }).request);
		if (at !== undefined) state.waited += performance.now() - at;
	};
	subscribe('undici:request:create', onCreate);
	subscribe('undici:request:headers', onHeaders);
	function stop() {
		unsubscribe('undici:request:create', onCreate);
		unsubscribe('undici:request:headers', onHeaders);
	}
	return state;
}

if (require.main === module) {
	const [mode, store = 'sqlite', dry] = process.argv.slice(2);
	(mode === 'tail' ? benchTail(store === 'memory' ? 'memory' : 'sqlite', dry === 'dry') : benchDecide()).catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
