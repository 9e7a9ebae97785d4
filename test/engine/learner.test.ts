import { join } from 'node:path';
import { epsilonGreedy, fixedOrder, ourLearner, simulate, uniform } from '../../bench/bandit';
import type { Decision } from '../../engine/audit/schema';
import { chooseArm, contextOf } from '../../engine/decide/learner';
import { Random, sampleBeta, sampleGamma, sampleNormal, seededRandom } from '../../engine/decide/sampling';
import { Engine } from '../../engine/engine';
import type { Sender } from '../../engine/deliver/provider';
import { loadPolicy } from '../../engine/policy/load';
import type { PolicyInput } from '../../engine/policy/schema';
import { MemoryStore } from '../../engine/store/memory';
import { SqliteStore } from '../../engine/store/sqlite';
import type { ArmStats, Store } from '../../engine/store/types';
import { profile, tempDir } from '../helpers/fixtures';

/** Four reachable, consented channels with no caps: only the learner decides. */
function policyWith(extra: Partial<PolicyInput> = {}) {
	return loadPolicy({
		channelOrder: ['email', 'sms', 'push', 'in_app'],
		channels: { email: { unknownConsent: 'allow' }, sms: { unknownConsent: 'allow' }, push: { unknownConsent: 'allow' }, in_app: { unknownConsent: 'allow' } },
		...extra,
	});
}

function engineWith(extra: Partial<PolicyInput> = {}, seed = 1, store: Store = new MemoryStore(), now?: () => Date) {
	return new Engine({ store, policy: policyWith(extra), random: seededRandom(seed), now });
}

let contactSeq = 0;
const reachableEvent = (name = 'Cart Abandoned', traits: Record<string, unknown> = {}) => {
	contactSeq += 1;
	return {
		type: 'track',
		name,
		identities: { email: `c${contactSeq}@x.io`, userId: `u${contactSeq}` },
		traits: { phone: '+15550100', pushToken: 'tok', ...traits },
	};
};

/** A sender that hands out provider message ids, like a real provider. */
function fakeSender(): Sender {
	let n = 0;
	return { provider: 'fake', attempt: async () => ({ providerMessageId: `pm-${++n}`, httpStatus: 202 }) };
}

const stat = async (store: Store, key: string): Promise<ArmStats | undefined> => (await store.getArmStats([key])).get(key);

describe('posterior samplers', () => {
	const moments = (draw: () => number, n = 40_000) => {
		let sum = 0;
		let sq = 0;
		for (let i = 0; i < n; i++) {
			const x = draw();
			sum += x;
			sq += x * x;
		}
		const mean = sum / n;
		return { mean, variance: sq / n - mean * mean };
	};

	test('the same seed gives the same sequence; different seeds differ', () => {
		const a = seededRandom(7);
		const b = seededRandom(7);
		const c = seededRandom(8);
		const seqA = Array.from({ length: 5 }, a);
		expect(Array.from({ length: 5 }, b)).toEqual(seqA);
		expect(Array.from({ length: 5 }, c)).not.toEqual(seqA);
		expect(seqA.every((x) => x >= 0 && x < 1)).toBe(true);
	});

	test.each([
		[2, 5],
		[0.5, 0.5],
		[30, 970],
	])('Beta(%p, %p) has the right mean and variance', (a, b) => {
		const random = seededRandom(11);
		const { mean, variance } = moments(() => sampleBeta(random, a, b));
		const trueMean = a / (a + b);
		const trueVar = (a * b) / ((a + b) ** 2 * (a + b + 1));
		expect(Math.abs(mean - trueMean)).toBeLessThan(4 * Math.sqrt(trueVar / 40_000));
		expect(variance / trueVar).toBeGreaterThan(0.95);
		expect(variance / trueVar).toBeLessThan(1.05);
	});

	test('Gamma and Normal have the right moments; a bad shape is refused', () => {
		const random = seededRandom(3);
		const g = moments(() => sampleGamma(random, 3));
		expect(g.mean).toBeCloseTo(3, 1);
		expect(g.variance).toBeCloseTo(3, 0);
		const z = moments(() => sampleNormal(random, 10, 2));
		expect(z.mean).toBeCloseTo(10, 1);
		expect(z.variance).toBeCloseTo(4, 0);
		expect(() => sampleGamma(random, 0)).toThrow(/shape must be positive/);
	});
});

