/**
 * Segment and HubSpot in real n8n execution: Nudge Trigger with Source "Segment" / "HubSpot" (vendor
 * signatures, batches, exact-once on replays) and Nudge Send with Provider "HubSpot" (nock stands in
 * for api.hubapi.com, answering like https://developers.hubspot.com/docs/api/crm/tasks).
 */
import nock from 'nock';
import { PollContext } from 'n8n-core';
import type { IDataObject, INode, INodeType, Workflow } from 'n8n-workflow';
import { applyInactivityRules, parseInactivityRules } from '../../engine/events/timers';
import { closeAllEngines } from '../../engine/registry';
import { hubspotSignature } from '../../engine/vendors/hubspot/signature';
import { segmentSignature } from '../../engine/vendors/segment/signature';
import { fixture } from './fixtures';
import { additionalData, buildWorkflow, callWebhook, nodeTypes, nudgeNode, runWorkflow, type WorkflowJson } from './harness';

const SHARED = 'segment-shared-value';
const CLIENT = 'hubspot-client-value';
const ACCESS = 'hubspot-access-value';
const WEBHOOK_ID = '6f1c2b7a-2222-4c3d-9e8f-000000000006';

afterAll(async () => {
	await closeAllEngines();
	nock.enableNetConnect();
});
afterEach(() => nock.cleanAll());

function withVendor(node: INode): INode {
	return { ...node, credentials: { ...node.credentials, nudgeSegmentApi: { id: '2', name: 'Segment' }, nudgeHubSpotApi: { id: '3', name: 'HubSpot' }, nudgeSalesforceApi: { id: '4', name: 'Salesforce' } } };
}

function triggerWorkflow(source: string): WorkflowJson {
	return { nodes: [withVendor(nudgeNode('Nudge Trigger', 'nudgeTrigger', { source, journey: 'sales' }, { webhookId: WEBHOOK_ID }))], connections: {} };
}

function vendorFixture() {
	const f = fixture();
	f.credentials.nudgeSegmentApi = { writeKey: 'seg-write', sharedSecret: SHARED, host: 'https://api.segment.io' };
	f.credentials.nudgeHubSpotApi = { accessToken: ACCESS, clientSecret: CLIENT };
	return f;
}

describe('Nudge Trigger, Source Segment', () => {
	it('verifies X-Signature and emits a replayed delivery once (10 deliveries → 1 item)', async () => {
		const f = vendorFixture();
		const body = JSON.stringify({ type: 'track', event: 'Cart Updated', userId: 'u-n8n', messageId: 'seg-n8n-1', properties: { cartValue: 80 } });
		const items: IDataObject[] = [];
		for (let i = 0; i < 10; i++) {
			const call = await callWebhook({ workflow: triggerWorkflow('segment'), nodeName: 'Nudge Trigger', rawBody: body, headers: { 'x-signature': segmentSignature(SHARED, body) }, credentials: f.credentials });
			expect(call.status).toBe(200);
			items.push(...(call.result.workflowData?.[0] ?? []).map((item) => item.json));
		}
		expect(items).toHaveLength(1);
		expect(items[0].event).toMatchObject({ source: 'segment', eventId: 'seg-n8n-1', name: 'Cart Updated' });
		expect(await f.engine.queryDecisions({ reason: 'DUPLICATE_EVENT' })).toHaveLength(9);
	});

	it('answers 401 to a request signed with another secret, without echoing the secret', async () => {
		const f = vendorFixture();
		const body = JSON.stringify({ type: 'identify', userId: 'u-x', messageId: 'seg-n8n-2' });
		const wrong = await callWebhook({ workflow: triggerWorkflow('segment'), nodeName: 'Nudge Trigger', rawBody: body, headers: { 'x-signature': segmentSignature('other', body) }, credentials: f.credentials });
		expect(wrong.status).toBe(401);
		expect((wrong.body as IDataObject).error).toMatch(/X-Signature does not match/);
		expect(JSON.stringify(wrong.body)).not.toContain(SHARED);
		expect(await f.engine.queryDecisions({})).toEqual([]);
	});
});

