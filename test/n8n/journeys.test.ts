/**
 * The three n8n templates (flows/n8n/*.json) validated by n8n-workflow's Workflow with the real node types
 * (ours and n8n-nodes-base's Switch, Wait, HTTP Request, Sticky Note) and run end to end inside
 * WorkflowExecute with scripted contacts, one shared credential carrying flows/policies/journeys.json.
 */
// n8n's Wait node loads its form-page helpers, which require sanitize-html's ESM-only parser; jest's CommonJS
// loader cannot, and no template here renders a form page, so the sanitizer is replaced by identity.
jest.mock('sanitize-html', () => (html: string) => html);

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PollContext, TriggerContext } from 'n8n-core';
import type { IDataObject, INodeExecutionData, INodeType, IVersionedNodeType } from 'n8n-workflow';
import { NodeHelpers } from 'n8n-workflow';
import { DateTime } from 'luxon';
import type { Decision } from '../../engine/audit/schema';
import { verifySignedRequest } from '../../engine/events/signature';
import { fireDueTimers } from '../../engine/events/timers';
import { closeAllEngines } from '../../engine/registry';
import { zoneAtLocalHour } from '../helpers/fixtures';
import { fixture, SECRET, SendTarget, trigger, type Fixture } from './fixtures';
import { additionalData, buildWorkflow, callWebhook, nodeTypes, runWorkflow, signed, type WorkflowJson } from './harness';

const ROOT = join(__dirname, '../..');
const JOURNEYS = ['nurture', 'cart-abandonment', 'churn-risk'];
const POLICY = readFileSync(join(ROOT, 'flows/policies/journeys.json'), 'utf8');

const target = new SendTarget();
let url = '';
let f: Fixture;

beforeAll(async () => {
	url = await target.start();
	// The sending tool refuses messages to one address (a bounced mailbox).
	target.answer = (body) => ((body.contact as IDataObject | undefined)?.email === 'bounce@example.com' ? 400 : 200);
	f = fixture({ policy: POLICY });
});
afterAll(async () => {
	await target.stop();
	await closeAllEngines();
});

/** A template as n8n imports it, its HTTP steps pointed at the local endpoint. */
function template(journey: string): WorkflowJson & IDataObject {
	const json = JSON.parse(readFileSync(join(ROOT, 'flows/n8n', `${journey}.json`), 'utf8')) as WorkflowJson & IDataObject;
	for (const node of json.nodes) if (typeof node.parameters.url === 'string') node.parameters.url = url;
	return json;
}

/**
 * Runs the template's "Decisions Due" trigger in n8n's TriggerContext; `check(at?)` fires one check (after
 * moving the clock to `at`) and answers the executions it started.
 */
async function withDecisionsDue(wf: WorkflowJson, body: (check: (at?: number) => Promise<INodeExecutionData[][][]>) => Promise<void>): Promise<void> {
	const workflow = buildWorkflow(wf);
	const dueNode = workflow.getNode('Decisions Due')!;
	const executions: INodeExecutionData[][][] = [];
	const context = new TriggerContext(workflow, dueNode, additionalData(f.credentials), 'trigger', 'activate', (data) => executions.push(data));
	const response = (await nodeTypes.getByNameAndVersion(dueNode.type, dueNode.typeVersion).trigger!.call(context))!;
	try {
		await body(async (at) => {
			if (at !== undefined) {
				jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'queueMicrotask', 'hrtime', 'performance'] });
				jest.setSystemTime(at);
			}
			const seen = executions.length;
			await response.manualTriggerFunction!();
			return executions.slice(seen);
		});
	} finally {
		jest.useRealTimers();
		await response.closeFunction!();
	}
}

let seq = 0;
function track(userId: string, event: string, properties: IDataObject = {}, traits?: IDataObject, at = new Date()): IDataObject {
	return { type: 'track', messageId: `n8n-${++seq}-${Date.now()}`, userId, event, properties, timestamp: at.toISOString(), context: traits ? { traits } : {} };
}


