/**
 * Bad input for the action nodes: each fails with a NodeOperationError whose message says what to fix,
 * or — with "On Error → Continue" — becomes an error item, and never changes the store.
 */
import { existsSync } from 'node:fs';
import type { IDataObject, INode, INodeExecutionData, NodeOperationError } from 'n8n-workflow';
import { anaEvent, caraEvent, fixture, sendTargetForFile, trigger, type Fixture } from './fixtures';
import { connect, nudgeNode, runWorkflow, type RunResult, type WorkflowJson } from './harness';

const sending = sendTargetForFile();
const { target } = sending;

function single(node: INode): WorkflowJson {
	return { nodes: [node], connections: {} };
}

async function runOne(f: Fixture, node: INode, items: IDataObject[]): Promise<RunResult> {
	const input: INodeExecutionData[][] = [items.map((json) => ({ json }))];
	return await runWorkflow({ workflow: single(node), startNode: node.name, input, credentials: f.credentials });
}

/** The run failed at this node with a NodeOperationError for item `itemIndex` whose message matches. */
function expectNodeError(result: RunResult, nodeName: string, message: RegExp, itemIndex = 0) {
	expect(result.run.status).toBe('error');
	const error = result.run.data.resultData.runData[nodeName][0].error;
	// n8n keeps the error in the run data as a plain copy of the NodeOperationError.
	expect(error!.name).toBe('NodeOperationError');
	expect(error!.message).toMatch(message);
	expect((error as NodeOperationError).context.itemIndex).toBe(itemIndex);
	return error as NodeOperationError;
}

const CONTINUE = { onError: 'continueRegularOutput' as const };

describe('an item that carries no decision and is not an event', () => {
	const junk = { firstName: 'Ana', note: 'no decision here' };

	it('fails with a message that says how to connect the node, and stores nothing', async () => {
		const f = fixture();
		const result = await runOne(f, nudgeNode('Score Lead', 'nudgeScore'), [junk]);
		const error = expectNodeError(result, 'Score Lead', /carries no Nudge decision and is not a customer event either/);
		expect(error.message).toMatch(/Connect this node after a Nudge Trigger/);
		expect(error.description).toMatch(/^type: Invalid option.*\nidentities: /s);
		expect(await f.engine.queryDecisions({})).toEqual([]);
	});

	it('becomes an error item with "On Error → Continue", the good items still go through', async () => {
		const f = fixture();
		const result = await runOne(f, nudgeNode('Choose Channel', 'nudgeChooseChannel', {}, CONTINUE), [anaEvent(), junk]);
		expect(result.run.status).toBe('success');
		expect(result.output('Choose Channel', 0)).toHaveLength(1);
		const [errorItem] = result.output('Choose Channel', 6);
		expect(errorItem).toMatchObject({ ...junk, details: expect.objectContaining({ code: 'INVALID_EVENT' }) });
		expect(errorItem.error).toMatch(/carries no Nudge decision/);
		expect(await f.engine.queryDecisions({})).toHaveLength(1);
	});

	it('goes to the error output, with the item’s fields, with "On Error → Continue (using error output)"', async () => {
		const f = fixture();
		const wf: WorkflowJson = {
			nodes: [
				nudgeNode('Nudge Trigger', 'nudgeTrigger', { journey: 'nurture' }, { webhookId: '0c5e8e2a-2222-4b1c-8d3e-000000000001' }),
				nudgeNode('Frequency Cap', 'nudgeFrequencyCap', {}, { onError: 'continueErrorOutput' }),
			],
			connections: connect([['Nudge Trigger', 0, 'Frequency Cap']]),
		};
		// Straight from the trigger there is no channel yet, so the cap cannot be checked.
		const input = await trigger(f, wf, anaEvent());
		const result = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input, credentials: f.credentials });
		expect(result.run.status).toBe('success');
		expect(result.output('Frequency Cap', 0)).toEqual([]);
		for (const output of [1, 2, 3]) expect(result.output('Frequency Cap', output)).toEqual([]);
		// n8n appends its error output after the node's four outputs.
		const [errorItem] = result.output('Frequency Cap', 4);
		expect(errorItem).toMatchObject({ decisionId: input[0][0].json.decisionId, details: { code: 'INVALID_INPUT' } });
		expect(errorItem.error).toMatch(/has no channel yet/);
	});
});

