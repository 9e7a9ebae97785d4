import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fmt, percentile, print } from './stats';

/**
 * Start-up cost of the nodes: each node file is required in a fresh Node.js process (as n8n and
 * Node-RED load them), timed around the `require`, and the vendor clients and database drivers it pulled
 * in are listed. The baseline, in the same run, is a fresh process requiring luxon alone (a small pure-JS
 * library every node needs), so the ratio says how many times a plain library each node costs.
 */
const RUNS = Number(process.env.BENCH_LOAD_RUNS ?? 7);
const BACKENDS = ['ioredis', 'pg', 'jsforce', '@hubspot/api-client', '@segment/analytics-node'];

const PROBE = `
const started = process.hrtime.bigint();
require(process.argv[1]);
const ms = Number(process.hrtime.bigint() - started) / 1e6;
const loaded = ${JSON.stringify(BACKENDS)}.filter((name) => Object.keys(require.cache).some((p) => p.includes('/node_modules/' + name + '/')));
process.stdout.write(JSON.stringify({ ms, loaded }));
`;

async function loadOnce(file: string): Promise<{ ms: number; loaded: string[] }> {
	const { execFileSync } = await import('node:child_process');
	return JSON.parse(execFileSync(process.execPath, ['-e', PROBE, file], { encoding: 'utf8' })) as { ms: number; loaded: string[] };
}

/** Median of RUNS fresh processes, runs of all files interleaved so a burst of load hits them alike. */
async function measure(files: string[]): Promise<Map<string, { ms: number; loaded: string[] }>> {
	const times = new Map(files.map((f) => [f, [] as number[]]));
	const loaded = new Map<string, string[]>();
	for (let run = 0; run < RUNS; run++) {
		for (const file of files) {
			const r = await loadOnce(file);
			times.get(file)!.push(r.ms);
			loaded.set(file, r.loaded);
		}
	}
	return new Map(files.map((f) => [f, { ms: percentile(times.get(f)!.sort((a, b) => a - b), 50), loaded: loaded.get(f)! }]));
}

export async function benchLoad(): Promise<void> {
	const root = join(__dirname, '..');
	const n8n = readdirSync(join(root, 'nodes/n8n'))
		.filter((d) => d.startsWith('Nudge'))
		.map((d) => join(root, 'nodes/n8n', d, `${d}.node.js`));
	const red = readdirSync(join(root, 'nodes/node-red'))
		.filter((f) => f.endsWith('.js'))
		.map((f) => join(root, 'nodes/node-red', f));
	const baseline = require.resolve('luxon');
	const results = await measure([baseline, ...n8n, ...red]);
	const base = results.get(baseline)!.ms;
	print(`bench/load: require time of each node file in a fresh process, median of ${RUNS}; baseline: luxon alone`);
	print(`  ${'luxon (baseline)'.padEnd(44)} ${fmt(base).padStart(8)} ms`);
	for (const file of [...n8n, ...red]) {
		const r = results.get(file)!;
		const name = file.slice(root.length + 1);
		print(`  ${name.padEnd(44)} ${fmt(r.ms).padStart(8)} ms   ×${fmt(r.ms / base, 1).padStart(5)}   backends loaded: ${r.loaded.join(', ') || 'none'}`);
	}
}

if (require.main === module) {
	benchLoad().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
