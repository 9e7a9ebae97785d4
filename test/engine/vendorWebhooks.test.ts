/**
 * Segment and HubSpot webhooks through the one receiver both triggers use (`receiveSignedEvents`):
 * signatures computed from each vendor's documented algorithm, payloads shaped like their docs,
 * mapping into events and profiles, and exact-once on replays.
 */
import { createHmac } from 'node:crypto';
import { createEngine } from '../../engine/registry';
import type { Engine } from '../../engine/engine';
import { NudgeError } from '../../engine/errors';
import { receiveSignedEvents, type WebhookSource } from '../../engine/events/receive';
import { hubspotSignature, verifyHubSpotRequest } from '../../engine/vendors/hubspot/signature';
import { segmentSignature, verifySegmentRequest } from '../../engine/vendors/segment/signature';
import { hubspotTimeZone } from '../../engine/vendors/hubspot/normalise';
import { ingestHubSpotBatch } from '../../engine/vendors/hubspot/receive';
import { MemoryStore } from '../../engine/store/memory';
import { withEngine } from '../helpers/erasure';

const SEGMENT_SECRET = 'whsec-segment';
const HUBSPOT_SECRET = 'hs-client-secret';
const HOOK_URL = 'https://hooks.example.com/webhook/nudge/events?portal=62515';

let engine: Engine;
beforeEach(() => {
	engine = createEngine({ store: 'memory:' });
});
afterEach(() => engine.close());

function thrown(fn: () => void): NudgeError {
	try {
		fn();
	} catch (error) {
		return error as NudgeError;
	}
	throw new Error('expected a throw');
}

function segmentPost(body: unknown, secret = SEGMENT_SECRET) {
	const rawBody = JSON.stringify(body);
	return receiveSignedEvents(engine, { rawBody, headers: { 'X-Signature': segmentSignature(secret, rawBody) } }, { secret: SEGMENT_SECRET, journey: 'nurture', source: 'segment' });
}

function hubspotPost(body: unknown, options: { at?: number; secret?: string; url?: string } = {}) {
	const rawBody = JSON.stringify(body);
	const ts = String(options.at ?? Date.now());
	const headers = {
		'x-hubspot-signature-v3': hubspotSignature(options.secret ?? HUBSPOT_SECRET, 'POST', HOOK_URL, rawBody, ts),
		'x-hubspot-request-timestamp': ts,
		'x-hubspot-signature-version': 'v3',
	};
	return receiveSignedEvents(engine, { rawBody, headers, method: 'POST', url: options.url ?? HOOK_URL }, { secret: HUBSPOT_SECRET, journey: 'sales', source: 'hubspot' as WebhookSource });
}

