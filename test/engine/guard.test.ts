import { checkAndReserve, rulesFor } from '../../engine/guard/frequencyCap';
import { durationMs } from '../../engine/guard/duration';
import { loadPolicy } from '../../engine/policy/load';
import { MemoryStore } from '../../engine/store/memory';

const { policy } = loadPolicy();
const HOUR = 3_600_000;

describe('frequency caps', () => {
	test('durations', () => {
		expect([durationMs('30s'), durationMs('15m'), durationMs('24h'), durationMs('7d'), durationMs('2w')]).toEqual([30_000, 900_000, 86_400_000, 604_800_000, 1_209_600_000]);
	});

	test('rules that apply: the channel rule and the any-channel rule', () => {
		expect(rulesFor(policy, 'email').map((r) => r.id)).toEqual(['email-daily', 'all-weekly']);
		expect(rulesFor(policy, 'sms').map((r) => r.id)).toEqual(['all-weekly']);
	});

	test('one email a day, three messages a week: the result names every rule and the binding one', async () => {
		const store = new MemoryStore();
		const t0 = Date.parse('2026-11-02T09:00:00Z');
		const first = await checkAndReserve(store, policy, 'c1', 'email', t0);
		expect(first.allowed).toBe(true);
		await store.settleCap(first.reservationId!, 'commit');
		const second = await checkAndReserve(store, policy, 'c1', 'email', t0 + HOUR);
		expect(second).toMatchObject({ allowed: false, bindingRuleId: 'email-daily', explanation: 'cap email-daily reached: 1 of 1 in the last 24h' });
		expect(second.checks).toEqual([
			{ kind: 'frequency_cap', ruleId: 'email-daily', passed: false, count: 1, limit: 1, window: '24h' },
			{ kind: 'frequency_cap', ruleId: 'all-weekly', passed: true, count: 1, limit: 3, window: '7d' },
		]);
		for (const at of [t0 + 2 * HOUR, t0 + 3 * HOUR]) {
			const sms = await checkAndReserve(store, policy, 'c1', 'sms', at);
			expect(sms.allowed).toBe(true);
			await store.settleCap(sms.reservationId!, 'commit');
		}
		const fourth = await checkAndReserve(store, policy, 'c1', 'email', t0 + 25 * HOUR);
		expect(fourth).toMatchObject({ allowed: false, bindingRuleId: 'all-weekly' });
		expect((await checkAndReserve(store, policy, 'c1', 'push', t0 + 7 * 24 * HOUR + 1)).allowed).toBe(true);
	});

	test('a reservation that is never settled expires after the policy timeout', async () => {
		const store = new MemoryStore();
		const t0 = 1_000_000;
		expect((await checkAndReserve(store, policy, 'c1', 'email', t0)).allowed).toBe(true);
		expect((await checkAndReserve(store, policy, 'c1', 'email', t0 + 299_000)).allowed).toBe(false);
		expect((await checkAndReserve(store, policy, 'c1', 'email', t0 + 301_000)).allowed).toBe(true);
	});

	test('200 concurrent checks for one contact never exceed the caps', async () => {
		const store = new MemoryStore();
		const results = await Promise.all(Array.from({ length: 200 }, (_, i) => checkAndReserve(store, policy, 'c1', i % 2 ? 'sms' : 'email', 5_000)));
		const allowed = results.filter((r) => r.allowed);
		expect(allowed).toHaveLength(3);
	});
});
