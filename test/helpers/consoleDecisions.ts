import type { Decision, Score } from '../../engine/audit/schema';
import { decision } from './fixtures';

const score = (probability: number, model = 'lead@v1'): Score => ({ value: Math.round(probability * 100), probability, tier: 'warm', model, fallback: model.startsWith('rules:'), factors: [{ label: 'Viewed the pricing page', contribution: 20 }] });
const conversion = (id: string, at: string) => ({ outcomeId: id, type: 'conversion' as const, at });

/**
 * Seven decisions whose console numbers are worked out by hand in the tests (test/engine/console.test.ts
 * and the store contract). One more conversion (on d2) is recorded through addOutcome.
 */
export function knownDecisions(): Decision[] {
	return [
		decision('d1', {
			createdAt: '2026-11-20T08:00:00.000Z', journey: 'nurture', contactId: 'c1', status: 'sent', channel: 'email', score: score(0.82),
			choice: { context: 'x', method: 'thompson', arm: 'email' }, guard: { outcome: 'allowed', allowed: true, checks: [] },
			outcomes: [conversion('o1', '2026-11-20T09:00:00.000Z')],
		}),
		decision('d2', {
			createdAt: '2026-11-20T08:30:00.000Z', journey: 'nurture', contactId: 'c2', status: 'suppressed', reason: 'FREQUENCY_CAP', ruleId: 'email-daily', channel: 'email', score: score(0.4),
			// Personal data in free text, which the console must redact.
			explanation: 'capped for dana@northwind.example',
			choice: { context: 'x', method: 'thompson', arm: 'email' },
			guard: { outcome: 'blocked', allowed: false, bindingRuleId: 'email-daily', checks: [{ kind: 'consent', ruleId: 'consent', passed: true }, { kind: 'frequency_cap', ruleId: 'email-daily', passed: false, count: 1, limit: 1 }] },
		}),
		decision('d3', {
			createdAt: '2026-11-20T09:00:00.000Z', journey: 'nurture', contactId: 'c3', status: 'suppressed', reason: 'HOLDOUT', score: score(0.55),
			choice: { context: 'x', method: 'holdout', holdout: { group: 'global', bucket: 3 } }, outcomes: [conversion('o3', '2026-11-20T10:00:00.000Z')],
		}),
		decision('d4', {
			createdAt: '2026-11-21T10:00:00.000Z', journey: 'cart', contactId: 'c1', status: 'sent', channel: 'sms', score: score(0.1),
			choice: { context: 'x', method: 'default_order', arm: 'sms' }, guard: { outcome: 'allowed', allowed: true, checks: [] },
			outcomes: [{ outcomeId: 'o4', type: 'open', at: '2026-11-21T11:00:00.000Z' }],
		}),
		decision('d5', {
			createdAt: '2026-11-21T10:00:00.000Z', journey: 'cart', contactId: 'c4', status: 'suppressed', reason: 'NO_CONSENT', score: score(0.82, 'rules:default@abc'),
			choice: { context: 'x', method: 'none_eligible' },
		}),
		decision('d6', { createdAt: '2026-11-22T12:00:00.000Z', journey: 'cart', contactId: 'c5', status: 'pending' }),
		decision('d7', {
			createdAt: '2026-11-22T13:00:00.000Z', journey: 'nurture', contactId: 'c2', status: 'delayed', reason: 'FREQUENCY_CAP', channel: 'email', score: score(0.4),
			choice: { context: 'x', method: 'greedy', arm: 'email' },
			guard: { outcome: 'delayed', allowed: false, checks: [{ kind: 'frequency_cap', ruleId: 'weekly-exempt', passed: false, exempt: true }, { kind: 'frequency_cap', ruleId: 'any-weekly', passed: false, count: 3, limit: 3 }] },
		}),
	];
}

/** The conversion recorded after the decisions are stored. */
export const LATE_CONVERSION = { decisionId: 'd2', outcome: conversion('o2', '2026-11-20T12:00:00.000Z') };
