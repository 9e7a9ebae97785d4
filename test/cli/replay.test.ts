import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { formatSummary, replay } from '../../cli/replay';
import type { Decision } from '../../engine/audit/schema';
import { holdoutOf } from '../../engine/decide/holdout';
import { Engine } from '../../engine/engine';
import { EVENT_LEASE_MS } from '../../engine/events/eventClaim';
import { SqliteStore } from '../../engine/store/sqlite';
import { tempDir } from '../helpers/fixtures';
import { hostileEvents } from '../helpers/hostileEvents';

const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'dist/cli/nudge.js');
const SAMPLES = join(ROOT, 'flows/samples/nurture.jsonl');
const FAULTS = join(__dirname, '../helpers/replayFaults.js');

function lines(events: unknown[]): string {
	const path = join(tempDir(), 'events.jsonl');
	writeFileSync(path, events.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('\n') + '\n');
	return path;
}

const seg = (n: number, at: string, extra: Record<string, unknown> = {}) => ({
	type: 'track',
	event: 'Pricing Viewed',
	userId: 'u-1',
	messageId: `m-${n}`,
	timestamp: at,
	context: { traits: { email: 'ana@example.com' } },
	...extra,
});

describe('replay (engine side)', () => {
	test('decides each event at its own time: caps see history as it happened', async () => {
		const path = lines([seg(1, '2026-03-01T09:00:00Z'), seg(2, '2026-03-01T15:00:00Z'), seg(3, '2026-03-02T10:00:00Z'), seg(3, '2026-03-02T10:00:00Z')]);
		const out: Decision[] = [];
		const summary = await replay({ events: path }, (d) => out.push(d));
		expect(out.map((d) => [d.status, d.reason ?? null, d.createdAt])).toEqual([
			['sent', null, '2026-03-01T09:00:00.000Z'],
			['suppressed', 'FREQUENCY_CAP', '2026-03-01T15:00:00.000Z'],
			['sent', null, '2026-03-02T10:00:00.000Z'],
			['suppressed', 'DUPLICATE_EVENT', '2026-03-02T10:00:00.000Z'],
		]);
		expect(out.every((d) => d.delivery === undefined || d.delivery.provider === 'dry-run')).toBe(true);
		expect(summary).toMatchObject({ events: 4, rejected: [], byStatus: { sent: 2, suppressed: 2 }, byReason: { FREQUENCY_CAP: 1, DUPLICATE_EVENT: 1 } });
	});

	test('bad lines are reported with their line number; the rest is replayed', async () => {
		const path = lines([seg(1, '2026-03-01T09:00:00Z'), '{not json', { type: 'track', userId: 'u', messageId: 'x' }, seg(2, '2026-03-05T09:00:00Z')]);
		const out: Decision[] = [];
		const summary = await replay({ events: path }, (d) => out.push(d));
		expect(out).toHaveLength(2);
		expect(summary.rejected).toEqual([
			{ line: 2, error: 'Event is not valid JSON' },
			{ line: 3, error: expect.stringMatching(/event: a Segment track call needs an event name/) },
		]);
		expect(formatSummary(summary)).toContain('line 3: Segment event is not valid');
	});

	test('a policy file changes the outcome; an invalid one or a missing file is a clear error', async () => {
		const dir = tempDir();
		const policy = join(dir, 'policy.json');
		writeFileSync(policy, JSON.stringify({ name: 'sms-only', channelOrder: ['sms'] }));
		const out: Decision[] = [];
		await replay({ events: lines([seg(1, '2026-03-01T09:00:00Z')]), policy }, (d) => out.push(d));
		expect(out[0]).toMatchObject({ status: 'suppressed', reason: 'UNREACHABLE', policyVersion: expect.stringMatching(/^sms-only@/) });
		writeFileSync(policy, '{"channelOrder": []}');
		await expect(replay({ events: lines([seg(1, '2026-03-01T09:00:00Z')]), policy }, () => undefined)).rejects.toThrow(/channelOrder: must list at least one channel/);
		await expect(replay({ events: join(dir, 'none.jsonl') }, () => undefined)).rejects.toThrow(/Events file not found/);
		await expect(replay({ events: SAMPLES, journey: 'winback' }, () => undefined)).rejects.toThrow(/Unknown journey "winback"/);
	});
});

