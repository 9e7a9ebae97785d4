import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { DecisionConsole } from '../../engine/audit/queries';
import { startConsoleServer } from '../../console/server';
import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { MemoryStore } from '../../engine/store/memory';
import { SqliteStore } from '../../engine/store/sqlite';
import { knownDecisions } from '../helpers/consoleDecisions';
import { tempDir } from '../helpers/fixtures';
import { postgresStore } from '../helpers/rawStores';
import { describeWithServer, TEST_POSTGRES_URL } from '../helpers/services';

/** An access token made up per test run. */
const TOKEN = randomBytes(18).toString('base64url');

async function filledConsole(): Promise<DecisionConsole> {
	const store = new MemoryStore();
	for (const d of knownDecisions()) await store.putDecision(d);
	return new DecisionConsole(new Engine({ store }));
}

describe('console HTTP server on loopback (no token)', () => {
	let url: string;
	let dc: DecisionConsole;
	let close: () => Promise<void>;
	beforeAll(async () => {
		dc = await filledConsole();
		({ url, close } = await startConsoleServer({ console: dc, port: 0 }));
	});
	afterAll(async () => {
		await close();
	});
	const get = (path: string, init?: RequestInit) => fetch(new URL(path, url), init);

	test('binds 127.0.0.1 and serves the page, its script and chart.js from the installed package', async () => {
		expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
		const page = await get('/');
		expect(page.status).toBe(200);
		expect(page.headers.get('content-type')).toMatch(/text\/html/);
		const html = await page.text();
		expect(html).toContain('<script src="vendor/chart.umd.min.js"');
		expect(html).not.toMatch(/https?:\/\//);
		const chart = await get('/vendor/chart.umd.min.js');
		expect(chart.status).toBe(200);
		expect(await chart.text()).toMatch(/Chart\.js v4\.6\.1/);
		expect((await get('/app.js')).status).toBe(200);
	});

	test('each view is the query API result as JSON', async () => {
		expect(await (await get('/api/totals?journey=cart')).json()).toEqual(await dc.totals({ journey: 'cart' }));
		expect(await (await get('/api/funnel')).json()).toEqual(await dc.funnel({}));
		expect(await (await get('/api/caps')).json()).toEqual(await dc.capHits({}));
		expect(await (await get('/api/lift')).json()).toEqual(JSON.parse(JSON.stringify(await dc.lift({}))));
		const page = (await (await get('/api/decisions?limit=2&reason=FREQUENCY_CAP')).json()) as { rows: { decisionId: string }[]; next?: string };
		expect(page.rows.map((r) => r.decisionId)).toEqual(['d7', 'd2']);
		expect(page.next).toBeUndefined();
		const one = (await (await get('/api/decisions/d2')).json()) as { decision: { decisionId: string; reason: string } };
		expect(one.decision).toMatchObject({ decisionId: 'd2', reason: 'FREQUENCY_CAP' });
	});

	test('a bad filter is a 400 with a message a marketer can act on; unknown things are 404; writes are 405', async () => {
		const bad = await get('/api/decisions?reason=CAPPED');
		expect(bad.status).toBe(400);
		const body = (await bad.json()) as { error: string; code: string };
		expect(body.code).toBe('INVALID_INPUT');
		expect(body.error).toMatch(/^Bad filter: reason: reason must be one of FREQUENCY_CAP/);
		const badDate = await get('/api/suppressions?from=last%20week');
		expect(badDate.status).toBe(400);
		expect(((await badDate.json()) as { error: string }).error).toMatch(/from must be a date or date-time/);
		expect((await get('/api/decisions/d_missing')).status).toBe(404);
		expect((await get('/api/everything')).status).toBe(404);
		expect((await get('/api/totals', { method: 'POST' })).status).toBe(405);
	});
});

/** A GET over real HTTP with the Host header a browser would send for `host` (fetch does not let a page forge it). */
function getWithHost(url: string, path: string, host: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
	return new Promise((resolve, reject) => {
		request(new URL(path, url), { headers: { ...headers, host } }, (res) => {
			let body = '';
			res.on('data', (chunk: Buffer) => (body += chunk.toString()));
			res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
		})
			.on('error', reject)
			.end();
	});
}

describe('console HTTP server: what a request may contain', () => {
	let url: string;
	let close: () => Promise<void>;
	beforeAll(async () => {
		({ url, close } = await startConsoleServer({ console: await filledConsole(), port: 0 }));
	});
	afterAll(() => close());

	test('malformed percent-encoding is a 400 naming the parameter (or the path), not a 500', async () => {
		const query = await fetch(new URL('/api/decisions?contact=%E0%A4%A', url));
		expect(query.status).toBe(400);
		expect(((await query.json()) as { error: string }).error).toMatch(/^The query parameter "contact" is not valid percent-encoding .*encodeURIComponent/);
		const path = await fetch(new URL('/api/decisions/%E0%A4%A', url));
		expect(path.status).toBe(400);
		expect(((await path.json()) as { error: string }).error).toMatch(/^The decision id in the path is not valid percent-encoding/);
		expect((await fetch(new URL('/api/decisions?contact=ana%40example.com', url))).status).toBe(200);
	});

	test('an out-of-range date is a 400 naming the parameter and the accepted range', async () => {
		for (const query of ['to=275760-01-01', 'from=2026-01-01&to=275760-01-01']) {
			const res = await fetch(new URL(`/api/totals?${query}`, url));
			expect(res.status).toBe(400);
			expect(((await res.json()) as { error: string }).error).toMatch(/^Bad filter: to: to must be a date .* between 1970-01-01 and 9999-12-31, not "275760-01-01"$/);
		}
	});

	test('answers only to loopback host names: a DNS-rebinding page (any other Host) gets 421', async () => {
		const port = new URL(url).port;
		for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST.:${port}`, `[::1]:${port}`, 'localhost']) {
			expect(await getWithHost(url, '/api/totals', host)).toMatchObject({ status: 200 });
		}
		for (const host of [`attacker.example:${port}`, `127.0.0.1.attacker.example:${port}`, 'nudge.example.com']) {
			const res = await getWithHost(url, '/api/totals', host);
			expect(res.status).toBe(421);
			expect(JSON.parse(res.body).error).toMatch(/does not answer to the host name .*--public-host/);
			expect(res.body).not.toMatch(/"total"/);
		}
		expect((await getWithHost(url, '/', `attacker.example:${port}`)).status).toBe(421);
	});
});

describe('console HTTP server bound elsewhere', () => {
	test('bound to all interfaces it answers to loopback names and the configured public hosts only', async () => {
		const { url, close } = await startConsoleServer({ console: await filledConsole(), host: '0.0.0.0', port: 0, token: TOKEN, publicHosts: ['Nudge.Example.com'] });
		try {
			// The link names the first public host (0.0.0.0 is no name a browser can ask for).
			expect(new URL(url).hostname).toBe('nudge.example.com');
			const base = `http://127.0.0.1:${new URL(url).port}/`;
			const auth = { authorization: `Bearer ${TOKEN}` };
			expect((await getWithHost(base, '/api/totals', 'nudge.example.com:8443', auth)).status).toBe(200);
			expect((await getWithHost(base, '/api/totals', `localhost:${new URL(base).port}`, auth)).status).toBe(200);
			expect((await getWithHost(base, '/api/totals', 'evil.example.com', auth)).status).toBe(421);
		} finally {
			await close();
		}
	});

	test('bound to one address it also answers to that address', async () => {
		const { url, close } = await startConsoleServer({ console: await filledConsole(), host: '127.0.0.2', port: 0, token: TOKEN });
		try {
			const base = url.split('#')[0];
			expect((await getWithHost(base, '/api/totals', new URL(base).host, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
			expect((await getWithHost(base, '/api/totals', 'evil.example.com', { authorization: `Bearer ${TOKEN}` })).status).toBe(421);
		} finally {
			await close();
		}
	});

	test('refuses to start without a token, or with a short one', async () => {
		const dc = await filledConsole();
		await expect(startConsoleServer({ console: dc, host: '0.0.0.0', port: 0 })).rejects.toThrow(/bound to 0\.0\.0\.0 .* needs an access token/);
		await expect(startConsoleServer({ console: dc, host: '0.0.0.0', port: 0, token: 'short' })).rejects.toThrow(/at least 16 characters/);
	});

	test('every API call needs the token (header or query); the page shell, which holds no data, does not', async () => {
		const dc = await filledConsole();
		const { url, close } = await startConsoleServer({ console: dc, host: '0.0.0.0', port: 0, token: TOKEN });
		try {
			expect(url).toBe(`${url.split('#')[0]}#token=${TOKEN}`);
			// No public host given: the link names 127.0.0.1 (0.0.0.0 is no name a browser can ask for).
			expect(new URL(url).hostname).toBe('127.0.0.1');
			const base = `http://127.0.0.1:${new URL(url).port}/`;
			const none = await fetch(`${base}api/totals`);
			expect(none.status).toBe(401);
			expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
			expect(((await none.json()) as { error: string }).error).toMatch(/needs its access token/);
			expect((await fetch(`${base}api/totals`, { headers: { authorization: 'Bearer wrong-token-wrong-token!!' } })).status).toBe(401);
			expect((await fetch(`${base}api/decisions/d1`)).status).toBe(401);
			const ok = await fetch(`${base}api/totals`, { headers: { authorization: `Bearer ${TOKEN}` } });
			expect(ok.status).toBe(200);
			expect(((await ok.json()) as { total: number }).total).toBe(7);
			expect((await fetch(`${base}api/totals?token=${TOKEN}`)).status).toBe(200);
			expect((await fetch(base)).status).toBe(200);
		} finally {
			await close();
		}
	});
});

describe('console HTTP server: the Authorization header', () => {
	test('the token is accepted with the auth scheme in any case (authorization: bearer …)', async () => {
		const { url, close } = await startConsoleServer({ console: await filledConsole(), port: 0, token: TOKEN });
		try {
			const base = url.split('#')[0];
			for (const scheme of ['Bearer', 'bearer', 'BEARER']) expect((await fetch(`${base}api/totals`, { headers: { authorization: `${scheme} ${TOKEN}` } })).status).toBe(200);
			expect((await fetch(`${base}api/totals`, { headers: { authorization: `Basic ${TOKEN}` } })).status).toBe(401);
			expect((await fetch(`${base}api/totals`, { headers: { authorization: `bearer${TOKEN}` } })).status).toBe(401);
		} finally {
			await close();
		}
	});
});

describeWithServer('PostgreSQL', TEST_POSTGRES_URL)('console HTTP server on PostgreSQL: text no store can keep', () => {
	test('a NUL character in a console filter, cursor or decision id is a 400 naming the parameter, not a 503', async () => {
		const engine = new Engine({ store: postgresStore('consolenul'), policy: loadPolicy(DEFAULT_POLICY) });
		await engine.decide({ type: 'track', name: 'Demo Requested', identities: { email: 'pg@example.org' } }, { journey: 'nurture', target: { dryRun: true } });
		const { url, close } = await startConsoleServer({ console: new DecisionConsole(engine), port: 0 });
		const cursor = Buffer.from('2026-11-20T08:00:00.000Z|d\u0000x').toString('base64url');
		try {
			for (const [path, names] of [
				['api/decisions?journey=%00', /^Bad filter: journey: contains a NUL character/],
				['api/totals?contact=c%00x', /^Bad filter: contact: contains a NUL character/],
				[`api/decisions?cursor=${cursor}`, /^cursor is not a page cursor/],
				['api/decisions/d%00x', /^The decision id contains a NUL character/],
			] as const) {
				const res = await fetch(new URL(path, url));
				const body = (await res.json()) as { code: string; error: string };
				expect({ path, status: res.status, code: body.code }).toEqual({ path, status: 400, code: 'INVALID_INPUT' });
				expect(body.error).toMatch(names);
			}
		} finally {
			await close();
			await engine.close();
		}
	});
});

describe('nudge console (the built CLI)', () => {
	const cli = join(__dirname, '..', '..', 'dist', 'cli', 'nudge.js');
	const maybe = existsSync(cli) ? test : test.skip;
	if (!existsSync(cli)) process.stderr.write('\n*** dist/cli/nudge.js is missing (run npm run build): the nudge console CLI test is SKIPPED ***\n\n');

	maybe('the build ships the page: dist/console/public holds the same files as console/public', () => {
		const source = join(__dirname, '..', '..', 'console', 'public');
		const built = join(__dirname, '..', '..', 'dist', 'console', 'public');
		const files = readdirSync(source).sort();
		expect(files).toEqual(['app.js', 'index.html', 'style.css']);
		expect(readdirSync(built).sort()).toEqual(files);
		for (const f of files) expect(readFileSync(join(built, f), 'utf8')).toBe(readFileSync(join(source, f), 'utf8'));
		const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { files: string[]; dependencies: Record<string, string> };
		expect(pkg.files).toContain('dist');
		expect(pkg.dependencies['chart.js']).toBe('4.6.1');
	});

	maybe('serves a SQLite store on loopback, prints its link and the PII notice, and stops on SIGTERM', async () => {
		const file = join(tempDir(), 'cli.db');
		const store = new SqliteStore(file);
		for (const d of knownDecisions()) await store.putDecision(d);
		await store.close();
		const child = spawn(process.execPath, [cli, 'console', '--store', file, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '';
		child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
		try {
			for (let i = 0; i < 100 && !/Ctrl\+C/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
			const link = out.match(/(http:\/\/127\.0\.0\.1:\d+\/)/)?.[1];
			expect(link).toBeDefined();
			expect(out).toMatch(/Personal data is redacted/);
			expect(await (await fetch(`${link}api/totals`)).json()).toEqual({ total: 7, byStatus: { delayed: 1, pending: 1, sent: 2, suppressed: 2 }, profileOnly: 0, holdout: 1, policyVersions: [{ version: 'default@test', n: 7 }] });
		} finally {
			child.kill('SIGTERM');
			await new Promise((r) => child.once('exit', r));
		}
	});

	maybe('bound elsewhere without --token it makes one up and puts it in the link', async () => {
		const child = spawn(process.execPath, [cli, 'console', '--store', 'memory:', '--host', '0.0.0.0', '--port', '0', '--public-host', 'nudge.example.com'], { stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '';
		child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
		try {
			for (let i = 0; i < 100 && !/Ctrl\+C/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
			const [, port, token] = out.match(/http:\/\/nudge\.example\.com:(\d+)\/#token=([\w-]+)/) ?? [];
			expect(token?.length).toBeGreaterThanOrEqual(32);
			expect((await fetch(`http://127.0.0.1:${port}/api/totals`)).status).toBe(401);
			expect((await fetch(`http://127.0.0.1:${port}/api/totals`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
			// --public-host names the host it is reached by; any other is refused.
			expect((await getWithHost(`http://127.0.0.1:${port}/`, '/api/totals', 'nudge.example.com', { authorization: `Bearer ${token}` })).status).toBe(200);
			expect((await getWithHost(`http://127.0.0.1:${port}/`, '/api/totals', 'other.example.com', { authorization: `Bearer ${token}` })).status).toBe(421);
		} finally {
			child.kill('SIGTERM');
			await new Promise((r) => child.once('exit', r));
		}
	});
});
