/**
 * One event, several journeys: each journey whose trigger receives an event opens its own decision for it (a Segment
 * source with a webhook destination per journey sends every event to each), the contact's profile takes it in once,
 * and a repeated delivery is a duplicate in the journey it was delivered to again. Events an earlier version took in
 * (one mark per store, whichever journey) stay duplicates for their window.
 */
import { Engine } from '../../engine/engine';
import { storeWideEventMarkKey } from '../../engine/events/eventClaim';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import type { PolicyInput } from '../../engine/policy/schema';
import { profileIdentityKeys, TAKEN_IN_KEPT } from '../../engine/profiles/profiles';
import type { Store } from '../../engine/store/types';
import { forEveryBackend } from '../helpers/rawStores';

const policy: PolicyInput = {
	...DEFAULT_POLICY,
	caps: [],
	holdout: { salt: 'per-journey', globalShare: 0, journeys: {} },
	journeys: {
		nurture: { channels: ['email'], outcomes: { 'Email Opened': { type: 'open' } } },
		'cart-abandonment': { channels: ['email'], outcomes: { 'Email Opened': { type: 'open' } } },
	},
};
const T0 = Date.parse('2026-11-21T09:00:00.000Z');
const event = (eventId: string, at = T0, name = 'Cart Updated', email = 'ana@example.com') => ({ eventId, type: 'track', name, identities: { email }, traits: { consent: { email: 'opted_in' } }, occurredAt: new Date(at).toISOString() });

forEveryBackend('event_per_journey', (backend) => {
	describe(backend.name, () => {
		let store: Store;
		let engine: Engine;
		beforeEach(() => {
			store = backend.open();
			engine = new Engine({ store, policy: loadPolicy(policy), clock: 'event' });
		});
		afterEach(() => engine.close());

		test('an event at two journeys’ triggers opens a decision in each, and the profile counts it once; a repeat is a duplicate in each', async () => {
			const nurture = await engine.ingest(event('e1'), { journey: 'nurture' });
			const cart = await engine.ingest(event('e1'), { journey: 'cart-abandonment' });
			expect([nurture.duplicate, cart.duplicate]).toEqual([false, false]);
			expect(cart.decision.journey).toBe('cart-abandonment');
			expect(cart.decision.reason).toBeUndefined();
			expect(cart.decision.contactId).toBe(nurture.decision.contactId);
			expect((await store.getProfile(nurture.decision.contactId))!.counters['Cart Updated']).toBe(1);
			for (const journey of ['nurture', 'cart-abandonment']) {
				const again = await engine.ingest(event('e1', T0 + 60_000), { journey });
				expect(again.duplicate).toBe(true);
				expect(again.decision).toMatchObject({ journey, reason: 'DUPLICATE_EVENT', status: 'suppressed' });
				expect(again.decision.explanation).toBe(`event e1 was already taken in by journey ${journey}`);
			}
			expect((await store.getProfile(nurture.decision.contactId))!.counters['Cart Updated']).toBe(1);
		});

		test('the one-call journey in a second journey sends its own message; deliveries to two journeys at once each take the event in once', async () => {
			await engine.ingest(event('e2'), { journey: 'nurture' });
			const sent = await engine.decide(event('e2'), { journey: 'cart-abandonment', target: { dryRun: true } });
			expect(sent).toMatchObject({ journey: 'cart-abandonment', status: 'sent' });
			const both = await Promise.all(['nurture', 'cart-abandonment', 'nurture', 'cart-abandonment'].map((journey) => engine.ingest(event('e3', T0 + 1000), { journey })));
			expect(both.map((r) => `${r.decision.journey}:${r.duplicate}`).sort()).toEqual(['cart-abandonment:false', 'cart-abandonment:true', 'nurture:false', 'nurture:true']);
			expect((await store.getProfile(sent.contactId))!.counters['Cart Updated']).toBe(2);
		});

		test(`a second journey's delivery after ${TAKEN_IN_KEPT} newer events of the contact still opens its decision`, async () => {
			const first = await engine.ingest(event('late'), { journey: 'nurture' });
			for (let i = 0; i < TAKEN_IN_KEPT; i++) await engine.ingest(event(`newer-${i}`, T0 + 1000 + i, 'Page Viewed'), { journey: 'nurture' });
			const late = await engine.ingest(event('late'), { journey: 'cart-abandonment' });
			expect(late.duplicate).toBe(false);
			// Past the events the profile remembers, the event is counted again: the price of a bounded profile.
			expect((await store.getProfile(first.decision.contactId))!.counters['Cart Updated']).toBe(2);
		});

		test('an event an earlier version took in (one mark per store) stays a duplicate in every journey within its window; its contact’s new events are taken in', async () => {
			const known = await engine.ingest(event('old-0'), { journey: 'nurture' });
			// The contact as an earlier version saved it (no list of events taken in), and its mark of event old-1.
			const saved = (await store.getProfile(known.decision.contactId))!;
			delete saved.takenIn;
			await store.saveProfile(saved, profileIdentityKeys(saved), []);
			const at = T0 + 60_000;
			await store.holdKey(storeWideEventMarkKey('old-1'), 24 * 3_600_000, at);
			for (const journey of ['nurture', 'cart-abandonment']) {
				const again = await engine.ingest(event('old-1', at), { journey });
				expect(again.duplicate).toBe(true);
				expect(again.decision.explanation).toBe('event old-1 was already taken in, by a version of Nudge before this one (in whichever journey received it first)');
			}
			// A later event of the contact is taken in and starts its list; the earlier version's mark still counts after it.
			expect((await engine.ingest(event('new-1', at + 1000), { journey: 'nurture' })).duplicate).toBe(false);
			expect((await engine.ingest(event('old-1', at + 2000), { journey: 'cart-abandonment' })).duplicate).toBe(true);
			expect((await store.getProfile(known.decision.contactId))!.counters['Cart Updated']).toBe(2);
			// Past the window, that mark is gone and the event is new.
			expect((await engine.ingest(event('old-1', at + 25 * 3_600_000), { journey: 'nurture' })).duplicate).toBe(false);
		});
	});
});
