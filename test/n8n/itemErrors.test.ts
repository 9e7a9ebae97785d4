/**
 * What a Nudge node does with an item that is not a decision to go on with, and with the n8n Settings that would
 * drop items: an earlier node's error item passed on by "On Error → Continue" is refused by every later Nudge node
 * (Log Decision logs it), and a per-item step node with "Execute Once" on refuses to run rather than leave all
 * items but the first undecided with no trace.
 */
import type { IDataObject, INode, NodeOperationError } from 'n8n-workflow';
import { anaEvent, fixture, sendTargetForFile, trigger, type Fixture } from './fixtures';
import { connect, nudgeNode, runWorkflow, type RunResult, type WorkflowJson, type } from './harness';
import './quiet';

const sending = sendTargetForFile();

const POLICY = JSON.stringify({
	channelOrder: ['email'],
	channels: { email: { unknownConsent: 'allow' } },
	// Holds a message whose score is unsure: a decision that skipped Score must not slip past it.
	review: [{ id: 'unsure-score', when: { field: 'score.probability', op: 'lt', value: 0.99 } }],
});

const CONTINUE: Partial<INode> = { onError: 'continueRegularOutput' };
const TRIGGER = nudgeNode('Nudge Trigger', 'nudgeTrigger', { journey: 'nurture' }, { webhookId: '0c5e8e2a-2222-4b1c-8d3e-0000000000b1' });

const contact = (n: number) => ({ type: 'track', name: 'Pricing Viewed', eventId: `e-${Date.now()}-${n}-${Math.random()}`, identities: { email: `c${n}@example.com` } });

function run(f: Fixture, workflow: WorkflowJson, items: IDataObject[], startNode: string): Promise<RunResult> {
	return runWorkflow({ workflow, startNode, input: [items.map((json) => ({ json }))], credentials: f.credentials });
}

/** Runs the flow from the trigger with the event; Score's engine step fails once as a locked store does. */
async function withFailingScore(f: Fixture, wf: WorkflowJson, event: IDataObject): Promise<RunResult> {
	const input = (await trigger(f, wf, event))[0].map((i) => i.json);
	const spy = jest.spyOn(f.engine, 'score').mockRejectedValueOnce(new Error('SQLITE_BUSY: database is locked'));
	try {
		return await run(f, wf, input, 'Nudge Trigger');
	} finally {
		spy.mockRestore();
	}
}

/** The run stopped at this node with a NodeOperationError whose message matches. */
function stoppedAt(result: RunResult, nodeName: string, message: RegExp): NodeOperationError {
	expect(result.run.status).toBe('error');
	const error = result.run.data.resultData.runData[nodeName][0].error as NodeOperationError;
	expect(error.message).toMatch(message);
	return error;
}

const REFUSED = /is the error of an earlier node \(Score: SQLITE_BUSY: database is locked\), passed on by On Error → Continue: it is not a decision to go on with. Route it to Log Decision/;

