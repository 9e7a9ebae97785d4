import { normalizeEvent } from '../../engine/events/normalize';
import { applyEvent, contactIdKey, ingestIntoProfile, mergeProfiles, profileIdentityKeys } from '../../engine/profiles/profiles';
import type { Profile } from '../../engine/profiles/schema';
import { MemoryStore } from '../../engine/store/memory';
import { profile } from '../helpers/fixtures';

const ev = (raw: Record<string, unknown>) => normalizeEvent(raw, { now: new Date(String(raw.occurredAt ?? '2026-11-01T00:00:00Z')) });

describe('profiles', () => {
	test('an event creates a contact with traits, contact points, time zone and counters', async () => {
		const store = new MemoryStore();
		const p = await ingestIntoProfile(store, ev({
			type: 'identify',
			identities: { email: 'Ana@X.io', userId: 'u1' },
			traits: { title: 'VP', phone: ' +15550100 ', timezone: 'America/New_York', consent: { sms: 'opted_in', fax: 'opted_in' } },
		}));
		expect(p).toMatchObject({ email: 'ana@x.io', phone: '+15550100', timezone: 'America/New_York', consent: { sms: 'opted_in' }, identities: { email: ['ana@x.io'], userId: ['u1'] } });
		expect(p.consent).not.toHaveProperty('email');
		expect(p.traits).not.toHaveProperty('consent');
		const again = await ingestIntoProfile(store, ev({ type: 'track', name: 'Email Opened', identities: { userId: 'u1' }, occurredAt: '2026-11-02T00:00:00Z' }));
		expect(again.contactId).toBe(p.contactId);
		expect(again.counters).toEqual({ 'Email Opened': 1 });
		expect(again.lastEngagedAt).toBe('2026-11-02T00:00:00.000Z');
	});

	test('a time zone that is no zone never replaces a real one (quiet hours would move to the policy zone); a real one replaces either', async () => {
		const store = new MemoryStore();
		const at = (i: number) => `2026-11-02T00:00:0${i}Z`;
		const zoneAfter = async (timezone: string, i: number) => (await ingestIntoProfile(store, ev({ type: 'identify', identities: { userId: 'u-tz' }, traits: { timezone }, occurredAt: at(i) }))).timezone;
		expect(await zoneAfter('Europe/Berlin', 1)).toBe('Europe/Berlin');
		expect(await zoneAfter('GMT+2', 2)).toBe('Europe/Berlin');
		expect(await zoneAfter('Europe/Lisbon', 3)).toBe('Europe/Lisbon');
		// A contact with no real zone keeps what it was given (the guardrails say the policy's zone applies, and why).
		const other = await ingestIntoProfile(store, ev({ type: 'identify', identities: { userId: 'u-tz2' }, traits: { timezone: 'Mars/Olympus' }, occurredAt: at(4) }));
		expect(other.timezone).toBe('Mars/Olympus');
	});

	test('events named after Object.prototype members ("toString", "hasOwnProperty") count from 0; "__proto__" is refused naming the name', async () => {
		const store = new MemoryStore();
		for (const [i, name] of ['toString', 'hasOwnProperty', 'toString'].entries()) await ingestIntoProfile(store, ev({ type: 'track', name, identities: { userId: 'u-proto' }, occurredAt: `2026-11-02T00:00:0${i}Z` }));
		const p = await ingestIntoProfile(store, ev({ type: 'track', name: 'Pricing Viewed', identities: { userId: 'u-proto' }, occurredAt: '2026-11-02T00:01:00Z' }));
		expect(p.counters).toEqual({ toString: 2, hasOwnProperty: 1, 'Pricing Viewed': 1 });
		expect(() => ev({ type: 'track', name: '__proto__', identities: { userId: 'u-proto' } })).toThrow(/name: is a name Nudge does not take/);
	});

	test('stitches an anonymous visitor to the known contact when an event links them', async () => {
		const store = new MemoryStore();
		const known = await ingestIntoProfile(store, ev({ type: 'identify', identities: { email: 'bo@x.io' }, occurredAt: '2026-10-01T00:00:00Z' }));
		const anon = await ingestIntoProfile(store, ev({ type: 'track', name: 'Pricing Viewed', identities: { anonymousId: 'a-9' }, occurredAt: '2026-10-02T00:00:00Z' }));
		expect(anon.contactId).not.toBe(known.contactId);
		const merged = await ingestIntoProfile(store, ev({ type: 'identify', identities: { email: 'bo@x.io', anonymousId: 'a-9' }, occurredAt: '2026-10-03T00:00:00Z' }));
		expect(merged.contactId).toBe(known.contactId);
		expect(merged.counters['Pricing Viewed']).toBe(1);
		expect(merged.identities.anonymousId).toEqual(['a-9']);
		expect(await store.getProfile(anon.contactId)).toBeUndefined();
		const later = await ingestIntoProfile(store, ev({ type: 'track', name: 'Pricing Viewed', identities: { anonymousId: 'a-9' }, occurredAt: '2026-10-04T00:00:00Z' }));
		expect(later.contactId).toBe(known.contactId);
		expect(later.counters['Pricing Viewed']).toBe(2);
	});

	test('a merge never re-opens a channel someone opted out of', async () => {
		const store = new MemoryStore();
		await ingestIntoProfile(store, ev({ type: 'identify', identities: { email: 'c@x.io' }, traits: { consent: { email: 'opted_in' } }, occurredAt: '2026-10-01T00:00:00Z' }));
		await ingestIntoProfile(store, ev({ type: 'identify', identities: { userId: 'u-c' }, traits: { consent: { email: 'opted_out' } }, occurredAt: '2026-10-02T00:00:00Z' }));
		const merged = await ingestIntoProfile(store, ev({ type: 'track', name: 'Page Viewed', identities: { email: 'c@x.io', userId: 'u-c' }, occurredAt: '2026-10-03T00:00:00Z' }));
		expect(merged.consent.email).toBe('opted_out');
	});

	test('unsubscribe and subscribe events update consent immediately', async () => {
		const store = new MemoryStore();
		await ingestIntoProfile(store, ev({ type: 'identify', identities: { email: 'd@x.io' }, traits: { consent: { email: 'opted_in', sms: 'opted_in' } } }));
		let p = await ingestIntoProfile(store, ev({ type: 'track', name: 'Unsubscribed', identities: { email: 'd@x.io' }, occurredAt: '2026-11-01T00:01:00Z' }));
		expect(p.consent).toEqual({ email: 'opted_out', sms: 'opted_in' });
		p = await ingestIntoProfile(store, ev({ type: 'track', name: 'Unsubscribed', identities: { email: 'd@x.io' }, properties: { channel: 'sms' }, occurredAt: '2026-11-01T00:02:00Z' }));
		expect(p.consent.sms).toBe('opted_out');
		// A subscribe at the very time of the opt-out (a sender's whole seconds) leaves the opt-out; a later one re-opens.
		p = await ingestIntoProfile(store, ev({ type: 'track', name: 'Subscribed', identities: { email: 'd@x.io' }, properties: { channel: 'email' }, occurredAt: '2026-11-01T00:01:00Z', eventId: 'same-time' }));
		expect(p.consent.email).toBe('opted_out');
		p = await ingestIntoProfile(store, ev({ type: 'track', name: 'Subscribed', identities: { email: 'd@x.io' }, properties: { channel: 'email' }, occurredAt: '2026-11-01T00:03:00Z' }));
		expect(p.consent.email).toBe('opted_in');
	});

	test('the ids merged into a contact are indexed to it, transitively, and never its own (no id points at itself)', () => {
		// X came back under its old id after it was merged into Y (a store from before the index kept merged ids), and is older.
		const kept = mergeProfiles(profile('x', { identities: { email: ['x@x.io'] } }), profile('y', { mergedFrom: ['x', 'w'] }));
		expect(kept.mergedFrom).toEqual(['y', 'w']);
		expect(profileIdentityKeys(kept)).toEqual(['email:x@x.io', contactIdKey('y'), contactIdKey('w')]);
	});

	test('a trait stated before the value in force changes nothing; a profile saved before trait times takes any event', async () => {
		const store = new MemoryStore();
		const say = (traits: Record<string, unknown>, occurredAt: string) => ingestIntoProfile(store, ev({ type: 'identify', identities: { userId: 'u-late' }, traits, occurredAt }));
		await say({ plan: 'pro', phone: '+15550101', lifecycle: 'customer' }, '2026-11-03T00:00:00Z');
		const late = await say({ plan: 'free', phone: '+15550100', lifecycle: 'lead', company: 'Acme' }, '2026-11-02T00:00:00Z');
		// The late statement's new trait is taken; those stated since keep their newer values.
		expect(late.traits).toEqual({ plan: 'pro', phone: '+15550101', lifecycle: 'customer', company: 'Acme' });
		expect(late).toMatchObject({ phone: '+15550101', lifecycle: 'customer' });
		// At the same time, the later delivery wins (as before).
		expect((await say({ plan: 'team' }, '2026-11-03T00:00:00Z')).traits.plan).toBe('team');

		// Saved before trait times were kept: no time to compare, so an event of any time replaces the value.
		const old = await store.getProfile(late.contactId);
		delete old!.traitsAt;
		await store.saveProfile(old!, profileIdentityKeys(old!), []);
		expect((await say({ plan: 'legacy' }, '2026-10-01T00:00:00Z')).traits.plan).toBe('legacy');
	});

	test('merging two contacts keeps, trait by trait, the value stated later, and the mailing address stated later', () => {
		const kept = mergeProfiles(
			profile('x', { email: 'old@x.io', traits: { plan: 'free', title: 'VP', city: 'Oslo' }, traitsAt: { plan: '2026-11-01T00:00:00.000Z', title: '2026-11-05T00:00:00.000Z', email: '2026-11-01T00:00:00.000Z' } }),
			profile('y', { email: 'new@x.io', traits: { plan: 'pro', title: 'CTO', toString: 'x' }, traitsAt: { plan: '2026-11-04T00:00:00.000Z', title: '2026-11-02T00:00:00.000Z', toString: '2026-11-02T00:00:00.000Z', email: '2026-11-03T00:00:00.000Z' } }),
		);
		expect(kept.traits).toEqual({ plan: 'pro', title: 'VP', city: 'Oslo', toString: 'x' });
		expect(kept.email).toBe('new@x.io');
		expect(kept.traitsAt).toEqual({ plan: '2026-11-04T00:00:00.000Z', title: '2026-11-05T00:00:00.000Z', toString: '2026-11-02T00:00:00.000Z', email: '2026-11-03T00:00:00.000Z' });
		// Without both times (a profile saved before they were kept), the kept contact's value stays, as before.
		const older = mergeProfiles(profile('x', { email: 'a@x.io', traits: { plan: 'free' } }), profile('y', { email: 'b@x.io', traits: { plan: 'pro' }, traitsAt: { plan: '2026-11-04T00:00:00.000Z' } }));
		expect(older.traits.plan).toBe('free');
		expect(older.email).toBe('a@x.io');
		expect(older.traitsAt).toEqual({});
	});

	test('a merge: the phone, push token, zone and lifecycle follow the traits it keeps; a trait one contact never stated stays', async () => {
		const store = new MemoryStore();
		const at = (h: number) => `2026-11-10T0${h}:00:00.000Z`;
		const older = await ingestIntoProfile(store, ev({ type: 'identify', identities: { userId: 'u-merge' }, traits: { phone: '+15550000001', pushToken: 'tok-1', timezone: 'Europe/Paris', lifecycle: 'lead', email: 'old@example.com' }, occurredAt: at(1) }));
		// The other contact: stated later, its address given as an identity only (no traits.email).
		const newer = await ingestIntoProfile(store, ev({ type: 'track', name: 'Page Viewed', identities: { anonymousId: 'a-merge', email: 'new@example.com' }, traits: { phone: '+15550000002', pushToken: 'tok-2', timezone: 'America/New_York', lifecycle: 'customer' }, occurredAt: at(2) }));
		expect(older.contactId).not.toBe(newer.contactId);
		const merged = await ingestIntoProfile(store, ev({ type: 'track', name: 'Page Viewed', identities: { userId: 'u-merge', anonymousId: 'a-merge' }, occurredAt: at(3) }));
		expect(merged.traits).toMatchObject({ phone: '+15550000002', pushToken: 'tok-2', timezone: 'America/New_York', lifecycle: 'customer', email: 'old@example.com' });
		// What the senders and guardrails read: the SMS number, the push token, the quiet hours' zone, the lifecycle.
		expect(merged).toMatchObject({ phone: '+15550000002', pushToken: 'tok-2', timezone: 'America/New_York', lifecycle: 'customer', email: 'new@example.com' });
	});
});

