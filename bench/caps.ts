import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { cappedChannels, checkAndReserve, MessageFacts } from '../engine/guard/frequencyCap';
import { loadPolicy } from '../engine/policy/load';
import type { CapRuleSchema } from '../engine/policy/schema';
import { MemoryStore } from '../engine/store/memory';
import { RedisStore } from '../engine/store/redis';
import { SqliteStore } from '../engine/store/sqlite';
import type { CapCounter, Store } from '../engine/store/types';
import { freePort, PrivateRedis } from './privateRedis';
import type { z } from 'zod/v4';
import { fmt, print } from './stats';

/**
 * Check-and-reserve throughput: one atomic check of every applicable cap rule plus the reservation,
 * for the memory and SQLite stores, with one rule and with five, against rate-limiter-flexible's
 * in-memory limiter doing one `consume` per check in the same run. Limits are high, so every check
 * reserves (the ledger grows as it would under real traffic). Then, on the ledger that left, Choose
 * Channel's read-only look (`cappedChannels`: every rule of three candidate channels, one peekCap call).
 */
const CHECKS = Number(process.env.BENCH_CAP_CHECKS ?? 50_000);
/** About five reservations per contact, as a week of capped traffic leaves in the ledger. */
const CONTACTS = 10_000;

type RuleInput = z.input<typeof CapRuleSchema>;
const FIVE: RuleInput[] = [
	{ id: 'email-hourly', scope: { kind: 'channel', channel: 'email' }, limit: 10_000, window: { kind: 'rolling', duration: '1h' } },
	{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: 10_000, window: { kind: 'rolling', duration: '24h' } },
	{ id: 'any-weekly', scope: { kind: 'any' }, limit: 10_000, window: { kind: 'rolling', duration: '7d' } },
	{ id: 'promo-week', scope: { kind: 'tag', tag: 'promo' }, limit: 10_000, window: { kind: 'calendar', unit: 'week' } },
	{ id: 'nurture-day', scope: { kind: 'journey', journey: 'nurture' }, limit: 10_000, window: { kind: 'calendar', unit: 'day' } },
];

async function rate(check: (i: number) => Promise<unknown>): Promise<number> {
	for (let i = 0; i < 2_000; i++) await check(i);
	const started = performance.now();
	for (let i = 0; i < CHECKS; i++) await check(i);
	return CHECKS / ((performance.now() - started) / 1000);
}

const message: MessageFacts = { channel: 'email', journey: 'nurture', category: 'promo', tags: ['promo'] };
const t0 = Date.parse('2026-11-02T09:00:00Z');

async function ours(store: Store, rules: RuleInput[]): Promise<{ reserve: number; peek: number }> {
	const { policy } = loadPolicy({ channelOrder: ['email'], caps: rules });
	const reserve = await rate((i) => checkAndReserve(store, policy, `c${i % CONTACTS}`, message, t0 + i, 'Europe/Berlin'));
	const t1 = t0 + CHECKS + 2_000;
	const peek = await rate((i) => cappedChannels(store, policy, `c${i % CONTACTS}`, ['email', 'sms', 'push'], message, t1 + i, 'Europe/Berlin'));
	await store.close();
	return { reserve, peek };
}

const DAY_MS = 86_400_000;
/** The Redis case: contacts with a long history (one committed send a day), checked against a weekly rule. */
const REDIS_CONTACTS = 200;
const REDIS_HISTORY = 200;
const REDIS_CHECKS = Number(process.env.BENCH_CAP_REDIS_CHECKS ?? 4_000);

/**
 * The Redis cap script on ledgers of REDIS_HISTORY entries, checked without a horizon (the whole hash is read at
 * every check until retention runs) and with keepSince a month back (the script deletes what is older as it reads):
 * checks/s seen by the caller and Redis's own time per script call (INFO commandstats), after one check a contact.
 */
