import Redis from 'ioredis';
import { availableParallelism } from 'node:os';
import { Client } from 'pg';
import { runId } from './scaleIds';
import { runWorkers, scaleEvent, TIGHT_CAPS_POLICY } from './scaleHarness';
import type { WorkerResult } from './scaleWorker';
import { startSinkProcess } from './sink';
import { fmt, percentile, print } from './stats';

/**
 * Scale-out on a shared store: 1, 2 and 4 worker processes (each its own engine, as n8n queue-mode
 * workers) run the nurture journey against one Redis (hot state) + PostgreSQL (decision log), sending
 * to a local webhook sink in another child process. Prints aggregate decisions/s as ratios against one
 * process, latency under load, Redis commands per decision, then a tight-cap correctness run and the
 * sizing figures docs/deploy.md quotes. Needs Redis and PostgreSQL (NUDGE_BENCH_REDIS_URL / NUDGE_BENCH_POSTGRES_URL).
 */
const REDIS_URL = process.env.NUDGE_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.NUDGE_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DECISIONS = Number(process.env.BENCH_SCALE_DECISIONS ?? 4_000);
const CONTACTS = Number(process.env.BENCH_SCALE_CONTACTS ?? 400);
const IN_FLIGHT = Number(process.env.BENCH_SCALE_IN_FLIGHT ?? 16);

const LOOSE_POLICY = {
	...TIGHT_CAPS_POLICY,
	caps: TIGHT_CAPS_POLICY.caps.map((c) => ({ ...c, limit: 1_000_000 })),
};

type Accepted = Extract<WorkerResult, { decisionId: string }>;
const isAccepted = (r: WorkerResult): r is Accepted => 'decisionId' in r;

async function redisCommands(redis: Redis): Promise<number> {
	return Number((await redis.info('stats')).match(/total_commands_processed:(\d+)/)![1]);
}

interface Namespace {
	url: string;
	prefix: string;
	schema: string;
}

function namespace(label: string): Namespace {
	const prefix = `${runId(`nudgebench_${label}`)}:`;
	const schema = runId(`nudgebench_${label}`);
	return { prefix, schema, url: `split:hot=${REDIS_URL}?prefix=${prefix};log=${POSTGRES_URL}?schema=${schema}` };
}

async function drop(ns: Namespace, redis: Redis, pg: Client): Promise<void> {
	let cursor = '0';
	do {
		const [next, keys] = await redis.scan(cursor, 'MATCH', `${ns.prefix}*`, 'COUNT', 1000);
		cursor = next;
		if (keys.length) await redis.unlink(...keys);
	} while (cursor !== '0');
	await pg.query(`DROP SCHEMA IF EXISTS ${ns.schema} CASCADE`);
}

/** Splits `count` events over `workers`, contact by contact, with a warm-up set per worker. */
function workload(label: string, workers: number, count: number, contacts: number) {
	return Array.from({ length: workers }, (_, w) => ({
		warmup: Array.from({ length: 50 }, (_, i) => scaleEvent(`${label}-warm-${w}-${i}`, contacts + w * 50 + i, i)),
		events: Array.from({ length: Math.ceil(count / workers) }, (_, i) => {
			const n = i * workers + w;
			return scaleEvent(`${label}-${n}`, n % contacts, n);
		}),
	}));
}

