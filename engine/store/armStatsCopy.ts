import { addArmDelta } from './armStats';
import { setBounded } from './boundedMap';
import { HOURS, sendHourOf } from './sendHours';
import type { ArmStats } from './types';

/** A key the store has no row for: remembered too, since most of a contact's send-time hours have none. */
const NO_ROW: ArmStats = Object.freeze({ trials: 0, successes: 0, negatives: 0, valueSum: 0, valueSq: 0 });
/** A send-hour scope without any engagement: most contacts. */
const NO_HOURS: readonly number[] = Object.freeze(HOURS.map(() => 0));

/**
 * The learner's counts a store connection last read or wrote, by key. A decision asks for about 62 keys (48
 * send-time hours, the learner's arms); read from here they cost no query. Past `maxKeys` the first remembered keys
 * go first (a Map in insertion order: no bookkeeping on reads; boundedMap.ts).
 * The owner keeps it exact: it applies its own increments here as it writes them, and clears it whenever
 * another connection may have written (sqlite.ts: PRAGMA data_version) or a write is rolled back.
 */
export class ArmStatsCopy {
	private readonly stats = new Map<string, ArmStats>();
	/**
	 * The send hours' counts by scope (a contact, or the population): one entry per contact instead of 24 keys, found
	 * with one lookup (the 24 keys' lookups were ~4% of the SQLite path, docs/benchmarks.md). Kept exact with the keys.
	 */
	private readonly hours = new Map<string, readonly number[]>();

	constructor(
		private readonly maxKeys: number,
		private readonly maxScopes: number,
	) {}

	/** A copy of a scope's 24 hour counts, or undefined when not known. */
	hoursOf(scope: string): number[] | undefined {
		return this.hours.get(scope)?.slice();
	}

	/** Records a scope's 24 hour counts as the store holds them (each hour's trials; undefined: none). */
	rememberHours(scope: string, counts: number[] | undefined): void {
		setBounded(this.hours, scope, counts ? counts.slice() : NO_HOURS, this.maxScopes);
	}

	/** Puts the known counts of `keys` in `found` (copies; keys without a row are left out) and returns the keys not known. */
	read(keys: string[], found: Map<string, ArmStats>): string[] {
		const unknown: string[] = [];
		for (const key of keys) {
			const stats = this.stats.get(key);
			if (stats === undefined) unknown.push(key);
			else if (stats !== NO_ROW) found.set(key, { ...stats });
		}
		return unknown;
	}

	/** Records what the store holds for a key (undefined: no row). */
	remember(key: string, stats: ArmStats | undefined): void {
		setBounded(this.stats, key, stats ? { ...stats } : NO_ROW, this.maxKeys);
	}

	/** Follows an increment just written to the store; a key not known stays unknown (read again when asked). */
	add(key: string, delta: Partial<ArmStats>): void {
		const current = this.stats.get(key);
		if (current !== undefined) this.stats.set(key, addArmDelta(current === NO_ROW ? undefined : current, delta));
		const at = delta.trials ? sendHourOf(key) : undefined;
		const counts = at && this.hours.get(at.scope);
		if (at && counts) {
			const next = counts.slice();
			next[at.hour] += delta.trials!;
			this.hours.set(at.scope, next);
		}
	}

	drop(key: string): void {
		this.stats.delete(key);
		const at = sendHourOf(key);
		if (at) this.hours.delete(at.scope);
	}

	clear(): void {
		this.stats.clear();
		this.hours.clear();
	}
}
