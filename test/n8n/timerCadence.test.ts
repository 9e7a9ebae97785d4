/** n8n: a cadence set on the Nudge Trigger, fired by one Poll Trigger (Source Inactivity Timers) at every poll. */
import nock from 'nock';
import { PollContext } from 'n8n-core';
import type { INodeType } from 'n8n-workflow';
import { closeAllEngines } from '../../engine/registry';
import { segmentSignature } from '../../engine/vendors/segment/signature';
import { timerNodeOf } from '../../nodes/n8n/shared/engine';
import { fixture } from './fixtures';
import { additionalData, buildWorkflow, callWebhook, nodeTypes, nudgeNode, type WorkflowJson } from './harness';

const SHARED = 'segment-shared-value';
const WEBHOOK_ID = '6f1c2b7a-2222-4c3d-9e8f-0000000000a5';

afterAll(async () => {
	await closeAllEngines();
	nock.enableNetConnect();
});

function segmentFixture() {
	const f = fixture();
	f.credentials.nudgeSegmentApi = { writeKey: 'seg-write', sharedSecret: SHARED, host: 'https://api.segment.io' };
	return f;
}

describe('Inactivity timers: a cadence set on the Nudge Trigger, fired by one Poll Trigger', () => {
	const cadence = {
		timer: [
			{ start: 'Cart Updated', cancel: 'Order Completed', minutes: 30, fire: 'Cart Abandoned' },
			// Each next touch waits from when the one before it fired: 0.01 minutes (0.6 s), so the test waits for it.
			{ start: 'Cart Abandoned', cancel: 'Order Completed', minutes: 0.01, fire: 'Cart Still Abandoned' },
			{ start: 'Cart Still Abandoned', cancel: 'Order Completed', minutes: 0.01, fire: 'Cart Last Call' },
		],
	};
	// One workflow, saved once: its Poll Trigger's node id is the same at every poll (n8n's INode.id).
	const pollWorkflow = buildWorkflow({ nodes: [nudgeNode('Timers', 'nudgePollTrigger', { source: 'timers', timerJourney: 'cart' }, { id: '3b0e2f8c-poll-0000-0000-000000000001' })], connections: {} });

	function pollTimers(f: ReturnType<typeof segmentFixture>) {
		const node = pollWorkflow.getNode('Timers')!;
		return (nodeTypes.getByNameAndVersion(node.type, 1) as INodeType).poll!.call(new PollContext(pollWorkflow, node, additionalData(f.credentials), 'trigger', 'activate'));
	}

	it('a third touch set on the Nudge Trigger is sent by the Poll Trigger that fired the first two', async () => {
		const f = segmentFixture();
		const body = JSON.stringify({ type: 'track', event: 'Cart Updated', userId: 'u-three', messageId: 'cart-three', timestamp: new Date(Date.now() - 400 * 60_000).toISOString() });
		const workflow: WorkflowJson = {
			nodes: [{ ...nudgeNode('Nudge Trigger', 'nudgeTrigger', { source: 'segment', journey: 'cart', inactivityTimers: cadence }, { webhookId: WEBHOOK_ID }), credentials: { nudgeEngineApi: { id: '1', name: 'Nudge Engine' }, nudgeSegmentApi: { id: '2', name: 'Segment' } } }],
			connections: {},
		};
		await callWebhook({ workflow, nodeName: 'Nudge Trigger', rawBody: body, headers: { 'x-signature': segmentSignature(SHARED, body) }, credentials: f.credentials });
		const names: string[] = [];
		for (let i = 0; i < 4; i++) {
			names.push(...((await pollTimers(f))?.[0] ?? []).map((item) => (item.json.event as { name: string }).name));
			await new Promise((resolve) => setTimeout(resolve, 700));
		}
		// The Poll Trigger set the second timer as it fired the first (setBy = its id); firing that one it meets it with
		// its own rules (none) instead of those the timer carries, and Cart Last Call is never started.
		expect(names).toEqual(['Cart Abandoned', 'Cart Still Abandoned', 'Cart Last Call']);
	});
});

it('names a timer\'s node by its workflow and its own id: a template imported twice (the same node ids) gives two nodes', () => {
	const context = (workflow: string) => ({ getWorkflow: () => ({ id: workflow, active: true }), getNode: () => ({ id: 'poll-h' }) }) as unknown as Parameters<typeof timerNodeOf>[0];
	expect([timerNodeOf(context('wf1')), timerNodeOf(context('wf2'))]).toEqual(['wf1/poll-h', 'wf2/poll-h']);
});
