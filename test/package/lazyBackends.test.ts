/**
 * n8n loads every node of the package when it starts, and Node-RED every node file: a node must not load the
 * database drivers and vendor clients it may never use. Each is required where it is first used
 * (bench/load measures what that saves). Runs the built nodes in a fresh process, as n8n and Node-RED do.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const BACKENDS = ['undici', 'ioredis', 'pg', 'jsforce', '@hubspot/api-client', '@segment/analytics-node'];

/** The backend packages present in require.cache after the script ran. */
function backendsLoadedBy(script: string): string[] {
	const probe = `(async () => {
${script}
const loaded = ${JSON.stringify(BACKENDS)}.filter((name) => Object.keys(require.cache).some((p) => p.includes('/node_modules/' + name + '/')));
process.stdout.write(JSON.stringify(loaded));
process.exit(0);
})();`;
	const result = spawnSync(process.execPath, ['-e', probe], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
	if (result.status !== 0) throw new Error(result.stderr);
	return JSON.parse(result.stdout) as string[];
}

describe('backends load on first use', () => {
	it.each([
		['the engine', 'dist/engine/index.js'],
		['the item handling', 'dist/engine/items/index.js'],
		['n8n Nudge Send', 'dist/nodes/n8n/NudgeSend/NudgeSend.node.js'],
		['n8n Nudge Poll Trigger', 'dist/nodes/n8n/NudgePollTrigger/NudgePollTrigger.node.js'],
		['Node-RED nudge-engine', 'dist/nodes/node-red/nudge-engine.js'],
		['Node-RED nudge-send', 'dist/nodes/node-red/nudge-send.js'],
		['Node-RED nudge-poll', 'dist/nodes/node-red/nudge-poll.js'],
	])('loading %s loads none of them', (_label, file) => {
		expect(backendsLoadedBy(`require(${JSON.stringify(join(ROOT, file))});`)).toEqual([]);
	});

	it('opening a Redis store or sending a webhook loads exactly what it uses', () => {
		const engine = JSON.stringify(join(ROOT, 'dist/engine/index.js'));
		const redis = backendsLoadedBy(`const e = require(${engine}); e.openStore('redis://127.0.0.1:1');`);
		expect(redis).toEqual(['ioredis']);
		const postgres = backendsLoadedBy(`const e = require(${engine}); e.openStore('postgres://127.0.0.1:1/x');`);
		expect(postgres).toEqual(['pg']);
		const webhook = backendsLoadedBy(`const e = require(${engine});
await e.postWebhook({ url: 'http://127.0.0.1:1/', maxAttempts: 1, timeoutMs: 500 }, { hello: 1 }, 'k');`);
		expect(webhook).toEqual(['undici']);
	});
});
