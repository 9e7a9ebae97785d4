import Redis from 'ioredis';
import { availableParallelism } from 'node:os';
import { Client } from 'pg';
import { freePort, PrivateRedis } from './privateRedis';
import { parentPid, processCpuMs, processTreeCpuMs } from './procCpu';
import { runId } from './scaleIds';
import { runWorkers, scaleEvent, TIGHT_CAPS_POLICY } from './scaleHarness';
import type { WorkerResult } from './scaleWorker';
import { startSinkProcess } from './sink';
import { fmt, percentile, print } from './stats';

/**
 * Scale-out on a shared store: 1, 2 and 4 worker processes (each its own engine, as n8n queue-mode
 * workers) run the nurture journey against one Redis (hot state) + PostgreSQL (decision log), sending
 * to a local webhook sink in another child process. Prints aggregate decisions/s as ratios against one
 * process, latency under load, CPU per decision (workers, Redis), Redis commands per decision, then a
 * census of Redis round trips per decision, a tight-cap correctness run and the sizing figures
 * docs/deploy.md quotes. Redis is a private redis-server started for the run (so only this run's
 * commands and CPU are counted) unless NUDGE_BENCH_REDIS_URL names one; PostgreSQL is
 * NUDGE_BENCH_POSTGRES_URL (default: the local test database).
 */
const SHARED_REDIS_URL = process.env.NUDGE_BENCH_REDIS_URL;
const POSTGRES_URL = process.env.NUDGE_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DECISIONS = Number(process.env.BENCH_SCALE_DECISIONS ?? 4_000);
const CONTACTS = Number(process.env.BENCH_SCALE_CONTACTS ?? 400);
const IN_FLIGHT = Number(process.env.BENCH_SCALE_IN_FLIGHT ?? 16);
const ROUNDS = Math.max(1, Number(process.env.BENCH_SCALE_ROUNDS ?? 3));

const LOOSE_POLICY = {
	...TIGHT_CAPS_POLICY,
	caps: TIGHT_CAPS_POLICY.caps.map((c) => ({ ...c, limit: 1_000_000 })),
};

type Accepted = Extract<WorkerResult, { decisionId: string }>;
const isAccepted = (r: WorkerResult): r is Accepted => 'decisionId' in r;

/** Commands Redis executed (each command a script runs counts too, as Redis 7 counts them) and its CPU seconds. */
async function redisCounters(redis: Redis): Promise<{ commands: number; cpu: number }> {
	const info = await redis.info();
	const field = (name: string) => Number(info.match(new RegExp(`${name}:([\\d.]+)`))![1]);
	return { commands: field('total_commands_processed'), cpu: field('used_cpu_user') + field('used_cpu_sys') };
}

/**
 * Redis round trips per decision: every command reaching the server during a one-process run, seen with
 * MONITOR, less those scripts ran inside (a Lua cap check or learner update is one round trip). MONITOR
 * slows Redis, so this run is separate from the timed ones.
 */
async function roundTripCensus(ns: Namespace, redis: Redis, sinkUrl: string): Promise<{ perDecision: number; byCommand: [string, number][]; statements: [string, number][] }> {
	const monitor = await redis.monitor();
	const byCommand = new Map<string, number>();
	monitor.on('monitor', (_time: string, args: string[], source: string) => {
		if (source.includes('lua') || !args[0].toLowerCase().match(/^[a-z]/)) return;
		const name = args[0].toLowerCase();
		byCommand.set(name, (byCommand.get(name) ?? 0) + 1);
	});
	const [work] = workload('census', 1, 500, CONTACTS);
	const run = await runWorkers({ store: ns.url, policy: LOOSE_POLICY, sinkUrl, inFlight: IN_FLIGHT, workers: [{ events: work.events, warmup: [] }], countStatements: true });
	monitor.disconnect();
	const decided = run.results.filter(isAccepted).length;
	const list = [...byCommand.entries()].filter(([name]) => !['info', 'monitor', 'client', 'select', 'scan', 'unlink', 'quit', 'script'].includes(name));
	const total = list.reduce((n, [, count]) => n + count, 0);
	const perDecision = (counts: [string, number][]) => counts.map(([name, count]): [string, number] => [name, count / decided]).sort((a, b) => b[1] - a[1]);
	return { perDecision: total / decided, byCommand: perDecision(list), statements: perDecision(Object.entries(run.statements)) };
}

interface Namespace {
	url: string;
	prefix: string;
	schema: string;
}