describe('a decision whose contact is unknown (profile missing)', () => {
	async function ghostDecision(f: Fixture) {
		const { decision } = await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const ghost = { ...decision, decisionId: 'd_ghost', contactId: 'c_erased' };
		await f.engine.store.putDecision(ghost);
		return ghost;
	}

	it('fails naming the contact and leaves the decision as it was', async () => {
		const f = fixture();
		const ghost = await ghostDecision(f);
		const result = await runOne(f, nudgeNode('Score Lead', 'nudgeScore'), [{ decisionId: ghost.decisionId }]);
		expectNodeError(result, 'Score Lead', /Contact c_erased is unknown: no profile exists for it/);
		expect(await f.engine.getDecision(ghost.decisionId)).toEqual(ghost);
	});

	it('becomes an error item with "On Error → Continue"', async () => {
		const f = fixture();
		const ghost = await ghostDecision(f);
		const result = await runOne(f, nudgeNode('Choose Channel', 'nudgeChooseChannel', {}, CONTINUE), [{ decisionId: ghost.decisionId }]);
		expect(result.output('Choose Channel', 6)).toEqual([expect.objectContaining({ decisionId: ghost.decisionId, details: expect.objectContaining({ code: 'UNKNOWN_CONTACT' }) })]);
		expect(await f.engine.getDecision(ghost.decisionId)).toEqual(ghost);
	});
});

describe('an invalid policy in the credential', () => {
	const policy = JSON.stringify({ channelOrder: ['email'], caps: [{ id: 'daily', scope: { kind: 'any' }, limit: 0, window: { kind: 'rolling', duration: '1 day' } }] });

	it('fails naming the fields, before any store is created', async () => {
		const f = fixture({ policy });
		const result = await runOne(f, nudgeNode('Score Lead', 'nudgeScore'), [anaEvent()]);
		const error = expectNodeError(result, 'Score Lead', /^Check the Nudge Engine credential\. Policy is not valid: /);
		expect(error.message).toMatch(/caps\.0\.limit: must be at least 1/);
		expect(error.message).toMatch(/caps\.0\.window\.duration: must be a number followed by s, m, h, d or w/);
		expect(error.description).toContain('caps.0.limit: must be at least 1');
		expect(existsSync(f.store.slice('sqlite:'.length))).toBe(false);
	});

	it('reports text that is not JSON', async () => {
		const f = fixture({ policy: '{ channelOrder: email }' });
		const result = await runOne(f, nudgeNode('Log Decision', 'nudgeLogDecision'), [anaEvent()]);
		expectNodeError(result, 'Log Decision', /Check the Nudge Engine credential\. Policy is not valid JSON/);
	});

	it('turns every item into an error item with "On Error → Continue"', async () => {
		const f = fixture({ policy });
		const result = await runOne(f, nudgeNode('Send', 'nudgeSend', { url: sending.url }, CONTINUE), [anaEvent(), caraEvent()]);
		const failed = result.output('Send', 1);
		expect(failed).toHaveLength(2);
		expect(failed.every((json) => (json.details as IDataObject).code === 'INVALID_POLICY')).toBe(true);
		expect((failed[0].details as IDataObject).issues).toEqual(expect.arrayContaining([{ path: 'caps.0.limit', message: 'must be at least 1' }]));
		expect(existsSync(f.store.slice('sqlite:'.length))).toBe(false);
	});
});

describe('a store URL the engine cannot use', () => {
	it('fails the node naming the store with its password masked', async () => {
		const f = fixture({ store: 'split:hot=redis://default:p@ss%50W@cache:6379;log=Mongo://u:S3cret%50W@db' });
		const result = await runOne(f, nudgeNode('Score Lead', 'nudgeScore'), [anaEvent()]);
		const error = expectNodeError(result, 'Score Lead', /^Check the Nudge Engine credential\. Unknown store "Mongo:\/\/u:\*\*\*@db"/);
		for (const text of [error.message, decodeURIComponent(error.message)]) expect(text).not.toMatch(/S3cret|p@ss/);
	});
});

describe('a node without a Nudge Engine credential', () => {
	it('fails telling the user to select one', async () => {
		const f = fixture();
		const node = nudgeNode('Score Lead', 'nudgeScore', {}, { credentials: undefined });
		const result = await runOne(f, node, [anaEvent()]);
		expectNodeError(result, 'Score Lead', /^No Nudge Engine credential is selected .*choose a Nudge Engine credential/);
		expect(await f.engine.queryDecisions({})).toEqual([]);
	});

	it('becomes an error item with "On Error → Continue"', async () => {
		const f = fixture();
		const node = nudgeNode('Record Outcome', 'nudgeRecordOutcome', { outcomeType: 'click' }, { credentials: undefined, ...CONTINUE });
		const result = await runOne(f, node, [{ decisionId: 'd_1' }]);
		expect(result.output('Record Outcome')).toEqual([expect.objectContaining({ decisionId: 'd_1', details: expect.objectContaining({ code: 'INVALID_CONFIG' }) })]);
	});
});

