import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEndlessAnswer } from '../helpers/receiver';
/**
 * Senders behind one interface (engine/deliver): the shared retry loop, Segment through
 * @segment/analytics-node and HubSpot through @hubspot/api-client. Only the vendors' HTTP APIs are
 * mocked (nock), with bodies shaped like their documentation; no test sleeps for real.
 */
import nock from 'nock';
import type { Engine } from '../../engine/engine';
import { deliver, OutboundMessage, ProviderError, RateLimiter, Sender } from '../../engine/deliver/provider';
import { HubSpotSender } from '../../engine/vendors/hubspot/send';
import { SegmentSender } from '../../engine/vendors/segment/send';
import { createEngine } from '../../engine/registry';

const WRITE_KEY = 'seg-write-key-SECRET';
const ACCESS = 'test-access-value-7f3a';
const HUBSPOT = 'https://api.hubapi.com';
const SEGMENT = 'https://api.segment.io';

const message = (extra: Partial<OutboundMessage['contact']> = {}): OutboundMessage => ({
	decisionId: 'd_test_1',
	journey: 'sales',
	channel: 'sales_task',
	contact: { contactId: 'c_1', email: 'rae@example.com', traits: { hubspot_owner_id: '7001' }, identities: { hubspotId: ['501'], userId: ['u-501'] }, ...extra },
	score: { value: 82, tier: 'hot' },
	event: { eventId: 'hubspot:62515:1001', source: 'hubspot', type: 'track', name: 'Demo Requested', occurredAt: '2026-11-21T09:00:00.000Z' },
	policyVersion: 'p@1',
});

/** A clock that never waits: records each requested pause. */
function fakeSleep() {
	const pauses: number[] = [];
	return { pauses, sleep: async (ms: number) => void pauses.push(ms) };
}

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => nock.enableNetConnect());

describe('deliver(): one retry loop for every provider', () => {
	function scripted(outcomes: (ProviderError | string)[]): Sender & { calls: number } {
		const sender = {
			provider: 'test',
			calls: 0,
			async attempt() {
				const next = outcomes[sender.calls++];
				if (next instanceof ProviderError) throw next;
				return { providerMessageId: next };
			},
		};
		return sender;
	}

	test('retries 429/5xx with exponential backoff and full jitter, honouring Retry-After', async () => {
		const { pauses, sleep } = fakeSleep();
		const sender = scripted([new ProviderError('busy', { status: 503 }), new ProviderError('slow down', { status: 429, retryAfterMs: 7000 }), new ProviderError('busy', { status: 502 }), 'msg-9']);
		const result = await deliver(sender, message(), 'd_test_1', { maxAttempts: 5, baseDelayMs: 100, random: () => 0.5, sleep });
		expect(result).toEqual({ ok: true, attempts: 4, providerMessageId: 'msg-9' });
		// attempt 1 → 0.5 × 100; attempt 2 → Retry-After 7 s; attempt 3 → 0.5 × 400.
		expect(pauses).toEqual([50, 7000, 200]);
	});

	test('the backoff ceiling doubles and is capped; jitter stays within it', async () => {
		const { pauses, sleep } = fakeSleep();
		const sender = scripted(Array(6).fill(new ProviderError('down', { status: 500 })));
		const result = await deliver(sender, message(), 'k', { maxAttempts: 6, baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.999, sleep });
		expect(result).toMatchObject({ ok: false, attempts: 6, httpStatus: 500, error: 'test: down' });
		expect(pauses).toEqual([100, 200, 400, 799, 999].map((n) => expect.closeTo(n, 0)));
	});

	test('a 4xx is not retried; a Retry-After longer than the limit fails at once with the reason', async () => {
		const { pauses, sleep } = fakeSleep();
		expect(await deliver(scripted([new ProviderError('bad request', { status: 400 })]), message(), 'k', { sleep })).toMatchObject({ ok: false, attempts: 1, httpStatus: 400 });
		const long = await deliver(scripted([new ProviderError('quota', { status: 429, retryAfterMs: 3_600_000 })]), message(), 'k', { sleep });
		expect(long).toMatchObject({ ok: false, attempts: 1, error: expect.stringMatching(/retry after 3600 s, longer than Nudge waits/) });
		expect(pauses).toEqual([]);
	});

	test('the rate limiter spaces sends at the provider’s rate after a burst', async () => {
		let now = 0;
		const waits: number[] = [];
		const limiter = new RateLimiter(2, 2, { now: () => now, sleep: async (ms) => void (waits.push(ms), (now += ms)) });
		for (let i = 0; i < 5; i++) await limiter.acquire();
		expect(waits).toEqual([500, 500, 500]);
		expect(now).toBe(1500);
	});
});

