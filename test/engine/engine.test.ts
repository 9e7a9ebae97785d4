import { existsSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../engine/engine';
import { NudgeError } from '../../engine/errors';
import { verifySignedRequest } from '../../engine/events/signature';
import { runJourney } from '../../engine/journeys/journey';
import { loadPolicy } from '../../engine/policy/load';
import { acquireEngine, checkEngineConfig, closeAllEngines, createEngine, getEngine } from '../../engine/registry';
import { MemoryStore } from '../../engine/store/memory';
import { tempDir, trackEvent } from '../helpers/fixtures';
import { closeReceivers, startReceiver } from '../helpers/receiver';

const lead = (email: string, name = 'Demo Requested', extra: Record<string, unknown> = {}) => trackEvent(email, name, extra);

afterEach(closeReceivers);
afterAll(closeAllEngines);

describe('the nurture journey end to end', () => {
	test('sends once, then caps, and logs every step with the policy version', async () => {
		const receiver = await startReceiver();
		const engine = createEngine({ store: `sqlite:${join(tempDir(), 'n.db')}` });
		const target = { url: receiver.url, secret: 'shh' };
		const first = await runJourney(engine, 'nurture', lead('ana@x.io', 'Demo Requested', { traits: { title: 'VP Sales' } }), target);
		expect(first).toMatchObject({ status: 'sent', channel: 'email', journey: 'nurture', policyVersion: engine.policyVersion });
		expect(first.score).toMatchObject({ tier: 'warm', value: 65 });
		expect(first.trail.map((t) => t.stage)).toEqual(['ingest', 'score', 'choose', 'guard', 'send', 'log']);
		expect(first.delivery).toMatchObject({ provider: 'webhook', status: 'sent', attempts: 1, httpStatus: 202, providerMessageId: 'msg-1', idempotencyKey: first.decisionId });
		expect(receiver.received).toHaveLength(1);
		const req = receiver.received[0];
		expect(req.headers['idempotency-key']).toBe(first.decisionId);
		expect(() => verifySignedRequest('shh', req.body, req.headers)).not.toThrow();
		expect(JSON.parse(req.body)).toMatchObject({ decisionId: first.decisionId, channel: 'email', contact: { email: 'ana@x.io' } });

		const second = await runJourney(engine, 'nurture', lead('ana@x.io', 'Pricing Viewed'), target);
		expect(second).toMatchObject({ status: 'suppressed', reason: 'FREQUENCY_CAP', ruleId: 'email-daily' });
		expect(receiver.received).toHaveLength(1);

		const logged = await engine.queryDecisions({ contactId: first.contactId });
		expect(logged.map((d) => [d.status, d.reason ?? null, !!d.loggedAt])).toEqual([
			['sent', null, true],
			['suppressed', 'FREQUENCY_CAP', true],
		]);
		await engine.close();
		await receiver.close();
	});

	test('a retried delivery of the same event is suppressed as DUPLICATE_EVENT and sends nothing', async () => {
		const engine = createEngine({ store: 'memory:' });
		const event = { ...lead('bo@x.io'), eventId: 'evt-1' };
		const a = await runJourney(engine, 'nurture', event, { dryRun: true });
		const b = await runJourney(engine, 'nurture', event, { dryRun: true });
		expect(a.status).toBe('sent');
		expect(b).toMatchObject({ status: 'suppressed', reason: 'DUPLICATE_EVENT', contactId: a.contactId });
		expect(b.trail.map((t) => t.stage)).toEqual(['ingest']);
		expect(b.loggedAt).toBeDefined();
	});

	test('no eligible channel is a logged suppression with every candidate and its reason', async () => {
		const engine = createEngine({ store: 'memory:' });
		const d = await runJourney(engine, 'nurture', { type: 'identify', identities: { userId: 'u-no-contact-points' } }, { dryRun: true });
		expect(d).toMatchObject({ status: 'suppressed', reason: 'UNREACHABLE' });
		// The journey's own channels are unreachable; the rest are not allowed in this journey, and waiting is off.
		const journeyChannels = engine.policy.journeys.nurture.channels!;
		expect(d.candidates?.filter((c) => journeyChannels.includes(c.channel as never)).every((c) => !c.eligible && c.reason === 'UNREACHABLE')).toBe(true);
		expect(d.candidates?.filter((c) => !journeyChannels.includes(c.channel as never)).every((c) => !c.eligible && c.reason === 'POLICY_BLOCKED')).toBe(true);
	});
});

describe('send', () => {
	async function reserved(engine: Engine, email: string, name = 'Demo Requested') {
		const { decision } = await engine.ingest(lead(email, name), { journey: 'nurture' });
		await engine.chooseChannel(decision);
		return engine.checkCap(decision);
	}

	test('is idempotent: a retried send of the same decision does not send twice', async () => {
		const receiver = await startReceiver();
		const engine = createEngine({ store: 'memory:' });
		const d = await reserved(engine, 'cy@x.io');
		const sent = await engine.send(d, { url: receiver.url });
		const again = await engine.send(d, { url: receiver.url });
		expect(sent.status).toBe('sent');
		expect(again).toEqual(sent);
		expect(receiver.received).toHaveLength(1);
		await receiver.close();
	});

	test('retries 5xx, and a final failure releases the reservation and is logged as SEND_FAILED', async () => {
		const receiver = await startReceiver([503, 503, 503]);
		const engine = createEngine({ store: 'memory:' });
		const d = await reserved(engine, 'di@x.io');
		const failed = await engine.send(d, { url: receiver.url, maxAttempts: 3 });
		expect(failed).toMatchObject({ status: 'failed', reason: 'SEND_FAILED', delivery: { status: 'failed', attempts: 3, httpStatus: 503 } });
		expect(receiver.received).toHaveLength(3);
		// The slot was released, so the next email is allowed.
		const next = await reserved(engine, 'di@x.io', 'Pricing Viewed');
		expect(next.guard?.allowed).toBe(true);
		await receiver.close();
	});

	test('a 4xx is not retried', async () => {
		const receiver = await startReceiver([400]);
		const engine = createEngine({ store: 'memory:' });
		const failed = await engine.send(await reserved(engine, 'ed@x.io'), { url: receiver.url, maxAttempts: 3 });
		expect(failed.delivery).toMatchObject({ attempts: 1, httpStatus: 400, error: 'the endpoint answered HTTP 400' });
		await receiver.close();
	});

	test('refuses a decision that never passed Frequency Cap', async () => {
		const engine = createEngine({ store: 'memory:' });
		const { decision } = await engine.ingest(lead('fa@x.io'), { journey: 'nurture' });
		await expect(engine.send(decision, { dryRun: true })).rejects.toThrow(/has not passed Frequency Cap/);
	});

	test('an unreachable endpoint fails cleanly with the host in the error', async () => {
		const engine = createEngine({ store: 'memory:' });
		const failed = await engine.send(await reserved(engine, 'gi@x.io'), { url: 'http://127.0.0.1:9/none', maxAttempts: 1, timeoutMs: 2000 });
		expect(failed.status).toBe('failed');
		expect(failed.delivery?.error).toMatch(/could not reach 127\.0\.0\.1:9/);
	});
});

describe('outcomes', () => {
	test('are attributed once; a duplicate is reported, and an unsubscribe closes the channel', async () => {
		const engine = createEngine({ store: 'memory:' });
		const d = await runJourney(engine, 'nurture', lead('ha@x.io'), { dryRun: true });
		const click = await engine.recordOutcome({ decisionId: d.decisionId, type: 'click', outcomeId: 'o-1' });
		expect(click.duplicate).toBe(false);
		expect(click.decision.outcomes).toEqual([expect.objectContaining({ outcomeId: 'o-1', type: 'click', channel: 'email' })]);
		const repeat = await engine.recordOutcome({ decisionId: d.decisionId, type: 'click', outcomeId: 'o-1' });
		expect(repeat.duplicate).toBe(true);
		// Ignored (still one click), and logged in the decision's trail.
		expect(repeat.decision.outcomes.filter((o) => o.outcomeId === 'o-1')).toHaveLength(1);
		expect(repeat.decision.trail.at(-1)?.stage).toBe('outcome ignored: duplicate o-1');
		expect((await engine.getDecision(d.decisionId)).trail.at(-1)?.stage).toBe('outcome ignored: duplicate o-1');
		await engine.recordOutcome({ decisionId: d.decisionId, type: 'unsubscribe' });
		expect((await engine.getProfile(d.contactId))?.consent.email).toBe('opted_out');
		expect((await engine.getDecision(d.decisionId)).outcomes).toHaveLength(2);
	});

	test('bad outcomes are clear errors and change nothing', async () => {
		const engine = createEngine({ store: 'memory:' });
		const d = await runJourney(engine, 'nurture', lead('io@x.io'), { dryRun: true });
		await expect(engine.recordOutcome({ decisionId: 'd_missing', type: 'click' })).rejects.toThrow(/Decision d_missing is not in this engine's decision log/);
		await expect(engine.recordOutcome({ decisionId: d.decisionId, type: 'revenue', value: Number.NaN })).rejects.toThrow(/revenue outcome needs its amount as a number of 0 or more/);
		await expect(engine.recordOutcome({ decisionId: d.decisionId, type: 'click', at: '2000-01-01T00:00:00.000Z' })).rejects.toThrow(/earlier than its decision/);
		expect((await engine.getDecision(d.decisionId)).outcomes).toEqual([]);
	});
});

describe('bad input leaves the store unchanged', () => {
	test('a malformed event is rejected with the field, and nothing is stored', async () => {
		const store = new MemoryStore();
		const engine = new Engine({ store });
		await expect(engine.ingest({ type: 'track', identities: { email: 'x@y.io' } })).rejects.toThrow(/name: a track event needs a name/);
		expect(await store.queryDecisions({})).toEqual([]);
		expect(await store.resolveIdentities(['email:x@y.io'])).toEqual(new Map());
	});

	test('a step on an unknown contact says so', async () => {
		const store = new MemoryStore();
		const engine = new Engine({ store });
		const { decision } = await engine.ingest(lead('ju@x.io'), { journey: 'nurture' });
		await store.saveProfile({ ...(await store.getProfile(decision.contactId))!, contactId: 'other' }, [], [decision.contactId]);
		await expect(engine.score(decision)).rejects.toThrow(`Contact ${decision.contactId} is unknown`);
		expect((await engine.getDecision(decision)).status).toBe('pending');
	});

	test('an item without a decision, and a decision from another engine, are explained', async () => {
		const engine = createEngine({ store: 'memory:' });
		await expect(engine.score({ hello: 'world' })).rejects.toThrow(/carries no Nudge decision/);
		await expect(engine.score({ decisionId: 'd_elsewhere' })).rejects.toThrow(/same engine settings as the trigger/);
	});

	test('Frequency Cap before Choose Channel is explained', async () => {
		const engine = createEngine({ store: 'memory:' });
		const { decision } = await engine.ingest(lead('ka@x.io'), { journey: 'nurture' });
		await expect(engine.checkCap(decision)).rejects.toThrow(/put Choose Channel before Frequency Cap/);
	});

	test('text no store can keep (a NUL, half a surrogate pair) in an annotation, a note, tags or variants is refused naming the field, the decision unchanged', async () => {
		const store = new MemoryStore();
		const engine = new Engine({ store });
		const { decision } = await engine.ingest(lead('nu@x.io'), { journey: 'nurture' });
		const chosen = await engine.chooseChannel(decision);
		await expect(engine.logDecision(chosen, { campaign: { note: 'pasted\u0000text' } })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('campaign.note') });
		await expect(engine.checkCap(chosen, { tags: ['promo', 'half \ud800'] })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('tags.1') });
		await expect(engine.chooseVariant(chosen, 'subject', ['A', 'B\u0000'])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
		await expect(engine.resolveReview(chosen, { approve: true, reviewer: 'me', note: '\u0000' })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('note') });
		expect(await store.getDecision(decision.decisionId)).toMatchObject({ status: 'pending', annotations: {} });
	});

	test('an invalid policy swap keeps the old policy in force', () => {
		const engine = createEngine({ store: 'memory:' });
		const before = engine.policyVersion;
		expect(() => engine.setPolicy({ channelOrder: [] })).toThrow(/channelOrder: must list at least one channel/);
		expect(engine.policyVersion).toBe(before);
	});
});