describe('Segment Webhooks (Actions): X-Signature', () => {
	// https://www.twilio.com/docs/segment/connections/destinations/catalog/actions-webhook — "If you provide a shared
	// secret, Segment will sign requests with an HMAC in the "X-Signature" request header. The HMAC is a hex-encoded
	// SHA1 hash generated using the shared secret and the request body."
	const body = '{"type":"track","event":"Order Completed","userId":"u-1","messageId":"m-1"}';

	test('is hex HMAC-SHA1 of the raw body (vector computed with openssl dgst -sha1 -hmac)', () => {
		expect(segmentSignature(SEGMENT_SECRET, body)).toBe('31b242e3062899627ff5517ceb4cd2a8c2b0c64c');
		expect(() => verifySegmentRequest(SEGMENT_SECRET, Buffer.from(body), { 'x-signature': '31b242e3062899627ff5517ceb4cd2a8c2b0c64c' })).not.toThrow();
	});

	test.each([
		['a wrong secret', { 'x-signature': createHmac('sha1', 'other').update(body).digest('hex') }, SEGMENT_SECRET, /X-Signature does not match/],
		['no header', {}, SEGMENT_SECRET, /Missing X-Signature/],
		['a truncated signature', { 'x-signature': '31b242e3' }, SEGMENT_SECRET, /X-Signature does not match/],
		['no secret configured', { 'x-signature': '31b242e3062899627ff5517ceb4cd2a8c2b0c64c' }, '', /No Segment shared secret is configured/],
	])('refuses %s with 401 and never echoes the secret', (_case, headers, secret, message) => {
		const error = thrown(() => verifySegmentRequest(secret, body, headers));
		expect(error.httpStatus).toBe(401);
		expect(error.message).toMatch(message);
		expect(error.message).not.toContain(SEGMENT_SECRET);
	});

	test('a batched delivery, whose X-Signature Segment computes over the first event alone, is refused saying to turn batching off; nothing is stored', async () => {
		// segmentio/action-destinations webhook/index.ts: `payload.length ? payload[0]['data'] : payload['data']`.
		const events = [
			{ type: 'track', messageId: 'b-1', userId: 'u-b1', event: 'Cart Viewed' },
			{ type: 'identify', messageId: 'b-2', userId: 'u-b2', traits: { email: 'b2@example.com' } },
		];
		const rawBody = JSON.stringify(events);
		const answer = await receiveSignedEvents(engine, { rawBody, headers: { 'x-signature': segmentSignature(SEGMENT_SECRET, JSON.stringify(events[0])) } }, { secret: SEGMENT_SECRET, journey: 'nurture', source: 'segment' });
		expect(answer.status).toBe(401);
		expect(String(answer.body.error)).toMatch(/^This is a batched delivery.*turn batching off/);
		expect(await engine.queryDecisions({})).toEqual([]);
		expect((await engine.store.resolveIdentities(['userId:u-b1', 'userId:u-b2'])).size).toBe(0);
		// Signed with another secret, the same batch is the ordinary mismatch: only the right secret names batching.
		const other = await receiveSignedEvents(engine, { rawBody, headers: { 'x-signature': segmentSignature('other', JSON.stringify(events[0])) } }, { secret: SEGMENT_SECRET, journey: 'nurture', source: 'segment' });
		expect(String(other.body.error)).toMatch(/^X-Signature does not match/);
		// An array signed over the whole body is taken in.
		expect((await segmentPost(events)).body).toMatchObject({ accepted: 2 });
	});

	test('an unsigned body of deep nesting is refused as a bad signature: the batch hint parses nothing (JSON.parse, then stringify, threw RangeError on it)', () => {
		const depth = 1_000_000;
		const body = Buffer.from('['.repeat(depth) + ']'.repeat(depth));
		const error = thrown(() => verifySegmentRequest(SEGMENT_SECRET, body, { 'x-signature': segmentSignature(SEGMENT_SECRET, '[') }));
		expect([error.constructor.name, error.code, error.message]).toEqual(['NudgeError', 'BAD_SIGNATURE', expect.stringMatching(/^X-Signature does not match/)]);
	});

	test('the batch hint finds the first event by its text: strings with brackets, commas, quotes and escapes in it, a single-event batch', () => {
		const events = [
			{ type: 'track', messageId: 'q-1', userId: 'u-q1', event: 'Said "hi", [then] {left} \\ \u00e9', properties: { list: [1, { a: ']' }] } },
			{ type: 'identify', messageId: 'q-2', userId: 'u-q2' },
		];
		for (const batch of [events, events.slice(0, 1)]) {
			const error = thrown(() => verifySegmentRequest(SEGMENT_SECRET, Buffer.from(JSON.stringify(batch)), { 'x-signature': segmentSignature(SEGMENT_SECRET, JSON.stringify(batch[0])) }));
			expect(error.message).toMatch(/^This is a batched delivery/);
		}
	});

	// The destination's "Use X-Segment-Signature Header" setting (segmentio/action-destinations webhook/index.ts): the
	// header X-Segment-Signature, hex HMAC-SHA1 of the whole body sent (a batch's every event), instead of X-Signature.
	describe('X-Segment-Signature (the whole body, so batching may be on)', () => {
		const events = [
			{ type: 'track', messageId: 's-1', userId: 'u-s1', event: 'Cart Viewed' },
			{ type: 'identify', messageId: 's-2', userId: 'u-s2', traits: { email: 's2@example.com' } },
		];
		const rawBody = JSON.stringify(events);
		const post = (headers: Record<string, string>, body = rawBody) => receiveSignedEvents(engine, { rawBody: body, headers }, { secret: SEGMENT_SECRET, journey: 'nurture', source: 'segment' });

		test('a batch signed over its whole body is taken in, every event', async () => {
			const answer = await post({ 'X-Segment-Signature': segmentSignature(SEGMENT_SECRET, rawBody) });
			expect(answer.body).toMatchObject({ accepted: 2 });
			expect((await engine.store.resolveIdentities(['userId:u-s1', 'userId:u-s2'])).size).toBe(2);
		});

		test.each([
			['another secret', () => ({ 'x-segment-signature': segmentSignature('other', rawBody) })],
			['the first event alone', () => ({ 'x-segment-signature': segmentSignature(SEGMENT_SECRET, JSON.stringify(events[0])) })],
			['a body changed after signing', () => ({ 'x-segment-signature': segmentSignature(SEGMENT_SECRET, rawBody.replace('u-s2', 'u-s9')) })],
			// Checked by the header that covers the body: a right X-Signature beside a wrong X-Segment-Signature does not pass.
			['a wrong one beside a right X-Signature', () => ({ 'x-segment-signature': segmentSignature('other', rawBody), 'x-signature': segmentSignature(SEGMENT_SECRET, rawBody) })],
			['an empty one beside a right X-Signature', () => ({ 'x-segment-signature': '', 'x-signature': segmentSignature(SEGMENT_SECRET, rawBody) })],
		])('signed with %s: refused naming the header, nothing stored', async (_name, headers) => {
			const answer = await post(headers());
			expect(answer.status).toBe(401);
			expect(String(answer.body.error)).toMatch(/^X-Segment-Signature does not match/);
			expect(await engine.queryDecisions({})).toEqual([]);
			expect((await engine.store.resolveIdentities(['userId:u-s1', 'userId:u-s2', 'userId:u-s9'])).size).toBe(0);
		});
	});

	test('an altered body is refused and nothing is stored', async () => {
		const rawBody = JSON.stringify({ type: 'identify', userId: 'u-9', messageId: 'm-9' });
		const answer = await receiveSignedEvents(
			engine,
			{ rawBody: rawBody.replace('u-9', 'u-6'), headers: { 'x-signature': segmentSignature(SEGMENT_SECRET, rawBody) } },
			{ secret: SEGMENT_SECRET, journey: 'nurture', source: 'segment' },
		);
		expect(answer.status).toBe(401);
		expect(await engine.queryDecisions({})).toEqual([]);
		expect((await engine.store.resolveIdentities(['userId:u-6', 'userId:u-9'])).size).toBe(0);
	});
});

