import { connect, createServer, Server, Socket } from 'node:net';
import { Client } from 'pg';
import { EVENT_LEASE_MS } from '../engine/events/eventClaim';
import { freePort, PrivateRedis } from './privateRedis';
import { runId } from './scaleIds';
import { runWorkers, scaleEvent, TIGHT_CAPS_POLICY } from './scaleHarness';
import type { WorkerResult } from './scaleWorker';
import { startSink, type Sink } from './sink';
import { fmt, print } from './stats';

/**
 * Faults under load: 4 worker processes run the nurture journey on Redis (hot state) + PostgreSQL
 * (decision log) with tight caps, every event delivered twice (to two workers), while one fault strikes
 * mid-run: kill -9 of one worker, a restart of Redis (a private redis-server on its own port, append-only
 * with fsync always, killed and started again), or PostgreSQL becoming unreachable (the workers reach it
 * through a TCP proxy that is stopped, dropping every connection, then started again). A delivery that
 * was not acknowledged (the worker answered with an error, or died before answering) is delivered again
 * afterwards, as a webhook sender retries. For each fault it prints cap violations and duplicate sends
 * (counted at a local webhook sink), lost decisions, deliveries retried, and the recovery time.
 */
const POSTGRES_URL = process.env.NUDGE_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CONTACTS = Number(process.env.BENCH_FAULTS_CONTACTS ?? 200);
const OUTAGE_MS = Number(process.env.BENCH_FAULTS_OUTAGE_MS ?? 2000);
const EVENTS_PER_CONTACT = 5;
const WORKERS = 4;
const IN_FLIGHT = 8;
/** TIGHT_CAPS_POLICY: two emails a day per contact. */
const CAP = 2;

type Accepted = Extract<WorkerResult, { decisionId: string }>;
const isAccepted = (r: WorkerResult): r is Accepted => 'decisionId' in r;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP proxy in front of PostgreSQL; `down()` refuses and drops every connection, as an unreachable server. */
class TcpProxy {
	private server?: Server;
	private readonly sockets = new Set<Socket>();
	port = 0;
	constructor(
		private readonly host: string,
		private readonly targetPort: number,
	) {}

	async up(): Promise<void> {
		const server = createServer((client) => {
			const upstream = connect(this.targetPort, this.host);
			for (const s of [client, upstream]) {
				this.sockets.add(s);
				s.on('close', () => this.sockets.delete(s));
				s.on('error', () => (client.destroy(), upstream.destroy()));
			}
			client.pipe(upstream).pipe(client);
		});
		await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
		this.port = (server.address() as { port: number }).port;
		this.server = server;
	}

	async down(): Promise<void> {
		const server = this.server;
		this.server = undefined;
		for (const s of this.sockets) s.destroy();
		if (server) await new Promise((resolve) => server.close(resolve));
	}
}

interface Fault {
	name: string;
	/** Strikes once the workers have reported this share of their deliveries. */
	at: number;
	/** Causes the fault and ends it; resolves with when it ended (the clock recovery is measured from). */
	strike?: () => Promise<number>;
	/** Kill -9 of worker 0 instead of `strike`. */
	killWorker?: boolean;
}

interface FaultRow {
	name: string;
	violations: number;
	duplicateSends: number;
	lost: number;
	unfinished: number;
	retried: number;
	stillFailing: number;
	recoveryMs: number | undefined;
	firstError?: string;
}

/** Every event of the run, each delivered to two workers (as a retried webhook reaching another process). */
function deliveries(label: string): { events: Record<string, unknown>[]; perWorker: Record<string, unknown>[][] } {
	const events: Record<string, unknown>[] = [];
	const perWorker: Record<string, unknown>[][] = Array.from({ length: WORKERS }, () => []);
	for (let c = 0; c < CONTACTS; c++) {
		for (let k = 0; k < EVENTS_PER_CONTACT; k++) {
			const event = scaleEvent(`${label}-${c}-${k}`, c, k);
			events.push(event);
			perWorker[(c + k) % WORKERS].push(event);
			perWorker[(c + k + 1) % WORKERS].push(event);
		}
	}
	return { events, perWorker };
}

