/**
 * Event timestamps that pass the ISO 8601 check but are not times, and timestamps in other offsets.
 * Bad input must be refused with a clear error naming the field (400, nothing stored); accepted input must not
 * corrupt state or poison the sender's retries.
 */
import { join } from 'node:path';
import { Engine } from '../../engine/engine';
import { receiveSignedEvents } from '../../engine/events/receive';
import { normalizeEvent } from '../../engine/events/normalize';
import { signatureHeaders } from '../../engine/events/signature';
import { applyInactivityRules, fireDueTimers, parseInactivityRules } from '../../engine/events/timers';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import type { PolicyInput } from '../../engine/policy/schema';
import { createEngine } from '../../engine/registry';
import { MemoryStore } from '../../engine/store/memory';
import { tempDir } from '../helpers/fixtures';

const SECRET = 'timestamps-signing-secret';
const NOT_A_TIME = '2026-01-01T00:00:00+99:99';

describe('event timestamps that are not times', () => {
	test('normalizeEvent refuses occurredAt with a +99:99 offset (Date.parse gives NaN), naming the field', () => {
		expect(Number.isNaN(Date.parse(NOT_A_TIME))).toBe(true);
		expect(() => normalizeEvent({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' }, occurredAt: NOT_A_TIME })).toThrow(/occurredAt/);
	});

	test('a Segment event whose timestamp has a +99:99 offset is refused, naming timestamp', () => {
		expect(() => normalizeEvent({ type: 'track', event: 'Pricing Viewed', userId: 'u1', messageId: 'm1', timestamp: NOT_A_TIME })).toThrow(/timestamp/);
	});

	test('with a timed negative trigger, such an event is a 400, not a 503 the sender retries for ever', async () => {
		const policy = loadPolicy({ ...DEFAULT_POLICY, negativeTriggers: [{ id: 'recent-purchase', events: ['Order Completed'], timeout: '7d' }] } as PolicyInput);
		const engine = new Engine({ store: new MemoryStore(), policy });
		const body = JSON.stringify({ eventId: 'e-poison', type: 'track', name: 'Order Completed', identities: { email: 'ana@example.com' }, occurredAt: NOT_A_TIME });
		const answers = [];
		for (let i = 0; i < 3; i++) answers.push(await receiveSignedEvents(engine, { rawBody: body, headers: signatureHeaders(SECRET, body) }, { secret: SECRET, journey: 'nurture' }));
		expect(answers.map((a) => a.status)).toEqual([400, 400, 400]);
		expect(String(answers[0].body.error)).toMatch(/occurredAt/);
		await engine.close();
	});

	test('with a timed negative trigger, one such event in a batch does not keep the good events after it out for ever', async () => {
		const policy = loadPolicy({ ...DEFAULT_POLICY, negativeTriggers: [{ id: 'recent-purchase', events: ['Order Completed'], timeout: '7d' }] } as PolicyInput);
		const engine = new Engine({ store: new MemoryStore(), policy });
		const ev = (eventId: string, email: string, occurredAt?: string) => ({ eventId, type: 'track', name: 'Order Completed', identities: { email }, ...(occurredAt ? { occurredAt } : {}) });
		const body = JSON.stringify([ev('good-1', 'ana@example.com'), ev('poison', 'eve@example.com', NOT_A_TIME), ev('good-2', 'ben@example.com')]);
		// The sender retries as told (503: "Retry the request"), three times.
		for (let i = 0; i < 3; i++) await receiveSignedEvents(engine, { rawBody: body, headers: signatureHeaders(SECRET, body) }, { secret: SECRET, journey: 'nurture' });
		// Refused whole, naming the event and its field: nothing stored, nothing left half taken in.
		const answer = await receiveSignedEvents(engine, { rawBody: body, headers: signatureHeaders(SECRET, body) }, { secret: SECRET, journey: 'nurture' });
		expect(answer.status).toBe(400);
		expect(String(answer.body.error)).toMatch(/occurredAt/);
		expect(await engine.queryDecisions({})).toEqual([]);
		await engine.close();
	});

	test('an inactivity timer started by such an event is not silently lost (memory store: due time NaN, never fires)', async () => {
		const engine = createEngine({ store: 'memory:' });
		const rules = parseInactivityRules([{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' }]);
		let refused: unknown;
		try {
			const r = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'ana@example.com' }, occurredAt: NOT_A_TIME }, { journey: 'cart' });
			await applyInactivityRules(engine, [r], rules);
		} catch (error) {
			refused = error;
		}
		expect(String((refused as Error | undefined)?.message)).toMatch(/occurredAt/);
		// Nothing waits: no timer with a due time that is not a time.
		const { fired } = await fireDueTimers(engine, Date.parse('2100-01-01T00:00:00Z'));
		expect(fired).toEqual([]);
		await engine.close();
	});
});

describe('event timestamps in another offset (valid ISO 8601)', () => {
	test("a contact's lastSeenAt is the latest event in time, not the greatest text", async () => {
		const engine = createEngine({ store: `sqlite:${join(tempDir(), 't.db')}` });
		// 10:00Z, then an event at 12:00+05:00 = 07:00Z (three hours EARLIER).
		await engine.ingest({ eventId: 'a', type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' }, occurredAt: '2026-11-21T10:00:00Z' });
		const { profile } = await engine.ingest({ eventId: 'b', type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' }, occurredAt: '2026-11-21T12:00:00+05:00' });
		expect(Date.parse(profile!.lastSeenAt)).toBe(Date.parse('2026-11-21T10:00:00Z'));
		expect(Date.parse(profile!.firstSeenAt)).toBe(Date.parse('2026-11-21T07:00:00Z'));
		await engine.close();
	});
});

describe('event times ahead of the clock that receives them', () => {
	const DAY = 86_400_000;
	const track = (occurredAt: string, extra: Record<string, unknown> = {}) => ({ type: 'track', name: 'Demo Requested', identities: { email: 'skewed@example.org' }, occurredAt, ...extra });

	test('a contact whose event was dated 180 years ahead (a device clock set wrong) is seen when it was received, and erased once inactive', async () => {
		const clock = { at: Date.parse('2026-06-01T12:00:00Z') };
		const store = new MemoryStore();
		const engine = new Engine({ store, policy: loadPolicy({ ...DEFAULT_POLICY, retention: { decisions: '400d', inactiveProfiles: '300d' } } as PolicyInput), now: () => new Date(clock.at) });
		const d = await engine.decide(track('2206-06-01T12:00:00Z'), { journey: 'nurture', target: { dryRun: true } });
		expect(d.event.occurredAt).toBe('2026-06-01T12:00:00.000Z');
		expect((await store.getProfile(d.contactId))?.lastSeenAt).toBe('2026-06-01T12:00:00.000Z');
		clock.at += 1000 * DAY;
		expect((await engine.runRetention()).counts.profiles).toBe(1);
		expect(await store.getProfile(d.contactId)).toBeUndefined();
		await engine.close();
	});

	test('an opt-out dated next year does not outrank the opt-in the person states today', async () => {
		const clock = { at: Date.parse('2026-06-01T12:00:00Z') };
		const store = new MemoryStore();
		const engine = new Engine({ store, policy: loadPolicy(DEFAULT_POLICY), now: () => new Date(clock.at) });
		await engine.ingest({ ...track('2027-06-01T12:00:00Z'), type: 'identify', traits: { consent: { email: 'opted_out' } } });
		clock.at += 60_000;
		const { profile } = await engine.ingest({ ...track('2026-06-01T12:01:00Z'), type: 'identify', traits: { consent: { email: 'opted_in' } } });
		expect(profile?.consent.email).toBe('opted_in');
		await engine.close();
	});

	test('up to an hour ahead is a clock difference and kept as sent; on the event clock (replay) any time is kept', async () => {
		const now = Date.parse('2026-06-01T12:00:00Z');
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy(DEFAULT_POLICY), now: () => new Date(now) });
		const { decision } = await engine.ingest(track('2026-06-01T12:59:00Z'), { journey: 'nurture' });
		expect(decision.event.occurredAt).toBe('2026-06-01T12:59:00.000Z');
		await engine.close();
		const replay = new Engine({ store: new MemoryStore(), policy: loadPolicy(DEFAULT_POLICY), clock: 'event', now: () => new Date(now) });
		const replayed = await replay.ingest(track('2027-01-01T00:00:00Z'), { journey: 'nurture' });
		expect(replayed.decision.event.occurredAt).toBe('2027-01-01T00:00:00.000Z');
		await replay.close();
	});
});