describe('Segment spec calls → events and profiles', () => {
	// Payloads follow https://segment.com/docs/connections/spec/ (identify, track, page, group, alias pages).
	test('identify, track and page build one profile and one decision each', async () => {
		const answer = await segmentPost({
			batch: [
				{ type: 'identify', messageId: 'seg-1', userId: 'u-1', anonymousId: 'anon-1', traits: { email: 'Pat@Example.com', plan: 'pro' }, timestamp: '2026-11-21T09:00:00.000Z' },
				{ type: 'track', messageId: 'seg-2', userId: 'u-1', event: 'Product Added', properties: { sku: 'A-1', price: 19 }, timestamp: '2026-11-21T09:01:00.000Z' },
				{ type: 'page', messageId: 'seg-3', anonymousId: 'anon-1', name: 'Pricing', properties: { path: '/pricing' }, timestamp: '2026-11-21T09:02:00.000Z' },
			],
		});
		expect(answer.status).toBe(200);
		expect(answer.body).toMatchObject({ accepted: 3, duplicates: 0 });
		const [identify, track, page] = answer.accepted;
		expect(identify.event).toMatchObject({ source: 'segment', type: 'identify', eventId: 'seg-1', identities: { userId: 'u-1', anonymousId: 'anon-1', email: 'pat@example.com' } });
		expect(track.event).toMatchObject({ type: 'track', name: 'Product Added', properties: { sku: 'A-1', price: 19 } });
		expect(page.event).toMatchObject({ type: 'page', name: 'Pricing' });
		const contactIds = new Set(answer.accepted.map((r) => r.decision.contactId));
		expect(contactIds.size).toBe(1);
		const profile = await engine.getProfile([...contactIds][0]);
		expect(profile).toMatchObject({ email: 'pat@example.com', traits: { plan: 'pro' }, counters: { 'Product Added': 1, Pricing: 1 } });
	});

	test('group attaches groupId and the account traits without overwriting the person’s traits', async () => {
		await segmentPost({ type: 'identify', messageId: 'g-0', userId: 'u-2', traits: { name: 'Pat', email: 'pat@example.com' } });
		const answer = await segmentPost({ type: 'group', messageId: 'g-1', userId: 'u-2', groupId: 'acme-1', traits: { name: 'Acme Inc', industry: 'Retail' } });
		expect(answer.status).toBe(200);
		const profile = await engine.getProfile(answer.accepted[0].decision.contactId);
		expect(profile?.traits).toMatchObject({ name: 'Pat', groupId: 'acme-1', group: { id: 'acme-1', name: 'Acme Inc', industry: 'Retail' } });
	});

	test('alias links previousId to userId: the two profiles become one', async () => {
		const before = await segmentPost({ type: 'track', messageId: 'a-0', userId: 'old-id', event: 'Cart Viewed', traits: { email: 'lee@example.com' } });
		const other = await segmentPost({ type: 'identify', messageId: 'a-1', userId: 'new-id', traits: { plan: 'pro' } });
		expect(before.accepted[0].decision.contactId).not.toBe(other.accepted[0].decision.contactId);
		const alias = await segmentPost({ type: 'alias', messageId: 'a-2', userId: 'new-id', previousId: 'old-id' });
		expect(alias.status).toBe(200);
		const contactId = alias.accepted[0].decision.contactId;
		const resolved = await engine.store.resolveIdentities(['userId:old-id', 'userId:new-id']);
		expect(new Set(resolved.values())).toEqual(new Set([contactId]));
		expect(await engine.getProfile(contactId)).toMatchObject({ email: 'lee@example.com', traits: { plan: 'pro' }, counters: { 'Cart Viewed': 1 } });
	});

	test('an alias of an id never seen before still makes it resolve to the user', async () => {
		const alias = await segmentPost({ type: 'alias', messageId: 'a-9', userId: 'u-7', previousId: 'anon-77' });
		const later = await segmentPost({ type: 'page', messageId: 'a-10', anonymousId: 'anon-77', name: 'Home' });
		expect(later.accepted[0].decision.contactId).toBe(alias.accepted[0].decision.contactId);
	});

	test.each([
		['an alias without previousId', { type: 'alias', messageId: 'x-1', userId: 'u' }, /previousId: a Segment alias call needs a previousId/],
		['a group without groupId', { type: 'group', messageId: 'x-2', userId: 'u' }, /groupId: a Segment group call needs a groupId/],
		['a screen call (not accepted by the destination mapping)', { type: 'screen', messageId: 'x-3', userId: 'u' }, /type: /],
	])('answers 400 for %s and stores nothing', async (_case, event, message) => {
		const answer = await segmentPost({ batch: [{ type: 'identify', messageId: 'ok-1', userId: 'u-ok' }, event] });
		expect(answer.status).toBe(400);
		expect(String(answer.body.error)).toMatch(message);
		expect(await engine.queryDecisions({})).toEqual([]);
		expect((await engine.store.resolveIdentities(['userId:u-ok'])).size).toBe(0);
	});

	test('exact-once: the same delivery replayed 10 times is one event and one open decision', async () => {
		const event = { type: 'track', messageId: 'replay-1', userId: 'u-r', event: 'Order Completed', properties: { total: 30 } };
		const answers = [];
		for (let i = 0; i < 10; i++) answers.push(await segmentPost(event));
		expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
		expect(answers.map((a) => a.accepted.length)).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
		const contactId = answers[0].accepted[0].decision.contactId;
		expect((await engine.getProfile(contactId))?.counters['Order Completed']).toBe(1);
		expect(await engine.queryDecisions({ status: 'pending' })).toHaveLength(1);
		expect(await engine.queryDecisions({ reason: 'DUPLICATE_EVENT' })).toHaveLength(9);
	});
});