describe('Nudge Trigger, Source HubSpot', () => {
	const url = `http://localhost:5678/webhook/${WEBHOOK_ID}/events`;
	const batch = [
		{ eventId: 3001, subscriptionId: 25, portalId: 62515, appId: 54321, occurredAt: Date.now() - 1000, subscriptionType: 'contact.creation', attemptNumber: 0, objectId: 701, changeFlag: 'CREATED', changeSource: 'CRM_UI' },
		{ eventId: 3002, subscriptionId: 26, portalId: 62515, appId: 54321, occurredAt: Date.now(), subscriptionType: 'contact.propertyChange', attemptNumber: 0, objectId: 701, propertyName: 'email', propertyValue: 'kim@example.com', changeSource: 'CRM_UI' },
	];

	function hubspotHeaders(body: string, secret = CLIENT, at = Date.now()) {
		const ts = String(at);
		return { 'x-hubspot-signature-v3': hubspotSignature(secret, 'POST', url, body, ts), 'x-hubspot-request-timestamp': ts };
	}

	it('verifies the v3 signature over n8n’s public webhook URL and splits the batch into items', async () => {
		const f = vendorFixture();
		const body = JSON.stringify(batch);
		const call = await callWebhook({ workflow: triggerWorkflow('hubspot'), nodeName: 'Nudge Trigger', rawBody: body, headers: hubspotHeaders(body), credentials: f.credentials });
		expect(call.status).toBe(200);
		const items = call.result.workflowData![0].map((item) => item.json);
		expect(items.map((item) => (item.event as IDataObject).name)).toEqual(['Contact Created', 'Contact Property Changed']);
		expect((await f.engine.getProfile(items[0].contactId as string))?.email).toBe('kim@example.com');
		const retry = await callWebhook({ workflow: triggerWorkflow('hubspot'), nodeName: 'Nudge Trigger', rawBody: body, headers: hubspotHeaders(body), credentials: f.credentials });
		expect(retry.body).toMatchObject({ accepted: 0, duplicates: 2 });
	});

	it.each([
		['another client secret', (body: string) => hubspotHeaders(body, 'other'), /does not match/],
		['a timestamp 6 minutes old', (body: string) => hubspotHeaders(body, CLIENT, Date.now() - 6 * 60_000), /more than 5 minutes old/],
	])('answers 401 to %s and stores nothing', async (_case, headers, message) => {
		const f = vendorFixture();
		const body = JSON.stringify(batch);
		const call = await callWebhook({ workflow: triggerWorkflow('hubspot'), nodeName: 'Nudge Trigger', rawBody: body, headers: headers(body), credentials: f.credentials });
		expect(call.status).toBe(401);
		expect((call.body as IDataObject).error).toMatch(message);
		expect(await f.engine.queryDecisions({})).toEqual([]);
	});
});

describe('Nudge Send, Provider HubSpot', () => {
	const workflow: WorkflowJson = {
		nodes: [
			nudgeNode('Frequency Cap', 'nudgeFrequencyCap'),
			withVendor(nudgeNode('Send', 'nudgeSend', { provider: 'hubspot', hubspotAction: 'task', subject: 'Call {{name}}' })),
		],
		connections: { 'Frequency Cap': { main: [[{ node: 'Send', type: 'main', index: 0 }]] } },
	};

	it('creates one task per decision, records the task id, and a re-run sends nothing', async () => {
		const f = vendorFixture();
		let sent: IDataObject = {};
		const scope = nock('https://api.hubapi.com', { reqheaders: { authorization: `Bearer ${ACCESS}` } })
			.post('/crm/v3/objects/tasks', (body) => ((sent = body), true))
			.once()
			.reply(201, { id: '88001', properties: {}, createdAt: '2026-11-21T09:00:01.000Z', updatedAt: '2026-11-21T09:00:01.000Z', archived: false });
		const { decision } = await f.engine.ingest({ type: 'track', name: 'Demo Requested', identities: { email: 'lou@example.com', hubspotId: '901' } }, { journey: 'nurture' });
		await f.engine.chooseChannel(decision);
		const input = [[{ json: { decisionId: decision.decisionId } }]];
		const run = await runWorkflow({ workflow, startNode: 'Frequency Cap', input, credentials: f.credentials });
		const out = run.output('Send');
		expect(out).toHaveLength(1);
		expect(out[0].decision).toMatchObject({ status: 'sent', delivery: { provider: 'hubspot:task', providerMessageId: '88001', idempotencyKey: decision.decisionId } });
		expect(sent).toMatchObject({ properties: { hs_task_subject: 'Call Demo Requested' }, associations: [{ to: { id: '901' } }] });
		const again = await runWorkflow({ workflow, startNode: 'Frequency Cap', input, credentials: f.credentials });
		expect(again.output('Send')[0].decision).toMatchObject({ status: 'sent', delivery: { providerMessageId: '88001' } });
		scope.done();
	});
});

