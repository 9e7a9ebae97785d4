/**
 * Segment and HubSpot in a real Node-RED runtime: nudge-trigger with Source Segment / HubSpot (secrets from
 * the `nudge-segment` / `nudge-hubspot` config nodes' password credentials, the raw body verified as
 * received), inactivity timers fired by the trigger, and nudge-send with Provider HubSpot / Segment
 * (nock stands in for the vendors' APIs).
 */
import request from 'supertest';
import { closeAllEngines } from '../../engine/registry';
import { hubspotSignature } from '../../engine/vendors/hubspot/signature';
import { segmentSignature } from '../../engine/vendors/segment/signature';
import { catchAll, credentials, engineNodeDef, engineOf, helper, httpNode, nodeOf, quietFor, recordMessages, TAB, waitUntil, withHttpCapture } from './_helpers';

const SHARED = 'segment-shared-value-nr';
const CLIENT = 'hubspot-client-value-nr';

function flow(source: string): Record<string, unknown>[] {
	return [
		...catchAll(),
		engineNodeDef(),
		{ id: 'seg1', type: 'nudge-segment', name: 'Segment' },
		{ id: 'hs1', type: 'nudge-hubspot', name: 'HubSpot' },
		{ id: 'trigger', type: 'nudge-trigger', z: TAB, engine: 'eng1', path: source, journey: 'sales', source, segment: 'seg1', hubspot: 'hs1', publicUrl: 'https://nodered.example.com', wires: [['out']] },
		{ id: 'out', type: 'helper', z: TAB },
	];
}

async function load(source: string) {
	await helper.load(withHttpCapture(), flow(source), {
		...credentials(),
		seg1: { writeKey: 'w', sharedSecret: SHARED },
		hs1: { accessToken: 'a', clientSecret: CLIENT },
	});
	return recordMessages(['out']).out;
}

beforeAll(() => helper.startServer());
afterAll(async () => {
	await helper.stopServer();
	await closeAllEngines();
});
afterEach(() => helper.unload());

describe('Source Segment', () => {
	it('accepts a signed Webhooks (Actions) delivery once, however often it is replayed', async () => {
		const out = await load('segment');
		const body = JSON.stringify({ type: 'track', event: 'Order Completed', userId: 'u-nr', messageId: 'seg-nr-1', properties: { total: 12 } });
		for (let i = 0; i < 10; i++) {
			const res = await request(httpNode()).post('/nudge/segment').set({ 'content-type': 'application/json', 'x-signature': segmentSignature(SHARED, body) }).send(body);
			expect(res.status).toBe(200);
		}
		await quietFor(50);
		expect(out).toHaveLength(1);
		expect(out[0].payload).toMatchObject({ source: 'segment', eventId: 'seg-nr-1', name: 'Order Completed' });
		expect(await engineOf().queryDecisions({ reason: 'DUPLICATE_EVENT' })).toHaveLength(9);
	});

	it('refuses a bad X-Signature with 401 and sends nothing', async () => {
		const out = await load('segment');
		const body = JSON.stringify({ type: 'identify', userId: 'u-bad', messageId: 'seg-nr-2' });
		const res = await request(httpNode()).post('/nudge/segment').set({ 'content-type': 'application/json', 'x-signature': segmentSignature('nope', body) }).send(body);
		expect(res.status).toBe(401);
		expect(JSON.stringify(res.body)).not.toContain(SHARED);
		await quietFor(50);
		expect(out).toHaveLength(0);
		// The refusal is logged with its reason, and never with the secret.
		const logged = JSON.stringify([...nodeOf('trigger').warn.getCalls(), ...nodeOf('trigger').error.getCalls()].map((call) => call.args));
		expect(logged).toMatch(/X-Signature does not match/);
		expect(logged).not.toContain(SHARED);
	});
});

