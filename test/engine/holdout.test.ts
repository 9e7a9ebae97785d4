import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Decision } from '../../engine/audit/schema';
import { HOLDOUT_BUCKETS, holdoutBucket, holdoutOf } from '../../engine/decide/holdout';
import { compare, liftReport, newcombeDifference, relativeLift, wilson } from '../../engine/decide/lift';
import { seededRandom } from '../../engine/decide/sampling';
import { Engine } from '../../engine/engine';
import { loadPolicy } from '../../engine/policy/load';
import { HoldoutPolicySchema } from '../../engine/policy/schema';
import { SqliteStore } from '../../engine/store/sqlite';
import { decision, tempDir } from '../helpers/fixtures';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `contact-${i}`);

describe('holdout buckets', () => {
	test('100,000 contacts: each configured share is met within ±0.5 percentage points', () => {
		const policy = HoldoutPolicySchema.parse({ salt: 'spring-2026', globalShare: 0.1, journeys: { nurture: 0.2 } });
		let global = 0;
		let journey = 0;
		for (const id of ids(100_000)) {
			const h = holdoutOf(policy, id, 'nurture');
			if (h?.group === 'global') global++;
			if (h?.group === 'journey') journey++;
		}
		expect(Math.abs(global / 100_000 - 0.1)).toBeLessThanOrEqual(0.005);
		// The journey holdout is drawn independently, among contacts outside the global group.
		expect(Math.abs(journey / (100_000 - global) - 0.2)).toBeLessThanOrEqual(0.005);
		// Another journey has no holdout of its own: only the global group.
		expect(ids(2000).filter((id) => holdoutOf(policy, id, 'winback')?.group === 'journey')).toEqual([]);
	});

	test('buckets are fixed: known values, and the same in a separate process', () => {
		// Golden values: a change here would silently move contacts between groups mid-experiment.
		expect([holdoutBucket('contact-0', 'nudge'), holdoutBucket('contact-1', 'nudge'), holdoutBucket('contact-1', 'other'), holdoutBucket('contact-1', 'nudge', 'journey:nurture')]).toEqual(
			[5758, 6326, 7757, 9167],
		);
		const sample = ids(500);
		const here = sample.map((id) => holdoutBucket(id, 'nudge'));
		expect(here.every((b) => Number.isInteger(b) && b >= 0 && b < HOLDOUT_BUCKETS)).toBe(true);
		const script = `const { holdoutBucket } = require(${JSON.stringify(join(__dirname, '../../engine/decide/holdout.ts'))});
			process.stdout.write(JSON.stringify(${JSON.stringify(sample)}.map((id) => holdoutBucket(id, 'nudge'))));`;
		const child = spawnSync(process.execPath, ['--experimental-strip-types', '--no-warnings', '-e', script], { encoding: 'utf8' });
		expect(child.stderr).toBe('');
		expect(JSON.parse(child.stdout)).toEqual(here);
	});
});


describe('holdout decisions in the engine', () => {
	test('a holdout contact gets a logged HOLDOUT decision and no message; its outcomes are recorded and not learned from', async () => {
		const path = join(tempDir(), 'holdout.db');
		const { policy } = loadPolicy({ channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } }, holdout: { globalShare: 0.5 } });
		const engine = new Engine({ store: new SqliteStore(path), policy: loadPolicy(policy), random: seededRandom(1) });
		const held: Decision[] = [];
		const treated: Decision[] = [];
		for (let i = 0; i < 40; i++) {
			const d = await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { email: `h${i}@x.io` } }, { journey: 'cart', target: { dryRun: true } });
			(d.reason === 'HOLDOUT' ? held : treated).push(d);
		}
		expect(held.length).toBeGreaterThan(5);
		expect(treated.length).toBeGreaterThan(5);
		for (const d of held) {
			expect(d).toMatchObject({ status: 'suppressed', reason: 'HOLDOUT', choice: { method: 'holdout', holdout: { group: 'global' } } });
			expect(d.explanation).toMatch(/global control group \(bucket \d+\): no message is sent/);
			expect(d.delivery).toBeUndefined();
			expect(d.loggedAt).toBeDefined();
			expect(holdoutOf(engine.policy.holdout, d.contactId, 'cart')?.bucket).toBe(d.choice!.holdout!.bucket);
		}
		const trialsBefore = (await engine.store.getArmStats(['global#email'])).get('global#email')?.trials;
		expect(trialsBefore).toBe(treated.length);
		const outcome = await engine.recordOutcome({ contactId: held[0].contactId, type: 'conversion' });
		expect(outcome.decision.decisionId).toBe(held[0].decisionId);
		expect(outcome.decision.outcomes).toHaveLength(1);
		expect((await engine.store.getArmStats(['global#email'])).get('global#email')).toMatchObject({ trials: treated.length, successes: 0 });
		// Restarted: the same contacts are held out again.
		await engine.close();
		const again = new Engine({ store: new SqliteStore(path), policy: loadPolicy(policy) });
		const repeat = await again.decide({ type: 'track', name: 'Browse Abandoned', identities: { email: 'h0@x.io' } }, { journey: 'cart', target: { dryRun: true } });
		expect(repeat.reason === 'HOLDOUT').toBe(held.some((d) => d.contactId === repeat.contactId));
		const rows = await again.lift({ journey: 'cart' });
		expect(rows[0]).toMatchObject({ journey: 'cart', arm: 'all', holdout: { conversions: 1 } });
		expect(rows[0].holdout.n + rows[0].treated.n).toBe(41);
		await again.close();
	});
});