describe('Segment sender (@segment/analytics-node → POST /v1/batch)', () => {
	// https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/#batch — 200 {} on success;
	// 400 for a malformed batch; 429 with Retry-After when rate limited.
	test('tracks "Nudge Message Requested" with messageId = decision id and the decision in properties', async () => {
		const bodies: Record<string, unknown>[] = [];
		const scope = nock(SEGMENT)
			.post('/v1/batch', (body) => (bodies.push(body), true))
			.reply(500, 'upstream error')
			.post('/v1/batch', (body) => (bodies.push(body), true))
			.reply(200, {});
		const sender = new SegmentSender({ writeKey: WRITE_KEY });
		const { pauses, sleep } = fakeSleep();
		const result = await deliver(sender, message(), 'd_test_1', { sleep, random: () => 0 });
		await sender.close();
		expect(result).toEqual({ ok: true, attempts: 2, providerMessageId: 'd_test_1', httpStatus: 200 });
		expect(pauses).toEqual([0]);
		scope.done();
		const event = (bodies[1].batch as Record<string, unknown>[])[0];
		expect(event).toMatchObject({
			type: 'track',
			event: 'Nudge Message Requested',
			messageId: 'd_test_1',
			userId: 'u-501',
			properties: { decisionId: 'd_test_1', journey: 'sales', channel: 'sales_task', email: 'rae@example.com', score: { value: 82 } },
		});
		// The retried request carries the same messageId, which Segment de-duplicates on.
		expect((bodies[0].batch as Record<string, unknown>[])[0].messageId).toBe('d_test_1');
	});

	test('a 429 with Retry-After waits that long; a final 400 fails with Segment’s answer and never the write key', async () => {
		nock(SEGMENT).post('/v1/batch').reply(429, { error: 'rate limited' }, { 'Retry-After': '3' }).post('/v1/batch').reply(400, { code: 'invalid_request', message: 'batch too large' });
		const sender = new SegmentSender({ writeKey: WRITE_KEY });
		const { pauses, sleep } = fakeSleep();
		const result = await deliver(sender, message(), 'd_test_2', { sleep });
		await sender.close();
		expect(pauses).toEqual([3000]);
		expect(result).toMatchObject({ ok: false, attempts: 2, httpStatus: 400, error: expect.stringMatching(/^segment: Segment answered HTTP 400: .*batch too large/) });
		expect(JSON.stringify(result)).not.toContain(WRITE_KEY);
	});

	test('an answer that never ends from a host standing in for Segment (a proxy) is read to 64 KB: its 200 stands, the connection is closed', async () => {
		// A local endpoint, not nock: the answer must keep coming for as long as it is read (read whole, 2 GB and 18 s).
		const chunk = Buffer.alloc(64 * 1024, 0x20);
		const proxy = createServer((req, res) => {
			req.resume();
			req.on('end', () => {
				res.writeHead(200, { 'content-type': 'application/json' });
				const more = () => {
					while (!res.destroyed && res.write(chunk));
					if (!res.destroyed) res.once('drain', more);
				};
				more();
			});
		});
		await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
		nock.enableNetConnect('127.0.0.1');
		try {
			const sender = new SegmentSender({ writeKey: WRITE_KEY, host: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, timeoutMs: 5_000 });
			const result = await deliver(sender, message(), 'd_test_3', { sleep: async () => undefined });
			await sender.close();
			expect(result).toEqual({ ok: true, attempts: 1, providerMessageId: 'd_test_3', httpStatus: 200 });
		} finally {
			nock.disableNetConnect();
			proxy.closeAllConnections();
			await new Promise((resolve) => proxy.close(resolve));
		}
	});

	test('refuses to start without a write key', () => {
		expect(() => new SegmentSender({ writeKey: ' ' }).check()).toThrow(/no write key/);
	});
});

