/** At-least-once ingest: an event claimed by a process that died before storing it is taken over, not lost. */
import { EVENT_LEASE_MS, eventLeaseKey, eventMarkKey } from '../../engine/events/eventClaim';
import type { Decision } from '../../engine/audit/schema';
import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { contactLockKey, identityLockKey } from '../../engine/profiles/identityLock';
import { MemoryStore } from '../../engine/store/memory';
import type { Store } from '../../engine/store/types';
import { describeWithServer, TEST_POSTGRES_URL, TEST_REDIS_URL } from '../helpers/services';
import { postgresStore, redisStore } from '../helpers/rawStores';

/** An event in the nurture journey (the journey its keys are per). */
const nurture = (eventId: string) => ({ journey: 'nurture', eventId });

const T0 = Date.parse('2026-11-21T09:00:00.000Z');
const event = (eventId: string, at: number, name = 'Pricing Viewed') => ({ eventId, type: 'track', name, identities: { email: 'ana@example.com' }, occurredAt: new Date(at).toISOString() });

function engineOn(store: Store) {
	return new Engine({ store, clock: 'event', policy: loadPolicy() });
}

/**
 * The store's steps as the engine calls them (not those a composed step makes inside itself); `before` runs ahead of
 * each (another process acting at that moment).
 */
function recorded(store: Store, before?: (method: string, args: unknown[]) => Promise<void>) {
	const calls: { method: string; args: unknown[] }[] = [];
	const spied = new Proxy(store, {
		get(target, name, receiver) {
			const value = Reflect.get(target, name, receiver);
			if (typeof value !== 'function' || typeof name !== 'string') return value;
			return (...args: unknown[]) => {
				calls.push({ method: name, args });
				return before ? before(name, args).then(() => value.apply(target, args)) : value.apply(target, args);
			};
		},
	});
	return { store: spied, calls, names: () => calls.map((c) => c.method) };
}

/** Opens stores with `open`, each closed after the test that opened it (in a describe block). */
function closedAfterEach<S extends Store>(open: (label: string) => S): (label: string) => S {
	const opened: S[] = [];
	afterEach(async () => {
		for (const store of opened.splice(0)) await store.close();
	});
	return (label) => {
		const store = open(label);
		opened.push(store);
		return store;
	};
}