describe('HubSpot app webhooks: signature v3', () => {
	// https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests#validate-the-v3-request-signature
	// requestMethod + requestUri + requestBody + timestamp, HMAC SHA-256 with the client secret, base64.
	const body = '[{"eventId":100,"portalId":62515,"occurredAt":1763715600000,"subscriptionType":"contact.creation","objectId":123,"attemptNumber":0}]';
	const ts = '1763715600000';
	const at = new Date(1763715600000 + 60_000);

	test('matches the documented algorithm (vector computed with openssl dgst -sha256 -hmac | base64)', () => {
		expect(hubspotSignature(HUBSPOT_SECRET, 'POST', HOOK_URL, body, ts)).toBe('7GhVUn6AxSPgiqZeaxKnQP8ZbGLlMl8ChCDEMOSW2Zg=');
		const headers = { 'X-HubSpot-Signature-v3': '7GhVUn6AxSPgiqZeaxKnQP8ZbGLlMl8ChCDEMOSW2Zg=', 'X-HubSpot-Request-Timestamp': ts };
		expect(() => verifyHubSpotRequest(HUBSPOT_SECRET, { rawBody: body, headers, method: 'POST', url: HOOK_URL }, at)).not.toThrow();
		// HubSpot signs the URI with %3A, %2F, %3F… decoded, so an encoded query still verifies.
		const encoded = HOOK_URL.replace('?portal=', '%3Fportal=');
		expect(() => verifyHubSpotRequest(HUBSPOT_SECRET, { rawBody: body, headers, method: 'POST', url: encoded }, at)).not.toThrow();
	});

	test.each([
		['older than 5 minutes', { at: new Date(1763715600000 + 5 * 60_000 + 1) }, /more than 5 minutes old/],
		['a different URL', { url: 'https://evil.example.com/webhook/nudge/events?portal=62515' }, /does not match/],
		['a different method', { method: 'PUT' }, /does not match/],
		['a different client secret', { secret: 'other' }, /does not match/],
		['a body altered after signing', { rawBody: body.replace('123', '124') }, /does not match/],
		['no v3 headers', { headers: { 'x-hubspot-signature': 'abc', 'x-hubspot-signature-version': 'v1' } }, /Missing X-HubSpot-Signature-v3/],
	])('refuses a request %s (401)', (_case, change: Record<string, unknown>, message) => {
		const headers = { 'x-hubspot-signature-v3': '7GhVUn6AxSPgiqZeaxKnQP8ZbGLlMl8ChCDEMOSW2Zg=', 'x-hubspot-request-timestamp': ts };
		const request = { rawBody: body, headers, method: 'POST', url: HOOK_URL, ...change } as Parameters<typeof verifyHubSpotRequest>[1];
		const error = thrown(() => verifyHubSpotRequest((change.secret as string) ?? HUBSPOT_SECRET, request, (change.at as Date) ?? at));
		expect(error).toBeInstanceOf(NudgeError);
		expect(error.httpStatus).toBe(401);
		expect(error.message).toMatch(message);
		expect(error.message).not.toContain(HUBSPOT_SECRET);
	});

	test('a stale delivery through the receiver answers 401 and stores nothing', async () => {
		const answer = await hubspotPost(JSON.parse(body), { at: Date.now() - 6 * 60_000 });
		expect(answer.status).toBe(401);
		expect(await engine.queryDecisions({})).toEqual([]);
	});
});

