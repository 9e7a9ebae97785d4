/**
 * `npm start`: the built demo (dist/demo/start.js) as a child process on a free port, in a throwaway
 * home folder, as `npm start` runs it. It must start Node-RED with the three journey flows, play the
 * simulated contacts through them, print one line per decision and a summary that agrees with the
 * SQLite decision log it leaves behind — and the guardrails must show in what the contacts got.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Decision } from '../../engine/audit/schema';
import { identityKey } from '../../engine/profiles/profiles';
import { expandEditorHtml } from '../../nodes/node-red/shared/editorHtml';
import { createEngine } from '../../engine/registry';
import { buildScenario, JOURNEY_IDS, type Persona } from '../../demo/simulator';

const ROOT = path.join(__dirname, '..', '..');
const DEMO = path.join(ROOT, 'dist', 'demo', 'start.js');
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
		const built = expandEditorHtml(readFileSync(path.join(ROOT, 'nodes', 'node-red', f), 'utf8'), f);
		if (!existsSync(out) || readFileSync(out, 'utf8') !== built) stale.push(`nodes/node-red/${f}`);
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

interface Summary {
	posted: number;
	verdicts: number;
	decisions: number;
	/** journey (or "all journeys") → outcome → count, and each row's total. */
	rows: Record<string, { total: number; outcomes: Record<string, number> }>;
	reasons: Record<string, number>;
	outcomesRecorded: Record<string, number>;
}

const pairs = (text: string): Record<string, number> =>
	Object.fromEntries(
		text
			.split(', ')
			.filter((p) => p && p !== 'none')
			.map((p) => {
				const m = /^(.*) (\d+)$/.exec(p)!;
				return [m[1], Number(m[2])];
			}),
	);

/** The final summary block, e.g. "  nurture   42 decisions: sent 12, delayed 1, …". */
function summary(stdout: string): Summary {
	const head = /^Summary: (\d+) events posted, (\d+) review verdicts, (\d+) decisions/m.exec(stdout);
	if (!head) throw new Error(`no summary in:\n${stdout}`);
	const block = stdout.slice(head.index);
	const rows: Summary['rows'] = {};
	for (const m of block.matchAll(/^ {2}(\S+(?: journeys)?) +(\d+) decisions: (.*)$/gm)) rows[m[1]] = { total: Number(m[2]), outcomes: pairs(m[3]) };
	return {
		posted: Number(head[1]),
		verdicts: Number(head[2]),
		decisions: Number(head[3]),
		rows,
		reasons: pairs(/^ {2}reasons: (.*)$/m.exec(block)![1]),
		outcomesRecorded: pairs(/^ {2}outcomes recorded: (.*)$/m.exec(block)![1]),
	};
}

/** What became of a decision, from its own fields (independently of the demo's code). */
function outcome(d: Decision): string {
	if (d.reason === 'HOLDOUT') return 'holdout';
	if (d.reason === 'NOT_A_TRIGGER') return 'no message';
	if (d.status === 'suppressed') return 'suppressed';
	return d.loggedAt || d.status === 'delayed' || d.status === 'review' ? d.status : 'pending';
}

function count<T>(items: T[], key: (item: T) => string | undefined): Record<string, number> {
	const out: Record<string, number> = {};
	for (const item of items) {
		const k = key(item);
		if (k !== undefined) out[k] = (out[k] ?? 0) + 1;
	}
	return out;
}

