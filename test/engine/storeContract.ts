import type { Store } from '../../engine/store/types';
import { decision, profile } from '../helpers/fixtures';

/**
 * The behaviour every Store backend must have. Each backend's test file calls this with a factory
 * that returns a fresh, empty store.
 */
export function describeStoreContract(name: string, open: () => Promise<Store> | Store): void {
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

		test('claimKey is true once per time to live, and again after release or expiry', async () => {
			expect(await store.claimKey('event:1', 1000, 0)).toBe(true);
			expect(await store.claimKey('event:1', 1000, 500)).toBe(false);
			expect(await store.claimKey('event:1', 1000, 1000)).toBe(true);
			await store.releaseKey('event:1');
			expect(await store.claimKey('event:1', 1000, 1001)).toBe(true);
		});

		test('reserveCap counts per channel and across channels, and refuses the slot past the limit', async () => {
			const counters = (now: number) => [
				{ ruleId: 'email-daily', limit: 2, channel: 'email', since: now - 86_400_000 },
				{ ruleId: 'any-weekly', limit: 3, since: now - 7 * 86_400_000 },
			];
			const r = (id: string, channel: string, at: number) => ({ reservationId: id, contactId: 'c1', channel, at, expiresAt: at + 60_000 });
			const day = 86_400_000;
			expect((await store.reserveCap(r('r1', 'email', 10 * day), counters(10 * day))).ok).toBe(true);
			expect((await store.reserveCap(r('r2', 'email', 10 * day + 1), counters(10 * day + 1))).ok).toBe(true);
			const third = await store.reserveCap(r('r3', 'email', 10 * day + 2), counters(10 * day + 2));
			expect(third).toEqual({ ok: false, counts: [2, 2], bindingRuleId: 'email-daily' });
			// The guard passes only the rules that apply to the channel: for SMS, just the any-channel rule.
			const smsCounters = (now: number) => counters(now).slice(1);
			expect((await store.reserveCap(r('r4', 'sms', 10 * day + 3), smsCounters(10 * day + 3))).ok).toBe(true);
			const fifth = await store.reserveCap(r('r5', 'sms', 10 * day + 4), smsCounters(10 * day + 4));
			expect(fifth.bindingRuleId).toBe('any-weekly');
			// Another contact is unaffected.
			expect((await store.reserveCap({ ...r('r6', 'email', 10 * day), contactId: 'c2' }, counters(10 * day))).ok).toBe(true);
		});

		test('a rolling window forgets old sends', async () => {
			const day = 86_400_000;
			const counter = (now: number) => [{ ruleId: 'email-daily', limit: 1, channel: 'email', since: now - day }];
			const r = (id: string, at: number) => ({ reservationId: id, contactId: 'c1', channel: 'email', at, expiresAt: at + 60_000 });
			expect((await store.reserveCap(r('a', 0), counter(0))).ok).toBe(true);
			await store.settleCap('a', 'commit');
			expect((await store.reserveCap(r('b', day - 1), counter(day - 1))).ok).toBe(false);
			expect((await store.reserveCap(r('c', day + 1), counter(day + 1))).ok).toBe(true);
		});

		test('released and expired reservations free their slot; committed ones keep it', async () => {
			// A send that outlived its reservation's timeout still happened, so committing it late counts it.
			const counter = [{ ruleId: 'one', limit: 1, since: 0 }];
			const r = (id: string, at: number) => ({ reservationId: id, contactId: 'c1', channel: 'email', at, expiresAt: at + 1000 });
			expect((await store.reserveCap(r('a', 10), counter)).ok).toBe(true);
			expect(await store.settleCap('a', 'release')).toBe(true);
			expect(await store.settleCap('a', 'release')).toBe(false);
			expect((await store.reserveCap(r('b', 20), counter)).ok).toBe(true);
			// b is pending and unexpired at 500, expired at 1020.
			expect((await store.reserveCap(r('c', 500), counter)).ok).toBe(false);
			expect((await store.reserveCap(r('d', 1021), counter)).ok).toBe(true);
			expect(await store.settleCap('b', 'commit')).toBe(true);
			expect(await store.settleCap('b', 'commit')).toBe(false);
			const full = await store.reserveCap(r('e', 5000), counter);
			// b is committed; d is pending but expired at 5000, so only b counts.
			expect(full).toEqual({ ok: false, counts: [1], bindingRuleId: 'one' });
			expect(await store.settleCap('d', 'release')).toBe(true);
		});

		test('concurrent reservations for the last slots: exactly the limit succeed', async () => {
			const counter = [{ ruleId: 'three', limit: 3, since: 0 }];
			const results = await Promise.all(
				Array.from({ length: 40 }, (_, i) =>
					store.reserveCap({ reservationId: `r${i}`, contactId: 'c1', channel: 'email', at: 100, expiresAt: 10_000 }, counter),
				),
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
	});
}