export async function benchScale(): Promise<void> {
	const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, retryStrategy: () => null });
	redis.on('error', () => undefined);
	const pg = new Client({ connectionString: POSTGRES_URL });
	try {
		await redis.ping();
		await pg.connect();
	} catch (error) {
		print(`bench/scale: SKIPPED — needs Redis at ${REDIS_URL} and PostgreSQL at ${POSTGRES_URL} (${(error as Error).message})`);
		redis.disconnect();
		await pg.end().catch(() => undefined);
		return;
	}
	const sink = await startSinkProcess();
	print(`bench/scale: nurture journey in 1, 2 and 4 worker processes on one Redis + PostgreSQL (split store); ${fmt(DECISIONS, 0)} decisions over ${CONTACTS} contacts per run`);
	print(`  ${IN_FLIGHT} decisions in flight per process; loose caps (every decision is sent over HTTP to a sink in a child process); ${availableParallelism()} cores shared with Redis and PostgreSQL`);
	const rows: { workers: number; perSecond: number; p50: number; p99: number; commands: number }[] = [];
	try {
		for (const workers of [1, 2, 4]) {
			const ns = namespace(`w${workers}`);
			const before = await redisCommands(redis);
			const run = await runWorkers({ store: ns.url, policy: LOOSE_POLICY, sinkUrl: sink.url, inFlight: IN_FLIGHT, workers: workload(`w${workers}`, workers, DECISIONS, CONTACTS) });
			if (run.died) throw new Error(`${run.died} worker process(es) died`);
			const commands = (await redisCommands(redis)) - before;
			const accepted = run.results.filter(isAccepted);
			if (accepted.length !== run.results.length) throw new Error(`${run.results.length - accepted.length} events failed`);
			const ms = accepted.map((r) => r.ms).sort((a, b) => a - b);
			// Commands include the warm-up decisions: divide by everything the workers decided.
			rows.push({ workers, perSecond: accepted.length / run.seconds, p50: percentile(ms, 50), p99: percentile(ms, 99), commands: commands / (accepted.length + workers * 50) });
			await drop(ns, redis, pg);
		}
		for (const r of rows) {
			print(
				`  ${String(r.workers).padStart(1)} process${r.workers > 1 ? 'es' : '  '} ${fmt(r.perSecond, 0).padStart(7)} decisions/s   ×${fmt(r.perSecond / rows[0].perSecond)} vs 1   latency p50 ${fmt(r.p50)} ms   p99 ${fmt(r.p99)} ms   ${fmt(r.commands, 1)} Redis commands/decision`,
			);
		}
		print(`  scaling 1 → 2 processes: ×${fmt(rows[1].perSecond / rows[0].perSecond)}; 1 → 4: ×${fmt(rows[2].perSecond / rows[0].perSecond)}`);

		// Correctness under contention: tight caps, 4 processes, every event delivered twice (to two workers).
		const ns = namespace('tight');
		const perWorker: Record<string, unknown>[][] = [[], [], [], []];
		for (let c = 0; c < CONTACTS; c++) {
			for (let k = 0; k < 5; k++) {
				const event = scaleEvent(`tight-${c}-${k}`, c, k);
				perWorker[(c + k) % 4].push(event);
				perWorker[(c + k + 1) % 4].push(event);
			}
		}
		const { received: sentBefore, unique: uniqueBefore } = await sink.counts();
		const run = await runWorkers({ store: ns.url, policy: TIGHT_CAPS_POLICY, sinkUrl: sink.url, inFlight: IN_FLIGHT, workers: perWorker.map((events) => ({ events })) });
		if (run.died) throw new Error(`${run.died} worker process(es) died`);
		const { received, unique } = await sink.counts();
		const accepted = run.results.filter(isAccepted);
		const processed = accepted.filter((r) => r.reason !== 'DUPLICATE_EVENT');
		const sentPer = new Map<string, number>();
		for (const r of processed) if (r.status === 'sent') sentPer.set(r.contactId, (sentPer.get(r.contactId) ?? 0) + 1);
		const violations = [...sentPer.values()].filter((n) => n > 2).length;
		const logged = new Set((await pg.query<{ decision_id: string }>(`SELECT decision_id FROM ${ns.schema}.decisions`)).rows.map((r) => r.decision_id));
		const lost = accepted.filter((r) => !logged.has(r.decisionId)).length;
		print(
			`  tight caps (2 emails/day), 4 processes, ${fmt(CONTACTS * 5, 0)} events each delivered twice: ${violations} cap violations, ` +
				`${received - sentBefore - (unique - uniqueBefore)} duplicate sends (sink: ${received - sentBefore} requests, ${unique - uniqueBefore} keys), ` +
				`${lost} lost decisions of ${accepted.length} accepted; ${new Set(processed.map((r) => r.contactId)).size} contacts for ${CONTACTS} people`,
		);

		// Sizing: Redis memory per contact (profile, identity, cap ledger) and PostgreSQL bytes per decision.
		const keys = await redis.eval(`local n = 0 local c = '0' repeat local r = redis.call('SCAN', c, 'MATCH', ARGV[1], 'COUNT', 1000) c = r[1] for _, k in ipairs(r[2]) do n = n + (redis.call('MEMORY', 'USAGE', k) or 0) end until c == '0' return n`, 0, `${ns.prefix}*`);
		const size = await pg.query<{ bytes: string; n: string }>(`SELECT pg_total_relation_size('${ns.schema}.decisions') AS bytes, (SELECT count(*) FROM ${ns.schema}.decisions) AS n`);
		print(
			`  sizing: Redis ${fmt(Number(keys) / CONTACTS, 0)} bytes per contact (profile, identity, cap ledger, keys of 5 events); ` +
				`PostgreSQL ${fmt(Number(size.rows[0].bytes) / Number(size.rows[0].n), 0)} bytes per decision (row, JSONB body, indexes)`,
		);
		await drop(ns, redis, pg);
		if (violations || lost || received - sentBefore !== unique - uniqueBefore) throw new Error('scale-out correctness run failed');
	} finally {
		await sink.close();
		await pg.end();
		redis.disconnect();
	}
}

if (require.main === module) {
	benchScale().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