describe('On Error → Continue (regular output) on a one-output node: the error item is not a decision to go on with', () => {
	const journey = (chooseExtra: Partial<INode> = {}): WorkflowJson => ({
		nodes: [
			TRIGGER,
			nudgeNode('Score', 'nudgeScore', {}, CONTINUE),
			nudgeNode('Choose Channel', 'nudgeChooseChannel', {}, chooseExtra),
			nudgeNode('Frequency Cap', 'nudgeFrequencyCap', { operation: 'check', channel: '', message: { category: 'promotional' } }),
			nudgeNode('Send', 'nudgeSend', { provider: 'webhook', url: sending.url, sign: false }),
		],
		connections: connect([
			['Nudge Trigger', 0, 'Score'],
			['Score', 0, 'Choose Channel'],
			['Choose Channel', 0, 'Frequency Cap'],
			['Frequency Cap', 0, 'Send'],
		]),
	});

	it('a Score that failed does not let its decision go on unscored past the review rule: Choose Channel refuses it, nothing is sent', async () => {
		const f = fixture({ policy: POLICY });
		const wf = journey();
		// Scored, the unsure-score rule holds the message for review.
		const control = await run(f, wf, (await trigger(f, wf, contact(1)))[0].map((i) => i.json), 'Nudge Trigger');
		expect(control.output('Frequency Cap', 3)).toHaveLength(1);

		const result = await withFailingScore(f, wf, contact(2));
		const [errorItem] = result.output('Score', 0);
		// The error item keeps the input's fields (the decision, for the audit trail) and names the node that failed.
		expect(errorItem).toMatchObject({ error: expect.stringMatching(/SQLITE_BUSY/), details: { code: 'NODE_ERROR', node: 'Score' } });
		expect(errorItem.decisionId).toMatch(/^d_/);
		stoppedAt(result, 'Choose Channel', REFUSED);
		expect(sending.target.received).toHaveLength(0);
		const decision = await f.engine.getDecision(String(errorItem.decisionId));
		expect(decision).toMatchObject({ status: 'pending' });
		expect(decision.channel).toBeUndefined();
		expect(decision.guard).toBeUndefined();
	});

	it('with Continue on the later node too, the refusal leaves by its error output (None), never by a channel', async () => {
		const f = fixture({ policy: POLICY });
		const result = await withFailingScore(f, journey(CONTINUE), contact(3));
		expect(result.run.status).toBe('success');
		for (const output of [0, 1, 2, 3, 4, 5]) expect(result.output('Choose Channel', output)).toEqual([]);
		const [none] = result.output('Choose Channel', 6);
		expect(none.error).toMatch(REFUSED);
		expect(none.details).toMatchObject({ code: 'NODE_ERROR', node: 'Choose Channel' });
		expect(result.order).not.toContain('Send');
		expect(sending.target.received).toHaveLength(0);
	});

	it('Log Decision logs the error item’s decision as it stands, and the item it passes on is still refused', async () => {
		const f = fixture({ policy: POLICY });
		const wf: WorkflowJson = {
			nodes: [TRIGGER, nudgeNode('Score', 'nudgeScore', {}, CONTINUE), nudgeNode('Log Failure', 'nudgeLogDecision'), nudgeNode('Send', 'nudgeSend', { provider: 'webhook', url: sending.url, sign: false })],
			connections: connect([
				['Nudge Trigger', 0, 'Score'],
				['Score', 0, 'Log Failure'],
				['Log Failure', 0, 'Send'],
			]),
		};
		const result = await withFailingScore(f, wf, contact(4));
		const [logged] = result.output('Log Failure', 0);
		expect(logged).toMatchObject({ error: expect.stringMatching(/SQLITE_BUSY/), details: { node: 'Score' } });
		expect(await f.engine.getDecision(String(logged.decisionId))).toMatchObject({ status: 'pending', loggedAt: expect.any(String) });
		stoppedAt(result, 'Send', REFUSED);
		expect(sending.target.received).toHaveLength(0);
	});

	it('an item of n8n’s error output (On Error → Continue (using error output)), which n8n gives the input’s decisionId, is refused as well', async () => {
		const f = fixture({ policy: POLICY });
		const wf: WorkflowJson = {
			nodes: [
				TRIGGER,
				// Straight from the trigger there is no channel yet, so the cap cannot be checked.
				nudgeNode('Frequency Cap', 'nudgeFrequencyCap', {}, { onError: 'continueErrorOutput' }),
				nudgeNode('Send', 'nudgeSend', { provider: 'webhook', url: sending.url, sign: false }),
			],
			// n8n appends its error output after the node's four outputs.
			connections: connect([
				['Nudge Trigger', 0, 'Frequency Cap'],
				['Frequency Cap', 4, 'Send'],
			]),
		};
		const input = await trigger(f, wf, anaEvent());
		const result = await run(f, wf, input[0].map((i) => i.json), 'Nudge Trigger');
		const [errorItem] = result.output('Frequency Cap', 4);
		expect(errorItem).toMatchObject({ decisionId: input[0][0].json.decisionId, details: { code: 'INVALID_INPUT', node: 'Frequency Cap' } });
		stoppedAt(result, 'Send', /is the error of an earlier node \(Frequency Cap: .*has no channel yet.*\), passed on by On Error → Continue/);
		expect(sending.target.received).toHaveLength(0);
	});

	it('a retry branch (the error output wired into the same step again) takes the decision: it skips nothing', async () => {
		const f = fixture();
		const wf: WorkflowJson = {
			nodes: [TRIGGER, nudgeNode('Score', 'nudgeScore', {}, { onError: 'continueErrorOutput' }), nudgeNode('Score again', 'nudgeScore')],
			// n8n appends its error output after Score's one output.
			connections: connect([
				['Nudge Trigger', 0, 'Score'],
				['Score', 1, 'Score again'],
			]),
		};
		const input = await trigger(f, wf, anaEvent());
		const decisionId = String(input[0][0].json.decisionId);
		const spy = jest.spyOn(f.engine, 'score').mockRejectedValueOnce(new Error('SQLITE_BUSY: database is locked'));
		let result: RunResult;
		try {
			result = await run(f, wf, input[0].map((i) => i.json), 'Nudge Trigger');
		} finally {
			spy.mockRestore();
		}
		expect(result.output('Score', 1)).toMatchObject([{ decisionId, details: { node: 'Score', nodeType: type('nudgeScore') } }]);
		expect(result.run.data.resultData.error?.message).toBeUndefined();
		expect(result.output('Score again', 0)).toHaveLength(1);
		expect((await f.engine.getDecision(decisionId)).score).toBeDefined();
	});
});