/** Merged contacts' fields read from traits, against the same statements applied to one contact in order. */
const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-21T09:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** A profile built by applying events in order, as ingest does. */
function built(id: string, events: { traits: Record<string, unknown>; at: number }[]): Profile {
	const p = profile(id, { firstSeenAt: iso(T0 - 10 * 24 * HOUR), createdAt: iso(T0 - 10 * 24 * HOUR), lastSeenAt: iso(T0 - 10 * 24 * HOUR) });
	for (const { traits, at } of events) applyEvent(p, normalizeEvent({ type: 'identify', identities: { userId: id }, traits, occurredAt: iso(at) }, { now: new Date(at) }));
	return p;
}

/*
 * One contact is told the older value (T1), then a blank or no-zone value (T3); the kept contact the newer value (T2).
 * Applied in order to one contact, the T2 value stands (a blank, or a zone that is no zone, never replaces one); the
 * merge must agree, though the merged contact's trait was stated last.
 */
describe('mergeProfiles: the fields read from traits follow the value stated later, as applyEvent does', () => {
	test.each([
		['phone', '+15550000002', '+15550000001', ''],
		['timezone', 'America/New_York', 'Europe/Berlin', 'GMT+2'],
	] as const)('%s: a value stated later that sets none does not bring back the merged contact\'s older one', (field, older, newer, none) => {
		const at = (h: number, value: string) => ({ traits: { [field]: value }, at: T0 + h * HOUR });
		expect(built('one', [at(1, older), at(2, newer), at(3, none)])[field]).toBe(newer);
		expect(mergeProfiles(built('keep', [at(2, newer)]), built('other', [at(1, older), at(3, none)]))[field]).toBe(newer);
	});
});
