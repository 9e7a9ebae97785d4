/**
 * A Nudge Trigger with an inactivity timer, given an event whose occurredAt passes the ISO 8601 pattern but is not a
 * time (offset +99:99), or a store that fails to start a timer. The request is refused whole (400, nothing stored)
 * or every accepted event reaches the workflow; an event is never taken in (a retry is then a duplicate) and dropped.
 */
import type { IDataObject } from 'n8n-workflow';
import { closeAllEngines } from '../../engine/registry';
import { anaEvent, fixture, SECRET } from './fixtures';
import { callWebhook, nudgeNode, signed, type WorkflowJson } from './harness';

afterAll(async () => {
	await closeAllEngines();
});

const workflow: WorkflowJson = {
	nodes: [
		nudgeNode(
			'Nudge Trigger',
			'nudgeTrigger',
			{ journey: 'cart', inactivityTimers: { timer: [{ start: 'Cart Updated', cancel: 'Order Completed', minutes: 30, fire: 'Cart Abandoned' }] } },
			{ webhookId: '6f1c2b7a-1111-4c3d-9e8f-0000000000aa' },
		),
	],
	connections: {},
};

describe('Nudge Trigger (n8n): an occurredAt that is not a time', () => {
	it('refuses the batch with 400 naming occurredAt: nothing stored, so the sender can fix it and send again', async () => {
		const f = fixture();
		const good = anaEvent('Pricing Viewed', 'evt-good-1');
		const hostile = { eventId: 'evt-bad-offset', type: 'track', name: 'Cart Updated', identities: { email: 'eve@example.com' }, occurredAt: '2026-01-01T00:00:00+99:99' };
		const body = JSON.stringify([good, hostile]);
		const call = await callWebhook({ workflow, nodeName: 'Nudge Trigger', rawBody: body, headers: signed(SECRET, body), credentials: f.credentials });
		expect(call.status).toBe(400);
		expect(String((call.body as IDataObject).error)).toMatch(/occurredAt: is not a real time/);
		expect(await f.engine.queryDecisions({})).toEqual([]);
	});

	it('a store that fails to start the timer still runs every accepted event (taken in, a retry would be a duplicate)', async () => {
		const f = fixture();
		const events = [anaEvent('Pricing Viewed', 'evt-timer-1'), anaEvent('Cart Updated', 'evt-timer-2')];
		const body = JSON.stringify(events);
		const spy = jest.spyOn(f.engine.store, 'scheduleTimer').mockRejectedValue(new Error('timers table is locked'));
		try {
			const call = await callWebhook({ workflow, nodeName: 'Nudge Trigger', rawBody: body, headers: signed(SECRET, body), credentials: f.credentials });
			expect(spy).toHaveBeenCalled();
			expect(call.status).toBe(200);
			expect(call.result.workflowData![0].map((item) => (item.json.event as IDataObject).eventId)).toEqual(['evt-timer-1', 'evt-timer-2']);
		} finally {
			spy.mockRestore();
		}
	});
});
