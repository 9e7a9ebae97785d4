import { RedisStore } from '../engine/store/redis';
import { inactivityQueue } from '../engine/store/types';
import { freePort, PrivateRedis } from './privateRedis';
import { fmt, print } from './stats';

/**
 * One journey's take of its due inactivity timers on Redis, past many due timers of a journey no node takes any more
 * (its flow deleted): the take script walks past them, so this is how long Redis serves no one else. Baseline in the
 * same run: the take of every journey's timers (no journey), which walks nothing, on the same store.
 */
const SIZES = (process.env.BENCH_TIMER_SIZES ?? '20000,200000').split(',').map(Number);
const ROUNDS = 3;

async function fill(store: RedisStore, others: number): Promise<void> {
	const pending: Promise<void>[] = [];
	for (let i = 0; i < others; i++) {
		const body = JSON.stringify({ fire: 'Lapsed', contactId: `c${i}`, journey: 'retired', startedBy: 'e', start: 'Visited', minutes: 600 });
		pending.push(store.scheduleTimer({ timerId: `inactivity:7:retired:Lapsed:c${i}`, dueAt: 100 + i, body }));
		if (pending.length >= 2_000) await Promise.all(pending.splice(0));
	}
	await Promise.all(pending);
}

async function msOf(take: () => Promise<unknown>): Promise<number> {
	const started = performance.now();
	await take();
	return performance.now() - started;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchTimerTake(): Promise<void> {
	const redis = new PrivateRedis(await freePort(), 'everysec');
	await redis.start();
	try {
		print(`bench/timerTake: one journey's take of its due inactivity timers on Redis, past another journey's due ones (medians of ${ROUNDS})`);
		for (const others of SIZES) {
			const store = new RedisStore(redis.url, { prefix: `take-${others}:` });
			const journey: number[] = [];
			const all: number[] = [];
			for (let round = 0; round < ROUNDS; round++) {
				await store.dropAll();
				await fill(store, others);
				await store.scheduleTimer({ timerId: 'inactivity:4:cart:Cart Abandoned:c0', dueAt: 10_000_000, body: JSON.stringify({ journey: 'cart' }) });
				journey.push(await msOf(() => store.takeDueTimers(20_000_000, 100, 60_000, inactivityQueue('cart'))));
				all.push(await msOf(() => store.takeDueTimers(20_000_000, 100, 60_000)));
			}
			print(`  ${fmt(others, 0).padStart(8)} others due   journey's take ${fmt(median(journey), 1).padStart(7)} ms   every journey's take ${fmt(median(all), 1).padStart(6)} ms   ratio ${fmt(median(journey) / median(all), 1)}×`);
			await store.dropAll();
			await store.close();
		}
	} finally {
		await redis.close();
	}
}

if (require.main === module) {
	benchTimerTake().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
