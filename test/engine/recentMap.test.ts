/** RecentMap (engine/store/recentMap.ts) against a plain model of least-recently-used order. */
import fc from 'fast-check';
import { RecentMap } from '../../engine/store/recentMap';

const op = fc.oneof(
	fc.record({ kind: fc.constantFrom('get' as const, 'peek' as const, 'has' as const, 'delete' as const), key: fc.nat({ max: 6 }) }),
	fc.record({ kind: fc.constant('set' as const), key: fc.nat({ max: 6 }), value: fc.nat() }),
	fc.record({ kind: fc.constant('clear' as const) }),
);

describe('RecentMap', () => {
	test('keeps the max most recently used keys and tells which it drops, like a list in order of use', () => {
		fc.assert(
			fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 60 }), (max, ops) => {
				const dropped: [number, number][] = [];
				const map = new RecentMap<number, number>(max, (value, key) => dropped.push([key, value]));
				/** Oldest first. */
				let model: [number, number][] = [];
				const expectDropped: [number, number][] = [];
				for (const o of ops) {
					const at = model.findIndex(([k]) => k === (o as { key?: number }).key);
					if (o.kind === 'get') {
						expect(map.get(o.key)).toBe(at >= 0 ? model[at][1] : undefined);
						if (at >= 0) model.push(...model.splice(at, 1));
					} else if (o.kind === 'peek') expect(map.peek(o.key)).toBe(at >= 0 ? model[at][1] : undefined);
					else if (o.kind === 'has') expect(map.has(o.key)).toBe(at >= 0);
					else if (o.kind === 'delete') {
						expect(map.delete(o.key)).toBe(at >= 0);
						if (at >= 0) expectDropped.push(...model.splice(at, 1));
					} else if (o.kind === 'set') {
						if (at >= 0) model.splice(at, 1);
						model.push([o.key, o.value]);
						if (model.length > max) expectDropped.push(model.shift()!);
						map.set(o.key, o.value);
					} else {
						map.clear();
						model = [];
					}
					expect(dropped).toEqual(expectDropped);
					expect(map.size).toBe(model.length);
					expect(new Map(map.entries())).toEqual(new Map(model));
					expect([...map.values()].sort()).toEqual(model.map(([, v]) => v).sort());
				}
			}),
			{ numRuns: 500 },
		);
	});

	test('needs room for a key', () => {
		expect(() => new RecentMap(0)).toThrow(RangeError);
	});
});
