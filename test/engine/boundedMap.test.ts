import fc from 'fast-check';
import { setBounded } from '../../engine/store/boundedMap';

describe('setBounded', () => {
	test('past the bound the first set eighth goes at once; a key already there is updated in place', () => {
		const map = new Map<string, number>();
		for (let i = 0; i < 16; i++) setBounded(map, `k${i}`, i, 16);
		setBounded(map, 'k3', 33, 16);
		expect(map.size).toBe(16);
		setBounded(map, 'new', 99, 16);
		expect([...map.keys()]).toEqual([...Array.from({ length: 14 }, (_, i) => `k${i + 2}`), 'new']);
		expect(map.get('k3')).toBe(33);
	});

	test('against a list model: never over the bound, the newest key always kept, what stays is what was set last', () => {
		fc.assert(
			fc.property(fc.integer({ min: 1, max: 40 }), fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 400 }), (max, keys) => {
				const map = new Map<number, number>();
				let model: number[] = [];
				keys.forEach((key, step) => {
					setBounded(map, key, step, max);
					if (!model.includes(key) && model.length >= max) model = model.slice(Math.ceil(max / 8));
					if (!model.includes(key)) model.push(key);
					expect(map.size).toBeLessThanOrEqual(max);
					expect(map.get(key)).toBe(step);
					expect([...map.keys()]).toEqual(model);
				});
			}),
		);
	});
});
