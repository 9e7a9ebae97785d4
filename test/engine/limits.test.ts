/** The bounds of an event (docs/webhooks.md#limits), and hostile events through the engine's ingest API. */
import fc from 'fast-check';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { runInNewContext } from 'node:vm';
import { Engine } from '../../engine/engine';
import { NudgeError } from '../../engine/errors';
import { EVENT_LIMITS } from '../../engine/events/limits';
import { normalizeEvent } from '../../engine/events/normalize';
import { SqliteStore } from '../../engine/store/sqlite';
import { tempDir } from '../helpers/fixtures';
import { hostileEvents, nested, nestedJson, wide } from '../helpers/hostileEvents';

const ok = { type: 'identify', identities: { email: 'ana@example.com' } };
const long = (n: number) => 'x'.repeat(n);

describe('event bounds: a clear error that names the field and the limit', () => {
	test.each([
		['a string value', { ...ok, properties: { note: long(20_480) } }, 'properties.note: is 20,480 characters long; the limit is 10,240'],
		['a nested string value', { ...ok, traits: { address: { lines: ['ok', long(10_241)] } } }, 'traits.address.lines.1: is 10,241 characters long; the limit is 10,240'],
		['a key', { ...ok, traits: { [long(101)]: 1 } }, `traits: has a key, "${long(40)}…", that is 101 characters long; the limit is 100`],
		['the event name', { type: 'track', name: long(201), identities: { userId: 'u' } }, 'name: is 201 characters long; the limit is 200'],
		['a Segment event name', { type: 'track', event: long(300), userId: 'u' }, 'event: is 300 characters long; the limit is 200'],
		['the event id', { ...ok, eventId: long(257) }, 'eventId: is 257 characters long; the limit is 256'],
		['a Segment messageId', { type: 'identify', userId: 'u', messageId: long(257) }, 'messageId: is 257 characters long; the limit is 256'],
		['a Segment userId', { type: 'identify', userId: long(257) }, 'userId: is 257 characters long; the limit is 256'],
		['a Segment anonymousId', { type: 'identify', anonymousId: long(999) }, 'anonymousId: is 999 characters long; the limit is 256'],
		['a userId', { type: 'identify', identities: { userId: long(257) } }, 'identities.userId: is 257 characters long; the limit is 256'],
		['a CRM id', { type: 'identify', identities: { salesforceId: long(257) } }, 'identities.salesforceId: is 257 characters long; the limit is 256'],
		['an email address', { type: 'identify', identities: { email: `${long(250)}@example.com` } }, 'identities.email: is 262 characters long; the limit is 254'],
		['nesting', { ...ok, traits: nested(12) }, 'traits.a.a.a.a.a.a.a.a.a.a: is an object or array 11 levels deep (the event is level 0, traits level 1); the limit is 10: flatten it'],
		['the number of fields', { ...ok, properties: { products: wide(1_001) } }, 'properties.products: takes the event over 1,000 fields (keys and array items, counted at every level); the limit is 1,000'],
		['the text in all', { ...ok, properties: Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`p${i}`, long(10_000)])) }, '(root): has over 65,536 characters of keys and text in all; the limit is 65,536'],
		['a __proto__ key', JSON.parse('{"type":"identify","identities":{"userId":"u"},"traits":{"__proto__":{"polluted":1}}}'), 'traits: has the key "__proto__": "__proto__", "constructor" and "prototype" are not allowed as keys; rename it'],
		['a NUL character', { ...ok, traits: { plan: 'pro\u0000' } }, 'traits.plan: contains a NUL character (\\u0000): remove it'],
		['a lone surrogate', { ...ok, traits: { plan: 'pro\ud800' } }, 'traits.plan: is not valid Unicode text (half of a surrogate pair, \\uD800–\\uDFFF, on its own): send UTF-8 text'],
		['a number JSON cannot carry', { ...ok, properties: { revenue: Number.NaN } }, 'properties.revenue: is NaN, which JSON cannot carry: send a finite number'],
		['a value that is not data', { ...ok, properties: { at: new Map() } }, 'properties.at: is a Map, which an event cannot carry: send text, numbers, true/false, null, objects or arrays'],
	])('%s', (_what, raw, message) => {
		expect(() => normalizeEvent(raw)).toThrow(expect.objectContaining({ code: 'INVALID_EVENT', httpStatus: 400, message: expect.stringContaining(message) }));
	});

	test('a HubSpot property name becomes a trait key, so it obeys the key bounds', () => {
		const change = { eventId: 1, portalId: 62515, occurredAt: 1_700_000_000_000, subscriptionType: 'contact.propertyChange', objectId: 123, propertyValue: 'x' };
		const hubspot = (propertyName: string) => () => normalizeEvent({ ...change, propertyName }, { source: 'hubspot' });
		expect(hubspot('__proto__')).toThrow('HubSpot event is not valid: propertyName: is a name Nudge does not take as a trait ("__proto__", "constructor" and "prototype" are not allowed)');
		expect(hubspot(long(101))).toThrow('HubSpot event is not valid: propertyName: is 101 characters long; the limit is 100');
		expect(normalizeEvent({ ...change, propertyName: 'lifecyclestage' }, { source: 'hubspot' }).traits).toEqual({ lifecyclestage: 'x', lifecycle: 'x' });
	});

	test('events at the limits are taken as they are', () => {
		const event = normalizeEvent({
			type: 'track',
			name: long(EVENT_LIMITS.nameChars),
			eventId: long(EVENT_LIMITS.idChars),
			identities: { userId: long(EVENT_LIMITS.idChars), email: `${long(64)}@${'d'.repeat(185)}.com` },
			traits: { [long(EVENT_LIMITS.keyChars)]: long(EVENT_LIMITS.stringChars), deep: nested(9), when: new Date('2026-01-01T00:00:00Z') },
			properties: { products: wide(900) },
		});
		expect(event.identities.email).toHaveLength(EVENT_LIMITS.emailChars);
		expect(event.traits[long(EVENT_LIMITS.keyChars)]).toHaveLength(EVENT_LIMITS.stringChars);
		expect(event.properties.products).toHaveLength(900);
	});

	test('objects made in a sandbox (a Node-RED function node) are data like any other', () => {
		const traits = runInNewContext('({ plan: "pro", since: new Date(0), seats: [1, 2], billing: { country: "NO" } })') as Record<string, unknown>;
		expect(Object.getPrototypeOf(traits)).not.toBe(Object.prototype);
		expect(normalizeEvent({ ...ok, traits }).traits).toMatchObject({ plan: 'pro', seats: [1, 2], billing: { country: 'NO' } });
		expect(() => normalizeEvent({ ...ok, traits: runInNewContext('({ seen: new Set([1]) })') })).toThrow('traits.seen: is a Set, which an event cannot carry');
	});

	test('JSON text over 1 MiB is refused before it is parsed', () => {
		const text = `{"type":"identify","userId":"u","traits":{"x":"${long(EVENT_LIMITS.jsonBytes)}"}}`;
		expect(() => normalizeEvent(text)).toThrow(`The event is ${(text.length).toLocaleString('en-US')} bytes of JSON; the limit is 1,048,576`);
	});
});

