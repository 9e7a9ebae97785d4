import { join } from 'node:path';
import { actionDecisionId } from '../../engine/agents/idempotency';
import { Engine } from '../../engine/engine';
import { takeDueDecisions } from '../../engine/guard/waits';
import { NudgeError } from '../../engine/errors';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import type { PolicyInput } from '../../engine/policy/schema';
import { MemoryStore } from '../../engine/store/memory';
import { PostgresStore } from '../../engine/store/postgres';
import { RedisStore } from '../../engine/store/redis';
import { SqliteStore } from '../../engine/store/sqlite';
import type { Store } from '../../engine/store/types';
import { waitQueue } from '../../engine/store/types';
import { tempDir } from '../helpers/fixtures';
import { describeWithServer, runId, TEST_POSTGRES_URL, TEST_REDIS_URL } from '../helpers/services';

/** Agent actions (engine/agents, DESIGN §12) on every store: the verdicts, approvals, idempotency and blast radius. */

const AT = '2026-05-04T10:00:00.000Z';
/** No blast radius unless a test sets one, so each test sees only the guardrail it is about. */
const BASE: PolicyInput = { ...DEFAULT_POLICY, agents: { blastRadius: [] } };

interface Harness {
	engine: Engine;
	store: Store;
	clock: { now: Date };
}

function harness(store: Store, extra: Partial<PolicyInput> = {}, agents: Record<string, unknown> = {}): Harness {
	const clock = { now: new Date(AT) };
	const policy = loadPolicy({ ...BASE, ...extra, agents: { ...(BASE.agents as object), ...agents } });
	return { engine: new Engine({ store, policy, now: () => clock.now }), store, clock };
}

async function contact(engine: Engine, email: string, consent: Record<string, string> = { email: 'opted_in' }, traits: Record<string, unknown> = {}): Promise<string> {
	const { profile } = await engine.ingest({ type: 'identify', identities: { email, userId: `u-${email}` }, traits: { consent, ...traits }, occurredAt: AT });
	return profile!.contactId;
}

const ask = (overrides: Record<string, unknown> = {}) => ({
	agentId: 'growth-bot',
	idempotencyKey: 'k1',
	contact: 'ana@example.com',
	channel: 'email',
	message: { category: 'promotional', text: 'Hello Ana, 10% off this week', subject: 'A week of savings' },
	...overrides,
});

async function thrown(p: Promise<unknown>): Promise<NudgeError> {
	try {
		await p;
	} catch (error) {
		return error as NudgeError;
	}
	throw new Error('expected an error');
}

const local: [string, () => Store][] = [
	['memory', () => new MemoryStore()],
	['sqlite', () => new SqliteStore(join(tempDir(), 'agents.db'))],
];

