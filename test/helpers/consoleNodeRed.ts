/**
 * A real Node-RED runtime (its own process: Node-RED 5 loads node modules with import(), which jest's
 * sandbox cannot run) with the built package loaded from nodesDir, adminAuth on (an `admin` user and a
 * read-only `viewer`, same made-up password), admin root /admin, and nudge-engine config nodes on a
 * SQLite store holding the console's known decisions. For the console's mount and browser tests.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Decision } from '../../engine/audit/schema';
import { SqliteStore } from '../../engine/store/sqlite';

const ROOT = path.join(__dirname, '..', '..');
const BUILT = path.join(ROOT, 'dist', 'nodes', 'node-red', 'shared', 'console.js');
const SOURCE = path.join(ROOT, 'nodes', 'node-red', 'shared', 'console.ts');

/** The runtime loads dist/: a missing or stale build skips (loudly) instead of testing old code. */
export function builtConsoleIsFresh(): boolean {
	const fresh = existsSync(BUILT) && statSync(BUILT).mtimeMs >= statSync(SOURCE).mtimeMs;
	if (!fresh) process.stderr.write('\n*** dist/ is missing or older than nodes/node-red/shared/console.ts (run npm run build): the Node-RED console tests are SKIPPED ***\n\n');
	return fresh;
}

export interface ConsoleNodeRed {
	/** http://127.0.0.1:<port>/admin */
	base: string;
	/** The editor's own login: a password grant for the user's scope (a read-only user may only ask for `read`). */
	login(username: 'admin' | 'viewer', scope: string): Promise<Response>;
	stop(): Promise<void>;
}

export async function startConsoleNodeRed(decisions: Decision[], engines: { id: string; consoleRevealPii: boolean }[]): Promise<ConsoleNodeRed> {
	const redPath = require.resolve('node-red');
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const bcrypt = require(require.resolve('bcryptjs', { paths: [path.dirname(redPath)] })) as { hashSync(p: string, rounds: number): string };
	const password = randomBytes(12).toString('hex');
	const userDir = mkdtempSync(path.join(tmpdir(), 'nudge-nr-console-'));
	const db = path.join(userDir, 'console.db');
	const store = new SqliteStore(db);
	for (const d of decisions) await store.putDecision(d);
	await store.close();
	const flowFile = path.join(userDir, 'flows.json');
	writeFileSync(flowFile, JSON.stringify(engines.map((e) => ({ ...e, type: 'nudge-engine', name: `Acme ${e.id}`, store: `sqlite:${db}`, policy: '' }))));
	const settings = {
		userDir,
		flowFile,
		nodesDir: [ROOT],
		credentialSecret: false,
		httpAdminRoot: '/admin',
		httpNodeRoot: '/api',
		adminAuth: {
			type: 'credentials',
			users: [
				{ username: 'admin', password: bcrypt.hashSync(password, 8), permissions: '*' },
				{ username: 'viewer', password: bcrypt.hashSync(password, 8), permissions: 'read' },
			],
		},
		editorTheme: { tours: false, projects: { enabled: false } },
		telemetry: { enabled: false },
		diagnostics: { enabled: false },
		externalModules: { palette: { allowInstall: false } },
		logging: { console: { level: 'error', metrics: false, audit: false } },
	};
	const runtime: ChildProcess = spawn(process.execPath, [path.join(__dirname, 'nodeRedProcess.js')], {
		stdio: ['ignore', 'pipe', 'inherit'],
		env: { ...process.env, NUDGE_NODE_RED_SETTINGS: JSON.stringify(settings) },
	});
	let out = '';
	const port = await new Promise<string>((resolve, reject) => {
		runtime.stdout!.on('data', (chunk: Buffer) => {
			out += chunk.toString();
			const m = out.match(/flows started on port (\d+)/);
			if (m) resolve(m[1]);
		});
		runtime.once('exit', (code) => reject(new Error(`Node-RED exited (${code}) before starting its flows: ${out}`)));
	});
	const base = `http://127.0.0.1:${port}/admin`;
	return {
		base,
		login: (username, scope) =>
			fetch(`${base}/auth/token`, { method: 'POST', body: new URLSearchParams({ client_id: 'node-red-editor', grant_type: 'password', scope, username, password }) }),
		stop: async () => {
			if (runtime.exitCode !== null) return;
			runtime.kill('SIGTERM');
			await new Promise((resolve) => runtime.once('exit', resolve));
		},
	};
}
