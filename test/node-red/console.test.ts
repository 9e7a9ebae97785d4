/**
 * The decision console mounted in a real Node-RED runtime (the built package loaded from nodesDir, as a
 * user installs it) with adminAuth on: the JSON endpoints under <admin root>/nudge/api answer only to a
 * logged-in editor user, and read the engine of the deployed nudge-engine config node.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SqliteStore } from '../../engine/store/sqlite';
import { knownDecisions } from '../helpers/consoleDecisions';

const ROOT = path.join(__dirname, '..', '..');
const BUILT = path.join(ROOT, 'dist', 'nodes', 'node-red', 'shared', 'console.js');
const SOURCE = path.join(ROOT, 'nodes', 'node-red', 'shared', 'console.ts');

const redPath = require.resolve('node-red');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const bcrypt = require(require.resolve('bcryptjs', { paths: [path.dirname(redPath)] })) as { hashSync(p: string, rounds: number): string };

const fresh = existsSync(BUILT) && statSync(BUILT).mtimeMs >= statSync(SOURCE).mtimeMs;
const maybe = fresh ? describe : describe.skip;
if (!fresh) process.stderr.write('\n*** dist/ is missing or older than nodes/node-red/shared/console.ts (run npm run build): the Node-RED console mount test is SKIPPED ***\n\n');

maybe('decision console in Node-RED under the admin root, with adminAuth', () => {
	let runtime: ChildProcess;
	let base: string;
	/** The editor users' password, made up per test run. */
	const PASSWORD = randomBytes(12).toString('hex');

	beforeAll(async () => {
		const userDir = mkdtempSync(path.join(tmpdir(), 'nudge-nr-console-'));
		const db = path.join(userDir, 'console.db');
		const store = new SqliteStore(db);
		const decisions = knownDecisions();
		decisions[1].explanation = 'capped for dana@northwind.example';
		for (const d of decisions) await store.putDecision(d);
		await store.close();
		const flowFile = path.join(userDir, 'flows.json');
		writeFileSync(
			flowFile,
			JSON.stringify([
				{ id: 'eng1', type: 'nudge-engine', name: 'Acme', store: `sqlite:${db}`, policy: '', consoleRevealPii: false },
				{ id: 'eng2', type: 'nudge-engine', name: 'Acme (PII shown)', store: `sqlite:${db}`, policy: '', consoleRevealPii: true },
			]),
		);
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
					{ username: 'admin', password: bcrypt.hashSync(PASSWORD, 8), permissions: '*' },
					{ username: 'viewer', password: bcrypt.hashSync(PASSWORD, 8), permissions: 'read' },
				],
			},
			editorTheme: { tours: false, projects: { enabled: false } },
			telemetry: { enabled: false },
			diagnostics: { enabled: false },
			externalModules: { palette: { allowInstall: false } },
			logging: { console: { level: 'error', metrics: false, audit: false } },
		};
		// Node-RED 5 loads node modules with import(), which jest's sandbox cannot run: the runtime gets its own process.
		runtime = spawn(process.execPath, [path.join(__dirname, 'nodeRedProcess.js')], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NUDGE_NODE_RED_SETTINGS: JSON.stringify(settings) } });
		let out = '';
		const port = await new Promise<string>((resolve, reject) => {
			runtime.stdout!.on('data', (chunk: Buffer) => {
				out += chunk.toString();
				const m = out.match(/flows started on port (\d+)/);
				if (m) resolve(m[1]);
			});
			runtime.once('exit', (code) => reject(new Error(`Node-RED exited (${code}) before starting its flows: ${out}`)));
		});
		base = `http://127.0.0.1:${port}/admin`;
	}, 60_000);

	afterAll(async () => {
		if (!runtime || runtime.exitCode !== null) return;
		runtime.kill('SIGTERM');
		await new Promise((resolve) => runtime.once('exit', resolve));
	});

	/** The editor's own login: a password grant for the user's scope (a read-only user may only ask for `read`). */
	async function login(username: string, scope: string): Promise<string> {
		const res = await fetch(`${base}/auth/token`, {
			method: 'POST',
			body: new URLSearchParams({ client_id: 'node-red-editor', grant_type: 'password', scope, username, password: PASSWORD }),
		});
		expect({ status: res.status, body: res.status === 200 ? '' : await res.text() }).toEqual({ status: 200, body: '' });
		return ((await res.json()) as { access_token: string }).access_token;
	}

	test('without a login the data endpoints answer 401; the page shell (no data) loads and /nudge redirects to /nudge/', async () => {
		expect((await fetch(`${base}/nudge/api/totals`)).status).toBe(401);
		expect((await fetch(`${base}/nudge/api/decisions/d1`)).status).toBe(401);
		expect((await fetch(`${base}/nudge/api/totals`, { headers: { authorization: 'Bearer not-a-session' } })).status).toBe(401);
		const page = await fetch(`${base}/nudge/`);
		expect(page.status).toBe(200);
		expect(await page.text()).toContain('Nudge decision console');
		const bare = await fetch(`${base}/nudge`, { redirect: 'manual' });
		expect(bare.status).toBe(301);
		expect(bare.headers.get('location')).toBe('/admin/nudge/');
		// Anything else under /nudge passes on (the Nudge Trigger's /nudge/events when both roots are /).
		for (const [method, url] of [['POST', '/nudge/events'], ['GET', '/nudge/my-route'], ['POST', '/nudge/api/totals']]) {
			const other = await fetch(`${base}${url}`, { method });
			expect({ url, status: other.status }).toEqual({ url, status: 404 });
			expect(await other.text()).toMatch(new RegExp(`Cannot ${method} /admin${url}`));
		}
	});

	test('a logged-in editor user (and a read-only one) reads the deployed engine through the query API, PII redacted by default', async () => {
		for (const [user, scope] of [['admin', '*'], ['viewer', 'read']]) {
			const token = await login(user, scope);
			const headers = { authorization: `Bearer ${token}` };
			const totals = await fetch(`${base}/nudge/api/totals`, { headers });
			expect(totals.status).toBe(200);
			expect(await totals.json()).toEqual({ total: 7, byStatus: { delayed: 1, pending: 1, sent: 2, suppressed: 3 } });
			const meta = (await (await fetch(`${base}/nudge/api/meta?engine=eng1`, { headers })).json()) as { revealPii: boolean; store: string };
			expect(meta).toMatchObject({ revealPii: false, store: 'sqlite' });
			const d2 = (await (await fetch(`${base}/nudge/api/decisions/d2`, { headers })).json()) as { decision: { explanation: string } };
			expect(d2.decision.explanation).toBe('capped for [email redacted]');
			const bad = await fetch(`${base}/nudge/api/decisions?reason=NOPE`, { headers });
			expect(bad.status).toBe(400);
			const unknown = await fetch(`${base}/nudge/api/totals?engine=nope`, { headers });
			expect(unknown.status).toBe(404);
			expect(((await unknown.json()) as { error: string }).error).toMatch(/No Nudge engine config node with id nope/);
		}
	});

	test('the config node setting "show personal data" reveals it, for that engine only', async () => {
		const headers = { authorization: `Bearer ${await login('admin', '*')}` };
		const revealed = (await (await fetch(`${base}/nudge/api/decisions/d2?engine=eng2`, { headers })).json()) as { decision: { explanation: string } };
		expect(revealed.decision.explanation).toBe('capped for dana@northwind.example');
		expect(await (await fetch(`${base}/nudge/api/meta?engine=eng2`, { headers })).json()).toMatchObject({ revealPii: true });
		expect(await (await fetch(`${base}/nudge/api/meta?engine=eng1`, { headers })).json()).toMatchObject({ revealPii: false });
	});
});
