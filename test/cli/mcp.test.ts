import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { checkHttpOptions, RunningMcpHttp, startMcpHttp } from '../../cli/mcp/http';
import { AnsweringStdioTransport } from '../../cli/mcp/stdio';
import { createMcpServer, McpToolOptions } from '../../cli/mcp/tools';
import { actionDecisionId } from '../../engine/agents/idempotency';
import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import type { PolicyInput } from '../../engine/policy/schema';
import { MemoryStore } from '../../engine/store/memory';
import { PostgresStore } from '../../engine/store/postgres';
import { SqliteStore } from '../../engine/store/sqlite';
import { decision, tempDir } from '../helpers/fixtures';
import { closeReceivers, startReceiver } from '../helpers/receiver';

/** `nudge mcp` driven by the MCP SDK's own client: in process, over HTTP, and as a real stdio child process. */

const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'dist/cli/nudge.js');
const POLICY: PolicyInput = {
	...DEFAULT_POLICY,
	caps: [{ id: 'any-daily', scope: { kind: 'any' }, limit: 100, window: { kind: 'rolling', duration: '24h' } }],
	agents: {
		blastRadius: [{ id: 'five-an-hour', count: 'actions', limit: 5, window: '1h' }],
		approval: [{ id: 'big-offers', when: { field: 'message.offerValue', op: 'gt', value: 20 } }],
	},
};

const AGENT = 'winback-agent';
const action = (overrides: Record<string, unknown> = {}) => ({
	idempotencyKey: ['winback', 'ana', '2026-05'].join('-'),
	contact: 'ana@example.com',
	channel: 'email',
	message: { category: 'promotional', subject: 'We miss you', text: 'Come back for 10% off' },
	...overrides,
});

async function seed(engine: Engine): Promise<void> {
	await engine.ingest({ type: 'identify', identities: { email: 'ana@example.com' }, traits: { consent: { email: 'opted_in' }, firstName: 'Ana' } });
	await engine.ingest({ type: 'identify', identities: { email: 'bo@example.com' }, traits: { consent: { email: 'opted_out' } } });
}

const data = (result: unknown) => (result as CallToolResult).structuredContent as Record<string, unknown>;
const text = (result: unknown) => ((result as CallToolResult).content[0] as { text: string }).text;

async function connectInProcess(engine: Engine, options: McpToolOptions): Promise<Client> {
	const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
	await createMcpServer(engine, { agentId: AGENT, ...options }).connect(serverSide);
	const client = new Client({ name: 'test-agent', version: '1.0.0' });
	await client.connect(clientSide);
	return client;
}