describe('Source HubSpot', () => {
	const batch = () => [
		{ eventId: 4001, subscriptionId: 1, portalId: 62515, appId: 9, occurredAt: Date.now(), subscriptionType: 'deal.creation', attemptNumber: 0, objectId: 6001, changeSource: 'CRM_UI' },
		{ eventId: 4002, subscriptionId: 2, portalId: 62515, appId: 9, occurredAt: Date.now(), subscriptionType: 'contact.creation', attemptNumber: 0, objectId: 6002, changeSource: 'CRM_UI' },
	];

	it('verifies the v3 signature over the public URL and sends one message per event', async () => {
		const out = await load('hubspot');
		const body = JSON.stringify(batch());
		const ts = String(Date.now());
		const signature = hubspotSignature(CLIENT, 'POST', 'https://nodered.example.com/nudge/hubspot', body, ts);
		const res = await request(httpNode()).post('/nudge/hubspot').set({ 'content-type': 'application/json', 'x-hubspot-signature-v3': signature, 'x-hubspot-request-timestamp': ts }).send(body);
		expect(res.status).toBe(200);
		await quietFor(50);
		expect(out.map((m) => (m.payload as { name: string }).name)).toEqual(['Deal Created', 'Contact Created']);
	});

	it('refuses a signature made for another URL (401)', async () => {
		await load('hubspot');
		const body = JSON.stringify(batch());
		const ts = String(Date.now());
		const signature = hubspotSignature(CLIENT, 'POST', 'http://127.0.0.1/nudge/hubspot', body, ts);
		const res = await request(httpNode()).post('/nudge/hubspot').set({ 'content-type': 'application/json', 'x-hubspot-signature-v3': signature, 'x-hubspot-request-timestamp': ts }).send(body);
		expect(res.status).toBe(401);
		expect(await engineOf().queryDecisions({})).toEqual([]);
	});
});

/** A Send node on a provider's config node, and a decision for `identities` that passed Frequency Cap. */
async function loadSend(config: Record<string, unknown>, send: Record<string, unknown>, creds: Record<string, object>, identities: Record<string, string>) {
	await helper.load(withHttpCapture(), [
		...catchAll(),
		engineNodeDef(),
		config,
		{ id: 'send', type: 'nudge-send', z: TAB, engine: 'eng1', wires: [['sent'], ['failed']], ...send },
		{ id: 'sent', type: 'helper', z: TAB },
		{ id: 'failed', type: 'helper', z: TAB },
	], { ...credentials(), ...creds });
	const out = recordMessages(['sent', 'failed']);
	const engine = engineOf();
	const { decision } = await engine.ingest({ type: 'track', name: 'Demo Requested', identities }, { journey: 'nurture' });
	await engine.chooseChannel(decision);
	await engine.checkCap(decision);
	return { out, decision };
}

describe('Send with Provider HubSpot', () => {
	it('creates the task once per decision and records its id (nock answers like the HubSpot tasks API)', async () => {
		const nock = (await import('nock')).default;
		const scope = nock('https://api.hubapi.com').post('/crm/v3/objects/tasks').once().reply(201, { id: '99001', properties: {}, createdAt: '2026-11-21T09:00:01.000Z', updatedAt: '2026-11-21T09:00:01.000Z', archived: false });
		const { out, decision } = await loadSend(
			{ id: 'hs1', type: 'nudge-hubspot', name: 'HubSpot' },
			{ provider: 'hubspot', hubspot: 'hs1', hubspotAction: 'task' },
			{ hs1: { accessToken: 'hubspot-access-value-nr', clientSecret: '' } },
			{ email: 'nr@example.com', hubspotId: '333' },
		);
		// A retried flow: the second message gets the recorded delivery, HubSpot is called once.
		helper.getNode('send')!.receive({ decision: decision.decisionId });
		await waitUntil(() => out.sent.length === 1, 'the first send');
		helper.getNode('send')!.receive({ decision: decision.decisionId });
		await waitUntil(() => out.sent.length === 2, 'the repeated send');
		scope.done();
		expect(out.failed).toHaveLength(0);
		expect(out.sent).toHaveLength(2);
		expect(out.sent[0].decision).toMatchObject({ status: 'sent', delivery: { provider: 'hubspot:task', providerMessageId: '99001' } });
		nock.cleanAll();
	});
});