describe('Execute Once on a per-item step node', () => {
	const EXECUTE_ONCE = /^Execute Once is on in this node's Settings: n8n hands it only the first item, and the other items' (decisions would be left undecided|outcomes would not be recorded|requests would get no answer)\. Turn Execute Once off/;

	it('Frequency Cap refuses to run rather than leave all decisions but the first pending with no trace', async () => {
		const f = fixture({ policy: POLICY });
		const wf: WorkflowJson = {
			nodes: [nudgeNode('Choose Channel', 'nudgeChooseChannel'), nudgeNode('Frequency Cap', 'nudgeFrequencyCap', { operation: 'check', channel: '', message: {} }, { executeOnce: true })],
			connections: connect([['Choose Channel', 0, 'Frequency Cap']]),
		};
		const result = await run(f, wf, [contact(1), contact(2), contact(3)], 'Choose Channel');
		stoppedAt(result, 'Frequency Cap', EXECUTE_ONCE);
		const decisions = await f.engine.queryDecisions({});
		expect(decisions).toHaveLength(3);
		// Not one checked: the failed execution shows the setting to turn off, and the items can be run again.
		expect(decisions.filter((d) => d.guard)).toEqual([]);
	});

	const nodes: Array<[string, IDataObject]> = [
		['nudgeScore', {}],
		['nudgeChooseChannel', {}],
		['nudgeSend', { provider: 'webhook', url: 'http://127.0.0.1:9/never', sign: false }],
		['nudgeLogDecision', {}],
		['nudgeRecordOutcome', { decisionId: 'd_1', outcomeType: 'click' }],
		['nudgeAction', { agentId: 'ops-flow', contact: '={{ $json.identities.email }}', channel: 'email', idempotencyKey: '={{ $json.eventId }}' }],
	];
	it.each(nodes)('%s refuses too, before its engine step', async (type, parameters) => {
		const f = fixture({ policy: POLICY });
		const result = await run(f, { nodes: [nudgeNode('Step', type, parameters, { executeOnce: true })], connections: {} }, [contact(1), contact(2)], 'Step');
		stoppedAt(result, 'Step', EXECUTE_ONCE);
		expect(await f.engine.queryDecisions({})).toEqual([]);
	});

	it('with On Error → Continue, the refusal is an error item (which later nodes refuse), not the first item passed on as scored', async () => {
		const f = fixture({ policy: POLICY });
		const wf: WorkflowJson = {
			nodes: [nudgeNode('Score', 'nudgeScore', {}, { executeOnce: true, ...CONTINUE }), nudgeNode('Choose Channel', 'nudgeChooseChannel')],
			connections: connect([['Score', 0, 'Choose Channel']]),
		};
		const result = await run(f, wf, [contact(1), contact(2)], 'Score');
		const [errorItem] = result.output('Score', 0);
		expect(errorItem.error).toMatch(EXECUTE_ONCE);
		stoppedAt(result, 'Choose Channel', /is the error of an earlier node \(Score: Execute Once is on/);
		expect(await f.engine.queryDecisions({})).toEqual([]);
	});
});

describe('an Agent ID given as an expression on the regular Nudge Action node', () => {
	// The setting takes no expressions (noDataExpression): n8n strips the "=" of one in imported JSON (n8n-workflow's
	// getNodeParameters), so the item's own data never chooses the agent. The text left is refused per item.
	const action = (extra: Partial<INode> = {}) =>
		nudgeNode('Action', 'nudgeAction', { agentId: '={{ $json.agent }}', contact: '={{ $json.identities.email }}', channel: 'email', idempotencyKey: '={{ $json.eventId }}' }, extra);
	const NOT_A_NAME = /agentId: may hold letters, digits and \. _ : @ \/ - only/;

	it('is never evaluated: the run fails naming the setting, and nothing is decided', async () => {
		const f = fixture({ policy: POLICY });
		const result = await run(f, { nodes: [action()], connections: {} }, [{ ...contact(1), agent: 'trusted-bot' }], 'Action');
		stoppedAt(result, 'Action', NOT_A_NAME);
		expect(await f.engine.queryDecisions({})).toEqual([]);
	});

	it('with On Error → Continue, every item is an error item, not passed on as if it were answered', async () => {
		const f = fixture({ policy: POLICY });
		const items = [
			{ ...contact(1), agent: 'trusted-bot' },
			{ ...contact(2), agent: 'trusted-bot' },
		];
		const result = await run(f, { nodes: [action(CONTINUE)], connections: {} }, items, 'Action');
		expect(result.run.status).toBe('success');
		const out = result.output('Action', 0);
		expect(out).toHaveLength(2);
		for (const [i, item] of out.entries()) {
			expect(item).toMatchObject({ eventId: items[i].eventId, details: expect.objectContaining({ code: 'INVALID_INPUT', node: 'Action' }) });
			expect(item.error).toMatch(NOT_A_NAME);
			expect(item.verdict).toBeUndefined();
		}
		expect(await f.engine.queryDecisions({})).toEqual([]);
	});
});
