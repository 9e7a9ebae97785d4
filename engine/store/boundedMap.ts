/** Sets a key in a Map kept to `max` entries: past it, the entry set first goes (a Map iterates in insertion order). */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
	if (map.size >= max && !map.has(key)) map.delete(map.keys().next().value as K);
	map.set(key, value);
}
