/**
 * Nudge's AI-agent tools through n8n's own tool path (n8n-core getInputConnectionData → createNodeAsTool):
 * the input schema n8n derives from the `$fromAI()` defaults, calls with the model's arguments, and calls
 * with missing or extra arguments.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IDataObject, INode } from 'n8n-workflow';
import { NodeHelpers } from 'n8n-workflow';
import { NudgeAction } from '../../nodes/n8n/NudgeAction/NudgeAction.node';
import { NudgeRecordOutcome } from '../../nodes/n8n/NudgeRecordOutcome/NudgeRecordOutcome.node';
import { NudgeScore } from '../../nodes/n8n/NudgeScore/NudgeScore.node';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { anaEvent, benEvent, fixture, sendTargetForFile } from './fixtures';
import { nudgeNode, runWorkflow } from './harness';
import { runAgent, schemaKeys, toolNode, toolVariant } from './toolHarness';

const sending = sendTargetForFile();
const { target } = sending;

const first = (result: unknown) => (result as IDataObject[])[0];

describe('Nudge Record Outcome as a tool', () => {
	/** An action of the agent the tool records for ('n8n-agent', the Agent ID both tools default to), not yet sent. */
	async function agentAction(f: ReturnType<typeof fixture>, agentId = 'n8n-agent', key = 'welcome-ana') {
		await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const verdict = await f.engine.requestAction({ agentId, idempotencyKey: key, contact: 'ana@example.com', channel: 'email', message: { text: 'Welcome' } });
		return f.engine.getDecision(verdict.decisionId!);
	}

	it('asks the model for the decision, the outcome and its value, and records it once', async () => {
		const f = fixture();
		const decision = await agentAction(f);
		const run = await runAgent({
			tools: [toolNode(new NudgeRecordOutcome(), 'Record Outcome')],
			calls: [
				{ tool: 'Record_Outcome', args: { decisionId: decision.decisionId, outcome: 'revenue', value: 120 } },
				{ tool: 'Record_Outcome', args: { decisionId: decision.decisionId, outcome: 'revenue', value: 120 } },
			],
			credentials: f.credentials,
		});

		expect(run.tools.map((t) => t.name)).toEqual(['Record_Outcome']);
		expect(schemaKeys(run.tools[0].schema)).toEqual({ all: ['decisionId', 'outcome', 'value'], required: ['decisionId', 'outcome'] });
		expect(run.tools[0].description).toMatch(/Records what happened after a message/);
		expect(run.results[0].result).toEqual([{ decisionId: decision.decisionId, contactId: decision.contactId, status: decision.status, duplicate: false, explanation: expect.any(String) }]);
		expect((run.results[1].result as IDataObject[])[0].duplicate).toBe(true);
		const stored = await f.engine.getDecision(decision.decisionId);
		expect(stored.outcomes.map((o) => [o.type, o.value])).toEqual([['revenue', 120]]);
	});

	it('tells the model which argument is missing, and what a wrong one should be; nothing is recorded', async () => {
		const f = fixture();
		const decision = await agentAction(f);
		const run = await runAgent({
			tools: [toolNode(new NudgeRecordOutcome(), 'Record Outcome')],
			calls: [
				{ tool: 'Record_Outcome', args: { outcome: 'click' } },
				{ tool: 'Record_Outcome', args: { decisionId: decision.decisionId, outcome: 'liked it' } },
				{ tool: 'Record_Outcome', args: { decisionId: 'd_nope', outcome: 'click' } },
				{ tool: 'Record_Outcome', args: { decisionId: decision.decisionId, outcome: 'click', channel: 'sms', sendNow: true } },
			],
			credentials: f.credentials,
		});

		// Missing: n8n's schema refuses the call before the node runs, naming the argument.
		expect(run.results[0].error).toMatch(/decisionId/);
		expect(run.results[0].error).toMatch(/Required/);
		expect((run.results[1].result as IDataObject[])[0]).toMatchObject({ error: expect.stringMatching(/"liked it" is not one Nudge records; use one of click, complaint, conversion/) });
		expect((run.results[2].result as IDataObject[])[0]).toMatchObject({ error: expect.stringMatching(/d_nope is not in this engine's decision log/), details: { code: 'UNKNOWN_DECISION' } });
		// Extra arguments are not part of the tool: n8n's schema drops them, and the call does only what it declares.
		expect((run.results[3].result as IDataObject[])[0]).toMatchObject({ decisionId: decision.decisionId, duplicate: false });
		const stored = await f.engine.getDecision(decision.decisionId);
		expect(stored.outcomes.map((o) => o.type)).toEqual(['click']);
	});

	it('records outcomes only of its own agent\'s actions: a journey\'s decision or another agent\'s action is refused and nothing is recorded', async () => {
		const f = fixture();
		const { decision: journeys } = await f.engine.ingest(benEvent(), { journey: 'nurture' });
		await f.engine.chooseChannel(journeys);
		const others = await agentAction(f, 'other-bot', 'other-key');
		const own = await agentAction(f, 'growth-bot', 'own-key');
		const run = await runAgent({
			tools: [toolNode(new NudgeRecordOutcome(), 'Record Outcome', { agentId: 'growth-bot' })],
			calls: [
				{ tool: 'Record_Outcome', args: { decisionId: journeys.decisionId, outcome: 'conversion' } },
				{ tool: 'Record_Outcome', args: { decisionId: others.decisionId, outcome: 'revenue', value: 9000 } },
				{ tool: 'Record_Outcome', args: { decisionId: own.decisionId, outcome: 'click' } },
			],
			credentials: f.credentials,
		});

		for (const [i, d] of [journeys, others].entries()) {
			expect([i, first(run.results[i].result)]).toEqual([i, expect.objectContaining({ error: expect.stringMatching(new RegExp(`Decision ${d.decisionId} is not one of your actions \\(agent growth-bot\\)`)) })]);
			expect((await f.engine.getDecision(d.decisionId)).outcomes).toEqual([]);
		}
		expect(first(run.results[2].result)).toMatchObject({ decisionId: own.decisionId, duplicate: false });
		expect((await f.engine.getDecision(own.decisionId)).outcomes.map((o) => o.type)).toEqual(['click']);
	});

	it('refuses an Agent ID given as an expression (the model must not choose whose actions it reports on)', async () => {
		const f = fixture();
		const own = await agentAction(f);
		const run = await runAgent({
			tools: [toolNode(new NudgeRecordOutcome(), 'Record Outcome', { agentId: "={{ $fromAI('agent', 'who you are', 'string') }}" })],
			calls: [{ tool: 'Record_Outcome', args: { decisionId: own.decisionId, outcome: 'click', agent: 'n8n-agent' } }],
			credentials: f.credentials,
		});
		expect(run.results[0].error).toMatch(/Agent ID must be a fixed name, not an expression/);
		expect((await f.engine.getDecision(own.decisionId)).outcomes).toEqual([]);
	});

	it('keeps the regular node reading the incoming item: no tool parameter appears outside tool mode', () => {
		const base = new NudgeRecordOutcome();
		const regular = NodeHelpers.getNodeParameters(base.description.properties, {}, true, false, null, base.description) as IDataObject;
		expect(regular).toMatchObject({ matchBy: 'decisionId', decisionId: '={{ $json.decisionId }}', outcomeType: 'click' });
		expect(JSON.stringify(regular)).not.toMatch(/\$fromAI/);
		const tool = toolVariant(base);
		const asTool = NodeHelpers.getNodeParameters(tool.description.properties, {}, true, false, null, tool.description) as IDataObject;
		expect(asTool.decisionId).toMatch(/^=\{\{ \$fromAI\('decisionId'/);
		expect(asTool.outcomeType).toMatch(/^=\{\{ \$fromAI\('outcome'/);
	});
});

describe('Nudge Score as a tool', () => {
	it('reads a known contact’s score by email or contact id, and changes nothing', async () => {
		const f = fixture();
		const { decision } = await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const before = (await f.engine.store.queryDecisions({ limit: 100 })).length;
		const run = await runAgent({
			tools: [toolNode(new NudgeScore(), 'Score Lead')],
			calls: [
				{ tool: 'Score_Lead', args: { contact: 'ana@example.com' } },
				{ tool: 'Score_Lead', args: { contact: decision.contactId } },
				{ tool: 'Score_Lead', args: { contact: 'nobody@example.com' } },
				{ tool: 'Score_Lead', args: {} },
			],
			credentials: f.credentials,
		});

		expect(schemaKeys(run.tools[0].schema)).toEqual({ all: ['contact'], required: ['contact'] });
		// base 10 + pricing 20 + senior title 15 + company size 10
		expect(first(run.results[0].result)).toMatchObject({ contactId: decision.contactId, score: { value: 55, tier: 'warm' } });
		expect((first(run.results[0].result).score as IDataObject).factors).toEqual(expect.arrayContaining([expect.objectContaining({ label: 'Viewed the pricing page' })]));
		expect(first(run.results[1].result)).toEqual(first(run.results[0].result));
		expect(first(run.results[2].result)).toMatchObject({ error: expect.stringMatching(/nobody@example.com: no contact has it/), details: { code: 'UNKNOWN_CONTACT' } });
		expect(run.results[3].error).toMatch(/Required[\s\S]*contact/);
		expect((await f.engine.store.queryDecisions({ limit: 100 })).length).toBe(before);
	});
});

describe('Nudge Action as a tool (agent-safe: the engine decides)', () => {
	const actionTool = (parameters: IDataObject = {}) => toolNode(new NudgeAction(), 'Nudge Action', { agentId: 'growth-bot', onAllow: 'webhook', url: sending.url, sign: true, ...parameters });
	const ask = (args: IDataObject) => ({ tool: 'Nudge_Action', args });

	it('declares the request for the model and keeps who is asking out of its hands', async () => {
		const f = fixture();
		await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const run = await runAgent({
			tools: [actionTool()],
			calls: [ask({ contact: 'ana@example.com', idempotencyKey: 'welcome-ana', subject: 'Hi', text: 'Welcome aboard', agentId: 'admin-bot', dryRun: true })],
			credentials: f.credentials,
		});

		expect(schemaKeys(run.tools[0].schema)).toEqual({
			all: ['approvalId', 'channel', 'contact', 'idempotencyKey', 'offerValue', 'subject', 'text'],
			required: ['contact', 'idempotencyKey'],
		});
		expect(run.tools[0].description).toMatch(/allow, defer \(with retryAt\), needs_approval or deny/);
		// The model's agentId and dryRun are not arguments of the tool: the configured agent acted, for real.
		expect(first(run.results[0].result)).toMatchObject({ verdict: 'allow', agentId: 'growth-bot', channel: 'email', dryRun: false, sent: true, reasons: [] });
		expect(target.received).toHaveLength(1);
	});

	it('sends once for a repeated idempotency key, and answers the repeat as a duplicate', async () => {
		const f = fixture();
		await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const call = ask({ contact: 'ana@example.com', idempotencyKey: 'cart-123', channel: 'email', subject: 'Your cart', text: 'Still thinking it over?' });
		const run = await runAgent({ tools: [actionTool()], calls: [call, call, call], credentials: f.credentials });

		const answers = run.results.map((r) => first(r.result));
		expect(answers.map((a) => [a.verdict, a.sent, a.duplicate ?? false])).toEqual([
			['allow', true, false],
			['allow', true, true],
			['allow', true, true],
		]);
		expect(new Set(answers.map((a) => a.decisionId)).size).toBe(1);
		expect(target.received).toHaveLength(1);
		const logged = await f.engine.getDecision(answers[0].decisionId as string);
		expect(logged).toMatchObject({ status: 'sent', channel: 'email', agent: expect.objectContaining({ agentId: 'growth-bot', idempotencyKey: 'cart-123' }) });
	});

	it('sends once when the model makes the same call several times at once', async () => {
		const f = fixture();
		await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const call = ask({ contact: 'ana@example.com', idempotencyKey: 'burst-1', channel: 'email', text: 'Hello' });
		const run = await runAgent({ tools: [actionTool()], calls: [call, call, call, call], parallel: true, credentials: f.credentials });

		const answers = run.results.map((r) => first(r.result));
		expect(target.received).toHaveLength(1);
		// One call acted; the others waited for it and answer its verdict as repeats.
		expect(answers.map((a) => [a.verdict, a.sent, a.duplicate ?? false]).sort()).toEqual([
			['allow', true, false],
			['allow', true, true],
			['allow', true, true],
			['allow', true, true],
		]);
		expect(new Set(answers.filter((a) => a.decisionId).map((a) => a.decisionId)).size).toBe(1);
	});

	it('denies an opted-out contact with the reason and the rule, and sends nothing', async () => {
		const f = fixture();
		await f.engine.ingest(benEvent());
		const run = await runAgent({
			tools: [actionTool()],
			calls: [ask({ contact: 'ben@example.com', idempotencyKey: 'promo-ben', channel: 'email', text: 'Spring sale' })],
			credentials: f.credentials,
		});

		const answer = first(run.results[0].result);
		expect(answer).toMatchObject({ verdict: 'deny', reasons: ['NO_CONSENT'], rule: 'consent:email', channel: 'email' });
		expect(answer.explanation).toMatch(/do not retry this action as it is/);
		expect(answer.sent).toBeUndefined();
		expect(target.received).toHaveLength(0);
		expect(await f.engine.getDecision(answer.decisionId as string)).toMatchObject({ status: 'suppressed', reason: 'NO_CONSENT' });
	});

	it('answers a dry run without reserving, logging or sending anything', async () => {
		const f = fixture();
		await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const before = (await f.engine.store.queryDecisions({ limit: 100 })).length;
		const run = await runAgent({
			tools: [actionTool({ options: { dryRun: true } })],
			calls: [ask({ contact: 'ana@example.com', idempotencyKey: 'preview-1', text: 'Hello' }), ask({ contact: 'ana@example.com', idempotencyKey: 'preview-2', text: 'Hello' })],
			credentials: f.credentials,
		});

		// The email cap (one a day) would be taken by a real allow; dry runs leave it free, so both say allow.
		expect(run.results.map((r) => [first(r.result).verdict, first(r.result).dryRun])).toEqual([
			['allow', true],
			['allow', true],
		]);
		expect(target.received).toHaveLength(0);
		expect((await f.engine.store.queryDecisions({ limit: 100 })).length).toBe(before);
	});

	it('tells the model what is wrong with a call: missing arguments, an unknown contact or channel, an oversized text', async () => {
		const f = fixture();
		await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const run = await runAgent({
			tools: [actionTool()],
			calls: [
				ask({ contact: 'ana@example.com' }),
				ask({ contact: 'nobody@example.com', idempotencyKey: 'k1' }),
				ask({ contact: 'ana@example.com', idempotencyKey: 'k2', channel: 'fax' }),
				ask({ contact: 'ana@example.com', idempotencyKey: 'k3', text: 'x'.repeat(20_001) }),
				ask({ contact: 'ana@example.com', idempotencyKey: 'k4', offerValue: -5 }),
			],
			credentials: f.credentials,
		});

		expect(run.results[0].error).toMatch(/Required[\s\S]*idempotencyKey/);
		expect(first(run.results[1].result)).toMatchObject({ details: { code: 'UNKNOWN_CONTACT' }, error: expect.stringMatching(/nobody@example.com/) });
		expect(first(run.results[2].result)).toMatchObject({ details: { code: 'INVALID_INPUT' }, error: expect.stringMatching(/channel: must be one of email, sms, push, in_app, paid_audience, sales_task, or "choose"/) });
		expect(first(run.results[3].result)).toMatchObject({ details: { code: 'INVALID_INPUT' }, error: expect.stringMatching(/message.text: must be at most 20000 characters/) });
		expect(first(run.results[4].result)).toMatchObject({ details: { code: 'INVALID_INPUT' }, error: expect.stringMatching(/message.offerValue/) });
		expect(target.received).toHaveLength(0);
		expect((await f.engine.store.queryDecisions({ limit: 100 })).filter((d) => d.agent)).toEqual([]);
	});

	it('holds a large offer for a person: approved in Frequency Cap (Record Review Verdict), then the agent asks again with the approvalId and it is sent', async () => {
		const policy = { ...DEFAULT_POLICY, agents: { approval: [{ id: 'big-offers', when: { field: 'message.offerValue', op: 'gt', value: 20 } }] } };
		const f = fixture({ policy: JSON.stringify(policy) });
		await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const request = { contact: 'ana@example.com', idempotencyKey: 'vip-ana', channel: 'email', text: '30% off, today only', offerValue: 30 };
		const held = first((await runAgent({ tools: [actionTool()], calls: [ask(request)], credentials: f.credentials })).results[0].result);
		expect(held).toMatchObject({ verdict: 'needs_approval', reasons: ['REVIEW_REQUIRED'], rule: 'big-offers', approvalId: expect.stringMatching(/^d_agent_/) });
		expect(target.received).toHaveLength(0);

		const review = nudgeNode('Approve', 'nudgeFrequencyCap', { operation: 'review', verdict: 'approve', reviewer: 'lead@example.com' });
		const approved = await runWorkflow({ workflow: { nodes: [review], connections: {} }, startNode: 'Approve', input: [[{ json: { decisionId: held.decisionId } }]], credentials: f.credentials });
		expect(approved.error).toBeUndefined();

		const again = await runAgent({
			tools: [actionTool()],
			calls: [
				ask({ ...request, text: '50% off, today only', approvalId: held.approvalId }),
				ask({ ...request, idempotencyKey: 'vip-ana-2', text: '50% off, today only', approvalId: held.approvalId }),
				ask({ ...request, approvalId: held.approvalId }),
			],
			credentials: f.credentials,
		});
		// The approval covers the content a person saw, nothing else: not under its key, nor under another.
		expect(first(again.results[0].result)).toMatchObject({ details: { code: 'CONFLICT' }, error: expect.stringMatching(/use a new key for a new action/) });
		expect(first(again.results[1].result)).toMatchObject({ verdict: 'deny', reasons: ['APPROVAL_MISMATCH'] });
		expect(first(again.results[2].result)).toMatchObject({ verdict: 'allow', sent: true, decisionId: held.decisionId });
		expect(target.received).toHaveLength(1);
		expect(await f.engine.getDecision(held.decisionId as string)).toMatchObject({ status: 'sent', review: expect.objectContaining({ reviewer: 'lead@example.com', verdict: 'approved' }) });
	});

	it('refuses an Agent ID set by an expression, so the model cannot choose who it is', async () => {
		const f = fixture();
		await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const run = await runAgent({
			tools: [actionTool({ agentId: "={{ $fromAI('agentId', 'who you are', 'string') }}" })],
			calls: [ask({ contact: 'ana@example.com', idempotencyKey: 'k1', agentId: 'trusted-bot' })],
			credentials: f.credentials,
		});
		expect(run.results[0].error).toMatch(/Agent ID must be a fixed name, not an expression/);
		expect(target.received).toHaveLength(0);
	});
});

describe('flows/n8n/agent.json', () => {
	it('gives its agent the three Nudge tools as configured: score, request an action (sent on allow, as the named agent), record an outcome', async () => {
		const template = JSON.parse(readFileSync(join(__dirname, '../../flows/n8n/agent.json'), 'utf8')) as { nodes: INode[]; connections: Record<string, IDataObject> };
		const bases = [new NudgeScore(), new NudgeAction(), new NudgeRecordOutcome()];
		const tools = template.nodes
			.filter((n) => n.type.startsWith('n8n-nodes-nudge.'))
			.map((n) => {
				const base = bases.find((b) => n.type === `n8n-nodes-nudge.${b.description.name}Tool`)!;
				const parameters = typeof n.parameters.url === 'string' ? { ...n.parameters, url: sending.url } : n.parameters;
				return toolNode(base, n.name, parameters);
			});
		expect(tools.map((t) => t.name)).toEqual(['Score Lead', 'Request Action', 'Record Outcome']);
		for (const t of tools) expect(template.connections[t.name]).toEqual({ ai_tool: [[{ node: 'AI Agent', type: 'ai_tool', index: 0 }]] });

		const f = fixture();
		await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		await f.engine.ingest(benEvent());
		const run = await runAgent({
			tools,
			calls: [
				{ tool: 'Score_Lead', args: { contact: 'ana@example.com' } },
				{ tool: 'Request_Action', args: { contact: 'ana@example.com', idempotencyKey: 'winback-ana', subject: 'We miss you', text: '15% off this week', offerValue: 15 } },
				{ tool: 'Request_Action', args: { contact: 'ben@example.com', idempotencyKey: 'winback-ben', channel: 'email', text: '15% off this week' } },
			],
			credentials: f.credentials,
		});

		expect(run.tools.map((t) => t.name).sort()).toEqual(['Record_Outcome', 'Request_Action', 'Score_Lead']);
		expect((first(run.results[0].result).score as IDataObject).tier).toBe('warm');
		const allowed = first(run.results[1].result);
		expect(allowed).toMatchObject({ verdict: 'allow', agentId: 'n8n-growth-agent', channel: 'email', sent: true });
		expect(first(run.results[2].result)).toMatchObject({ verdict: 'deny', reasons: ['NO_CONSENT'] });
		expect(target.received.map((r) => r.body.decisionId)).toEqual([allowed.decisionId]);
		expect(await f.engine.getDecision(allowed.decisionId as string)).toMatchObject({ journey: 'agent', message: expect.objectContaining({ category: 'promotional', offerValue: 15 }) });

		const recorded = await runAgent({ tools, calls: [{ tool: 'Record_Outcome', args: { decisionId: allowed.decisionId, outcome: 'conversion', value: 80 } }], credentials: f.credentials });
		expect(first(recorded.results[0].result)).toMatchObject({ decisionId: allowed.decisionId, duplicate: false });
	});
});

describe('Nudge Action as a regular node', () => {
	it('reads each request from its item (contact, idempotencyKey, text…) and adds the verdict to it', async () => {
		const f = fixture();
		await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		await f.engine.ingest(benEvent());
		const node = nudgeNode('Nudge Action', 'nudgeAction', { agentId: 'ops-flow', channel: 'email', options: { category: 'promotional', tags: 'winback' } });
		const items = [
			{ json: { contact: 'ana@example.com', idempotencyKey: 'flow-ana', subject: 'Hello', text: 'Come back', offerValue: 5, row: 1 } },
			{ json: { contact: 'ben@example.com', idempotencyKey: 'flow-ben', text: 'Come back', row: 2 } },
		];
		const result = await runWorkflow({ workflow: { nodes: [node], connections: {} }, startNode: 'Nudge Action', input: [items], credentials: f.credentials });

		expect(result.error).toBeUndefined();
		const [ana, ben] = result.output('Nudge Action');
		expect(ana).toMatchObject({ row: 1, verdict: 'allow', agentId: 'ops-flow', channel: 'email', dryRun: false });
		expect(ana.sent).toBeUndefined();
		expect(ben).toMatchObject({ row: 2, verdict: 'deny', reasons: ['NO_CONSENT'] });
		// Answer Only: the slot is held for the workflow's own send step; nothing was posted.
		expect(target.received).toHaveLength(0);
		expect(await f.engine.getDecision(ana.decisionId as string)).toMatchObject({
			status: 'pending',
			guard: expect.objectContaining({ allowed: true }),
			message: expect.objectContaining({ category: 'promotional', tags: ['winback'], offerValue: 5 }),
			agent: expect.objectContaining({ agentId: 'ops-flow', content: { text: 'Come back', subject: 'Hello' } }),
		});
	});
});
