interface Node<K, V> {
	key: K;
	value: V;
	newer: Node<K, V> | undefined;
	older: Node<K, V> | undefined;
}

/**
 * A map that keeps its `max` most recently used keys: setting one more drops the least recently used (and
 * tells `onDrop`, as does delete). Recency is a list threaded through the entries, so a use costs a lookup and a
 * few pointer writes: the cap check touches a contact's ledger on every call, where lru-cache's bookkeeping was
 * about a sixth of the memory store's check (bench/caps). It is the one least-recently-used map here (the memory
 * store's profiles and decisions too); the in-process copies that only need a bound drop their oldest entry
 * instead (boundedMap.ts: no recency to keep on a read).
 */
export class RecentMap<K, V> {
	private readonly nodes = new Map<K, Node<K, V>>();
	private newest: Node<K, V> | undefined;
	private oldest: Node<K, V> | undefined;

	constructor(
		private readonly max: number,
		private readonly onDrop?: (value: V, key: K) => void,
	) {
		if (!(max >= 1)) throw new RangeError(`RecentMap needs room for at least one key, not ${max}`);
	}

	get size(): number {
		return this.nodes.size;
	}

	/** The value, now the most recently used. */
	get(key: K): V | undefined {
		const node = this.nodes.get(key);
		if (!node) return undefined;
		if (node !== this.newest) {
			this.unlink(node);
			this.linkNewest(node);
		}
		return node.value;
	}

	/** Whether the key is here, its recency untouched. */
	has(key: K): boolean {
		return this.nodes.has(key);
	}

	/** The value, its recency untouched. */
	peek(key: K): V | undefined {
		return this.nodes.get(key)?.value;
	}

	/** Sets the value, now the most recently used; a new key past `max` drops the least recently used. */
	set(key: K, value: V): this {
		const node = this.nodes.get(key);
		if (node) {
			node.value = value;
			this.get(key);
			return this;
		}
		const added: Node<K, V> = { key, value, newer: undefined, older: undefined };
		this.nodes.set(key, added);
		this.linkNewest(added);
		if (this.nodes.size > this.max) this.drop(this.oldest!);
		return this;
	}

	delete(key: K): boolean {
		const node = this.nodes.get(key);
		if (!node) return false;
		this.drop(node);
		return true;
	}

	/** Forgets every key without telling `onDrop`. */
	clear(): void {
		this.nodes.clear();
		this.newest = this.oldest = undefined;
	}

	*values(): IterableIterator<V> {
		for (const node of this.nodes.values()) yield node.value;
	}

	*entries(): IterableIterator<[K, V]> {
		for (const node of this.nodes.values()) yield [node.key, node.value];
	}

	private drop(node: Node<K, V>): void {
		this.nodes.delete(node.key);
		this.unlink(node);
		this.onDrop?.(node.value, node.key);
	}

	private linkNewest(node: Node<K, V>): void {
		node.older = this.newest;
		node.newer = undefined;
		if (this.newest) this.newest.newer = node;
		else this.oldest = node;
		this.newest = node;
	}

	private unlink(node: Node<K, V>): void {
		if (node.newer) node.newer.older = node.older;
		else this.newest = node.older;
		if (node.older) node.older.newer = node.newer;
		else this.oldest = node.newer;
		node.newer = node.older = undefined;
	}
}
