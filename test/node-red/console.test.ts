/**
 * The decision console mounted in a real Node-RED runtime (the built package loaded from nodesDir, as a
 * user installs it) with adminAuth on: the JSON endpoints under <admin root>/nudge/api answer only to a
 * logged-in editor user, and read the engine of the deployed nudge-engine config node.
 */
import { knownDecisions } from '../helpers/consoleDecisions';
import { builtConsoleIsFresh, ConsoleNodeRed, startConsoleNodeRed } from '../helpers/consoleNodeRed';

const maybe = builtConsoleIsFresh() ? describe : describe.skip;

maybe('decision console in Node-RED under the admin root, with adminAuth', () => {
	let nodeRed: ConsoleNodeRed;
	let base: string;

	beforeAll(async () => {
		nodeRed = await startConsoleNodeRed(knownDecisions(), [
			{ id: 'eng1', consoleRevealPii: false },
			{ id: 'eng2', consoleRevealPii: true },
		]);
		base = nodeRed.base;
	}, 60_000);

	afterAll(async () => {
		await nodeRed?.stop();
	});

	async function login(username: 'admin' | 'viewer', scope: string): Promise<string> {
		const res = await nodeRed.login(username, scope);
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
		for (const [user, scope] of [['admin', '*'], ['viewer', 'read']] as const) {
			const token = await login(user, scope);
			const headers = { authorization: `Bearer ${token}` };
			const totals = await fetch(`${base}/nudge/api/totals`, { headers });
			expect(totals.status).toBe(200);
			expect(await totals.json()).toEqual({ total: 7, byStatus: { delayed: 1, pending: 1, sent: 2, suppressed: 2 }, profileOnly: 0, holdout: 1, policyVersions: [{ version: 'default@test', n: 7 }] });
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
