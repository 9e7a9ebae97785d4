/**
 * The packed package installs as the README says (docs/install.md): with a plain `npm install <tgz>` in
 * n8n's nodes folder, and by unpacking it there and installing its runtime dependencies only. Neither may
 * bring a second n8n-workflow (n8n's `instanceof` checks would then fail; Node-RED users would get
 * isolated-vm and hundreds of MB): the peer is optional. Uses the built dist/ (npm run build first).
 */
import { spawnSync, SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { SqliteStore } from '../../engine/store/sqlite';
import { tempDir as newTempDir } from '../helpers/fixtures';

const ROOT = resolve(__dirname, '../..');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
	version: string;
	n8n: { nodes: string[]; credentials: string[] };
	'node-red': { nodes: Record<string, string> };
};
/** npm's cache is warm for the runtime dependencies; the network is asked only for what is missing. */
const NPM_INSTALL = ['install', '--no-audit', '--no-fund', '--prefer-offline'];

/** Each install is about 200 MB: removed after the tests. */
const made: string[] = [];
function tempDir(): string {
	made.push(newTempDir('nudge-install-'));
	return made[made.length - 1];
}
afterAll(() => {
	for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function run(command: string, args: string[], options: SpawnSyncOptions = {}): string {
	const result = spawnSync(command, args, { encoding: 'utf8', timeout: 240_000, ...options });
	if (result.error || result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stderr}`);
	return String(result.stdout);
}

/**
 * Loads what n8n and Node-RED load from the installed package, in a fresh process: each n8n node and
 * credential with n8n's own n8n-workflow on NODE_PATH (as n8n starts community packages), each Node-RED
 * node registered with a stand-in RED without it, and the CLI. Prints what it found as JSON.
 */
function loadInstalled(packageDir: string): { n8nNodes: string[]; credentials: string[]; nodeRedTypes: string[]; version: string } {
	const script = `
		const { join } = require('node:path');
		const pkg = require(join(${JSON.stringify(packageDir)}, 'package.json'));
		const at = (file) => join(${JSON.stringify(packageDir)}, file);
		const nodeRedTypes = [];
		const anything = new Proxy(function () {}, { get: (_, key) => (key === 'then' ? undefined : anything), apply: () => anything });
		const RED = new Proxy({ nodes: new Proxy({ registerType: (type) => nodeRedTypes.push(type) }, { get: (t, k) => t[k] ?? anything }), settings: {} }, { get: (t, k) => t[k] ?? anything });
		for (const file of Object.values(pkg['node-red'].nodes)) require(at(file))(RED);
		process.stdout.write(JSON.stringify({ nodeRedTypes }));
	`;
	const n8nScript = `
		const { join } = require('node:path');
		const pkg = require(join(${JSON.stringify(packageDir)}, 'package.json'));
		const at = (file) => join(${JSON.stringify(packageDir)}, file);
		const firstExport = (file) => Object.values(require(at(file)))[0];
		const n8nNodes = pkg.n8n.nodes.map((file) => new (firstExport(file))().description.name);
		const credentials = pkg.n8n.credentials.map((file) => new (firstExport(file))().name);
		process.stdout.write(JSON.stringify({ n8nNodes, credentials }));
	`;
	const env = { ...process.env, NODE_PATH: '' };
	// Node-RED has no n8n-workflow: its nodes must load without one.
	const nodeRed = JSON.parse(run(process.execPath, ['-e', script], { env }));
	// n8n puts its own module paths on NODE_PATH, so a community package finds n8n's n8n-workflow.
	const n8n = JSON.parse(run(process.execPath, ['-e', n8nScript], { env: { ...env, NODE_PATH: join(ROOT, 'node_modules') } }));
	const version = run(process.execPath, [join(packageDir, 'dist/cli/nudge.js'), '--version'], { env }).trim();
	return { ...n8n, ...nodeRed, version };
}

function expectLoads(packageDir: string): void {
	const loaded = loadInstalled(packageDir);
	expect(loaded.n8nNodes).toHaveLength(PKG.n8n.nodes.length);
	expect(loaded.n8nNodes).toEqual(expect.arrayContaining(['nudgeTrigger', 'nudgeScore', 'nudgeSend', 'nudgeLogDecision']));
	expect(loaded.credentials).toEqual(expect.arrayContaining(['nudgeEngineApi']));
	expect(loaded.credentials).toHaveLength(PKG.n8n.credentials.length);
	expect(new Set(loaded.nodeRedTypes)).toEqual(new Set(Object.keys(PKG['node-red'].nodes)));
	expect(loaded.version).toBe(PKG.version);
}

describe('installing the packed package', () => {
	let tarball: string;
	/** The package unpacked with its runtime dependencies only (the second test). */
	let installed: string | undefined;
	beforeAll(() => {
		const into = tempDir();
		const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', into], { cwd: ROOT })) as { filename: string; files: { path: string }[] }[];
		tarball = join(into, packed.filename);
		// The docs and the licence travel with the package (the README links to docs/).
		const files = packed.files.map((f) => f.path);
		expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'docs/install.md', 'docs/n8n-verification.md', 'flows/policies/journeys.json']));
	}, 120_000);

	test('npm install <tgz> in ~/.n8n/nodes installs no n8n-workflow, and the n8n and Node-RED nodes load', () => {
		const nodesDir = tempDir();
		writeFileSync(join(nodesDir, 'package.json'), JSON.stringify({ name: 'installed-nodes', private: true }));
		run('npm', [...NPM_INSTALL, tarball], { cwd: nodesDir });
		expect(existsSync(join(nodesDir, 'node_modules/n8n-workflow'))).toBe(false);
		expect(existsSync(join(nodesDir, 'node_modules/isolated-vm'))).toBe(false);
		expectLoads(join(nodesDir, 'node_modules/n8n-nodes-nudge'));
	}, 300_000);

	test('unpacked into nodes/node_modules/n8n-nodes-nudge with its runtime dependencies only: no n8n-workflow, the nodes load', () => {
		const packageDir = join(tempDir(), 'nodes/node_modules/n8n-nodes-nudge');
		mkdirSync(packageDir, { recursive: true });
		run('tar', ['-xzf', tarball, '-C', packageDir, '--strip-components=1']);
		run('npm', [...NPM_INSTALL, '--omit=dev', '--omit=peer', '--ignore-scripts'], { cwd: packageDir });
		expect(existsSync(join(packageDir, 'node_modules/n8n-workflow'))).toBe(false);
		expect(existsSync(join(packageDir, 'node_modules/jest'))).toBe(false);
		expect(existsSync(join(packageDir, 'node_modules/ioredis'))).toBe(true);
		expectLoads(packageDir);
		installed = packageDir;
	}, 300_000);

	/**
	 * The installed CLI (runtime dependencies only) as an operator and an AI agent use it: `nudge mcp` over stdio takes
	 * an agent's action through the guardrails into the store, then `nudge export --contact` answers the person's access
	 * request and `nudge erase --suppress` their erasure.
	 */
	test('the installed nudge CLI serves an agent over MCP, exports and erases a contact', async () => {
		expect(installed).toBeDefined();
		const cli = join(installed!, 'dist/cli/nudge.js');
		const dir = tempDir();
		const db = join(dir, 'nudge.db');
		const seeding = new Engine({ store: new SqliteStore(db), policy: loadPolicy(DEFAULT_POLICY) });
		await seeding.ingest({ type: 'identify', identities: { email: 'ana@example.com' }, traits: { consent: { email: 'opted_in' } } });
		await seeding.close();
		const client = new Client({ name: 'installed-agent', version: '1.0.0' });
		await client.connect(new StdioClientTransport({ command: process.execPath, args: [cli, 'mcp', '--store', db, '--agent-id', 'winback'], stderr: 'pipe', env: { PATH: process.env.PATH ?? '' } }));
		const tools = (await client.listTools()).tools.map((t) => t.name);
		const action = { idempotencyKey: 'winback-ana', contact: 'ana@example.com', channel: 'email', message: { category: 'promotional', subject: 'We miss you', text: 'Come back' } };
		const verdict = (await client.callTool({ name: 'request_action', arguments: action })).structuredContent as { verdict: string; decisionId: string };
		await client.close();
		expect(tools).toEqual(expect.arrayContaining(['lookup_contact', 'request_action', 'record_outcome', 'explain_decision']));
		expect(verdict.verdict).toBe('allow');
		const exported = JSON.parse(run(process.execPath, [cli, 'export', '--email', 'ana@example.com', '--store', db])) as { decisions: { decisionId: string; agent?: { agentId: string } }[] };
		// The identify's decision, and the agent's action.
		expect(exported.decisions.map((d) => d.agent?.agentId ?? 'event')).toEqual(['event', 'winback']);
		expect(exported.decisions[1].decisionId).toBe(verdict.decisionId);
		const receipt = JSON.parse(run(process.execPath, [cli, 'erase', '--email', 'ana@example.com', '--store', db, '--suppress'])) as { suppressed: boolean; counts: { profiles: number; decisions: number } };
		expect(receipt).toMatchObject({ suppressed: true, counts: { profiles: 1, decisions: 2 } });
		const after = spawnSync(process.execPath, [cli, 'export', '--email', 'ana@example.com', '--store', db], { encoding: 'utf8' });
		expect({ failed: after.status !== 0, said: /No contact/.test(after.stderr) }).toEqual({ failed: true, said: true });
	}, 120_000);
});