describe('HubSpot batch payloads → events and profiles', () => {
	// Shaped like https://developers.hubspot.com/docs/api/webhooks#webhook-payloads (array of up to 100 events).
	// A few minutes back: a trigger event older than the de-duplication window starts no message.
	const occurredAt = Math.floor(Date.now() / 1000) * 1000 - 300_000;
	const batch = [
		{ eventId: 1001, subscriptionId: 25, portalId: 62515, appId: 54321, occurredAt, subscriptionType: 'contact.creation', attemptNumber: 0, objectId: 501, changeFlag: 'CREATED', changeSource: 'CRM_UI', sourceId: 'userId:45678' },
		{ eventId: 1002, subscriptionId: 26, portalId: 62515, appId: 54321, occurredAt: occurredAt + 1000, subscriptionType: 'contact.propertyChange', attemptNumber: 0, objectId: 501, propertyName: 'email', propertyValue: 'Rae@Example.com', changeSource: 'CRM_UI' },
		{ eventId: 1003, subscriptionId: 26, portalId: 62515, appId: 54321, occurredAt: occurredAt + 2000, subscriptionType: 'contact.propertyChange', attemptNumber: 0, objectId: 501, propertyName: 'lifecyclestage', propertyValue: 'marketingqualifiedlead', changeSource: 'WORKFLOWS' },
		{ eventId: 1004, subscriptionId: 27, portalId: 62515, appId: 54321, occurredAt: occurredAt + 3000, subscriptionType: 'deal.propertyChange', attemptNumber: 0, objectId: 9001, propertyName: 'dealstage', propertyValue: 'contractsent', changeSource: 'CRM_UI' },
		{ eventId: 1005, subscriptionId: 28, portalId: 62515, appId: 54321, occurredAt: occurredAt + 4000, subscriptionType: 'object.creation', objectTypeId: '0-3', attemptNumber: 0, objectId: 9002, changeSource: 'API' },
	];

	test('splits the batch into events, maps contact properties onto the profile and deals onto their own record', async () => {
		const answer = await hubspotPost(batch);
		expect(answer.status).toBe(200);
		expect(answer.body).toMatchObject({ accepted: 5, duplicates: 0 });
		const events = answer.accepted.map((r) => r.event);
		expect(events.map((e) => [e.eventId, e.type, e.name])).toEqual([
			['hubspot:62515:1001:25:501', 'track', 'Contact Created'],
			['hubspot:62515:1002:26:501:email', 'identify', 'Contact Property Changed'],
			['hubspot:62515:1003:26:501:lifecyclestage', 'identify', 'Contact Property Changed'],
			['hubspot:62515:1004:27:9001:dealstage', 'track', 'Deal Stage Changed'],
			['hubspot:62515:1005:28:9002', 'track', 'Deal Created'],
		]);
		expect(events[0]).toMatchObject({ source: 'hubspot', occurredAt: new Date(occurredAt).toISOString(), identities: { hubspotId: '501' }, properties: { portalId: '62515', objectType: 'contact', changeSource: 'CRM_UI' } });
		expect(events[3]).toMatchObject({ identities: { hubspotId: 'deal:9001' }, properties: { propertyName: 'dealstage', propertyValue: 'contractsent' } });
		const contact = await engine.getProfile(answer.accepted[0].decision.contactId);
		expect(contact).toMatchObject({ email: 'rae@example.com', lifecycle: 'marketingqualifiedlead', identities: { hubspotId: ['501'], email: ['rae@example.com'] } });
		expect(answer.accepted[3].decision.contactId).not.toBe(contact?.contactId);
		expect(answer.accepted.every((r) => r.decision.journey === 'sales')).toBe(true);
	});

	test('a retried delivery (same eventIds, higher attemptNumber) is recognised: 10 replays, one event each', async () => {
		await hubspotPost(batch);
		for (let attempt = 1; attempt < 10; attempt++) {
			const retry = await hubspotPost(batch.map((e) => ({ ...e, attemptNumber: attempt })));
			expect(retry.status).toBe(200);
			expect(retry.body).toMatchObject({ accepted: 0, duplicates: 5 });
		}
		expect(await engine.queryDecisions({ status: 'pending' })).toHaveLength(5);
	});

	test('a record Nudge cannot take in is refused alone, named by its index (HubSpot never sends a refused batch again); the others are taken in', async () => {
		// A form bot filled a single-line text property with 12,000 characters: HubSpot holds up to 65,536, Nudge 10,240.
		const spam = { ...batch[2], eventId: 1006, propertyName: 'firstname', propertyValue: 'B'.repeat(12_000) };
		const answer = await hubspotPost([batch[0], spam, batch[1]]);
		expect(answer.status).toBe(200);
		expect(answer.body).toMatchObject({ accepted: 2, duplicates: 0, refused: [{ index: 1, error: expect.stringMatching(/propertyValue|firstname|10,240|10240/) }] });
		expect(answer.refused).toEqual([{ index: 1, error: expect.any(String) }]);
		expect((await engine.queryDecisions({})).map((d) => d.event.eventId).sort()).toEqual(['hubspot:62515:1001:25:501', 'hubspot:62515:1002:26:501:email']);
	});

	test('a batch of which nothing can be taken in is refused whole with the first index; nothing is stored', async () => {
		const answer = await hubspotPost([{ ...batch[0], objectId: undefined }, { ...batch[1], objectId: undefined }]);
		expect(answer.status).toBe(400);
		expect(String(answer.body.error)).toMatch(/^Event 0 of the batch \(counting from 0\) is not valid, so nothing was stored \(2 of 2 events are invalid\): objectId: /);
		expect(await engine.queryDecisions({})).toEqual([]);
		expect((await engine.store.resolveIdentities(['hubspotId:501'])).size).toBe(0);
	});
});

describe('HubSpot values that name Object.prototype members', () => {
	const base = { portalId: 62515, occurredAt: Date.now(), objectId: 123 };

	test.each(['constructor', 'toString', '__proto__'])('object.creation with objectTypeId "%s" is an object of an unknown type, not a TypeError', async (objectTypeId) => {
		const answer = await hubspotPost([{ ...base, eventId: 1, subscriptionType: 'object.creation', objectTypeId }]);
		expect(answer.status).toBe(200);
		expect(answer.accepted[0].event.name).toBe(`Object_${objectTypeId} Created`);
	});

	test('contact.propertyChange of a property named "toString" stores that trait only, not one keyed by a function', async () => {
		const answer = await hubspotPost([{ ...base, eventId: 2, subscriptionType: 'contact.propertyChange', propertyName: 'toString', propertyValue: 'x' }]);
		expect(answer.status).toBe(200);
		expect(answer.accepted[0].event.traits).toEqual({ toString: 'x' });
		const profile = await engine.getProfile(answer.accepted[0].decision.contactId);
		expect(Object.keys(profile!.traits)).toEqual(['toString']);
	});

	test('subscriptionType "contact.constructor" is an event of that name, not Object\'s source text', async () => {
		const answer = await hubspotPost([{ ...base, eventId: 3, subscriptionType: 'contact.constructor' }]);
		expect(answer.status).toBe(200);
		expect(answer.accepted[0].event.name).toBe('Contact Constructor');
	});

	test('an occurredAt outside the years 0000–9999 is refused naming occurredAt', async () => {
		const answer = await hubspotPost([{ ...base, eventId: 4, subscriptionType: 'contact.creation', occurredAt: 1e20 }]);
		expect(answer.status).toBe(400);
		expect(String(answer.body.error)).toMatch(/occurredAt: must be a time in whole milliseconds/);
	});
});