function namespace(label: string, redisUrl: string): Namespace {
	const prefix = `${runId(`nudgebench_${label}`)}:`;
	const schema = runId(`nudgebench_${label}`);
	return { prefix, schema, url: `split:hot=${redisUrl}?prefix=${prefix};log=${POSTGRES_URL}?schema=${schema}` };
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
	const privateRedis = SHARED_REDIS_URL ? undefined : new PrivateRedis(await freePort(), 'everysec');
	const redisUrl = SHARED_REDIS_URL ?? privateRedis!.url;
	const pg = new Client({ connectionString: POSTGRES_URL });
	let redis: Redis | undefined;
	try {
		await privateRedis?.start();
		redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, retryStrategy: () => null });
		redis.on('error', () => undefined);
		await redis.ping();
		await pg.connect();
	} catch (error) {
		print(`bench/scale: SKIPPED — needs ${SHARED_REDIS_URL ? `Redis at ${SHARED_REDIS_URL}` : 'redis-server on the PATH'} and PostgreSQL at ${POSTGRES_URL} (${(error as Error).message})`);
		redis?.disconnect();
		await privateRedis?.close();
		await pg.end().catch(() => undefined);
		return;
	}
	const sink = await startSinkProcess();
	print(`bench/scale: nurture journey in 1, 2 and 4 worker processes on one Redis + PostgreSQL (split store); ${fmt(DECISIONS, 0)} decisions over ${CONTACTS} contacts per run`);
	print(
		`  ${IN_FLIGHT} decisions in flight per process; loose caps (every decision is sent over HTTP to a sink in a child process); ${availableParallelism()} cores shared with Redis and PostgreSQL; ` +
			(privateRedis ? 'a private redis-server (appendfsync everysec) for this run' : `Redis at ${SHARED_REDIS_URL} (its counters include any other traffic)`),
	);
	// PostgreSQL's CPU: its postmaster and every process under it (backends, WAL writer…), when /proc shows them.
	const postmaster = parentPid(Number((await pg.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid));
	const cores = availableParallelism();
	type Row = { workers: number; perSecond: number; p50: number; p99: number; commands: number; workerCpu: number; redisCpu: number; pgCpu?: number; sinkCpu?: number; totalCpu?: number };
	const otherCpu = async () => ({ redis: await redisCounters(redis!), pg: postmaster && processTreeCpuMs(postmaster), sink: processCpuMs(sink.pid) });
	const measure = async (workers: number, round: number): Promise<Row> => {
		const ns = namespace(`w${workers}r${round}`, redisUrl);
		// Counters are read once the workers are warm (connected, schema made, warm-up decided), so they cover the timed decisions only.
		let before!: Awaited<ReturnType<typeof otherCpu>>;
		const run = await runWorkers({
			store: ns.url,
			policy: LOOSE_POLICY,
			sinkUrl: sink.url,
			inFlight: IN_FLIGHT,
			workers: workload(`w${workers}r${round}`, workers, DECISIONS, CONTACTS),
			onStart: async () => void (before = await otherCpu()),
		});
		if (run.died) throw new Error(`${run.died} worker process(es) died`);
		const after = await otherCpu();
		const accepted = run.results.filter(isAccepted);
		if (accepted.length !== run.results.length) throw new Error(`${run.results.length - accepted.length} events failed`);
		const ms = accepted.map((r) => r.ms).sort((a, b) => a - b);
		await drop(ns, redis!, pg);
		const decided = accepted.length;
		const per = (a?: number, b?: number) => (a === undefined || b === undefined ? undefined : (b - a) / decided);
		const workerCpu = run.cpuMs / decided;
		const redisCpu = ((after.redis.cpu - before.redis.cpu) * 1000) / decided;
		const pgCpu = per(before.pg, after.pg);
		const sinkCpu = per(before.sink, after.sink);
		return {
			workers,
			perSecond: accepted.length / run.seconds,
			p50: percentile(ms, 50),
			p99: percentile(ms, 99),
			commands: (after.redis.commands - before.redis.commands) / decided,
			workerCpu,
			redisCpu,
			pgCpu,
			sinkCpu,
			totalCpu: pgCpu === undefined || sinkCpu === undefined ? undefined : workerCpu + redisCpu + pgCpu + sinkCpu,
		};
	};
	const ms = (x?: number) => (x === undefined ? 'n/a' : `${fmt(x)} ms`);
	const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
	try {
		// Rounds interleave 1, 2 and 4 processes, so a burst of other load on the machine hits all of them alike.
		const rounds: Row[][] = [];
		for (let round = 0; round < ROUNDS; round++) rounds.push([await measure(1, round), await measure(2, round), await measure(4, round)]);
		// Per process count, the round with the median throughput.
		const rows = [0, 1, 2].map((i) => {
			const runs = rounds.map((r) => r[i]);
			const m = median(runs.map((r) => r.perSecond));
			return runs.find((r) => r.perSecond === m)!;
		});
		for (const r of rows) {
			print(
				`  ${String(r.workers).padStart(1)} process${r.workers > 1 ? 'es' : '  '} ${fmt(r.perSecond, 0).padStart(7)} decisions/s   ×${fmt(r.perSecond / rows[0].perSecond)} vs 1   latency p50 ${fmt(r.p50)} ms   p99 ${fmt(r.p99)} ms   ` +
					`CPU per decision: workers ${fmt(r.workerCpu)} ms, Redis ${fmt(r.redisCpu)} ms, PostgreSQL ${ms(r.pgCpu)}, sink ${ms(r.sinkCpu)}, total ${ms(r.totalCpu)}   ` +
					`${fmt(r.commands, 1)} Redis commands/decision (incl. inside scripts)`,
			);
		}
		// The most this machine could decide if every core did nothing but this work: cores ÷ CPU per decision.
		for (const r of rows) {
			if (r.totalCpu === undefined) continue;
			const ceiling = (cores * 1000) / r.totalCpu;
			print(
				`  CPU ceiling at ${r.workers} process${r.workers > 1 ? 'es' : ''}: ${cores} cores ÷ ${fmt(r.totalCpu)} ms per decision = ${fmt(ceiling, 0)} decisions/s; ` +
					`measured ${fmt(r.perSecond, 0)} (${fmt((100 * r.perSecond) / ceiling, 0)}% of it)`,
			);
		}
		if (rows[0].totalCpu !== undefined) {
			const bound = (cores * 1000) / rows[0].totalCpu / rows[0].perSecond;
			print(`  so 1 → 2 processes can at most reach ×${fmt(bound)} here, even if a second process cost no CPU per decision more than one`);
		}
		const ratios = (i: number) => rounds.map((r) => r[i].perSecond / r[0].perSecond);
		print(`  scaling 1 → 2 processes: ×${fmt(median(ratios(1)))} (median of ${ROUNDS} rounds: ${ratios(1).map((x) => `×${fmt(x)}`).join(', ')}); 1 → 4: ×${fmt(median(ratios(2)))} (${ratios(2).map((x) => `×${fmt(x)}`).join(', ')})`);

		const censusNs = namespace('census', redisUrl);
		const census = await roundTripCensus(censusNs, redis, sink.url);
		await drop(censusNs, redis, pg);
		print(`  Redis round trips per decision (commands sent by the workers, MONITOR census of 500 decisions): ${fmt(census.perDecision, 1)} — ${census.byCommand.map(([name, n]) => `${name} ${fmt(n, 2)}`).join(', ')}`);
		// A statement outside BEGIN … COMMIT commits on its own: the decision log's group commits are its INSERTs.
		print(`  PostgreSQL statements per decision (same run; each INSERT is one group commit): ${census.statements.map(([word, n]) => `${word} ${fmt(n, 2)}`).join(', ')}`);

		// Correctness under contention: tight caps, 4 processes, every event delivered twice (to two workers).
		const ns = namespace('tight', redisUrl);
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
		await privateRedis?.close();
	}
}

