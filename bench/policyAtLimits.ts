import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MAX_LIST, MAX_SUPPRESSED } from '../engine/policy/bounds';
import { policy } from './decide';
import { print } from './stats';

/**
 * Policies at the schema's bounds, for `bench/sqlitePath` (BENCH_POLICY=<file>): what a decision costs when a policy
 * is as large as it may be. None of their rules stops the benchmark's messages, so every decision is still sent.
 *
 *   node dist/bench/policyAtLimits.js <dir>   writes into <dir>:
 *   - policy-suppression.json: bench/decide's policy with full suppression lists (no contact of the run on them);
 *   - policy-scoped.json: every other rule list full, each rule scoped to other journeys or channels;
 *   - policy-global.json: the same, with the quiet hours and negative triggers applying to every message.
 */
const n = <T>(count: number, item: (i: number) => T): T[] => Array.from({ length: count }, (_, i) => item(i));

function rulesAtLimits(global: boolean) {
	// Quiet hours three to four hours ahead (UTC, bench/decide's contacts' zone): never in force during a run.
	const hour = String((new Date().getUTCHours() + 3) % 24).padStart(2, '0');
	const campaigns = n(MAX_LIST - 1, (i) => `campaign-${i}`);
	return {
		...policy,
		journeys: { ...policy.journeys, ...Object.fromEntries(campaigns.map((c, i) => [c, { triggers: [`Campaign ${i} Started`] }])) },
		caps: [...policy.caps, ...campaigns.slice(0, MAX_LIST - policy.caps.length).map((c) => ({ id: `${c}-daily`, scope: { kind: 'journey', journey: c }, limit: 3, window: { kind: 'rolling', duration: '24h' } }))],
		quietHours: n(MAX_LIST, (i) => ({ id: `quiet-${i}`, ...(global ? {} : { channels: ['sms'] }), start: `${hour}:00`, end: `${hour}:59` })),
		negativeTriggers: n(MAX_LIST, (i) => ({ id: `pause-${i}`, events: [`Ticket ${i} Opened`], clearedBy: [`Ticket ${i} Closed`], ...(global ? {} : { journeys: [campaigns[i % campaigns.length]] }) })),
		review: n(MAX_LIST, (i) => ({ id: `review-${i}`, when: { field: 'traits.accountValue', op: 'gte', value: 1e9 + i }, journeys: [campaigns[i % campaigns.length]] })),
	};
}

export function writePoliciesAtLimits(dir: string): string[] {
	const suppression = {
		emails: n(MAX_SUPPRESSED, (i) => `Former.Customer${i}@Example.org`),
		domains: n(MAX_SUPPRESSED / 10, (i) => `rival${i}.com`),
		userIds: n(MAX_SUPPRESSED / 5, (i) => `legal-hold-${i}`),
	};
	const files: [string, unknown][] = [
		['policy-suppression.json', { ...policy, suppression }],
		['policy-scoped.json', rulesAtLimits(false)],
		['policy-global.json', rulesAtLimits(true)],
	];
	return files.map(([name, body]) => {
		const path = join(dir, name);
		writeFileSync(path, JSON.stringify(body));
		return path;
	});
}

if (require.main === module) {
	const dir = resolve(process.argv[2] ?? '.');
	for (const path of writePoliciesAtLimits(dir)) print(`BENCH_POLICY=${path} BENCH_DECISIONS=2000 node dist/bench/sqlitePath.js`);
}