describe('a contact keeps its arm', () => {
	const policy = loadPolicy({ channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } }, holdout: { salt: 's', globalShare: 0.5, journeys: {} } });
	const cart = { journey: 'cart', target: { dryRun: true as const } };
	const held = (d: Decision) => d.reason === 'HOLDOUT';

	test('when it later gets a user id (a login): every one of 40 contacts stays in its arm', async () => {
		const engine = new Engine({ store: new SqliteStore(join(tempDir(), 'arms.db')), policy, random: seededRandom(1) });
		const switched: string[] = [];
		let inHoldout = 0;
		for (let i = 0; i < 40; i++) {
			const first = await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { email: `c${i}@x.io` } }, cart);
			const again = await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { email: `c${i}@x.io`, userId: `user-${i}` } }, cart);
			expect(again.contactId).toBe(first.contactId);
			if (held(first) !== held(again)) switched.push(first.contactId);
			if (held(first)) inHoldout++;
		}
		await engine.close();
		expect(switched).toEqual([]);
		expect(inHoldout).toBeGreaterThan(5);
		expect(inHoldout).toBeLessThan(35);
	});

	test('when another contact is merged into it: the survivor keeps its arm', async () => {
		const engine = new Engine({ store: new SqliteStore(join(tempDir(), 'merged.db')), policy, random: seededRandom(2) });
		const switched: string[] = [];
		for (let i = 0; i < 30; i++) {
			const survivor = await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { email: `s${i}@x.io` } }, cart);
			await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { userId: `login-${i}` } }, cart);
			// One event names both: the older contact (the survivor) takes the other in, user id and all.
			const after = await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { email: `s${i}@x.io`, userId: `login-${i}` } }, cart);
			expect(after.contactId).toBe(survivor.contactId);
			if (held(survivor) !== held(after)) switched.push(survivor.contactId);
		}
		await engine.close();
		expect(switched).toEqual([]);
	});
});

