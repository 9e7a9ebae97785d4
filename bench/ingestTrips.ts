import { Engine } from '../engine/engine';
import { DEFAULT_POLICY } from '../engine/policy/defaultPolicy';
import { loadPolicy } from '../engine/policy/load';
import { PostgresStore } from '../engine/store/postgres';
import { RedisStore } from '../engine/store/redis';
import type { Store } from '../engine/store/types';
import { countStatements } from './pgStatements';
import { freePort, PrivateRedis } from './privateRedis';
import { fmt, print } from './stats';

/**
 * Round trips of the nodes' ingest (a trigger's `engine.ingest`: the claim with the profile's read, the decision row,
 * the mark with the profile's save), one event at a time over 200 contacts: on Redis (a private redis-server, seen with
 * MONITOR) and on PostgreSQL (its statements, each a round trip). `node dist/bench/ingestTrips.js`; copy it (with
 * pgStatements.js) into another build's dist/bench to compare.
 */
const EVENTS = Number(process.env.BENCH_INGEST_EVENTS ?? 1_000);
const CONTACTS = 200;
const T0 = Date.parse('2026-11-21T09:00:00Z');
const POSTGRES_URL = process.env.NUDGE_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const event = (i: number) => ({ eventId: `t${i}`, type: 'track', name: 'Pricing Viewed', identities: { email: `c${i % CONTACTS}@example.com` }, occurredAt: new Date(T0 + i * 1000).toISOString() });

/** Takes in CONTACTS events (one a contact), then runs `measured` around the next EVENTS. */
async function ingestOn(store: Store, measured: (run: () => Promise<void>) => Promise<void>): Promise<void> {
	const engine = new Engine({ store, clock: 'event', policy: loadPolicy() });
	try {
		for (let i = 0; i < CONTACTS; i++) await engine.ingest(event(i), { journey: 'nurture' });
		await measured(async () => {
			for (let i = CONTACTS; i < CONTACTS + EVENTS; i++) await engine.ingest(event(i), { journey: 'nurture' });
		});
	} finally {
		await engine.close();
	}
}

async function onRedis(): Promise<void> {
	const redis = new PrivateRedis(await freePort(), 'everysec');
	await redis.start();
	const store = new RedisStore(redis.url, { prefix: 'trips:' });
	try {
		await ingestOn(store, async (run) => {
			// What the engine's connection sends, seen by MONITOR: a script is one round trip, and so is a transaction
			// (MULTI, its commands, EXEC: ioredis sends them together); the commands scripts run inside are not counted.
			const watcher = store.client.duplicate();
			const monitor = await watcher.monitor();
			const trips = new Map<string, number>();
			let inTransaction = false;
			monitor.on('monitor', (_time: string, args: string[], source: string) => {
				const name = String(args[0]).toLowerCase();
				if (source.includes('lua') || name === 'monitor') return;
				if (name === 'multi') inTransaction = true;
				if (inTransaction && name !== 'exec') return;
				if (name === 'exec') inTransaction = false;
				const kind = name === 'exec' ? 'transaction' : name === 'evalsha' || name === 'eval' ? 'script' : name;
				trips.set(kind, (trips.get(kind) ?? 0) + 1);
			});
			await run();
			await new Promise((resolve) => setTimeout(resolve, 200));
			monitor.disconnect();
			watcher.disconnect();
			const total = [...trips.values()].reduce((n, x) => n + x, 0);
			print(`bench/ingestTrips: ${fmt(EVENTS, 0)} events taken in by the nodes' ingest, one at a time; on Redis ${fmt(total / EVENTS)} round trips an event (${[...trips].map(([kind, n]) => `${kind} ${fmt(n / EVENTS)}`).join(', ')})`);
		});
	} finally {
		await redis.close();
	}
}

async function onPostgres(): Promise<void> {
	const store = new PostgresStore(POSTGRES_URL, { schema: `bench_trips_${process.pid}` });
	await ingestOn(store, async (run) => {
		const statements = countStatements();
		await run();
		const total = Object.values(statements).reduce((n, x) => n + x, 0);
		print(`  on PostgreSQL ${fmt(total / EVENTS)} statements an event (${Object.entries(statements).map(([word, n]) => `${word} ${fmt(n / EVENTS)}`).join(', ')})`);
		await store.dropAll();
	});
}

/**
 * An outcome event ('Email Opened') of a contact that MERGED visitors were merged into (a browser each, before the
 * login), on PostgreSQL: its look for the message it belongs to reads the decisions of the contact and of every
 * merged id in one query, so its statements do not grow with the merges.
 */
const MERGED = Number(process.env.BENCH_INGEST_MERGED ?? 50);
async function outcomeOfMergedContact(merged: number): Promise<number> {
	const store = new PostgresStore(POSTGRES_URL, { schema: `bench_merged_${process.pid}_${merged}` });
	const policy = loadPolicy({ ...DEFAULT_POLICY, caps: [], journeys: { nurture: { channels: ['email'], outcomes: { 'Email Opened': { type: 'open' } } } } });
	const engine = new Engine({ store, clock: 'event', policy });
	let t = 0;
	const at = () => new Date(T0 + t++ * 1000).toISOString();
	try {
		await engine.ingest({ type: 'identify', identities: { userId: 'u-a', email: 'a@example.com' }, occurredAt: at() }, { journey: 'nurture' });
		for (let i = 0; i < merged; i++) {
			await engine.ingest({ type: 'page', name: 'Pricing Viewed', identities: { anonymousId: `anon-${i}` }, occurredAt: at() }, { journey: 'nurture' });
			await engine.ingest({ type: 'identify', identities: { userId: 'u-a', anonymousId: `anon-${i}` }, occurredAt: at() }, { journey: 'nurture' });
		}
		await engine.decide({ type: 'track', name: 'Demo Requested', identities: { userId: 'u-a' }, occurredAt: at() }, { journey: 'nurture', target: { dryRun: true } });
		const statements = countStatements();
		const opens = 20;
		for (let i = 0; i < opens; i++) await engine.ingest({ type: 'track', name: 'Email Opened', identities: { userId: 'u-a' }, occurredAt: at() }, { journey: 'nurture' });
		return Object.values(statements).reduce((n, x) => n + x, 0) / opens;
	} finally {
		await store.dropAll();
		await engine.close();
	}
}

export async function benchIngestTrips(): Promise<void> {
	await onRedis();
	await onPostgres();
	const [alone, merged] = [await outcomeOfMergedContact(0), await outcomeOfMergedContact(MERGED)];
	print(`  an outcome event on PostgreSQL: ${fmt(alone)} statements for a contact alone, ${fmt(merged)} for one ${fmt(MERGED, 0)} visitors were merged into`);
}

if (require.main === module) {
	benchIngestTrips().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