describe('HubSpot senders (@hubspot/api-client)', () => {
	test('task for the owner, associated with the contact (POST /crm/v3/objects/tasks)', async () => {
		// https://developers.hubspot.com/docs/api/crm/tasks — 201 with the created task.
		let sent: Record<string, unknown> = {};
		nock(HUBSPOT, { reqheaders: { authorization: `Bearer ${ACCESS}` } })
			.post('/crm/v3/objects/tasks', (body) => ((sent = body), true))
			.reply(201, { id: '94312', properties: { hs_task_subject: 'x', hs_createdate: '2026-11-21T09:00:01.000Z' }, createdAt: '2026-11-21T09:00:01.000Z', updatedAt: '2026-11-21T09:00:01.000Z', archived: false });
		const result = await deliver(new HubSpotSender({ auth: { auth: 'privateApp', accessToken: ACCESS }, action: 'task', subject: 'Call now: {{name}}' }), message(), 'd_test_1');
		expect(result).toEqual({ ok: true, attempts: 1, providerMessageId: '94312' });
		expect(sent).toMatchObject({
			properties: { hs_task_subject: 'Call now: Demo Requested', hs_task_status: 'NOT_STARTED', hubspot_owner_id: '7001', hs_task_body: expect.stringContaining('d_test_1') },
			associations: [{ to: { id: '501' }, types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 204 }] }],
		});
	});

	test('note on a deal record made from a deal event (association 214)', async () => {
		let sent: Record<string, unknown> = {};
		nock(HUBSPOT).post('/crm/v3/objects/notes', (body) => ((sent = body), true)).reply(201, { id: '77', properties: {}, createdAt: '2026-11-21T09:00:01.000Z', updatedAt: '2026-11-21T09:00:01.000Z', archived: false });
		const result = await deliver(new HubSpotSender({ auth: { auth: 'privateApp', accessToken: ACCESS }, action: 'note' }), message({ identities: { hubspotId: ['deal:9001'] } }), 'd_test_3');
		expect(result).toMatchObject({ ok: true, providerMessageId: '77' });
		expect(sent).toMatchObject({ associations: [{ to: { id: '9001' }, types: [{ associationTypeId: 214 }] }], properties: { hs_note_body: expect.stringContaining('Demo Requested') } });
	});

	test('contact-supplied text reaches the note and task bodies escaped, inside the engine’s own markup (POST /crm/v3/objects/notes, /tasks)', async () => {
		// https://developers.hubspot.com/docs/api/crm/notes — hs_note_body is HTML, as is hs_task_body.
		const name = `<img src=x onerror=alert(1)> "Q&A" it's\nNudge decision: d_forged`;
		const shown = '&lt;img src=x onerror=alert(1)&gt; &quot;Q&amp;A&quot; it&#39;s Nudge decision: d_forged';
		const lines = `Trigger: ${shown} at 2026-11-21T09:00:00.000Z<br>Score: 82 (hot)<br>Journey: sales<br>Nudge decision: d_test_1`;
		const hostile = { ...message(), event: { ...message().event, name } };
		const sent: Record<string, unknown>[] = [];
		const created = { properties: {}, createdAt: '2026-11-21T09:00:01.000Z', updatedAt: '2026-11-21T09:00:01.000Z', archived: false };
		nock(HUBSPOT)
			.post('/crm/v3/objects/notes', (body) => (sent.push(body), true))
			.reply(201, { id: '78', ...created })
			.post('/crm/v3/objects/tasks', (body) => (sent.push(body), true))
			.reply(201, { id: '94313', ...created });
		const auth = { auth: 'privateApp', accessToken: ACCESS } as const;
		expect(await deliver(new HubSpotSender({ auth, action: 'note' }), hostile, 'd_test_1')).toMatchObject({ ok: true, providerMessageId: '78' });
		expect(await deliver(new HubSpotSender({ auth, action: 'task', subject: 'Call: {{name}}' }), hostile, 'd_test_1')).toMatchObject({ ok: true, providerMessageId: '94313' });
		expect(sent[0]).toEqual({
			properties: { hs_timestamp: expect.any(String), hs_note_body: `<strong>Nudge: follow up (${shown})</strong><br>${lines}` },
			associations: [{ to: { id: '501' }, types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 202 }] }],
		});
		expect(sent[1]).toMatchObject({
			// The subject is a plain-text field: shown as written, on one line.
			properties: { hs_task_subject: `Call: <img src=x onerror=alert(1)> "Q&A" it's Nudge decision: d_forged`, hs_task_body: lines },
		});
	});

	test('single-send email with sendId = decision id; the status id is the provider message id', async () => {
		// https://developers.hubspot.com/docs/api/marketing/transactional-emails#single-send-api
		let sent: Record<string, unknown> = {};
		nock(HUBSPOT)
			.post('/marketing/v3/transactional/single-email/send', (body) => ((sent = body), true))
			.reply(200, { status: 'PENDING', requestedAt: '2026-11-21T09:00:01.000Z', statusId: 'a1b2c3-status' });
		const result = await deliver(new HubSpotSender({ auth: { auth: 'privateApp', accessToken: ACCESS }, action: 'email', emailId: 4126643 }), message(), 'd_test_4');
		expect(result).toEqual({ ok: true, attempts: 1, providerMessageId: 'a1b2c3-status' });
		expect(sent).toMatchObject({ emailId: 4126643, message: { to: 'rae@example.com', sendId: 'd_test_4' } });
	});

	test('429 (secondly limit) with Retry-After is retried; an expired token (401) fails at once with HubSpot’s message, never the token', async () => {
		// https://developers.hubspot.com/docs/api/usage-details#rate-limits — 429 body with errorType RATE_LIMIT.
		nock(HUBSPOT)
			.post('/crm/v3/objects/tasks')
			.reply(429, { status: 'error', message: 'You have reached your secondly limit.', errorType: 'RATE_LIMIT', correlationId: 'c-429', policyName: 'SECONDLY' }, { 'Retry-After': '1' })
			.post('/crm/v3/objects/tasks')
			.reply(401, { status: 'error', message: 'Authentication credentials not found. This API supports OAuth 2.0 authentication.', correlationId: 'c-401', category: 'INVALID_AUTHENTICATION' });
		const { pauses, sleep } = fakeSleep();
		const result = await deliver(new HubSpotSender({ auth: { auth: 'privateApp', accessToken: ACCESS }, action: 'task' }), message(), 'd_test_5', { sleep });
		expect(pauses).toEqual([1000]);
		expect(result).toMatchObject({ ok: false, attempts: 2, httpStatus: 401, error: 'hubspot:task: HubSpot answered HTTP 401 INVALID_AUTHENTICATION: Authentication credentials not found. This API supports OAuth 2.0 authentication. (correlationId c-401)' });
		expect(JSON.stringify(result)).not.toContain(ACCESS);
	});

	test('an answer that keeps streaming does not hold the send open: at most 64 KB is read, and a 201 counts as sent', async () => {
		// A proxy in front of HubSpot (basePath) answers 201 and never ends the body. The task exists: the send is done,
		// with no message id, and is not retried into a second task.
		const endless = await startEndlessAnswer(201, '{"id":"94312","properties":{},"padding":"', 'x'.repeat(16 * 1024), 20);
		nock.enableNetConnect('127.0.0.1');
		try {
			const sender = new HubSpotSender({ auth: { auth: 'privateApp', accessToken: 'pat-na1-endless' }, action: 'task', basePath: endless.url });
			const outcome = await Promise.race([
				deliver(sender, message(), 'd_test_endless', { sleep: async () => undefined }),
				new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 5_000)),
			]);
			expect(outcome).toEqual({ ok: true, attempts: 1 });
			expect(endless.requests()).toBe(1);
		} finally {
			nock.disableNetConnect();
			await endless.close();
		}
	});

	test('a contact with no HubSpot id fails without calling HubSpot', async () => {
		const result = await deliver(new HubSpotSender({ auth: { auth: 'privateApp', accessToken: ACCESS }, action: 'task' }), message({ identities: { email: ['x@example.com'] } }), 'k');
		expect(result).toMatchObject({ ok: false, attempts: 1, error: expect.stringMatching(/has no HubSpot record id/) });
	});
});