describe('engine registry', () => {
	test('one engine per configuration per process, closed when the last user releases it', async () => {
		const dir = tempDir();
		const config = { store: `sqlite:${join(dir, 'shared.db')}` };
		const a = acquireEngine(config);
		const b = acquireEngine({ ...config });
		expect(a.engine).toBe(b.engine);
		expect(acquireEngine({ store: 'memory:' }).engine).not.toBe(a.engine);
		await a.release();
		await a.release();
		await runJourney(b.engine, 'nurture', lead('la@x.io'), { dryRun: true });
		await b.release();
		expect(acquireEngine(config).engine).not.toBe(a.engine);
		// The same policy written differently (key order, spacing) is the same configuration.
		const policy = { channelOrder: ['email'], name: 'x' };
		const c = getEngine({ store: 'memory:', policy: JSON.stringify(policy) });
		expect(getEngine({ store: 'memory:', policy: `  {"name": "x", "channelOrder": ["email"]}` })).toBe(c);
	});

	test('one SQLite connection per file, however its URL spells it: engines on one file in one process never wait on each other’s write lock', async () => {
		const dir = tempDir();
		const file = join(dir, 'one.db');
		// The folder also through a symbolic link to it (the file does not exist yet when the first engine opens it).
		const linked = join(tempDir(), 'linked');
		symlinkSync(dir, linked);
		const spellings = [`sqlite:${join(linked, 'one.db')}`, `sqlite:${file}`, file, `sqlite://${file}`, `sqlite:${join(dir, '.', 'sub', '..', 'one.db')}`, `  sqlite:${file}  `];
		const held = spellings.map((store, i) => acquireEngine({ store, policy: i % 2 ? '{"name": "other", "channelOrder": ["email"]}' : '' }));
		// Two connections would block the thread: one waits (5 s, then "database is locked") for the other's write, which commits only when the thread is free.
		const results = await Promise.allSettled(held.flatMap(({ engine }, i) => [0, 1].map((n) => engine.ingest(trackEvent(`s${i}-${n}@x.io`, 'Pricing Viewed'), { journey: 'nurture' }))));
		expect(results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []))).toEqual([]);
		expect(held.map(({ engine }) => engine.store === held[0].engine.store)).toEqual(spellings.map(() => true));
		for (const { release } of held) await release();
	});

	test('a store setting "sqlite:<a URL>" is refused as "looks like a URL", never taken for a file under the working folder (the credential Test would pass on a local file)', async () => {
		const work = tempDir('nudge-review-cwd-');
		const before = process.cwd();
		process.chdir(work);
		const outcomes: Record<string, string> = {};
		let made: string[] = [];
		try {
			// A pasted URI or a network URL after sqlite:.
			for (const store of ['sqlite:redis://127.0.0.1:6379', 'sqlite:file:///var/lib/nudge/nudge.db']) {
				outcomes[store] = await checkEngineConfig({ store }).then(
					(ok) => `accepted as ${ok.store}`,
					(error: Error) => error.message,
				);
			}
			try {
				await createEngine({ store: 'sqlite:postgres://u@db:5432/nudge' }).close();
				outcomes['createEngine sqlite:postgres://u@db:5432/nudge'] = 'accepted';
			} catch (error) {
				outcomes['createEngine sqlite:postgres://u@db:5432/nudge'] = (error as Error).message;
			}
			made = readdirSync(work);
		} finally {
			process.chdir(before);
			rmSync(work, { recursive: true, force: true });
		}
		expect(outcomes).toEqual({
			'sqlite:redis://127.0.0.1:6379': expect.stringMatching(/looks like a URL/),
			'sqlite:file:///var/lib/nudge/nudge.db': expect.stringMatching(/looks like a URL/),
			'createEngine sqlite:postgres://u@db:5432/nudge': expect.stringMatching(/looks like a URL/),
		});
		// Nothing may have been created in the working folder.
		expect(made).toEqual([]);
	});


	test('a SQLite file first opened through a symbolic link whose target does not exist yet shares one connection with its real path (no "database is locked")', async () => {
		const dir = tempDir();
		const real = join(dir, 'real.db');
		const link = join(dir, 'link.db');
		// A dangling link (a volume's file made on first start): the first engine creates real.db through it.
		symlinkSync(real, link);
		const viaLink = acquireEngine({ store: `sqlite:${link}` });
		await viaLink.engine.ingest(trackEvent('first@x.io', 'Pricing Viewed'), { journey: 'nurture' });
		expect(existsSync(real)).toBe(true);
		let viaReal: ReturnType<typeof acquireEngine> | undefined;
		const rejected: string[] = [];
		try {
			viaReal = acquireEngine({ store: `sqlite:${real}`, policy: '{"name": "other", "channelOrder": ["email"]}' });
		} catch (error) {
			rejected.push(`opening sqlite:${real}: ${String(error)}`);
		}
		const engines = viaReal ? [viaLink, viaReal] : [viaLink];
		const results = await Promise.allSettled(engines.flatMap(({ engine }, i) => [0, 1, 2].map((n) => engine.ingest(trackEvent(`d${i}-${n}@x.io`, 'Pricing Viewed'), { journey: 'nurture' }))));
		rejected.push(...results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : [])));
		expect({ rejected, sameStore: viaReal?.engine.store === viaLink.engine.store }).toEqual({ rejected: [], sameStore: true });
		await viaLink.release();
		await viaReal?.release();
	}, 60_000);


	test('a split store whose log is a SQLite file shares that file\'s connection with a credential naming the same file (no 5 s freeze, no "database is locked")', async () => {
		const file = join(tempDir(), 'shared.db');
		const plain = acquireEngine({ store: `sqlite:${file}` });
		await plain.engine.ingest(trackEvent('first@x.io', 'Pricing Viewed'), { journey: 'nurture' });
		const rejected: string[] = [];
		let split: ReturnType<typeof acquireEngine> | undefined;
		try {
			// A second credential moving hot state to another store, its log still the file the first one writes.
			split = acquireEngine({ store: `split:hot=memory:;log=sqlite:${file}` });
		} catch (error) {
			rejected.push(`opening the split store: ${String(error)}`);
		}
		const engines = split ? [plain, split] : [plain];
		const results = await Promise.allSettled(engines.flatMap(({ engine }, i) => [0, 1, 2].map((n) => engine.decide(trackEvent(`p${i}-${n}@x.io`, 'Pricing Viewed'), { journey: 'nurture', target: { dryRun: true } }))));
		rejected.push(...results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : [])));
		expect(rejected).toEqual([]);
		await plain.release();
		await split?.release();
	}, 60_000);

	test('a credential check on the file shared engines are writing reads through their connection: it neither waits on their write lock nor closes their store', async () => {
		const file = join(tempDir(), 'checked.db');
		const shared = acquireEngine({ store: `sqlite:${file}` });
		await shared.engine.ingest(trackEvent('first@x.io', 'Pricing Viewed'), { journey: 'nurture' });
		const results = await Promise.allSettled([
			...Array.from({ length: 5 }, (_, i) => shared.engine.ingest(trackEvent(`before${i}@x.io`, 'Pricing Viewed'), { journey: 'nurture' })),
			checkEngineConfig({ store: file }),
			...Array.from({ length: 5 }, (_, i) => shared.engine.ingest(trackEvent(`after${i}@x.io`, 'Pricing Viewed'), { journey: 'nurture' })),
		]);
		expect(results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []))).toEqual([]);
		expect((results[5] as PromiseFulfilledResult<{ store: string }>).value.store).toBe('sqlite');
		expect((await shared.engine.ingest(trackEvent('later@x.io', 'Pricing Viewed'), { journey: 'nurture' })).duplicate).toBe(false);
		await shared.release();
		// With no engine on it, the check opens the store and closes it again.
		await expect(checkEngineConfig({ store: `sqlite:${join(tempDir(), 'alone.db')}` })).resolves.toMatchObject({ store: 'sqlite' });
	});

	test('a policy that does not validate creates no store file', () => {
		const path = join(tempDir(), 'never.db');
		expect(() => createEngine({ store: `sqlite:${path}`, policy: '{"channelOrder": "email"}' })).toThrow(/channelOrder: /);
		expect(existsSync(path)).toBe(false);
	});

	test('a missing configuration is explained', () => {
		expect(() => acquireEngine(undefined as never)).toThrow(NudgeError);
		expect(() => acquireEngine(undefined as never)).toThrow(/No Nudge engine is configured/);
	});

	test('the event clock decides at each event time (replays see history as it was)', async () => {
		const engine = new Engine({ store: new MemoryStore(), clock: 'event', policy: loadPolicy() });
		const at = (iso: string) => ({ ...lead('ma@x.io', 'Email Opened'), occurredAt: iso });
		const a = await runJourney(engine, 'nurture', at('2026-01-01T09:00:00Z'), { dryRun: true });
		const b = await runJourney(engine, 'nurture', at('2026-01-01T20:00:00Z'), { dryRun: true });
		const c = await runJourney(engine, 'nurture', at('2026-01-02T09:30:00Z'), { dryRun: true });
		expect([a.status, b.status, c.status]).toEqual(['sent', 'suppressed', 'sent']);
		expect(a.createdAt).toBe('2026-01-01T09:00:00.000Z');
	});
});

