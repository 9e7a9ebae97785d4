import { NudgeError } from '../../engine/errors';
import { normalizeEvent } from '../../engine/events/normalize';
import { signatureHeaders, signPayload, verifySignedRequest } from '../../engine/events/signature';
import { createEngine } from '../../engine/registry';
import { normalizeConsent } from '../../engine/events/consent';

const now = new Date('2026-11-21T10:00:00.000Z');

describe('normalizeEvent: Nudge format', () => {
	test('fills the id, source and times, and lower-cases the email', () => {
		const e = normalizeEvent({ type: 'track', name: 'Demo Requested', identities: { email: 'Ana@Example.COM' } }, { now });
		expect(e).toMatchObject({ source: 'nudge', type: 'track', name: 'Demo Requested', occurredAt: now.toISOString(), identities: { email: 'ana@example.com' } });
		expect(e.eventId).toMatch(/^evt_[0-9a-f]{16}$/);
		// The same payload gets the same id, so a re-sent event is recognised.
		expect(normalizeEvent({ type: 'track', name: 'Demo Requested', identities: { email: 'Ana@Example.COM' } }, { now }).eventId).toBe(e.eventId);
	});

	test('accepts JSON text', () => {
		expect(normalizeEvent('{"type":"identify","identities":{"userId":"u1"},"traits":{"plan":"pro"}}').traits).toEqual({ plan: 'pro' });
	});

	test.each([
		['not JSON', '{oops', /Event is not valid JSON/],
		['not an object', [1, 2], /must be a JSON object/],
		['no contact', { type: 'track', name: 'X', identities: {} }, /identities: the event names no contact/],
		['bad email', { type: 'identify', identities: { email: 'nope' } }, /identities.email: is not a valid email address/],
		['track without name', { type: 'track', identities: { userId: 'u' } }, /name: a track event needs a name/],
		['bad type', { type: 'purchase', identities: { userId: 'u' } }, /type: /],
		['bad date', { type: 'identify', identities: { userId: 'u' }, occurredAt: 'yesterday' }, /occurredAt: must be an ISO 8601 date-time/],
		['unknown identity', { type: 'identify', identities: { phone: '+1' } }, /identities: /],
	])('rejects %s with a message naming the field', (_label, raw, message) => {
		expect(() => normalizeEvent(raw)).toThrow(NudgeError);
		expect(() => normalizeEvent(raw)).toThrow(message);
	});
});

describe('normalizeEvent: Segment spec format', () => {
	test('identify: userId, anonymousId, traits, context timezone, messageId as event id', () => {
		const e = normalizeEvent({
			type: 'identify',
			messageId: 'm-1',
			userId: 97980,
			anonymousId: 'anon-1',
			traits: { email: 'Peter@Example.com', name: 'Peter Gibbons' },
			context: { timezone: 'Europe/Amsterdam', traits: { plan: 'trial' } },
			timestamp: '2026-11-20T09:00:00Z',
		});
		expect(e).toMatchObject({
			eventId: 'm-1',
			source: 'segment',
			type: 'identify',
			// Kept in one form: UTC with milliseconds.
			occurredAt: '2026-11-20T09:00:00.000Z',
			identities: { userId: '97980', anonymousId: 'anon-1', email: 'peter@example.com' },
			traits: { email: 'Peter@Example.com', name: 'Peter Gibbons', plan: 'trial', timezone: 'Europe/Amsterdam' },
		});
	});

	test('track uses `event` as the name and keeps properties', () => {
		const e = normalizeEvent({ type: 'track', event: 'Order Completed', userId: 'u1', properties: { revenue: 42 }, messageId: 'm-2' });
		expect(e).toMatchObject({ name: 'Order Completed', properties: { revenue: 42 }, identities: { userId: 'u1' } });
	});

	test('rejects a Segment call without userId or anonymousId, or a track without event', () => {
		expect(() => normalizeEvent({ type: 'track', event: 'X', messageId: 'm' })).toThrow(/Segment event is not valid: userId: a Segment event needs a userId or an anonymousId/);
		expect(() => normalizeEvent({ type: 'track', userId: 'u', messageId: 'm' })).toThrow(/event: a Segment track call needs an event name/);
	});
});