describe('chooseArm', () => {
	const arms = ['email', 'sms', 'push'] as const;
	async function storeWith(counts: Record<string, Partial<ArmStats>>): Promise<Store> {
		const store = new MemoryStore();
		await store.addArmStats(Object.entries(counts).map(([key, delta]) => ({ key, delta })));
		return store;
	}
	const choose = (store: Store, random: Random, extra: Partial<PolicyInput> = {}, context = 'ctx') =>
		chooseArm({ store, policy: policyWith(extra).policy, arms: [...arms], context, random });

	test('with no data: the policy order, and the prior means follow it', async () => {
		const picked = await choose(new MemoryStore(), seededRandom(1));
		expect(picked).toMatchObject({ arm: 'email', method: 'default_order' });
		const means = picked.estimates.map((e) => e.mean);
		expect(means[0]).toBeGreaterThan(means[1]);
		expect(means[1]).toBeGreaterThan(means[2]);
		expect(picked.estimates.map((e) => e.arm)).toEqual(['email', 'sms', 'push']);
		expect(picked.estimates.every((e) => e.sampled > 0 && e.sampled < 1)).toBe(true);
	});

	test('a context with little data follows the global posterior; one with much data follows its own', async () => {
		const store = await storeWith({
			'global#email': { trials: 2000, successes: 40 },
			'global#sms': { trials: 2000, successes: 200 },
			'global#push': { trials: 2000, successes: 60 },
			// In "vip", email is best, with plenty of evidence; "new" has two unlucky sms sends.
			'vip#email': { trials: 1000, successes: 150 },
			'vip#sms': { trials: 1000, successes: 20 },
			'vip#push': { trials: 1000, successes: 30 },
			'new#sms': { trials: 2, successes: 0 },
		});
		const off = { learner: { exploration: { mode: 'off' as const } } };
		const fresh = await choose(store, seededRandom(1), off, 'new');
		expect(fresh).toMatchObject({ arm: 'sms', method: 'greedy' });
		// Pooled: close to the global 10%, pulled only a little by two failures.
		expect(fresh.estimates[1].mean).toBeGreaterThan(0.08);
		const vip = await choose(store, seededRandom(1), off, 'vip');
		expect(vip.arm).toBe('email');
		expect(vip.estimates[0].mean).toBeGreaterThan(0.13);
	});

	test('exploration: a ceiling bounds the share of non-best choices, a floor guarantees it, off never explores', async () => {
		// Two near-equal arms: pure Thompson sampling would try the other one about half the time.
		const close = await storeWith({
			'global#email': { trials: 40, successes: 4 },
			'global#sms': { trials: 40, successes: 5 },
			'global#push': { trials: 40, successes: 4 },
		});
		const share = async (extra: Partial<PolicyInput>, store: Store) => {
			const random = seededRandom(5);
			let explored = 0;
			for (let i = 0; i < 3000; i++) {
				const pick = await choose(store, random, extra);
				const best = pick.estimates.reduce((b, e) => (e.mean > b.mean ? e : b)).arm;
				if (pick.arm !== best) explored++;
			}
			return explored / 3000;
		};
		expect(await share({}, close)).toBeGreaterThan(0.3);
		expect(await share({ learner: { exploration: { ceiling: 0.1 } } }, close)).toBeLessThanOrEqual(0.1);
		expect(await share({ learner: { exploration: { mode: 'off' } } }, close)).toBe(0);
		// Overwhelming evidence: Thompson alone would almost never explore; the floor makes it 20%.
		const clear = await storeWith({ 'global#email': { trials: 5000, successes: 1000 }, 'global#sms': { trials: 5000, successes: 50 }, 'global#push': { trials: 5000, successes: 50 } });
		expect(await share({}, clear)).toBeLessThan(0.03);
		const floored = await share({ learner: { exploration: { floor: 0.2, ceiling: 0.5 } } }, clear);
		expect(floored).toBeGreaterThan(0.17);
		expect(floored).toBeLessThan(0.23);
	});

	test('the value objective ranks by revenue per message, and negatives count against a channel', async () => {
		const store = await storeWith({
			'global#email': { trials: 500, valueSum: 5000, valueSq: 5000 * 40 },
			'global#sms': { trials: 500, valueSum: 7500, valueSq: 7500 * 40 },
			'global#push': { trials: 500, valueSum: 1000, valueSq: 1000 * 40 },
		});
		const value = await choose(store, seededRandom(2), { learner: { objective: 'value', exploration: { mode: 'off' } } });
		expect(value.arm).toBe('sms');
		expect(value.estimates[1].mean).toBeCloseTo(15, 5);
		// 300 of sms's 500 messages drew a complaint: each costs the average message's value (9), leaving 9.6 a message.
		await store.addArmStats([{ key: 'global#sms', delta: { negatives: 300 } }]);
		const penalised = await choose(store, seededRandom(2), { learner: { objective: 'value', exploration: { mode: 'off' } } });
		expect(penalised.arm).toBe('email');
	});

	test('contexts: journey, step, tier, lifecycle and the policy segment key', () => {
		const { policy } = policyWith({ learner: { segmentKey: 'traits.plan' } });
		const d = { journey: 'cart', event: { eventId: 'e', source: 'nudge', type: 'track', name: 'Cart Abandoned', occurredAt: '' } } as Decision;
		expect(contextOf({ ...d, score: { tier: 'hot' } as Decision['score'] }, profile('c', { lifecycle: 'customer', traits: { plan: 'pro' } }), policy.learner)).toBe(
			'journey=cart|step=Cart Abandoned|tier=hot|lifecycle=customer|segment=pro',
		);
		expect(contextOf(d, profile('c'), policy.learner)).toBe('journey=cart|step=Cart Abandoned|tier=unscored|lifecycle=unknown|segment=unknown');
	});
});

