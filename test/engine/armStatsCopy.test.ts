import { ArmStatsCopy } from '../../engine/store/armStatsCopy';
import { sendHourKey } from '../../engine/store/sendHours';
import type { ArmStats } from '../../engine/store/types';

const stats = (trials: number): ArmStats => ({ trials, successes: 0, negatives: 0, valueSum: 0, valueSq: 0 });

function read(copy: ArmStatsCopy, keys: string[]) {
	const found = new Map<string, ArmStats>();
	const unknown = copy.read(keys, found);
	return { found: Object.fromEntries([...found].map(([key, s]) => [key, s.trials])), unknown };
}

describe('the in-process copy of learner counts', () => {
	test('knows what it was told, including keys without a row, and says which keys it does not know', () => {
		const copy = new ArmStatsCopy(10, 10);
		copy.remember('a', stats(2));
		copy.remember('none', undefined);
		expect(read(copy, ['a', 'none', 'other'])).toEqual({ found: { a: 2 }, unknown: ['other'] });
	});

	test('follows increments of known keys (a key without a row starts at zero) and leaves unknown keys unknown', () => {
		const copy = new ArmStatsCopy(10, 10);
		copy.remember('a', stats(2));
		copy.remember('none', undefined);
		copy.add('a', { trials: 1, valueSum: 1.5 });
		copy.add('none', { successes: 1 });
		copy.add('other', { trials: 1 });
		const found = new Map<string, ArmStats>();
		expect(copy.read(['a', 'none', 'other'], found)).toEqual(['other']);
		expect(Object.fromEntries(found)).toEqual({ a: { ...stats(3), valueSum: 1.5 }, none: { ...stats(0), successes: 1 } });
	});

	test('hands out copies, and forgets on drop, clear and past its bound (the first remembered first)', () => {
		const copy = new ArmStatsCopy(2, 2);
		const own = stats(1);
		copy.remember('a', own);
		own.trials = 50;
		const found = new Map<string, ArmStats>();
		copy.read(['a'], found);
		found.get('a')!.trials = 99;
		expect(read(copy, ['a']).found).toEqual({ a: 1 });
		copy.remember('b', stats(2));
		copy.add('a', { trials: 1 });
		copy.remember('c', stats(3));
		expect(read(copy, ['a', 'b', 'c'])).toEqual({ found: { b: 2, c: 3 }, unknown: ['a'] });
		copy.drop('b');
		expect(read(copy, ['b', 'c']).unknown).toEqual(['b']);
		copy.clear();
		expect(read(copy, ['c']).unknown).toEqual(['c']);
	});

	test('keeps send hours by scope: follows increments of known scopes only, hands out copies, forgets with its keys and past its bound', () => {
		const copy = new ArmStatsCopy(10, 2);
		const hours = (counts: Record<number, number>) => Array.from({ length: 24 }, (_, h) => counts[h] ?? 0);
		copy.rememberHours('c1', undefined);
		copy.rememberHours('*', hours({ 9: 2 }));
		copy.add(sendHourKey('c1', 9), { trials: 1 });
		copy.add(sendHourKey('*', 9), { trials: 1 });
		copy.add(sendHourKey('c2', 9), { trials: 1 });
		// Not a send hour, or not a count of engagements: no scope changes.
		copy.add('hour:c1#09', { trials: 5 });
		copy.add(sendHourKey('c1', 3), { successes: 1 });
		expect([copy.hoursOf('c1'), copy.hoursOf('*'), copy.hoursOf('c2')]).toEqual([hours({ 9: 1 }), hours({ 9: 3 }), undefined]);
		copy.hoursOf('c1')![9] = 50;
		expect(copy.hoursOf('c1')).toEqual(hours({ 9: 1 }));
		copy.add(sendHourKey('c1#9', 9), { trials: 1 });
		expect(copy.hoursOf('c1')).toEqual(hours({ 9: 1 }));
		copy.drop(sendHourKey('c1', 4));
		expect(copy.hoursOf('c1')).toBeUndefined();
		copy.rememberHours('c1', hours({}));
		copy.rememberHours('c3', undefined);
		expect([copy.hoursOf('*'), copy.hoursOf('c1'), copy.hoursOf('c3')]).toEqual([undefined, hours({}), hours({})]);
		copy.clear();
		expect(copy.hoursOf('c3')).toBeUndefined();
	});
});
