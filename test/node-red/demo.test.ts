/**
 * `npm start`: the built demo (dist/demo/start.js) as a child process on a free port, in a throwaway
 * home folder. It must start Node-RED with the nurture flow, feed the samples, print one line per
 * decision and a summary that agrees with the SQLite decision log it leaves behind, and be repeatable.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createEngine } from '../../engine/registry';

const ROOT = path.join(__dirname, '..', '..');
const DEMO = path.join(ROOT, 'dist', 'demo', 'start.js');
const SAMPLES = readFileSync(path.join(ROOT, 'flows', 'samples', 'nurture.jsonl'), 'utf8').split('\n').filter((l) => l.trim());

function sources(dir: string): string[] {
	return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
		e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
	);
}

/** The demo runs the compiled code: refuse to test a stale build rather than pass on old code. */
function assertFreshBuild(): void {
	const stale = ['demo', 'nodes/node-red', 'engine']
		.flatMap(sources)
		.filter((src) => {
			const out = path.join(ROOT, 'dist', src.replace(/\.ts$/, '.js'));
			return !existsSync(out) || statSync(out).mtimeMs < statSync(path.join(ROOT, src)).mtimeMs;
		});
	const copied = readdirSync(path.join(ROOT, 'nodes', 'node-red')).filter((f) => f.endsWith('.html'));
	for (const f of copied) {
		const out = path.join(ROOT, 'dist', 'nodes', 'node-red', f);
		if (!existsSync(out) || readFileSync(out, 'utf8') !== readFileSync(path.join(ROOT, 'nodes', 'node-red', f), 'utf8')) stale.push(`nodes/node-red/${f}`);
	}
	if (stale.length) throw new Error(`dist/ is out of date for ${stale.slice(0, 5).join(', ')}${stale.length > 5 ? '…' : ''}: run \`npm run build\` first (npm test does)`);
}

function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const srv = createServer();
		srv.once('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address() as { port: number };
			srv.close(() => resolve(port));
		});
	});
}

interface Run {
	code: number | null;
	stdout: string;
	stderr: string;
}

function runDemo(home: string, port: number, args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<Run> {
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, [DEMO, ...args], {
			cwd: ROOT,
			env: { ...process.env, HOME: home, PORT: String(port), NUDGE_DEMO_ONCE: '', ...env },
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		let stdout = '';
		let stderr = '';
		child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
		child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
		const timer = setTimeout(() => {
			child.kill('SIGKILL');
			reject(new Error(`demo did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`));
		}, timeoutMs);
		child.on('exit', (code) => {
			clearTimeout(timer);
			resolve({ code, stdout, stderr });
		});
	});
}

/** Counts from the summary block, e.g. "  sent         16  (email 12, sms 4)". */
function summary(stdout: string): { events: number; decisions: number; byStatus: Record<string, number>; detail: Record<string, number> } {
	const head = /Summary: (\d+) events, (\d+) decisions/.exec(stdout);
	if (!head) throw new Error(`no summary in:\n${stdout}`);
	const byStatus: Record<string, number> = {};
	const detail: Record<string, number> = {};
	for (const m of stdout.matchAll(/^ {2}(sent|suppressed|failed|pending) +(\d+)(?: {2}\((.*)\))?$/gm)) {
		byStatus[m[1]] = Number(m[2]);
		for (const part of (m[3] ?? '').split(', ').filter(Boolean)) {
			const [k, v] = part.split(' ');
			detail[k] = Number(v);
		}
	}
	return { events: Number(head[1]), decisions: Number(head[2]), byStatus, detail };
}