describe('HubSpot config node signing in as an OAuth2 app', () => {
	// HubSpot's token endpoint, as documented at
	// https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/refresh-oauth-token
	const oauthConfig = { id: 'hs1', type: 'nudge-hubspot', name: 'HubSpot app', authType: 'oauth2' };
	const oauthCreds = (refreshToken: string) => ({ hs1: { clientId: 'nr-app-client-id', clientSecret: CLIENT, refreshToken } });

	it('Send gets an access token with the refresh token, renews it once on 401, and sends', async () => {
		const nock = (await import('nock')).default;
		const refreshValue = 'nr-refresh-value-1';
		const token = nock('https://api.hubapi.com')
			.post('/oauth/v1/token', (body: Record<string, string>) => body.grant_type === 'refresh_token' && body.refresh_token === refreshValue && body.client_id === 'nr-app-client-id' && body.client_secret === CLIENT)
			.twice()
			.reply(200, () => ({ token_type: 'bearer', refresh_token: refreshValue, access_token: `nr-access-${++issued}`, expires_in: 1800 }));
		let issued = 0;
		const api = nock('https://api.hubapi.com')
			.post('/crm/v3/objects/tasks')
			.matchHeader('authorization', 'Bearer nr-access-1')
			.reply(401, { status: 'error', message: 'The OAuth token used to make this call expired 1 minute(s) ago.', correlationId: 'c-nr', category: 'EXPIRED_AUTHENTICATION' })
			.post('/crm/v3/objects/tasks')
			.matchHeader('authorization', 'Bearer nr-access-2')
			.reply(201, { id: '99101', properties: {}, createdAt: '2026-11-21T09:00:01.000Z', updatedAt: '2026-11-21T09:00:01.000Z', archived: false });
		const { out, decision } = await loadSend(oauthConfig, { provider: 'hubspot', hubspot: 'hs1', hubspotAction: 'task' }, oauthCreds(refreshValue), { email: 'oa@example.com', hubspotId: '334' });
		helper.getNode('send')!.receive({ decision: decision.decisionId });
		await waitUntil(() => out.sent.length + out.failed.length === 1, 'the send');
		expect(out.sent[0].decision).toMatchObject({ status: 'sent', delivery: { provider: 'hubspot:task', providerMessageId: '99101', attempts: 1 } });
		token.done();
		api.done();
		nock.cleanAll();
	});

	it('a refused refresh token fails the send with what to fix, never the secrets', async () => {
		const nock = (await import('nock')).default;
		nock('https://api.hubapi.com').post('/oauth/v1/token').reply(400, { status: 'BAD_REFRESH_TOKEN', message: 'missing or invalid refresh token' });
		const { out, decision } = await loadSend(oauthConfig, { provider: 'hubspot', hubspot: 'hs1', hubspotAction: 'note' }, oauthCreds('nr-refresh-value-2'), { email: 'ob@example.com', hubspotId: '335' });
		helper.getNode('send')!.receive({ decision: decision.decisionId });
		await waitUntil(() => out.sent.length + out.failed.length === 1, 'the send');
		expect(out.failed[0].decision).toMatchObject({ status: 'failed', delivery: { error: expect.stringMatching(/BAD_REFRESH_TOKEN.*in Node-RED paste a new refresh token/) } });
		const logged = JSON.stringify(await engineOf().queryDecisions({}));
		for (const secret of [CLIENT, 'nr-refresh-value-2']) expect(logged).not.toContain(secret);
		nock.cleanAll();
	});

	it('the trigger checks HubSpot’s v3 signature with the OAuth2 app’s client secret', async () => {
		await helper.load(withHttpCapture(), flow('hubspot').map((n) => (n.id === 'hs1' ? oauthConfig : n)), { ...credentials(), ...oauthCreds('nr-refresh-value-3') });
		const { out } = recordMessages(['out']);
		const body = JSON.stringify([{ eventId: 5001, subscriptionId: 25, portalId: 62515, appId: 54321, occurredAt: Date.now(), subscriptionType: 'contact.creation', attemptNumber: 0, objectId: 721, changeFlag: 'CREATED', changeSource: 'CRM_UI' }]);
		const ts = String(Date.now());
		const sign = (secret: string) => ({ 'content-type': 'application/json', 'x-hubspot-signature-v3': hubspotSignature(secret, 'POST', 'https://nodered.example.com/nudge/hubspot', body, ts), 'x-hubspot-request-timestamp': ts });
		expect((await request(httpNode()).post('/nudge/hubspot').set(sign('another-secret')).send(body)).status).toBe(401);
		expect((await request(httpNode()).post('/nudge/hubspot').set(sign(CLIENT)).send(body)).status).toBe(200);
		await waitUntil(() => out.length === 1, 'the event');
		expect(out[0].payload).toMatchObject({ source: 'hubspot', name: 'Contact Created' });
	});
});