describe('lift', () => {
	test('Wilson and Newcombe match published values (Newcombe 1998, table II, example 56/70 vs 48/80)', () => {
		const w = wilson(56, 70);
		expect(w.low).toBeCloseTo(0.6918, 3);
		expect(w.high).toBeCloseTo(0.8770, 3);
		const d = newcombeDifference(56, 70, 48, 80);
		expect(d.estimate).toBeCloseTo(0.2, 10);
		expect(d.low).toBeCloseTo(0.0524, 3);
		expect(d.high).toBeCloseTo(0.3339, 3);
		expect(relativeLift(0, 70, 48, 80)).toBeUndefined();
	});

	test('coverage: on 100 simulated experiments with a known effect the 95% interval covers the truth ≥ 93 times, and the estimate is unbiased', () => {
		const pTreated = 0.06;
		const pHoldout = 0.04;
		const truth = pTreated - pHoldout;
		const trueRelative = pTreated / pHoldout - 1;
		let covered = 0;
		let coveredRelative = 0;
		const estimates: number[] = [];
		for (let seed = 1; seed <= 100; seed++) {
			const random = seededRandom(seed);
			const decisions: Decision[] = [];
			for (let i = 0; i < 6000; i++) {
				const held = random() < 0.3;
				const converted = random() < (held ? pHoldout : pTreated);
				decisions.push(
					decision(`d${i}`, {
						journey: 'cart',
						contactId: `c${i}`,
						status: held ? 'suppressed' : 'sent',
						channel: held ? undefined : 'email',
						choice: held ? { context: 'c', method: 'holdout', holdout: { group: 'global', bucket: 1 } } : { context: 'c', method: 'thompson', arm: 'email' },
						outcomes: converted ? [{ outcomeId: `o${i}`, type: 'conversion', at: '2026-11-02T00:00:00.000Z' }] : [],
					}),
				);
			}
			const [all] = liftReport(decisions);
			expect(all.arm).toBe('all');
			expect(all.treated.n + all.holdout.n).toBe(6000);
			if (all.absolute!.low <= truth && truth <= all.absolute!.high) covered++;
			if (all.relative!.low <= trueRelative && trueRelative <= all.relative!.high) coveredRelative++;
			estimates.push(all.absolute!.estimate);
		}
		expect(covered).toBeGreaterThanOrEqual(93);
		expect(coveredRelative).toBeGreaterThanOrEqual(93);
		const mean = estimates.reduce((a, b) => a + b, 0) / estimates.length;
		const sd = Math.sqrt(estimates.reduce((a, b) => a + (b - mean) ** 2, 0) / (estimates.length - 1));
		// Unbiased: the average estimate is within 3 standard errors of the truth.
		expect(Math.abs(mean - truth)).toBeLessThan((3 * sd) / Math.sqrt(estimates.length));
	});

	test('lift is not "significant" on one treated and one held-out contact, however many decisions they have', () => {
		const decisions: Decision[] = [];
		for (let i = 0; i < 150; i++) {
			const at = new Date(Date.UTC(2026, 10, 1) + i * 3_600_000).toISOString();
			decisions.push(
				decision(`t${i}`, { journey: 'cart', contactId: 'c-treated', createdAt: at, status: 'sent', channel: 'email', choice: { context: 'c', method: 'thompson' }, outcomes: i % 2 ? [{ outcomeId: `o${i}`, type: 'conversion', at }] : [] }),
				decision(`h${i}`, { journey: 'cart', contactId: 'c-held', createdAt: at, status: 'suppressed', choice: { context: 'c', method: 'holdout' } }),
			);
		}
		const [all] = liftReport(decisions);
		// The arm is assigned per contact (holdout hash): two contacts are two observations, whatever their decisions.
		expect(all).toMatchObject({ treated: { n: 150, conversions: 75, contacts: 1, effectiveN: 1 }, holdout: { n: 150, conversions: 0, contacts: 1 } });
		expect(all.absolute!.estimate).toBeCloseTo(0.5, 10);
		expect(all.significant).toBe(false);
		expect(all.warning).toMatch(/too small to conclude anything: 1 treated contacts, 1 holdout contacts/);
	});

	test('coverage with returning contacts: when a contact\'s decisions go alike, the interval still covers the truth ≥ 93 times in 100', () => {
		// 2,000 contacts with 1–5 decisions each; a contact converts on all its decisions or on none (a buyer or not).
		const pTreated = 0.12;
		const pHoldout = 0.08;
		let covered = 0;
		for (let seed = 1; seed <= 100; seed++) {
			const random = seededRandom(seed);
			const decisions: Decision[] = [];
			for (let c = 0; c < 2000; c++) {
				const held = random() < 0.3;
				const buyer = random() < (held ? pHoldout : pTreated);
				const visits = 1 + Math.floor(random() * 5);
				for (let v = 0; v < visits; v++) {
					decisions.push(
						decision(`d${c}-${v}`, {
							journey: 'cart',
							contactId: `c${c}`,
							status: held ? 'suppressed' : 'sent',
							choice: held ? { context: 'c', method: 'holdout' } : { context: 'c', method: 'thompson', arm: 'email' },
							outcomes: buyer ? [{ outcomeId: `o${c}-${v}`, type: 'conversion', at: '2026-11-02T00:00:00.000Z' }] : [],
						}),
					);
				}
			}
			const [all] = liftReport(decisions);
			// The truth per decision: contacts with more visits weigh more, but buying does not depend on visits.
			if (all.absolute!.low <= pTreated - pHoldout && pTreated - pHoldout <= all.absolute!.high) covered++;
		}
		expect(covered).toBeGreaterThanOrEqual(93);
	});

	test('rows per journey and arm, and a warning when a sample is too small', () => {
		const mk = (i: number, journey: string, held: boolean, channel: 'email' | 'sms' | undefined, converted: boolean): Decision =>
			decision(`d${journey}${i}`, {
				journey,
				contactId: `c${journey}${i}`,
				status: channel ? 'sent' : 'suppressed',
				channel,
				choice: held ? { context: 'c', method: 'holdout' } : { context: 'c', method: 'thompson' },
				outcomes: converted ? [{ outcomeId: `o${journey}${i}`, type: 'conversion', at: '2026-11-02T00:00:00.000Z' }] : [],
			});
		const decisions = [mk(1, 'cart', true, undefined, true), mk(2, 'cart', false, 'email', true), mk(3, 'cart', false, 'sms', false), mk(4, 'cart', false, undefined, false), mk(5, 'nurture', false, 'email', false), decision('no-choice')];
		const rows = liftReport(decisions);
		expect(rows.map((r) => [r.journey, r.arm, r.treated.n, r.treated.conversions, r.holdout.n])).toEqual([
			['cart', 'all', 3, 1, 1],
			['cart', 'email', 1, 1, 1],
			['cart', 'sms', 1, 0, 1],
			['nurture', 'all', 1, 0, 0],
			['nurture', 'email', 1, 0, 0],
		]);
		expect(rows[0].warning).toMatch(/too small to conclude anything: 3 treated contacts, 1 holdout contacts, 2 conversions in all/);
		// The decision that sent nothing counts in `all` but is no arm of its own.
		expect(rows[3]).toMatchObject({ journey: 'nurture', arm: 'all' });
		expect(rows[3].absolute).toBeUndefined();
		const big = compare('j', 'all', { n: 5000, conversions: 300, rate: 0.06 }, { n: 5000, conversions: 200, rate: 0.04 });
		expect(big.warning).toBeUndefined();
		expect(big.significant).toBe(true);
	});
});
