/**
 * Values that hold over a span of time (a calendar period, a local day), kept per owner object (a cap window, a
 * quiet-hours rule: dropped with it) and key (a zone) while `now` is in the span: time-zone arithmetic recomputed per
 * call was most of a cap check's cost, and most of a decision's under quiet hours (docs/benchmarks.md). At most
 * `maxKeys` keys an owner; past that, its entries all go. A lookup and a store are two calls, so a hit allocates nothing.
 */
export class SpanCache<O extends object, T> {
	private readonly byOwner = new WeakMap<O, Map<string, { from: number; until: number; value: T }>>();

	constructor(private readonly maxKeys: number) {}

	/** The value kept for `owner` and `key`, while `now` is in its span. */
	find(owner: O, key: string, now: number): T | undefined {
		const hit = this.byOwner.get(owner)?.get(key);
		return hit && hit.from <= now && now < hit.until ? hit.value : undefined;
	}

	/** Keeps `value` for `owner` and `key` over `span` (nothing without one) and returns it. */
	keep(owner: O, key: string, span: { from: number; until: number } | undefined, value: T): T {
		if (!span) return value;
		let entries = this.byOwner.get(owner);
		if (!entries) this.byOwner.set(owner, (entries = new Map()));
		if (entries.size >= this.maxKeys && !entries.has(key)) entries.clear();
		entries.set(key, { ...span, value });
		return value;
	}
}