describe('replay honours the full policy', () => {
	test('quiet hours, calendar caps, negative triggers and review show up in the dry run', async () => {
		const policy = join(ROOT, 'docs/examples/guardrails.json');
		const at = (iso: string, extra: Record<string, unknown>) => ({ type: 'track', identities: { email: 'ana@example.com' }, occurredAt: iso, ...extra });
		const events = [
			at('2026-03-02T21:30:00Z', { name: 'Pricing Viewed', traits: { timezone: 'Europe/Berlin' } }), // 22:30 in Berlin: quiet
			at('2026-03-03T09:00:00Z', { name: 'Pricing Viewed' }), // 10:00: sent
			at('2026-03-03T10:00:00Z', { name: 'Webinar Viewed' }), // the calendar day's email is used: delayed to midnight
			at('2026-03-04T09:00:00Z', { name: 'Ticket Opened' }), // paused
			at('2026-03-04T12:00:00Z', { name: 'Ticket Solved' }), // cleared, new day: sent
		];
		const out: Decision[] = [];
		await replay({ events: lines(events), policy }, (d) => out.push(d));
		// Each decision once, as it ended; its first guardrails check is in its trail.
		const byEvent = [...out].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
		const firstCheck = (d: Decision) => d.trail.find((t) => t.stage === 'guard')?.status ?? null;
		expect(byEvent.map((d) => [firstCheck(d), d.status, d.reason ?? null, d.ruleId ?? null])).toEqual([
			['delayed', 'sent', null, null], // quiet until 08:00 in Berlin
			['delayed', 'sent', null, null], // the night-time one went out at 08:00: today's email is used
			['delayed', 'sent', null, null],
			['suppressed', 'suppressed', 'NEGATIVE_TRIGGER', 'open-ticket'],
			['delayed', 'suppressed', 'FREQUENCY_CAP', 'any-weekly'], // by the time a slot frees, three went out this week
		]);
		expect(byEvent[0].delivery?.at).toBe('2026-03-03T07:00:00.000Z'); // 08:00 in Berlin
		expect(byEvent[1].policyVersion).toMatch(/^guardrails-example@/);
	});

	test('delayed decisions are finished in simulated time: the same decision is checked again when due and sent or suppressed', async () => {
		const policy = join(ROOT, 'docs/examples/guardrails.json');
		const at = (iso: string, extra: Record<string, unknown>) => ({ type: 'track', identities: { email: 'ana@example.com' }, occurredAt: iso, ...extra });
		const events = [
			at('2026-03-02T21:30:00Z', { name: 'Pricing Viewed', traits: { timezone: 'Europe/Berlin' } }), // quiet until 08:00
			at('2026-03-03T09:00:00Z', { name: 'Pricing Viewed' }), // today's email went at 08:00: waits for midnight, then for 08:00
			at('2026-03-04T12:00:00Z', { name: 'Webinar Viewed' }), // today's email went at 08:00: waits for the next morning
		];
		const out: Decision[] = [];
		const summary = await replay({ events: lines(events), policy }, (d) => out.push(d));
		// Each decision once, as it ended.
		expect(new Set(out.map((d) => d.decisionId)).size).toBe(3);
		expect(out.map((d) => [d.event.occurredAt, d.status, d.delivery?.at ?? null])).toEqual([
			['2026-03-02T21:30:00.000Z', 'sent', '2026-03-03T07:00:00.000Z'],
			['2026-03-03T09:00:00.000Z', 'sent', '2026-03-04T07:00:00.000Z'],
			['2026-03-04T12:00:00.000Z', 'sent', '2026-03-05T07:00:00.000Z'],
		]);
		// Its trail tells the wait: delayed by the cap, then by quiet hours, then sent, in simulated time.
		expect(out[1].trail.filter((t) => t.stage === 'guard').map((t) => [t.at, t.status])).toEqual([
			['2026-03-03T09:00:00.000Z', 'delayed'],
			['2026-03-03T23:00:00.000Z', 'delayed'],
			['2026-03-04T07:00:00.000Z', 'pending'],
		]);
		expect(summary).toMatchObject({ byStatus: { sent: 3 }, byReason: {} });
	});
});