async function runEvents(journey: string, events: IDataObject[]): Promise<Decision[]> {
	const wf = template(journey);
	const input = await trigger(f, wf, events);
	const result = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input, credentials: f.credentials, mode: 'webhook' });
	expect(result.error).toBeUndefined();
	const ids = input[0].map((item) => String(item.json.decisionId));
	return (await Promise.all(ids.map((id) => f.engine.store.getDecision(id)))) as Decision[];
}

describe('flows/n8n templates', () => {
	it('each carries its own stable workflow id (16 letters and digits, as n8n makes them): `n8n import:workflow --input=<file>` of n8n 2.x stores it as is and refuses a workflow without one', () => {
		const files = readdirSync(join(ROOT, 'flows/n8n')).filter((file) => file.endsWith('.json'));
		const templates = files.map((file) => JSON.parse(readFileSync(join(ROOT, 'flows/n8n', file), 'utf8')) as IDataObject);
		for (const [i, json] of templates.entries()) {
			expect([files[i], json.id]).toEqual([files[i], expect.stringMatching(/^[A-Za-z0-9]{16}$/)]);
			// No instance of ours: n8n shows the credential set-up prompt on import.
			expect([files[i], json.meta]).toEqual([files[i], { templateCredsSetupCompleted: false }]);
		}
		expect(new Set(templates.map((json) => json.id)).size).toBe(files.length);
	});

	it.each(JOURNEYS)('%s: passes n8n’s import validation with the real node types, and every Nudge node uses the one credential', (journey) => {
		const json = template(journey);
		const workflow = buildWorkflow(json);
		for (const node of json.nodes) {
			const type = nodeTypes.getByNameAndVersion(node.type, node.typeVersion);
			expect(type).toBeDefined();
			// A versioned core node must have this exact version (n8n would otherwise fall back to its latest).
			const declared = nodeTypes.getByName(node.type) as INodeType | IVersionedNodeType;
			const versions = 'nodeVersions' in declared ? Object.keys(declared.nodeVersions).map(Number) : [declared.description.version].flat();
			expect(versions).toContain(node.typeVersion);
			// Parameters resolve against the node type's description, and nothing required is missing.
			const params = NodeHelpers.getNodeParameters(type.description.properties, node.parameters, true, false, node, type.description);
			expect(params).not.toBeNull();
			expect(NodeHelpers.getNodeParametersIssues(type.description.properties, { ...node, parameters: params! } as never, type.description)).toBeNull();
			if (node.type.startsWith('n8n-nodes-nudge.')) expect(node.credentials).toEqual({ nudgeEngineApi: { name: 'Nudge Engine' } });
			else expect(node.type.startsWith('n8n-nodes-base.')).toBe(true);
		}
		// Every connection names a node of the workflow.
		for (const [from, outputs] of Object.entries(json.connections)) {
			expect(workflow.getNode(from)).not.toBeNull();
			for (const edge of outputs.main.flat()) expect(workflow.getNode(edge!.node)).not.toBeNull();
		}
		const trigger = json.nodes.find((n) => n.type === 'n8n-nodes-nudge.nudgeTrigger')!;
		expect(trigger.parameters.journey).toBe(journey);
		// No decision is dropped on the floor: every output of every Nudge step leads somewhere (Log Decision
		// in the end), except the last steps themselves.
		for (const node of json.nodes.filter((n) => n.type.startsWith('n8n-nodes-nudge.') && !/nudge(LogDecision|RecordOutcome)$/.test(n.type))) {
			const outputs = nodeTypes.getByNameAndVersion(node.type, node.typeVersion).description.outputs as unknown[];
			const wired = json.connections[node.name]?.main ?? [];
			for (let i = 0; i < outputs.length; i++) expect([node.name, i, (wired[i] ?? []).length > 0]).toEqual([node.name, i, true]);
		}
		expect(String(json.nodes.find((n) => n.type === 'n8n-nodes-base.stickyNote')?.parameters.content)).toMatch(/Frequency Cap/);
	});

	it('nurture: the converter is escalated to a sales task and the conversion recorded; the opted-out lead gets nothing; the night-time lead waits for the best send time; the holdout lead is held out; retries, refused sends and signatures', async () => {
		const day = zoneAtLocalHour(11);
		const dana = { email: 'dana@northwind.example', title: 'VP Marketing', employees: 420, timezone: day, consent: { email: 'opted_in' } };
		const [pricing] = await runEvents('nurture', [track('n8-dana', 'Pricing Viewed', {}, dana)]);
		expect(pricing).toMatchObject({ status: 'sent', channel: 'email', annotations: { journey: 'nurture' } });
		const [demo] = await runEvents('nurture', [track('n8-dana', 'Demo Requested')]);
		expect(demo).toMatchObject({ status: 'sent', channel: 'sales_task', score: { tier: 'hot' } });
		const task = target.received.find((r) => r.body.decisionId === demo.decisionId)!;
		expect((task.body.score as { factors: Array<{ label: string }> }).factors.map((x) => x.label)).toContain('Requested a demo');
		expect((task.body.handoff as { summary: string }).summary).toMatch(/^dana@northwind\.example \(VP Marketing\): hot lead, score \d+\. Interested in: Demo Requested, Pricing Viewed\. Why: Requested a demo \(\+40\)/);
		// The conversion reaches the flow late (a sender's retry): it is recorded at the time it happened, not on arrival.
		await new Promise((resolve) => setTimeout(resolve, 50));
		const convertedAt = new Date(Date.parse(demo.delivery!.at) + 1);
		const [converted] = await runEvents('nurture', [track('n8-dana', 'Lead Converted', { value: 24000 }, undefined, convertedAt)]);
		expect(converted).toMatchObject({ reason: 'NOT_A_TRIGGER', loggedAt: expect.any(String) });
		expect((await f.engine.store.getDecision(demo.decisionId))!.outcomes).toMatchObject([{ type: 'conversion', value: 24000, at: convertedAt.toISOString() }]);

		const [tom] = await runEvents('nurture', [track('n8-tom-ellis', 'Pricing Viewed', {}, { email: 'tom@quarry.example', timezone: day, consent: { email: 'opted_out', sms: 'opted_out', push: 'opted_out' } })]);
		expect(tom).toMatchObject({ status: 'suppressed', reason: 'NO_ELIGIBLE_CHANNEL' });
		expect(target.received.some((r) => r.body.decisionId === tom.decisionId)).toBe(false);

		const [held] = await runEvents('nurture', [track('u-kenji', 'Pricing Viewed', {}, { email: 'kenji@harbor.example', timezone: day })]);
		expect(held).toMatchObject({ reason: 'HOLDOUT' });

		// A retried delivery is answered by the trigger as a duplicate and starts nothing.
		const retry = JSON.stringify([track('n8-dup', 'Lead Created', {}, { email: 'dup@example.com', timezone: day })]);
		const wfDup = template('nurture');
		const firstCall = await callWebhook({ workflow: wfDup, nodeName: 'Nudge Trigger', rawBody: retry, headers: signed(SECRET, retry), credentials: f.credentials });
		expect(firstCall.body).toMatchObject({ accepted: 1, duplicates: 0 });
		const again = await callWebhook({ workflow: wfDup, nodeName: 'Nudge Trigger', rawBody: retry, headers: signed(SECRET, retry), credentials: f.credentials });
		expect(again.body).toEqual({ accepted: 0, duplicates: 1, decisionIds: [] });

		// A message the tool refuses leaves Send by Failed and is logged with the tool's answer.
		const [bounced] = await runEvents('nurture', [track('n8-bounce', 'Lead Created', {}, { email: 'bounce@example.com', timezone: day })]);
		expect(bounced).toMatchObject({ status: 'failed', reason: 'SEND_FAILED', delivery: { httpStatus: 400 }, loggedAt: expect.any(String) });

		// Everything the tool received was signed with the credential's secret.
		expect(target.received.length).toBeGreaterThan(0);
		for (const request of target.received) expect(() => verifySignedRequest(SECRET, request.rawBody, request.headers as Record<string, unknown>)).not.toThrow();

		// A batch in one execution: the night-time lead waits for the best send time (learned from Dana's
		// engagement at 11:00 her time), in the store and not in the execution; the day-time lead goes at once.
		const wf = template('nurture');
		const night = zoneAtLocalHour(2);
		const input = await trigger(f, wf, [
			track('n8-ren', 'Lead Created', {}, { email: 'ren@oakline.example', timezone: night }),
			track('n8-ivo', 'Lead Created', {}, { email: 'ivo@oakline.example', timezone: day }),
		]);
		const run = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input, credentials: f.credentials, mode: 'webhook' });
		expect(run.error).toBeUndefined();
		expect(run.run.waitTill).toBeUndefined();
		expect(run.run.status).toBe('success');
		const [ren, ivo] = (await Promise.all(input[0].map((item) => f.engine.store.getDecision(String(item.json.decisionId))))) as Decision[];
		expect(ivo).toMatchObject({ status: 'sent', sendTime: { hour: 11 } });
		expect(ren).toMatchObject({ status: 'delayed', reason: 'BEST_SEND_TIME', ruleId: 'journeys.nurture.sendTime', sendTime: { hour: 11 }, loggedAt: expect.any(String) });
		expect(ren.guard!.retryAt).toBe(ren.sendTime!.sendAt);
		// Due at 11:00 today in Ren's zone (it is between 2:00 and 5:00 there now), not at once.
		expect(ren.guard!.retryAt).toBe(DateTime.now().setZone(night).set({ hour: 11, minute: 0, second: 0, millisecond: 0 }).toJSDate().toISOString());
		expect(run.output('Log Delayed')).toHaveLength(1);
		expect(run.output('Log Sent')).toHaveLength(1);

		// The template's Decisions Due brings Ren's message back at the best time, alone; the guardrails pass it and it is sent.
		await withDecisionsDue(wf, async (check) => {
			expect(await check()).toEqual([]);
			const due = await check(Date.parse(ren.guard!.retryAt!) + 1000);
			expect(due.map((e) => e[0].map((item) => item.json.decisionId))).toEqual([[ren.decisionId]]);
			const resumed = await runWorkflow({ workflow: wf, startNode: 'Decisions Due', input: due[0], credentials: f.credentials, mode: 'trigger' });
			expect(resumed.error).toBeUndefined();
			expect(resumed.order).toEqual(['Decisions Due', 'Sales Task?', 'Frequency Cap', 'Send', 'Log Sent']);
			const sent = (await f.engine.store.getDecision(ren.decisionId))!;
			expect(sent.status).toBe('sent');
			expect(sent.guard!.checks.find((c) => c.kind === 'send_time')).toMatchObject({ passed: true });
			expect(target.received.filter((r) => r.body.decisionId === ren.decisionId)).toHaveLength(1);
		});
	});

	it('no template holds an execution in a Wait node for the best send time: n8n\'s Wait node only waits for a person', () => {
		for (const journey of JOURNEYS) {
			const json = template(journey);
			for (const node of json.nodes.filter((n) => n.type === 'n8n-nodes-base.wait')) expect([journey, node.name, node.parameters.resume]).toEqual([journey, node.name, 'webhook']);
		}
	});

	it('cart abandonment: the fired timer gets an offer by intent; the order is recorded as revenue and cancels the second touch', async () => {
		const day = zoneAtLocalHour(11);
		const wf = template('cart-abandonment');
		const start = new Date(Date.now() - 90 * 60_000);
		const updates = await runEvents('cart-abandonment', [track('n8-marco', 'Cart Updated', { cart_id: 'c1', value: 218 }, { email: 'marco@example.com', timezone: day, consent: { email: 'opted_in' } }, start), track('n8-marco', 'Checkout Started', { cart_id: 'c1', value: 218 }, undefined, start)]);
		expect(updates.every((d) => d.reason === 'NOT_A_TRIGGER' && d.loggedAt)).toBe(true);
		// The template's Poll Trigger "Fire Timers" fires the due timer (its poll(), run by n8n's PollContext)…
		const workflow = buildWorkflow(wf);
		const pollNode = workflow.getNode('Fire Timers')!;
		const poll = nodeTypes.getByNameAndVersion(pollNode.type, pollNode.typeVersion).poll!;
		const input = (await poll.call(new PollContext(workflow, pollNode, additionalData(f.credentials), 'trigger', 'activate')))!;
		const fired = input[0].map((item) => item.json as IDataObject & { decision: Decision; event: { name: string } });
		expect(fired.map((item) => item.event.name)).toEqual(['Cart Abandoned']);
		// …and the same workflow takes it from there.
		const result = await runWorkflow({ workflow: wf, startNode: 'Fire Timers', input, credentials: f.credentials, mode: 'trigger' });
		expect(result.error).toBeUndefined();
		expect(result.order).toEqual(expect.arrayContaining(['Purchase Intent', 'Choose Channel', 'Frequency Cap', 'Send', 'Log Sent']));
		const touch = (await f.engine.store.getDecision(fired[0].decision.decisionId))!;
		expect(touch).toMatchObject({ status: 'sent', score: { tier: 'warm' }, message: { offerValue: 10 } });
		const [order] = await runEvents('cart-abandonment', [track('n8-marco', 'Order Completed', { order_id: 'o1', revenue: 218 })]);
		expect(order.outcomeFor).toMatchObject({ decisionId: touch.decisionId, type: 'revenue' });
		expect((await f.engine.store.getDecision(touch.decisionId))!.outcomes).toMatchObject([{ type: 'revenue', value: 218 }]);
		// The second touch's timer was cancelled by the order.
		expect((await fireDueTimers(f.engine, Date.now() + 2 * 86_400_000)).fired).toEqual([]);
	});

	it('cart abandonment: in a batch of fired timers the night-time touch waits in the store while the others go out at once; Decisions Due brings it back alone when due, and it is sent', async () => {
		const wf = template('cart-abandonment');
		const start = new Date(Date.now() - 90 * 60_000);
		// Each starts checkout (warm intent: a 10% offer, no review) and leaves.
		const cart = (who: string, timezone: string) => [
			track(`n8-batch-${who}`, 'Cart Updated', { cart_id: `c-${who}`, value: 80 }, { email: `${who}@example.com`, timezone, consent: { email: 'opted_in' } }, start),
			track(`n8-batch-${who}`, 'Checkout Started', { cart_id: `c-${who}`, value: 80 }, undefined, start),
		];
		await runEvents('cart-abandonment', [...cart('noor', zoneAtLocalHour(11)), ...cart('sam', zoneAtLocalHour(2)), ...cart('otto', zoneAtLocalHour(14))]); // none in the holdout
		const workflow = buildWorkflow(wf);
		const pollNode = workflow.getNode('Fire Timers')!;
		const input = (await nodeTypes.getByNameAndVersion(pollNode.type, pollNode.typeVersion).poll!.call(new PollContext(workflow, pollNode, additionalData(f.credentials), 'trigger', 'activate')))!;
		const ids = input[0].map((item) => String(item.json.decisionId));
		expect(ids).toHaveLength(3);
		const result = await runWorkflow({ workflow: wf, startNode: 'Fire Timers', input, credentials: f.credentials, mode: 'trigger' });
		expect(result.error).toBeUndefined();
		// Nothing paused the execution: it finished, with the two day-time touches sent and the night-time one logged as waiting.
		expect(result.run.waitTill).toBeUndefined();
		expect(result.run.status).toBe('success');
		expect(result.output('Log Sent')).toHaveLength(2);
		expect(result.output('Log Delayed')).toHaveLength(1);
		const decided = (await Promise.all(ids.map((id) => f.engine.store.getDecision(id)))) as Decision[];
		const sam = decided.find((d) => d.status === 'delayed')!;
		expect(decided.map((d) => d.status).sort()).toEqual(['delayed', 'sent', 'sent']);
		expect(sam).toMatchObject({ reason: 'QUIET_HOURS', guard: { retryAt: expect.any(String) } });

		// The template's "Decisions Due" trigger, run by n8n's TriggerContext: nothing before the due time…
		await withDecisionsDue(wf, async (check) => {
			expect(await check()).toEqual([]);
			// …then, at the due time (the clock moved on), the waiting touch alone, in an execution of its own.
			const due = await check(Date.parse(sam.guard!.retryAt!) + 1000);
			expect(due.map((e) => e[0].map((item) => item.json.decisionId))).toEqual([[sam.decisionId]]);
			const resumed = await runWorkflow({ workflow: wf, startNode: 'Decisions Due', input: due[0], credentials: f.credentials, mode: 'trigger' });
			expect(resumed.error).toBeUndefined();
			expect(resumed.order).toEqual(['Decisions Due', 'Frequency Cap', 'Send', 'Log Sent']);
			// The same decision is finalised: sent, its trail showing the wait.
			const sent = (await f.engine.store.getDecision(sam.decisionId))!;
			expect(sent.status).toBe('sent');
			expect(sent.trail.filter((t) => t.stage === 'guard').map((t) => t.status)).toEqual(['delayed', 'pending']);
			expect(target.received.filter((r) => r.body.decisionId === sam.decisionId)).toHaveLength(1);
			// Taken once: a second look finds nothing.
			expect(await check()).toEqual([]);
		});
	});

	it('churn risk: the open ticket blocks the win-back; the night-time account is delayed; the high-value account becomes an account-manager task, approved through the verdict webhook', async () => {
		const day = zoneAtLocalHour(11);
		const grace = { email: 'grace@brightbyte.example', plan: 'monthly', timezone: day, consent: { email: 'opted_in' } };
		const [ticket, drop] = await runEvents('churn-risk', [track('n8-grace', 'Ticket Opened', { ticket_id: 'T-1' }, grace), track('n8-grace', 'Usage Dropped', { drop_pct: 45 })]);
		expect(ticket).toMatchObject({ reason: 'NEGATIVE_TRIGGER', ruleId: 'support-ticket-open' });
		expect(drop).toMatchObject({ reason: 'NEGATIVE_TRIGGER', ruleId: 'support-ticket-open', loggedAt: expect.any(String) });
		// At night the win-back is delayed by quiet hours: logged as waiting, and the execution ends (no Wait node).
		const wf = template('churn-risk');
		const input = await trigger(f, wf, [track('n8-ana', 'Payment Failed', { amount: 29, currency: 'USD', attempt: 1 }, { email: 'ana@example.com', plan: 'monthly', timezone: zoneAtLocalHour(2), consent: { email: 'opted_in' } })]);
		const night = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input, credentials: f.credentials, mode: 'webhook' });
		expect(night.order).toContain('Log Delayed');
		expect(night.run.waitTill).toBeUndefined();
		const ana = (await f.engine.store.getDecision(String(input[0][0].json.decisionId)))!;
		expect(ana).toMatchObject({ status: 'delayed', reason: 'QUIET_HOURS', ruleId: 'night', loggedAt: expect.any(String) });
		const [big] = await runEvents('churn-risk', [track('acct-northwind', 'Usage Dropped', { drop_pct: 60 }, { email: 'cfo@northwind.example', accountValue: 48000, timezone: day, consent: { email: 'opted_in' } })]);
		expect(big).toMatchObject({ status: 'review', ruleId: 'high-value-account', loggedAt: expect.any(String) });
		const task = target.received.find((r) => r.body.decisionId === big.decisionId);
		expect(task?.body).toMatchObject({ task: 'review', journey: 'churn-risk', contactId: big.contactId, rules: ['high-value-account'], offer: { offerValue: 15 } });
		// The account manager approves through the Review Verdict webhook: Record Verdict, then Send.
		const verdict = [[{ json: { headers: {}, params: {}, query: {}, body: { decisionId: big.decisionId, approve: true, reviewer: 'am@yourco.example', note: 'loyal customer' } } }]];
		const result = await runWorkflow({ workflow: wf, startNode: 'Review Verdict', input: verdict, credentials: f.credentials, mode: 'webhook' });
		expect(result.error).toBeUndefined();
		expect(result.order).toEqual(['Review Verdict', 'Verdict', 'Record Verdict', 'Send', 'Log Sent']);
		const approved = (await f.engine.store.getDecision(big.decisionId))!;
		expect(approved).toMatchObject({ status: 'sent', review: { verdict: 'approved', reviewer: 'am@yourco.example', note: 'loyal customer' } });
		expect(target.received.filter((r) => r.body.decisionId === big.decisionId)).toHaveLength(2);
	});
});
