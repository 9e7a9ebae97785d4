import { chooseChannel } from '../../engine/decide/chooseChannel';
import { loadPolicy } from '../../engine/policy/load';
import { profileField, scoreWithRules } from '../../engine/scoring/rulesModel';
import { profile } from '../helpers/fixtures';

const { policy, version } = loadPolicy();

describe('rules scoring model', () => {
	test('adds the points of matching rules to the base and explains each', () => {
		const p = profile('c1', { counters: { 'Demo Requested': 1, 'Email Opened': 3 }, traits: { title: 'Director of Ops', employees: 120 } });
		const s = scoreWithRules(p, policy.scoring, version);
		expect(s.value).toBe(10 + 40 + 10 + 15 + 10);
		expect(s.tier).toBe('hot');
		expect(s.fallback).toBe(true);
		expect(s.model).toBe(`rules:${version}`);
		expect(s.factors[0]).toEqual({ label: 'Requested a demo', contribution: 40 });
		expect(s.factors.map((f) => f.label)).toEqual(['Requested a demo', 'Senior job title', 'Opened 3+ emails', 'Company size 50+']);
	});

	test('negative factors lower the score, which is clamped to 0–100', () => {
		const s = scoreWithRules(profile('c', { traits: { email: 'kid@school.edu' } }), policy.scoring, version);
		expect(s.value).toBe(0);
		expect(s.tier).toBe('cold');
		expect(s.factors).toEqual([{ label: 'Student email address', contribution: -20 }]);
	});

	test('warm tier between the cut-offs', () => {
		expect(scoreWithRules(profile('c', { counters: { 'Pricing Viewed': 2, 'Email Clicked': 1 } }), policy.scoring, version)).toMatchObject({ value: 45, tier: 'warm' });
	});

	test('profileField reads names with spaces and dots', () => {
		const p = profile('c', { counters: { 'Email Opened': 2 }, traits: { 'a.b': 1, nested: { x: 5 } } });
		expect(profileField(p, 'counters.Email Opened')).toBe(2);
		expect(profileField(p, 'traits.a.b')).toBe(1);
		expect(profileField(p, 'traits.nested.x')).toBe(5);
		expect(profileField(p, 'traits.none')).toBeUndefined();
	});
});

describe('channel choice', () => {
	test('first eligible channel in the journey order, with every candidate explained', () => {
		const p = profile('c', { email: 'a@x.io', phone: '+1', consent: { email: 'opted_out', sms: 'opted_in' } });
		const choice = chooseChannel(p, policy, 'nurture');
		expect(choice.channel).toBe('sms');
		expect(choice.candidates).toEqual([
			{ channel: 'email', rank: 0, eligible: false, reason: 'NO_CONSENT', detail: 'contact opted out of email' },
			{ channel: 'sms', rank: 1, eligible: true },
			{ channel: 'push', rank: 2, eligible: false, reason: 'UNREACHABLE', detail: 'contact has no push token; channel push is not reachable' },
			{ channel: 'in_app', rank: 3, eligible: false, reason: 'POLICY_BLOCKED', detail: 'channel in_app is not allowed in journey nurture by the policy' },
			{ channel: 'paid_audience', rank: 4, eligible: false, reason: 'POLICY_BLOCKED', detail: 'channel paid_audience is not allowed in journey nurture by the policy' },
			{ channel: 'sales_task', rank: 5, eligible: false, reason: 'POLICY_BLOCKED', detail: 'channel sales_task is not allowed in journey nurture by the policy' },
			{ channel: 'wait', rank: 6, eligible: false, reason: 'POLICY_BLOCKED', detail: 'waiting is not enabled (policy learner.allowWait)' },
		]);
	});

	test('unknown consent: email allowed by the default policy, SMS needs opt-in', () => {
		const p = profile('c', { phone: '+1' });
		const choice = chooseChannel(p, policy, 'nurture');
		expect(choice.channel).toBeUndefined();
		expect(choice.candidates[1]).toMatchObject({ channel: 'sms', reason: 'NO_CONSENT' });
		expect(chooseChannel(profile('c', { email: 'a@x.io' }), policy, 'nurture').channel).toBe('email');
	});

	test('no eligible channel: one shared reason, or NO_ELIGIBLE_CHANNEL for a mix', () => {
		const unreachable = chooseChannel(profile('c'), policy, 'nurture');
		expect(unreachable.reason).toBe('UNREACHABLE');
		const mixed = chooseChannel(profile('c', { email: 'a@x.io', consent: { email: 'opted_out' } }), policy, 'nurture');
		expect(mixed.reason).toBe('NO_ELIGIBLE_CHANNEL');
		expect(mixed.explanation).toContain('contact opted out of email');
	});

	test('a channel switched off in the policy is POLICY_BLOCKED; unknown journeys use the policy order', () => {
		const { policy: p2 } = loadPolicy({ channelOrder: ['email', 'sms'], channels: { email: { enabled: false } } });
		const choice = chooseChannel(profile('c', { email: 'a@x.io' }), p2, 'winback');
		expect(choice.candidates[0]).toMatchObject({ channel: 'email', reason: 'POLICY_BLOCKED' });
	});
});