describe('replay of the prebuilt journeys’ samples (flows/samples)', () => {
	/** Replays a journey's samples; decisions by the sample's message id, timer decisions by contact. */
	async function replayJourney(journey: string) {
		const out: Decision[] = [];
		const summary = await replay({ events: join(ROOT, 'flows/samples', `${journey}.jsonl`), journey }, (d) => out.push(d));
		expect(summary.rejected).toEqual([]);
		const byEvent = (id: string) => out.filter((d) => d.event.eventId === id && d.reason !== 'DUPLICATE_EVENT')[0];
		const fired = (eventId: string, name: string) => out.filter((d) => d.contactId === byEvent(eventId).contactId && d.event.name === name);
		return { out, summary, byEvent, fired };
	}

	test('nurture: the converter is escalated and converts; the opted-out, night-time, holdout and unsubscribed leads', async () => {
		const { byEvent, summary, out } = await replayJourney('nurture');
		// The summary counts holdouts apart from suppressions.
		const held = out.filter((d) => d.reason === 'HOLDOUT').length;
		expect(held).toBeGreaterThan(0);
		expect(summary.byStatus.holdout).toBe(held);
		expect(summary.byStatus.suppressed).toBe(out.filter((d) => d.status === 'suppressed' && !['HOLDOUT', 'NOT_A_TRIGGER'].includes(d.reason ?? '')).length);
		const demo = byEvent('nur-003');
		expect(demo).toMatchObject({ status: 'sent', channel: 'sales_task', score: { tier: 'hot' }, choice: { method: 'escalated' } });
		expect(byEvent('nur-004')).toMatchObject({ reason: 'NOT_A_TRIGGER', outcomeFor: { decisionId: demo.decisionId, type: 'conversion', value: 24000 } });
		for (const id of ['nur-010', 'nur-011']) expect(byEvent(id)).toMatchObject({ status: 'suppressed', reason: 'NO_ELIGIBLE_CHANNEL' });
		// At night: delayed by quiet hours, then sent in the morning (simulated time), the same decision.
		const night = byEvent('nur-012');
		expect(night.trail.filter((t) => t.stage === 'guard').map((t) => t.status)).toEqual(['delayed', 'pending']);
		expect(night).toMatchObject({ status: 'sent', guard: { allowed: true } });
		expect(byEvent('nur-016')).toMatchObject({ reason: 'HOLDOUT' });
		expect(byEvent('nur-015')).toMatchObject({ reason: 'NEGATIVE_TRIGGER', ruleId: 'unsubscribed' });
	});

	test('cart abandonment: timers fire in simulated time, with a second touch; an order cancels or converts; night, review and holdout', async () => {
		const { summary, byEvent, fired } = await replayJourney('cart-abandonment');
		expect(summary.timers).toBeGreaterThan(0);
		// Marco never orders: a first touch 30 minutes after checkout, a second a day later.
		expect(fired('cart-004', 'Cart Abandoned')).toMatchObject([{ status: 'sent', message: { offerValue: 10 }, createdAt: '2026-11-20T09:44:00.000Z' }]);
		expect(fired('cart-004', 'Cart Still Abandoned')).toMatchObject([{ status: 'sent', createdAt: '2026-11-21T09:44:00.000Z' }]);
		// Olivia orders within the hour: no touch at all.
		expect(fired('cart-001', 'Cart Abandoned')).toEqual([]);
		// Nora orders after her touch: revenue of that touch, and no second touch.
		const [nora] = fired('cart-010', 'Cart Abandoned');
		expect(nora.status).toBe('sent');
		expect(byEvent('cart-011').outcomeFor).toMatchObject({ decisionId: nora.decisionId, type: 'revenue', value: 53.1 });
		expect(fired('cart-010', 'Cart Still Abandoned')).toEqual([]);
		// A touch at night waits for the morning, then the same decision is sent.
		const [night, ...more] = fired('cart-009', 'Cart Abandoned');
		expect(more).toEqual([]);
		expect(night.status).toBe('sent');
		expect(night.trail.find((t) => t.stage === 'guard')).toMatchObject({ status: 'delayed' });
		expect(fired('cart-017', 'Cart Abandoned')).toMatchObject([{ status: 'review', ruleId: 'large-discount', message: { offerValue: 20 } }]);
		expect(fired('cart-013', 'Cart Abandoned')).toMatchObject([{ reason: 'HOLDOUT' }]);
		expect(fired('cart-012', 'Cart Abandoned')).toMatchObject([{ reason: 'NO_ELIGIBLE_CHANNEL' }]);
	});

	test('churn risk: the open ticket blocks the win-back until it closes; high-value and large offers go to review; a redemption converts', async () => {
		const { byEvent } = await replayJourney('churn-risk');
		for (const id of ['churn-001', 'churn-002']) expect(byEvent(id)).toMatchObject({ reason: 'NEGATIVE_TRIGGER', ruleId: 'support-ticket-open' });
		expect(byEvent('churn-004')).toMatchObject({ status: 'sent', message: { offerValue: 15 } });
		expect(byEvent('churn-005')).toMatchObject({ status: 'review', ruleId: 'high-value-account' });
		expect(byEvent('churn-009')).toMatchObject({ status: 'review', ruleId: 'large-discount', message: { offerValue: 25 } });
		expect(byEvent('churn-007').outcomeFor).toMatchObject({ decisionId: byEvent('churn-006').decisionId, type: 'conversion' });
		expect(byEvent('churn-011')).toMatchObject({ reason: 'HOLDOUT' });
		expect(byEvent('churn-013')).toMatchObject({ reason: 'NEGATIVE_TRIGGER', ruleId: 'cancelled' });
		// Delayed by quiet hours, then checked again in the morning.
		expect(byEvent('churn-014').trail.find((t) => t.stage === 'guard')).toMatchObject({ status: 'delayed' });
		expect(byEvent('churn-014').status).not.toBe('delayed');
		expect(byEvent('churn-010')).toMatchObject({ status: 'suppressed', reason: 'NO_ELIGIBLE_CHANNEL' });
	});
});