describe('the one-call journey claims the send key with the cap slot', () => {
	test('a send that stops before posting (an unusable target) gives the key back, so a later send is not refused', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy({ channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } } }) });
		await expect(engine.decide(lead('kay@example.com'), { journey: 'nurture', target: { url: 'ftp://hooks.example.com/send' } })).rejects.toThrow(/ftp/);
		const [decision] = await engine.store.queryDecisions({ limit: 10 });
		expect(decision).toBeDefined();
		expect(await engine.store.keyHeldUntil(`send:${decision.decisionId}`, Date.now())).toBeUndefined();
		await engine.close();
	});
});

describe('closing an engine', () => {
	test('waits for tracked work, but a run that never settles does not keep the store open for good', async () => {
		const store = new MemoryStore();
		const closed = jest.spyOn(store, 'close');
		const engine = new Engine({ store, ownsStore: true });
		let finished = false;
		engine.track(new Promise((resolve) => setTimeout(resolve, 50)).then(() => (finished = true)));
		engine.track(new Promise(() => undefined));
		// Without a bound this never returns (the test's own time limit fails it).
		await engine.close(300);
		// The run that settled was waited for; the one that never does was given up on after the wait.
		expect(finished).toBe(true);
		expect(closed).toHaveBeenCalledTimes(1);
	});

	test('waits as well for work tracked while it waits (a message already on its way in), and says it is closing from the start', async () => {
		const store = new MemoryStore();
		const engine = new Engine({ store, ownsStore: true });
		let release!: () => void;
		const first = engine.track(new Promise<void>((resolve) => (release = resolve)));
		expect(engine.closing).toBe(false);
		const closing = engine.close(60_000);
		expect(engine.closing).toBe(true);
		let lateDone = false;
		let lateRelease!: () => void;
		engine.track(new Promise<void>((resolve) => (lateRelease = resolve)).then(() => (lateDone = true)));
		release();
		await first;
		let closed = false;
		void closing.then(() => (closed = true));
		// The first is done, the late one not: close is still waiting.
		await new Promise((resolve) => setImmediate(resolve));
		expect(closed).toBe(false);
		lateRelease();
		await closing;
		expect(lateDone).toBe(true);
	});
});

