/** At-least-once ingest: an event claimed by a process that died before storing it is taken over, not lost. */
import { EVENT_LEASE_MS } from '../../engine/events/eventClaim';
import { Engine } from '../../engine/engine';
import { loadPolicy } from '../../engine/policy/load';
import { MemoryStore } from '../../engine/store/memory';

const T0 = Date.parse('2026-11-21T09:00:00.000Z');
const event = (eventId: string, at: number) => ({ eventId, type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' }, occurredAt: new Date(at).toISOString() });

function engineOn(store: MemoryStore) {
	return new Engine({ store, clock: 'event', policy: loadPolicy() });
}

describe('taking an event in across processes', () => {
	test('an event whose first taker died before storing it is taken in by the next delivery once the lease runs out', async () => {
		const store = new MemoryStore();
		// Another process claimed the event and died (kill -9) before its decision row was stored.
		expect(await store.claimKey('event:e1', EVENT_LEASE_MS, T0)).toBe(true);
		const retried = await engineOn(store).ingest(event('e1', T0 + EVENT_LEASE_MS), { journey: 'nurture' });
		expect(retried.duplicate).toBe(false);
		expect(retried.decision.status).toBe('pending');
		// Stored, so from now on the event is a duplicate for the whole de-duplication window.
		const again = await engineOn(store).ingest(event('e1', T0 + 71 * 3_600_000), { journey: 'nurture' });
		expect(again).toMatchObject({ duplicate: true, decision: { reason: 'DUPLICATE_EVENT' } });
	});

	test('a delivery that meets one in progress waits for it and is then a duplicate', async () => {
		const store = new MemoryStore();
		expect(await store.claimKey('event:e2', EVENT_LEASE_MS, T0)).toBe(true);
		// The first taker stores its decision and commits the claim 60 ms later.
		setTimeout(() => void store.holdKey('event:e2', 72 * 3_600_000, T0), 60);
		const started = Date.now();
		const twin = await engineOn(store).ingest(event('e2', T0 + 1), { journey: 'nurture' });
		expect(twin.duplicate).toBe(true);
		expect(Date.now() - started).toBeGreaterThanOrEqual(50);
	});

	test('a failed take-in releases the event at once for the retry', async () => {
		const store = new MemoryStore();
		const engine = engineOn(store);
		const save = store.saveProfile.bind(store);
		store.saveProfile = async () => {
			throw new Error('store down');
		};
		await expect(engine.ingest(event('e3', T0), { journey: 'nurture' })).rejects.toThrow(/store down/);
		store.saveProfile = save;
		const retried = await engine.ingest(event('e3', T0 + 1), { journey: 'nurture' });
		expect(retried.duplicate).toBe(false);
	});
});