async function redisCase(url: string, prefix: string, keepMs: number | undefined): Promise<{ perSecond: number; usPerScript: number; hashLength: number }> {
	const store = new RedisStore(url, { prefix });
	const t0 = Date.parse('2026-11-02T09:00:00Z');
	for (let c = 0; c < REDIS_CONTACTS; c++) {
		const ids = Array.from({ length: REDIS_HISTORY }, (_, d) => `h${c}-${d}`);
		await Promise.all(ids.map((id, d) => store.reserveCap({ reservationId: id, contactId: `c${c}`, channel: 'email', journey: 'nurture', tags: ['promo'], at: t0 - (d + 1) * DAY_MS, expiresAt: t0 }, [])));
		await Promise.all(ids.map((id) => store.settleCap(id, 'commit')));
	}
	const weekly: CapCounter[] = [{ ruleId: 'any-weekly', limit: 1_000_000, since: t0 - 7 * DAY_MS, match: {}, excludeTags: [], lengthMs: 7 * DAY_MS }];
	const check = (i: number) => {
		const at = t0 + i;
		return store.reserveCap({ reservationId: `r${i}`, contactId: `c${i % REDIS_CONTACTS}`, channel: 'email', journey: 'nurture', tags: ['promo'], at, expiresAt: at + 60_000, ...(keepMs !== undefined ? { keepSince: at - keepMs } : {}) }, weekly);
	};
	for (let i = 0; i < REDIS_CONTACTS; i++) await check(i);
	await store.client.config('RESETSTAT');
	const started = performance.now();
	for (let i = REDIS_CONTACTS; i < REDIS_CONTACTS + REDIS_CHECKS; i++) await check(i);
	const perSecond = REDIS_CHECKS / ((performance.now() - started) / 1000);
	const stats = await store.client.info('commandstats');
	const usPerScript = Number(/cmdstat_evalsha:calls=\d+,usec=\d+,usec_per_call=([\d.]+)/.exec(stats)?.[1] ?? NaN);
	const hashLength = await store.client.hlen(`${prefix}cap:c0`);
	await store.dropAll();
	await store.close();
	return { perSecond, usPerScript, hashLength };
}

export async function benchRedisCaps(): Promise<void> {
	const redis = new PrivateRedis(await freePort(), 'everysec');
	await redis.start();
	try {
		const whole = await redisCase(redis.url, 'whole:', undefined);
		const trimmed = await redisCase(redis.url, 'trimmed:', 32 * DAY_MS);
		print(`bench/caps redis: ${fmt(REDIS_CHECKS, 0)} checks over ${fmt(REDIS_CONTACTS, 0)} contacts with ${REDIS_HISTORY} committed entries each (one a day), weekly rule, private redis-server`);
		for (const [label, r] of [['no horizon (whole ledger read)', whole], ['keepSince a month back', trimmed]] as const) {
			print(`  ${label.padEnd(32)} ${fmt(r.perSecond, 0).padStart(7)} checks/s ${fmt(r.usPerScript, 1).padStart(7)} µs in Redis per script   ${r.hashLength} entries in a contact's hash after`);
		}
		print(`  keepSince / no horizon: checks/s ${fmt(trimmed.perSecond / whole.perSecond)}×, Redis time per script ${fmt(trimmed.usPerScript / whole.usPerScript)}×`);
	} finally {
		await redis.close();
	}
}

/**
 * Rounds of every run, baseline included, one after the other: a burst of other load hits a round, not one run. A
 * first round is run and left out: the baseline's code is not yet optimised by then (it ran at a quarter of its speed).
 */