async function runFault(fault: Fault, redisPort: number, proxy: TcpProxy, pg: Client): Promise<FaultRow> {
	const label = fault.name.replace(/\W+/g, '_').toLowerCase();
	const prefix = `${runId(`nudgefaults_${label}`)}:`;
	const schema = runId(`nudgefaults_${label}`);
	const log = new URL(POSTGRES_URL);
	log.host = `127.0.0.1:${proxy.port}`;
	log.searchParams.set('schema', schema);
	const store = `split:hot=redis://127.0.0.1:${redisPort}?prefix=${prefix};log=${log}`;
	const sink: Sink = await startSink();
	const { events, perWorker } = deliveries(label);
	const total = perWorker.reduce((n, w) => n + w.length, 0);
	let strike: Promise<number> | undefined;
	try {
		const run = await runWorkers({
			store,
			policy: TIGHT_CAPS_POLICY,
			sinkUrl: sink.url,
			inFlight: IN_FLIGHT,
			workers: perWorker.map((e) => ({ events: e })),
			...(fault.killWorker ? { kill: { worker: 0, afterResults: Math.floor(fault.at * perWorker[0].length) } } : {}),
			onResults: (results) => {
				if (fault.strike && !strike && results.length >= fault.at * total) strike = fault.strike();
			},
		});
		const restoredAt = fault.killWorker ? run.killedAt : await strike;
		// Deliveries that got no 2xx: answered with an error, or lost with the killed worker. The sender retries them.
		const answered = new Set(run.results.filter(isAccepted).map((r) => r.eventId));
		const unanswered = run.results.filter((r) => !isAccepted(r)).map((r) => r.eventId);
		if (fault.killWorker) {
			const reported = new Set(run.byWorker[0].map((r) => r.eventId));
			unanswered.push(...perWorker[0].map((e) => String(e.eventId)).filter((id) => !reported.has(id)));
		}
		const byId = new Map(events.map((e) => [String(e.eventId), e]));
		let retry = unanswered.map((id) => byId.get(id)!);
		const results = [...run.results];
		// Retried until accepted, for as long as a dead taker's claim can hold an event (its lease).
		const giveUp = Date.now() + 2 * EVENT_LEASE_MS;
		while (retry.length && Date.now() < giveUp) {
			const again = await runWorkers({ store, policy: TIGHT_CAPS_POLICY, sinkUrl: sink.url, inFlight: IN_FLIGHT, workers: [{ events: retry }] });
			results.push(...again.results);
			retry = again.results.filter((r) => !isAccepted(r)).map((r) => byId.get(r.eventId)!);
			if (retry.length) await sleep(1000);
		}
		for (const r of results) if (isAccepted(r)) answered.add(r.eventId);

		const rows = (
			await pg.query<{ decision_id: string; contact_id: string; status: string; reason: string | null; event_id: string }>(
				`SELECT decision_id, contact_id, status, reason, body->'event'->>'eventId' AS event_id FROM ${schema}.decisions`,
			)
		).rows;
		const decisions = new Map(rows.map((r) => [r.decision_id, r]));
		const accepted = results.filter(isAccepted);
		// Deliveries per contact, from the sink's idempotency keys (= decision ids); a key without a row is a send without a decision.
		const perContact = new Map<string, number>();
		let sendsWithoutRow = 0;
		for (const key of sink.keys) {
			const d = decisions.get(key);
			if (!d) sendsWithoutRow++;
			else perContact.set(d.contact_id, (perContact.get(d.contact_id) ?? 0) + 1);
		}
		const sentPerEvent = new Map<string, number>();
		for (const d of rows) if (d.status === 'sent') sentPerEvent.set(d.event_id, (sentPerEvent.get(d.event_id) ?? 0) + 1);
		const decided = new Set(rows.filter((d) => d.reason !== 'DUPLICATE_EVENT').map((d) => d.event_id));
		const firstAfter = results.filter((r) => isAccepted(r) && restoredAt !== undefined && r.at >= restoredAt).sort((a, b) => a.at - b.at)[0];
		return {
			name: fault.name,
			violations: [...perContact.values()].filter((n) => n > CAP).length,
			duplicateSends: sink.received - sink.keys.size + [...sentPerEvent.values()].filter((n) => n > 1).length,
			// An accepted delivery without its row, a send without a row, or an event that never got a decision even after retries.
			lost: accepted.filter((r) => !decisions.has(r.decisionId)).length + sendsWithoutRow + events.filter((e) => !decided.has(String(e.eventId))).length,
			unfinished: rows.filter((d) => d.status === 'pending').length,
			retried: unanswered.length,
			stillFailing: retry.length,
			recoveryMs: firstAfter && restoredAt !== undefined ? firstAfter.at - restoredAt : undefined,
			firstError: results.find((r): r is Extract<WorkerResult, { error: string }> => 'error' in r)?.error,
		};
	} finally {
		await strike?.catch(() => undefined);
		await sink.close();
		await pg.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
	}
}

