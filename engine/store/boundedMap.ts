/**
 * Sets a key in a Map kept to `max` entries: past it, the eighth of the entries set first goes (a Map iterates in
 * insertion order). An eighth at once, not one entry each time: V8 leaves a deleted entry's slot in place until the
 * table is rebuilt, so finding the first live key walks every slot deleted before it. Dropping one at a time from a
 * full copy of 100,000 keys cost 15–40 µs a set, about 50 sets a decision (docs/benchmarks.md); an eighth at once,
 * under 1 µs a set.
 */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
	if (map.size >= max && !map.has(key)) {
		let drop = Math.ceil(max / 8);
		for (const first of map.keys()) {
			map.delete(first);
			if (--drop === 0) break;
		}
	}
	map.set(key, value);
}