describe.each(local)('agent actions on %s', (_name, makeStore) => {
	let h: Harness;
	const open = (extra: Partial<PolicyInput> = {}, agents: Record<string, unknown> = {}) => (h = harness(makeStore(), extra, agents));
	afterEach(() => h?.engine.close());

	test('allow reserves a cap slot; sendAction sends once by the one send path and logs it with the agent id', async () => {
		open();
		await contact(h.engine, 'ana@example.com');
		const verdict = await h.engine.requestAction(ask());
		expect(verdict).toMatchObject({ verdict: 'allow', reasons: [], channel: 'email', dryRun: false, agentId: 'growth-bot' });
		expect(verdict.duplicate).toBeUndefined();
		const held = await h.engine.getDecision(verdict.decisionId);
		expect(held.guard?.reservationId).toBeDefined();
		expect(held.agent).toMatchObject({ agentId: 'growth-bot', idempotencyKey: 'k1', verdict: 'allow', requestedChannel: 'email', content: { subject: 'A week of savings' } });
		expect(held.message).toEqual({ category: 'promotional' });
		const sent = await h.engine.sendAction(verdict.decisionId, { dryRun: true });
		expect(sent.status).toBe('sent');
		expect(sent.loggedAt).toBeDefined();
		expect((await h.engine.sendAction(verdict.decisionId, { dryRun: true })).delivery).toEqual(sent.delivery);
		const again = await h.engine.requestAction(ask());
		expect(again).toMatchObject({ verdict: 'allow', duplicate: true, decisionId: verdict.decisionId });
		expect(again.explanation).toMatch(/Already sent/);
		const logged = (await h.engine.queryDecisions({ contactId: held.contactId })).filter((d) => d.agent);
		expect(logged.map((d) => d.agent?.agentId)).toEqual(['growth-bot']);
	});

	test('the same idempotency key is one action: repeats reserve nothing more, a new key meets the cap the first one took', async () => {
		open();
		await contact(h.engine, 'ana@example.com');
		const verdicts = [];
		for (let i = 0; i < 5; i++) verdicts.push(await h.engine.requestAction(ask()));
		expect(new Set(verdicts.map((v) => v.decisionId)).size).toBe(1);
		expect(verdicts.filter((v) => !v.duplicate)).toHaveLength(1);
		expect(verdicts.every((v) => v.verdict === 'allow')).toBe(true);
		// email-daily allows one email a day: the first key holds it.
		const other = await h.engine.requestAction(ask({ idempotencyKey: 'k2' }));
		expect(other).toMatchObject({ verdict: 'deny', reasons: ['FREQUENCY_CAP'], rule: 'email-daily' });
		expect(other.explanation).toMatch(/cap email-daily reached: 1 of 1/);
	});

	test('twenty racing calls with one key: one action, one reservation', async () => {
		open({ caps: [{ id: 'any-10', scope: { kind: 'any' }, limit: 10, window: { kind: 'rolling', duration: '24h' } }] });
		await contact(h.engine, 'ana@example.com');
		const verdicts = await Promise.all(Array.from({ length: 20 }, () => h.engine.requestAction(ask())));
		expect(verdicts.filter((v) => !v.duplicate)).toHaveLength(1);
		expect(new Set(verdicts.map((v) => `${v.decisionId}:${v.verdict}`)).size).toBe(1);
		const peek = await h.store.peekCap((await h.engine.getDecision(verdicts[0].decisionId)).contactId, [{ ruleId: 'any-10', limit: 10, since: 0, match: {}, excludeTags: [] }], Date.parse(AT));
		expect(peek.counts).toEqual([1]);
	});

	test('the same key with other content is refused, and nothing changes', async () => {
		open();
		await contact(h.engine, 'ana@example.com');
		const first = await h.engine.requestAction(ask());
		const error = await thrown(h.engine.requestAction(ask({ message: { category: 'promotional', text: 'Another text' } })));
		expect(error).toMatchObject({ code: 'CONFLICT' });
		expect(error.message).toMatch(/already used .* for a different request/);
		expect((await h.engine.getDecision(first.decisionId)).agent?.verdict).toBe('allow');
		// A dry run answers as the real request would: not "allowed, duplicate".
		await expect(h.engine.requestAction(ask({ dryRun: true, message: { category: 'promotional', text: 'Another text' } }))).rejects.toMatchObject({ code: 'CONFLICT' });
		expect(await h.engine.requestAction(ask({ dryRun: true }))).toMatchObject({ verdict: 'allow', duplicate: true, dryRun: true });
	});

	test('the kill switch stops an allowed action that was not sent yet', async () => {
		open();
		await contact(h.engine, 'ana@example.com');
		const verdict = await h.engine.requestAction(ask());
		h.engine.setPolicy({ ...BASE, agents: { blastRadius: [], killSwitch: true } });
		const stopped = await h.engine.sendAction(verdict.decisionId, { dryRun: true });
		expect(stopped).toMatchObject({ status: 'suppressed', reason: 'AGENT_KILL_SWITCH', agent: { verdict: 'deny' } });
		expect(stopped.delivery).toBeUndefined();
		expect(await h.engine.requestAction(ask())).toMatchObject({ verdict: 'deny', duplicate: true, reasons: ['AGENT_KILL_SWITCH'] });
	});

	test('an allowed action sent after its reservation ran out is checked again: its slot may have gone to another message', async () => {
		open();
		await contact(h.engine, 'ana@example.com');
		const first = await h.engine.requestAction(ask());
		// reservationTimeoutSeconds is 300: the unsent first action's slot frees, and a second action takes it.
		h.clock.now = new Date(Date.parse(AT) + 301_000);
		expect(await h.engine.requestAction(ask({ idempotencyKey: 'k2' }))).toMatchObject({ verdict: 'allow' });
		const late = await h.engine.sendAction(first.decisionId, { dryRun: true });
		expect(late).toMatchObject({ status: 'suppressed', reason: 'FREQUENCY_CAP', agent: { verdict: 'deny' } });
		expect(late.delivery).toBeUndefined();
	});

	test('an opted-out contact is denied with its reason and the binding consent rule', async () => {
		open();
		await contact(h.engine, 'ana@example.com', { email: 'opted_out' });
		const verdict = await h.engine.requestAction(ask());
		expect(verdict).toMatchObject({ verdict: 'deny', reasons: ['NO_CONSENT'], rule: 'consent:email' });
		expect(verdict.explanation).toMatch(/^Denied \(NO_CONSENT/);
		const logged = await h.engine.getDecision(verdict.decisionId);
		expect(logged).toMatchObject({ status: 'suppressed', reason: 'NO_CONSENT', agent: { verdict: 'deny', reasons: ['NO_CONSENT'] } });
		expect(logged.loggedAt).toBeDefined();
		await expect(h.engine.sendAction(verdict.decisionId, { dryRun: true })).rejects.toMatchObject({ code: 'NOT_RESERVED' });
	});

	test('quiet hours defer with retryAt and no wait timer; asking again after retryAt decides again', async () => {
		open({ quietHours: [{ id: 'nights', start: '21:00', end: '08:00' }] });
		await contact(h.engine, 'ana@example.com');
		h.clock.now = new Date('2026-05-04T22:00:00Z');
		const verdict = await h.engine.requestAction(ask());
		expect(verdict).toMatchObject({ verdict: 'defer', reasons: ['QUIET_HOURS'], rule: 'nights', retryAt: '2026-05-05T08:00:00.000Z' });
		expect(await h.store.takeDueTimers(Date.parse('2026-05-06T00:00:00Z'), 10, 1000, waitQueue('agent'))).toEqual([]);
		// Nor does a journey's first take of its due decisions give it one (the waits an earlier version left to its flows).
		expect((await takeDueDecisions(h.engine, 'agent', Date.parse('2026-05-06T00:00:00Z'))).decisions).toEqual([]);
		h.clock.now = new Date('2026-05-05T07:00:00Z');
		expect(await h.engine.requestAction(ask())).toMatchObject({ verdict: 'defer', duplicate: true });
		h.clock.now = new Date('2026-05-05T08:30:00Z');
		const later = await h.engine.requestAction(ask());
		expect(later).toMatchObject({ verdict: 'allow', decisionId: verdict.decisionId });
		expect(later.duplicate).toBeUndefined();
	});

	test('the kill switch, a disabled agents block and a blocked agent deny before anything is looked at', async () => {
		open({}, { killSwitch: true });
		await contact(h.engine, 'ana@example.com');
		expect(await h.engine.requestAction(ask())).toMatchObject({ verdict: 'deny', reasons: ['AGENT_KILL_SWITCH'], rule: 'agents.killSwitch' });
		h.engine.setPolicy({ ...BASE, agents: { blastRadius: [], blocked: ['growth-bot'] } });
		expect(await h.engine.requestAction(ask({ idempotencyKey: 'k2' }))).toMatchObject({ verdict: 'deny', reasons: ['AGENT_BLOCKED'] });
		expect(await h.engine.requestAction(ask({ idempotencyKey: 'k3', agentId: 'other-bot' }))).toMatchObject({ verdict: 'allow' });
		h.engine.setPolicy({ ...BASE, agents: { enabled: false } });
		expect(await h.engine.requestAction(ask({ idempotencyKey: 'k4' }))).toMatchObject({ verdict: 'deny', reasons: ['AGENTS_DISABLED'] });
	});

	test('holdouts apply to agent actions: a held-out contact is denied HOLDOUT and counted in its control group', async () => {
		open({ holdout: { globalShare: 1 } });
		await contact(h.engine, 'ana@example.com');
		const verdict = await h.engine.requestAction(ask());
		expect(verdict).toMatchObject({ verdict: 'deny', reasons: ['HOLDOUT'] });
		expect((await h.engine.getDecision(verdict.decisionId)).choice?.method).toBe('holdout');
		expect((await h.engine.requestAction(ask({ idempotencyKey: 'k2', channel: 'choose' }))).reasons).toEqual(['HOLDOUT']);
	});

	test('"choose" lets the engine pick the channel among the eligible ones', async () => {
		open();
		await contact(h.engine, 'ana@example.com', { email: 'opted_out', sms: 'opted_in' }, { phone: '+4915112345678' });
		const verdict = await h.engine.requestAction(ask({ channel: 'choose' }));
		expect(verdict).toMatchObject({ verdict: 'allow', channel: 'sms' });
		expect((await h.engine.getDecision(verdict.decisionId)).agent?.requestedChannel).toBe('choose');
	});

	test('a dry run answers like the real request and claims, reserves and logs nothing', async () => {
		open();
		const contactId = await contact(h.engine, 'ana@example.com');
		const dry = await h.engine.requestAction(ask({ dryRun: true }));
		expect(dry).toMatchObject({ verdict: 'allow', dryRun: true, channel: 'email' });
		expect(await h.store.getDecision(dry.decisionId)).toBeUndefined();
		expect((await h.engine.queryDecisions({ contactId })).filter((d) => d.agent)).toEqual([]);
		// Nothing was reserved: the real request still gets the day's only email.
		expect(await h.engine.requestAction(ask({ idempotencyKey: 'k9' }))).toMatchObject({ verdict: 'allow' });
		expect(await h.engine.requestAction(ask({ idempotencyKey: 'k10', dryRun: true }))).toMatchObject({ verdict: 'deny', reasons: ['FREQUENCY_CAP'], dryRun: true });
	});

	describe('approvals', () => {
		const approvalPolicy = { approval: [{ id: 'big-offers', when: { field: 'message.offerValue', op: 'gt', value: 20 } }, { id: 'sms', channels: ['sms'] }] };
		const big = (overrides: Record<string, unknown> = {}) => ask({ message: { category: 'promotional', offerValue: 30, text: '30% off for you' }, ...overrides });

		test('needs_approval → approved → the same request with the approval id is allowed; the approver is recorded', async () => {
			open({}, approvalPolicy);
			await contact(h.engine, 'ana@example.com');
			const held = await h.engine.requestAction(big());
			expect(held).toMatchObject({ verdict: 'needs_approval', reasons: ['REVIEW_REQUIRED'], rule: 'big-offers' });
			expect(held.approvalId).toMatch(new RegExp(`^${held.decisionId}\\.`));
			expect(held.approvalExpiresAt).toBe('2026-05-05T10:00:00.000Z');
			// Before anyone decided, the approval id gets the same answer.
			expect(await h.engine.requestAction(big({ approvalId: held.approvalId }))).toMatchObject({ verdict: 'needs_approval', duplicate: true });
			h.clock.now = new Date('2026-05-04T11:00:00Z');
			const approved = await h.engine.decideApproval(held.approvalId!, { approver: 'mia@shop.example', approve: true, note: 'fine for VIPs' });
			expect(approved.verdict).toBe('needs_approval');
			expect(approved.explanation).toMatch(/Approved by mia@shop.example/);
			expect(approved.approvalExpiresAt).toBe('2026-05-05T11:00:00.000Z');
			// Until the agent comes back, the log says it is approved and whom it waits for, not that it needs review.
			expect(await h.engine.getDecision(held.decisionId)).toMatchObject({
				status: 'review',
				review: { verdict: 'approved' },
				explanation: 'approved by mia@shop.example; waiting for agent growth-bot to request it again with its approval id before 2026-05-05T11:00:00.000Z',
			});
			const go = await h.engine.requestAction(big({ approvalId: held.approvalId }));
			expect(go).toMatchObject({ verdict: 'allow', decisionId: held.decisionId });
			const decision = await h.engine.getDecision(held.decisionId);
			expect(decision.review).toMatchObject({ verdict: 'approved', reviewer: 'mia@shop.example', note: 'fine for VIPs' });
			expect((await h.engine.sendAction(go.decisionId, { dryRun: true })).status).toBe('sent');
			await expect(h.engine.decideApproval(held.approvalId!, { approver: 'mia', approve: true })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
		});

		test('an approval presented ten times at once allows one action, reserves one slot and sends once', async () => {
			open({ caps: [{ id: 'any-10', scope: { kind: 'any' }, limit: 10, window: { kind: 'rolling', duration: '24h' } }] }, approvalPolicy);
			const contactId = await contact(h.engine, 'ana@example.com');
			const held = await h.engine.requestAction(big());
			await h.engine.decideApproval(held.approvalId!, { approver: 'mia', approve: true });
			const verdicts = await Promise.all(Array.from({ length: 10 }, () => h.engine.requestAction(big({ approvalId: held.approvalId }))));
			expect(verdicts.filter((v) => !v.duplicate)).toHaveLength(1);
			expect(verdicts.every((v) => v.verdict === 'allow' && v.decisionId === held.decisionId)).toBe(true);
			const sends = await Promise.all(verdicts.map((v) => h.engine.sendAction(v.decisionId, { dryRun: true })));
			expect(new Set(sends.map((d) => d.delivery?.at))).toEqual(new Set([sends[0].delivery!.at]));
			expect((await h.store.peekCap(contactId, [{ ruleId: 'any-10', limit: 10, since: 0, match: {}, excludeTags: [] }], Date.parse(AT))).counts).toEqual([1]);
		});

		test('an approval for one message cannot approve another: APPROVAL_MISMATCH, and nothing is reserved', async () => {
			open({}, approvalPolicy);
			await contact(h.engine, 'ana@example.com');
			const held = await h.engine.requestAction(big());
			await h.engine.decideApproval(held.approvalId!, { approver: 'mia', approve: true });
			const other = await h.engine.requestAction(big({ idempotencyKey: 'k2', approvalId: held.approvalId, message: { category: 'promotional', offerValue: 90, text: '90% off' } }));
			expect(other).toMatchObject({ verdict: 'deny', reasons: ['APPROVAL_MISMATCH'], rule: 'agents.approval' });
			expect((await h.engine.getDecision(other.decisionId)).guard).toBeUndefined();
			// The same content under another key is not the approved request either.
			expect((await h.engine.requestAction(big({ idempotencyKey: 'k3', approvalId: held.approvalId }))).reasons).toEqual(['APPROVAL_MISMATCH']);
			// The approved request itself still goes.
			expect((await h.engine.requestAction(big({ approvalId: held.approvalId }))).verdict).toBe('allow');
		});

		test('a forged approval id is APPROVAL_INVALID; a late one APPROVAL_EXPIRED; a refused one REVIEW_REJECTED', async () => {
			open({}, approvalPolicy);
			await contact(h.engine, 'ana@example.com');
			const held = await h.engine.requestAction(big());
			const forged = `${held.decisionId}.AAAAAAAAAAAAAAAA`;
			expect((await h.engine.requestAction(big({ idempotencyKey: 'f1', approvalId: forged }))).reasons).toEqual(['APPROVAL_INVALID']);
			expect((await h.engine.requestAction(big({ idempotencyKey: 'f2', approvalId: 'nonsense' }))).reasons).toEqual(['APPROVAL_INVALID']);
			await expect(h.engine.decideApproval(forged, { approver: 'mia', approve: true })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
			// Another agent cannot use it.
			expect((await h.engine.requestAction(big({ agentId: 'other', approvalId: held.approvalId }))).reasons).toEqual(['APPROVAL_INVALID']);

			await h.engine.decideApproval(held.approvalId!, { approver: 'mia', approve: true });
			h.clock.now = new Date('2026-05-06T10:00:00Z');
			expect(await h.engine.requestAction(big({ approvalId: held.approvalId }))).toMatchObject({ verdict: 'deny', reasons: ['APPROVAL_EXPIRED'] });

			const refused = await h.engine.requestAction(big({ idempotencyKey: 'k5' }));
			const verdict = await h.engine.decideApproval(refused.approvalId!, { approver: 'mia', approve: false, note: 'too generous' });
			expect(verdict).toMatchObject({ verdict: 'deny', reasons: ['REVIEW_REJECTED'] });
			expect(await h.engine.requestAction(big({ idempotencyKey: 'k5', approvalId: refused.approvalId }))).toMatchObject({ verdict: 'deny', duplicate: true });
		});

		test('an approval window that passed before anyone decided ends the action suppressed APPROVAL_EXPIRED, in the log', async () => {
			open({}, approvalPolicy);
			await contact(h.engine, 'ana@example.com');
			const held = await h.engine.requestAction(big());
			expect(held.verdict).toBe('needs_approval');
			// The agent never comes back; the approver opens the queue two days later (approvalTtl 24h).
			h.clock.now = new Date('2026-05-06T10:00:00.000Z');
			await expect(h.engine.decideApproval(held.approvalId!, { approver: 'mia@shop.example', approve: true })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/expired/) });
			const decision = await h.engine.getDecision(held.decisionId);
			expect(decision).toMatchObject({ status: 'suppressed', reason: 'APPROVAL_EXPIRED' });
			expect(decision.loggedAt).toBeDefined();
			expect(await h.engine.requestAction(big({ approvalId: held.approvalId }))).toMatchObject({ verdict: 'deny', reasons: ['APPROVAL_EXPIRED'], duplicate: true });
		});

		test('approving an action approves its content only, not the variant label it carries', async () => {
			open({ caps: [], review: [{ id: 'new-variant', newVariant: true }] });
			await contact(h.engine, 'ana@example.com');
			await contact(h.engine, 'bo@example.com');
			const held = await h.engine.requestAction(ask({ message: { variant: 'B', text: 'Spring catalogue is out' } }));
			expect(held).toMatchObject({ verdict: 'needs_approval', rule: 'new-variant' });
			await h.engine.decideApproval(held.approvalId!, { approver: 'mia@shop.example', approve: true });
			expect(await h.engine.requestAction(ask({ approvalId: held.approvalId, message: { variant: 'B', text: 'Spring catalogue is out' } }))).toMatchObject({ verdict: 'allow' });
			// Other text under the same label, to another contact: no person saw it.
			const other = await h.engine.requestAction(ask({ idempotencyKey: 'k2', contact: 'bo@example.com', message: { variant: 'B', text: '90% OFF EVERYTHING, today only' } }));
			expect(other).toMatchObject({ verdict: 'needs_approval', reasons: ['REVIEW_REQUIRED'], rule: 'new-variant' });
		});

		test('an unknown agent and the existing review rules also hold actions; resolveReview decides an agent action by its approval', async () => {
			open({ review: [{ id: 'new-variant', newVariant: true }] }, { approval: [{ id: 'strangers', unknownAgent: true }], known: ['growth-bot'] });
			await contact(h.engine, 'ana@example.com');
			expect(await h.engine.requestAction(ask({ agentId: 'stranger' }))).toMatchObject({ verdict: 'needs_approval', rule: 'strangers' });
			const variant = await h.engine.requestAction(ask({ idempotencyKey: 'v', message: { variant: 'B' } }));
			expect(variant).toMatchObject({ verdict: 'needs_approval', rule: 'new-variant' });
			await h.engine.resolveReview(variant.decisionId, { approve: true, reviewer: 'mia' });
			expect((await h.engine.requestAction(ask({ idempotencyKey: 'v', message: { variant: 'B' }, approvalId: variant.approvalId }))).verdict).toBe('allow');
		});
	});

	describe('a message the policy cannot tell exempt or counted', () => {
		test('is denied POLICY_BLOCKED and logged whether the agent names the channel or lets Nudge choose; a repeat takes no slot', async () => {
			const caps = [{ id: 'email-daily', scope: { kind: 'channel' as const, channel: 'email' as const }, limit: 1, window: { kind: 'rolling' as const, duration: '24h' }, exemptions: [{ category: 'transactional' }] }];
			open({ caps }, { blastRadius: [{ id: 'two', count: 'actions', limit: 2, window: '1h' }] });
			await contact(h.engine, 'ana@example.com');
			// A promotional message tagged "transactional": exempt by its tag or counted by its category?
			const posing = (channel: string, key: string) => ask({ idempotencyKey: key, channel, message: { category: 'promotional', tags: ['transactional'], text: 'Hi' } });
			const named = await h.engine.requestAction(posing('email', 'k-email'));
			expect(named).toMatchObject({ verdict: 'deny', reasons: ['POLICY_BLOCKED'] });
			const chosen = await h.engine.requestAction(posing('choose', 'k-choose'));
			expect(chosen).toMatchObject({ verdict: 'deny', reasons: ['POLICY_BLOCKED'] });
			expect(chosen.explanation).toMatch(/tag "transactional" names a category that cap email-daily exempts/);
			const logged = (await h.engine.queryDecisions({})).filter((d) => d.agent);
			expect(logged.map((d) => [d.agent!.idempotencyKey, d.reason, !!d.loggedAt]).sort()).toEqual([['k-choose', 'POLICY_BLOCKED', true], ['k-email', 'POLICY_BLOCKED', true]]);
			// The same key again is the same verdict, not a new evaluation: the blast radius (2 an hour) is not used up by it.
			expect(await h.engine.requestAction(posing('choose', 'k-choose'))).toMatchObject({ verdict: 'deny', reasons: ['POLICY_BLOCKED'] });
		});
	});

	describe('blast radius', () => {
		test('at most N actions per agent and window; other agents are counted apart; dry runs do not count', async () => {
			open({ caps: [] }, { blastRadius: [{ id: 'three-an-hour', count: 'actions', limit: 3, window: '1h' }] });
			for (const who of ['a', 'b', 'c', 'd']) await contact(h.engine, `${who}@example.com`);
			await h.engine.requestAction(ask({ idempotencyKey: 'dry', contact: 'd@example.com', dryRun: true }));
			const verdicts = [];
			for (const who of ['a', 'b', 'c', 'd']) verdicts.push(await h.engine.requestAction(ask({ idempotencyKey: who, contact: `${who}@example.com` })));
			expect(verdicts.map((v) => v.verdict)).toEqual(['allow', 'allow', 'allow', 'deny']);
			expect(verdicts[3]).toMatchObject({ reasons: ['BLAST_RADIUS'], rule: 'three-an-hour' });
			expect(verdicts[3].explanation).toMatch(/3 of 3 actions in the last 1h; the next slot frees at 2026-05-04T11:00:00.000Z/);
			expect(await h.engine.requestAction(ask({ idempotencyKey: 'x', agentId: 'other-bot', contact: 'd@example.com' }))).toMatchObject({ verdict: 'allow' });
			h.clock.now = new Date('2026-05-04T11:00:01Z');
			expect(await h.engine.requestAction(ask({ idempotencyKey: 'd2', contact: 'd@example.com' }))).toMatchObject({ verdict: 'allow' });
		});

		test('requests with forged approvals count too: an agent looping on them is stopped', async () => {
			open({ caps: [] }, { blastRadius: [{ id: 'two', count: 'actions', limit: 2, window: '1h' }] });
			await contact(h.engine, 'ana@example.com');
			const reasons = [];
			for (let i = 0; i < 4; i++) reasons.push((await h.engine.requestAction(ask({ idempotencyKey: `f${i}`, approvalId: `d_x.forged${i}` }))).reasons[0]);
			expect(reasons).toEqual(['APPROVAL_INVALID', 'APPROVAL_INVALID', 'BLAST_RADIUS', 'BLAST_RADIUS']);
		});

		test('at most N distinct contacts: more actions on a contact already touched still go', async () => {
			open({ caps: [] }, { blastRadius: [{ id: 'two-contacts', count: 'contacts', limit: 2, window: '1d', agents: ['growth-bot'] }] });
			for (const who of ['a', 'b', 'c']) await contact(h.engine, `${who}@example.com`);
			const v = async (key: string, who: string) => (await h.engine.requestAction(ask({ idempotencyKey: key, contact: `${who}@example.com` }))).verdict;
			expect([await v('1', 'a'), await v('2', 'b'), await v('3', 'a'), await v('4', 'c'), await v('5', 'b')]).toEqual(['allow', 'allow', 'allow', 'deny', 'allow']);
			// The rule names growth-bot only.
			expect((await h.engine.requestAction(ask({ idempotencyKey: '6', contact: 'c@example.com', agentId: 'other-bot' }))).verdict).toBe('allow');
		});

		test('a distinct-contacts limit holds when a runaway agent fires several requests per new contact at once', async () => {
			open({ caps: [] }, { blastRadius: [{ id: 'one-contact', count: 'contacts', limit: 1, window: '1d' }] });
			const people = Array.from({ length: 12 }, (_, i) => `p${i}@example.com`);
			for (const email of people) await contact(h.engine, email);
			// Three calls per contact, all at once: a request denied for a new contact must not let its twin through.
			const verdicts = await Promise.all(people.flatMap((email, i) => [0, 1, 2].map((j) => h.engine.requestAction(ask({ idempotencyKey: `c${i}-${j}`, contact: email })))));
			const reached = new Set(verdicts.flatMap((v, n) => (v.verdict === 'allow' ? [people[Math.floor(n / 3)]] : [])));
			expect(reached.size).toBe(1);
			expect(verdicts.filter((v) => v.verdict !== 'allow').every((v) => v.reasons[0] === 'BLAST_RADIUS')).toBe(true);
			// The contact reached is still reachable, and no other is.
			const [only] = [...reached];
			expect((await h.engine.requestAction(ask({ idempotencyKey: 'again', contact: only }))).verdict).toBe('allow');
			expect((await h.engine.requestAction(ask({ idempotencyKey: 'other', contact: people.find((p) => p !== only) }))).reasons).toEqual(['BLAST_RADIUS']);
		});

		/** Two requests per contact, all at once: `limit` contacts are reached, each by both its twins; the others by neither, refused by the blast radius. */
		async function expectTwinsReach(people: string[], limit: number): Promise<void> {
			const verdicts = await Promise.all(people.flatMap((email, i) => [0, 1].map((j) => h.engine.requestAction(ask({ idempotencyKey: `c${i}-${j}`, contact: email })))));
			const reached = people.filter((_, i) => verdicts[2 * i].verdict === 'allow' || verdicts[2 * i + 1].verdict === 'allow');
			expect(reached).toHaveLength(limit);
			for (const [i, email] of people.entries()) {
				const twins = [verdicts[2 * i], verdicts[2 * i + 1]].map((v) => (v.verdict === 'allow' ? 'allow' : v.reasons[0]));
				expect(twins).toEqual(reached.includes(email) ? ['allow', 'allow'] : ['BLAST_RADIUS', 'BLAST_RADIUS']);
			}
		}

		test('a distinct-contacts limit is used in full when twin requests for new contacts come at once', async () => {
			open({ caps: [] }, { blastRadius: [{ id: 'two-contacts', count: 'contacts', limit: 2, window: '1d' }] });
			const people = Array.from({ length: 6 }, (_, i) => `p${i}@example.com`);
			for (const email of people) await contact(h.engine, email);
			// Both twins of a contact once took a slot before either marked it, so a third contact was refused while
			// the second twin still held its slot, and only one contact was reached.
			await expectTwinsReach(people, 2);
		});

		test('twin requests are counted one at a time while the contact is marked in one rule but not in another', async () => {
			open({ caps: [] }, { blastRadius: [{ id: 'two-an-hour', count: 'contacts', limit: 2, window: '1h' }, { id: 'many-a-day', count: 'contacts', limit: 100, window: '1d' }] });
			const people = Array.from({ length: 6 }, (_, i) => `p${i}@example.com`);
			for (const email of people) await contact(h.engine, email);
			// Two contacts an hour for three hours: each is then marked in the day's rule only, and its twins must still be
			// counted one at a time (taken at once, both twins of the first contact held the hour's two slots).
			for (const [i, email] of people.entries()) {
				h.clock.now = new Date(Date.parse(AT) + Math.floor(i / 2) * 3_601_000);
				expect((await h.engine.requestAction(ask({ idempotencyKey: `first-${i}`, contact: email }))).verdict).toBe('allow');
			}
			h.clock.now = new Date(Date.parse(AT) + 3 * 3_601_000);
			await expectTwinsReach(people, 2);
		});
	});

	describe('bad input gets an actionable error and changes nothing', () => {
		const cases: [string, Record<string, unknown>, string, RegExp][] = [
			['an unknown contact', { contact: 'nobody@example.com' }, 'UNKNOWN_CONTACT', /email nobody@example.com: no contact has it.*check the id or address, and do not retry it as it is/],
			['identities of two contacts', { contact: { email: 'ana@example.com', userId: 'u-bo@example.com' } }, 'UNKNOWN_CONTACT', /belong to different contacts/],
			['no identity', { contact: {} }, 'INVALID_INPUT', /contact: name the contact by at least one of contactId, email/],
			['an unknown channel', { channel: 'fax' }, 'INVALID_INPUT', /channel: must be one of email, .*or "choose"/],
			['an oversized message', { message: { text: 'x'.repeat(20_001) } }, 'INVALID_INPUT', /message.text: must be at most 20000 characters/],
			['an extra field', { sendNow: true }, 'INVALID_INPUT', /sendNow/],
			['an extra message field', { message: { html: '<b>' } }, 'INVALID_INPUT', /html/],
			['no agent id', { agentId: undefined }, 'INVALID_INPUT', /agentId/],
			['no idempotency key', { idempotencyKey: '' }, 'INVALID_INPUT', /idempotencyKey: must not be empty/],
			['a negative offer', { message: { offerValue: -5 } }, 'INVALID_INPUT', /offerValue/],
			['a NUL character in the key', { idempotencyKey: 'k\u0000x' }, 'INVALID_INPUT', /idempotencyKey: contains a NUL character/],
			['a NUL character in the text', { message: { text: 'Hi\u0000' } }, 'INVALID_INPUT', /message.text: contains a NUL character/],
			['a NUL character in an identity', { contact: 'ana\u0000@example.com' }, 'INVALID_INPUT', /contact: contains a NUL character/],
			['a NUL character in an identity object', { contact: { userId: 'u\u0000' } }, 'INVALID_INPUT', /contact.userId: contains a NUL character/],
			['a contact that is neither text nor an object', { contact: 42 }, 'INVALID_INPUT', /contact: must be a contact id, an email address, or an object of identities/],
			['an unknown identity kind', { contact: { phone: '+4915112345678' } }, 'INVALID_INPUT', /contact: Unrecognized key: "phone"/],
			['half a surrogate pair in the subject', { message: { subject: 'Hi \ud83d' } }, 'INVALID_INPUT', /message.subject: is not valid Unicode text/],
			['a journey the policy does not have', { journey: 'made-up' }, 'INVALID_INPUT', /Journey "made-up" is not in the policy: .*name one of agent, nurture/],
		];
		test.each(cases)('%s', async (_what, overrides, code, message) => {
			open();
			const ana = await contact(h.engine, 'ana@example.com');
			await contact(h.engine, 'bo@example.com');
			const error = await thrown(h.engine.requestAction(ask(overrides)));
			expect(error).toBeInstanceOf(NudgeError);
			expect(error.code).toBe(code);
			expect(error.message).toMatch(message);
			expect((await h.engine.queryDecisions({ contactId: ana })).filter((d) => d.agent)).toEqual([]);
		});
		test('not an object', async () => {
			open();
			await expect(h.engine.requestAction('send it')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
			await expect(h.engine.requestAction([ask()])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
		});
		test('sendAction refuses what is not an allowed agent action', async () => {
			open();
			await contact(h.engine, 'ana@example.com');
			const { decision } = await h.engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' }, occurredAt: AT });
			await expect(h.engine.sendAction(decision.decisionId, { dryRun: true })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
			await expect(h.engine.sendAction('d_nope', { dryRun: true })).rejects.toMatchObject({ code: 'UNKNOWN_DECISION' });
		});
	});

	test('erasure pseudonymises an agent action: its content and a key naming the person go', async () => {
		open();
		await contact(h.engine, 'ana@example.com');
		const verdict = await h.engine.requestAction(ask({ idempotencyKey: 'welcome-ana@example.com' }));
		await h.engine.eraseContact({ email: 'ana@example.com' });
		const erased = await h.engine.getDecision(verdict.decisionId);
		expect(erased.agent?.content).toBeUndefined();
		expect(JSON.stringify(erased)).not.toMatch(/ana@example.com|Hello Ana/);
		expect(erased.decisionId).toBe(actionDecisionId('growth-bot', 'welcome-ana@example.com'));
	});
});

/** Idempotency and blast radius across processes' engines on the shared stores (each engine its own store client). */
function describeShared(name: string, makeStore: () => Store, cleanup: () => Promise<void>) {
	describe(`agent actions shared on ${name}`, () => {
		afterAll(cleanup);
		test('racing engines with one key: one action; blast radius holds across engines', async () => {
			const engines = Array.from({ length: 4 }, () => harness(makeStore(), { caps: [] }, { blastRadius: [{ id: 'five', count: 'actions', limit: 5, window: '1h' }] }));
			await contact(engines[0].engine, 'ana@example.com');
			const same = await Promise.all(engines.flatMap((h) => [h, h, h].map(() => h.engine.requestAction(ask()))));
			expect(same.filter((v) => !v.duplicate)).toHaveLength(1);
			expect(new Set(same.map((v) => `${v.decisionId}:${v.verdict}`))).toEqual(new Set([`${same[0].decisionId}:allow`]));
			// 16 distinct actions from 4 engines at once: 4 more fit under the limit of 5.
			const runaway = await Promise.all(engines.flatMap((h, e) => [0, 1, 2, 3].map((i) => h.engine.requestAction(ask({ idempotencyKey: `loop-${e}-${i}` })))));
			expect(runaway.filter((v) => v.verdict === 'allow')).toHaveLength(4);
			expect(runaway.filter((v) => v.reasons[0] === 'BLAST_RADIUS')).toHaveLength(12);
			for (const h of engines) await h.engine.close();
		});

		test('a distinct-contacts blast radius holds when engines race on new contacts', async () => {
			const engines = Array.from({ length: 4 }, () => harness(makeStore(), { caps: [] }, { blastRadius: [{ id: 'two-contacts', count: 'contacts', limit: 2, window: '1d' }] }));
			const people = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'].map((p) => `${p}-${Math.random().toString(36).slice(2)}@example.com`);
			for (const email of people) await contact(engines[0].engine, email);
			const agentId = `contacts-bot-${Math.random().toString(36).slice(2)}`;
			// Each contact twice, from two engines: a twin of a denied request must not pass uncounted.
			const verdicts = await Promise.all(people.flatMap((email, i) => [0, 1].map((j) => engines[(i + j) % 4].engine.requestAction(ask({ agentId, idempotencyKey: `c${i}-${j}`, contact: email })))));
			const reached = new Set(verdicts.flatMap((v, n) => (v.verdict === 'allow' ? [people[n >> 1]] : [])));
			expect(reached.size).toBe(2);
			expect(verdicts.filter((v) => v.verdict !== 'allow').every((v) => v.reasons[0] === 'BLAST_RADIUS')).toBe(true);
			for (const h of engines) await h.engine.close();
		});
	});
}

const withRedis = describeWithServer('Redis', TEST_REDIS_URL);
const withPostgres = describeWithServer('PostgreSQL', TEST_POSTGRES_URL);

withRedis('Redis', () => {
	const prefix = `${runId('nudgeagents')}:`;
	describeShared('redis', () => new RedisStore(TEST_REDIS_URL, { prefix }), async () => {
		const cleaner = new RedisStore(TEST_REDIS_URL, { prefix });
		await cleaner.dropAll();
		await cleaner.close();
	});
});

withPostgres('PostgreSQL', () => {
	const schema = runId('nudgeagents');
	describeShared('postgres', () => new PostgresStore(TEST_POSTGRES_URL, { schema, maxConnections: 4 }), async () => {
		const cleaner = new PostgresStore(TEST_POSTGRES_URL, { schema });
		await cleaner.dropAll();
		await cleaner.close();
	});
});
