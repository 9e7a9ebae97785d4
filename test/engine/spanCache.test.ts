import { SpanCache } from '../../engine/guard/spanCache';

describe('SpanCache', () => {
	test('a value is found only while now is in its span, per owner and key; without a span nothing is kept', () => {
		const cache = new SpanCache<object, string>(2);
		const [a, b] = [{}, {}];
		expect(cache.keep(a, 'UTC', { from: 100, until: 200 }, 'day')).toBe('day');
		expect([99, 100, 199, 200].map((now) => cache.find(a, 'UTC', now))).toEqual([undefined, 'day', 'day', undefined]);
		expect(cache.find(b, 'UTC', 150)).toBeUndefined();
		expect(cache.find(a, 'Europe/Berlin', 150)).toBeUndefined();
		expect(cache.keep(a, 'Asia/Tokyo', undefined, 'dst day')).toBe('dst day');
		expect(cache.find(a, 'Asia/Tokyo', 150)).toBeUndefined();
	});

	test('past maxKeys an owner’s entries all go; a key already kept is replaced in place', () => {
		const cache = new SpanCache<object, string>(2);
		const owner = {};
		cache.keep(owner, 'k1', { from: 0, until: 10 }, 'one');
		cache.keep(owner, 'k2', { from: 0, until: 10 }, 'two');
		cache.keep(owner, 'k2', { from: 10, until: 20 }, 'two, later');
		expect([cache.find(owner, 'k1', 5), cache.find(owner, 'k2', 15)]).toEqual(['one', 'two, later']);
		cache.keep(owner, 'k3', { from: 0, until: 10 }, 'three');
		expect([cache.find(owner, 'k1', 5), cache.find(owner, 'k2', 15), cache.find(owner, 'k3', 5)]).toEqual([undefined, undefined, 'three']);
	});
});