describe('taking an event in across processes', () => {
	test('an event whose first taker died before storing it is taken in by the next delivery once the lease runs out', async () => {
		const store = new MemoryStore();
		// Another process claimed the event a lease ago and died (kill -9) before its decision row was stored.
		expect(await store.claimKey(eventLeaseKey(nurture('e1')), EVENT_LEASE_MS, Date.now() - EVENT_LEASE_MS)).toBe(true);
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
		expect(await store.claimKey(eventLeaseKey(nurture('e2')), EVENT_LEASE_MS, Date.now())).toBe(true);
		// The first taker stores its decision and marks the event 60 ms later.
		setTimeout(() => void store.holdKey(eventMarkKey(nurture('e2')), 72 * 3_600_000, T0), 60);
		const started = Date.now();
		const twin = await engineOn(store).ingest(event('e2', T0 + 1), { journey: 'nurture' });
		expect(twin.duplicate).toBe(true);
		expect(Date.now() - started).toBeGreaterThanOrEqual(50);
	});

	test('a delivery that meets a live lease gives up after a while, saying how long until the lease runs out', async () => {
		const store = new MemoryStore();
		expect(await store.claimKey(eventLeaseKey(nurture('e4')), EVENT_LEASE_MS, Date.now())).toBe(true);
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
 * The one-call journey lets Choose Channel's look at the caps carry the event's mark (one store step instead of two):
 * the mark is still set before any message can leave, and also when the decision never reaches the look or the look
 * fails.
 */
describe('the event mark carried by the next step of the one-call journey', () => {
	const target = { dryRun: true as const };

	test('a decision sent: the look carries the mark, before the cap check, and no step of its own sets it', async () => {
		const store = new MemoryStore();
		const { store: spied, calls, names } = recorded(store);
		const d = await engineOn(spied).decide(event('m1', T0), { journey: 'nurture', target });
		expect(d.status).toBe('sent');
		const look = calls.find((c) => c.method === 'peekCapAndReadArmStats')!;
		expect(look.args[5]).toEqual({ mark: { hold: eventMarkKey(nurture('m1')), ttlMs: expect.any(Number), now: T0, release: eventLeaseKey(nurture('m1')), claimedUntil: expect.any(Number) } });
		expect(names()).not.toContain('finishTakeIn');
		expect(names().indexOf('peekCapAndReadArmStats')).toBeLessThan(names().indexOf('reserveCapAndClaim'));
		expect(await store.keyHeldUntil(eventMarkKey(nurture('m1')), T0)).toBeGreaterThan(T0);
		expect(await store.keyHeldUntil(eventLeaseKey(nurture('m1')), Date.now())).toBeUndefined();
		expect((await engineOn(store).ingest(event('m1', T0 + 1), { journey: 'nurture' })).duplicate).toBe(true);
	});

	test('a decision that never reaches Choose Channel (not a trigger of the journey): the mark set in a step of its own', async () => {
		const store = new MemoryStore();
		const { store: spied, names } = recorded(store);
		const policy = loadPolicy({ ...DEFAULT_POLICY, journeys: { ...DEFAULT_POLICY.journeys, promo: { triggers: ['Cart Updated'] } } });
		const d = await new Engine({ store: spied, clock: 'event', policy }).decide(event('m2', T0), { journey: 'promo', target });
		expect(d).toMatchObject({ status: 'suppressed', reason: 'NOT_A_TRIGGER' });
		expect(names()).toContain('finishTakeIn');
		expect(names()).not.toContain('peekCapAndReadArmStats');
		expect((await engineOn(store).ingest(event('m2', T0 + 1), { journey: 'promo' })).duplicate).toBe(true);
	});

	/** Decides event `id` while the store's `down` steps fail, then puts them back; the steps the engine called. */
	async function decideWhileDown(id: string, down: ('peekCapAndReadArmStats' | 'finishTakeIn')[]) {
		const store = new MemoryStore();
		const { store: spied, names } = recorded(store);
		const kept = down.map((name) => [name, store[name]] as const);
		for (const name of down) {
			store[name] = async () => {
				throw new Error('store down');
			};
		}
		await expect(engineOn(spied).decide(event(id, T0), { journey: 'nurture', target })).rejects.toThrow(/store down/);
		for (const [name, method] of kept) Object.assign(store, { [name]: method });
		return { store, names: names() };
	}

	test('a look that fails: the decision fails unsent, the mark is set on its own, and a repeated delivery is a duplicate', async () => {
		const { store, names } = await decideWhileDown('m3', ['peekCapAndReadArmStats']);
		expect(names).toContain('finishTakeIn');
		expect(names).not.toContain('reserveCapAndClaim');
		expect((await engineOn(store).ingest(event('m3', T0 + 1), { journey: 'nurture' })).duplicate).toBe(true);
	});

	test('a mark that cannot be set at all lets the event go, so a retried delivery takes it again, and nothing is sent', async () => {
		const { store, names } = await decideWhileDown('m4', ['peekCapAndReadArmStats', 'finishTakeIn']);
		expect(names).not.toContain('reserveCapAndClaim');
		// Tried once: once it failed, the event (and a profile update with it) was let go, and nothing is sent again.
		expect(names.filter((name) => name === 'finishTakeIn')).toHaveLength(1);
		expect(await store.keyHeldUntil(eventLeaseKey(nurture('m4')), Date.now())).toBeUndefined();
		expect((await engineOn(store).ingest(event('m4', T0 + 1), { journey: 'nurture' })).duplicate).toBe(false);
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
			leased = await store.keyHeldUntil(eventLeaseKey(nurture('held-1')), Date.now());
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

/**
 * An unsubscribe recorded as an outcome opts the contact out under the contact's identity locks, like every other
 * profile update: a profile update another process has read and not yet saved cannot overwrite the opt-out.
 */
describeWithServer('Redis', TEST_REDIS_URL)('an opt-out recorded while another process updates the profile', () => {
	test('the opt-out waits for the identity lock and is applied to the profile that process saved', async () => {
		const store = redisStore('optout');
		const engine = engineOn(store);
		const sent = await engine.decide(event('o1', T0), { journey: 'nurture', target: { dryRun: true } });
		expect(sent.status).toBe('sent');
		// Another process takes the locks of an update of the contact by email (the email's, the contact's) and reads the profile.
		const locks = [identityLockKey('email:ana@example.com'), contactLockKey(sent.contactId)];
		for (const lock of locks) expect(await store.claimKey(lock, 60_000, Date.now())).toBe(true);
		const read = (await store.getProfile(sent.contactId))!;
		expect(read.consent[sent.channel!]).not.toBe('opted_out');
		let recorded = false;
		const optOut = engine.recordOutcome({ decisionId: sent.decisionId, type: 'unsubscribe', at: new Date(T0 + 60_000).toISOString() }).finally(() => (recorded = true));
		await new Promise((resolve) => setTimeout(resolve, 150));
		expect(recorded).toBe(false);
		// That process saves what it read (one more event counted) and lets the lock go.
		read.counters['Pricing Viewed'] = (read.counters['Pricing Viewed'] ?? 0) + 1;
		await store.saveProfileAndRelease(read, ['email:ana@example.com'], [], locks);
		await optOut;
		const profile = (await store.getProfile(sent.contactId))!;
		expect(profile.consent[sent.channel!]).toBe('opted_out');
		expect(profile.counters['Pricing Viewed']).toBe(2);
		await engine.close();
	});
});

/**
 * On Redis the one-call journey leaves the profile update's save, with the identity locks' release, to the look at the
 * caps, which sets the event's mark in the same script (Store.foldsTakeIn): one round trip fewer. The locks keep the
 * contact's other updates out until then; a save whose locks ran out is refused whole, for the event's retry.
 */
describeWithServer('Redis', TEST_REDIS_URL)('the profile save carried by the look on Redis', () => {
	const target = { dryRun: true as const };
	const emailLock = identityLockKey('email:ana@example.com');
	// The tests' engines are not closed (one wraps the store in a recorder): their stores are, after each.
	const openStore = closedAfterEach(redisStore);

	test('a decision sent: no step saves the profile before the look, which carries the save and the mark; the locks are held until then', async () => {
		const store = openStore('carrysave');
		// Whether the email lock is held as each step starts, up to the look.
		const held: (number | undefined)[] = [];
		let looked = false;
		const { store: spied, calls, names } = recorded(store, async (method) => {
			if (looked) return;
			held.push(await store.keyHeldUntil(emailLock, Date.now()));
			looked = method === 'peekCapAndReadArmStats';
		});
		const d = await engineOn(spied).decide(event('s1', T0), { journey: 'nurture', target });
		expect(d.status).toBe('sent');
		expect(names()).not.toContain('saveProfileAndRelease');
		expect(names()).not.toContain('finishTakeIn');
		const look = calls.find((c) => c.method === 'peekCapAndReadArmStats')!;
		expect(look.args[5]).toMatchObject({ mark: { hold: eventMarkKey(nurture('s1')) }, profile: { profile: { contactId: d.contactId }, release: [emailLock] } });
		// Held from the first step after the claim (the decision row's write) up to the look; let go by it.
		const fromRow = held.slice(names().indexOf('putDecision'));
		expect(fromRow.length).toBeGreaterThanOrEqual(2);
		expect(fromRow.every((until) => until !== undefined)).toBe(true);
		expect(await store.keyHeldUntil(emailLock, Date.now())).toBeUndefined();
		expect((await store.getProfile(d.contactId))!.counters['Pricing Viewed']).toBe(1);
		expect((await engineOn(store).ingest(event('s1', T0 + 1), { journey: 'nurture' })).duplicate).toBe(true);
	});

	test('a decision settled at ingest (not a trigger): the profile saved with the mark, in one step after its decision row', async () => {
		const store = openStore('carrynt');
		const { store: spied, names, calls } = recorded(store);
		const policy = loadPolicy({ ...DEFAULT_POLICY, journeys: { ...DEFAULT_POLICY.journeys, promo: { triggers: ['Cart Updated'] } } });
		const d = await new Engine({ store: spied, clock: 'event', policy }).decide(event('s2', T0), { journey: 'promo', target });
		expect(d).toMatchObject({ status: 'suppressed', reason: 'NOT_A_TRIGGER' });
		expect(names()).not.toContain('saveProfileAndRelease');
		expect(names().lastIndexOf('finishTakeIn')).toBeGreaterThan(names().indexOf('putDecision'));
		expect(calls.find((c) => c.method === 'finishTakeIn')!.args[0]).toMatchObject({ profile: { profile: { contactId: d.contactId } }, mark: { hold: eventMarkKey({ journey: 'promo', eventId: 's2' }) } });
		expect((await store.getProfile(d.contactId))!.counters['Pricing Viewed']).toBe(1);
		expect(await store.keyHeldUntil(emailLock, Date.now())).toBeUndefined();
	});

	test('a decision row that cannot be written: the locks let go without the save, the event let go, and the retry counts the event once', async () => {
		const store = openStore('carryfail');
		let failed = false;
		const { store: spied } = recorded(store, async (method) => {
			if (method === 'putDecision' && !failed) {
				failed = true;
				throw new Error('log down');
			}
		});
		await expect(engineOn(spied).decide(event('s3', T0), { journey: 'nurture', target })).rejects.toThrow(/log down/);
		expect(await store.keyHeldUntil(emailLock, Date.now())).toBeUndefined();
		expect(await store.resolveIdentities(['email:ana@example.com'])).toEqual(new Map());
		const d = await engineOn(store).decide(event('s3', T0 + 1), { journey: 'nurture', target });
		expect(d.status).toBe('sent');
		expect((await store.getProfile(d.contactId))!.counters['Pricing Viewed']).toBe(1);
	});

	/**
	 * Runs `decide` of event `id` on a recorder whose first decision-row write first runs `meanwhile` (the locks running
	 * out while the process stalls, another caller updating the contact), then lets a retry of the event through.
	 */
	async function stalled(label: string, meanwhile: (store: ReturnType<typeof redisStore>, contactId: string) => Promise<void>) {
		const store = openStore(label);
		const contactId = (await engineOn(store).decide(event(`${label}-0`, T0), { journey: 'nurture', target })).contactId;
		let stalls = true;
		const { store: spied, calls, names } = recorded(store, async (method) => {
			if (method !== 'putDecision' || !stalls) return;
			stalls = false;
			await meanwhile(store, contactId);
		});
		const at = T0 + 8 * 86_400_000;
		const refused = await engineOn(spied).decide(event(`${label}-1`, at), { journey: 'nurture', target }).then(
			() => undefined,
			(error: Error) => error,
		);
		return { store, contactId, calls, names, refused, at };
	}

	/** Another caller's update of the contact, under its locks: 5 more page views. */
	async function otherUpdate(store: ReturnType<typeof redisStore>, contactId: string) {
		const locks = [emailLock, contactLockKey(contactId)];
		const now = Date.now() + 1;
		for (const lock of locks) expect(await store.claimKey(lock, 60_000, now)).toBe(true);
		const other = (await store.getProfile(contactId))!;
		other.counters['Pricing Viewed'] += 5;
		expect(await store.saveProfileAndRelease(other, ['email:ana@example.com'], [], locks, now + 60_000)).toBe(true);
	}

	/** Refused whole: nothing of the event kept (the other caller's 5 stay), no mark, the lease let go; the retry counts it once. */
	async function expectRefusedThenRetried(run: Awaited<ReturnType<typeof stalled>>, label: string) {
		const { store, contactId, refused, at, names } = run;
		expect(refused?.message).toMatch(/was not taken in: its claim or its contact's locks ran out first .* no message left: deliver the event again/);
		expect(names()).not.toContain('reserveCapAndClaim');
		expect((await store.getProfile(contactId))!.counters['Pricing Viewed']).toBe(6);
		expect(await store.keyHeldUntil(eventMarkKey(nurture(`${label}-1`)), at)).toBeUndefined();
		// Still this delivery's, the lease was let go: the retry takes the event at once, not after the lease's 30 s.
		expect(await store.keyHeldUntil(eventLeaseKey(nurture(`${label}-1`)), Date.now())).toBeUndefined();
		const retried = await engineOn(store).decide(event(`${label}-1`, at), { journey: 'nurture', target });
		expect(retried.status).toBe('sent');
		expect((await store.getProfile(contactId))!.counters['Pricing Viewed']).toBe(7);
		// The refused delivery's decision row is settled failed with the refusal, not left pending; the retry's is sent.
		const rows = (await store.queryDecisions({ contactId })).filter((d) => d.event.eventId === `${label}-1`);
		expect(rows.map((d) => [d.decisionId === retried.decisionId, d.status, d.reason]).sort()).toEqual([
			[false, 'failed', 'STOPPED_BY_ERROR'],
			[true, 'sent', undefined],
		]);
		expect(rows.find((d) => d.status === 'failed')!.explanation).toMatch(/^stopped by an error before it ended: Event .* was not taken in: its claim or its contact's locks ran out first/);
	}

	test('a save left past the locks\' safe time is not carried nor sent: the take-in is refused whole before any message, for the retry', async () => {
		const realNow = performance.now.bind(performance);
		let lateBy = 0;
		const clock = jest.spyOn(performance, 'now').mockImplementation(() => realNow() + lateBy);
		try {
			const run = await stalled('carrystale', async (store, contactId) => {
				// The decision row takes 11 s: the clock moves on, the locks run out and another caller updates the contact.
				lateBy = 11_000;
				for (const lock of [emailLock, contactLockKey(contactId)]) await store.releaseKey(lock);
				await otherUpdate(store, contactId);
			});
			// Refused before the look: nothing of the decision goes on.
			expect(run.names()).not.toContain('peekCapAndReadArmStats');
			expect(run.names()).not.toContain('finishTakeIn');
			clock.mockRestore();
			await expectRefusedThenRetried(run, 'carrystale');
		} finally {
			clock.mockRestore();
		}
	});

	test('a carried save whose locks another caller took meanwhile is refused by the look (checked in its script), then the take-in whole, before any message', async () => {
		const run = await stalled('carryfence', async (store, contactId) => {
			// The locks run out without the clock saying so (a stalled process) and another caller takes them.
			for (const lock of [emailLock, contactLockKey(contactId)]) await store.releaseKey(lock);
			await otherUpdate(store, contactId);
		});
		expect(run.calls.find((c) => c.method === 'peekCapAndReadArmStats')!.args[5]).toMatchObject({ profile: { release: expect.arrayContaining([emailLock, contactLockKey(run.contactId)]) } });
		await expectRefusedThenRetried(run, 'carryfence');
	});

	/** ioredis sends a command again when a dropped connection lost its reply: the script runs twice, the caller sees the second answer. */
	function sentTwice(store: ReturnType<typeof redisStore>, command: string) {
		const client = store.client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
		const send = client[command].bind(client);
		client[command] = async (...args: unknown[]) => {
			client[command] = send;
			await send(...args);
			return send(...args);
		};
	}

	test('a take-in sent twice (a reply lost to a dropped connection) is taken once: the second run finds its own write', async () => {
		const store = openStore('carrytwice');
		sentTwice(store, 'nudgePeekAndArms');
		sentTwice(store, 'nudgeGetArms');
		const d = await engineOn(store).decide(event('t1', T0), { journey: 'nurture', target });
		expect(d.status).toBe('sent');
		expect((await store.getProfile(d.contactId))!.counters['Pricing Viewed']).toBe(1);
		// The nodes' ingest saves in a step of its own: the same there.
		sentTwice(store, 'nudgeFinishTakeIn');
		const taken = await engineOn(store).ingest(event('t2', T0 + 1000), { journey: 'nurture' });
		expect(taken.duplicate).toBe(false);
		expect((await store.getProfile(d.contactId))!.counters['Pricing Viewed']).toBe(2);
		expect((await engineOn(store).ingest(event('t2', T0 + 2000), { journey: 'nurture' })).duplicate).toBe(true);
		// A mark alone, fenced by its lease: the second run finds the lease it let go.
		expect(await store.claimKeyUnlessMarked(eventLeaseKey(nurture('t3')), EVENT_LEASE_MS, T0, eventMarkKey(nurture('t3')), T0)).toBe('claimed');
		sentTwice(store, 'nudgeFinishTakeIn');
		expect(await store.finishTakeIn({ mark: { hold: eventMarkKey(nurture('t3')), ttlMs: 60_000, now: T0, release: eventLeaseKey(nurture('t3')), claimedUntil: T0 + EVENT_LEASE_MS } })).toBe(true);
		expect(await store.keyHeldUntil(eventMarkKey(nurture('t3')), T0)).toBe(T0 + 60_000);
		// Sent again after the lease would have run out (the step reached Redis in its last moments): still taken.
		const now = Date.now();
		expect(await store.claimKeyUnlessMarked(eventLeaseKey(nurture('t4')), EVENT_LEASE_MS, now, eventMarkKey(nurture('t4')), T0)).toBe('claimed');
		await store.client.pexpire(`${store.prefix}claim:${eventLeaseKey(nurture('t4'))}`, 30);
		const client = store.client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
		const send = client.nudgeFinishTakeIn.bind(client);
		client.nudgeFinishTakeIn = async (...args: unknown[]) => {
			client.nudgeFinishTakeIn = send;
			await send(...args);
			await new Promise((resolve) => setTimeout(resolve, 100));
			return send(...args);
		};
		expect(await store.finishTakeIn({ mark: { hold: eventMarkKey(nurture('t4')), ttlMs: 60_000, now: T0, release: eventLeaseKey(nurture('t4')), claimedUntil: now + EVENT_LEASE_MS } })).toBe(true);
	});

	test('24 events of one contact decided at once by one engine: each counted once, every lock let go', async () => {
		const store = redisStore('carryburst');
		const engine = engineOn(store);
		const results = await Promise.all(Array.from({ length: 24 }, (_, i) => engine.decide(event(`carry-${i}`, T0 + i * 1000), { journey: 'nurture', target })));
		expect(new Set(results.map((d) => d.contactId)).size).toBe(1);
		expect((await store.getProfile(results[0].contactId))!.counters['Pricing Viewed']).toBe(24);
		expect(await store.keyHeldUntil(emailLock, Date.now())).toBeUndefined();
		await engine.close();
	});
});

/**
 * A delivery whose first decision-row write stalls past its event's lease (the clock moves on 31 s) while the sender's
 * retry, another delivery, takes the event over and in: the stalled one must write nothing, and its row say why. `run`
 * is how each delivery takes the event in: the nodes' ingest, or the one-call journey.
 */
async function overtaken<T extends { decision: Decision }>(store: Store, label: string, run: (engine: Engine, e: ReturnType<typeof event>) => Promise<T>, options: { policy?: ReturnType<typeof loadPolicy>; name?: string; at?: number } = {}) {
	// A week after the first message by default (its caps have room again).
	const at = options.at ?? T0 + 8 * 86_400_000;
	const on = (s: Store) => new Engine({ store: s, clock: 'event', policy: options.policy ?? loadPolicy() });
	const first = await on(store).decide(event(`${label}-0`, T0), { journey: 'nurture', target: { dryRun: true } });
	const realNow = Date.now.bind(Date);
	let other: T | undefined;
	let stalls = true;
	const { store: spied } = recorded(store, async (method) => {
		if (method !== 'putDecision' || !stalls) return;
		stalls = false;
		const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + EVENT_LEASE_MS + 1_000);
		try {
			other = await run(on(store), event(`${label}-1`, at, options.name));
		} finally {
			clock.mockRestore();
		}
	});
	const refused = await run(on(spied), event(`${label}-1`, at, options.name)).then(
		() => undefined,
		(error: Error) => error,
	);
	const rows = (await store.queryDecisions({ contactId: first.contactId })).filter((d) => d.event.eventId === `${label}-1`);
	// Each row: whether it is the other delivery's, its status and reason.
	const verdicts = rows.map((d) => [d.decisionId === other!.decision.decisionId, d.status, d.reason ?? null]).sort();
	return { first, other: other!, refused, rows, verdicts, on };
}

const ingestIn = (engine: Engine, e: ReturnType<typeof event>) => engine.ingest(e, { journey: 'nurture' });
const decideIn = (engine: Engine, e: ReturnType<typeof event>) => engine.decide(e, { journey: 'nurture', target: { dryRun: true } }).then((decision) => ({ decision }));
const REFUSED = /^Event .* was not taken in: its claim or its contact's locks ran out first .* deliver the event again/;

describe.each([
	['Redis', TEST_REDIS_URL, (label: string) => redisStore(label)],
	['PostgreSQL', TEST_POSTGRES_URL, (label: string) => postgresStore(label)],
] as const)('a delivery stalled past its lease and overtaken by another, on %s', (server, url, open) => {
	const openStore = closedAfterEach<Store>(open);

	describeWithServer(server, url)('', () => {
		test('the nodes\' ingest writes nothing: refused, the event counted once, its row settled failed; a repeat is a duplicate', async () => {
			const store = openStore('leasestall');
			const { first, other, refused, verdicts, on } = await overtaken(store, 'leasestall', ingestIn);
			expect(refused?.message).toMatch(REFUSED);
			expect(other.duplicate).toBe(false);
			// The stalled delivery's profile update was left to its mark's step, which wrote nothing.
			expect((await store.getProfile(first.contactId))!.counters['Pricing Viewed']).toBe(2);
			expect(verdicts).toEqual([
				[false, 'failed', 'STOPPED_BY_ERROR'],
				[true, 'pending', null],
			]);
			expect((await on(store).ingest(event('leasestall-1', T0 + 8 * 86_400_000 + 1000), { journey: 'nurture' })).duplicate).toBe(true);
		});

		test('the one-call journey: one decision sent, the stalled one failed', async () => {
			const store = openStore('leasedecide');
			const { first, other, refused, verdicts } = await overtaken(store, 'leasedecide', decideIn);
			expect(refused?.message).toMatch(REFUSED);
			expect(other.decision.status).toBe('sent');
			expect((await store.getProfile(first.contactId))!.counters['Pricing Viewed']).toBe(2);
			expect(verdicts).toEqual([
				[false, 'failed', 'STOPPED_BY_ERROR'],
				[true, 'sent', null],
			]);
		});

		test('the one-call journey held out: refused before its choice, so one holdout decision for the event, not two', async () => {
			const store = openStore('leasehold');
			const policy = loadPolicy({ ...DEFAULT_POLICY, holdout: { salt: 'nudge', globalShare: 1, journeys: {} } });
			const { refused, verdicts, rows, other } = await overtaken(store, 'leasehold', decideIn, { policy });
			expect(refused?.message).toMatch(REFUSED);
			expect(verdicts).toEqual([
				[false, 'failed', 'STOPPED_BY_ERROR'],
				[true, 'suppressed', 'HOLDOUT'],
			]);
			// The stalled decision never chose: its trail goes from ingest to its failure.
			const stalled = rows.find((d) => d.decisionId !== other.decision.decisionId)!;
			expect(stalled.trail.map((t) => t.stage)).not.toContain('choose');
			expect(stalled.trail.map((t) => t.status)).not.toContain('suppressed');
		});

		test('an event that starts no message (the nodes\' ingest): the refused row is failed, not a second NOT_A_TRIGGER', async () => {
			const store = openStore('leasent');
			const policy = loadPolicy({ ...DEFAULT_POLICY, journeys: { nurture: { channels: ['email'], triggers: ['Demo Requested'] } } });
			const { verdicts } = await overtaken(store, 'leasent', ingestIn, { policy });
			expect(verdicts).toEqual([
				[false, 'failed', 'STOPPED_BY_ERROR'],
				[true, 'suppressed', 'NOT_A_TRIGGER'],
			]);
		});

		test('a stalled delivery that then fails does not let go of the lease of the delivery that took the event over', async () => {
			const store = openStore('leaserelease');
			const on = (s: Store) => new Engine({ store: s, clock: 'event', policy: loadPolicy() });
			const at = T0 + 8 * 86_400_000;
			await on(store).decide(event('leaserelease-0', T0), { journey: 'nurture', target: { dryRun: true } });
			const realNow = Date.now.bind(Date);
			let reachedOther!: () => void;
			let letOtherGo!: () => void;
			const otherAtItsRow = new Promise<void>((resolve) => (reachedOther = resolve));
			const otherMayGoOn = new Promise<void>((resolve) => (letOtherGo = resolve));
			let other: Promise<unknown> | undefined;
			let stalls = true;
			// The stalled delivery's decision row: 31 s late (the other delivery takes the event over meanwhile), then it fails.
			const { store: stalled } = recorded(store, async (method) => {
				if (method !== 'putDecision' || !stalls) return;
				stalls = false;
				jest.spyOn(Date, 'now').mockImplementation(() => realNow() + EVENT_LEASE_MS + 1_000);
				let pauses = true;
				const { store: paused } = recorded(store, async (m) => {
					if (m !== 'putDecision' || !pauses) return;
					pauses = false;
					reachedOther();
					await otherMayGoOn;
				});
				other = on(paused).ingest(event('leaserelease-1', at), { journey: 'nurture' });
				await otherAtItsRow;
				throw new Error('decision write timed out');
			});
			try {
				await expect(on(stalled).ingest(event('leaserelease-1', at), { journey: 'nurture' })).rejects.toThrow(/decision write timed out/);
				// The other delivery still holds its lease: a third one waits for it.
				expect(await store.claimKeyUnlessMarked(eventLeaseKey(nurture('leaserelease-1')), EVENT_LEASE_MS, Date.now(), eventMarkKey(nurture('leaserelease-1')), at)).toBe('held');
				letOtherGo();
				expect(await other).toMatchObject({ duplicate: false });
			} finally {
				jest.restoreAllMocks();
			}
		});

		test('an outcome event in the one-call journey: counted once, recorded once', async () => {
			const store = openStore('leaseoutcome');
			const policy = loadPolicy({ ...DEFAULT_POLICY, journeys: { nurture: { channels: ['email', 'sms', 'push'], triggers: ['Pricing Viewed'], outcomes: { 'Email Clicked': { type: 'click' } } } } });
			const { first, refused } = await overtaken(store, 'leaseoutcome', decideIn, { policy, name: 'Email Clicked', at: T0 + 3_600_000 });
			expect(refused?.message).toMatch(REFUSED);
			expect((await store.getProfile(first.contactId))!.counters['Email Clicked']).toBe(1);
			expect((await store.getDecision(first.decisionId))!.outcomes.map((o) => o.type)).toEqual(['click']);
		});
	});
});

/**
 * Every update of a contact's profile takes the contact's own lock, however its event named the contact: identity
 * locks alone would let two events that name one contact by different identities (an email, a userId) read the same
 * profile, and the later save would drop the earlier one's update.
 */
describeWithServer('Redis', TEST_REDIS_URL)('events of one contact by different identities', () => {
	const byEmail = (id: string, at: number) => event(id, at);
	const byUserId = (id: string, at: number) => ({ ...event(id, at), identities: { userId: 'u-ana' } });

	test.each([
		['decided by one engine', 1, 'decide'],
		['taken in by one engine', 1, 'ingest'],
		['decided by two engines (two processes)', 2, 'decide'],
	] as const)('20 at once, %s: each counted once', async (_label, engines, how) => {
		const store = redisStore(`ident-${engines}-${how}`);
		const all = Array.from({ length: engines }, () => engineOn(store));
		// The contact known by both identities.
		await all[0].ingest({ ...event('link', T0), identities: { email: 'ana@example.com', userId: 'u-ana' } }, { journey: 'nurture' });
		const results = await Promise.all(
			Array.from({ length: 20 }, (_, i) => {
				const engine = all[i % engines];
				const e = (i % 2 ? byUserId : byEmail)(`id-${how}-${i}`, T0 + (i + 1) * 1000);
				return how === 'decide' ? engine.decide(e, { journey: 'nurture', target: { dryRun: true } }) : engine.ingest(e, { journey: 'nurture' }).then((r) => r.decision);
			}),
		);
		expect(new Set(results.map((d) => d.contactId)).size).toBe(1);
		expect((await store.getProfile(results[0].contactId))!.counters['Pricing Viewed']).toBe(21);
		for (const engine of all) await engine.close();
	});

	test('an opt-out whose lock ran out and was taken before its save is refused, the other update kept; the retry opts out', async () => {
		const store = redisStore('optoutfence');
		const sent = await engineOn(store).decide(event('of1', T0), { journey: 'nurture', target: { dryRun: true } });
		const lock = contactLockKey(sent.contactId);
		let stalls = true;
		const { store: spied } = recorded(store, async (method) => {
			if (method !== 'saveProfileAndRelease' || !stalls) return;
			stalls = false;
			// The opt-out stalls past its lock; another update takes the lock, counts 5 page views and keeps the lock.
			await store.releaseKey(lock);
			expect(await store.claimKey(lock, 60_000, Date.now() + 1)).toBe(true);
			const other = (await store.getProfile(sent.contactId))!;
			other.counters['Pricing Viewed'] += 5;
			await store.saveProfile(other, [], []);
		});
		const outcome = { decisionId: sent.decisionId, type: 'unsubscribe' as const, at: new Date(T0 + 60_000).toISOString() };
		await expect(engineOn(spied).recordOutcome(outcome)).rejects.toThrow(/was not saved: its locks ran out first/);
		const kept = (await store.getProfile(sent.contactId))!;
		expect(kept.counters['Pricing Viewed']).toBe(6);
		expect(kept.consent[sent.channel!]).not.toBe('opted_out');
		// The other update's lock is kept; once it lets go, the retry opts the contact out and records the outcome.
		expect(await store.keyHeldUntil(lock, Date.now())).toBeDefined();
		await store.releaseKey(lock);
		expect((await engineOn(store).recordOutcome(outcome)).duplicate).toBe(false);
		expect((await store.getProfile(sent.contactId))!).toMatchObject({ counters: { 'Pricing Viewed': 6 }, consent: { [sent.channel!]: 'opted_out' } });
		await store.close();
	});

	test('an opt-out that fails is not lost: its outcome is recorded only after it, so the retry makes it', async () => {
		const store = redisStore('optoutretry');
		const engine = engineOn(store);
		const sent = await engine.decide(event('or1', T0), { journey: 'nurture', target: { dryRun: true } });
		const save = store.saveProfileAndRelease.bind(store);
		store.saveProfileAndRelease = async () => {
			throw new Error('store down');
		};
		const outcome = { decisionId: sent.decisionId, type: 'unsubscribe' as const, at: new Date(T0 + 60_000).toISOString() };
		await expect(engine.recordOutcome(outcome)).rejects.toThrow(/store down/);
		store.saveProfileAndRelease = save;
		expect((await engine.recordOutcome(outcome)).duplicate).toBe(false);
		expect((await store.getProfile(sent.contactId))!.consent[sent.channel!]).toBe('opted_out');
		expect((await engine.recordOutcome(outcome)).duplicate).toBe(true);
		await engine.close();
	});
});

/**
 * The composed lock step (PostgreSQL) resolves a contact's identities before it takes the contacts' locks: a merge in
 * between moves an identity to a contact it has not locked, so it lets go and tries again rather than read the wrong one.
 */
describeWithServer('PostgreSQL', TEST_POSTGRES_URL)('a merge between the identities read and the contact locks taken', () => {
	test('the update tries again and lands on the contact the identity now names, not on a new one', async () => {
		const store = postgresStore('mergerace');
		const engine = engineOn(store);
		const named = (id: string, at: number, identities: Record<string, string>) => ({ ...event(id, at), identities });
		const a = (await engine.ingest(named('mr0', T0, { userId: 'u1' }), { journey: 'nurture' })).decision.contactId;
		await engine.ingest(named('mr1', T0 + 1000, { anonymousId: 'z1', email: 'y@example.com' }), { journey: 'nurture' });
		const resolve = store.resolveIdentities.bind(store);
		let merged = false;
		store.resolveIdentities = async (keys: string[]) => {
			const found = await resolve(keys);
			if (!merged && keys.includes('email:y@example.com')) {
				merged = true;
				// Another worker's event links u1 and z1: y's contact is merged into A, and y points at A.
				await engine.ingest(named('mr2', T0 + 2000, { userId: 'u1', anonymousId: 'z1' }), { journey: 'nurture' });
			}
			return found;
		};
		const e = await engine.ingest(named('mr3', T0 + 3000, { email: 'y@example.com' }), { journey: 'nurture' });
		store.resolveIdentities = resolve;
		expect(merged).toBe(true);
		expect(e.decision.contactId).toBe(a);
		expect((await store.resolveIdentities(['email:y@example.com'])).get('email:y@example.com')).toBe(a);
		expect((await store.getProfile(a))!.counters['Pricing Viewed']).toBe(4);
		await store.close();
	});
});
