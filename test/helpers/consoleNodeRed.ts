/**
 * A real Node-RED runtime (its own process: Node-RED 5 loads node modules with import(), which jest's
 * sandbox cannot run) with the built package loaded from nodesDir, adminAuth on (an `admin` user and a
 * read-only `viewer`, same made-up password), admin root /admin, and nudge-engine config nodes on a
 * SQLite store holding the console's known decisions. For the console's mount and browser tests.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Decision } from '../../engine/audit/schema';
import { SqliteStore } from '../../engine/store/sqlite';
import { builtIsFresh, startNodeRed } from './nodeRedRuntime';

/** The runtime loads dist/: a missing or stale build skips (loudly) instead of testing old code. */
export function builtConsoleIsFresh(): boolean {
	return builtIsFresh(['nodes/node-red/shared/console.ts']);
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
	const runtime = await startNodeRed({
		userDir,
		flows: engines.map((e) => ({ ...e, type: 'nudge-engine', name: `Acme ${e.id}`, policy: '' })),
		credentials: Object.fromEntries(engines.map((e) => [e.id, { storeUrl: `sqlite:${db}` }])),
		settings: {
			httpAdminRoot: '/admin',
			httpNodeRoot: '/api',
			adminAuth: {
				type: 'credentials',
				users: [
					{ username: 'admin', password: bcrypt.hashSync(password, 8), permissions: '*' },
					{ username: 'viewer', password: bcrypt.hashSync(password, 8), permissions: 'read' },
				],
			},
		},
	});
	const base = `${runtime.origin}/admin`;
	return {
		base,
		login: (username, scope) =>
			fetch(`${base}/auth/token`, { method: 'POST', body: new URLSearchParams({ client_id: 'node-red-editor', grant_type: 'password', scope, username, password }) }),
		stop: runtime.stop,
	};
}