describe('Inactivity timers on the trigger', () => {
	it('a cart left 30 minutes fires "Cart Abandoned" from the trigger, once; an ordered cart fires nothing', async () => {
		const timers = JSON.stringify([{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' }]);
		await helper.load(withHttpCapture(), [...flow('segment').map((n) => (n.id === 'trigger' ? { ...n, timers, timerCheck: 0.05 } : n))], {
			...credentials(),
			seg1: { writeKey: 'w', sharedSecret: SHARED },
			hs1: { accessToken: 'a', clientSecret: CLIENT },
		});
		const { out } = recordMessages(['out']);
		const longAgo = new Date(Date.now() - 40 * 60_000).toISOString();
		// Both carts' timers are due as soon as they are scheduled. One Segment batch schedules and cancels
		// them in one pass, so the timer loop cannot fire the ordered cart's timer between its two events.
		const body = JSON.stringify({
			batch: [
				{ type: 'track', event: 'Cart Updated', userId: 'u-left', messageId: 'nr-cart-1', timestamp: longAgo },
				{ type: 'track', event: 'Cart Updated', userId: 'u-paid', messageId: 'nr-cart-2', timestamp: longAgo },
				{ type: 'track', event: 'Order Completed', userId: 'u-paid', messageId: 'nr-order-2', timestamp: longAgo },
			],
		});
		const answer = await request(httpNode()).post('/nudge/segment').set({ 'content-type': 'application/json', 'x-signature': segmentSignature(SHARED, body) }).send(body);
		expect(answer.status).toBe(200);
		expect(answer.body).toMatchObject({ accepted: 3, duplicates: 0 });
		const abandonedOnes = () => out.filter((m) => (m.payload as { name: string }).name === 'Cart Abandoned');
		await waitUntil(() => abandonedOnes().length > 0, 'a Cart Abandoned message');
		// Several more timer checks: it never fires again, and the ordered cart never fires.
		await quietFor(300);
		const abandoned = abandonedOnes();
		expect(abandoned).toHaveLength(1);
		expect(abandoned[0].payload).toMatchObject({ properties: { startedBy: 'nr-cart-1' } });
		// The trigger acknowledged the timer once it sent the message: it is gone, not merely leased.
		expect(await engineOf().store.takeDueTimers(Date.now() + 24 * 3_600_000, 10, 1000)).toEqual([]);
	});
});

describe('Send with Provider Segment', () => {
	it('tracks the decision into Segment (messageId = decision id) and flushes on close', async () => {
		const nock = (await import('nock')).default;
		const batches: Record<string, unknown>[] = [];
		// https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/#batch — 200 {} on success.
		const scope = nock('https://api.segment.io').post('/v1/batch', (body) => (batches.push(body), true)).reply(200, {});
		const { out, decision } = await loadSend(
			{ id: 'seg1', type: 'nudge-segment', name: 'Segment', host: 'https://api.segment.io' },
			{ provider: 'segment', segment: 'seg1' },
			{ seg1: { writeKey: 'seg-write-nr', sharedSecret: '' } },
			{ email: 'nr2@example.com', anonymousId: 'anon-nr' },
		);
		helper.getNode('send')!.receive({ decision: decision.decisionId });
		await waitUntil(() => out.sent.length + out.failed.length === 1, 'the send');
		scope.done();
		expect(out.sent[0].decision).toMatchObject({ status: 'sent', delivery: { provider: 'segment', providerMessageId: decision.decisionId } });
		expect((batches[0].batch as Record<string, unknown>[])[0]).toMatchObject({ event: 'Nudge Message Requested', anonymousId: 'anon-nr', messageId: decision.decisionId });
		nock.cleanAll();
	});
});