/**
 * `node dist/bench/scale.js cpu [decisions]`: one worker process only, to compare two builds run alternately (copy
 * this file into the other build's dist/bench): the round-trip census, then a timed run without MONITOR, printing the
 * worker's and Redis's CPU per decision.
 */
async function oneProcessCpu(decisions: number): Promise<void> {
	const privateRedis = new PrivateRedis(await freePort(), 'everysec');
	await privateRedis.start();
	const redis = new Redis(privateRedis.url);
	const pg = new Client({ connectionString: POSTGRES_URL });
	await pg.connect();
	const sink = await startSinkProcess();
	try {
		const censusNs = namespace('census', privateRedis.url);
		const census = await roundTripCensus(censusNs, redis, sink.url);
		await drop(censusNs, redis, pg);
		const ns = namespace('cpu', privateRedis.url);
		let before!: { cpu: number };
		const run = await runWorkers({
			store: ns.url,
			policy: LOOSE_POLICY,
			sinkUrl: sink.url,
			inFlight: IN_FLIGHT,
			workers: workload('cpu', 1, decisions, CONTACTS),
			onStart: async () => void (before = await redisCounters(redis)),
			countStatements: true,
		});
		const after = await redisCounters(redis);
		await drop(ns, redis, pg);
		const decided = run.results.filter(isAccepted).length;
		print(
			`bench/scale cpu: 1 process, ${fmt(decisions, 0)} decisions, ${IN_FLIGHT} in flight: ${fmt(decided / run.seconds, 0)} decisions/s, worker CPU ${fmt(run.cpuMs / decided)} ms per decision, ` +
				`Redis ${fmt(((after.cpu - before.cpu) * 1000) / decided)} ms; round trips (census of 500) ${fmt(census.perDecision, 1)} — ${census.byCommand.map(([name, n]) => `${name} ${fmt(n, 2)}`).join(', ')}; ` +
				`PostgreSQL ${census.statements.map(([word, n]) => `${word} ${fmt(n, 2)}`).join(', ')} (census), INSERT ${fmt((run.statements.INSERT ?? 0) / decided, 2)} (timed run)`,
		);
	} finally {
		await sink.close();
		await pg.end();
		redis.disconnect();
		await privateRedis.close();
	}
}

if (require.main === module) {
	const [mode, decisions = '3000'] = process.argv.slice(2);
	(mode === 'cpu' ? oneProcessCpu(Number(decisions)) : benchScale()).catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