export async function benchFaults(): Promise<void> {
	const pg = new Client({ connectionString: POSTGRES_URL });
	const redis = new PrivateRedis(await freePort());
	try {
		await redis.start();
		await pg.connect();
	} catch (error) {
		print(`bench/faults: SKIPPED — needs redis-server on the PATH and PostgreSQL at ${POSTGRES_URL} (${(error as Error).message})`);
		await redis.close();
		await pg.end().catch(() => undefined);
		return;
	}
	const target = new URL(POSTGRES_URL);
	const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
	await proxy.up();
	/** Takes a service away for OUTAGE_MS and brings it back; resolves with when it was back. */
	const outage = (stop: () => Promise<void>, start: () => Promise<void>) => async () => {
		await stop();
		await sleep(OUTAGE_MS);
		await start();
		return Date.now();
	};
	print(`bench/faults: ${WORKERS} worker processes, nurture journey on a private Redis + PostgreSQL (split store), tight caps (${CAP} emails/day)`);
	print(`  ${fmt(CONTACTS * EVENTS_PER_CONTACT, 0)} events over ${CONTACTS} contacts, each delivered to two workers; ${IN_FLIGHT} in flight per worker; outages last ${fmt(OUTAGE_MS / 1000, 1)} s`);
	const faults: Fault[] = [
		{ name: 'kill -9 one worker', at: 0.3, killWorker: true },
		{ name: 'Redis restart', at: 0.3, strike: outage(() => redis.kill(), () => redis.start()) },
		{ name: 'PostgreSQL unavailable', at: 0.3, strike: outage(() => proxy.down(), () => proxy.up()) },
	];
	const rows: FaultRow[] = [];
	try {
		for (const fault of faults) rows.push(await runFault(fault, redis.port, proxy, pg));
	} finally {
		await redis.close();
		await proxy.down();
		await pg.end();
	}
	for (const r of rows) {
		print(
			`  ${r.name.padEnd(24)} ${r.violations} cap violations   ${r.duplicateSends} duplicate sends   ${r.lost} lost decisions   ` +
				`${r.retried} unacknowledged deliveries retried (${r.stillFailing} still failing)   ${r.unfinished} accepted but unfinished   ` +
				`recovery ${r.recoveryMs === undefined ? 'n/a' : `${fmt(r.recoveryMs, 0)} ms`}`,
		);
		if (r.firstError) print(`    first error a sender saw: ${r.firstError.slice(0, 200)}`);
	}
	if (rows.some((r) => r.violations || r.duplicateSends || r.lost || r.stillFailing)) throw new Error('bench/faults: a fault broke a guarantee (see above)');
}

if (require.main === module) {
	benchFaults().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