describe('nudge replay (the built CLI)', () => {
	beforeAll(() => {
		if (!existsSync(CLI)) throw new Error('dist/cli/nudge.js is missing: run `npm run build` first (npm test does)');
	});

	const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: ROOT });

	test('replays the sample stream: one JSON decision per line on stdout, a summary on stderr', () => {
		const result = run('replay', '--events', SAMPLES, '--journey', 'nurture');
		expect(result.status).toBe(0);
		const decisions = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as Decision);
		const lines = readFileSync(SAMPLES, 'utf8').trim().split('\n').length;
		expect(decisions).toHaveLength(lines);
		// The journeys policy (flows/policies/journeys.json) applies unless --policy names another.
		expect(decisions.every((d) => d.journey === 'nurture' && d.policyVersion.startsWith('journeys@') && d.loggedAt)).toBe(true);
		const suppressed = decisions.filter((d) => d.status === 'suppressed');
		expect(suppressed.every((d) => d.reason)).toBe(true);
		// The anonymous visitor (no user id) draws its holdout group from a contact id made up in each run:
		// in nurture's 5% holdout it is HOLDOUT, otherwise UNREACHABLE (nowhere to send a message).
		const anonymous = decisions.find((d) => d.event.eventId === 'nur-018')!;
		const held = holdoutOf(JSON.parse(readFileSync(join(ROOT, 'flows/policies/journeys.json'), 'utf8')).holdout, anonymous.contactId, 'nurture');
		expect(anonymous).toMatchObject({ status: 'suppressed', reason: held ? 'HOLDOUT' : 'UNREACHABLE' });
		const reasons = ['FREQUENCY_CAP', 'NO_ELIGIBLE_CHANNEL', 'NOT_A_TRIGGER', 'HOLDOUT', 'NEGATIVE_TRIGGER', 'DUPLICATE_EVENT', ...(held ? [] : ['UNREACHABLE'])];
		expect(new Set(suppressed.map((d) => d.reason))).toEqual(new Set(reasons));
		expect(decisions.find((d) => d.event.name === 'Demo Requested')).toMatchObject({ status: 'sent', channel: 'sales_task', score: { tier: 'hot' } });
		expect(result.stderr).toMatch(new RegExp(`replayed ${lines} event\\(s\\): `));
		expect(result.stderr).toMatch(/reasons \(not sent, held or waiting\): .*FREQUENCY_CAP \d+/);
		// Events that only updated the profile are no suppression: counted apart, in neither the statuses nor the reasons.
		const profileOnly = decisions.filter((d) => d.reason === 'NOT_A_TRIGGER').length;
		expect(profileOnly).toBeGreaterThan(0);
		const [first, second] = result.stderr.split('\n');
		// Holdouts are counted apart too: kept from the message on purpose, not suppressed by a guardrail.
		const holdouts = decisions.filter((d) => d.reason === 'HOLDOUT').length;
		expect(first).toContain(`suppressed ${suppressed.length - profileOnly - holdouts}`);
		if (holdouts) expect(first).toContain(`holdout ${holdouts}`);
		else expect(first).not.toContain('holdout');
		expect(first).toMatch(new RegExp(`; ${profileOnly} only updated the profile \\(not a trigger: no message meant\\)$`));
		expect(second).not.toContain('NOT_A_TRIGGER');
	});

	test('--out writes the file and --store keeps the replay store for inspection', () => {
		const dir = tempDir();
		const out = join(dir, 'decisions.jsonl');
		const store = join(dir, 'replay.db');
		const result = run('replay', '--events', SAMPLES, '--out', out, '--store', store);
		expect(result.status).toBe(0);
		expect(result.stdout).toBe('');
		expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(readFileSync(SAMPLES, 'utf8').trim().split('\n').length);
		expect(existsSync(store)).toBe(true);
	});

	test('a replay that fails (events file missing) leaves the --out file of the last run as it was', () => {
		const dir = tempDir();
		const out = join(dir, 'decisions.jsonl');
		writeFileSync(out, '{"decisionId":"last-run"}\n');
		const result = run('replay', '--events', join(dir, 'missing.jsonl'), '--out', out);
		expect(result.status).not.toBe(0);
		expect(result.stderr).toContain('Events file not found');
		expect(readFileSync(out, 'utf8')).toBe('{"decisionId":"last-run"}\n');
		expect(readdirSync(dir)).toEqual(['decisions.jsonl']);
	});

	test('an --out that cannot be written (a folder, a missing folder) is a one-line error naming --out', () => {
		const dir = tempDir();
		for (const out of [dir, join(dir, 'no/such/folder/decisions.jsonl')]) {
			const result = run('replay', '--events', SAMPLES, '--out', out);
			expect(result.status).toBe(2);
			expect(result.stderr).toMatch(/^nudge: --out .*: cannot write there \((EISDIR|ENOENT)\)\n$/);
		}
	});

	test('--store naming a live store (one Nudge decided in) is refused, naming the fix; its decision log is left as it was', async () => {
		const store = join(tempDir(), 'live.db');
		const engine = new Engine({ store: new SqliteStore(store) });
		await engine.decide({ type: 'track', name: 'Demo Requested', identities: { email: 'a@b.com', userId: 'u1' } }, { journey: 'nurture', target: { dryRun: true } });
		await engine.close();
		const decisions = () => {
			const db = new DatabaseSync(store, { readOnly: true });
			const n = (db.prepare('SELECT COUNT(*) AS n FROM decisions').get() as { n: number }).n;
			db.close();
			return n;
		};
		const result = run('replay', '--events', SAMPLES, '--store', store);
		expect({ status: result.status, decisions: decisions() }).toEqual({ status: 2, decisions: 1 });
		expect(result.stderr).toMatch(/^nudge: --store .*live\.db holds decisions Nudge made \(a live store\).*Give --store a new file/);
	});

	test('a store of earlier replays in which Nudge then decided live (nudge mcp, the nodes) is refused by the next replay', async () => {
		const store = join(tempDir(), 'replay.db');
		const decisions = () => {
			const db = new DatabaseSync(store, { readOnly: true });
			const n = (db.prepare('SELECT COUNT(*) AS n FROM decisions').get() as { n: number }).n;
			db.close();
			return n;
		};
		expect(run('replay', '--events', SAMPLES, '--store', store).status).toBe(0);
		// A rerun into the replay's own store is fine: only replays decided in it.
		expect(run('replay', '--events', SAMPLES, '--store', store).status).toBe(0);
		const engine = new Engine({ store: new SqliteStore(store) });
		await engine.decide({ type: 'track', name: 'Demo Requested', identities: { email: 'live@b.com', userId: 'live-1' } }, { journey: 'nurture', target: { dryRun: true } });
		await engine.close();
		const before = decisions();
		const result = run('replay', '--events', SAMPLES, '--store', store);
		expect({ status: result.status, decisions: decisions() }).toEqual({ status: 2, decisions: before });
		expect(result.stderr).toMatch(/^nudge: --store .*replay\.db holds decisions Nudge made \(a live store\) since a replay last used it, at 20\d\d-.*Give --store a new file/);
	});

	test('a replay that stopped on an error leaves the store its own: the next replay into it goes on', async () => {
		const store = join(tempDir(), 'replay.db');
		// A cart updated ten minutes ago: its abandonment timer fires, in the replay, an hour after: a decision dated later
		// than the replay's start, which the store's mark must count as the replay's own.
		const events = lines([{ ...seg(1, new Date(Date.now() - 600_000).toISOString()), event: 'Cart Updated' }]);
		await expect(replay({ events, store, journey: 'cart-abandonment' }, () => {
			throw new Error('the output could not be written');
		})).rejects.toThrow('the output could not be written');
		const db = new DatabaseSync(store, { readOnly: true });
		const later = (db.prepare('SELECT COUNT(*) AS n FROM decisions WHERE created_at > ?').get(new Date().toISOString()) as { n: number }).n;
		db.close();
		expect(later).toBeGreaterThan(0);
		expect(run('replay', '--events', events, '--journey', 'cart-abandonment', '--store', store)).toMatchObject({ status: 0 });
	});

	test.each([
		['SIGINT', 130],
		['SIGTERM', 143],
	] as const)('%s mid-replay removes the --out FILE.partial (personal data) and leaves the last run’s file as it was', async (signal, code) => {
		const dir = tempDir();
		const out = join(dir, 'decisions.jsonl');
		writeFileSync(out, '{"decisionId":"last-run"}\n');
		const events = lines([1, 2, 3, 4].map((n) => seg(n, `2026-03-0${n}T10:00:00Z`, { userId: `u-${n}`, context: { traits: { email: `lead${n}@example.com` } } })));
		// Held mid-replay (storing m-3 never returns) with FILE.partial open: the signal always comes mid-write.
		const child = spawn(process.execPath, ['-r', FAULTS, CLI, 'replay', '--events', events, '--out', out], {
			cwd: ROOT,
			env: { ...process.env, NUDGE_TEST_HANG_EVENT: 'm-3' },
			stdio: ['ignore', 'ignore', 'pipe'],
		});
		const exited = new Promise<number | null>((resolve) => child.once('exit', (status) => resolve(status)));
		let stderr = '';
		await new Promise<void>((resolve, reject) => {
			child.stderr.on('data', (chunk) => {
				stderr += chunk;
				if (stderr.includes('hanging m-3')) resolve();
			});
			void exited.then(() => reject(new Error(`the replay ended before it reached m-3: ${stderr}`)));
		});
		expect(readdirSync(dir).sort()).toEqual(['decisions.jsonl', 'decisions.jsonl.partial']);
		child.kill(signal);
		expect(await exited).toBe(code);
		expect(readdirSync(dir)).toEqual(['decisions.jsonl']);
		expect(readFileSync(out, 'utf8')).toBe('{"decisionId":"last-run"}\n');
	});

	test('an events file that is a folder, or holds no events, is a clear error with a non-zero exit', () => {
		const dir = tempDir();
		const folder = run('replay', '--events', dir);
		expect({ status: folder.status, stderr: folder.stderr }).toEqual({ status: 2, stderr: `nudge: --events ${dir} is a folder, not a file: give the file in it\n` });
		const empty = run('replay', '--events', lines(['', '  ']));
		expect(empty.status).toBe(2);
		expect(empty.stderr).toMatch(/^nudge: --events .*events\.jsonl holds no events: give a file of events, one JSON per line\n$/);
	});

	test('a hostile event file: each bad line is refused with its reason, the rest replayed, in bounded memory', () => {
		const dir = tempDir();
		const file = join(dir, 'hostile.jsonl');
		const store = join(dir, 'replay.db');
		const hostile = Object.entries(hostileEvents());
		const fd = openSync(file, 'w');
		writeSync(fd, `${JSON.stringify(seg(1, '2026-03-01T09:00:00Z'))}\n`);
		for (const [, text] of hostile) writeSync(fd, `${text}\n`);
		// A 50 MB line, written in pieces: the CLI must refuse it without holding it (its heap is capped below).
		const head = '{"type":"identify","userId":"u","traits":{"bio":"';
		writeSync(fd, head);
		const mb = Buffer.alloc(1 << 20, 'x');
		for (let i = 0; i < 50; i++) writeSync(fd, mb);
		writeSync(fd, '"}}\n');
		writeSync(fd, Buffer.concat([Buffer.from('{"type":"identify","userId":"u","traits":{"city":"Z'), Buffer.from([0xfc]), Buffer.from('rich"}}\r\n')]));
		writeSync(fd, `${JSON.stringify(seg(2, '2026-03-05T09:00:00Z'))}\r\n`);
		closeSync(fd);

		const result = spawnSync(process.execPath, ['--max-old-space-size=64', CLI, 'replay', '--events', file, '--store', store], { encoding: 'utf8', cwd: ROOT });
		expect(result.signal).toBeNull();
		expect(result.status).toBe(1);
		const rejected = hostile.length + 2;
		expect(result.stderr).toContain(`replayed ${rejected + 2} event(s)`);
		expect(result.stderr).toContain(`rejected ${rejected} line(s):`);
		const reported = [...result.stderr.matchAll(/\n {2}line (\d+): \S/g)].map((m) => Number(m[1]));
		expect(reported).toEqual(Array.from({ length: rejected }, (_, i) => i + 2));
		expect(result.stderr).toContain(`line ${hostile.length + 2}: The line is ${(head.length + 50 * mb.length + 3).toLocaleString('en-US')} bytes long; the limit is 1,048,576`);
		expect(result.stderr).toContain(`line ${hostile.length + 3}: The line is not UTF-8 text`);
		expect(result.stdout.trim().split('\n').map((l) => (JSON.parse(l) as Decision).event.eventId)).toEqual(['m-1', 'm-2']);
		const db = new DatabaseSync(store, { readOnly: true });
		const count = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
		expect([count('decisions'), count('profiles')]).toEqual([2, 1]);
		db.close();
	});

	test('usage errors and rejected lines give a non-zero exit with a message', () => {
		expect(run('replay').status).toBe(2);
		expect(run('replay').stderr).toContain('replay needs --events FILE.jsonl');
		expect(run('frobnicate').stderr).toContain('unknown command "frobnicate"');
		expect(run('replay', '--events', SAMPLES, '--bogus').stderr).toMatch(/Unknown option '--bogus'/);
		const bad = run('replay', '--events', lines(['{oops']));
		expect(bad.status).toBe(1);
		expect(bad.stderr).toContain('line 1: Event is not valid JSON');
		expect(run('--help').stdout).toContain('Usage: nudge <command>');
	});

	test('a replay killed (kill -9) mid-event is finished by a rerun into the same --store: each event is decided once', async () => {
		const dir = tempDir();
		const store = join(dir, 'replay.db');
		const events = lines([1, 2, 3, 4, 5].map((n) => seg(n, `2026-03-0${n}T10:00:00Z`, { userId: `u-${n}`, context: { traits: { email: `lead${n}@example.com` } } })));
		const replayInto = (env: Record<string, string> = {}) =>
			spawnSync(process.execPath, ['-r', FAULTS, CLI, 'replay', '--events', events, '--store', store], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, ...env } });

		// The first run takes event m-3 in and dies before storing its decision.
		const child = spawn(process.execPath, ['-r', FAULTS, CLI, 'replay', '--events', events, '--store', store], {
			cwd: ROOT,
			env: { ...process.env, NUDGE_TEST_HANG_EVENT: 'm-3' },
			stdio: ['ignore', 'ignore', 'pipe'],
		});
		let stderr = '';
		await new Promise<void>((resolve, reject) => {
			child.stderr.on('data', (chunk) => {
				stderr += chunk;
				if (stderr.includes('hanging m-3')) resolve();
			});
			child.on('exit', () => reject(new Error(`the replay ended before it reached m-3: ${stderr}`)));
		});
		const killed = new Promise((resolve) => child.once('exit', resolve));
		child.kill('SIGKILL');
		await killed;

		// At once, m-3 is still claimed by the dead run: reported with how long to wait; the rest is replayed.
		const early = replayInto();
		expect(early.status).toBe(1);
		expect(early.stderr).toMatch(/line 3: Event m-3 is being taken in by another process; if that process stopped, deliver it again in \d+ s \(when its claim runs out\)/);

		// Once the claim has run out in real time (the rerun's clock a lease later), the rerun finishes.
		const later = replayInto({ NUDGE_TEST_CLOCK_AHEAD_MS: String(EVENT_LEASE_MS) });
		expect(later.stderr).not.toMatch(/rejected/);
		expect(later.status).toBe(0);
		const rerun = later.stdout.trim().split('\n').map((l) => JSON.parse(l) as Decision);
		expect(rerun.map((d) => [d.event.eventId, d.reason === 'DUPLICATE_EVENT'])).toEqual([
			['m-1', true],
			['m-2', true],
			['m-3', false],
			['m-4', true],
			['m-5', true],
		]);

		// Over the three runs, the decision log holds one decision per event besides the duplicates, none left pending.
		const db = new DatabaseSync(store);
		const rows = db.prepare("SELECT json_extract(body, '$.event.eventId') AS event, status FROM decisions WHERE reason IS NOT 'DUPLICATE_EVENT' ORDER BY event").all();
		db.close();
		expect(rows.map((r) => r.event)).toEqual(['m-1', 'm-2', 'm-3', 'm-4', 'm-5']);
		expect(rows.filter((r) => r.status === 'pending')).toEqual([]);
	});
});