describe('the learner in the engine', () => {
	test('every eligible candidate carries its sampled and mean expected value; ineligible ones carry a reason', async () => {
		const engine = engineWith({ journeys: { cart: { channels: ['email', 'sms', 'push'] } } });
		const { decision: opened } = await engine.ingest({ ...reachableEvent(), traits: { phone: '+1' } }, { journey: 'cart' });
		const chosen = await engine.chooseChannel(opened);
		expect(chosen.choice).toMatchObject({ method: 'default_order', arm: 'email' });
		expect(chosen.choice?.trialCounted).toBeUndefined();
		expect(chosen.explanation).toBe('email is the first eligible channel in the policy order (nothing learned yet)');
		expect(await stat(engine.store, 'global#email')).toBeUndefined();
		await engine.checkCap(chosen);
		const d = await engine.send(chosen, { dryRun: true });
		expect(d.choice).toMatchObject({ method: 'default_order', arm: 'email', trialCounted: true });
		const byChannel = Object.fromEntries(d.candidates!.map((c) => [c.channel, c]));
		for (const c of ['email', 'sms']) expect(byChannel[c]).toMatchObject({ eligible: true, mean: expect.any(Number), sampled: expect.any(Number) });
		expect(byChannel.push).toMatchObject({ eligible: false, reason: 'UNREACHABLE' });
		expect(byChannel.push.mean).toBeUndefined();
		expect(byChannel.in_app).toMatchObject({ eligible: false, reason: 'POLICY_BLOCKED', detail: 'channel in_app is not allowed in journey cart by the policy' });
		expect(byChannel.wait).toMatchObject({ eligible: false, reason: 'POLICY_BLOCKED' });
		expect(await stat(engine.store, 'global#email')).toMatchObject({ trials: 1 });
	});

	test.each(['memory', 'sqlite'])('learns the best channel of each context from outcomes (%s store)', async (kind) => {
		const store = kind === 'memory' ? new MemoryStore() : new SqliteStore(join(tempDir(), 'learn.db'));
		const engine = engineWith({}, 42, store);
		const world = seededRandom(99);
		// Carts: sms converts best; browsers: in_app does. The default order (email first) is wrong for both.
		const rates: Record<string, Record<string, number>> = {
			'Cart Abandoned': { email: 0.03, sms: 0.25, push: 0.05, in_app: 0.08 },
			'Browse Abandoned': { email: 0.04, sms: 0.05, push: 0.06, in_app: 0.3 },
		};
		const late: Record<string, string[]> = { 'Cart Abandoned': [], 'Browse Abandoned': [] };
		for (let i = 0; i < 700; i++) {
			const step = i % 2 ? 'Cart Abandoned' : 'Browse Abandoned';
			const d = await engine.decide(reachableEvent(step), { journey: 'recover', target: { dryRun: true } });
			expect(d.status).toBe('sent');
			if (i >= 500) late[step].push(d.channel!);
			if (world() < rates[step][d.channel!]) await engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion' });
		}
		const share = (list: string[], channel: string) => list.filter((c) => c === channel).length / list.length;
		expect(share(late['Cart Abandoned'], 'sms')).toBeGreaterThan(0.8);
		expect(share(late['Browse Abandoned'], 'in_app')).toBeGreaterThan(0.8);
		await engine.close();
	});

	test('learner state survives a restart (SQLite)', async () => {
		const path = join(tempDir(), 'restart.db');
		const first = engineWith({}, 1, new SqliteStore(path));
		const d = await first.decide(reachableEvent(), { journey: 'recover', target: { dryRun: true } });
		await first.recordOutcome({ decisionId: d.decisionId, type: 'conversion' });
		await first.close();
		const second = engineWith({}, 1, new SqliteStore(path));
		expect(await stat(second.store, 'global#email')).toMatchObject({ trials: 1, successes: 1 });
		expect(await stat(second.store, `${d.choice!.context}#email`)).toMatchObject({ trials: 1, successes: 1 });
		const next = await second.decide(reachableEvent(), { journey: 'recover', target: { dryRun: true } });
		expect(next.choice?.method).toBe('thompson');
		await second.close();
	});

	test('"no action / wait" competes when the policy allows it, and is logged with its own reason', async () => {
		const engine = engineWith({ learner: { allowWait: true, exploration: { mode: 'off' } } });
		const store = engine.store;
		const context = 'journey=recover|step=Cart Abandoned|tier=cold|lifecycle=unknown';
		// Every channel annoys this context (complaints); waiting converts on its own.
		await store.addArmStats(['email', 'sms', 'push', 'in_app'].flatMap((arm) => [{ key: `global#${arm}`, delta: { trials: 100, successes: 1, negatives: 30 } }]));
		await store.addArmStats([{ key: 'global#wait', delta: { trials: 100, successes: 10 } }]);
		const d = await engine.decide(reachableEvent(), { journey: 'recover', target: { dryRun: true } });
		expect(d.choice?.context).toBe(context);
		expect(d).toMatchObject({ status: 'suppressed', reason: 'WAIT_CHOSEN', choice: { arm: 'wait', method: 'greedy', trialCounted: true } });
		expect(d.delivery).toBeUndefined();
		expect(await stat(store, 'global#wait')).toMatchObject({ trials: 101 });
		// A conversion while waiting credits waiting.
		await engine.recordOutcome({ contactId: d.contactId, type: 'conversion' });
		expect(await stat(store, 'global#wait')).toMatchObject({ successes: 11 });
	});
});