describe('HubSpot notifications: ids, associations, privacy deletions, time zones and merges', () => {
	// Shaped like https://developers.hubspot.com/docs/apps/legacy-apps/public-apps/create-generic-webhook-subscriptions
	// and https://developers.hubspot.com/changelog/new-subscription-types-for-webhooks (merge and association payloads).
	const occurredAt = Date.now() - 120_000;
	const base = { portalId: 62515, appId: 54321, attemptNumber: 0, changeSource: 'CRM_UI' };

	test('two notifications sharing an eventId (HubSpot does not guarantee it unique) are both taken in; their retry is a duplicate', async () => {
		// One change can fire two subscriptions with one eventId: they differ by subscriptionId, objectId, propertyName.
		const batch = [
			{ ...base, eventId: 4242, subscriptionId: 25, occurredAt, subscriptionType: 'contact.propertyChange', objectId: 501, propertyName: 'lifecyclestage', propertyValue: 'customer' },
			{ ...base, eventId: 4242, subscriptionId: 26, occurredAt, subscriptionType: 'deal.propertyChange', objectId: 9001, propertyName: 'dealstage', propertyValue: 'closedwon' },
		];
		const answer = await hubspotPost(batch);
		expect(answer.status).toBe(200);
		expect(answer.body).toMatchObject({ accepted: 2, duplicates: 0 });
		const retry = await hubspotPost(batch.map((e) => ({ ...e, attemptNumber: 1 })));
		expect(retry.body).toMatchObject({ accepted: 0, duplicates: 2 });
	});

	test('an associationChange (fromObjectId/toObjectId, no objectId) is an event about the object it starts from', async () => {
		const assoc = { ...base, eventId: 7001, subscriptionId: 30, occurredAt, subscriptionType: 'contact.associationChange', changeSource: 'USER', associationType: 'CONTACT_TO_DEAL', fromObjectId: 501, toObjectId: 9001, associationRemoved: false, isPrimaryAssociation: false };
		const answer = await hubspotPost([assoc]);
		expect(answer.status).toBe(200);
		expect(answer.body).toMatchObject({ accepted: 1 });
		expect(answer.accepted[0].event).toMatchObject({
			name: 'Contact Association Changed',
			identities: { hubspotId: '501' },
			properties: { objectId: '501', toObjectId: '9001', associationType: 'CONTACT_TO_DEAL', associationRemoved: false },
		});
		// Its removal (same eventId is allowed) is another notification, not a duplicate.
		const removed = await hubspotPost([{ ...assoc, associationRemoved: true }]);
		expect(removed.body).toMatchObject({ accepted: 1, duplicates: 0 });
	});

	test('contact.privacyDeletion erases the contact (a GDPR delete in HubSpot) and records no event about them', async () => {
		const created = await hubspotPost([{ ...base, eventId: 8001, subscriptionId: 26, occurredAt, subscriptionType: 'contact.propertyChange', objectId: 777, propertyName: 'email', propertyValue: 'gone@example.com' }]);
		expect(created.body).toMatchObject({ accepted: 1 });
		const deletion = { ...base, eventId: 8002, subscriptionId: 31, occurredAt: occurredAt + 1000, subscriptionType: 'contact.privacyDeletion', objectId: 777, changeSource: 'GDPR_DELETE' };
		const answer = await hubspotPost([deletion]);
		expect(answer.status).toBe(200);
		expect(answer.body).toMatchObject({ accepted: 0, duplicates: 0, erased: 1 });
		expect(JSON.stringify(answer.body)).not.toMatch(/777|gone@/);
		expect((await engine.store.resolveIdentities(['hubspotId:777', 'email:gone@example.com'])).size).toBe(0);
		expect((await engine.queryDecisions({})).map((d) => d.event.name)).not.toContain('Contact Privacy Deleted');
		// HubSpot's retry, or a deletion of a contact Nudge never saw, erases nothing and is no error.
		const again = await hubspotPost([{ ...deletion, attemptNumber: 1 }, { ...deletion, eventId: 8003, objectId: 778 }]);
		expect(again.status).toBe(200);
		expect(again.body).toMatchObject({ accepted: 0, erased: 0 });
	});

	test('a privacy deletion in a batch with the contact\'s changes erases them after those are taken in (and does not hand them out)', async () => {
		const answer = await hubspotPost([
			{ ...base, eventId: 8101, subscriptionId: 26, occurredAt, subscriptionType: 'contact.propertyChange', objectId: 780, propertyName: 'email', propertyValue: 'brief@example.com' },
			{ ...base, eventId: 8102, subscriptionId: 31, occurredAt: occurredAt + 1000, subscriptionType: 'contact.privacyDeletion', objectId: 780 },
			{ ...base, eventId: 8103, subscriptionId: 25, occurredAt, subscriptionType: 'contact.creation', objectId: 781 },
		]);
		expect(answer.status).toBe(200);
		// The erased contact's change is taken in, then erased with them: only the other contact's is handed out.
		expect(answer.body).toMatchObject({ accepted: 1, erased: 1 });
		const left = await engine.store.resolveIdentities(['hubspotId:780', 'email:brief@example.com', 'hubspotId:781']);
		expect([...left.keys()]).toEqual(['hubspotId:781']);
	});

	test('a propertyChange of hs_timezone gives the contact the IANA zone HubSpot\'s value names; one Nudge cannot name is left out', async () => {
		const zone = (eventId: number, objectId: number, propertyValue: string) => ({ ...base, eventId, subscriptionId: 26, occurredAt, subscriptionType: 'contact.propertyChange', objectId, propertyName: 'hs_timezone', propertyValue });
		const answer = await hubspotPost([zone(9001, 601, 'america_slash_los_angeles'), zone(9002, 602, 'Europe/Berlin'), zone(9003, 603, 'mars_slash_olympus_mons')]);
		expect(answer.status).toBe(200);
		const zones = await Promise.all(answer.accepted.map(async (r) => (await engine.getProfile(r.decision.contactId))?.timezone));
		expect(zones).toEqual(['America/Los_Angeles', 'Europe/Berlin', undefined]);
	});

	test('contact.merge makes the merged records (mergedObjectIds) and the primary one a single Nudge contact', async () => {
		const before = await hubspotPost([
			{ ...base, eventId: 9101, subscriptionId: 25, occurredAt, subscriptionType: 'contact.creation', objectId: 701 },
			{ ...base, eventId: 9102, subscriptionId: 25, occurredAt, subscriptionType: 'contact.creation', objectId: 702 },
		]);
		expect(before.body).toMatchObject({ accepted: 2 });
		expect(before.accepted[0].decision.contactId).not.toBe(before.accepted[1].decision.contactId);
		const merged = await hubspotPost([
			{ ...base, eventId: 9103, subscriptionId: 32, occurredAt: occurredAt + 60_000, subscriptionType: 'contact.merge', objectId: 701, primaryObjectId: 701, mergedObjectIds: [702], newObjectId: 701, numberOfPropertiesMoved: 4 },
		]);
		expect(merged.status).toBe(200);
		const ids = await engine.store.resolveIdentities(['hubspotId:701', 'hubspotId:702']);
		expect(ids.get('hubspotId:702')).toBe(ids.get('hubspotId:701'));
		expect((await engine.getProfile(ids.get('hubspotId:701')!))?.identities.hubspotId?.sort()).toEqual(['701', '702']);
	});
});