let home: string;
beforeAll(() => {
	assertFreshBuild();
	home = mkdtempSync(path.join(tmpdir(), 'nudge-demo-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('npm start (dist/demo/start.js)', () => {
	it('--once: plays the simulated contacts through all three journeys and prints a summary the decision log agrees with', async () => {
		const port = await freePort();
		const run = await runDemo(home, port, ['--once'], {}, 120_000);
		// Nothing went wrong (Node's own experimental-feature notices aside).
		expect(run.stderr.split('\n').filter((l) => l.trim() && !/ExperimentalWarning|--trace-warnings/.test(l))).toEqual([]);
		expect(run.code).toBe(0);
		const out = run.stdout;
		expect(out).toContain('Nudge demo: the nurture, cart-abandonment, churn-risk journeys in Node-RED');
		expect(out).toContain('/nudge/nurture, /nudge/cart-abandonment, /nudge/churn-risk');
		expect(out).toMatch(/^-- +\d+ s: \d+ decisions/m);
		expect(out).toMatch(/the source retried \S+ .*answered as a duplicate/);
		expect(out).toContain(`Node-RED editor: http://127.0.0.1:${port}/`);
		// A hot lead's sales task comes with the handoff for the salesperson.
		expect(out).toMatch(/ sent +sales_task +\(score \d+, hot\)\n {6}handoff: .+: hot lead, score \d+\. Interested in: .+\. Why: .+\(\+\d+\)/);

		const s = summary(out);
		// One line per decision, and one more for each decision a review verdict moved on.
		const lines = out.split('\n').filter((l) => /^ *\d+\. /.test(l));
		const afterReview = lines.filter((l) => l.endsWith('(after review)'));
		expect(lines.length - afterReview.length).toBe(s.decisions);
		expect(s.verdicts).toBeGreaterThan(0);
		expect(afterReview.length).toBeGreaterThan(0);
		expect(out.match(/^ {2}\(\S+ (approved|rejected) the decision for /gm)).toHaveLength(s.verdicts);
		for (const journey of JOURNEY_IDS) {
			expect(s.rows[journey]?.total).toBeGreaterThan(0);
			expect(s.rows[journey].outcomes.sent).toBeGreaterThan(0);
		}

		const engine = createEngine({ store: `sqlite:${path.join(home, '.nudge', 'demo.db')}` });
		try {
			const all = await engine.queryDecisions({ limit: 100_000 });
			// The printed summary is what the decision log holds: every row, every outcome, every reason.
			expect(all).toHaveLength(s.decisions);
			for (const journey of JOURNEY_IDS) {
				const mine = all.filter((d) => d.journey === journey);
				expect(s.rows[journey].total).toBe(mine.length);
				expect(Object.fromEntries(Object.entries(s.rows[journey].outcomes).filter(([, v]) => v > 0))).toEqual(count(mine, outcome));
			}
			expect(Object.fromEntries(Object.entries(s.rows['all journeys'].outcomes).filter(([, v]) => v > 0))).toEqual(count(all, outcome));
			expect(s.reasons).toEqual(count(all, (d) => (d.status === 'sent' ? undefined : d.reason)));
			expect(s.outcomesRecorded).toEqual(count(all.flatMap((d) => d.outcomes), (o) => o.type));
			expect(all.filter((d) => outcome(d) === 'pending')).toEqual([]);
			// Best-send-time waits are the engine's, held to the demo's clock: each came back within the run and met the guardrails again.
			expect(all.filter((d) => d.status === 'delayed' && d.reason === 'BEST_SEND_TIME')).toEqual([]);
			const waitedForBestTime = all.filter((d) => d.guard?.checks.some((c) => c.kind === 'send_time') && d.trail.filter((t) => t.stage === 'guard').length > 1);
			expect(waitedForBestTime.length).toBeGreaterThan(0);
			expect(waitedForBestTime.every((d) => d.journey === 'nurture')).toBe(true);
			// (Holdouts are drawn per contact id, which is new every run: their count is checked against the log above.)
			for (const reason of ['DUPLICATE_EVENT', 'QUIET_HOURS', 'FREQUENCY_CAP', 'NOT_A_TRIGGER']) expect(s.reasons[reason]).toBeGreaterThan(0);
			// Contacts responded to messages, and the learner heard about it.
			expect(s.outcomesRecorded.conversion ?? 0).toBeGreaterThan(0);

			// What each kind of contact got (the scenario's contacts do not depend on the clock).
			const scenario = buildScenario({ seed: 42 });
			const decisionsOf = async (persona: Persona, journey?: string) => {
				const found: Decision[] = [];
				for (const c of scenario.contacts.filter((x) => x.persona === persona && (!journey || x.journey === journey))) {
					const key = identityKey('userId', c.userId);
					const contactId = (await engine.store.resolveIdentities([key])).get(key);
					if (contactId) found.push(...all.filter((d) => d.contactId === contactId));
				}
				return found;
			};
			const optedOut = await decisionsOf('opted-out');
			expect(optedOut.length).toBeGreaterThan(0);
			expect(optedOut.filter((d) => d.status === 'sent' && d.channel !== 'sales_task')).toEqual([]);
			expect(optedOut.some((d) => d.candidates?.some((c) => c.reason === 'NO_CONSENT'))).toBe(true);
			const night = await decisionsOf('night-time');
			expect(night.filter((d) => d.status === 'sent' && ['email', 'sms', 'push'].includes(d.channel ?? ''))).toEqual([]);
			expect(night.some((d) => d.status === 'delayed' && d.reason === 'QUIET_HOURS')).toBe(true);
			// The cart timer fires for abandoners within the run, never for buyers who ordered in time.
			const fired = (ds: Decision[]) => ds.filter((d) => d.event.name === 'Cart Abandoned');
			expect(fired(await decisionsOf('abandoner', 'cart-abandonment')).length).toBeGreaterThan(0);
			expect(fired(await decisionsOf('buyer', 'cart-abandonment'))).toEqual([]);
			// An open support ticket blocks the win-back: while it is open, nothing is sent (holdouts get nothing anyway).
			const ticket = await decisionsOf('churner-with-ticket', 'churn-risk');
			const closedAt = (contactId: string) => ticket.find((d) => d.contactId === contactId && d.event.name === 'Ticket Closed')?.createdAt ?? '9999';
			const whileOpen = ticket.filter((d) => d.event.name !== 'Ticket Opened' && d.reason !== 'NOT_A_TRIGGER' && d.createdAt < closedAt(d.contactId));
			expect(whileOpen.length).toBeGreaterThan(0);
			expect(whileOpen.map((d) => d.reason).filter((r) => r !== 'NEGATIVE_TRIGGER' && r !== 'HOLDOUT')).toEqual([]);
		} finally {
			await engine.close();
		}
	}, 150_000);

	it('without --once keeps serving the Node-RED editor until interrupted, on a fresh store each start', async () => {
		const port = await freePort();
		const startedAt = new Date().toISOString();
		const child = spawn(process.execPath, [DEMO], { cwd: ROOT, env: { ...process.env, HOME: home, PORT: String(port), NUDGE_DEMO_ONCE: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
		let stdout = '';
		child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
		const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
		try {
			const until = Date.now() + 120_000;
			while (!stdout.includes('Press Ctrl-C to stop.') && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
			expect(stdout).toContain('Press Ctrl-C to stop.');
			const editor = await fetch(`http://127.0.0.1:${port}/`);
			expect(editor.status).toBe(200);
			expect(await editor.text()).toMatch(/Node-RED/);
			const nodes = (await (await fetch(`http://127.0.0.1:${port}/nodes`, { headers: { accept: 'application/json' } })).json()) as Array<{ module: string; types: string[] }>;
			const nudge = nodes.filter((n) => n.module === 'n8n-nodes-nudge').flatMap((n) => n.types);
			// Every node type the package declares, and only those.
			const declared = JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
			expect(nudge.sort()).toEqual(Object.keys(declared['node-red'].nodes).sort());
			// The editor Node-RED serves holds every node's form with the shared rows written in (the built files).
			const editorHtml = await (await fetch(`http://127.0.0.1:${port}/nodes`, { headers: { accept: 'text/html' } })).text();
			for (const type of nudge) expect(editorHtml).toContain(`data-template-name="${type}"`);
			expect(editorHtml).toContain('<input type="text" id="node-input-engine">');
			expect(editorHtml).not.toContain('<!-- include');
			// One tab per journey in the editor.
			const flows = (await (await fetch(`http://127.0.0.1:${port}/flows`, { headers: { accept: 'application/json' } })).json()) as Array<{ type: string; label?: string }>;
			expect(flows.filter((n) => n.type === 'tab')).toHaveLength(JOURNEY_IDS.length);
			const examples = await (await fetch(`http://127.0.0.1:${port}/library/examples/flows/n8n-nodes-nudge`)).text();
			for (const journey of JOURNEY_IDS) expect(examples).toContain(journey);
		} finally {
			child.kill('SIGINT');
		}
		expect(await exited).toBe(0);
		expect(stdout).toContain('Stopping');
		// The store was made fresh at this start: it holds this run's decisions only.
		const engine = createEngine({ store: `sqlite:${path.join(home, '.nudge', 'demo.db')}` });
		try {
			const all = await engine.queryDecisions({ limit: 100_000 });
			expect(all.length).toBeGreaterThanOrEqual(summary(stdout).decisions);
			expect(all.filter((d) => d.createdAt < startedAt)).toEqual([]);
		} finally {
			await engine.close();
		}
	}, 150_000);
});
