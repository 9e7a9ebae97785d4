import { claimEvent, EVENT_LEASE_MS, eventLeaseKey, EventMark, releaseEvent } from '../../engine/events/eventClaim';
import { checkReview } from '../../engine/guard/review';
import { waitTimer } from '../../engine/guard/waits';
import { loadPolicy } from '../../engine/policy/load';
import { contactHourKeys, sendHourKey } from '../../engine/store/sendHours';
import { inactivityQueue, waitQueue, type CapCounter, type CapReservation, type Store } from '../../engine/store/types';
import { decision, profile } from '../helpers/fixtures';
import { describeConsoleStoreContract } from './consoleStoreContract';

/** An event in the nurture journey (the journey its keys are per). */
const nurture = (eventId: string) => ({ journey: 'nurture', eventId });

/**
 * The behaviour every Store backend must have. Each backend's test file calls this with a factory
 * that returns a fresh, empty store.
 */
export function describeStoreContract(name: string, open: () => Promise<Store> | Store, options: { readsRecordsWithLocks?: boolean; foldsTakeIn?: boolean } = {}): void {
	describe(`Store contract: ${name}`, () => {
		let store: Store;
		beforeEach(async () => {
			store = await open();
		});
		afterEach(async () => {
			await store.close();
		});

		test('profiles round-trip and identities resolve to their contact', async () => {
			await store.saveProfile(profile('c1', { email: 'a@x.io', traits: { plan: 'pro' } }), ['email:a@x.io', 'userId:u1'], []);
			await store.sync();
			expect((await store.getProfile('c1'))?.traits).toEqual({ plan: 'pro' });
			expect(await store.getProfile('nobody')).toBeUndefined();
			const found = await store.resolveIdentities(['email:a@x.io', 'userId:u1', 'userId:unknown']);
			expect([...found.entries()].sort()).toEqual([
				['email:a@x.io', 'c1'],
				['userId:u1', 'c1'],
			]);
		});

		test('a merge deletes the merged profile and repoints its identities', async () => {
			await store.saveProfile(profile('c1'), ['email:a@x.io'], []);
			await store.saveProfile(profile('c2'), ['anonymousId:anon'], []);
			await store.saveProfile(profile('c1'), ['email:a@x.io', 'anonymousId:anon'], ['c2']);
			expect(await store.getProfile('c2')).toBeUndefined();
			expect((await store.resolveIdentities(['anonymousId:anon'])).get('anonymousId:anon')).toBe('c1');
		});

		test('event claims: a dead taker’s lease frees in real time however old the event; the mark holds for the window on the event’s clock', async () => {
			const at = Date.parse('2025-01-06T09:00:00Z');
			// A taker claimed e1 over a lease ago (wall time) and died: the event, from last year, is taken over.
			expect(await store.claimKey(eventLeaseKey(nurture('e1')), EVENT_LEASE_MS, Date.now() - EVENT_LEASE_MS - 1)).toBe(true);
			const claimed = await claimEvent(store, nurture('e1'), at);
			// The lease's value: when it runs out, in wall time.
			expect(claimed! - Date.now()).toBeGreaterThan(EVENT_LEASE_MS - 5_000);
			await new EventMark(store, nurture('e1'), at, 72 * 3_600_000, claimed).set();
			// A rerun at the same event time, and a repeat within the window, are duplicates; past it, new.
			expect(await claimEvent(store, nurture('e1'), at)).toBeUndefined();
			expect(await claimEvent(store, nurture('e1'), at + 71 * 3_600_000)).toBeUndefined();
			expect(await claimEvent(store, nurture('e1'), at + 73 * 3_600_000)).toBeDefined();
			// Not taken in: free again at once.
			expect(await claimEvent(store, nurture('e2'), at)).toBeDefined();
			await releaseEvent(store, nurture('e2'));
			expect(await claimEvent(store, nurture('e2'), at)).toBeDefined();
		});

		test('the end of a take-in fenced by its lease: refused with nothing written once another delivery took the lease that ran out', async () => {
			const mark = (claimedUntil: number) => ({ hold: 'event:h1', ttlMs: 10_000, now: 5000, release: 'event-lease:h1', claimedUntil });
			expect(await store.claimKeyUnlessMarked('event-lease:h1', 1000, 0, 'event:h1', 5000)).toBe('claimed');
			// The lease ran out (claimed until 1,000) and another delivery claimed the event at 1,500, with the contact's lock.
			expect(await store.claimKeyUnlessMarked('event-lease:h1', 1000, 1500, 'event:h1', 5000)).toBe('claimed');
			expect(await store.claimKey('lock:h', 1000, 1500)).toBe(true);
			const save = { profile: profile('h1', { traits: { plan: 'stale' } }), identityKeys: ['email:h@x.io'], merged: [], release: ['lock:h'], lockedUntil: 2500 };
			expect(await store.finishTakeIn({ mark: mark(1000), profile: save })).toBe(false);
			expect(await store.keyHeldUntil('event:h1', 5000)).toBeUndefined();
			// Nor can the first delivery let go of the lease the other holds now.
			await store.releaseKey('event-lease:h1', 1000);
			expect(await store.keyHeldUntil('event-lease:h1', 1600)).toBe(2500);
			expect(await store.keyHeldUntil('lock:h', 1600)).toBe(2500);
			expect(await store.getProfile('h1')).toBeUndefined();
			// The delivery holding the lease takes the event in: the mark set, the lease free to any claim, the profile saved.
			expect(await store.finishTakeIn({ mark: mark(2500), profile: save })).toBe(true);
			expect(await store.keyHeldUntil('event:h1', 5000)).toBe(15_000);
			expect(await store.keyHeldUntil('event-lease:h1', 1600)).toBeUndefined();
			expect(await store.getProfile('h1')).toMatchObject({ traits: { plan: 'stale' } });
			expect(await store.claimKeyUnlessMarked('event-lease:h1', 1000, 1700, 'event:h1', 5000)).toBe('marked');
			// A lease that is gone (run out on Redis, let go by a delivery that failed) with no other delivery's mark: taken in.
			expect(await store.claimKeyUnlessMarked('event-lease:h2', 1000, 0, 'event:h2', 5000)).toBe('claimed');
			await store.releaseKey('event-lease:h2');
			expect(await store.finishTakeIn({ mark: { ...mark(1000), hold: 'event:h2', release: 'event-lease:h2' } })).toBe(true);
			expect(await store.keyHeldUntil('event:h2', 5000)).toBe(15_000);
			// Gone, and the event marked by another delivery: refused.
			expect(await store.claimKeyUnlessMarked('event-lease:h3', 1000, 0, 'event:h3', 5000)).toBe('claimed');
			await store.releaseKey('event-lease:h3');
			await store.holdKey('event:h3', 10_000, 4000);
			expect(await store.finishTakeIn({ mark: { ...mark(1000), hold: 'event:h3', release: 'event-lease:h3' } })).toBe(false);
			expect(await store.keyHeldUntil('event:h3', 5000)).toBe(14_000);
		});

		test('two deliveries racing for an event whose lease ran out, on a shared store: exactly one takes it in, every time', async () => {
			if (!store.shared) return;
			const tookIn: number[] = [];
			for (let i = 0; i < 40; i++) {
				const [lease, hold] = [`event-lease:race${i}`, `event:race${i}`];
				const end = (claimedUntil: number) => store.finishTakeIn({ mark: { hold, ttlMs: 10_000, now: 5000, release: lease, claimedUntil } });
				expect(await store.claimKeyUnlessMarked(lease, 1000, 0, hold, 5000)).toBe('claimed');
				// The first delivery's end, and at once a second delivery's claim (the first's lease ran out at 1,000) and end.
				const first = end(1000);
				const second = store.claimKeyUnlessMarked(lease, 1000, 1500, hold, 5000).then((claim) => claim === 'claimed' && end(2500));
				tookIn.push((await Promise.all([first, second])).filter((took) => took === true).length);
			}
			expect(tookIn.filter((n) => n !== 1)).toEqual([]);
		});

		test('review: a new content variant goes to review on every concurrent check until it is approved, and the approval holds', async () => {
			const { policy } = loadPolicy({ channelOrder: ['email'], review: [{ id: 'new-copy', newVariant: true }] });
			const check = () => checkReview(store, policy, profile('c1'), decision('d1', { message: { variant: 'spring-a' } }));
			const reviewed = await Promise.all(Array.from({ length: 24 }, () => check()));
			expect(reviewed.map((r) => r.hits.map((rule) => rule.id))).toEqual(Array(24).fill(['new-copy']));
			// An approval racing a burst of checks is kept: the checks mark nothing that could stand in its way.
			await Promise.all([...Array.from({ length: 12 }, () => check()), store.approveVariant('spring-a', 2000), ...Array.from({ length: 12 }, () => check())]);
			const approved = await Promise.all(Array.from({ length: 8 }, () => check()));
			expect(approved.map((r) => r.hits)).toEqual(Array(8).fill([]));
		});

		test('claimKey is true once per time to live, and again after release or expiry', async () => {
			expect(await store.claimKey('event:1', 1000, 0)).toBe(true);
			expect(await store.claimKey('event:1', 1000, 500)).toBe(false);
			expect(await store.claimKey('event:1', 1000, 1000)).toBe(true);
			await store.releaseKey('event:1');
			expect(await store.claimKey('event:1', 1000, 1001)).toBe(true);
		});

		test('holdKey extends a claim; keyHeldUntil says until when a key is held', async () => {
			expect(await store.keyHeldUntil('event:2', 0)).toBeUndefined();
			expect(await store.claimKey('event:2', 1000, 0)).toBe(true);
			expect(await store.keyHeldUntil('event:2', 500)).toBe(1000);
			await store.holdKey('event:2', 60_000, 500);
			expect(await store.keyHeldUntil('event:2', 1000)).toBe(60_500);
			expect(await store.claimKey('event:2', 1000, 1000)).toBe(false);
			expect(await store.keyHeldUntil('event:2', 60_500)).toBeUndefined();
			// Holding a free key claims it.
			await store.holdKey('event:3', 1000, 0);
			expect(await store.claimKey('event:3', 1000, 10)).toBe(false);
		});

		test('folded event claim: the lease unless marked, then the mark set and the lease let go in one step', async () => {
			expect(await store.claimKeyUnlessMarked('event-lease:f1', 1000, 0, 'event:f1', 5000)).toBe('claimed');
			expect(await store.claimKeyUnlessMarked('event-lease:f1', 1000, 500, 'event:f1', 5000)).toBe('held');
			await store.finishTakeIn({ mark: { hold: 'event:f1', ttlMs: 10_000, now: 5000, release: 'event-lease:f1' } });
			expect(await store.keyHeldUntil('event:f1', 5000)).toBe(15_000);
			expect(await store.keyHeldUntil('event-lease:f1', 500)).toBeUndefined();
			// Marked: a duplicate, and the lease is not kept; past the mark's window, the event is new again.
			expect(await store.claimKeyUnlessMarked('event-lease:f1', 1000, 600, 'event:f1', 14_999)).toBe('marked');
			expect(await store.keyHeldUntil('event-lease:f1', 600)).toBeUndefined();
			expect(await store.claimKeyUnlessMarked('event-lease:f1', 1000, 600, 'event:f1', 15_000)).toBe('claimed');
		});

		test('folded event claim with the profile update started: the lease, then the locks and the read, in one step', async () => {
			await store.saveProfile(profile('c1', { traits: { plan: 'pro' } }), ['email:a@x.io'], []);
			const lock = { locks: ['lock:a', 'lock:b'], ttlMs: 1000, identityKeys: ['email:a@x.io', 'userId:nobody'], contactId: 'c9' };
			const first = await store.claimKeyUnlessMarkedAndLock('event-lease:g1', 1000, 0, 'event:g1', 5000, lock);
			expect(first.claim).toBe('claimed');
			expect([...first.locked!.identities.entries()]).toEqual([['email:a@x.io', 'c1']]);
			expect(first.locked!.profiles.get('c1')?.traits).toEqual({ plan: 'pro' });
			expect(await store.keyHeldUntil('lock:a', 10)).toBe(1000);
			// The event held by another caller: nothing else is taken or read.
			expect(await store.claimKeyUnlessMarkedAndLock('event-lease:g1', 1000, 10, 'event:g1', 5000, { ...lock, locks: ['lock:c'] })).toEqual({ claim: 'held' });
			expect(await store.keyHeldUntil('lock:c', 10)).toBeUndefined();
			// A lock held by another caller: the event is claimed, no lock is kept, nothing is read.
			const blocked = await store.claimKeyUnlessMarkedAndLock('event-lease:g2', 1000, 10, 'event:g2', 5000, { ...lock, locks: ['lock:c', 'lock:b'] });
			expect(blocked).toEqual({ claim: 'claimed' });
			expect(await store.keyHeldUntil('event-lease:g2', 10)).toBe(1010);
			expect(await store.keyHeldUntil('lock:c', 10)).toBeUndefined();
			// Marked: a duplicate, nothing is claimed.
			await store.finishTakeIn({ mark: { hold: 'event:g3', ttlMs: 10_000, now: 5000, release: 'event-lease:g3' } });
			expect(await store.claimKeyUnlessMarkedAndLock('event-lease:g3', 1000, 20, 'event:g3', 5000, { ...lock, locks: ['lock:d'] })).toEqual({ claim: 'marked' });
			expect(await store.keyHeldUntil('event-lease:g3', 20)).toBeUndefined();
			expect(await store.keyHeldUntil('lock:d', 20)).toBeUndefined();
			// No locks (a store of one process): claimed and read.
			const unlocked = await store.claimKeyUnlessMarkedAndLock('event-lease:g4', 1000, 20, 'event:g4', 5000, { locks: [], ttlMs: 1000, identityKeys: [] });
			expect(unlocked).toEqual({ claim: 'claimed', locked: { identities: new Map(), profiles: new Map() } });
		});

		test('folded profile update: locks all or none with the profiles read, then the save lets them go', async () => {
			await store.saveProfile(profile('c1', { traits: { plan: 'pro' } }), ['email:a@x.io'], []);
			await store.saveProfile(profile('c2'), ['anonymousId:anon'], []);
			const read = await store.lockAndReadProfiles(['lock:b', 'lock:a'], 1000, 0, ['email:a@x.io', 'anonymousId:anon', 'userId:nobody'], 'c9');
			expect([...read!.identities.entries()].sort()).toEqual([['anonymousId:anon', 'c2'], ['email:a@x.io', 'c1']]);
			expect([...read!.profiles.keys()].sort()).toEqual(['c1', 'c2']);
			expect(read!.profiles.get('c1')?.traits).toEqual({ plan: 'pro' });
			// One of its locks is held: nothing is claimed, nothing read.
			expect(await store.lockAndReadProfiles(['lock:c', 'lock:a'], 1000, 10, ['email:a@x.io'])).toBeUndefined();
			expect(await store.keyHeldUntil('lock:c', 10)).toBeUndefined();
			// The contact id's own profile is read too.
			expect([...(await store.lockAndReadProfiles(['lock:c'], 1000, 10, [], 'c2'))!.profiles.keys()]).toEqual(['c2']);
			await store.saveProfileAndRelease(profile('c1'), ['email:a@x.io', 'anonymousId:anon'], ['c2'], ['lock:a', 'lock:b', 'lock:c']);
			expect(await store.getProfile('c2')).toBeUndefined();
			expect((await store.resolveIdentities(['anonymousId:anon'])).get('anonymousId:anon')).toBe('c1');
			for (const lock of ['lock:a', 'lock:b', 'lock:c']) expect(await store.keyHeldUntil(lock, 10)).toBeUndefined();
			expect(await store.lockAndReadProfiles(['lock:a'], 1000, 10, [])).toEqual({ identities: new Map(), profiles: new Map() });
		});

		test('folded profile update with contact locks: the lock of every contact read is taken too, all or none with the others', async () => {
			await store.saveProfile(profile('k1'), ['email:k@x.io'], []);
			await store.saveProfile(profile('k2'), ['userId:k2'], []);
			const read = await store.lockAndReadProfiles(['lock:k-a'], 1000, 0, ['email:k@x.io', 'userId:k2', 'userId:none'], 'k9', undefined, 'lock:c:');
			expect([...read!.profiles.keys()].sort()).toEqual(['k1', 'k2']);
			for (const key of ['lock:k-a', 'lock:c:k1', 'lock:c:k2', 'lock:c:k9']) expect([key, await store.keyHeldUntil(key, 10)]).toEqual([key, 1000]);
			// Another update of k1 by another identity meets k1's lock: nothing claimed, nothing read.
			expect(await store.lockAndReadProfiles(['lock:k-b'], 1000, 10, ['email:k@x.io'], undefined, undefined, 'lock:c:')).toBeUndefined();
			expect(await store.keyHeldUntil('lock:k-b', 10)).toBeUndefined();
			// A contact lock among the request's own locks is taken once.
			await store.releaseKey('lock:c:k2');
			const own = await store.claimKeyUnlessMarkedAndLock('event-lease:k3', 1000, 20, 'event:k3', 5000, { locks: ['lock:c:k2'], ttlMs: 1000, identityKeys: ['userId:k2'], contactLocks: 'lock:c:' });
			expect(own.locked?.identities).toEqual(new Map([['userId:k2', 'k2']]));
			expect(await store.keyHeldUntil('lock:c:k2', 20)).toBe(1020);
		});

		test('folded profile update: the records asked for are read with the locks, as getCursor and keyHeldUntil read them, where the step folds them', async () => {
			await store.setCursor('rec:set', 'v1', undefined);
			await store.holdKey('rec:held', 1000, 0);
			await store.holdKey('rec:expired', 5, 0);
			const reads = { cursors: ['rec:set', 'rec:unset'], claims: ['rec:held', 'rec:expired', 'rec:never'] };
			const read = await store.lockAndReadProfiles(['lock:r'], 1000, 10, ['email:nobody@x.io'], undefined, reads);
			const both = await store.claimKeyUnlessMarkedAndLock('event-lease:r1', 1000, 10, 'event:r1', 10, { locks: ['lock:r2'], ttlMs: 1000, identityKeys: [], reads });
			const none = await store.lockAndReadProfiles(['lock:r3'], 1000, 10, [], undefined, { cursors: [], claims: [] });
			// The store says which it does, so a caller asks only one that reads them.
			expect(!!store.readsRecordsWithLocks).toBe(!!options.readsRecordsWithLocks);
			if (options.readsRecordsWithLocks) {
				expect(read).toEqual({ identities: new Map(), profiles: new Map(), records: { cursors: new Map([['rec:set', 'v1']]), claims: new Set(['rec:held']) } });
				expect(both.locked?.records).toEqual(read!.records);
				expect(none?.records).toEqual({ cursors: new Map(), claims: new Set() });
			} else {
				// The composed default reads none (each would be a call of its own): the caller asks later.
				expect(read).toEqual({ identities: new Map(), profiles: new Map() });
				expect(both.locked).toEqual({ identities: new Map(), profiles: new Map() });
				expect(none).toEqual({ identities: new Map(), profiles: new Map() });
			}
			// A held lock reads nothing.
			expect(await store.lockAndReadProfiles(['lock:r'], 1000, 10, [], undefined, reads)).toBeUndefined();
		});

		test('folded cap check: the send key is claimed with the slot, only when a slot was reserved, and a key held reserves nothing', async () => {
			const one = [{ ruleId: 'one', limit: 1, since: 0, match: {}, excludeTags: [] }];
			const r = (id: string, at: number) => ({ reservationId: id, contactId: 'c1', channel: 'email', journey: 'j', tags: [], at, expiresAt: at + 1000 });
			const send = { key: 'send:d1', ttlMs: 5000 };
			expect(await store.reserveCapAndClaim(r('r1', 10), one, send)).toEqual({ ok: true, counts: [0], freesAt: [undefined], claimed: true });
			expect(await store.keyHeldUntil('send:d1', 10)).toBe(5010);
			// Full: nothing reserved, nothing claimed.
			expect(await store.reserveCapAndClaim(r('r2', 20), one, { key: 'send:d2', ttlMs: 5000 })).toMatchObject({ ok: false, counts: [1], claimed: false });
			expect(await store.keyHeldUntil('send:d2', 20)).toBeUndefined();
			// Another caller holds the key (an erasure holds the keys of the person's open decisions): a look, nothing reserved.
			expect(await store.reserveCapAndClaim(r('r3', 30), [], send)).toMatchObject({ ok: true, claimed: false });
			expect(await store.settleCap('r3', 'release')).toBe(false);
		});

		test('folded look: the caps counted without a reservation and the learner counts read in one step', async () => {
			const one = [{ ruleId: 'one', limit: 1, since: 0, match: {}, excludeTags: [] }];
			await store.addArmStats([{ key: 'global#email', delta: { trials: 3, successes: 1 } }]);
			const empty = await store.peekCapAndReadArmStats('c1', one, 10, ['global#email', 'ctx#email']);
			expect(empty.verdict).toEqual({ ok: true, counts: [0], freesAt: [undefined] });
			expect([...empty.stats.entries()]).toEqual([['global#email', { trials: 3, successes: 1, negatives: 0, valueSum: 0, valueSq: 0 }]]);
			// It reserves nothing: the look leaves the cap as it was.
			expect((await store.peekCap('c1', one, 10)).counts).toEqual([0]);
			expect((await store.reserveCap({ reservationId: 'r1', contactId: 'c1', channel: 'email', journey: 'j', tags: [], at: 10, expiresAt: 1000 }, one)).ok).toBe(true);
			const full = await store.peekCapAndReadArmStats('c1', one, 20, []);
			expect(full.verdict).toMatchObject({ ok: false, counts: [1], bindingRuleId: 'one' });
			expect(full.stats.size).toBe(0);
			// No counters: nothing is capped, and the counts are still read.
			const none = await store.peekCapAndReadArmStats('c1', [], 20, ['global#email']);
			expect(none.verdict).toEqual({ ok: true, counts: [], freesAt: [] });
			expect(none.stats.get('global#email')?.trials).toBe(3);
		});

		test('folded look carrying an event mark: the mark held and the lease let go first, the look as without it', async () => {
			const one = [{ ruleId: 'one', limit: 1, since: 0, match: {}, excludeTags: [] }];
			await store.addArmStats([{ key: 'global#sms', delta: { trials: 2 } }]);
			expect(await store.claimKeyUnlessMarked('event-lease:h1', 1000, 0, 'event:h1', 5000)).toBe('claimed');
			const look = await store.peekCapAndReadArmStats('c7', one, 10, ['global#sms'], false, { mark: { hold: 'event:h1', ttlMs: 10_000, now: 5000, release: 'event-lease:h1' } });
			expect(look.verdict).toEqual({ ok: true, counts: [0], freesAt: [undefined] });
			expect(look.stats.get('global#sms')?.trials).toBe(2);
			expect(await store.keyHeldUntil('event:h1', 5000)).toBe(15_000);
			expect(await store.keyHeldUntil('event-lease:h1', 10)).toBeUndefined();
			// A repeat of the event is a duplicate now.
			expect(await store.claimKeyUnlessMarked('event-lease:h1', 1000, 20, 'event:h1', 5000)).toBe('marked');
			// Without counters (no cap rule), the mark is set all the same.
			expect(await store.claimKeyUnlessMarked('event-lease:h2', 1000, 0, 'event:h2', 5000)).toBe('claimed');
			const none = await store.peekCapAndReadArmStats('c7', [], 10, ['global#sms'], false, { mark: { hold: 'event:h2', ttlMs: 10_000, now: 5000, release: 'event-lease:h2' } });
			expect(none.stats.get('global#sms')?.trials).toBe(2);
			expect(await store.claimKeyUnlessMarked('event-lease:h2', 1000, 20, 'event:h2', 5000)).toBe('marked');
			expect(await store.keyHeldUntil('event-lease:h2', 10)).toBeUndefined();
		});

		test('the end of a take-in: the profile saved with its locks let go and the merged profiles gone, then the mark set and the lease let go, alone or carried by the look', async () => {
			expect(!!store.foldsTakeIn).toBe(!!options.foldsTakeIn);
			const one = [{ ruleId: 'one', limit: 1, since: 0, match: {}, excludeTags: [] }];
			await store.saveProfile(profile('t2'), ['anonymousId:t2'], []);
			const mark = (id: string) => ({ hold: `event:${id}`, ttlMs: 10_000, now: 5000, release: `event-lease:${id}` });
			const takeIn = (id: string, contactId: string, merged: string[], locks: string[]) => ({
				mark: mark(id),
				profile: { profile: profile(contactId, { traits: { took: id } }), identityKeys: [`email:${contactId}@x.io`, 'anonymousId:t2'], merged, release: locks },
			});
			const cases: [string, string, (t: ReturnType<typeof takeIn>) => Promise<unknown>][] = [
				['alone', 't1', (t) => store.finishTakeIn(t)],
				['with the look', 't3', (t) => store.peekCapAndReadArmStats(t.profile.profile.contactId, one, 10, ['global#sms'], false, t)],
				['with a look that counts nothing', 't4', (t) => store.peekCapAndReadArmStats(t.profile.profile.contactId, [], 10, [], false, t)],
			];
			for (const [how, contactId, run] of cases) {
				const id = `ti-${contactId}`;
				const locks = [`lock:${contactId}:a`, `lock:${contactId}:b`];
				for (const lock of locks) expect(await store.claimKey(lock, 60_000, 0)).toBe(true);
				expect(await store.claimKeyUnlessMarked(`event-lease:${id}`, 60_000, 0, `event:${id}`, 5000)).toBe('claimed');
				await run(takeIn(id, contactId, contactId === 't1' ? ['t2'] : [], locks));
				expect([how, (await store.getProfile(contactId))?.traits]).toEqual([how, { took: id }]);
				expect([how, [...(await store.resolveIdentities([`email:${contactId}@x.io`, 'anonymousId:t2'])).values()]]).toEqual([how, [contactId, contactId]]);
				for (const lock of locks) expect([how, await store.keyHeldUntil(lock, 10)]).toEqual([how, undefined]);
				expect([how, await store.keyHeldUntil(`event:${id}`, 5000)]).toEqual([how, 15_000]);
				expect([how, await store.keyHeldUntil(`event-lease:${id}`, 10)]).toEqual([how, undefined]);
			}
			expect(await store.getProfile('t2')).toBeUndefined();
		});

		test('the save fenced by the locks\' value: made while every lock holds it; refused, with nothing written, once one ran out and another caller took it', async () => {
			const one = [{ ruleId: 'one', limit: 1, since: 0, match: {}, excludeTags: [] }];
			const locks = ['lock:f:a', 'lock:f:b'];
			for (const lock of locks) expect(await store.claimKey(lock, 1000, 0)).toBe(true);
			expect(await store.saveProfileAndRelease(profile('f1', { traits: { v: 1 } }), ['email:f@x.io'], [], locks, 1000)).toBe(true);
			expect((await store.getProfile('f1'))?.traits).toEqual({ v: 1 });
			for (const lock of locks) expect(await store.keyHeldUntil(lock, 10)).toBeUndefined();
			// Taken again at 0 (held until 1000); one runs out and another caller takes it at 1500 (held until 2500).
			for (const lock of locks) expect(await store.claimKey(lock, 1000, 0)).toBe(true);
			expect(await store.claimKey('lock:f:b', 1000, 1500)).toBe(true);
			const stale = { profile: profile('f1', { traits: { v: 2 } }), identityKeys: ['email:f@x.io'], merged: [], release: locks, lockedUntil: 1000 };
			expect(await store.saveProfileAndRelease(stale.profile, stale.identityKeys, [], locks, 1000)).toBe(false);
			expect(await store.claimKeyUnlessMarked('event-lease:f9', 60_000, 0, 'event:f9', 5000)).toBe('claimed');
			const mark = { hold: 'event:f9', ttlMs: 10_000, now: 5000, release: 'event-lease:f9' };
			expect(await store.finishTakeIn({ mark, profile: stale })).toBe(false);
			expect(await store.peekCapAndReadArmStats('f1', one, 10, [], false, { mark, profile: stale })).toMatchObject({ verdict: { ok: true }, tookIn: false });
			expect(await store.peekCapAndReadArmStats('f1', [], 10, [], false, { mark, profile: stale })).toMatchObject({ tookIn: false });
			// Nothing written: the profile as it was, the other caller's lock and the lease kept, no mark.
			expect((await store.getProfile('f1'))?.traits).toEqual({ v: 1 });
			expect(await store.keyHeldUntil('lock:f:b', 1600)).toBe(2500);
			expect(await store.keyHeldUntil('event:f9', 5000)).toBeUndefined();
			expect(await store.keyHeldUntil('event-lease:f9', 10)).toBe(60_000);
			// A take-in that is still this caller's answers true, and a look carrying it says nothing of it.
			const fresh = await store.peekCapAndReadArmStats('f1', one, 10, [], false, { mark, profile: { ...stale, release: ['lock:f:a'] } });
			expect(fresh.tookIn).toBeUndefined();
			expect((await store.getProfile('f1'))?.traits).toEqual({ v: 2 });
			expect(await store.keyHeldUntil('event:f9', 5000)).toBe(15_000);
		});

		test('folded send bookkeeping: the cap settled and the learner counted in one step, counted whether or not it settled', async () => {
			const one = [{ ruleId: 'one', limit: 1, since: 0, match: {}, excludeTags: [] }];
			expect((await store.reserveCap({ reservationId: 'r1', contactId: 'c1', channel: 'email', journey: 'j', tags: [], at: 10, expiresAt: 1000 }, one)).ok).toBe(true);
			const trial = [{ key: 'global#email', delta: { trials: 1 } }, { key: 'ctx#email', delta: { trials: 1 } }];
			expect(await store.settleCapAndCount('r1', 'commit', trial)).toBe(true);
			expect(await store.settleCapAndCount('r1', 'commit', trial)).toBe(false);
			expect(await store.settleCapAndCount('unknown', 'release', [])).toBe(false);
			const stats = await store.getArmStats(['global#email', 'ctx#email']);
			expect([stats.get('global#email')?.trials, stats.get('ctx#email')?.trials]).toEqual([2, 2]);
			// Committed for good: the cap stays full after the reservation would have expired.
			expect((await store.peekCap('c1', one, 5000)).ok).toBe(false);
		});

		const counter = (ruleId: string, limit: number, since: number, match: CapCounter['match'] = {}, extra: Partial<CapCounter> = {}): CapCounter => ({
			ruleId,
			limit,
			since,
			match,
			excludeTags: [],
			...extra,
		});
		const reservation = (id: string, channel: string, at: number, extra: Partial<CapReservation> = {}): CapReservation => ({
			reservationId: id,
			contactId: 'c1',
			channel,
			journey: 'nurture',
			tags: [],
			at,
			expiresAt: at + 60_000,
			...extra,
		});

		test('reserveCap counts per channel and across channels, and refuses the slot past the limit', async () => {
			const day = 86_400_000;
			const counters = (now: number) => [counter('email-daily', 2, now - day, { channel: 'email' }), counter('any-weekly', 3, now - 7 * day)];
			expect((await store.reserveCap(reservation('r1', 'email', 10 * day), counters(10 * day))).ok).toBe(true);
			expect((await store.reserveCap(reservation('r2', 'email', 10 * day + 1), counters(10 * day + 1))).ok).toBe(true);
			const third = await store.reserveCap(reservation('r3', 'email', 10 * day + 2), counters(10 * day + 2));
			expect(third).toMatchObject({ ok: false, counts: [2, 2], bindingRuleId: 'email-daily' });
			// The guard passes only the rules that apply to the channel: for SMS, just the any-channel rule.
			const smsCounters = (now: number) => counters(now).slice(1);
			expect((await store.reserveCap(reservation('r4', 'sms', 10 * day + 3), smsCounters(10 * day + 3))).ok).toBe(true);
			const fifth = await store.reserveCap(reservation('r5', 'sms', 10 * day + 4), smsCounters(10 * day + 4));
			expect(fifth.bindingRuleId).toBe('any-weekly');
			// Another contact is unaffected.
			expect((await store.reserveCap({ ...reservation('r6', 'email', 10 * day), contactId: 'c2' }, counters(10 * day))).ok).toBe(true);
		});

		test('tag and journey scopes count only matching entries; excluded tags do not count', async () => {
			await store.reserveCap(reservation('a', 'email', 10, { tags: ['promo'] }), []);
			await store.reserveCap(reservation('b', 'sms', 11, { tags: ['transactional'], journey: 'cart' }), []);
			await store.reserveCap(reservation('c', 'email', 12, { tags: ['promo', 'newsletter'], journey: 'cart' }), []);
			const verdict = await store.reserveCap(reservation('probe', 'push', 20), [
				counter('promo', 10, 0, { tag: 'promo' }),
				counter('cart', 10, 0, { journey: 'cart' }),
				counter('all-but-transactional', 10, 0, {}, { excludeTags: ['transactional'] }),
				counter('news', 10, 0, { tag: 'news' }),
			]);
			expect(verdict.counts).toEqual([2, 2, 2, 0]);
		});

		test('a tag holding a comma ("Black Friday, 2026") is one tag: its sends count toward its cap, and toward no tag " 2026"', async () => {
			await store.reserveCap(reservation('r1', 'email', 10, { tags: ['Black Friday, 2026'] }), []);
			await store.settleCap('r1', 'commit');
			await store.sync();
			const verdict = await store.peekCap('c1', [counter('bf', 10, 0, { tag: 'Black Friday, 2026' }), counter('part', 10, 0, { tag: ' 2026' })], 20);
			expect(verdict.counts).toEqual([1, 0]);
		});

		test('a full rolling counter says when its slot frees; calendar counters leave that to the caller', async () => {
			for (const [id, at] of [['a', 100], ['b', 200], ['c', 300]] as const) {
				await store.reserveCap(reservation(id, 'email', at), []);
				await store.settleCap(id, 'commit');
			}
			const verdict = await store.reserveCap(reservation('x', 'email', 400), [counter('two-per-1000', 2, 0, {}, { lengthMs: 1000 }), counter('calendar', 2, 0)]);
			// Three sends, limit two: the slot frees when the second-oldest (at 200) leaves the window.
			expect(verdict).toMatchObject({ ok: false, counts: [3, 3], bindingRuleId: 'two-per-1000' });
			expect(verdict.freesAt).toEqual([1200, undefined]);
		});

		test('a rolling window forgets old sends', async () => {
			const day = 86_400_000;
			const daily = (now: number) => [counter('email-daily', 1, now - day, { channel: 'email' })];
			expect((await store.reserveCap(reservation('a', 'email', 0), daily(0))).ok).toBe(true);
			await store.settleCap('a', 'commit');
			expect((await store.reserveCap(reservation('b', 'email', day - 1), daily(day - 1))).ok).toBe(false);
			expect((await store.reserveCap(reservation('c', 'email', day + 1), daily(day + 1))).ok).toBe(true);
		});

		test('released and expired reservations free their slot; committed ones keep it', async () => {
			// A send that outlived its reservation's timeout still happened, so committing it late counts it.
			const one = [counter('one', 1, 0)];
			const r = (id: string, at: number) => reservation(id, 'email', at, { expiresAt: at + 1000 });
			expect((await store.reserveCap(r('a', 10), one)).ok).toBe(true);
			expect(await store.settleCap('a', 'release')).toBe(true);
			expect(await store.settleCap('a', 'release')).toBe(false);
			expect((await store.reserveCap(r('b', 20), one)).ok).toBe(true);
			// b is pending and unexpired at 500, expired at 1020.
			expect((await store.reserveCap(r('c', 500), one)).ok).toBe(false);
			expect((await store.reserveCap(r('d', 1021), one)).ok).toBe(true);
			expect(await store.settleCap('b', 'commit')).toBe(true);
			expect(await store.settleCap('b', 'commit')).toBe(false);
			const full = await store.reserveCap(r('e', 5000), one);
			// b is committed; d is pending but expired at 5000, so only b counts.
			expect(full).toMatchObject({ ok: false, counts: [1], bindingRuleId: 'one' });
			expect(await store.settleCap('d', 'release')).toBe(true);
		});

		test('a merged contact\'s ledger moves to the contact it was merged into: every entry counts there, a pending one still settles', async () => {
			const all = [counter('all', 10, 0)];
			const of = (contactId: string, id: string, at: number) => reservation(id, 'email', at, { contactId, expiresAt: at + 1000 });
			await store.reserveCap(of('a', 'a1', 10), []);
			await store.reserveCap(of('b', 'b1', 20), []);
			await store.reserveCap(of('b', 'b2', 30), []);
			await store.reserveCap(of('z', 'z1', 40), []);
			await store.settleCap('a1', 'commit');
			await store.settleCap('b1', 'commit');
			expect(await store.moveCapLedger(['b', 'z', 'a'], 'a')).toBe(3);
			await store.sync();
			expect((await store.peekCap('a', all, 50)).counts).toEqual([4]);
			expect((await store.peekCap('b', all, 50)).counts).toEqual([0]);
			expect((await store.peekCap('z', all, 50)).counts).toEqual([0]);
			// The moved pending entry settles by its id, in the survivor's ledger: released, its slot is free there.
			expect(await store.settleCap('b2', 'release')).toBe(true);
			expect(await store.settleCap('z1', 'commit')).toBe(true);
			expect((await store.peekCap('a', all, 5000)).counts).toEqual([3]);
			// Moved again (a retried merge): nothing more, nothing counted twice.
			expect(await store.moveCapLedger(['b', 'z'], 'a')).toBe(0);
			expect((await store.reserveCap(of('a', 'a2', 5000), [counter('all', 4, 0)])).ok).toBe(true);
			expect((await store.reserveCap(of('a', 'a3', 5001), [counter('all', 4, 0)])).ok).toBe(false);
		});

		test('peekCap counts exactly like reserveCap (scopes, exclusions, expiry, freesAt) and reserves nothing', async () => {
			for (const [id, channel, at, tags] of [['a', 'email', 100, ['promo']], ['b', 'email', 200, []], ['c', 'sms', 300, ['transactional']]] as const) {
				await store.reserveCap(reservation(id, channel, at, { tags: [...tags] }), []);
				await store.settleCap(id, 'commit');
			}
			// Pending and unexpired at 400 (counts), and pending but expired by then (does not).
			await store.reserveCap(reservation('live', 'email', 350, { expiresAt: 10_000 }), []);
			await store.reserveCap(reservation('stale', 'email', 360, { expiresAt: 390 }), []);
			const counters = [
				counter('email-two', 2, 0, { channel: 'email' }, { lengthMs: 1000 }),
				counter('promo', 5, 0, { tag: 'promo' }),
				counter('any-but-transactional', 10, 0, {}, { excludeTags: ['transactional'] }),
				counter('sms-five', 5, 0, { channel: 'sms' }),
			];
			const peeked = await store.peekCap('c1', counters, 400);
			expect(peeked).toMatchObject({ ok: false, counts: [3, 1, 3, 1], bindingRuleId: 'email-two' });
			// Three emails counted, limit two: a slot frees when the second-oldest (at 200) leaves the window.
			expect(peeked.freesAt).toEqual([1200, undefined, undefined, undefined]);
			// Nothing was reserved: peeking again, or reserving with the same counters, sees the same counts.
			for (let i = 0; i < 3; i++) expect(await store.peekCap('c1', counters, 400)).toEqual(peeked);
			expect((await store.reserveCap(reservation('r', 'email', 400), counters)).counts).toEqual(peeked.counts);
			// Room left: ok, and still nothing written.
			const roomy = [counter('sms-five', 5, 0, { channel: 'sms' })];
			expect(await store.peekCap('c1', roomy, 400)).toMatchObject({ ok: true, counts: [1] });
			expect(await store.peekCap('c1', roomy, 400)).toMatchObject({ ok: true, counts: [1] });
			// Another contact, or no counters at all.
			expect(await store.peekCap('c2', counters, 400)).toMatchObject({ ok: true, counts: [0, 0, 0, 0] });
			expect(await store.peekCap('c1', [], 400)).toMatchObject({ ok: true, counts: [] });
		});

		test('concurrent reservations for the last slots: exactly the limit succeed', async () => {
			const three = [counter('three', 3, 0)];
			const results = await Promise.all(
				Array.from({ length: 40 }, (_, i) => store.reserveCap({ ...reservation(`r${i}`, 'email', 100), expiresAt: 10_000 }, three)),
			);
			expect(results.filter((v) => v.ok)).toHaveLength(3);
		});

		test('decisions: put, get, update, and query by contact, journey, reason, status and time with pagination', async () => {
			const ds = [
				decision('d1', { contactId: 'c1', createdAt: '2026-11-01T10:00:00.000Z' }),
				decision('d2', { contactId: 'c2', createdAt: '2026-11-01T11:00:00.000Z', status: 'suppressed', reason: 'FREQUENCY_CAP' }),
				decision('d3', { contactId: 'c1', journey: 'churn', createdAt: '2026-11-01T12:00:00.000Z', status: 'sent' }),
				decision('d4', { contactId: 'c1', createdAt: '2026-11-01T12:00:00.000Z', status: 'suppressed', reason: 'NO_CONSENT' }),
			];
			for (const d of ds) await store.putDecision(d);
			await store.putDecision({ ...ds[0], status: 'sent', annotations: { campaign: 'fall' } });
			expect(await store.getDecision('d1')).toMatchObject({ status: 'sent', annotations: { campaign: 'fall' } });
			expect(await store.getDecision('nope')).toBeUndefined();
			const ids = async (q: Parameters<Store['queryDecisions']>[0]) => (await store.queryDecisions(q)).map((d) => d.decisionId);
			expect(await ids({})).toEqual(['d1', 'd2', 'd3', 'd4']);
			expect(await ids({ contactId: 'c1' })).toEqual(['d1', 'd3', 'd4']);
			expect(await ids({ journey: 'churn' })).toEqual(['d3']);
			expect(await ids({ reason: 'FREQUENCY_CAP' })).toEqual(['d2']);
			expect(await ids({ status: 'suppressed' })).toEqual(['d2', 'd4']);
			expect(await ids({ from: '2026-11-01T11:00:00.000Z', to: '2026-11-01T12:00:00.000Z' })).toEqual(['d2']);
			expect(await ids({ limit: 2 })).toEqual(['d1', 'd2']);
			expect(await ids({ after: { createdAt: '2026-11-01T12:00:00.000Z', decisionId: 'd3' } })).toEqual(['d4']);
			// Newest first: d3 and d4 share a time, so the id breaks the tie; `after` pages on back in time.
			expect(await ids({ newestFirst: true })).toEqual(['d4', 'd3', 'd2', 'd1']);
			expect(await ids({ newestFirst: true, contactId: 'c1', limit: 2 })).toEqual(['d4', 'd3']);
			expect(await ids({ newestFirst: true, contactId: 'c1', after: { createdAt: '2026-11-01T12:00:00.000Z', decisionId: 'd3' } })).toEqual(['d1']);
			expect(await ids({ newestFirst: true, journey: 'churn' })).toEqual(['d3']);
			expect(await ids({ newestFirst: true, status: 'suppressed', to: '2026-11-01T12:00:00.000Z' })).toEqual(['d2']);
			expect(await ids({ newestFirst: true, from: '2026-11-01T11:00:00.000Z', to: '2026-11-01T12:00:00.001Z', limit: 2 })).toEqual(['d4', 'd3']);
		});

		test('decisions newest first, paged: every page continues where the last ended, across equal times', async () => {
			// 250 decisions over 50 distinct times (five per time), put in a shuffled order: pages of 7 and the
			// store's own page size meet ties and page ends at every place.
			const all = Array.from({ length: 250 }, (_, i) => decision(`p${String(i).padStart(3, '0')}`, { contactId: 'c1', createdAt: new Date(Date.UTC(2026, 10, 1) + Math.floor(i / 5) * 60_000).toISOString() }));
			for (const i of Array.from({ length: 250 }, (_, k) => (k * 97) % 250)) await store.putDecision(all[i]);
			const expected = all.map((d) => d.decisionId).reverse();
			const paged: string[] = [];
			let after: { createdAt: string; decisionId: string } | undefined;
			for (;;) {
				const page = await store.queryDecisions({ contactId: 'c1', newestFirst: true, limit: 7, after });
				paged.push(...page.map((d) => d.decisionId));
				if (page.length < 7) break;
				after = { createdAt: page[6].createdAt, decisionId: page[6].decisionId };
			}
			expect(paged).toEqual(expected);
			expect((await store.queryDecisions({ newestFirst: true, limit: 1000 })).map((d) => d.decisionId)).toEqual(expected);
		});

		test('outcomes are added once per outcome id and only to known decisions', async () => {
			await store.putDecision(decision('d1'));
			const outcome = { outcomeId: 'o1', type: 'click' as const, at: '2026-11-02T00:00:00.000Z' };
			expect(await store.addOutcome('d1', outcome)).toBe(true);
			expect(await store.addOutcome('d1', outcome)).toBe(false);
			expect(await store.addOutcome('missing', { ...outcome, outcomeId: 'o2' })).toBe(false);
			const d = await store.getDecision('d1');
			expect(d?.outcomes).toEqual([outcome]);
			expect(d?.updatedAt).toBe('2026-11-02T00:00:00.000Z');
		});

		test("an outcome is not added when its other spelling is on the same decision, only there", async () => {
			await store.putDecision(decision('d1'));
			await store.putDecision(decision('d2'));
			const order = { outcomeId: 'order-1', type: 'conversion' as const, at: '2026-11-02T00:00:00.000Z' };
			expect(await store.addOutcome('d1', order)).toBe(true);
			// The agent's spelling of the same order on d1 is refused; on d2, where order-1 is not, it is added.
			expect(await store.addOutcome('d1', { ...order, outcomeId: 'd1:agent:order-1' }, 'order-1')).toBe(false);
			expect(await store.addOutcome('d2', { ...order, outcomeId: 'd2:agent:order-1' }, 'order-1')).toBe(true);
			expect(await store.addOutcome('d2', { ...order, outcomeId: 'd2:agent:order-2' }, 'order-2')).toBe(true);
			expect((await store.getDecision('d1'))?.outcomes.map((o) => o.outcomeId)).toEqual(['order-1']);
			expect((await store.getDecision('d2'))?.outcomes.map((o) => o.outcomeId)).toEqual(['d2:agent:order-1', 'd2:agent:order-2']);
		});

		test('model versions: numbered per name, one active, activation logged, unknown versions refused', async () => {
			expect(await store.saveModelVersion('lead', '2026-11-01T00:00:00.000Z', { auc: 0.9 }, '{"v":1}')).toBe(1);
			expect(await store.saveModelVersion('lead', '2026-11-02T00:00:00.000Z', { auc: 0.91 }, '{"v":2}')).toBe(2);
			expect(await store.saveModelVersion('churn', '2026-11-02T00:00:00.000Z', {}, '{}')).toBe(1);
			// Saved is not active.
			expect(await store.activeModelVersion('lead')).toBeUndefined();
			expect(await store.getModelVersion('lead')).toBeUndefined();
			expect(await store.activateModelVersion({ name: 'lead', version: 1, action: 'activate', at: '2026-11-03T00:00:00.000Z' })).toBe(true);
			expect(await store.activateModelVersion({ name: 'lead', version: 2, action: 'activate', at: '2026-11-04T00:00:00.000Z', note: 'better' })).toBe(true);
			expect(await store.activateModelVersion({ name: 'lead', version: 9, action: 'activate', at: '2026-11-05T00:00:00.000Z' })).toBe(false);
			expect(await store.activateModelVersion({ name: 'nope', version: 1, action: 'activate', at: '2026-11-05T00:00:00.000Z' })).toBe(false);
			await store.sync();
			expect(await store.activeModelVersion('lead')).toBe(2);
			expect(await store.getModelVersion('lead')).toEqual({ name: 'lead', version: 2, createdAt: '2026-11-02T00:00:00.000Z', active: true, meta: { auc: 0.91 }, body: '{"v":2}' });
			expect((await store.getModelVersion('lead', 1))?.active).toBe(false);
			expect((await store.listModelVersions('lead')).map((m) => [m.version, m.active, m.meta])).toEqual([
				[1, false, { auc: 0.9 }],
				[2, true, { auc: 0.91 }],
			]);
			expect(await store.listModelVersions('nope')).toEqual([]);
			expect(await store.activeModelVersion('churn')).toBeUndefined();
			expect(await store.activateModelVersion({ name: 'lead', version: 1, action: 'rollback', at: '2026-11-06T00:00:00.000Z' })).toBe(true);
			expect(await store.modelActivations('lead')).toEqual([
				{ name: 'lead', version: 1, action: 'activate', at: '2026-11-03T00:00:00.000Z' },
				{ name: 'lead', version: 2, previous: 1, action: 'activate', at: '2026-11-04T00:00:00.000Z', note: 'better' },
				{ name: 'lead', version: 1, previous: 2, action: 'rollback', at: '2026-11-06T00:00:00.000Z' },
			]);
			expect(await store.activeModelVersion('lead')).toBe(1);
		});

		test('model activation with an expected active version: compare-and-set, so a training that compared with one version never replaces another', async () => {
			for (const day of ['01', '02', '03']) await store.saveModelVersion('lead', `2026-11-${day}T00:00:00.000Z`, {}, '{}');
			const at = '2026-11-04T00:00:00.000Z';
			// null: only while no version is active.
			expect(await store.activateModelVersion({ name: 'lead', version: 1, action: 'activate', at }, 2)).toBe(false);
			expect(await store.activateModelVersion({ name: 'lead', version: 1, action: 'activate', at }, null)).toBe(true);
			expect(await store.activateModelVersion({ name: 'lead', version: 2, action: 'activate', at }, null)).toBe(false);
			expect(await store.activateModelVersion({ name: 'lead', version: 2, action: 'activate', at }, 1)).toBe(true);
			// Compared with v1, but v2 is active now: nothing changes, nothing is logged.
			expect(await store.activateModelVersion({ name: 'lead', version: 3, action: 'activate', at }, 1)).toBe(false);
			expect(await store.activateModelVersion({ name: 'lead', version: 9, action: 'activate', at }, 2)).toBe(false);
			await store.sync();
			expect(await store.activeModelVersion('lead')).toBe(2);
			expect((await store.modelActivations('lead')).map((a) => [a.version, a.previous])).toEqual([
				[1, undefined],
				[2, 1],
			]);
			expect(await store.activateModelVersion({ name: 'lead', version: 3, action: 'activate', at }, 2)).toBe(true);
			expect(await store.activeModelVersion('lead')).toBe(3);
		});

		test('cursors: compare-and-set, so two pollers never both advance one cursor', async () => {
			expect(await store.getCursor('hubspot:contacts')).toBeUndefined();
			expect(await store.setCursor('hubspot:contacts', 'a', 'x')).toBe(false);
			expect(await store.setCursor('hubspot:contacts', 'a', undefined)).toBe(true);
			expect(await store.setCursor('hubspot:contacts', 'b', undefined)).toBe(false);
			expect(await store.setCursor('hubspot:contacts', 'b', 'a')).toBe(true);
			expect(await store.setCursor('hubspot:contacts', 'c', 'a')).toBe(false);
			await store.sync();
			expect(await store.getCursor('hubspot:contacts')).toBe('b');
			expect(await store.getCursor('salesforce:Lead')).toBeUndefined();
		});

		test('cursors: a deleted cursor is unset, and set again from unset', async () => {
			expect(await store.setCursor('hubspot:contacts', 'a', undefined)).toBe(true);
			await store.deleteCursor('hubspot:contacts');
			await store.deleteCursor('never-set');
			expect(await store.getCursor('hubspot:contacts')).toBeUndefined();
			expect(await store.setCursor('hubspot:contacts', 'b', 'a')).toBe(false);
			expect(await store.setCursor('hubspot:contacts', 'b', undefined)).toBe(true);
			expect(await store.getCursor('hubspot:contacts')).toBe('b');
		});

		test('variants: a slot promotes one winner, once; an approval is permanent and approving again changes nothing', async () => {
			expect(await store.variantWinner('cart-subject')).toBeUndefined();
			expect(await store.promoteVariant('cart-subject', 'B')).toBe(true);
			expect(await store.promoteVariant('cart-subject', 'A')).toBe(false);
			expect(await store.variantWinner('cart-subject')).toBe('B');
			expect(await store.variantWinner('other-slot')).toBeUndefined();
			expect(await store.isVariantApproved('spring-a')).toBe(false);
			await store.approveVariant('spring-a', 1000);
			await store.approveVariant('spring-a', 2000);
			expect(await store.isVariantApproved('spring-a')).toBe(true);
			expect(await store.isVariantApproved('spring-b')).toBe(false);
			// Permanent: no claim expiry or pruning of claims takes it away.
			await store.pruneExpired('claims', Number.MAX_SAFE_INTEGER, false);
			expect(await store.isVariantApproved('spring-a')).toBe(true);
		});

		test('rewards: a decision claims its reward once, concurrent claims included, until the mark is released with the decision', async () => {
			const claims = await Promise.all(Array.from({ length: 12 }, () => store.claimReward('d1', 1000)));
			expect(claims.filter(Boolean)).toHaveLength(1);
			expect(await store.claimReward('d2', 1000)).toBe(true);
			await store.pruneExpired('claims', Number.MAX_SAFE_INTEGER, false);
			expect(await store.claimReward('d1', 2000)).toBe(false);
			await store.releaseReward('d1');
			await store.releaseReward('never-claimed');
			expect(await store.claimReward('d1', 3000)).toBe(true);
			expect(await store.claimReward('d2', 3000)).toBe(false);
		});

		test('suppressed identities: marked for good, any of several found, and no pruning of claims takes them away', async () => {
			expect(await store.anyIdentitySuppressed(['digest-a', 'digest-b'])).toBe(false);
			expect(await store.anyIdentitySuppressed([])).toBe(false);
			await store.suppressIdentities(['digest-a'], 1000);
			await store.suppressIdentities(['digest-a', 'digest-c'], 2000);
			await store.pruneExpired('claims', Number.MAX_SAFE_INTEGER, false);
			expect(await store.anyIdentitySuppressed(['digest-b', 'digest-a'])).toBe(true);
			expect(await store.anyIdentitySuppressed(['digest-c'])).toBe(true);
			expect(await store.anyIdentitySuppressed(['digest-b'])).toBe(false);
		});

		test('upgrade: approvals, reward marks and suppressed identities that earlier versions kept as hundred-year claimed keys still hold', async () => {
			// Written the old way: `variant-approved:<variant>` held and `reward:<decisionId>` claimed for a hundred years.
			const century = 100 * 365 * 86_400_000;
			const then = Date.now() - 86_400_000;
			await store.holdKey('variant-approved:old-copy', century, then);
			expect(await store.claimKey('reward:d-old', century, then)).toBe(true);
			expect(await store.isVariantApproved('old-copy')).toBe(true);
			expect(await store.claimReward('d-old', Date.now())).toBe(false);
			// Retention releases the old mark with its decision, as it did.
			await store.releaseReward('d-old');
			expect(await store.keyHeldUntil('reward:d-old', Date.now())).toBeUndefined();
			expect(await store.claimReward('d-old', Date.now())).toBe(true);
			// A suppressed identity was a `suppressed:<digest>` key held for a hundred years.
			await store.holdKey('suppressed:old-digest', century, then);
			expect(await store.anyIdentitySuppressed(['new-digest', 'old-digest'])).toBe(true);
		});

		test('timers: rescheduled by id, cancelled, and each due timer taken once, earliest first', async () => {
			await store.scheduleTimer({ timerId: 't-late', dueAt: 3000, body: '{"n":3}' });
			await store.scheduleTimer({ timerId: 't-b', dueAt: 1000, body: '{"n":1}' });
			await store.scheduleTimer({ timerId: 't-a', dueAt: 1000, body: '{"n":0}' });
			await store.scheduleTimer({ timerId: 't-moved', dueAt: 500, body: '{}' });
			await store.scheduleTimer({ timerId: 't-moved', dueAt: 2000, body: '{"n":2}' });
			await store.scheduleTimer({ timerId: 't-cancel', dueAt: 100, body: '{}' });
			expect(await store.cancelTimer('t-cancel')).toBe(true);
			expect(await store.cancelTimer('t-cancel')).toBe(false);
			const take = async (now: number, limit: number) => {
				const taken = await store.takeDueTimers(now, limit, 60_000);
				for (const t of taken) expect(await store.ackTimer(t.timerId, t.lease)).toBe(true);
				return taken.map((t) => ({ timerId: t.timerId, dueAt: t.dueAt, body: t.body }));
			};
			expect(await take(999, 10)).toEqual([]);
			expect((await take(2000, 2)).map((t) => t.timerId)).toEqual(['t-a', 't-b']);
			expect(await take(2000, 10)).toEqual([{ timerId: 't-moved', dueAt: 2000, body: '{"n":2}' }]);
			expect(await take(2000, 10)).toEqual([]);
			expect((await take(5000, 10)).map((t) => t.timerId)).toEqual(['t-late']);
		});

		test('a timer scheduled only if absent leaves one with its id as it is (due time, body, lease), and schedules one that is not there', async () => {
			await store.scheduleTimer({ timerId: 't-kept', dueAt: 1000, body: '{"n":1}' });
			const [leased] = await store.takeDueTimers(1000, 10, 60_000);
			expect(leased).toMatchObject({ timerId: 't-kept' });
			await store.scheduleTimer({ timerId: 't-kept', dueAt: 500, body: '{"n":2}' }, true);
			await store.scheduleTimer({ timerId: 't-new', dueAt: 800, body: '{"n":3}' }, true);
			// Still leased: not taken again before its lease runs out, and acknowledged with its lease as before.
			expect((await store.takeDueTimers(2000, 10, 60_000)).map((t) => [t.timerId, t.dueAt, t.body])).toEqual([['t-new', 800, '{"n":3}']]);
			expect(await store.ackTimer('t-kept', leased.lease)).toBe(true);
		});

		test("waiting decisions are a timer queue per journey: taken when due, never before, once each; apart from inactivity timers and other journeys' waits", async () => {
			const odd = "it's 100%: a:b"; // a journey name with quotes, colons and percent signs is still one queue
			await store.scheduleTimer(waitTimer({ decisionId: 'd-late', journey: 'nurture', contactId: 'c1' }, 3000));
			await store.scheduleTimer(waitTimer({ decisionId: 'd-early', journey: 'nurture', contactId: 'c1' }, 1000));
			await store.scheduleTimer(waitTimer({ decisionId: 'd-cart', journey: 'cart-abandonment', contactId: 'c1' }, 1000));
			await store.scheduleTimer(waitTimer({ decisionId: 'd-odd', journey: odd, contactId: 'c1' }, 1000));
			await store.scheduleTimer({ timerId: 'inactivity:Cart Abandoned:c1', dueAt: 500, body: '{}' });
			expect(await store.takeDueTimers(999, 10, 60_000, waitQueue('nurture'))).toEqual([]);
			const [early, ...more] = await store.takeDueTimers(2000, 10, 60_000, waitQueue('nurture'));
			expect(more).toEqual([]);
			expect(early).toMatchObject({ timerId: 'wait:nurture:d-early', dueAt: 1000, body: JSON.stringify({ decisionId: 'd-early', contactId: 'c1' }) });
			// Leased: nobody else gets it; the inactivity timer and other journeys' waits are left to their own takers.
			expect(await store.takeDueTimers(2000, 10, 60_000, waitQueue('nurture'))).toEqual([]);
			expect((await store.takeDueTimers(5000, 10, 60_000)).map((t) => t.timerId)).toEqual(['inactivity:Cart Abandoned:c1']);
			expect((await store.takeDueTimers(5000, 10, 60_000, waitQueue('cart-abandonment'))).map((t) => t.body)).toEqual(['{"decisionId":"d-cart","contactId":"c1"}']);
			expect((await store.takeDueTimers(5000, 10, 60_000, waitQueue(odd))).map((t) => t.body)).toEqual(['{"decisionId":"d-odd","contactId":"c1"}']);
			expect(await store.ackTimer(early.timerId, early.lease)).toBe(true);
			// A decision delayed again moves its wait (same id); cancelling works as for any timer.
			await store.scheduleTimer(waitTimer({ decisionId: 'd-late', journey: 'nurture', contactId: 'c1' }, 4000));
			expect(await store.takeDueTimers(3999, 10, 60_000, waitQueue('nurture'))).toEqual([]);
			expect((await store.takeDueTimers(4000, 10, 60_000, waitQueue('nurture'))).map((t) => t.dueAt)).toEqual([4000]);
			expect(await store.cancelTimer('wait:nurture:d-late')).toBe(true);
			expect(await store.takeDueTimers(99_999, 10, 0, waitQueue('nurture'))).toEqual([]);
		});

		test("inactivity timers per journey: a journey's taker takes the timers whose body names it, whatever their ids, never another journey's, however many of those are due first", async () => {
			const body = (journey: string, n: string) => JSON.stringify({ fire: 'Cart Abandoned', contactId: 'c1', journey, n });
			// 250 due timers of a journey nobody takes any more, due before the others.
			for (let i = 0; i < 250; i++) await store.scheduleTimer({ timerId: `inactivity:7:retired:Lapsed:c${i}`, dueAt: 100 + i, body: body('retired', `r${i}`) });
			await store.scheduleTimer({ timerId: 'inactivity:4:cart:Cart Abandoned:c1', dueAt: 1000, body: body('cart', 'cart') });
			// A journey named like another with more after it, one holding a colon, and one with characters SQL and Lua patterns read.
			await store.scheduleTimer({ timerId: 'inactivity:5:carts:Cart Abandoned:c1', dueAt: 1000, body: body('carts', 'carts') });
			await store.scheduleTimer({ timerId: 'inactivity:6:cart:x:Cart Abandoned:c1', dueAt: 1000, body: body('cart:x', 'cart:x') });
			await store.scheduleTimer({ timerId: 'inactivity:7:%_*?[.-:Cart Abandoned:c1', dueAt: 1000, body: body('%_*?[.-', 'odd') });
			// Made by an earlier version, its journey only in its body.
			await store.scheduleTimer({ timerId: 'inactivity:2nd Reminder:c2', dueAt: 1500, body: body('cart', 'earlier') });
			await store.scheduleTimer(waitTimer({ decisionId: 'd-cart', journey: 'cart', contactId: 'c1' }, 1000));
			// A body that is not JSON (made by hand) is no journey's, and fails no journey's take.
			await store.scheduleTimer({ timerId: 'inactivity:hand-made:c9', dueAt: 900, body: 'not json' });
			const ns = (timers: { body: string }[]) => timers.map((t) => (t.body === 'not json' ? t.body : (JSON.parse(t.body) as { n: string }).n));
			expect(ns(await store.takeDueTimers(2000, 1, 60_000, inactivityQueue('cart')))).toEqual(['cart']);
			expect(ns(await store.takeDueTimers(2000, 10, 60_000, inactivityQueue('cart')))).toEqual(['earlier']);
			expect(await store.takeDueTimers(2000, 10, 60_000, inactivityQueue('cart'))).toEqual([]);
			expect(ns(await store.takeDueTimers(2000, 10, 60_000, inactivityQueue('cart:x')))).toEqual(['cart:x']);
			expect(ns(await store.takeDueTimers(2000, 10, 60_000, inactivityQueue('carts')))).toEqual(['carts']);
			expect(ns(await store.takeDueTimers(2000, 10, 60_000, inactivityQueue('%_*?[.-')))).toEqual(['odd']);
			// Every journey's (the queue as a whole): the retired journey's, never the waits.
			const all = await store.takeDueTimers(2000, 1000, 60_000);
			expect([all.length, all.filter((t) => t.timerId.startsWith('inactivity:7:retired:')).length, ns(all).includes('not json')]).toEqual([251, 250, true]);
		});

		test('timer leases: held by one taker until acknowledged or expired; an acknowledged timer never comes back', async () => {
			await store.scheduleTimer({ timerId: 't-1', dueAt: 1000, body: '{"a|b":"c|d"}' });
			const [first] = await store.takeDueTimers(1000, 10, 500);
			expect(first).toMatchObject({ timerId: 't-1', dueAt: 1000, body: '{"a|b":"c|d"}' });
			// Leased: nobody else gets it until the lease runs out.
			expect(await store.takeDueTimers(1499, 10, 500)).toEqual([]);
			// The taker never acknowledged: it is due again, with its original due time, under a new lease.
			const [second] = await store.takeDueTimers(1500, 10, 500);
			expect(second).toMatchObject({ timerId: 't-1', dueAt: 1000, body: '{"a|b":"c|d"}' });
			expect(second.lease).not.toBe(first.lease);
			// The first taker's late acknowledgement is refused; the holder's deletes it for good.
			expect(await store.ackTimer('t-1', first.lease)).toBe(false);
			expect(await store.ackTimer('t-1', second.lease)).toBe(true);
			expect(await store.ackTimer('t-1', second.lease)).toBe(false);
			expect(await store.takeDueTimers(99_999, 10, 500)).toEqual([]);

			// Rescheduling a leased timer (a new start event) ends the lease: the old taker cannot delete the new one.
			await store.scheduleTimer({ timerId: 't-2', dueAt: 2000, body: '{}' });
			const [old] = await store.takeDueTimers(2000, 10, 60_000);
			await store.scheduleTimer({ timerId: 't-2', dueAt: 3000, body: '{"moved":true}' });
			expect(await store.ackTimer('t-2', old.lease)).toBe(false);
			expect(await store.takeDueTimers(2999, 10, 60_000)).toEqual([]);
			expect(await store.takeDueTimers(3000, 10, 60_000)).toEqual([expect.objectContaining({ timerId: 't-2', dueAt: 3000, body: '{"moved":true}' })]);
			// A cancelled timer is gone whatever its lease.
			expect(await store.cancelTimer('t-2')).toBe(true);
			expect(await store.takeDueTimers(99_999, 10, 0)).toEqual([]);
		});

		test('learner counts: increments add up, unknown keys are absent, a bad delta changes nothing', async () => {
			await store.addArmStats([{ key: 'global#email', delta: { trials: 1 } }, { key: 'ctx#email', delta: { trials: 1 } }]);
			await store.addArmStats([{ key: 'global#email', delta: { successes: 1, valueSum: 40, valueSq: 1600 } }]);
			await store.addArmStats([{ key: 'global#email', delta: { trials: 1, negatives: 1 } }]);
			await expect(store.addArmStats([{ key: 'global#email', delta: { trials: 1 } }, { key: 'global#sms', delta: { trials: Number.NaN } }])).rejects.toThrow(/trials for global#sms must be a finite number/);
			await store.sync();
			const stats = await store.getArmStats(['global#email', 'ctx#email', 'global#push']);
			expect(stats.get('global#email')).toEqual({ trials: 2, successes: 1, negatives: 1, valueSum: 40, valueSq: 1600 });
			expect(stats.get('ctx#email')).toEqual({ trials: 1, successes: 0, negatives: 0, valueSum: 0, valueSq: 0 });
			expect(stats.has('global#push')).toBe(false);
		});

		test('learner counts: keys with any characters are read back under their own key, with the look and alone', async () => {
			// Redis passes the keys to its scripts as one "<bytes>:<key>" string and answers in one ";"/","-joined string.
			const keys = ['3:ab', 'a;b,c', 'ctx|step=Café Ünïcode 🙂#email', 'line\nbreak#sms', ':', '12', 'x#y:z;'];
			await store.addArmStats(keys.map((key, i) => ({ key, delta: { trials: i + 1, valueSum: i / 2 } })));
			await store.sync();
			const expected = new Map(keys.map((key, i) => [key, { trials: i + 1, successes: 0, negatives: 0, valueSum: i / 2, valueSq: 0 }]));
			const asked = ['missing', ...keys, '', 'also missing'];
			expect(await store.getArmStats(asked)).toEqual(expected);
			const one = [{ ruleId: 'one', limit: 1, since: 0, match: {}, excludeTags: [] }];
			const look = await store.peekCapAndReadArmStats('c1', one, 10, asked);
			expect(look.stats).toEqual(expected);
			expect(look.verdict).toEqual({ ok: true, counts: [0], freesAt: [undefined] });
		});

		test('send hours: a contact’s and the population’s engagements by local hour, kept apart from ids that extend it', async () => {
			const zeros = Array<number>(24).fill(0);
			const hours = (own: Record<number, number>) => zeros.map((z, h) => own[h] ?? z);
			// Read before any count (a store that keeps them in process now knows the contact has none).
			expect(await store.getSendHours('a')).toEqual({ own: zeros, population: zeros });
			const engage = (scope: string, hour: number, trials = 1) => ({ key: sendHourKey(scope, hour), delta: { trials } });
			await store.addArmStats([engage('a', 3), engage('a', 3), engage('a', 23), engage('*', 3, 2), engage('*', 23), engage('a#1', 5), engage('a#', 7), engage('ab', 3), engage('*', 5, 4)]);
			// Not any contact's hour: written otherwise than sendHourKey writes an hour.
			await store.addArmStats([{ key: 'hour:a#05', delta: { trials: 9 } }, { key: 'hour:a#24', delta: { trials: 9 } }, { key: 'hour:a', delta: { trials: 9 } }]);
			await store.sync();
			const population = hours({ 3: 2, 5: 4, 23: 1 });
			expect(await store.getSendHours('a')).toEqual({ own: hours({ 3: 2, 23: 1 }), population });
			expect(await store.getSendHours('a#1')).toEqual({ own: hours({ 5: 1 }), population });
			expect(await store.getSendHours('a#')).toEqual({ own: hours({ 7: 1 }), population });
			const one = [{ ruleId: 'one', limit: 1, since: 0, match: {}, excludeTags: [] }];
			for (const counters of [one, []]) {
				const look = await store.peekCapAndReadArmStats('a', counters, 10, ['global#email'], true);
				expect(look.hours).toEqual({ own: hours({ 3: 2, 23: 1 }), population });
				expect((await store.peekCapAndReadArmStats('a', counters, 10, ['global#email'])).hours).toBeUndefined();
			}
			// A count added after a read is seen by the next; erasing the contact's hour keys empties them.
			await store.addArmStats([engage('a', 4)]);
			expect((await store.getSendHours('a')).own).toEqual(hours({ 3: 2, 4: 1, 23: 1 }));
			const answer = await store.getSendHours('a');
			answer.own[4] = 100;
			expect((await store.getSendHours('a')).own[4]).toBe(1);
			await store.eraseContact({ contactId: 'a', identityKeys: [], claimKeys: [], armKeys: contactHourKeys('a'), pseudonymise: (d) => d });
			expect(await store.getSendHours('a')).toEqual({ own: zeros, population });
			expect((await store.getSendHours('ab')).own).toEqual(hours({ 3: 1 }));
		});

		test('learner counts: concurrent increments are all kept', async () => {
			await Promise.all(Array.from({ length: 50 }, () => store.addArmStats([{ key: 'k', delta: { trials: 1, successes: 0.5 } }])));
			await store.sync();
			expect(await store.getArmStats(['k'])).toEqual(new Map([['k', { trials: 50, successes: 25, negatives: 0, valueSum: 0, valueSq: 0 }]]));
		});

		test('a decision is found by its provider message id, before and after its batch commits', async () => {
			const sent = decision('d-msg', { status: 'sent', delivery: { provider: 'webhook', status: 'sent', idempotencyKey: 'd-msg', attempts: 1, providerMessageId: 'pm-1', at: '2026-11-01T00:00:00.000Z' } });
			await store.putDecision(decision('d-other'));
			await store.putDecision(sent);
			expect((await store.findDecisionByMessageId('pm-1'))?.decisionId).toBe('d-msg');
			await store.sync();
			expect((await store.findDecisionByMessageId('pm-1'))?.decisionId).toBe('d-msg');
			expect(await store.findDecisionByMessageId('pm-none')).toBeUndefined();
		});

		test('erasing a contact removes its profile, identities, cap ledger, timers, locks and hour counts, and pseudonymises its decisions under the same counts', async () => {
			const sentAt = '2026-11-01T00:00:00.000Z';
			await store.saveProfile(profile('c1', { email: 'a@x.io', traits: { name: 'Ann' }, consent: { email: 'opted_in' } }), ['email:a@x.io', 'userId:u1'], []);
			await store.saveProfile(profile('c2', { email: 'b@x.io' }), ['email:b@x.io'], []);
			const reserve = (id: string, contactId: string) => store.reserveCap({ reservationId: id, contactId, channel: 'email', journey: 'nurture', tags: [], at: 100, expiresAt: 60_000 }, []);
			await reserve('r1', 'c1');
			await reserve('r2', 'c1');
			await reserve('r3', 'c2');
			await store.settleCap('r1', 'commit');
			await store.scheduleTimer({ timerId: 'inactivity:Cart Abandoned:c1', dueAt: 50, body: JSON.stringify({ contactId: 'c1', fire: 'Cart Abandoned' }) });
			await store.scheduleTimer({ timerId: 'inactivity:Cart Abandoned:c2', dueAt: 50, body: JSON.stringify({ contactId: 'c2', fire: 'Cart Abandoned' }) });
			expect(await store.claimKey('lock:identity:email:a@x.io', 60_000, 0)).toBe(true);
			await store.addArmStats([{ key: 'hour:c1#9', delta: { trials: 2 } }, { key: 'hour:*#9', delta: { trials: 5 } }]);
			const delivery = { provider: 'webhook', status: 'sent' as const, idempotencyKey: 'd1', attempts: 1, providerMessageId: 'pm-c1', at: sentAt };
			await store.putDecision(decision('d1', { status: 'sent', channel: 'email', delivery }));
			await store.putDecision(decision('d2', { status: 'suppressed', reason: 'QUIET_HOURS' }));
			await store.putDecision(decision('d3', { contactId: 'c2', status: 'sent', channel: 'email' }));
			const outcome = { outcomeId: 'o1', type: 'conversion' as const, at: sentAt };
			expect(await store.addOutcome('d1', outcome)).toBe(true);
			await store.sync();
			const before = await store.countDecisions({}, ['status', 'reason', 'converted']);

			const counts = await store.eraseContact({
				contactId: 'c1',
				identityKeys: ['email:a@x.io', 'userId:u1'],
				claimKeys: ['lock:identity:email:a@x.io'],
				armKeys: ['hour:c1#9'],
				pseudonymise: (d) => ({ ...d, contactId: 'erased_1', annotations: {}, delivery: d.delivery && { ...d.delivery, providerMessageId: undefined } }),
			});
			await store.sync();

			expect(counts).toEqual({ profiles: 1, identities: 2, capEntries: 2, timers: 1, decisions: 2 });
			expect(await store.getProfile('c1')).toBeUndefined();
			expect((await store.resolveIdentities(['email:a@x.io', 'userId:u1', 'email:b@x.io'])).size).toBe(1);
			expect((await store.peekCap('c1', [{ ruleId: 'any', limit: 9, since: 0, match: {}, excludeTags: [] }], 100)).counts).toEqual([0]);
			expect((await store.peekCap('c2', [{ ruleId: 'any', limit: 9, since: 0, match: {}, excludeTags: [] }], 100)).counts).toEqual([1]);
			expect(await store.settleCap('r2', 'commit')).toBe(false);
			expect((await store.takeDueTimers(100, 10, 1000)).map((t) => t.timerId)).toEqual(['inactivity:Cart Abandoned:c2']);
			expect(await store.keyHeldUntil('lock:identity:email:a@x.io', 1)).toBeUndefined();
			expect([...(await store.getArmStats(['hour:c1#9', 'hour:*#9'])).keys()]).toEqual(['hour:*#9']);
			expect(await store.findDecisionByMessageId('pm-c1')).toBeUndefined();
			expect(await store.queryDecisions({ contactId: 'c1' })).toEqual([]);
			expect((await store.queryDecisions({ contactId: 'erased_1' })).map((d) => [d.decisionId, d.status, d.outcomes.length])).toEqual([
				['d1', 'sent', 1],
				['d2', 'suppressed', 0],
			]);
			expect((await store.listDecisionSummaries({ contactId: 'erased_1' }, { limit: 10 })).map((d) => d.decisionId).sort()).toEqual(['d1', 'd2']);
			expect(await store.listDecisionSummaries({ contactId: 'c1' }, { limit: 10 })).toEqual([]);
			expect(await store.countDecisions({}, ['status', 'reason', 'converted'])).toEqual(before);
			// The outcome is still known: a repeat is not counted twice.
			expect(await store.addOutcome('d1', outcome)).toBe(false);
			expect((await store.getProfile('c2'))?.email).toBe('b@x.io');
			expect((await store.getDecision('d3'))?.contactId).toBe('c2');
		});

		test('erasing a contact also removes the waits of its delayed decisions, in every journey queue', async () => {
			await store.scheduleTimer(waitTimer({ decisionId: 'dw1', journey: 'nurture', contactId: 'c1' }, 50));
			await store.scheduleTimer(waitTimer({ decisionId: 'dw2', journey: 'cart abandonment', contactId: 'c1' }, 50));
			await store.scheduleTimer(waitTimer({ decisionId: 'dw3', journey: 'nurture', contactId: 'c2' }, 50));
			const counts = await store.eraseContact({ contactId: 'c1', identityKeys: [], claimKeys: [], armKeys: [], pseudonymise: (d) => d });
			expect(counts.timers).toBe(2);
			expect((await store.takeDueTimers(100, 10, 1000, waitQueue('nurture'))).map((t) => t.timerId)).toEqual([waitTimer({ decisionId: 'dw3', journey: 'nurture', contactId: 'c2' }, 50).timerId]);
			expect(await store.takeDueTimers(100, 10, 1000, waitQueue('cart abandonment'))).toEqual([]);
		});

		test('journeys "a" and "a-bodies" keep their own waits: each is handed out to its journey, and erasing the contact removes both', async () => {
			await store.scheduleTimer(waitTimer({ decisionId: 'd2', journey: 'a-bodies', contactId: 'c1' }, 1000));
			await store.scheduleTimer(waitTimer({ decisionId: 'd1', journey: 'a', contactId: 'c1' }, 1000));
			expect((await store.takeDueTimers(2000, 10, 1000, waitQueue('a'))).map((t) => t.timerId)).toEqual(['wait:a:d1']);
			expect((await store.takeDueTimers(2000, 10, 1000, waitQueue('a-bodies'))).map((t) => t.timerId)).toEqual(['wait:a-bodies:d2']);
			const counts = await store.eraseContact({ contactId: 'c1', identityKeys: [], claimKeys: [], armKeys: [], pseudonymise: (d) => d });
			expect(counts.timers).toBe(2);
		});

		describeConsoleStoreContract(open);
	});
}