const hs = { portalId: 62515, appId: 54321, attemptNumber: 0, changeSource: 'CRM_UI' };
const POLICY = { caps: [], holdout: { globalShare: 0, journeys: {} } };

describe('HubSpot time zones and privacy deletions', () => {
	/*
	 * HubSpot's hs_timezone options are IANA names spelled with "_slash_" and "_hyphen_", current names and aliases
	 * included, none of which are in the runtime's list of canonical names (Intl.supportedValuesOf lists Asia/Calcutta).
	 */
	test.each([
		['asia_slash_kolkata', 'Asia/Kolkata'],
		['asia_slash_kathmandu', 'Asia/Kathmandu'],
		['america_slash_argentina_slash_buenos_aires', 'America/Argentina/Buenos_Aires'],
		['asia_slash_ho_chi_minh', 'Asia/Ho_Chi_Minh'],
		['europe_slash_kyiv', 'Europe/Kyiv'],
		['us_slash_eastern', 'America/New_York'],
		['us_slash_pacific', 'America/Los_Angeles'],
		['america_slash_port_hyphen_au_hyphen_prince', 'America/Port-au-Prince'],
	])('hs_timezone %s names a zone (%s)', (value, zone) => {
		const got = hubspotTimeZone(value);
		expect(got).toBeDefined();
		// The same offset as the zone named, whatever spelling the runtime resolves it to.
		const at = new Date('2026-01-15T12:00:00Z');
		const offset = (z: string) => new Intl.DateTimeFormat('en-US', { timeZone: z, timeZoneName: 'longOffset' }).format(at);
		expect(offset(got!)).toBe(offset(zone));
	});

	/*
	 * HubSpot retries a notification that failed (a 5xx, a timeout) for up to a day: one made before the deletion and
	 * delivered after it (a new eventId, so no duplicate) makes only a do-not-contact contact, as the erasure suppresses.
	 */
	test('a HubSpot notification delivered after the contact\'s privacy deletion does not make a messageable contact of them again', async () => {
		const occurredAt = Date.now() - 60_000;
		await withEngine(new MemoryStore(), async (engine) => {
			await ingestHubSpotBatch(engine, [{ ...hs, eventId: 1, subscriptionId: 26, occurredAt, subscriptionType: 'contact.propertyChange', objectId: 777, propertyName: 'email', propertyValue: 'gone@example.com' }], 'sales');
			const deleted = await ingestHubSpotBatch(engine, [{ ...hs, eventId: 3, subscriptionId: 31, occurredAt: occurredAt + 2000, subscriptionType: 'contact.privacyDeletion', objectId: 777 }], 'sales');
			expect(deleted.erased).toBe(1);
			// The retry of a change made before the deletion (its first delivery failed).
			const late = await ingestHubSpotBatch(engine, [{ ...hs, eventId: 2, subscriptionId: 26, occurredAt: occurredAt + 1000, subscriptionType: 'contact.propertyChange', objectId: 777, propertyName: 'firstname', propertyValue: 'Gone' }], 'sales');
			const profile = late.results[0] ? await engine.getProfile(late.results[0].decision.contactId) : undefined;
			expect(profile === undefined || profile.doNotContact === true).toBe(true);
		}, POLICY);
	});

	/*
	 * A batch holding a contact's change and its privacy deletion: the change is not handed to the flow after the
	 * erasure (a Slack post or a CRM sync after the trigger would get the data of the person just erased).
	 */
	test('the changes of a contact erased by the same batch are not handed to the flow', async () => {
		const occurredAt = Date.now() - 60_000;
		await withEngine(new MemoryStore(), async (engine) => {
			const taken = await ingestHubSpotBatch(engine, [
				{ ...hs, eventId: 8101, subscriptionId: 26, occurredAt, subscriptionType: 'contact.propertyChange', objectId: 780, propertyName: 'email', propertyValue: 'brief@example.com' },
				{ ...hs, eventId: 8102, subscriptionId: 31, occurredAt: occurredAt + 1000, subscriptionType: 'contact.privacyDeletion', objectId: 780 },
			], 'sales');
			expect(taken.erased).toBe(1);
			expect(JSON.stringify(taken.results)).not.toMatch(/brief@example\.com/);
		}, POLICY);
	});
});

