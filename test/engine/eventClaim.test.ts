/** At-least-once ingest: an event claimed by a process that died before storing it is taken over, not lost. */
import { EVENT_LEASE_MS, eventLeaseKey, eventMarkKey } from '../../engine/events/eventClaim';
import { Engine } from '../../engine/engine';
import { loadPolicy } from '../../engine/policy/load';
import { identityLockKey } from '../../engine/profiles/identityLock';
import { MemoryStore } from '../../engine/store/memory';
import type { Store } from '../../engine/store/types';
import { describeWithServer, TEST_REDIS_URL } from '../helpers/services';
import { redisStore } from '../helpers/rawStores';

const T0 = Date.parse('2026-11-21T09:00:00.000Z');
const event = (eventId: string, at: number) => ({ eventId, type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' }, occurredAt: new Date(at).toISOString() });

function engineOn(store: Store) {
	return new Engine({ store, clock: 'event', policy: loadPolicy() });
}

describe('taking an event in across processes', () => {
	test('an event whose first taker died before storing it is taken in by the next delivery once the lease runs out', async () => {
		const store = new MemoryStore();
		// Another process claimed the event a lease ago and died (kill -9) before its decision row was stored.
		expect(await store.claimKey(eventLeaseKey('e1'), EVENT_LEASE_MS, Date.now() - EVENT_LEASE_MS)).toBe(true);
		// The lease runs in wall time: an event from long ago (a replay) is taken over all the same.
		const retried = await engineOn(store).ingest(event('e1', T0), { journey: 'nurture' });
		expect(retried.duplicate).toBe(false);
		expect(retried.decision.status).toBe('pending');
		// Stored, so from now on the event is a duplicate for the whole de-duplication window.
		const again = await engineOn(store).ingest(event('e1', T0 + 71 * 3_600_000), { journey: 'nurture' });
		expect(again).toMatchObject({ duplicate: true, decision: { reason: 'DUPLICATE_EVENT' } });
	});

	test('a delivery that meets one in progress waits for it and is then a duplicate', async () => {
		const store = new MemoryStore();
		expect(await store.claimKey(eventLeaseKey('e2'), EVENT_LEASE_MS, Date.now())).toBe(true);
		// The first taker stores its decision and marks the event 60 ms later.
		setTimeout(() => void store.holdKey(eventMarkKey('e2'), 72 * 3_600_000, T0), 60);
		const started = Date.now();
		const twin = await engineOn(store).ingest(event('e2', T0 + 1), { journey: 'nurture' });
		expect(twin.duplicate).toBe(true);
		expect(Date.now() - started).toBeGreaterThanOrEqual(50);
	});

	test('a delivery that meets a live lease gives up after a while, saying how long until the lease runs out', async () => {
		const store = new MemoryStore();
		expect(await store.claimKey(eventLeaseKey('e4'), EVENT_LEASE_MS, Date.now())).toBe(true);
		await expect(engineOn(store).ingest(event('e4', T0), { journey: 'nurture' })).rejects.toThrow(
			/Event e4 is being taken in by another process; if that process stopped, deliver it again in 2[4-6] s \(when its claim runs out\)/,
		);
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

/**
 * On a store processes share, the event's claim takes the contact's identity locks in the same step, inside the
 * engine's profile lock: events of one contact taken in at once by one engine all go through (none waits on a lock
 * another holds while waiting for the profile lock), and a lock another process holds is waited for.
 */
describeWithServer('Redis', TEST_REDIS_URL)('taking events in on Redis, with the identity locks in the claim', () => {
	test('24 events of one contact taken in at once by one engine: all accepted, each counted once on the profile', async () => {
		const store = redisStore('claimlock');
		const engine = engineOn(store);
		// A caller that waited out a held lock would fail with a timeout (10 s), so all 24 accepted is the check.
		const results = await Promise.all(Array.from({ length: 24 }, (_, i) => engine.ingest(event(`burst-${i}`, T0 + i), { journey: 'nurture' })));
		expect(results.every((r) => !r.duplicate)).toBe(true);
		expect(new Set(results.map((r) => r.profile!.contactId)).size).toBe(1);
		expect((await store.getProfile(results[0].profile!.contactId))!.counters['Pricing Viewed']).toBe(24);
		await engine.close();
	});

	test('an identity lock another process holds is waited for; the event stays claimed meanwhile', async () => {
		const store = redisStore('claimheld');
		const engine = engineOn(store);
		// Another process holds the contact's email lock until it lets go below.
		const lock = identityLockKey('email:ana@example.com');
		expect(await store.claimKey(lock, 60_000, Date.now())).toBe(true);
		let done = false;
		const taking = engine.ingest(event('held-1', T0), { journey: 'nurture' }).finally(() => (done = true));
		// The event is claimed while the ingest waits for the lock.
		let leased: number | undefined;
		for (let tries = 0; tries < 200 && leased === undefined; tries++) {
			await new Promise((resolve) => setTimeout(resolve, 10));
			leased = await store.keyHeldUntil(eventLeaseKey('held-1'), Date.now());
		}
		expect(leased).toBeDefined();
		expect(done).toBe(false);
		await store.releaseKey(lock);
		const result = await taking;
		expect(result.duplicate).toBe(false);
		expect(result.profile!.counters['Pricing Viewed']).toBe(1);
		await engine.close();
	});
});