describe('Nudge Poll Trigger, Source HubSpot (private app)', () => {
	it('emits contacts changed since the last check once each; the cursor lives in the Nudge store', async () => {
		const f = vendorFixture();
		const modified = Date.now() - 5 * 60_000;
		// https://developers.hubspot.com/docs/api/crm/search — results sorted by hs_lastmodifieddate.
		const scope = nock('https://api.hubapi.com', { reqheaders: { authorization: `Bearer ${ACCESS}` } })
			.post('/crm/v3/objects/contacts/search')
			.times(2)
			.reply(200, {
				total: 2,
				results: [
					{ id: '801', properties: { hs_object_id: '801', email: 'mo@example.com', lifecyclestage: 'lead', hs_lastmodifieddate: new Date(modified).toISOString() }, createdAt: new Date(modified).toISOString(), updatedAt: new Date(modified).toISOString(), archived: false },
					{ id: '802', properties: { hs_object_id: '802', email: 'jo@example.com', lifecyclestage: 'customer', hs_lastmodifieddate: new Date(modified).toISOString() }, createdAt: new Date(modified).toISOString(), updatedAt: new Date(modified).toISOString(), archived: false },
				],
			});
		// The first check pins the cursor 10 minutes back so both contacts are after it.
		await f.engine.store.setCursor('hubspot:contacts', JSON.stringify({ at: modified - 600_000, id: '' }), undefined);
		const workflow = buildWorkflow({ nodes: [withVendor(nudgeNode('Poll', 'nudgePollTrigger', { source: 'hubspot', hubspotObject: 'contacts', journey: 'sales', settleSeconds: 60 }))], connections: {} });
		const node = workflow.getNode('Poll')!;
		const poll = () => (nodeTypes.getByNameAndVersion(node.type, 1) as INodeType).poll!.call(new PollContext(workflow, node, additionalData(f.credentials), 'trigger', 'activate'));
		const first = await poll();
		expect(first![0].map((item) => (item.json.event as IDataObject).identities)).toEqual([
			{ hubspotId: '801', email: 'mo@example.com' },
			{ hubspotId: '802', email: 'jo@example.com' },
		]);
		expect(first![0][0].json.decision).toMatchObject({ journey: 'sales', status: 'pending' });
		// The same records again: nothing new.
		expect(await poll()).toBeNull();
		scope.done();
	});

	it('a check whose items n8n drops (the workflow replaced while it checked) is handed out again: the cursor had moved past its changes', async () => {
		const f = vendorFixture();
		const modified = Date.now() - 5 * 60_000;
		const contact = (id: string, email: string) => ({ id, properties: { hs_object_id: id, email, lifecyclestage: 'lead', hs_lastmodifieddate: new Date(modified).toISOString() }, createdAt: new Date(modified).toISOString(), updatedAt: new Date(modified).toISOString(), archived: false });
		// https://developers.hubspot.com/docs/api/crm/search
		const scope = nock('https://api.hubapi.com')
			.post('/crm/v3/objects/contacts/search')
			.reply(200, { total: 1, results: [contact('821', 'cy@example.com')] })
			.post('/crm/v3/objects/contacts/search')
			.times(2)
			.reply(200, { total: 2, results: [contact('821', 'cy@example.com'), contact('822', 'di@example.com')] });
		await f.engine.store.setCursor('hubspot:contacts', JSON.stringify({ at: modified - 600_000, id: '' }), undefined);
		const pollNode = () => withVendor(nudgeNode('Poll', 'nudgePollTrigger', { source: 'hubspot', hubspotObject: 'contacts', journey: 'sales', settleSeconds: 60 }, { id: 'poll-node' }));
		const check = (workflow: Workflow) => (nodeTypes.getByNameAndVersion(workflow.getNode('Poll')!.type, 1) as INodeType).poll!.call(new PollContext(workflow, workflow.getNode('Poll')!, additionalData(f.credentials), 'trigger', 'activate'));
		const workflow = buildWorkflow({ nodes: [pollNode()], connections: {} });
		const taken = await check(workflow);
		expect(taken![0]).toHaveLength(1);
		const inDatabase = JSON.parse(JSON.stringify(workflow.staticData)) as IDataObject;
		const dropped = await check(workflow);
		expect(dropped![0].map((item) => (item.json.event as IDataObject).identities)).toEqual([{ hubspotId: '822', email: 'di@example.com' }]);
		// Activated again, n8n builds the workflow with the static data the taken check left; HubSpot has nothing newer.
		const again = buildWorkflow({ nodes: [pollNode()], connections: {} }, inDatabase);
		const resumed = await check(again);
		expect(resumed![0].map((item) => [item.json.decisionId, item.json.resumed])).toEqual([[dropped![0][0].json.decisionId, true]]);
		// That check asked HubSpot nothing; the next one does, and finds nothing newer.
		expect(await check(again)).toBeNull();
		scope.done();
	});

	it('"Fetch Test Event" (manual mode) shows the changes without taking them from the active workflow', async () => {
		const f = vendorFixture();
		const modified = Date.now() - 5 * 60_000;
		const contact = (id: string, email: string) => ({ id, properties: { hs_object_id: id, email, lifecyclestage: 'lead', hs_lastmodifieddate: new Date(modified).toISOString() }, createdAt: new Date(modified).toISOString(), updatedAt: new Date(modified).toISOString(), archived: false });
		// https://developers.hubspot.com/docs/api/crm/search
		const scope = nock('https://api.hubapi.com').post('/crm/v3/objects/contacts/search').times(2).reply(200, { total: 2, results: [contact('811', 'ann@example.com'), contact('812', 'ben@example.com')] });
		await f.engine.store.setCursor('hubspot:contacts', JSON.stringify({ at: modified - 600_000, id: '' }), undefined);
		const workflow = buildWorkflow({ nodes: [withVendor(nudgeNode('Poll', 'nudgePollTrigger', { source: 'hubspot', hubspotObject: 'contacts', journey: 'sales', settleSeconds: 60 }))], connections: {} });
		const node = workflow.getNode('Poll')!;
		const poll = (mode: 'manual' | 'trigger') => (nodeTypes.getByNameAndVersion(node.type, 1) as INodeType).poll!.call(new PollContext(workflow, node, additionalData(f.credentials), mode, mode === 'manual' ? 'manual' : 'activate'));
		const shown = await poll('manual');
		expect(shown![0].map((item) => [item.json.preview, (item.json.event as IDataObject).identities])).toEqual([
			[true, { hubspotId: '811', email: 'ann@example.com' }],
			[true, { hubspotId: '812', email: 'ben@example.com' }],
		]);
		expect(shown![0][0].json.note).toMatch(/^A test fetch: 2 change\(s\), which the active workflow's next check takes in/);
		expect(await f.engine.queryDecisions({})).toEqual([]);
		// A Nudge node after it says what the item is, and what to do.
		await expect(f.engine.score(shown![0][0].json)).rejects.toThrow(/is a test fetch of the Nudge Poll Trigger: shown, not taken in/);
		const taken = await poll('trigger');
		expect(taken![0].map((item) => [(item.json.event as IDataObject).identities, (item.json.decision as IDataObject).status])).toEqual([
			[{ hubspotId: '811', email: 'ann@example.com' }, 'pending'],
			[{ hubspotId: '812', email: 'ben@example.com' }, 'pending'],
		]);
		scope.done();
	});

	it('fails the check with a message naming the missing token', async () => {
		const f = vendorFixture();
		f.credentials.nudgeHubSpotApi = { accessToken: '', clientSecret: '' };
		const workflow = buildWorkflow({ nodes: [withVendor(nudgeNode('Poll', 'nudgePollTrigger', { source: 'hubspot' }))], connections: {} });
		const node = workflow.getNode('Poll')!;
		await expect((nodeTypes.getByNameAndVersion(node.type, 1) as INodeType).poll!.call(new PollContext(workflow, node, additionalData(f.credentials), 'trigger', 'activate'))).rejects.toThrow(/no private app access token/);
	});
});

describe('Inactivity timers: scheduled by Nudge Trigger, fired by Nudge Poll Trigger (Source Inactivity Timers)', () => {
	const timers = { timer: [{ start: 'Cart Updated', cancel: 'Order Completed, Checkout Completed', minutes: 30, fire: 'Cart Abandoned' }] };

	function pollTimers(f: ReturnType<typeof vendorFixture>, timerJourney?: string) {
		const workflow = buildWorkflow({ nodes: [nudgeNode('Timers', 'nudgePollTrigger', { source: 'timers', ...(timerJourney ? { timerJourney } : {}) })], connections: {} });
		const node = workflow.getNode('Timers')!;
		return (nodeTypes.getByNameAndVersion(node.type, 1) as INodeType).poll!.call(new PollContext(workflow, node, additionalData(f.credentials), 'trigger', 'activate'));
	}

	async function post(f: ReturnType<typeof vendorFixture>, event: Record<string, unknown>, journey = 'cart', inactivityTimers: object = timers) {
		const body = JSON.stringify(event);
		const workflow: WorkflowJson = { nodes: [withVendor(nudgeNode('Nudge Trigger', 'nudgeTrigger', { source: 'segment', journey, inactivityTimers }, { webhookId: WEBHOOK_ID }))], connections: {} };
		return await callWebhook({ workflow, nodeName: 'Nudge Trigger', rawBody: body, headers: { 'x-signature': segmentSignature(SHARED, body) }, credentials: f.credentials });
	}

	const names = (items: Awaited<ReturnType<typeof pollTimers>>) => (items?.[0] ?? []).map((i) => `${(i.json.decision as { journey: string }).journey}:${(i.json.event as { name: string }).name}`);

	it('a second touch set on the Nudge Trigger (Cart Abandoned → Cart Still Abandoned) is started when the Poll Trigger fires the first', async () => {
		const f = vendorFixture();
		const chain = {
			timer: [
				{ start: 'Cart Updated', cancel: 'Order Completed', minutes: 30, fire: 'Cart Abandoned' },
				{ start: 'Cart Abandoned', cancel: 'Order Completed', minutes: 0.05, fire: 'Cart Still Abandoned' },
			],
		};
		await post(f, { type: 'track', event: 'Cart Updated', userId: 'u-chain', messageId: 'cart-c1', timestamp: new Date(Date.now() - 40 * 60_000).toISOString() }, 'cart', chain);
		expect(names(await pollTimers(f))).toEqual(['cart:Cart Abandoned']);
		// The second touch waits 0.05 minutes (3 s) from the first one's firing (not from its due time, 10 minutes ago).
		expect(await pollTimers(f)).toBeNull();
		await new Promise((resolve) => setTimeout(resolve, 3_100));
		expect(names(await pollTimers(f))).toEqual(['cart:Cart Still Abandoned']);
	});

	it('with a Journey set, a Poll Trigger fires only that journey’s timers: each journey’s start its own workflow', async () => {
		const f = vendorFixture();
		const longAgo = new Date(Date.now() - 40 * 60_000).toISOString();
		await post(f, { type: 'track', event: 'Cart Updated', userId: 'u-cart', messageId: 'cart-j1', timestamp: longAgo }, 'cart');
		await post(f, { type: 'track', event: 'Cart Updated', userId: 'u-win', messageId: 'cart-j2', timestamp: longAgo }, 'winback');
		expect(names(await pollTimers(f, 'winback'))).toEqual(['winback:Cart Abandoned']);
		expect(await pollTimers(f, 'winback')).toBeNull();
		expect(names(await pollTimers(f, 'cart'))).toEqual(['cart:Cart Abandoned']);
	});

	it('"Fetch Test Event" (manual mode) shows the timers due without firing them: the active workflow fires them', async () => {
		const f = vendorFixture();
		await post(f, { type: 'track', event: 'Cart Updated', userId: 'u-test', messageId: 'cart-t1', timestamp: new Date(Date.now() - 40 * 60_000).toISOString() });
		const workflow = buildWorkflow({ nodes: [nudgeNode('Timers', 'nudgePollTrigger', { source: 'timers' })], connections: {} });
		const node = workflow.getNode('Timers')!;
		const shown = await (nodeTypes.getByNameAndVersion(node.type, 1) as INodeType).poll!.call(new PollContext(workflow, node, additionalData(f.credentials), 'manual', 'manual'));
		expect(shown![0].map((item) => [item.json.preview, item.json.timer])).toEqual([[true, expect.objectContaining({ journey: 'cart', fire: 'Cart Abandoned', dueAt: expect.any(String) })]]);
		// Its lease (a millisecond) has run out by the next check.
		await new Promise((resolve) => setTimeout(resolve, 5));
		expect(names(await pollTimers(f))).toEqual(['cart:Cart Abandoned']);
	});

	/** 150 carts left 40 minutes ago: their 30-minute waits are all due. */
	async function cartsDue(f: ReturnType<typeof vendorFixture>, label: string) {
		const rules = parseInactivityRules(timers.timer.map((t) => ({ ...t, cancel: t.cancel.split(', ') })));
		const longAgo = new Date(Date.now() - 40 * 60_000).toISOString();
		for (let n = 0; n < 150; n++) {
			const cart = await f.engine.ingest({ type: 'track', name: 'Cart Updated', eventId: `cart-${label}-${n}`, identities: { userId: `u-${label}-${n}` }, occurredAt: longAgo }, { journey: 'cart' });
			expect(await applyInactivityRules(f.engine, [cart], rules)).toEqual([]);
		}
	}

	it('one check fires every timer due, not only the first 100: n8n polls once a minute', async () => {
		const f = vendorFixture();
		await cartsDue(f, 'many');
		expect((await pollTimers(f))![0]).toHaveLength(150);
		expect(await pollTimers(f)).toBeNull();
	});

	it('a later take that fails ends the check with what the earlier takes fired: every reminder reaches a workflow once', async () => {
		const f = vendorFixture();
		await cartsDue(f, 'lost');
		const store = f.engine.store;
		const original = store.takeDueTimers.bind(store);
		let takes = 0;
		const spy = jest.spyOn(store, 'takeDueTimers').mockImplementation(async (...args) => {
			if (++takes === 2) throw new Error('SQLITE_BUSY: database is locked');
			return original(...args);
		});
		let first: Awaited<ReturnType<typeof pollTimers>>;
		try {
			first = await pollTimers(f);
		} finally {
			spy.mockRestore();
		}
		expect(first![0]).toHaveLength(100);
		const second = await pollTimers(f);
		const seen = [...first![0], ...second![0]].map((item) => String(item.json.decisionId));
		expect(seen).toHaveLength(150);
		expect(new Set(seen).size).toBe(150);
	});

	describe('a check whose items n8n drops (the workflow deactivated, saved or published while it checked)', () => {
		const timersWorkflow = (staticData?: IDataObject, name = 'Timers') => buildWorkflow({ nodes: [nudgeNode(name, 'nudgePollTrigger', { source: 'timers' }, { id: 'timers-node' })], connections: {} }, staticData);
		const check = (f: ReturnType<typeof vendorFixture>, workflow: Workflow) => {
			const node = Object.values(workflow.nodes)[0];
			return (nodeTypes.getByNameAndVersion(node.type, 1) as INodeType).poll!.call(new PollContext(workflow, node, additionalData(f.credentials), 'trigger', 'activate'));
		};
		const cartLeft = (f: ReturnType<typeof vendorFixture>, user: string) => post(f, { type: 'track', event: 'Cart Updated', userId: user, messageId: `cart-${user}`, timestamp: new Date(Date.now() - 40 * 60_000).toISOString() });
		/**
		 * A workflow whose first check n8n took (a cart's reminder), and `fromDatabase`: the workflow as n8n builds it
		 * when activated again, with the static data saved with that execution (n8n 2 discards a dropped check's). A copy
		 * each time: n8n's workflow changes the object it is given.
		 */
		async function afterTakenCheck(f: ReturnType<typeof vendorFixture>, user: string) {
			const workflow = timersWorkflow();
			await cartLeft(f, user);
			expect(names(await check(f, workflow))).toEqual(['cart:Cart Abandoned']);
			const inDatabase = JSON.stringify(workflow.staticData);
			return { workflow, fromDatabase: (name?: string) => timersWorkflow(JSON.parse(inDatabase) as IDataObject, name) };
		}

		it('hands its decisions out again at the next check, once, marked resumed', async () => {
			const f = vendorFixture();
			const { workflow, fromDatabase } = await afterTakenCheck(f, 'u-taken');
			await cartLeft(f, 'u-dropped');
			const dropped = await check(f, workflow);
			expect(names(dropped)).toEqual(['cart:Cart Abandoned']);
			// Activated again, n8n builds the workflow from its database: the static data the taken check left.
			const again = fromDatabase();
			const resumed = await check(f, again);
			expect(resumed![0].map((item) => [item.json.decisionId, item.json.resumed, (item.json.event as { name: string }).name])).toEqual([[dropped![0][0].json.decisionId, true, 'Cart Abandoned']]);
			expect(await check(f, again)).toBeNull();
		});

		it('hands them out again after the node was renamed (n8n keys a node’s own static data by its name)', async () => {
			const f = vendorFixture();
			const { workflow, fromDatabase } = await afterTakenCheck(f, 'u-named');
			await cartLeft(f, 'u-renamed');
			const dropped = await check(f, workflow);
			const renamed = fromDatabase('Cart Timers');
			const resumed = await check(f, renamed);
			expect(resumed![0].map((item) => [item.json.decisionId, item.json.resumed])).toEqual([[dropped![0][0].json.decisionId, true]]);
		});

		it('checks dropped again and again lose nothing: each hands out the dropped decisions alone, the timers due wait for the next', async () => {
			const f = vendorFixture();
			// Each dropped check runs on the workflow as n8n's database holds it.
			const { fromDatabase } = await afterTakenCheck(f, 'u-first');
			await cartsDue(f, 'wave1');
			const wave1 = (await check(f, fromDatabase()))![0].map((item) => item.json.decisionId);
			expect(wave1).toHaveLength(150);
			await cartsDue(f, 'wave2');
			for (let drop = 0; drop < 2; drop++) expect((await check(f, fromDatabase()))![0].map((item) => item.json.decisionId)).toEqual(wave1);
			const kept = fromDatabase();
			const resumed = (await check(f, kept))![0];
			expect(resumed.map((item) => [item.json.decisionId, item.json.resumed])).toEqual(wave1.map((id) => [id, true]));
			const next = (await check(f, kept))![0];
			expect(next).toHaveLength(150);
			expect(next.filter((item) => wave1.includes(item.json.decisionId) || item.json.resumed)).toEqual([]);
			expect(await check(f, kept)).toBeNull();
		});

		it('hands out again only decisions still pending, alone (the new ones at the check after); a check n8n took is not handed out again', async () => {
			const f = vendorFixture();
			const { workflow, fromDatabase } = await afterTakenCheck(f, 'u-0');
			await cartLeft(f, 'u-a');
			await cartLeft(f, 'u-b');
			const dropped = await check(f, workflow);
			expect(dropped![0]).toHaveLength(2);
			// One of them was finished meanwhile (a step of an execution n8n did start, then lost its static data).
			const [first, second] = dropped![0].map((item) => String(item.json.decisionId));
			expect((await f.engine.checkCap(await f.engine.chooseChannel(first))).status).not.toBe('pending');
			await cartLeft(f, 'u-c');
			const again = fromDatabase();
			const next = await check(f, again);
			expect(next![0].map((item) => [item.json.decisionId, item.json.resumed])).toEqual([[second, true]]);
			expect((await check(f, again))![0].map((item) => [item.json.contactId === next![0][0].json.contactId, item.json.resumed ?? false])).toEqual([[false, false]]);
			expect(await check(f, again)).toBeNull();
		});
	});

	it('fires "Cart Abandoned" once for a cart left 30 minutes, and never for a cart that was ordered', async () => {
		const f = vendorFixture();
		const longAgo = new Date(Date.now() - 40 * 60_000).toISOString();
		await post(f, { type: 'track', event: 'Cart Updated', userId: 'u-left', messageId: 'cart-1', timestamp: longAgo });
		await post(f, { type: 'track', event: 'Cart Updated', userId: 'u-bought', messageId: 'cart-2', timestamp: longAgo });
		await post(f, { type: 'track', event: 'Checkout Completed', userId: 'u-bought', messageId: 'order-2', timestamp: longAgo });
		const fired = await pollTimers(f);
		expect(fired![0]).toHaveLength(1);
		expect(fired![0][0].json.event).toMatchObject({ name: 'Cart Abandoned', properties: { startedBy: 'cart-1' } });
		expect(fired![0][0].json.decision).toMatchObject({ journey: 'cart' });
		const profile = await f.engine.getProfile(fired![0][0].json.contactId as string);
		expect(profile?.identities.userId).toEqual(['u-left']);
		expect(await pollTimers(f)).toBeNull();
		// The poll acknowledged the timer it fired: it is gone, not merely leased until the lease runs out.
		expect(await f.engine.store.takeDueTimers(Date.now() + 24 * 3_600_000, 10, 1000)).toEqual([]);
	});
});

describe('Nudge Send, Provider Segment', () => {
	it('tracks "Nudge Message Requested" with messageId = decision id, flushed before the execution ends', async () => {
		const f = vendorFixture();
		const batches: IDataObject[] = [];
		// https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/#batch — 200 {} on success.
		const scope = nock('https://api.segment.io')
			.post('/v1/batch', (body) => (batches.push(body), true))
			.reply(200, {});
		const workflow: WorkflowJson = {
			nodes: [nudgeNode('Frequency Cap', 'nudgeFrequencyCap'), withVendor(nudgeNode('Send', 'nudgeSend', { provider: 'segment' }))],
			connections: { 'Frequency Cap': { main: [[{ node: 'Send', type: 'main', index: 0 }]] } },
		};
		const { decision } = await f.engine.ingest({ type: 'track', name: 'Trial Started', identities: { email: 'sy@example.com', userId: 'u-sy' } }, { journey: 'nurture' });
		await f.engine.chooseChannel(decision);
		const run = await runWorkflow({ workflow, startNode: 'Frequency Cap', input: [[{ json: { decisionId: decision.decisionId } }]], credentials: f.credentials });
		scope.done();
		expect(run.output('Send')[0].decision).toMatchObject({ status: 'sent', delivery: { provider: 'segment', providerMessageId: decision.decisionId } });
		expect((batches[0].batch as IDataObject[])[0]).toMatchObject({ type: 'track', event: 'Nudge Message Requested', userId: 'u-sy', messageId: decision.decisionId, properties: { decisionId: decision.decisionId, email: 'sy@example.com' } });
	});
});