describe('annotations a decision is logged with', () => {
	test('are bounded and plain data: a document-sized or self-referring annotation is refused and the decision stays as it was', async () => {
		const store = new MemoryStore();
		const engine = new Engine({ store });
		const decision = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { userId: 'u-notes' } }, { journey: 'nurture' });
		const id = decision.decision.decisionId;
		await expect(engine.logDecision(id, { note: 'x'.repeat(2 * 1024 * 1024) })).rejects.toThrow(/the annotations are 2097\d{3} bytes of JSON, over 16384/);
		const cyclic: Record<string, unknown> = { campaign: 'spring' };
		cyclic.self = cyclic;
		await expect(engine.logDecision(id, cyclic)).rejects.toThrow(/not plain JSON data \(they refer to themselves, or nest too deep\)/);
		// Logged in steps, the annotations together are bounded too.
		await engine.logDecision(id, { a: 'y'.repeat(10_000) });
		await expect(engine.logDecision(id, { b: 'z'.repeat(10_000) })).rejects.toThrow(/over 16384/);
		expect((await engine.getDecision(id)).annotations).toEqual({ a: 'y'.repeat(10_000) });
	});

	test.each([
		['at the top', '{"__proto__": {"campaign": "spring"}, "ok": 1}', '(root)'],
		['nested', '{"ok": 1, "utm": {"constructor": "x"}}', 'utm'],
	])('a key named "__proto__" or "constructor" (JSON a flow parsed) %s is refused naming it, never silently dropped', async (_label, json, path) => {
		const engine = new Engine({ store: new MemoryStore() });
		const id = (await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { userId: 'u-proto' } }, { journey: 'nurture' })).decision.decisionId;
		await expect(engine.logDecision(id, JSON.parse(json) as Record<string, unknown>)).rejects.toThrow(new RegExp(`^Cannot log the decision: an annotation is not text Nudge can store: ${path.replace(/[()]/g, '\\$&')}: has the key "(__proto__|constructor)": .*not allowed as keys; rename it`));
		expect((await engine.getDecision(id)).annotations).toEqual({});
	});
});