describe('nudge mcp tools (in-process transport)', () => {
	let engine: Engine;
	let client: Client;
	let hook: Awaited<ReturnType<typeof startReceiver>>;
	beforeEach(async () => {
		engine = new Engine({ store: new MemoryStore(), policy: loadPolicy(POLICY) });
		await seed(engine);
		hook = await startReceiver();
		client = await connectInProcess(engine, { send: { url: hook.url } });
	});
	afterEach(async () => {
		await client.close();
		await engine.close();
		await closeReceivers();
	});

	test('the tools an agent gets: no approval, policy or admin tool', async () => {
		const { tools } = await client.listTools();
		expect(tools.map((t) => t.name).sort()).toEqual(['explain_decision', 'lookup_contact', 'record_outcome', 'request_action', 'score_contact']);
		const request = tools.find((t) => t.name === 'request_action')!;
		expect(request.description).toMatch(/idempotencyKey/);
		expect(request.inputSchema.required).toEqual(expect.arrayContaining(['idempotencyKey', 'contact']));
		// Who the agent is, and the journey its rules come from, are the operator's.
		expect(Object.keys(request.inputSchema.properties!)).not.toEqual(expect.arrayContaining(['agentId']));
		expect(Object.keys(request.inputSchema.properties!)).not.toContain('journey');
		expect(request.inputSchema.additionalProperties).toBe(false);
	});

	test('a loop of 1,000 identical requests sends once', async () => {
		const results: Record<string, unknown>[] = [];
		for (let i = 0; i < 1000; i++) results.push(data(await client.callTool({ name: 'request_action', arguments: action() })));
		expect(hook.received).toHaveLength(1);
		expect(results[0]).toMatchObject({ verdict: 'allow', sent: true });
		expect(results.slice(1).every((r) => r.duplicate === true && r.verdict === 'allow' && r.decisionId === results[0].decisionId)).toBe(true);
		expect(results[1].explanation).toMatch(/Already sent/);
	}, 60_000);

	test('blast radius stops a runaway agent: five sends, then BLAST_RADIUS', async () => {
		const verdicts = [];
		for (let i = 0; i < 20; i++) verdicts.push(data(await client.callTool({ name: 'request_action', arguments: action({ idempotencyKey: `loop-${i}` }) })));
		expect(verdicts.filter((v) => v.verdict === 'allow')).toHaveLength(5);
		expect(verdicts.slice(5).every((v) => (v.reasons as string[])[0] === 'BLAST_RADIUS' && v.rule === 'five-an-hour')).toBe(true);
		expect(hook.received).toHaveLength(5);
	});

	test('the agent cannot choose who it is: an agentId argument is refused, and new ids cannot buy a fresh blast radius', async () => {
		for (let i = 0; i < 5; i++) expect(data(await client.callTool({ name: 'request_action', arguments: action({ idempotencyKey: `mine-${i}` }) })).verdict).toBe('allow');
		const renamed = (await client.callTool({ name: 'request_action', arguments: action({ idempotencyKey: 'renamed', agentId: 'fresh-agent-1' }) })) as CallToolResult;
		expect(renamed.isError).toBe(true);
		expect(text(renamed)).toMatch(/agentId/);
		expect(data(await client.callTool({ name: 'request_action', arguments: action({ idempotencyKey: 'sixth' }) }))).toMatchObject({ verdict: 'deny', reasons: ['BLAST_RADIUS'], agentId: AGENT });
		expect(hook.received).toHaveLength(5);
		expect(() => createMcpServer(engine, { agentId: 'two words' })).toThrow(/--agent-id "two words" is not an agent id/);
		const anonymous = await connectInProcess(engine, { agentId: undefined });
		expect(data(await anonymous.callTool({ name: 'request_action', arguments: action({ idempotencyKey: 'anon', dryRun: true }) })).agentId).toBe('mcp');
		await anonymous.close();
	});

	test('an opted-out contact is denied with its reason; nothing is sent', async () => {
		const verdict = data(await client.callTool({ name: 'request_action', arguments: action({ contact: 'bo@example.com' }) }));
		expect(verdict).toMatchObject({ verdict: 'deny', reasons: ['NO_CONSENT'], rule: 'consent:email' });
		expect(verdict.sent).toBeUndefined();
		expect(hook.received).toHaveLength(0);
		const explained = data(await client.callTool({ name: 'explain_decision', arguments: { decisionId: verdict.decisionId } }));
		expect(explained).toMatchObject({ status: 'suppressed', reason: 'NO_CONSENT', agent: { agentId: 'winback-agent', verdict: 'deny' } });
	});

	test('an approval for one message cannot approve another', async () => {
		const big = { category: 'promotional', offerValue: 30, text: '30% off' };
		const held = data(await client.callTool({ name: 'request_action', arguments: action({ message: big }) }));
		expect(held).toMatchObject({ verdict: 'needs_approval', rule: 'big-offers' });
		// A person approves, outside the agent's tools.
		await engine.decideApproval(held.approvalId as string, { approver: 'mia@shop.example', approve: true });
		const other = data(await client.callTool({ name: 'request_action', arguments: action({ idempotencyKey: 'other', message: { ...big, offerValue: 80 }, approvalId: held.approvalId }) }));
		expect(other).toMatchObject({ verdict: 'deny', reasons: ['APPROVAL_MISMATCH'] });
		expect(hook.received).toHaveLength(0);
		const approved = data(await client.callTool({ name: 'request_action', arguments: action({ message: big, approvalId: held.approvalId }) }));
		expect(approved).toMatchObject({ verdict: 'allow', sent: true });
		expect(hook.received).toHaveLength(1);
	});

	test('a failed send says so, with the provider\'s error', async () => {
		const failing = await startReceiver([500]);
		const agent = await connectInProcess(engine, { send: { url: failing.url, maxAttempts: 1 } });
		const result = data(await agent.callTool({ name: 'request_action', arguments: action({ idempotencyKey: 'fails' }) }));
		expect(result).toMatchObject({ verdict: 'allow', sent: false, error: expect.stringMatching(/send failed/) });
		expect(failing.received).toHaveLength(1);
		await agent.close();
	});

	test('bad tool arguments get an error the agent can act on, and nothing happens', async () => {
		const extra = (await client.callTool({ name: 'request_action', arguments: { ...action(), sendNow: true } })) as CallToolResult;
		expect(extra.isError).toBe(true);
		expect(text(extra)).toMatch(/sendNow/);
		const missing = (await client.callTool({ name: 'request_action', arguments: { contact: 'ana@example.com' } })) as CallToolResult;
		expect(missing.isError).toBe(true);
		expect(text(missing)).toMatch(/idempotencyKey/);
		const unknown = (await client.callTool({ name: 'request_action', arguments: action({ contact: 'nobody@example.com' }) })) as CallToolResult;
		expect(unknown.isError).toBe(true);
		expect(text(unknown)).toMatch(/^UNKNOWN_CONTACT: .*check the id or address, and do not retry it as it is/);
		// The agent cannot pick a journey whose caps or review rules are looser than the agent journey's.
		const journey = (await client.callTool({ name: 'request_action', arguments: action({ journey: 'nurture' }) })) as CallToolResult;
		expect(journey.isError).toBe(true);
		expect(text(journey)).toMatch(/journey/);
		const channel = (await client.callTool({ name: 'request_action', arguments: action({ channel: 'fax' }) })) as CallToolResult;
		expect(text(channel)).toMatch(/channel/);
		const huge = (await client.callTool({ name: 'request_action', arguments: action({ message: { text: 'x'.repeat(20_001) } }) })) as CallToolResult;
		expect(huge.isError).toBe(true);
		expect((await client.callTool({ name: 'explain_decision', arguments: { decisionId: 'd_forged' } })) as CallToolResult).toMatchObject({ isError: true });
		expect((await client.callTool({ name: 'approve_action', arguments: {} })) as CallToolResult).toMatchObject({ isError: true });
		expect(hook.received).toHaveLength(0);
		expect((await engine.queryDecisions({})).filter((d) => d.agent)).toEqual([]);
	});

	test('lookup_contact shows consent and recent decisions with personal data redacted; score_contact and record_outcome work', async () => {
		const sent = data(await client.callTool({ name: 'request_action', arguments: action() }));
		// 120 earlier decisions this month: the latest ten are shown, the request's last, not the month's first ten.
		const { contactId } = await engine.getDecision(sent.decisionId as string);
		for (let i = 0; i < 120; i++) await engine.store.putDecision(decision(`earlier-${i}`, { contactId, createdAt: new Date(Date.now() - 86_400_000 + i * 1000).toISOString() }));
		const contact = data(await client.callTool({ name: 'lookup_contact', arguments: { contact: 'ana@example.com' } }));
		expect(contact.consent).toMatchObject({ email: 'opted_in', sms: 'unknown' });
		const shown = (contact.recentDecisions as { decisionId: string }[]).map((d) => d.decisionId);
		expect(shown).toHaveLength(10);
		expect(shown.at(-1)).toBe(sent.decisionId);
		expect(shown).toContain('earlier-119');
		expect(shown).not.toContain('earlier-0');
		expect(contact.recentDecisions).toEqual(expect.arrayContaining([expect.objectContaining({ decisionId: sent.decisionId, status: 'sent', agentId: 'winback-agent' })]));
		expect(JSON.stringify(contact)).not.toMatch(/ana@example.com|"Ana"/);
		const score = data(await client.callTool({ name: 'score_contact', arguments: { contact: { email: 'ana@example.com' } } }));
		expect(score).toMatchObject({ tier: expect.any(String), value: expect.any(Number) });
		const outcome = data(await client.callTool({ name: 'record_outcome', arguments: { decisionId: sent.decisionId, type: 'click' } }));
		expect(outcome).toMatchObject({ decisionId: sent.decisionId, duplicate: false, outcomes: [expect.objectContaining({ type: 'click' })] });
		expect(data(await client.callTool({ name: 'record_outcome', arguments: { decisionId: sent.decisionId, type: 'click' } })).duplicate).toBe(true);
	});

	test('lookup_contact does not hand credentials kept in contact traits to the model, also with personal data revealed', async () => {
		const made = (prefix: string) => `${prefix}${randomBytes(8).toString('hex')}`;
		// Written without separators too (HubSpot's property names, many CRMs' exports): each names a credential as well.
		const lowerCase = ['passwordresettoken', 'accesstoken', 'clientsecret', 'sessionid', 'userpassword', 'secretkey', 'refreshtoken', 'userpwd', 'accessjwt', 'authkey', 'webhooksignature', 'sessioncookie', 'loginotp', 'privatekeypem', 'clientsecretprod', 'passwordtemp', 'apikey2', 'privkey', 'mfa_code', 'backupCodes', 'recoverycodes', 'csrf'];
		const secrets = Object.fromEntries(['passwordResetToken', 'apiKey', 'accessToken', 'password', ...lowerCase].map((key) => [key, made(`${key}-`)]));
		await engine.ingest({ type: 'identify', identities: { email: 'ana@example.com' }, traits: { plan: 'pro', sessionIdleMinutes: 42, passwordless: true, credentialingStatus: 'approved', secretary: 'Bo', ...secrets } });
		for (const revealPii of [false, true]) {
			const revealing = await connectInProcess(engine, { revealPii });
			const contact = data(await revealing.callTool({ name: 'lookup_contact', arguments: { contact: 'ana@example.com' } }));
			await revealing.close();
			expect(contact.traits).toMatchObject({ plan: 'pro', firstName: revealPii ? 'Ana' : '[redacted]', passwordResetToken: '[redacted]', apiKey: '[redacted]', accessToken: '[redacted]', password: '[redacted]' });
			for (const key of lowerCase) expect({ key, value: (contact.traits as Record<string, unknown>)[key] }).toEqual({ key, value: '[redacted]' });
			// Traits that only hold such a word are no credentials, and stay.
			expect(contact.traits).toMatchObject({ sessionIdleMinutes: 42, passwordless: true, credentialingStatus: 'approved', secretary: 'Bo' });
			for (const value of Object.values(secrets)) expect(JSON.stringify(contact)).not.toContain(value);
		}
	});

	test('the published schema says what is accepted: contact is a string or an object of identities', async () => {
		const { tools } = await client.listTools();
		for (const name of ['request_action', 'lookup_contact', 'score_contact']) {
			const contact = tools.find((t) => t.name === name)!.inputSchema.properties!.contact as { anyOf: { type: string; properties?: object }[] };
			expect(contact.anyOf.map((s) => s.type)).toEqual(['string', 'object']);
			expect(Object.keys(contact.anyOf[1].properties!)).toEqual(expect.arrayContaining(['contactId', 'email', 'hubspotId']));
		}
		expect(data(await client.callTool({ name: 'request_action', arguments: action({ contact: { email: 'ana@example.com' }, dryRun: true }) })).verdict).toBe('allow');
		const wrong = (await client.callTool({ name: 'request_action', arguments: action({ contact: 42 }) })) as CallToolResult;
		expect(wrong.isError).toBe(true);
		expect(text(wrong)).toMatch(/must be a contact id, an email address, or an object of identities.*contact/);
	});

	test('a verdict never repeats personal data: a reviewer\'s note quoting the contact is masked', async () => {
		const held = data(await client.callTool({ name: 'request_action', arguments: action({ message: { offerValue: 30 } }) }));
		await engine.decideApproval(held.approvalId as string, { approver: 'mia@shop.example', approve: false, note: 'ana@example.com is a VIP, call her on +49 151 1234 5678' });
		const refused = data(await client.callTool({ name: 'request_action', arguments: action({ message: { offerValue: 30 } }) }));
		expect(refused).toMatchObject({ verdict: 'deny', reasons: ['REVIEW_REJECTED'] });
		expect(refused.explanation).toMatch(/refused by \[email redacted\]: \[email redacted\] is a VIP/);
		expect(JSON.stringify(refused)).not.toMatch(/ana@example|mia@shop|1234/);
		const revealing = await connectInProcess(engine, { revealPii: true });
		expect(data(await revealing.callTool({ name: 'request_action', arguments: action({ message: { offerValue: 30 } }) })).explanation).toMatch(/mia@shop.example/);
		await revealing.close();
	});

	test('a server-side failure tells the agent to try later, and its details (hosts, files) go to the log only', async () => {
		const down = new Engine({ store: new PostgresStore('postgres://nudge:hunter2hunter2@127.0.0.1:1/crm_prod'), policy: loadPolicy(POLICY) });
		const agent = await connectInProcess(down, {});
		const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
		try {
			const failed = (await agent.callTool({ name: 'request_action', arguments: action() })) as CallToolResult;
			expect(failed.isError).toBe(true);
			expect(text(failed)).toMatch(/^STORE_ERROR: Nudge could not answer, and nothing was sent; the server's log says why/);
			expect(text(failed)).not.toMatch(/127\.0\.0\.1|crm_prod|hunter2|nudge@/);
			expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toMatch(/STORE_ERROR: PostgreSQL store at .*127\.0\.0\.1:1/);
		} finally {
			stderr.mockRestore();
			await agent.close();
			await down.close().catch(() => undefined);
		}
	});

	test('record_outcome writes only on the agent\'s own actions: no unsubscribing or fake conversions on others\' messages', async () => {
		const mine = data(await client.callTool({ name: 'request_action', arguments: action() }));
		const other = await connectInProcess(engine, { agentId: 'other-agent' });
		const foreign = (await other.callTool({ name: 'record_outcome', arguments: { decisionId: mine.decisionId, type: 'unsubscribe' } })) as CallToolResult;
		expect(foreign.isError).toBe(true);
		expect(text(foreign)).toMatch(/is not one of your actions \(agent other-agent\)/);
		const { decision: journey } = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' } });
		expect(((await other.callTool({ name: 'record_outcome', arguments: { decisionId: journey.decisionId, type: 'conversion' } })) as CallToolResult).isError).toBe(true);
		const byContact = (await other.callTool({ name: 'record_outcome', arguments: { contactId: (await engine.getDecision(mine.decisionId as string)).contactId, type: 'complaint' } })) as CallToolResult;
		expect(byContact.isError).toBe(true);
		await other.close();
		expect((await engine.getDecision(mine.decisionId as string)).outcomes).toEqual([]);
		expect((await engine.getDecision(journey.decisionId)).outcomes).toEqual([]);
		const lookedUp = data(await client.callTool({ name: 'lookup_contact', arguments: { contact: 'ana@example.com' } }));
		expect(lookedUp.consent).toMatchObject({ email: 'opted_in' });
	});

	/** An engine of its own on each local backend, seeded, with an agent connected. */
	const OWN_ENGINES = [
		['memory', () => new MemoryStore()],
		['sqlite', () => new SqliteStore(join(tempDir(), 'own.db'))],
	] as const;
	async function withOwnEngine(makeStore: () => MemoryStore | SqliteStore, run: (owned: Engine, agent: Client) => Promise<void>): Promise<void> {
		const owned = new Engine({ store: makeStore(), policy: loadPolicy(POLICY) });
		try {
			await seed(owned);
			await run(owned, await connectInProcess(owned, {}));
		} finally {
			await owned.close();
		}
	}

	test.each(OWN_ENGINES)("record_outcome: an agent's outcome id cannot take the id of a journey decision's outcome, so the journey's real conversion still counts (%s)", async (_kind, makeStore) => {
		await withOwnEngine(makeStore, async (owned, agent) => {
			const { decision: journey } = await owned.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' } });
			const mine = data(await agent.callTool({ name: 'request_action', arguments: action() }));
			// The journey's decision id is in lookup_contact; the agent records a click on its own action under the id the
			// journey's conversion will have.
			const seen = data(await agent.callTool({ name: 'lookup_contact', arguments: { contact: 'ana@example.com' } }));
			expect((seen.recentDecisions as { decisionId: string }[]).map((d) => d.decisionId)).toContain(journey.decisionId);
			const squat = { decisionId: mine.decisionId, type: 'click', outcomeId: `${journey.decisionId}:conversion` };
			expect(data(await agent.callTool({ name: 'record_outcome', arguments: squat }))).toMatchObject({ duplicate: false });
			// It also takes the order id the shop's flow will record the journey's conversion under (orders are numbered).
			const order = { decisionId: mine.decisionId, type: 'conversion', outcomeId: 'order-1001' };
			expect(data(await agent.callTool({ name: 'record_outcome', arguments: order }))).toMatchObject({ duplicate: false });
			// Its own repeats are duplicates.
			expect(data(await agent.callTool({ name: 'record_outcome', arguments: order }))).toMatchObject({ duplicate: true });
			await agent.close();
			// The journey's real conversion, by its default id and by the shop's order id, counts: the agent's ids are its own.
			const real = await owned.recordOutcome({ decisionId: journey.decisionId, type: 'conversion' });
			expect({ duplicate: real.duplicate, outcomes: real.decision.outcomes.map((o) => o.type) }).toEqual({ duplicate: false, outcomes: ['conversion'] });
			const shopJourney = await owned.recordOutcome({ decisionId: journey.decisionId, type: 'revenue', value: 49, outcomeId: 'order-1001' });
			expect({ duplicate: shopJourney.duplicate, outcomes: shopJourney.decision.outcomes.map((o) => o.type) }).toEqual({ duplicate: false, outcomes: ['conversion', 'revenue'] });
			// The shop's flow reporting the agent's own order again on the agent's action counts it once.
			const shop = await owned.recordOutcome({ decisionId: mine.decisionId as string, type: 'conversion', outcomeId: 'order-1001' });
			expect({ duplicate: shop.duplicate, conversions: shop.decision.outcomes.filter((o) => o.type === 'conversion').length }).toEqual({ duplicate: true, conversions: 1 });
		});
	});

	test.each(OWN_ENGINES)("record_outcome: the agent and the shop's flow reporting one order on the agent's action at the same moment count it once (%s)", async (_kind, makeStore) => {
		await withOwnEngine(makeStore, async (owned, agent) => {
			const mine = data(await agent.callTool({ name: 'request_action', arguments: action() }));
			const decisionId = mine.decisionId as string;
			await agent.close();
			// What record_outcome asks of the engine, beside the shop's flow, interleaved step by step.
			const [byAgent, byShop] = await Promise.all([
				owned.recordOutcome({ decisionId, type: 'conversion', outcomeId: 'order-2002', agentId: AGENT }),
				owned.recordOutcome({ decisionId, type: 'conversion', outcomeId: 'order-2002' }),
			]);
			expect([byAgent.duplicate, byShop.duplicate].sort()).toEqual([false, true]);
			expect((await owned.getDecision(decisionId)).outcomes.filter((o) => o.type === 'conversion')).toHaveLength(1);
		});
	});

	test("upgrading: an agent repeating an outcome recorded before its ids were kept under its action (the id as given) gets a duplicate, not a second conversion", async () => {
		const mine = data(await client.callTool({ name: 'request_action', arguments: action() }));
		const decisionId = mine.decisionId as string;
		// What the version before kept for record_outcome { outcomeId: "order-1001" }.
		expect(await engine.store.addOutcome(decisionId, { outcomeId: 'order-1001', type: 'conversion', channel: 'email', at: new Date().toISOString() })).toBe(true);
		const repeat = data(await client.callTool({ name: 'record_outcome', arguments: { decisionId, type: 'conversion', outcomeId: 'order-1001' } }));
		expect(repeat).toMatchObject({ duplicate: true });
		expect((await engine.getDecision(decisionId)).outcomes.map((o) => o.outcomeId)).toEqual(['order-1001']);
	});

	test('record_outcome refuses an outcome dated in the far future: the contact can still opt back in', async () => {
		const sent = data(await client.callTool({ name: 'request_action', arguments: action() }));
		expect(sent).toMatchObject({ verdict: 'allow' });
		const future = (await client.callTool({ name: 'record_outcome', arguments: { decisionId: sent.decisionId, type: 'unsubscribe', at: '2099-01-01T00:00:00Z' } })) as CallToolResult;
		expect(future.isError).toBe(true);
		expect(text(future)).toMatch(/INVALID_INPUT.*is in the future/);
		// The person opts in again today: their statement counts.
		await engine.ingest({ type: 'identify', identities: { email: 'ana@example.com' }, traits: { consent: { email: 'opted_in' } } });
		const lookedUp = data(await client.callTool({ name: 'lookup_contact', arguments: { contact: 'ana@example.com' } }));
		expect(lookedUp.consent).toMatchObject({ email: 'opted_in' });
	});

	test('a tool call arriving once the server is stopping (its engine closing) is refused, and nothing is stored or sent; one under way is waited for', async () => {
		// A receiver that holds its answer until the test lets it go.
		let answer!: () => void;
		const held = new Promise<void>((resolve) => (answer = resolve));
		let arrived!: () => void;
		const reached = new Promise<void>((resolve) => (arrived = resolve));
		const bodies: string[] = [];
		const slow = createServer((req, res) => {
			let body = '';
			req.on('data', (c) => (body += c));
			req.on('end', () => {
				bodies.push(body);
				arrived();
				void held.then(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
			});
		});
		await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
		const stopping = await connectInProcess(engine, { send: { url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/hook` } });
		const under = stopping.callTool({ name: 'request_action', arguments: action({ idempotencyKey: 'under-way' }) });
		await reached;
		const closed = engine.close();
		const late = (await stopping.callTool({ name: 'request_action', arguments: action({ idempotencyKey: 'too-late' }) })) as CallToolResult;
		expect(late.isError).toBe(true);
		expect(text(late)).toMatch(/^UNAVAILABLE: the Nudge MCP server is stopping, and nothing was done/);
		answer();
		expect(data(await under)).toMatchObject({ verdict: 'allow', sent: true });
		expect(await engine.store.getDecision(actionDecisionId(AGENT, 'under-way'))).toMatchObject({ status: 'sent', delivery: { status: 'sent' } });
		expect(await engine.store.getDecision(actionDecisionId(AGENT, 'too-late'))).toBeUndefined();
		await closed;
		await stopping.close();
		await new Promise<void>((resolve) => slow.close(() => resolve()));
		expect(bodies.map((body) => JSON.parse(body).decisionId)).toEqual([actionDecisionId(AGENT, 'under-way')]);
	});

	test('without a send target an allowed action holds its slot and is not sent', async () => {
		const bare = await connectInProcess(engine, {});
		const verdict = data(await bare.callTool({ name: 'request_action', arguments: action({ idempotencyKey: 'held' }) }));
		expect(verdict).toMatchObject({ verdict: 'allow' });
		expect(verdict.sent).toBeUndefined();
		expect((await engine.getDecision(verdict.decisionId as string)).status).toBe('pending');
		await bare.close();
	});
});

/** Raw HTTP, to send what no SDK client would; `chunks` are sent chunked, with no content-length. */
function raw(url: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; chunks?: Buffer[] }): Promise<{ status: number; body: string }> {
	return new Promise((resolvePromise, reject) => {
		const req = request(url, { method: options.method ?? 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...options.headers } }, (res) => {
			let body = '';
			res.on('data', (c) => (body += c));
			res.on('end', () => resolvePromise({ status: res.statusCode!, body }));
		});
		req.on('error', reject);
		for (const chunk of options.chunks ?? []) req.write(chunk);
		req.end(options.body);
	});
}

describe('nudge mcp over streamable HTTP', () => {
	const TOKEN = randomBytes(18).toString('base64url');
	let engine: Engine;
	let running: RunningMcpHttp;
	beforeAll(async () => {
		engine = new Engine({ store: new MemoryStore(), policy: loadPolicy(POLICY) });
		await seed(engine);
		running = await startMcpHttp(() => createMcpServer(engine, { agentId: AGENT }), { port: 0, host: '127.0.0.1', token: TOKEN });
	});
	afterAll(async () => {
		await running.close();
		await engine.close();
	});

	test('the SDK client with the token gets verdicts', async () => {
		const client = new Client({ name: 'http-agent', version: '1.0.0' });
		await client.connect(new StreamableHTTPClientTransport(new URL(running.url), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
		const verdicts = [];
		for (let i = 0; i < 3; i++) verdicts.push(data(await client.callTool({ name: 'request_action', arguments: action() })));
		expect(verdicts.map((v) => [v.verdict, !!v.duplicate])).toEqual([['allow', false], ['allow', true], ['allow', true]]);
		await client.close();
	});

	test('no token, a wrong token, a foreign Host, a huge or broken body: refused, and the server lives on', async () => {
		const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
		expect((await raw(running.url, { body: init })).status).toBe(401);
		expect((await raw(running.url, { body: init, headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
		const auth = { authorization: `Bearer ${TOKEN}` };
		expect((await raw(running.url, { body: init, headers: { ...auth, host: 'evil.example' } })).status).toBe(421);
		expect((await raw(running.url, { body: Buffer.alloc(300 * 1024, 'a'), headers: auth })).status).toBe(413);
		// Without a content-length the limit is met while reading: still a 413 the client can read, not a reset.
		const chunked = await raw(running.url, { chunks: Array.from({ length: 10 }, () => Buffer.alloc(64 * 1024, 'a')), headers: auth });
		expect(chunked.status).toBe(413);
		expect(JSON.parse(chunked.body).error.message).toMatch(/at most 262144 bytes/);
		const broken = await raw(running.url, { body: '{"jsonrpc": "2.0", "id": 1, "method"', headers: auth });
		expect(broken.status).toBe(400);
		expect(JSON.parse(broken.body).error.code).toBe(-32700);
		expect((await raw(running.url, { method: 'GET', headers: auth })).status).toBe(405);
		expect((await raw(running.url, { body: init, headers: { ...auth, 'content-type': 'text/plain' } })).status).toBe(415);
		expect((await raw(running.url, { body: init, headers: { ...auth, accept: 'text/html' } })).status).toBe(406);
		expect((await raw(running.url.replace('/mcp', '/other'), { body: init, headers: auth })).status).toBe(404);
		const nested = await raw(running.url, { body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'request_action', arguments: { idempotencyKey: { $gt: '' }, contact: [[[[[]]]]] } } }), headers: auth });
		expect(nested.status).toBe(200);
		expect(nested.body).toMatch(/isError/);
		const client = new Client({ name: 'after', version: '1' });
		await client.connect(new StreamableHTTPClientTransport(new URL(running.url), { requestInit: { headers: auth } }));
		expect((await client.listTools()).tools).toHaveLength(5);
		await client.close();
	});

	test('the token is accepted with the auth scheme in any case (authorization: bearer …)', async () => {
		const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
		for (const scheme of ['bearer', 'BEARER']) expect((await raw(running.url, { body: init, headers: { authorization: `${scheme} ${TOKEN}` } })).status).toBe(200);
	});

	test('a token is required off loopback, and must be long enough; the server refuses to start otherwise', async () => {
		expect(() => checkHttpOptions({ port: 0, host: '0.0.0.0' })).toThrow(/Refusing to listen on 0.0.0.0 without a token/);
		expect(() => checkHttpOptions({ port: 0, host: '0.0.0.0', token: 'short' })).toThrow(/at least 16/);
		expect(() => checkHttpOptions({ port: 0, host: '127.0.0.1' })).not.toThrow();
		await expect(startMcpHttp(() => createMcpServer(engine, {}), { port: 0, host: '0.0.0.0' })).rejects.toThrow(/without a token/);
	});
});

describe('nudge mcp over stdio (in process)', () => {
	let engine: Engine;
	let server: ReturnType<typeof createMcpServer>;
	let stdin: PassThrough;
	let answers: { id: unknown; result?: unknown; error?: { code: number; message: string } }[];
	beforeEach(async () => {
		engine = new Engine({ store: new MemoryStore(), policy: loadPolicy(POLICY) });
		stdin = new PassThrough();
		const stdout = new PassThrough();
		answers = [];
		let pending = '';
		stdout.on('data', (chunk: Buffer) => {
			const lines = (pending + chunk.toString('utf8')).split('\n');
			pending = lines.pop()!;
			answers.push(...lines.filter(Boolean).map((l) => JSON.parse(l)));
		});
		server = createMcpServer(engine, { agentId: AGENT });
		await server.connect(new AnsweringStdioTransport(stdin, stdout, 1024));
	});
	afterEach(async () => {
		await server.close();
		await engine.close();
	});
	const answerTo = async (id: number) => {
		for (let i = 0; i < 100 && !answers.some((a) => a.id === id); i++) await new Promise((r) => setTimeout(r, 10));
		return answers.find((a) => a.id === id);
	};

	test('a line that is not JSON gets a JSON-RPC parse error (-32700), as over HTTP, and one line on stderr; the next line is answered', async () => {
		const log = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
		try {
			stdin.write('{"jsonrpc":"2.0","id":1,"method":"tools/list"\n');
			stdin.write('{"jsonrpc":"2.0","id":2,"method":"ping"}\n');
			expect(await answerTo(2)).toMatchObject({ result: {} });
			expect(answers[0]).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error: the line is not JSON' } });
			expect(log.mock.calls.map(([text]) => String(text))).toEqual(['nudge mcp: Parse error: the line is not JSON (answered -32700)\n']);
		} finally {
			log.mockRestore();
		}
	});

	test('JSON that is not a JSON-RPC message is an invalid request (-32600) with its id; a line over the limit is answered, not split, and reading goes on', async () => {
		const log = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
		try {
			stdin.write('{"id":3,"method":"ping"}\n[]\n');
			// Over the limit of 1,024 bytes, in pieces: one answer, and the rest of the line dropped, not read as lines of its own.
			const big = JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'ping', params: { pad: 'x'.repeat(3000) } });
			for (let i = 0; i < big.length; i += 500) stdin.write(big.slice(i, i + 500));
			stdin.write('\n{"jsonrpc":"2.0","id":6,"method":"ping"}\n');
			expect(await answerTo(6)).toMatchObject({ result: {} });
			expect(answers.map((a) => [a.id, a.error?.code])).toEqual([
				[3, -32600],
				[null, -32600],
				[null, -32600],
				[6, undefined],
			]);
			expect(answers[2].error!.message).toBe('Request too large: a line may hold at most 1024 bytes');
		} finally {
			log.mockRestore();
		}
	});
});

const built = existsSync(CLI) ? describe : describe.skip;
if (!existsSync(CLI)) process.stderr.write(`\n*** ${CLI} is not built: the nudge mcp child-process tests are SKIPPED (npm run build) ***\n\n`);

/** A SQLite store seeded with the test's contacts, and the test's policy in a file: what `nudge mcp` is started on. */
async function seededFiles(): Promise<{ db: string; policyFile: string }> {
	const dir = tempDir();
	const db = join(dir, 'nudge.db');
	const policyFile = join(dir, 'policy.json');
	writeFileSync(policyFile, JSON.stringify(POLICY));
	const seeding = new Engine({ store: new SqliteStore(db), policy: loadPolicy(POLICY) });
	await seed(seeding);
	await seeding.close();
	return { db, policyFile };
}

built('nudge mcp as a real child process', () => {
	test('stdio: the SDK client spawns it, requests actions, and the log is in the store; the SDK is not loaded by other commands', async () => {
		const { db, policyFile } = await seededFiles();
		const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', '--store', db, '--policy', policyFile, '--agent-id', AGENT], stderr: 'pipe' });
		const client = new Client({ name: 'stdio-agent', version: '1.0.0' });
		await client.connect(transport);
		const first = data(await client.callTool({ name: 'request_action', arguments: action() }));
		const again = data(await client.callTool({ name: 'request_action', arguments: action() }));
		const denied = data(await client.callTool({ name: 'request_action', arguments: action({ contact: 'bo@example.com', idempotencyKey: 'bo' }) }));
		await client.close();
		expect(first).toMatchObject({ verdict: 'allow' });
		expect(again).toMatchObject({ verdict: 'allow', duplicate: true, decisionId: first.decisionId });
		expect(denied).toMatchObject({ verdict: 'deny', reasons: ['NO_CONSENT'] });
		const reader = new SqliteStore(db);
		expect((await reader.getDecision(first.decisionId as string))?.agent?.agentId).toBe('winback-agent');
		await reader.close();

		const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(join(ROOT, 'dist/engine/index.js'))}); process.stdout.write(String(Object.keys(require.cache).some((k) => k.includes('@modelcontextprotocol'))))`], { encoding: 'utf8' });
		expect(probe.stdout).toBe('false');
	}, 30_000);

	test('stdio: lines that are not JSON-RPC do not stop the server', async () => {
		const db = join(tempDir(), 'raw.db');
		await new SqliteStore(db).close();
		const child = spawn(process.execPath, [CLI, 'mcp', '--store', db], { stdio: ['pipe', 'pipe', 'pipe'] });
		let out = '';
		child.stdout.on('data', (c) => (out += c));
		const initialize = { jsonrpc: '2.0', id: 7, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
		child.stdin.write(['{not json', '[]', '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"request_action","arguments":"' + 'x'.repeat(100_000) + '"}}', '\u0000\uffff', JSON.stringify(initialize), ''].join('\n'));
		const deadline = Date.now() + 10_000;
		while (!out.includes('"id":7') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
		child.kill();
		const replies = out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
		expect(replies.find((m) => m.id === 7).result.serverInfo.name).toBe('nudge');
		// Each line that is not a message is answered, as over HTTP: '{not json' and '\u0000\uffff' with a parse error, '[]' as an invalid request.
		expect(replies.filter((m) => m.id === null).map((m) => m.error.code)).toEqual([-32700, -32600, -32700]);
	}, 20_000);

	test('stdin closing (how an MCP client ends a stdio server) while an allowed action is sending: the server waits, and the send is recorded', async () => {
		const { db, policyFile } = await seededFiles();
		let arrived!: () => void;
		const reached = new Promise<void>((r) => (arrived = r));
		let exited!: () => void;
		const gone = new Promise<void>((r) => (exited = r));
		// The receiver answers once the server has gone, or after 3 s: a server that waits for its send records it.
		const hook = createServer((req, res) => {
			req.resume();
			arrived();
			const ok = () => {
				if (!res.writableEnded && !res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
			};
			void gone.then(ok);
			setTimeout(ok, 3000).unref();
		});
		await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
		const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
		const child = spawn(process.execPath, [CLI, 'mcp', '--store', db, '--policy', policyFile, '--agent-id', AGENT, '--webhook', url], { stdio: ['pipe', 'pipe', 'pipe'] });
		child.stdout.resume();
		child.stderr.resume();
		child.on('exit', () => exited());
		const line = (m: unknown) => child.stdin.write(`${JSON.stringify(m)}\n`);
		line({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'closing', version: '1' } } });
		line({ jsonrpc: '2.0', method: 'notifications/initialized' });
		line({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'request_action', arguments: action({ idempotencyKey: 'shutdown' }) } });
		await reached;
		child.stdin.end();
		await gone;
		await new Promise<void>((r) => hook.close(() => r()));
		const reader = new SqliteStore(db);
		const sent = await reader.getDecision(actionDecisionId(AGENT, 'shutdown'));
		await reader.close();
		expect({ status: sent?.status, delivery: sent?.delivery?.status, logged: !!sent?.loggedAt }).toEqual({ status: 'sent', delivery: 'sent', logged: true });
	}, 30_000);

	test('--http off loopback without a token exits with the reason', () => {
		const run = spawnSync(process.execPath, [CLI, 'mcp', '--http', '--host', '0.0.0.0', '--port', '0'], { encoding: 'utf8', env: { ...process.env, NUDGE_MCP_TOKEN: '' }, timeout: 15_000 });
		expect(run.status).toBe(2);
		expect(run.stderr).toMatch(/Refusing to listen on 0.0.0.0 without a token/);
	});
});
