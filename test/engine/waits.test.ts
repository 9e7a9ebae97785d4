/** Waiting is the engine's job: a delayed decision is kept in the store with its due time and handed out once when due. */
import { Engine } from '../../engine/engine';
import { takeDueDecisions, WAIT_RETRY_MS } from '../../engine/guard/waits';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { type Backend, forEveryBackend } from '../helpers/rawStores';

const night = { id: 'night', start: '21:00', end: '08:00', action: 'delay' as const, exemptCategories: ['transactional'] };
const NIGHT = Date.parse('2026-11-02T22:30:00Z'); // 23:30 in Berlin
const MORNING = Date.parse('2026-11-03T07:00:00Z'); // 08:00 in Berlin

forEveryBackend('nudgewaits', (backend: Backend) => describe(`waiting decisions (${backend.name})`, () => {
	let now = NIGHT;
	let engine: Engine;
	beforeEach(() => {
		now = NIGHT;
		engine = new Engine({ store: backend.open(), policy: loadPolicy({ ...DEFAULT_POLICY, quietHours: [night] }), now: () => new Date(now) });
	});
	afterEach(() => engine.close());

	async function guarded(email: string, timezone = 'Europe/Berlin') {
		const { decision } = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email }, traits: { timezone, consent: { email: 'opted_in' } } }, { journey: 'nurture' });
		return engine.checkCap(await engine.chooseChannel(decision));
	}

	async function take(at: number) {
		const due = await takeDueDecisions(engine, 'nurture', at);
		expect(due.failed).toEqual([]);
		await due.acknowledge();
		return due.decisions;
	}

	test('a night-time decision is kept with its due time and comes out once, at its due time, then is sent as the same decision', async () => {
		const waiting = await guarded('ana@example.com');
		expect(waiting).toMatchObject({ status: 'delayed', reason: 'QUIET_HOURS', guard: { retryAt: new Date(MORNING).toISOString() } });
		// Another contact, in the afternoon (New York): not held up by Ana's wait.
		expect((await guarded('kenji@example.com', 'America/New_York')).guard?.allowed).toBe(true);
		expect(await take(MORNING - 1)).toEqual([]);
		// Another journey's taker does not get it.
		expect((await takeDueDecisions(engine, 'churn-risk', MORNING)).decisions).toEqual([]);
		const [due, ...rest] = await take(MORNING);
		expect(rest).toEqual([]);
		expect(due).toMatchObject({ decisionId: waiting.decisionId, status: 'delayed' });
		expect(await take(MORNING + WAIT_RETRY_MS - 1)).toEqual([]);
		now = MORNING;
		const sent = await engine.send(await engine.checkCap(due), { dryRun: true });
		expect(sent).toMatchObject({ decisionId: waiting.decisionId, status: 'sent' });
		expect(sent.trail.map((t) => `${t.stage}:${t.status}`)).toEqual(['ingest:pending', 'choose:pending', 'guard:delayed', 'guard:pending', 'send:sent']);
		// Its wait, kept in case the flow had failed, hands out nothing now and is gone.
		expect(await take(MORNING + WAIT_RETRY_MS)).toEqual([]);
		expect(await take(MORNING + 3_600_000)).toEqual([]);
	});

	test('a decision whose flow failed before Frequency Cap checked it again comes out again after WAIT_RETRY_MS, not before', async () => {
		const waiting = await guarded('ana@example.com');
		expect((await take(MORNING)).map((d) => d.decisionId)).toEqual([waiting.decisionId]);
		// The execution it went to failed (the store was down at Frequency Cap): the decision is still delayed.
		expect(await take(MORNING + WAIT_RETRY_MS - 1)).toEqual([]);
		const [again, ...rest] = await take(MORNING + WAIT_RETRY_MS);
		expect(rest).toEqual([]);
		expect(again).toMatchObject({ decisionId: waiting.decisionId, status: 'delayed' });
		now = MORNING + WAIT_RETRY_MS;
		expect(await engine.send(await engine.checkCap(again), { dryRun: true })).toMatchObject({ decisionId: waiting.decisionId, status: 'sent' });
		expect(await take(MORNING + 3 * WAIT_RETRY_MS)).toEqual([]);
	});

	test('a decision handed out again while its first execution is between Frequency Cap and Send is sent once, and logged sent', async () => {
		const waiting = await guarded('ana@example.com');
		const ref = { decisionId: waiting.decisionId };
		expect(await take(MORNING)).toHaveLength(1);
		now = MORNING + WAIT_RETRY_MS;
		// The first execution, slow to start, reaches Frequency Cap just as the retry hands the decision out again.
		expect(await take(MORNING + WAIT_RETRY_MS)).toHaveLength(1);
		const first = await engine.checkCap(ref);
		expect(first).toMatchObject({ status: 'pending', guard: { allowed: true } });
		// The second execution's Frequency Cap finds it allowed already: no second slot, not blocked by its own.
		expect(await engine.checkCap(ref)).toMatchObject({ status: 'pending', guard: { allowed: true, reservationId: first.guard?.reservationId } });
		expect(await engine.send(ref, { dryRun: true })).toMatchObject({ status: 'sent' });
		expect(await engine.send(ref, { dryRun: true })).toMatchObject({ status: 'sent' });
		const stored = await engine.store.getDecision(waiting.decisionId);
		expect(stored?.trail.map((t) => `${t.stage}:${t.status}`)).toEqual(['ingest:pending', 'choose:pending', 'guard:delayed', 'guard:pending', 'send:sent']);
	});

	test('a decision handed out and delayed again by its check comes out at its new time, not at the retry', async () => {
		const waiting = await guarded('ana@example.com');
		expect(await take(MORNING)).toHaveLength(1);
		// Checked again in the night (a clock skew): quiet hours delay it to the next morning, which moves its wait.
		now = MORNING - 2 * 3_600_000;
		expect(await engine.checkCap(waiting)).toMatchObject({ status: 'delayed', guard: { retryAt: new Date(MORNING).toISOString() } });
		expect((await take(MORNING)).map((d) => d.decisionId)).toEqual([waiting.decisionId]);
	});

	test('checked again too early it is delayed anew and still comes out once when due; a decision settled meanwhile does not come out', async () => {
		const waiting = await guarded('ana@example.com');
		const other = await guarded('bo@example.com');
		now = MORNING - 60_000;
		const again = await engine.checkCap(waiting);
		expect(again).toMatchObject({ status: 'delayed', guard: { retryAt: new Date(MORNING).toISOString() } });
		// Bo's decision is settled another way before it is due: its wait hands out nothing.
		await engine.store.putDecision({ ...other, status: 'suppressed', reason: 'NEGATIVE_TRIGGER' });
		expect((await take(MORNING)).map((d) => d.decisionId)).toEqual([waiting.decisionId]);
	});

	test('a decision delayed before the policy took its channel out of the journey is suppressed when it comes back, not sent on it', async () => {
		const waiting = await guarded('ana@example.com');
		expect(waiting).toMatchObject({ status: 'delayed', reason: 'QUIET_HOURS', channel: 'email' });
		// Overnight the operator leaves the nurture journey sms and push only.
		engine.setPolicy({ ...DEFAULT_POLICY, quietHours: [night], journeys: { nurture: { channels: ['sms', 'push'] } } });
		now = MORNING;
		const [due] = await take(MORNING);
		const checked = await engine.checkCap(due);
		expect(checked).toMatchObject({ status: 'suppressed', reason: 'NO_ELIGIBLE_CHANNEL', channel: 'email', explanation: expect.stringMatching(/^email is not a channel of journey nurture \(the policy gives it sms, push\)/) });
		expect(checked.guard?.allowed ?? false).toBe(false);
		// Logged under the policy that decided it, and nothing reserved for it.
		expect((await engine.store.getDecision(waiting.decisionId))).toMatchObject({ status: 'suppressed', policyVersion: engine.policyVersion });
	});

	test('a taker that dies before acknowledging loses the decision to the next taker after the lease', async () => {
		const waiting = await guarded('ana@example.com');
		const dead = await takeDueDecisions(engine, 'nurture', MORNING, 100, 1000);
		expect(dead.decisions.map((d) => d.decisionId)).toEqual([waiting.decisionId]);
		expect(await take(MORNING + 999)).toEqual([]);
		expect((await take(MORNING + 1000)).map((d) => d.decisionId)).toEqual([waiting.decisionId]);
		expect(await take(MORNING + 5000)).toEqual([]);
	});
}));