const ROUNDS = Math.max(1, Number(process.env.BENCH_CAP_ROUNDS ?? 5));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchCaps(): Promise<void> {
	const dir = mkdtempSync(join(tmpdir(), 'nudge-caps-'));
	const configs: [string, (round: number) => Store, RuleInput[]][] = [
		['memory, 1 rule', () => new MemoryStore(), FIVE.slice(1, 2)],
		['memory, 5 rules', () => new MemoryStore(), FIVE],
		['sqlite, 1 rule', (round) => new SqliteStore(join(dir, `one-${round}.db`)), FIVE.slice(1, 2)],
		['sqlite, 5 rules', (round) => new SqliteStore(join(dir, `five-${round}.db`)), FIVE],
	];
	const baselines: number[] = [];
	const fiveBaselines: number[] = [];
	const runs = configs.map(() => ({ reserve: [] as number[], peek: [] as number[] }));
	for (let round = -1; round < ROUNDS; round++) {
		const limiter = new RateLimiterMemory({ points: 10_000, duration: 86_400 });
		const base = await rate((i) => limiter.consume(`c${i % CONTACTS}`));
		// Five rules in the library: a limiter per rule, consumed in turn (not one atomic check: no rollback when a later
		// one refuses, no calendar windows, no ledger).
		const five = [3_600, 86_400, 7 * 86_400, 7 * 86_400, 86_400].map((duration) => new RateLimiterMemory({ points: 10_000, duration }));
		const baseFive = await rate(async (i) => {
			for (const one of five) await one.consume(`c${i % CONTACTS}`);
		});
		const results: { reserve: number; peek: number }[] = [];
		for (const [, open, rules] of configs) results.push(await ours(open(round + 1), rules));
		if (round < 0) continue;
		baselines.push(base);
		fiveBaselines.push(baseFive);
		results.forEach((r, k) => (runs[k].reserve.push(r.reserve), runs[k].peek.push(r.peek)));
	}
	rmSync(dir, { recursive: true, force: true });
	const baseline = median(baselines);
	const rows: [string, number[]][] = [
		...configs.map(([label], k): [string, number[]] => [label, runs[k].reserve]),
		...configs.map(([label], k): [string, number[]] => [`peek 3 channels, ${label}`, runs[k].peek]),
	];
	print(`bench/caps: ${fmt(CHECKS, 0)} check-and-reserve calls over ${fmt(CONTACTS, 0)} contacts, one at a time; medians of ${ROUNDS} interleaved rounds after one left out`);
	print(`  rate-limiter-flexible memory consume  ${fmt(baseline, 0).padStart(9)} checks/s   (baseline; rounds ${baselines.map((b) => fmt(b, 0)).join(', ')})`);
	print(`  rate-limiter-flexible, 5 limiters     ${fmt(median(fiveBaselines), 0).padStart(9)} checks/s   (one consume per rule, in turn; ratio to the baseline ${fmt(median(fiveBaselines.map((b, i) => b / baselines[i])))})`);
	const fiveRules = configs.findIndex(([label]) => label === 'memory, 5 rules');
	print(`  nudge memory, 5 rules / 5 limiters: ${fmt(median(runs[fiveRules].reserve.map((x, i) => x / fiveBaselines[i])))}`);
	for (const [label, perSecond] of rows) {
		// Each round's ratio is to that round's baseline; the ratio printed is their median.
		const ratios = perSecond.map((x, i) => x / baselines[i]);
		print(`  nudge ${label.padEnd(40)} ${fmt(median(perSecond), 0).padStart(9)} checks/s   ratio ${fmt(median(ratios))}   (rounds ${ratios.map((r) => fmt(r)).join(', ')})`);
	}
	// BENCH_CAP_REDIS=0: the in-process stores only (no redis-server), for runs repeated build against build.
	if (process.env.BENCH_CAP_REDIS !== '0') await benchRedisCaps();
}

/**
 * `node dist/bench/caps.js cpu <memory|sqlite> <checks>`: the five-rule checks alone, then the whole process's CPU
 * seconds (start-up included), to compare two builds run alternately (copy this file into the other build's
 * dist/bench): steadier than checks/s on a shared machine.
 */
async function processCpu(kind: string, checks: number): Promise<void> {
	const dir = mkdtempSync(join(tmpdir(), 'nudge-caps-'));
	const store = kind === 'sqlite' ? new SqliteStore(join(dir, 'cpu.db')) : new MemoryStore();
	const { policy } = loadPolicy({ channelOrder: ['email'], caps: FIVE });
	for (let i = 0; i < checks; i++) await checkAndReserve(store, policy, `c${i % CONTACTS}`, message, t0 + i, 'Europe/Berlin');
	await store.close();
	rmSync(dir, { recursive: true, force: true });
	const { user, system } = process.cpuUsage();
	print(`${kind} ${checks} checks: ${fmt((user + system) / 1e6, 3)} s CPU`);
}

if (require.main === module) {
	const [mode, kind = 'memory', checks = '200000'] = process.argv.slice(2);
	(mode === 'cpu' ? processCpu(kind, Number(checks)) : benchCaps()).catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
