import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../engine/engine';
import { DEFAULT_POLICY } from '../engine/policy/defaultPolicy';
import { loadPolicy } from '../engine/policy/load';
import type { PolicyInput } from '../engine/policy/schema';
import { MemoryStore } from '../engine/store/memory';
import { SqliteStore } from '../engine/store/sqlite';
import type { Store } from '../engine/store/types';
import { fmt, percentile, print } from './stats';

/**
 * Agent action requests (engine.requestAction: validation, contact lookup, idempotency lease, blast radius, score,
 * guardrails with five cap rules, the verdict stored) against the journey decision path in the same run (engine.decide
 * of an event with a dry-run send: ingest, score, choose, the same guardrails, send, log), on the memory and SQLite
 * stores. Limits are high, so every request is allowed and reserves (the ledger grows as under real traffic).
 */
const REQUESTS = Number(process.env.BENCH_AGENT_REQUESTS ?? 5_000);
const CONTACTS = 1_000;
const HIGH = 1_000_000;

const POLICY: PolicyInput = {
	...DEFAULT_POLICY,
	journeys: { nurture: { channels: ['email'] }, agent: { channels: ['email'] } },
	caps: [
		{ id: 'email-hourly', scope: { kind: 'channel', channel: 'email' }, limit: HIGH, window: { kind: 'rolling', duration: '1h' } },
		{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: HIGH, window: { kind: 'rolling', duration: '24h' } },
		{ id: 'any-weekly', scope: { kind: 'any' }, limit: HIGH, window: { kind: 'rolling', duration: '7d' } },
		{ id: 'promo-week', scope: { kind: 'tag', tag: 'promotional' }, limit: HIGH, window: { kind: 'calendar', unit: 'week' } },
		{ id: 'nurture-day', scope: { kind: 'journey', journey: 'nurture' }, limit: HIGH, window: { kind: 'calendar', unit: 'day' } },
	],
	agents: {
		blastRadius: [
			{ id: 'actions', count: 'actions', limit: HIGH, window: '1h' },
			{ id: 'contacts', count: 'contacts', limit: HIGH, window: '1d' },
		],
	},
};

interface Run {
	perSecond: number;
	p50: number;
	p99: number;
}

async function timed(count: number, call: (i: number) => Promise<unknown>): Promise<Run> {
	for (let i = 0; i < Math.min(500, count); i++) await call(-1 - i);
	const latencies: number[] = [];
	const started = performance.now();
	for (let i = 0; i < count; i++) {
		const t = performance.now();
		await call(i);
		latencies.push(performance.now() - t);
	}
	const seconds = (performance.now() - started) / 1000;
	latencies.sort((a, b) => a - b);
	return { perSecond: count / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

const email = (i: number) => `c${((i % CONTACTS) + CONTACTS) % CONTACTS}@example.com`;

async function engineOn(store: Store): Promise<Engine> {
	const engine = new Engine({ store, policy: loadPolicy(POLICY), random: () => 0.5 });
	for (let i = 0; i < CONTACTS; i++) await engine.ingest({ type: 'identify', identities: { email: email(i) }, traits: { consent: { email: 'opted_in' } } });
	await store.sync();
	return engine;
}

async function both(label: string, makeStore: () => Store): Promise<[string, Run][]> {
	const journeyEngine = await engineOn(makeStore());
	const journey = await timed(REQUESTS, (i) =>
		journeyEngine.decide({ type: 'track', name: 'Pricing Viewed', identities: { email: email(i) }, properties: { i } }, { journey: 'nurture', target: { dryRun: true } }),
	);
	await journeyEngine.close();
	const agentEngine = await engineOn(makeStore());
	const request = (i: number) => ({ agentId: 'bench-agent', idempotencyKey: `k${i}`, contact: email(i), channel: 'email', message: { category: 'promotional', text: 'Hello' } });
	const agent = await timed(REQUESTS, (i) => agentEngine.requestAction(request(i)));
	const repeat = await timed(REQUESTS, (i) => agentEngine.requestAction(request(Math.max(i, 0))));
	await agentEngine.close();
	return [
		[`${label}: journey decide (dry-run send)`, journey],
		[`${label}: requestAction, new key`, agent],
		[`${label}: requestAction, repeated key`, repeat],
	];
}

export async function benchAgents(): Promise<void> {
	const dir = mkdtempSync(join(tmpdir(), 'nudge-agents-'));
	let n = 0;
	const rows = [...(await both('memory', () => new MemoryStore())), ...(await both('sqlite', () => new SqliteStore(join(dir, `agents-${n++}.db`))))];
	rmSync(dir, { recursive: true, force: true });
	print(`bench/agents: ${fmt(REQUESTS, 0)} requests over ${fmt(CONTACTS, 0)} contacts, one at a time, five cap rules and two blast radius rules`);
	for (let i = 0; i < rows.length; i += 3) {
		const base = rows[i][1].perSecond;
		for (const [label, r] of rows.slice(i, i + 3)) {
			print(`  ${label.padEnd(44)} ${fmt(r.perSecond, 0).padStart(7)} /s   p50 ${fmt(r.p50, 3)} ms   p99 ${fmt(r.p99, 3)} ms   ratio ${fmt(r.perSecond / base)}`);
		}
	}
}

if (require.main === module) {
	benchAgents().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
