import { NudgeError } from '../../engine/errors';
import { checkReview } from '../../engine/guard/review';
import { waitTimer } from '../../engine/guard/waits';
import { loadPolicy } from '../../engine/policy/load';
import { identityLockKey, withIdentityLocks } from '../../engine/profiles/identityLock';
import { waitQueue, type CapCounter, type CapReservation, type Store } from '../../engine/store/types';
import { decision, profile } from '../helpers/fixtures';

/**
 * What a store shared by several processes must add to the single-process contract: separate
 * connections to one namespace see each other's writes and race safely. `open()` returns a new
 * connection to the same (fresh) namespace each call within one test.
 */
export function describeSharedStoreContract(name: string, namespace: () => (() => Store) | Promise<() => Store>): void {
	describe(`Shared store contract: ${name}`, () => {
		let open: () => Store;
		const connections: Store[] = [];
		const connect = () => {
			const store = open();
			connections.push(store);
			return store;
		};
		beforeEach(async () => {
			open = await namespace();
		});
		afterEach(async () => {
			await Promise.all(connections.splice(0).map((s) => s.close()));
		});

		const one: CapCounter[] = [{ ruleId: 'two', limit: 2, since: 0, match: { channel: 'email' }, excludeTags: [] }];
		const reservation = (id: string, contactId: string): CapReservation => ({ reservationId: id, contactId, channel: 'email', journey: 'nurture', tags: [], at: 100, expiresAt: 60_000 });

		test('eight connections racing for the last cap slots of many contacts: exactly the limit each', async () => {
			const stores = Array.from({ length: 8 }, connect);
			const attempts = [];
			for (let c = 0; c < 10; c++) for (let i = 0; i < 16; i++) attempts.push(stores[i % 8].reserveCap(reservation(`r-${c}-${i}`, `c${c}`), one));
			const verdicts = await Promise.all(attempts);
			for (let c = 0; c < 10; c++) expect(verdicts.slice(c * 16, c * 16 + 16).filter((v) => v.ok)).toHaveLength(2);
			// A reservation is settled from any connection.
			const won = `r-0-${verdicts.findIndex((v) => v.ok)}`;
			expect(await stores[3].settleCap(won, 'commit')).toBe(true);
			expect(await stores[5].settleCap(won, 'commit')).toBe(false);
		});

		test('each due timer is taken by exactly one of several concurrent takers', async () => {
			const stores = Array.from({ length: 4 }, connect);
			for (let i = 0; i < 60; i++) await stores[0].scheduleTimer({ timerId: `t${String(i).padStart(2, '0')}`, dueAt: 1000 + i, body: `{"i":${i}}` });
			const taken = (await Promise.all(stores.flatMap((s) => [s.takeDueTimers(5000, 7, 60_000), s.takeDueTimers(5000, 7, 60_000), s.takeDueTimers(5000, 7, 60_000)]))).flat();
			const rest = await stores[1].takeDueTimers(5000, 100, 60_000);
			const ids = [...taken, ...rest].map((t) => t.timerId);
			expect(ids).toHaveLength(60);
			expect(new Set(ids).size).toBe(60);
		});

		test('waiting decisions: scheduled on a connection since closed, taken when due by exactly one of several concurrent takers', async () => {
			const writer = open();
			for (let i = 0; i < 40; i++) await writer.scheduleTimer(waitTimer({ decisionId: `d${String(i).padStart(2, '0')}`, journey: 'nurture', contactId: 'c1' }, 1000 + i));
			await writer.scheduleTimer({ timerId: 'inactivity:x:c1', dueAt: 1000, body: '{}' });
			await writer.sync();
			await writer.close();
			const stores = Array.from({ length: 4 }, connect);
			expect((await Promise.all(stores.map((s) => s.takeDueTimers(999, 100, 60_000, waitQueue('nurture'))))).flat()).toEqual([]);
			const taken = (await Promise.all(stores.flatMap((s) => [s.takeDueTimers(5000, 6, 60_000, waitQueue('nurture')), s.takeDueTimers(5000, 6, 60_000, waitQueue('nurture'))]))).flat();
			const rest = await stores[2].takeDueTimers(5000, 100, 60_000, waitQueue('nurture'));
			const ids = [...taken, ...rest].map((t) => t.timerId);
			expect(ids).toHaveLength(40);
			expect(new Set(ids).size).toBe(40);
			expect(ids.every((id) => id.startsWith('wait:nurture:d'))).toBe(true);
		});

		test('timer leases across connections: a taker that never acknowledges loses the timer to another after the lease; two never hold it at once', async () => {
			const stores = Array.from({ length: 4 }, connect);
			for (let i = 0; i < 20; i++) await stores[0].scheduleTimer({ timerId: `l${String(i).padStart(2, '0')}`, dueAt: 1000, body: `{"i":${i}}` });
			// Connection 0 takes them all and dies (never acknowledges).
			const dead = await stores[0].takeDueTimers(1000, 100, 1000);
			expect(dead).toHaveLength(20);
			// While its lease runs, the others race for the timers and get none.
			expect((await Promise.all(stores.slice(1).map((s) => s.takeDueTimers(1999, 100, 1000)))).flat()).toEqual([]);
			// Once it runs out, the others race again: each timer goes to exactly one of them.
			const retaken = (await Promise.all(stores.slice(1).flatMap((s) => [s.takeDueTimers(2000, 4, 1000), s.takeDueTimers(2000, 4, 1000)]))).flat();
			const rest = await stores[2].takeDueTimers(2000, 100, 1000);
			const holders = [...retaken, ...rest];
			expect(holders.map((t) => t.timerId).sort()).toEqual(dead.map((t) => t.timerId).sort());
			// The dead taker's acknowledgements come too late; each holder's succeeds once, from any connection.
			for (const t of dead) expect(await stores[0].ackTimer(t.timerId, t.lease)).toBe(false);
			const acks = await Promise.all(holders.flatMap((t) => [stores[1].ackTimer(t.timerId, t.lease), stores[3].ackTimer(t.timerId, t.lease)]));
			expect(acks.filter(Boolean)).toHaveLength(20);
			expect(await stores[1].takeDueTimers(1e12, 100, 1000)).toEqual([]);
		});

		test('a de-duplication key is claimed by one connection only', async () => {
			const stores = Array.from({ length: 6 }, connect);
			const claims = await Promise.all(stores.flatMap((s) => [s.claimKey('event:x', 60_000, 10), s.claimKey('event:x', 60_000, 10)]));
			expect(claims.filter(Boolean)).toHaveLength(1);
		});

		test('identity locks: of several connections racing for overlapping lock sets, one at a time holds them', async () => {
			const stores = Array.from({ length: 6 }, connect);
			const sets = [['lock:a', 'lock:b'], ['lock:b', 'lock:c'], ['lock:c', 'lock:a']];
			const calls = stores.flatMap((s, i) => [sets[i % 3], sets[(i + 1) % 3]].map((set) => ({ set, read: s.lockAndReadProfiles(set, 60_000, 10, []) })));
			const winners: string[][] = [];
			for (const { set, read } of calls) if (await read) winners.push(set);
			// At most one (a store composing the claims may let every racer back off); a loser keeps no lock of its set.
			expect(winners.length).toBeLessThanOrEqual(1);
			const held = [];
			for (const lock of ['lock:a', 'lock:b', 'lock:c']) if ((await stores[0].keyHeldUntil(lock, 10)) !== undefined) held.push(lock);
			expect(held).toEqual([...(winners[0] ?? [])].sort());
			// The event lease too: one connection claims it, the others find it held.
			const claims = await Promise.all(stores.map((s) => s.claimKeyUnlessMarked('event-lease:x', 60_000, 10, 'event:x', 10)));
			expect(claims.filter((c) => c === 'claimed')).toHaveLength(1);
			expect(claims.filter((c) => c === 'held')).toHaveLength(5);
		});

		test('a run under identity locks that outlasted them (an erasure) does not let go of the connection that took them since', async () => {
			const [a, b] = [connect(), connect()];
			const lock = identityLockKey('email:x@y.io');
			// 16 s later on b's clock the run's 15 s locks have run out, and b takes one.
			const later = () => Date.now() + 16_000;
			let taken = false;
			await withIdentityLocks(a, ['email:x@y.io', 'userId:u1'], async () => {
				taken = await b.claimKey(lock, 15_000, later());
			});
			expect(taken).toBe(true);
			expect(await b.keyHeldUntil(lock, later())).toBeDefined();
			// Its other lock, still its own, it let go.
			expect(await b.keyHeldUntil(identityLockKey('userId:u1'), Date.now())).toBeUndefined();
		});

		test('review: concurrent checks of a new content variant from several connections all send it to review', async () => {
			const stores = Array.from({ length: 6 }, connect);
			const { policy } = loadPolicy({ channelOrder: ['email'], review: [{ id: 'new-copy', newVariant: true }] });
			const d = decision('d1', { message: { variant: 'spring-b' } });
			const results = await Promise.all(stores.flatMap((s) => Array.from({ length: 4 }, () => checkReview(s, policy, profile('c1'), d))));
			expect(results.map((r) => r.hits.map((rule) => rule.id))).toEqual(Array(24).fill(['new-copy']));
		});

		test('named records from several connections: one reward claim and one promotion win; an approval is seen by all', async () => {
			const stores = Array.from({ length: 6 }, connect);
			const rewards = await Promise.all(stores.flatMap((s) => [s.claimReward('d1', 1000), s.claimReward('d1', 1000)]));
			expect(rewards.filter(Boolean)).toHaveLength(1);
			const promotions = await Promise.all(stores.map((s, i) => s.promoteVariant('cart-subject', `v${i}`)));
			expect(promotions.filter(Boolean)).toHaveLength(1);
			const winner = `v${promotions.indexOf(true)}`;
			expect(await Promise.all(stores.map((s) => s.variantWinner('cart-subject')))).toEqual(Array(6).fill(winner));
			await stores[0].approveVariant('spring-c', 1000);
			expect(await Promise.all(stores.map((s) => s.isVariantApproved('spring-c')))).toEqual(Array(6).fill(true));
		});

		test('learner counts from concurrent writers add up, and reads see them', async () => {
			const stores = Array.from({ length: 4 }, connect);
			await Promise.all(
				Array.from({ length: 40 }, (_, i) => stores[i % 4].addArmStats([{ key: 'ctx|email', delta: { trials: 1, successes: i % 2, valueSum: 2.5 } }, { key: 'ctx|sms', delta: { trials: 1 } }])),
			);
			const stats = await stores[2].getArmStats(['ctx|email', 'ctx|sms', 'ctx|push']);
			expect(stats.get('ctx|email')).toEqual({ trials: 40, successes: 20, negatives: 0, valueSum: 100, valueSq: 0 });
			expect(stats.get('ctx|sms')?.trials).toBe(40);
			expect(stats.has('ctx|push')).toBe(false);
			await expect(stores[0].addArmStats([{ key: 'ctx|email', delta: { trials: Number.NaN } }])).rejects.toThrow(NudgeError);
			expect((await stores[0].getArmStats(['ctx|email'])).get('ctx|email')?.trials).toBe(40);
		});

		test('a decision is found by its provider message id from another connection', async () => {
			const [a, b] = [connect(), connect()];
			await a.putDecision(decision('d1', { status: 'sent', delivery: { provider: 'webhook', status: 'sent', idempotencyKey: 'k1', attempts: 1, providerMessageId: 'msg-1', at: '2026-11-01T00:00:01.000Z' } }));
			await a.sync();
			expect((await b.findDecisionByMessageId('msg-1'))?.decisionId).toBe('d1');
			expect(await b.findDecisionByMessageId('msg-2')).toBeUndefined();
		});
	});
}
