import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Decision } from '../engine/audit/schema';
import { DecisionConsole } from '../engine/audit/queries';
import { startConsoleServer } from '../console/server';
import { Engine } from '../engine/engine';
import { SqliteStore } from '../engine/store/sqlite';
import { fmt, percentile, print } from './stats';

/**
 * Decision console page-data latency on the embedded SQLite store at 10k / 100k / 1M decisions: each
 * view's JSON endpoint over HTTP (what the page waits for), against two baselines in the same run: the
 * first page of the plain `queryDecisions` (50 full decisions, no aggregation) and a full JSONL export of
 * the log (what a console without store-side aggregation would have to read).
 */
const SIZES = (process.env.BENCH_CONSOLE_SIZES ?? '10000,100000,1000000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_CONSOLE_RUNS ?? 5);
/** The JSONL export reads every decision; above this many it is estimated from the largest size measured. */
const EXPORT_MAX = Number(process.env.BENCH_CONSOLE_EXPORT_MAX ?? 100_000);

const JOURNEYS = ['nurture', 'cart', 'churn'];
const DAY = 86_400_000;
const START = Date.parse('2026-08-01T00:00:00Z');

/** A deterministic, realistic decision: every fifth suppressed by a cap, some held out, a few converted. */
export function synthetic(i: number, total: number): Decision {
	const at = new Date(START + Math.floor((i / total) * 90 * DAY)).toISOString();
	const r = (i * 2654435761) % 1000;
	const journey = JOURNEYS[i % 3];
	const probability = (r % 100) / 100;
	const holdout = r < 100;
	const capped = !holdout && r % 5 === 0;
	const noConsent = !holdout && !capped && r % 7 === 0;
	const channel = r % 4 === 0 ? 'sms' : 'email';
	const sent = !holdout && !capped && !noConsent;
	const status = sent ? 'sent' : 'suppressed';
	const reason = holdout ? 'HOLDOUT' : capped ? 'FREQUENCY_CAP' : noConsent ? 'NO_CONSENT' : undefined;
	const converted = r % 20 < (sent ? 2 + probability * 3 : 1 + probability * 2);
	return {
		decisionId: `d_${String(i).padStart(8, '0')}`,
		createdAt: at,
		updatedAt: at,
		policyVersion: 'default@bench',
		journey,
		contactId: `c_${i % 50_000}`,
		status,
		...(reason ? { reason } : {}),
		event: { eventId: `e_${i}`, source: 'segment', type: 'track', name: 'Pricing Viewed', occurredAt: at },
		score: { value: Math.round(probability * 100), probability, tier: probability >= 0.7 ? 'hot' : probability >= 0.4 ? 'warm' : 'cold', model: 'lead@v1', fallback: false, factors: [{ label: 'Viewed the pricing page', contribution: 20 }, { label: 'Company size 50+', contribution: 10 }] },
		...(holdout ? {} : { channel }),
		candidates: [
			{ channel: 'email', rank: 0, eligible: true, mean: 0.12, sampled: 0.1 },
			{ channel: 'sms', rank: 1, eligible: !noConsent, ...(noConsent ? { reason: 'NO_CONSENT' as const, detail: 'contact has not opted in to sms' } : { mean: 0.08, sampled: 0.09 }) },
		],
		choice: holdout ? { context: `journey=${journey}`, method: 'holdout', holdout: { group: 'global', bucket: r % 100 } } : { context: `journey=${journey}`, method: 'thompson', arm: channel },
		...(holdout || noConsent
			? {}
			: {
					guard: {
						outcome: capped ? 'blocked' : 'allowed',
						allowed: !capped,
						checks: [
							{ kind: 'consent', ruleId: `consent:${channel}`, passed: true },
							{ kind: 'frequency_cap', ruleId: `${channel}-daily`, passed: !capped, count: capped ? 1 : 0, limit: 1, window: '24h' },
						],
					},
				}),
		...(sent ? { delivery: { provider: 'webhook', status: 'sent', idempotencyKey: `k_${i}`, attempts: 1, at } } : {}),
		outcomes: converted ? [{ outcomeId: `o_${i}`, type: 'conversion', at }] : [],
		trail: [{ stage: 'ingest', at, status: 'pending' }, { stage: 'log', at, status }],
		annotations: {},
	} as Decision;
}

/** The bulk path: one transaction per 20,000 decisions (the store group-commits everything written in one turn). */
export async function fill(store: SqliteStore, from: number, to: number, total: number): Promise<void> {
	for (let i = from; i < to; ) {
		const end = Math.min(to, i + 20_000);
		for (; i < end; i++) void store.putDecision(synthetic(i, total));
		await store.sync();
	}
}

async function median(fn: () => Promise<unknown>, runs = RUNS): Promise<number> {
	await fn();
	const times: number[] = [];
	for (let i = 0; i < runs; i++) {
		const t = performance.now();
		await fn();
		times.push(performance.now() - t);
	}
	return percentile(times.sort((a, b) => a - b), 50);
}

export async function benchConsole(): Promise<void> {
	const dir = mkdtempSync(join(tmpdir(), 'nudge-console-bench-'));
	const total = Math.max(...SIZES);
	const store = new SqliteStore(join(dir, 'console.db'));
	const engine = new Engine({ store });
	const dc = new DecisionConsole(engine);
	const server = await startConsoleServer({ console: dc, port: 0 });
	const get = async (path: string) => {
		const res = await fetch(`${server.url}api/${path}`);
		if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
		return res.json();
	};
	const views: [string, string][] = [
		['decisions (stream, first page)', 'decisions'],
		['decisions?reason=FREQUENCY_CAP', 'decisions?reason=FREQUENCY_CAP'],
		['decisions?journey=cart&channel=sms', 'decisions?journey=cart&channel=sms'],
		['decisions/<id> (one in full)', 'decisions/d_00000042'],
		['totals', 'totals'],
		['funnel', 'funnel'],
		['suppressions', 'suppressions'],
		['channels', 'channels'],
		['caps', 'caps'],
		['models', 'models'],
		['lift', 'lift'],
	];
	/** A marketer's usual question: one journey over the latest tenth of the log (9 of the 90 days at 1M). */
	const recent = (size: number): [string, string][] => {
		const from = synthetic(Math.floor(size * 0.9), total).createdAt;
		return [
			['funnel, journey=cart, latest tenth', `funnel?journey=cart&from=${from}`],
			['lift, journey=cart, latest tenth', `lift?journey=cart&from=${from}`],
		];
	};
	print(`bench/console: page-data latency on SQLite (median of ${RUNS} after a warm-up), HTTP JSON endpoints`);
	let filled = 0;
	let exportPerDecision: number | undefined;
	try {
		for (const size of SIZES) {
			const t = performance.now();
			await fill(store, filled, size, total);
			filled = size;
			print(`\n  ${fmt(size, 0)} decisions (filled in ${fmt((performance.now() - t) / 1000, 1)} s)`);
			const page = await median(() => store.queryDecisions({ limit: 50 }));
			let exportMs: number;
			let exportNote = '';
			if (size <= EXPORT_MAX) {
				exportMs = await median(() => engine.exportJsonl({}, () => undefined), 1);
				exportPerDecision = exportMs / size;
			} else {
				exportMs = exportPerDecision! * size;
				exportNote = ' (estimated from the last measured size)';
			}
			print(`    ${'baseline: queryDecisions, 50 decisions'.padEnd(42)} ${fmt(page, 2).padStart(10)} ms`);
			print(`    ${'baseline: full JSONL export'.padEnd(42)} ${fmt(exportMs, 0).padStart(10)} ms${exportNote}`);
			for (const [label, path] of [...views, ...recent(size)]) {
				const ms = await median(() => get(path));
				print(`    ${label.padEnd(42)} ${fmt(ms, 2).padStart(10)} ms   ${fmt(ms / page, 1).padStart(8)}× the page   ${fmt(ms / exportMs, 4).padStart(8)}× the export`);
			}
		}
	} finally {
		await server.close();
		await engine.close();
		rmSync(dir, { recursive: true, force: true });
	}
}

if (require.main === module) {
	benchConsole().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