let home: string;
beforeAll(() => {
	assertFreshBuild();
	home = mkdtempSync(path.join(tmpdir(), 'nudge-demo-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('npm start (dist/demo/start.js)', () => {
	it('--once: streams the samples through the Node-RED flow and prints lines and a summary the store agrees with', async () => {
		const port = await freePort();
		const run = await runDemo(home, port, ['--once']);
		// Nothing went wrong (Node's own experimental-feature notices aside).
		expect(run.stderr.split('\n').filter((l) => l.trim() && !/ExperimentalWarning|--trace-warnings/.test(l))).toEqual([]);
		expect(run.code).toBe(0);
		const out = run.stdout;
		expect(out).toContain(`Posting ${SAMPLES.length} sample events (flows/samples/nurture.jsonl) to http://127.0.0.1:${port}/nudge/events, signed`);

		const lines = out.split('\n').filter((l) => /^ *\d+\. /.test(l));
		expect(lines).toHaveLength(SAMPLES.length);
		expect(lines.find((l) => l.includes('dana.whitfield@northwind.example') && l.includes('Demo Requested'))).toMatch(/sent +email +\(score 95, hot\)/);
		expect(lines.find((l) => l.includes('maya.chen@fernhill.example') && l.includes('identify'))).toMatch(/sent +sms/);
		expect(lines.filter((l) => l.includes('tom.ellis@quarry.example')).every((l) => /suppressed +NO_CONSENT/.test(l))).toBe(true);
		expect(lines.find((l) => l.includes('visitor anon-7f3c9a'))).toMatch(/suppressed +UNREACHABLE/);
		expect(lines.filter((l) => l.includes('ava.novak@parcel.example') && /FREQUENCY_CAP +\(email-daily\)/.test(l)).length).toBeGreaterThanOrEqual(3);
		expect(lines.find((l) => l.includes('maya.chen') && /FREQUENCY_CAP +\(all-weekly\)/.test(l))).toBeTruthy();
		expect(lines.filter((l) => /DUPLICATE_EVENT/.test(l))).toHaveLength(1);
		expect(out).toMatch(/click +recorded \(1 on the decision\)\n +conversion +recorded \(2 on the decision\)\n +click +already recorded, not counted twice/);
		expect(out).toContain(`Node-RED editor: http://127.0.0.1:${port}/`);

		const s = summary(out);
		expect(s.events).toBe(SAMPLES.length);
		expect(s.decisions).toBe(SAMPLES.length);
		expect(s.byStatus.sent + s.byStatus.suppressed + (s.byStatus.failed ?? 0)).toBe(s.decisions);
		expect(s.byStatus.failed).toBe(0);
		for (const reason of ['FREQUENCY_CAP', 'NO_CONSENT', 'UNREACHABLE', 'DUPLICATE_EVENT']) expect(s.detail[reason]).toBeGreaterThan(0);

		// The printed summary is what the decision log holds.
		const engine = createEngine({ store: `sqlite:${path.join(home, '.nudge', 'demo.db')}` });
		try {
			const all = await engine.queryDecisions({ limit: 1000 });
			expect(all).toHaveLength(s.decisions);
			expect(all.filter((d) => d.status === 'sent')).toHaveLength(s.byStatus.sent);
			expect(all.filter((d) => d.status === 'sent' && d.channel === 'email')).toHaveLength(s.detail.email);
			expect(all.filter((d) => d.reason === 'FREQUENCY_CAP')).toHaveLength(s.detail.FREQUENCY_CAP);
			expect(all.filter((d) => !d.loggedAt)).toEqual([]);
			expect(all.every((d) => d.annotations.campaign === 'nurture-example' || d.reason === 'DUPLICATE_EVENT')).toBe(true);
		} finally {
			await engine.close();
		}
	});

	it('is repeatable (fresh store each start) and NUDGE_DEMO_ONCE=1 works like --once', async () => {
		const first = await runDemo(home, await freePort(), ['--once']);
		const second = await runDemo(home, await freePort(), [], { NUDGE_DEMO_ONCE: '1' });
		expect(second.code).toBe(0);
		expect(summary(second.stdout)).toEqual(summary(first.stdout));
	});

	it('without --once keeps serving the Node-RED editor until interrupted', async () => {
		const port = await freePort();
		const child = spawn(process.execPath, [DEMO], { cwd: ROOT, env: { ...process.env, HOME: home, PORT: String(port), NUDGE_DEMO_ONCE: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
		let stdout = '';
		child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
		const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
		try {
			const until = Date.now() + 30_000;
			while (!stdout.includes('Press Ctrl-C to stop.') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
			expect(stdout).toContain('Press Ctrl-C to stop.');
			const editor = await fetch(`http://127.0.0.1:${port}/`);
			expect(editor.status).toBe(200);
			expect(await editor.text()).toMatch(/Node-RED/);
			const nodes = (await (await fetch(`http://127.0.0.1:${port}/nodes`, { headers: { accept: 'application/json' } })).json()) as Array<{ module: string; types: string[] }>;
			const nudge = nodes.filter((n) => n.module === 'n8n-nodes-nudge').flatMap((n) => n.types);
			// Every node type the package declares, and only those.
			const declared = JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
			expect(nudge.sort()).toEqual(Object.keys(declared['node-red'].nodes).sort());
			const examples = await fetch(`http://127.0.0.1:${port}/library/examples/flows/n8n-nodes-nudge`);
			expect(await examples.text()).toMatch(/nurture/);
		} finally {
			child.kill('SIGINT');
		}
		expect(await exited).toBe(0);
		expect(stdout).toContain('Stopping');
	});
});