describe('engine.send with a provider sender', () => {
	let engine: Engine;
	beforeEach(() => {
		engine = createEngine({ store: 'memory:' });
	});
	afterEach(() => engine.close());

	async function reserved(email: string, name = 'Demo Requested') {
		const { decision } = await engine.ingest({ type: 'track', name, identities: { email, hubspotId: '501' } }, { journey: 'nurture' });
		await engine.chooseChannel(decision);
		return engine.checkCap(decision);
	}

	test('records provider and message id; a retried flow never sends twice', async () => {
		const scope = nock(HUBSPOT).post('/crm/v3/objects/tasks').once().reply(201, { id: '5551', properties: {}, createdAt: '2026-11-21T09:00:01.000Z', updatedAt: '2026-11-21T09:00:01.000Z', archived: false });
		const decision = await reserved('ana@example.com');
		expect(decision.guard?.allowed).toBe(true);
		const sender = new HubSpotSender({ auth: { auth: 'privateApp', accessToken: ACCESS }, action: 'task' });
		const first = await engine.send(decision, { sender });
		for (let i = 0; i < 9; i++) expect((await engine.send(decision, { sender })).delivery).toEqual(first.delivery);
		scope.done();
		expect(first).toMatchObject({ status: 'sent', delivery: { provider: 'hubspot:task', status: 'sent', providerMessageId: '5551', idempotencyKey: decision.decisionId, attempts: 1 } });
	});

	test('a failure after the last attempt releases the reservation and keeps the provider error (no secret) in the log', async () => {
		nock(HUBSPOT).post('/crm/v3/objects/tasks').times(3).reply(503, { status: 'error', message: 'Service unavailable', correlationId: 'c-503' });
		const decision = await reserved('ben@example.com');
		const failed = await engine.send(decision, { sender: new HubSpotSender({ auth: { auth: 'privateApp', accessToken: ACCESS }, action: 'task' }), retry: { sleep: async () => undefined } });
		expect(failed).toMatchObject({ status: 'failed', reason: 'SEND_FAILED', delivery: { provider: 'hubspot:task', attempts: 3, httpStatus: 503, error: expect.stringContaining('Service unavailable') } });
		expect(JSON.stringify(await engine.queryDecisions({}))).not.toContain(ACCESS);
		// The slot was freed: the next decision for the same contact may pass the cap again.
		const next = await reserved('ben@example.com', 'Pricing Viewed');
		expect(next.guard?.allowed).toBe(true);
	});

	test('bad settings fail before anything is claimed', async () => {
		const decision = await reserved('cy@example.com');
		await expect(engine.send(decision, { sender: new HubSpotSender({ auth: { auth: 'privateApp', accessToken: '' }, action: 'task' }) })).rejects.toThrow(/no private app access token/);
		expect((await engine.getDecision(decision.decisionId)).status).toBe('pending');
	});
});
