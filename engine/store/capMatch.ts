import type { CapCounter, CapReservation, CapVerdict } from './types';

export interface LedgerEntry extends CapReservation {
	state: 'pending' | 'committed';
}

/** Is an entry live at `now`: committed, or pending and unexpired. */
function live(entry: LedgerEntry, now: number): boolean {
	return entry.state === 'committed' || entry.expiresAt > now;
}

/** Does an entry fall in a counter's window and scope (liveness aside). */
export function matches(entry: LedgerEntry, counter: CapCounter): boolean {
	if (entry.at < counter.since) return false;
	const { channel, journey, tag } = counter.match;
	if (channel !== undefined && entry.channel !== channel) return false;
	if (journey !== undefined && entry.journey !== journey) return false;
	if (tag !== undefined && !entry.tags.includes(tag)) return false;
	return counter.excludeTags.length === 0 || !counter.excludeTags.some((t) => entry.tags.includes(t));
}

/** Does an entry count toward a counter at `now`: live and matching. */
export function counts(entry: LedgerEntry, counter: CapCounter, now: number): boolean {
	return live(entry, now) && matches(entry, counter);
}

/**
 * The in-memory twin of the SQLite store's counting queries: counts, the first full rule, and when
 * slots free. One pass over the contact's ledger for all counters (this is the memory store's hot path).
 */
export function evaluateCounters(entries: LedgerEntry[], counters: CapCounter[], now: number): CapVerdict {
	// Plain loops, no callbacks: this runs on every check of a contact with a small ledger.
	const n = counters.length;
	const tally: number[] = [];
	for (let i = 0; i < n; i++) tally.push(0);
	for (let j = 0; j < entries.length; j++) {
		const entry = entries[j];
		if (!live(entry, now)) continue;
		for (let i = 0; i < n; i++) if (matches(entry, counters[i])) tally[i]++;
	}
	const freesAt: (number | undefined)[] = [];
	let full = -1;
	for (let i = 0; i < n; i++) {
		const c = counters[i];
		if (tally[i] < c.limit) {
			freesAt.push(undefined);
			continue;
		}
		if (full < 0) full = i;
		if (c.lengthMs === undefined) {
			freesAt.push(undefined);
			continue;
		}
		const times = entries.filter((e) => counts(e, c, now)).map((e) => e.at);
		times.sort((a, b) => a - b);
		freesAt.push(times[tally[i] - c.limit] + c.lengthMs);
	}
	return full >= 0 ? { ok: false, counts: tally, bindingRuleId: counters[full].ruleId, freesAt } : { ok: true, counts: tally, freesAt };
}