describe('HubSpot changes delivered out of order', () => {
	/*
	 * HubSpot retries a failed notification (a 5xx, a timeout) for up to a day with its first occurredAt: a change
	 * delivered after a newer change of the same property leaves the newer value, and what follows it (zone, mailing
	 * address); a change made after both is taken.
	 */
	test('a retried older change of a contact property does not overwrite the newer value', async () => {
		const at = Date.now() - 600_000;
		await withEngine(new MemoryStore(), async (engine) => {
			const change = (eventId: number, offset: number, propertyName: string, propertyValue: string) => ({ ...hs, eventId, subscriptionId: 26, occurredAt: at + offset, subscriptionType: 'contact.propertyChange', objectId: 901, propertyName, propertyValue });
			const first = await ingestHubSpotBatch(engine, [change(1, 0, 'email', 'rae@example.com')], 'sales');
			const contactId = first.results[0].decision.contactId;
			await ingestHubSpotBatch(engine, [change(3, 2000, 'jobtitle', 'CTO'), change(5, 2000, 'hs_timezone', 'europe_slash_berlin'), change(7, 2000, 'email', 'rae@new.example.com')], 'sales');
			// The retries of changes made a second before those (their first deliveries failed).
			await ingestHubSpotBatch(engine, [change(2, 1000, 'jobtitle', 'VP Marketing'), change(4, 1000, 'hs_timezone', 'america_slash_new_york'), change(6, 1000, 'email', 'rae@old.example.com')], 'sales');
			let profile = (await engine.getProfile(contactId))!;
			expect(profile.traits).toMatchObject({ jobtitle: 'CTO', hs_timezone: 'europe_slash_berlin', email: 'rae@new.example.com' });
			expect(profile.timezone).toBe('Europe/Berlin');
			expect(profile.email).toBe('rae@new.example.com');
			// Still one contact, known by every address it had.
			expect(profile.identities.email?.sort()).toEqual(['rae@example.com', 'rae@new.example.com', 'rae@old.example.com']);
			await ingestHubSpotBatch(engine, [change(8, 3000, 'jobtitle', 'CEO')], 'sales');
			profile = (await engine.getProfile(contactId))!;
			expect(profile.traits.jobtitle).toBe('CEO');
		}, POLICY);
	});
});

describe('events older than the de-duplication window', () => {
	/*
	 * Segment signs no timestamp, and its Replay re-sends history into a new destination with the original messageIds.
	 * A repeat is recognised for dedupWindowHours after the first delivery; an event older than that when it arrives
	 * updates the contact and starts no message, so no repeat, however late, messages anyone twice.
	 */
	const signed = (engine: Engine, body: unknown) => {
		const rawBody = JSON.stringify(body);
		return receiveSignedEvents(engine, { rawBody, headers: { 'X-Signature': segmentSignature(SEGMENT_SECRET, rawBody) } }, { secret: SEGMENT_SECRET, journey: 'nurture', source: 'segment' });
	};
	const HOUR = 3_600_000;

	test('a signed delivery sent again after the window, and a backfill of old events, start no message; the contact is updated', async () => {
		const t0 = Date.parse('2026-11-10T09:00:00.000Z');
		await withEngine(new MemoryStore(), async (engine, clock) => {
			const order = { type: 'track', messageId: 'm-replayed', userId: 'u-replay', event: 'Pricing Viewed', timestamp: new Date(t0).toISOString() };
			const first = await signed(engine, order);
			expect(first.accepted[0].decision).toMatchObject({ status: 'pending' });
			// Within the window the repeat is a duplicate; past it the mark is gone, and the event is too old to act on.
			clock.at = new Date(t0 + 71 * HOUR).toISOString();
			expect((await signed(engine, order)).body).toMatchObject({ accepted: 0, duplicates: 1 });
			clock.at = new Date(t0 + 80 * HOUR).toISOString();
			const replayed = (await signed(engine, order)).accepted[0].decision;
			expect(replayed).toMatchObject({ status: 'suppressed', reason: 'EVENT_TOO_OLD' });
			expect(replayed.explanation).toMatch(/more than dedupWindowHours \(72 h\) before it arrived/);
			// A backfill: events of last week arriving now. The profile takes them; no message starts.
			const backfill = await signed(engine, { type: 'identify', messageId: 'm-old', userId: 'u-replay', traits: { plan: 'pro' }, timestamp: new Date(t0 + 2 * HOUR).toISOString() });
			expect(backfill.accepted[0].decision).toMatchObject({ status: 'suppressed', reason: 'EVENT_TOO_OLD' });
			expect((await engine.getProfile(replayed.contactId))?.traits.plan).toBe('pro');
			// A fresh event of the same contact starts one, as always.
			const fresh = await signed(engine, { ...order, messageId: 'm-new', timestamp: clock.at });
			expect(fresh.accepted[0].decision).toMatchObject({ status: 'pending' });
		}, { dedupWindowHours: 72, journeys: { nurture: { triggers: ['Pricing Viewed', 'identify'] } } }, new Date(t0).toISOString());
	});
});