describe('node settings and order mistakes', () => {
	it('Send refuses a decision that never passed Frequency Cap, and nothing is posted', async () => {
		const f = fixture();
		const { decision } = await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		await f.engine.chooseChannel(decision);
		target.received.length = 0;
		const result = await runOne(f, nudgeNode('Send', 'nudgeSend', { url: sending.url }), [{ decisionId: decision.decisionId }]);
		expectNodeError(result, 'Send', /has not passed Frequency Cap/);
		expect(target.received).toEqual([]);
		expect((await f.engine.getDecision(decision.decisionId)).status).toBe('pending');
	});

	it('Send rejects a webhook URL that is not a web address, and the decision can still be sent afterwards', async () => {
		const f = fixture();
		const { decision } = await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		await f.engine.checkCap(await f.engine.chooseChannel(decision));
		const item = { decisionId: decision.decisionId };
		const bad = await runOne(f, nudgeNode('Send', 'nudgeSend', { url: 'hooks.example.com/nudge' }), [item]);
		expectNodeError(bad, 'Send', /Webhook URL "hooks\.example\.com\/nudge" is not a web address/);

		const good = await runOne(f, nudgeNode('Send', 'nudgeSend', { url: sending.url }), [item]);
		expect(good.output('Send', 0)).toEqual([expect.objectContaining({ decisionId: decision.decisionId })]);
	});

	it('Send with signing on needs a signing secret in the credential', async () => {
		const f = fixture({ signingSecret: '' });
		const result = await runOne(f, nudgeNode('Send', 'nudgeSend', { url: sending.url, sign: true }), [anaEvent()]);
		expectNodeError(result, 'Send', /no signing secret: add one to the credential/);
	});

	it('Frequency Cap needs a channel: from Choose Channel or set on the node', async () => {
		const f = fixture();
		const { decision } = await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const result = await runOne(f, nudgeNode('Frequency Cap', 'nudgeFrequencyCap'), [{ decisionId: decision.decisionId }]);
		expectNodeError(result, 'Frequency Cap', /has no channel yet: put Choose Channel before Frequency Cap/);
	});

	// An event these steps cannot go on with is refused before it is taken in: taken in, it was used up (a pending
	// decision nothing finished), and the same event sent again to the mended flow was a duplicate that started nothing.
	it.each([
		['Send', () => nudgeNode('Send', 'nudgeSend', { url: sending.url }), /and Send sends only a decision that passed Frequency Cap/],
		['Frequency Cap without a channel', () => nudgeNode('Frequency Cap', 'nudgeFrequencyCap'), /and a new decision has no channel yet: put Choose Channel before Frequency Cap/],
		['a Frequency Cap review verdict', () => nudgeNode('Frequency Cap', 'nudgeFrequencyCap', { operation: 'review', verdict: 'approve', reviewer: 'lead@example.com' }), /and a review verdict is for a decision waiting for review/],
	])('an event given straight to %s is refused before it is taken in, and once the flow is mended the same event is decided', async (_name, node, why) => {
		const f = fixture();
		const event = anaEvent();
		const refused = await runOne(f, node(), [event]);
		const error = expectNodeError(refused, node().name, why);
		expect(error.message).toMatch(/^This item is an event, not a Nudge decision, .*Nothing was taken in: once the flow is mended, the same event can be sent to it again$/);
		expect(await f.engine.queryDecisions({})).toEqual([]);
		expect(target.received).toEqual([]);
		// Mended: the same event through Frequency Cap with a channel is a new decision, not a duplicate.
		const mended = await runOne(f, nudgeNode('Frequency Cap', 'nudgeFrequencyCap', { channel: 'email' }), [event]);
		expect(mended.run.status).toBe('success');
		const decisions = await f.engine.queryDecisions({});
		expect(decisions.map((d) => [d.event.eventId, d.reason ?? null])).toEqual([[event.eventId, null]]);
		expect(decisions[0].status).not.toBe('suppressed');
	});

	it('Log Decision names the Annotations parameter when it is not a JSON object', async () => {
		const f = fixture();
		const notJson = await runOne(f, nudgeNode('Log Decision', 'nudgeLogDecision', { annotations: '{campaign: spring}' }), [anaEvent()]);
		expectNodeError(notJson, 'Log Decision', /^Annotations is not valid JSON/);
		const notObject = await runOne(f, nudgeNode('Log Decision', 'nudgeLogDecision', { annotations: '["spring"]' }), [anaEvent()]);
		expectNodeError(notObject, 'Log Decision', /^Annotations must be a JSON object/);
	});

	it('Record Outcome names an empty decision ID and an unknown one', async () => {
		const f = fixture();
		const node = nudgeNode('Record Outcome', 'nudgeRecordOutcome', { decisionId: '={{ $json.decisionId }}', outcomeType: 'open' });
		const empty = await runOne(f, node, [{ other: 1 }]);
		expectNodeError(empty, 'Record Outcome', /^Decision ID is empty: map it from the incoming item/);
		const unknown = await runOne(f, node, [{ decisionId: 'd_nope' }]);
		expectNodeError(unknown, 'Record Outcome', /Decision d_nope is not in this engine's decision log/);
	});
});
