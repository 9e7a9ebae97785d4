import { ArmStatsCopy } from '../../engine/store/armStatsCopy';
import type { ArmStats } from '../../engine/store/types';

const stats = (trials: number): ArmStats => ({ trials, successes: 0, negatives: 0, valueSum: 0, valueSq: 0 });

function read(copy: ArmStatsCopy, keys: string[]) {
	const found = new Map<string, ArmStats>();
	const unknown = copy.read(keys, found);
	return { found: Object.fromEntries([...found].map(([key, s]) => [key, s.trials])), unknown };
}

describe('the in-process copy of learner counts', () => {
	test('knows what it was told, including keys without a row, and says which keys it does not know', () => {
		const copy = new ArmStatsCopy(10);
		copy.remember('a', stats(2));
		copy.remember('none', undefined);
		expect(read(copy, ['a', 'none', 'other'])).toEqual({ found: { a: 2 }, unknown: ['other'] });
	});

	test('follows increments of known keys (a key without a row starts at zero) and leaves unknown keys unknown', () => {
		const copy = new ArmStatsCopy(10);
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
		const copy = new ArmStatsCopy(2);
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
});
