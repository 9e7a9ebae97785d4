import type { Decision, Outcome } from '../../engine/audit/schema';
import { claimsReward, engagementTrials, outcomeDeltas, sentTrials, waitTrial } from '../../engine/decide/bookkeeping';
import { loadPolicy } from '../../engine/policy/load';

const learner = loadPolicy().policy.learner;
const valueLearner = { ...learner, objective: 'value' as const };

/** A sent email of journey "nurture" in context "ctx", with content variant B of slot "subject". */
function sentDecision(): Decision {
	return {
		decisionId: 'd_1',
		contactId: 'c_1',
		status: 'pending',
		channel: 'email',
		choice: { context: 'ctx', method: 'thompson', arm: 'email' },
		variantChoice: { slot: 'subject', variant: 'B', context: 'ctx', method: 'thompson', estimates: [{ variant: 'A', mean: 0.1, sampled: 0.1 }, { variant: 'B', mean: 0.2, sampled: 0.3 }] },
	} as unknown as Decision;
}

const outcome = (type: Outcome['type'], value?: number): Outcome => ({ outcomeId: `o:${type}`, type, at: '2026-05-01T10:00:00.000Z', ...(value !== undefined ? { value } : {}) }) as Outcome;

describe('learner bookkeeping', () => {
	test('a sent message is one trial of its channel and of its variant, in both scopes, once', () => {
		const d = sentDecision();
		expect(sentTrials(d)).toEqual([
			{ key: 'global#email', delta: { trials: 1 } },
			{ key: 'ctx#email', delta: { trials: 1 } },
			{ key: 'variant:subject#B', delta: { trials: 1 } },
			{ key: 'variant:subject|ctx#B', delta: { trials: 1 } },
		]);
		expect(d.choice!.trialCounted).toBe(true);
		expect(d.variantChoice!.trialCounted).toBe(true);
		expect(sentTrials(d)).toEqual([]);
	});

	test('a sent message without a learned choice (no Choose Channel) adds nothing', () => {
		const d = { ...sentDecision(), choice: undefined, variantChoice: undefined } as Decision;
		expect(sentTrials(d)).toEqual([]);
	});

	test('a chosen wait is its trial at once', () => {
		const choice = { context: 'ctx', method: 'thompson' as const, arm: 'wait' as const };
		expect(waitTrial(choice as NonNullable<Decision['choice']>)).toEqual([
			{ key: 'global#wait', delta: { trials: 1 } },
			{ key: 'ctx#wait', delta: { trials: 1 } },
		]);
		expect((choice as { trialCounted?: boolean }).trialCounted).toBe(true);
	});

	test('a reward outcome is a success on every arm the decision tried, and asks to consider promoting its slot', () => {
		const d = sentDecision();
		sentTrials(d);
		expect(claimsReward(d, outcome('conversion'), learner)).toBe(true);
		expect(outcomeDeltas(d, outcome('conversion'), learner, true)).toEqual({
			deltas: [
				{ key: 'global#email', delta: { successes: 1 } },
				{ key: 'ctx#email', delta: { successes: 1 } },
				{ key: 'variant:subject#B', delta: { successes: 1 } },
				{ key: 'variant:subject|ctx#B', delta: { successes: 1 } },
			],
			promote: { slot: 'subject', variants: ['A', 'B'], globalScope: 'variant:subject' },
		});
		// The decision's reward was already claimed by an earlier outcome: nothing more.
		expect(outcomeDeltas(d, outcome('conversion'), learner, false)).toEqual({ deltas: [] });
	});

	test('an unsubscribe is a negative whatever the objective, and promotes nothing', () => {
		const d = sentDecision();
		sentTrials(d);
		expect(claimsReward(d, outcome('unsubscribe'), learner)).toBe(false);
		const { deltas, promote } = outcomeDeltas(d, outcome('unsubscribe'), valueLearner, false);
		expect(deltas.map((x) => x.delta)).toEqual([{ negatives: 1 }, { negatives: 1 }, { negatives: 1 }, { negatives: 1 }]);
		expect(promote).toBeUndefined();
	});

	test('the value objective adds revenue and its square', () => {
		const d = sentDecision();
		sentTrials(d);
		expect(outcomeDeltas(d, outcome('revenue', 30), valueLearner, false).deltas[0]).toEqual({ key: 'global#email', delta: { valueSum: 30, valueSq: 900 } });
		expect(outcomeDeltas(d, outcome('click'), valueLearner, false)).toEqual({ deltas: [] });
	});

	test('an outcome of a decision that tried nothing (never sent) teaches nothing and claims nothing', () => {
		const d = sentDecision();
		expect(claimsReward(d, outcome('conversion'), learner)).toBe(false);
		expect(outcomeDeltas(d, outcome('conversion'), learner, true)).toEqual({ deltas: [] });
	});

	test('an engagement teaches the send-time learner the hour in the contact zone; other outcomes do not read the zone', async () => {
		const d = sentDecision();
		const zone = jest.fn(async () => 'Europe/Paris');
		expect(await engagementTrials(d, outcome('open'), new Date('2026-05-01T10:00:00Z'), zone)).toEqual([
			{ key: 'hour:c_1#12', delta: { trials: 1 } },
			{ key: 'hour:*#12', delta: { trials: 1 } },
		]);
		zone.mockClear();
		expect(await engagementTrials(d, outcome('unsubscribe'), new Date('2026-05-01T10:00:00Z'), zone)).toEqual([]);
		expect(zone).not.toHaveBeenCalled();
	});
});
