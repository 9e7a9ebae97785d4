import { addArmDelta } from './armStats';
import { setBounded } from './boundedMap';
import type { ArmStats } from './types';

/** A key the store has no row for: remembered too, since most of a contact's send-time hours have none. */
const NO_ROW: ArmStats = Object.freeze({ trials: 0, successes: 0, negatives: 0, valueSum: 0, valueSq: 0 });

/**
 * The learner's counts a store connection last read or wrote, by key. A decision asks for about 62 keys (48
 * send-time hours, the learner's arms); read from here they cost no query. Past `maxKeys` the first remembered keys
 * go first (a Map in insertion order: no bookkeeping on reads; boundedMap.ts).
 * The owner keeps it exact: it applies its own increments here as it writes them, and clears it whenever
 * another connection may have written (sqlite.ts: PRAGMA data_version) or a write is rolled back.
 */
export class ArmStatsCopy {
	private readonly stats = new Map<string, ArmStats>();

	constructor(private readonly maxKeys: number) {}

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
	}

	drop(key: string): void {
		this.stats.delete(key);
	}

	clear(): void {
		this.stats.clear();
	}
}