describe('hostile events through the ingest API leave the store and the process as they were', () => {
	let dir: string;
	let engine: Engine;
	const counts = () => {
		const db = new DatabaseSync(join(dir, 'hostile.db'), { readOnly: true });
		try {
			return Object.fromEntries(['decisions', 'profiles', 'identities', 'claimed_keys'].map((t) => [t, (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n]));
		} finally {
			db.close();
		}
	};

	beforeAll(async () => {
		dir = tempDir();
		engine = new Engine({ store: new SqliteStore(join(dir, 'hostile.db')) });
		await engine.ingest({ ...ok, eventId: 'seed' });
	});
	afterAll(() => engine.close());

	test.each(Object.entries(hostileEvents()))('%s: refused with INVALID_EVENT, nothing stored', async (_kind, text) => {
		const raw = JSON.parse(text) as Record<string, unknown>;
		const before = counts();
		const single = engine.ingest(raw);
		await expect(single).rejects.toBeInstanceOf(NudgeError);
		await expect(single).rejects.toMatchObject({ code: 'INVALID_EVENT', httpStatus: 400 });
		// In a batch beside a valid event: the whole batch is refused, the valid one is not stored either.
		await expect(engine.ingestBatch([{ ...ok, eventId: `fine-${_kind}` }, raw], { batch: true })).rejects.toMatchObject({
			code: 'INVALID_EVENT',
			message: expect.stringMatching(/^Event 1 of the batch \(counting from 0\) is not valid, so nothing was stored: /),
		});
		expect(counts()).toEqual(before);
		expect(({} as Record<string, unknown>).polluted).toBeUndefined();
	});

	test('a batch of 100,000 events is refused by its size before any event is read', async () => {
		const before = counts();
		let read = 0;
		// Each item counts its reads: the batch must be refused without looking at them.
		const item = { get type() { read++; return 'identify'; }, identities: { userId: 'u' } };
		const batch = new Array<unknown>(100_000).fill(item);
		await expect(engine.ingestBatch(batch, { batch: true })).rejects.toMatchObject({ code: 'INVALID_EVENT', httpStatus: 400, message: 'The batch has 100,000 events; the limit is 1,000. Send smaller batches; nothing was stored' });
		expect(read).toBe(0);
		expect(counts()).toEqual(before);
	});

	test('traits nested 5,000 levels deep blame the input, not the store', async () => {
		const answer = engine.ingest(`{"type":"identify","identities":{"userId":"u"},"traits":${nestedJson(5_000)}}`);
		await expect(answer).rejects.toMatchObject({ code: 'INVALID_EVENT', httpStatus: 400, message: expect.stringMatching(/levels deep .*the limit is 10: flatten it$/) });
		await expect(answer).rejects.not.toMatchObject({ message: expect.stringMatching(/store|\//) });
	});

	test('random payloads: each is taken, or refused with a NudgeError storing nothing; nothing pollutes Object.prototype', async () => {
		const key = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'email', 'name', ''), fc.string({ maxLength: 120 }));
		const leaf = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }), fc.double(), fc.integer(), fc.boolean(), fc.constant(null));
		const { tree } = fc.letrec<{ tree: unknown }>((tie) => ({
			tree: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('tree'), { maxLength: 4 }), fc.dictionary(key, tie('tree'), { maxKeys: 4 })),
		}));
		const payload = fc.record(
			{
				type: fc.oneof(fc.constantFrom('identify', 'track', 'page', 'group', 'alias'), fc.anything()),
				name: fc.oneof(fc.string({ maxLength: 250 }), fc.anything()),
				event: fc.string({ maxLength: 250 }),
				userId: fc.oneof(fc.string({ maxLength: 300 }), fc.integer(), fc.anything()),
				identities: fc.oneof(fc.record({ email: fc.oneof(fc.emailAddress(), fc.string()) }, { requiredKeys: [] }), tree),
				traits: tree,
				properties: tree,
			},
			{ requiredKeys: [] },
		);
		await fc.assert(
			fc.asyncProperty(payload, async (raw) => {
				const before = counts();
				try {
					await engine.ingest(JSON.parse(JSON.stringify(raw)));
				} catch (error) {
					expect(error).toBeInstanceOf(NudgeError);
					expect((error as NudgeError).httpStatus).toBe(400);
					expect(counts()).toEqual(before);
				}
				expect(({} as Record<string, unknown>).polluted).toBeUndefined();
			}),
			{ numRuns: 100 },
		);
	});
});
