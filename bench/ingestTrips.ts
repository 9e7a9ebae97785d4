import { Engine } from '../engine/engine';
import { loadPolicy } from '../engine/policy/load';
import { RedisStore } from '../engine/store/redis';
import { freePort, PrivateRedis } from './privateRedis';
import { fmt, print } from './stats';

/**
 * Redis round trips of the nodes' ingest (a trigger's `engine.ingest`: the claim with the profile's read, the decision
 * row, the mark with the profile's save), one event at a time over 200 contacts, on a private redis-server.
 * `node dist/bench/ingestTrips.js`; copy it into another build's dist/bench to compare.
 */
const EVENTS = Number(process.env.BENCH_INGEST_EVENTS ?? 1_000);
const CONTACTS = 200;
const T0 = Date.parse('2026-11-21T09:00:00Z');

export async function benchIngestTrips(): Promise<void> {
	const redis = new PrivateRedis(await freePort(), 'everysec');
	await redis.start();
	const store = new RedisStore(redis.url, { prefix: 'trips:' });
	const engine = new Engine({ store, clock: 'event', policy: loadPolicy() });
	const event = (i: number) => ({ eventId: `t${i}`, type: 'track', name: 'Pricing Viewed', identities: { email: `c${i % CONTACTS}@example.com` }, occurredAt: new Date(T0 + i * 1000).toISOString() });
	try {
		for (let i = 0; i < CONTACTS; i++) await engine.ingest(event(i), { journey: 'nurture' });
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
		for (let i = CONTACTS; i < CONTACTS + EVENTS; i++) await engine.ingest(event(i), { journey: 'nurture' });
		await new Promise((resolve) => setTimeout(resolve, 200));
		monitor.disconnect();
		watcher.disconnect();
		const total = [...trips.values()].reduce((n, x) => n + x, 0);
		print(`bench/ingestTrips: ${fmt(EVENTS, 0)} events taken in by the nodes' ingest on Redis, one at a time: ${fmt(total / EVENTS)} round trips an event (${[...trips].map(([kind, n]) => `${kind} ${fmt(n / EVENTS)}`).join(', ')})`);
	} finally {
		await engine.close();
		await redis.close();
	}
}

if (require.main === module) {
	benchIngestTrips().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
