import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fmt, percentile, print } from './stats';

/**
 * Start-up cost of the nodes: each node file is required in a fresh Node.js process (as n8n and
 * Node-RED load them), timed around the `require`, and the vendor clients and database drivers it pulled
 * in are listed, with the number of the package's own modules it loaded. Each platform's whole package is
 * also required in one process, as its runtime does at start-up (one node file then shares the engine
 * another one loaded). The baseline, in the same run, is a fresh process requiring luxon alone (a small
 * pure-JS library every node needs), so the ratio says how many times a plain library each node costs.
 *
 * `node dist/bench/load.js [other build's dist]` measures a second build in the same run, interleaved.
 */
const RUNS = Number(process.env.BENCH_LOAD_RUNS ?? 7);
const BACKENDS = ['ioredis', 'pg', 'jsforce', '@hubspot/api-client', '@segment/analytics-node'];

const PROBE = `
const files = process.argv.slice(1);
const started = process.hrtime.bigint();
const cpuBefore = process.cpuUsage();
for (const file of files) require(file);
const ms = Number(process.hrtime.bigint() - started) / 1e6;
const cpuUsed = process.cpuUsage(cpuBefore);
const cpuMs = (cpuUsed.user + cpuUsed.system) / 1000;
const cached = Object.keys(require.cache);
const loaded = ${JSON.stringify(BACKENDS)}.filter((name) => cached.some((p) => p.includes('/node_modules/' + name + '/')));
const modules = cached.filter((p) => !p.includes('/node_modules/')).length;
process.stdout.write(JSON.stringify({ ms, cpuMs, loaded, modules }));
`;

interface Load {
	ms: number;
	/** CPU time (user + system) of the require: less moved than wall time by other work on the machine. */
	cpuMs: number;
	loaded: string[];
	modules: number;
}

async function loadOnce(files: string[]): Promise<Load> {
	const { execFileSync } = await import('node:child_process');
	return JSON.parse(execFileSync(process.execPath, ['-e', PROBE, ...files], { encoding: 'utf8' })) as Load;
}

/** Median of RUNS fresh processes per set of files, runs of all sets interleaved so a burst of load hits them alike. */
async function measure(sets: Map<string, string[]>): Promise<Map<string, Load>> {
	const runs = new Map([...sets.keys()].map((k) => [k, [] as Load[]]));
	for (let run = 0; run < RUNS; run++) {
		for (const [key, files] of sets) runs.get(key)!.push(await loadOnce(files));
	}
	const median = (values: number[]) => percentile(values.sort((a, b) => a - b), 50);
	return new Map(
		[...runs].map(([k, loads]) => [k, { ...loads[loads.length - 1], ms: median(loads.map((l) => l.ms)), cpuMs: median(loads.map((l) => l.cpuMs)) }]),
	);
}

/** The node files of a build (its dist folder), by name, and each platform's whole package. */
function nodeFiles(dist: string): Map<string, string[]> {
	const n8n = readdirSync(join(dist, 'nodes/n8n'))
		.filter((d) => d.startsWith('Nudge'))
		.map((d) => `nodes/n8n/${d}/${d}.node.js`);
	const red = readdirSync(join(dist, 'nodes/node-red'))
		.filter((f) => f.endsWith('.js'))
		.map((f) => `nodes/node-red/${f}`);
	const sets = new Map([...n8n, ...red].map((name) => [name, [join(dist, name)]]));
	sets.set('all n8n nodes, one process', n8n.map((name) => join(dist, name)));
	sets.set('all Node-RED nodes, one process', red.map((name) => join(dist, name)));
	return sets;
}

export async function benchLoad(builds: string[] = [join(__dirname, '..')]): Promise<void> {
	const baseline = require.resolve('luxon');
	const sets = new Map([['luxon (baseline)', [baseline]]]);
	const names = [...nodeFiles(builds[0]).keys()];
	for (const [b, dist] of builds.entries()) for (const [name, files] of nodeFiles(dist)) sets.set(`${b}\u0000${name}`, files);
	const results = await measure(sets);
	const base = results.get('luxon (baseline)')!;
	print(`bench/load: require time of each node file in a fresh process (wall and CPU ms), median of ${RUNS}; baseline: luxon alone, ${fmt(base.ms)} ms, ${fmt(base.cpuMs)} CPU ms`);
	for (const [b, dist] of builds.entries()) print(`  build ${b + 1}: ${dist}`);
	for (const name of names) {
		const cells = builds
			.map((_, b) => results.get(`${b}\u0000${name}`))
			.map((r) => (r ? `${fmt(r.ms).padStart(8)} ms ×${fmt(r.ms / base.ms, 1).padStart(5)} ${fmt(r.cpuMs).padStart(8)} CPU ms ×${fmt(r.cpuMs / base.cpuMs, 1).padStart(5)} ${String(r.modules).padStart(4)} modules` : ''.padStart(56)));
		const loaded = results.get(`0\u0000${name}`)!.loaded;
		print(`  ${name.padEnd(56)} ${cells.join('   ')}   backends loaded: ${loaded.join(', ') || 'none'}`);
	}
}

if (require.main === module) {
	const others = process.argv.slice(2).map((dist) => resolve(dist));
	benchLoad([join(__dirname, '..'), ...others]).catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