describe('outcomes teach the learner exactly once', () => {
	test('by decision id: a duplicate is ignored and reported; a second reward on one decision is not a second success', async () => {
		const engine = engineWith();
		const d = await engine.decide(reachableEvent(), { journey: 'recover', target: { dryRun: true } });
		const first = await engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion', outcomeId: 'order-1' });
		expect(first.duplicate).toBe(false);
		const again = await engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion', outcomeId: 'order-1' });
		expect(again.duplicate).toBe(true);
		await engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion', outcomeId: 'order-2' });
		expect((await engine.getDecision(d.decisionId)).outcomes.map((o) => o.outcomeId)).toEqual(['order-1', 'order-2']);
		expect(await stat(engine.store, 'global#email')).toEqual({ trials: 1, successes: 1, negatives: 0, valueSum: 0, valueSq: 0 });
		// Opens are not rewards under the default policy: recorded, not learned from.
		await engine.recordOutcome({ decisionId: d.decisionId, type: 'open' });
		expect((await stat(engine.store, 'global#email'))?.successes).toBe(1);
	});

	test('by provider message id, and by contact + channel within the attribution window', async () => {
		let clock = new Date('2026-11-02T10:00:00.000Z');
		const engine = engineWith({ learner: { attributionWindowHours: 24 } }, 1, new MemoryStore(), () => clock);
		const sender = fakeSender();
		const d = await engine.decide(reachableEvent(), { journey: 'recover', target: { sender } });
		expect(d.delivery?.providerMessageId).toBe('pm-1');
		const byMessage = await engine.recordOutcome({ messageId: 'pm-1', type: 'click' });
		expect(byMessage.decision.decisionId).toBe(d.decisionId);
		clock = new Date('2026-11-02T20:00:00.000Z');
		const byContact = await engine.recordOutcome({ contactId: d.contactId, channel: 'email', type: 'conversion' });
		expect(byContact.decision.outcomes.map((o) => o.type)).toEqual(['click', 'conversion']);
		expect(await stat(engine.store, 'global#email')).toMatchObject({ trials: 1, successes: 1 });
		await expect(engine.recordOutcome({ contactId: d.contactId, channel: 'sms', type: 'conversion' })).rejects.toThrow(/No decision for contact .* by sms in the 24 hours before/);
		clock = new Date('2026-11-04T10:00:00.000Z'); // an outcome is reported once it happened (a later time is refused)
		await expect(engine.recordOutcome({ contactId: d.contactId, type: 'conversion', at: '2026-11-04T10:00:00.000Z' })).rejects.toThrow(/attribution window/);
		await expect(engine.recordOutcome({ messageId: 'pm-404', type: 'click' })).rejects.toThrow(/No decision in the log sent message pm-404/);
	});

	test('unsubscribes and complaints count against the channel', async () => {
		const engine = engineWith();
		const d = await engine.decide(reachableEvent(), { journey: 'recover', target: { dryRun: true } });
		await engine.recordOutcome({ decisionId: d.decisionId, type: 'complaint' });
		expect(await stat(engine.store, 'global#email')).toMatchObject({ trials: 1, negatives: 1 });
		expect(await stat(engine.store, `${d.choice!.context}#email`)).toMatchObject({ negatives: 1 });
		const next = await engine.decide(reachableEvent(), { journey: 'recover', target: { dryRun: true } });
		const email = next.candidates!.find((c) => c.channel === 'email')!;
		const sms = next.candidates!.find((c) => c.channel === 'sms')!;
		expect(email.mean!).toBeLessThan(sms.mean!);
	});

	test('bad outcomes are clear errors and change nothing', async () => {
		const engine = engineWith();
		const d = await engine.decide(reachableEvent(), { journey: 'recover', target: { dryRun: true } });
		const before = await engine.store.getArmStats(['global#email']);
		await expect(engine.recordOutcome({ decisionId: 'd_nope', type: 'conversion' })).rejects.toThrow(/d_nope is not in this engine's decision log/);
		await expect(engine.recordOutcome({ decisionId: d.decisionId, type: 'revenue', value: -5 })).rejects.toThrow(/revenue outcome needs its amount/);
		await expect(engine.recordOutcome({ decisionId: d.decisionId, type: 'revenue' })).rejects.toThrow(/got nothing/);
		await expect(engine.recordOutcome({ decisionId: d.decisionId, type: 'revenue', value: 'twelve' as unknown as number })).rejects.toThrow(/got "twelve"/);
		await expect(engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion', at: 'yesterday' })).rejects.toThrow(/is not a date-time/);
		await expect(engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion', at: '2000-01-01T00:00:00Z' })).rejects.toThrow(/earlier than its decision/);
		await expect(engine.recordOutcome({ decisionId: d.decisionId, messageId: 'pm-1', type: 'conversion' })).rejects.toThrow(/names its decision one way/);
		await expect(engine.recordOutcome({ type: 'conversion' })).rejects.toThrow(/names its decision one way/);
		await expect(engine.recordOutcome({ decisionId: d.decisionId, channel: 'email', type: 'conversion' })).rejects.toThrow(/names its decision one way/);
		expect((await engine.getDecision(d.decisionId)).outcomes).toEqual([]);
		expect(await engine.store.getArmStats(['global#email'])).toEqual(before);
	});

	test('revenue feeds the value objective', async () => {
		const engine = engineWith({ learner: { objective: 'value' } });
		const d = await engine.decide(reachableEvent(), { journey: 'recover', target: { dryRun: true } });
		await engine.recordOutcome({ decisionId: d.decisionId, type: 'revenue', value: 80, outcomeId: 'r1' });
		await engine.recordOutcome({ decisionId: d.decisionId, type: 'revenue', value: 80, outcomeId: 'r1' });
		expect(await stat(engine.store, 'global#email')).toMatchObject({ trials: 1, valueSum: 80, valueSq: 6400 });
	});

	test('the policy validates the learner settings', () => {
		expect(() => policyWith({ learner: { exploration: { floor: 0.5, ceiling: 0.2 } } })).toThrow(/floor must not be above ceiling/);
		expect(() => policyWith({ learner: { reward: [] } })).toThrow(/reward/);
		expect(() => policyWith({ learner: { poolStrength: -1 } })).toThrow(/poolStrength/);
		expect(() => policyWith({ holdout: { globalShare: 1.5 } })).toThrow(/globalShare/);
	});
});

describe('the simulated world of bench/bandit (short run)', () => {
	test('our learner has far less regret than uniform random, fixed order and epsilon-greedy', async () => {
		const run = { decisions: 8000, seed: 5, tail: 2000 };
		const ours = await simulate(ourLearner(), run);
		const random = await simulate(uniform(), run);
		expect(ours.regret).toBeLessThan(0.35 * random.regret);
		expect(ours.regret).toBeLessThan((await simulate(fixedOrder(), run)).regret);
		expect(ours.regret).toBeLessThan((await simulate(epsilonGreedy(0.1), run)).regret);
		expect(ours.bestShareTail).toBeGreaterThan(0.8);
	});
});

describe('content variants', () => {
	test('the learner picks variants per slot, learns from outcomes, and promotes a clear winner once', async () => {
		const engine = engineWith({ learner: { promoteAt: 0.95, promoteMinTrials: 30 } }, 8);
		const world = seededRandom(21);
		const rates: Record<string, number> = { 'Your cart misses you': 0.05, 'Still thinking it over?': 0.3, '10% off, today only': 0.08 };
		const variants = Object.keys(rates);
		const methods: string[] = [];
		let promotedAfter: number | undefined;
		for (let i = 0; i < 300; i++) {
			const { decision } = await engine.ingest(reachableEvent(), { journey: 'recover' });
			const chosen = await engine.chooseVariant(await engine.chooseChannel(decision), 'cart-subject', variants);
			expect(chosen.message?.variant).toBe(chosen.variantChoice?.variant);
			methods.push(chosen.variantChoice!.method);
			await engine.checkCap(chosen);
			const sent = await engine.send(chosen, { dryRun: true });
			expect(sent.variantChoice?.trialCounted).toBe(true);
			if (world() < rates[sent.variantChoice!.variant]) await engine.recordOutcome({ decisionId: sent.decisionId, type: 'conversion' });
			if (promotedAfter === undefined && (await engine.variantWinner('cart-subject'))) promotedAfter = i;
		}
		expect(methods[0]).toBe('default_order');
		expect(await engine.variantWinner('cart-subject')).toBe('Still thinking it over?');
		expect(promotedAfter).toBeGreaterThanOrEqual(29);
		// After promotion every decision gets the winner.
		expect(methods.slice(promotedAfter! + 1).every((m) => m === 'promoted')).toBe(true);
		const stats = await engine.store.getArmStats(variants.map((v) => `variant:cart-subject#${v}`));
		expect(stats.get('variant:cart-subject#Still thinking it over?')!.trials).toBeGreaterThanOrEqual(30);
		expect(variants.every((v) => (stats.get(`variant:cart-subject#${v}`)?.trials ?? 0) > 0)).toBe(true);
	});

	test('bad slots and variant lists are refused and change nothing', async () => {
		const engine = engineWith();
		const { decision } = await engine.ingest(reachableEvent(), { journey: 'recover' });
		await expect(engine.chooseVariant(decision, ' ', ['A'])).rejects.toThrow(/content slot needs a name/);
		await expect(engine.chooseVariant(decision, 's', [])).rejects.toThrow(/distinct, non-empty variant names/);
		await expect(engine.chooseVariant(decision, 's', ['A', 'A'])).rejects.toThrow(/distinct/);
		expect((await engine.getDecision(decision.decisionId)).variantChoice).toBeUndefined();
		expect(() => policyWith({ learner: { promoteAt: 0.3 } })).toThrow(/promoteAt/);
	});
});