describe('signed webhooks', () => {
	const secret = 's3cret';
	const body = Buffer.from('{"type":"identify","identities":{"userId":"u1"}}');

	test('a correctly signed, fresh request passes', () => {
		expect(() => verifySignedRequest(secret, body, signatureHeaders(secret, body, now), now)).not.toThrow();
	});

	test('the signature covers the timestamp and every byte of the body', () => {
		const headers = signatureHeaders(secret, body, now);
		const tampered = Buffer.from(body.toString().replace('u1', 'u2'));
		expect(() => verifySignedRequest(secret, tampered, headers, now)).toThrow(/Signature does not match/);
		const shifted = { ...headers, 'x-nudge-timestamp': String(Number(headers['x-nudge-timestamp']) - 1) };
		expect(() => verifySignedRequest(secret, body, shifted, now)).toThrow(/Signature does not match/);
		expect(() => verifySignedRequest('other', body, headers, now)).toThrow(/same signing secret/);
	});

	test('rejects stale or future timestamps, missing headers, odd lengths and a missing secret, all with 401', () => {
		const old = new Date(now.getTime() - 5 * 60_000 - 1000);
		const cases: [string, Record<string, unknown>, Buffer | undefined, RegExp][] = [
			[secret, signatureHeaders(secret, body, old), body, /more than 5 minutes/],
			[secret, signatureHeaders(secret, body, new Date(now.getTime() + 6 * 60_000)), body, /more than 5 minutes/],
			[secret, {}, body, /Missing x-nudge-signature/],
			[secret, { 'x-nudge-timestamp': String(now.getTime() / 1000), 'x-nudge-signature': 'v1=abc' }, body, /Signature does not match/],
			[secret, { 'x-nudge-timestamp': 'soon', 'x-nudge-signature': 'v1=abc' }, body, /Unix time in seconds/],
			['', signatureHeaders(secret, body, now), body, /No signing secret is configured/],
			[secret, signatureHeaders(secret, body, now), undefined, /raw request body is not available/],
		];
		for (const [s, headers, raw, message] of cases) {
			let caught: unknown;
			try {
				verifySignedRequest(s, raw, headers, now);
			} catch (error) {
				caught = error;
			}
			expect(caught).toBeInstanceOf(NudgeError);
			expect((caught as NudgeError).httpStatus).toBe(401);
			expect((caught as Error).message).toMatch(message);
		}
	});

	test('the signature is hex HMAC-SHA256 of "<timestamp>.<body>" (known vector)', () => {
		// Computed independently: printf '1700000000.hello' | openssl dgst -sha256 -hmac key
		expect(signPayload('key', 'hello', 1_700_000_000)).toBe('4d583a269f4f276a3fa80ff31b5a01879a848096983222a17893d198418939aa');
	});
});

describe('consent as senders write it', () => {
	const identify = (consent: unknown) => ({ type: 'identify', identities: { userId: 'u1' }, traits: { consent } });

	test.each([
		['opted-out', 'opted_out'],
		['OPTED_OUT', 'opted_out'],
		['Opted Out', 'opted_out'],
		['unsubscribed', 'opted_out'],
		[false, 'opted_out'],
		['opt-in', 'opted_in'],
		['subscribed', 'opted_in'],
		[true, 'opted_in'],
		['Unknown', 'unknown'],
	])('%j is read as %s', (written, state) => {
		expect(normalizeEvent(identify({ email: written }), { now }).traits.consent).toEqual({ email: state });
	});

	test('a channel in any case is the channel; a key that is no channel is kept as given', () => {
		expect(normalizeEvent(identify({ Email: 'opted_out', 'In-App': 'opted_in', whatsapp: 'maybe' }), { now }).traits.consent).toEqual({ email: 'opted_out', in_app: 'opted_in', whatsapp: 'maybe' });
	});

	test('a state that is none is refused, naming the field, in both formats: neither mailed against a "no" nor silenced against a "yes"', () => {
		expect(() => normalizeEvent(identify({ email: 'maybe later' }), { now })).toThrow(/Event is not valid: traits\.consent\.email: "maybe later" is not a consent state: use "opted_in", "opted_out" or "unknown"/);
		expect(() => normalizeEvent({ type: 'identify', userId: 'u1', messageId: 'm1', traits: { consent: { sms: 2 } } }, { now })).toThrow(/traits\.consent\.sms: 2 is not a consent state/);
		expect(() => normalizeEvent(identify('opted_out'), { now })).toThrow(/traits\.consent: must be an object of channel to state/);
	});

	test('one channel written twice with different states is refused: an opt-out is never turned into an opt-in by a second spelling', () => {
		expect(() => normalizeEvent(identify({ email: 'opted_out', Email: 'yes' }), { now })).toThrow(/traits\.consent\.Email: says "opted_in" for email, which "email" says is "opted_out": give the channel once/);
		expect(normalizeEvent(identify({ email: 'opted_out', Email: 'Opted-Out' }), { now }).traits.consent).toEqual({ email: 'opted_out' });
	});

	test('a key named __proto__ (refused in events already) is kept as a key by the consent reader, never made its prototype', () => {
		const consent = normalizeConsent(JSON.parse('{"__proto__":{"email":"opted_in"},"sms":"opted_out"}')).consent!;
		expect(Object.getPrototypeOf(consent)).toBe(Object.prototype);
		expect(consent.email).toBeUndefined();
		expect(consent.sms).toBe('opted_out');
	});

	test('an opt-out written "opted-out" keeps the contact from being emailed', async () => {
		const engine = createEngine({ store: 'memory:', policy: { channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } } } });
		try {
			const decision = await engine.decide({ type: 'track', name: 'Cart Updated', identities: { userId: 'u-out' }, traits: { email: 'out@example.com', consent: { email: 'opted-out' } } }, { journey: 'nurture', target: { dryRun: true } });
			expect(decision).toMatchObject({ status: 'suppressed', reason: 'NO_CONSENT' });
			expect((await engine.getProfile(decision.contactId))!.consent).toMatchObject({ email: 'opted_out' });
		} finally {
			await engine.close();
		}
	});
});
