import { counts, evaluateCounters, LedgerEntry, matches } from './capMatch';
import { RecentMap } from './recentMap';
import type { CapCounter, CapReservation, CapVerdict } from './types';

/** First index whose entry was made at or after `time` (entries sorted by time). */
function lowerBound(entries: LedgerEntry[], time: number): number {
	let lo = 0;
	let hi = entries.length;
	while (lo < hi) {
		const mid = (lo + hi) >>> 1;
		if (entries[mid].at < time) lo = mid + 1;
		else hi = mid;
	}
	return lo;
}

/** Inserts after every entry made at the same time or earlier (almost always an append). */
function insertSorted(entries: LedgerEntry[], entry: LedgerEntry): void {
	const n = entries.length;
	if (n === 0 || entries[n - 1].at <= entry.at) {
		entries.push(entry);
		return;
	}
	entries.splice(lowerBound(entries, entry.at + 1), 0, entry);
}

function removeSorted(entries: LedgerEntry[], entry: LedgerEntry): void {
	for (let i = lowerBound(entries, entry.at); i < entries.length && entries[i].at === entry.at; i++) {
		if (entries[i] !== entry) continue;
		entries.splice(i, 1);
		return;
	}
}

function addTo(index: Map<string, LedgerEntry[]>, key: string, entry: LedgerEntry): void {
	const entries = index.get(key);
	if (entries) insertSorted(entries, entry);
	else index.set(key, [entry]);
}

function removeFrom(index: Map<string, LedgerEntry[]>, key: string, entry: LedgerEntry): void {
	const entries = index.get(key);
	if (!entries) return;
	removeSorted(entries, entry);
	if (!entries.length) index.delete(key);
}

/** A ledger's entries per channel, journey and tag, each by time. */
interface ScopeIndex {
	channel: Map<string, LedgerEntry[]>;
	journey: Map<string, LedgerEntry[]>;
	tag: Map<string, LedgerEntry[]>;
}

function indexEntry(index: ScopeIndex, entry: LedgerEntry): void {
	addTo(index.channel, entry.channel, entry);
	addTo(index.journey, entry.journey, entry);
	entry.tags.forEach((tag, i) => {
		if (entry.tags.indexOf(tag) === i) addTo(index.tag, tag, entry);
	});
}

/** The index of entries already by time: each appended in order. */
function indexOf(entries: LedgerEntry[]): ScopeIndex {
	const index: ScopeIndex = { channel: new Map(), journey: new Map(), tag: new Map() };
	for (const entry of entries) indexEntry(index, entry);
	return index;
}

/**
 * Ledgers up to this many entries are counted in one pass (capMatch.evaluateCounters) and keep no index: most
 * contacts have a few entries, and the three maps cost about 2 KB a contact. Past it (a contact messaged often,
 * an agent's blast radius ledger) a rule's count is a binary search in its scope's index.
 */
export const INDEX_FROM = 32;

/**
 * One contact's cap ledger in memory, with capMatch's semantics: every entry by time, and, once it is large,
 * per channel, journey and tag, so the count of a rule with one scope is a binary search instead of a pass
 * over the ledger (bench/caps). Pending entries are the only ones that can stop counting (they expire unless
 * settled), so they are also kept apart: until the first of them expires no entry needs a liveness test.
 */
export class ContactLedger {
	/** Every entry, by time: committed, pending, and pending past expiry (a late commit must still count). */
	readonly all: LedgerEntry[] = [];
	private index?: ScopeIndex;
	/** Unsettled entries by expiry, the only ones that can stop counting: before the first expires, all count. */
	private readonly pending: LedgerEntry[] = [];

	constructor(private readonly indexFrom = INDEX_FROM) {}

	add(entry: LedgerEntry): void {
		insertSorted(this.all, entry);
		if (this.index) indexEntry(this.index, entry);
		else if (this.all.length > this.indexFrom) this.index = indexOf(this.all);
		if (entry.state !== 'pending') return;
		const pending = this.pending;
		let i = pending.length;
		while (i > 0 && pending[i - 1].expiresAt > entry.expiresAt) i--;
		if (i === pending.length) pending.push(entry);
		else pending.splice(i, 0, entry);
	}

	/** Commits a pending entry (it counts from now on, expiry or not) or releases it (it leaves the ledger). */
	settle(entry: LedgerEntry, outcome: 'commit' | 'release'): void {
		this.unpend(entry);
		if (outcome === 'commit') entry.state = 'committed';
		else this.remove(entry);
	}

	/** Are there entries made before `before`? */
	hasBefore(before: number): boolean {
		return this.all.length > 0 && this.all[0].at < before;
	}

	/** Drops the entries made before `before` (they can count under no rule any more) and returns them. */
	trim(before: number): LedgerEntry[] {
		if (!this.hasBefore(before)) return [];
		const gone = this.all.splice(0, lowerBound(this.all, before));
		if (this.all.length <= this.indexFrom) this.index = undefined;
		else if (this.index) {
			for (const map of [this.index.channel, this.index.journey, this.index.tag]) {
				for (const [key, entries] of map) {
					entries.splice(0, lowerBound(entries, before));
					if (!entries.length) map.delete(key);
				}
			}
		}
		for (const entry of gone) if (entry.state === 'pending') this.unpend(entry);
		return gone;
	}

	/** How many entries were made before `before`. */
	countBefore(before: number): number {
		return lowerBound(this.all, before);
	}

	/**
	 * Counts, the first full rule and when slots free, exactly as capMatch.evaluateCounters over `all`. A counter
	 * with one scope (or none) and no exclusions reads its index from the window's start; the others walk it.
	 */
	evaluate(counters: CapCounter[], now: number): CapVerdict {
		const index = this.index;
		if (!index) return evaluateCounters(this.all, counters, now);
		const n = counters.length;
		const tally = new Array<number>(n);
		const freesAt = new Array<number | undefined>(n);
		const allLive = !this.pending.length || now < this.pending[0].expiresAt;
		let full = -1;
		for (let i = 0; i < n; i++) {
			const c = counters[i];
			const { channel, journey, tag } = c.match;
			const scoped = (channel !== undefined ? 1 : 0) + (journey !== undefined ? 1 : 0) + (tag !== undefined ? 1 : 0);
			const entries = channel !== undefined ? index.channel.get(channel) : journey !== undefined ? index.journey.get(journey) : tag !== undefined ? index.tag.get(tag) : this.all;
			const exact = scoped <= 1 && c.excludeTags.length === 0;
			const start = entries ? lowerBound(entries, c.since) : 0;
			let count = 0;
			if (entries && exact) {
				count = entries.length - start;
				if (!allLive) for (let j = 0; j < this.pending.length && this.pending[j].expiresAt <= now; j++) if (matches(this.pending[j], c)) count--;
			} else if (entries) for (let j = start; j < entries.length; j++) if (counts(entries[j], c, now)) count++;
			tally[i] = count;
			freesAt[i] = undefined;
			if (count < c.limit) continue;
			if (full < 0) full = i;
			if (c.lengthMs !== undefined) freesAt[i] = this.nthCounted(entries!, start, count - c.limit, c, now, exact && allLive) + c.lengthMs;
		}
		return full >= 0 ? { ok: false, counts: tally, bindingRuleId: counters[full].ruleId, freesAt } : { ok: true, counts: tally, freesAt };
	}

	/** The time of the k-th (from 0) entry the counter counts, from `start` on. */
	private nthCounted(entries: LedgerEntry[], start: number, k: number, c: CapCounter, now: number, everyOneCounts: boolean): number {
		if (everyOneCounts) return entries[start + k].at;
		for (let j = start; ; j++) if (counts(entries[j], c, now) && k-- === 0) return entries[j].at;
	}

	private unpend(entry: LedgerEntry): void {
		const i = this.pending.indexOf(entry);
		if (i >= 0) this.pending.splice(i, 1);
	}

	private remove(entry: LedgerEntry): void {
		removeSorted(this.all, entry);
		if (!this.index) return;
		removeFrom(this.index.channel, entry.channel, entry);
		removeFrom(this.index.journey, entry.journey, entry);
		for (const tag of entry.tags) removeFrom(this.index.tag, tag, entry);
	}
}

/** The ledger of a contact with none: counts nothing. */
const NO_LEDGER = new ContactLedger();

/**
 * Contacts' ledgers and their reservations by id, bounded: the least recently used contact goes with its
 * reservations (settling one then finds nothing). The memory store's cap ledger, and the SQLite store's copy
 * of the rows it counts.
 */
export class LedgerBook {
	private readonly ledgers: RecentMap<string, ContactLedger>;
	private readonly reservations = new Map<string, LedgerEntry>();

	constructor(maxContacts: number) {
		this.ledgers = new RecentMap(maxContacts, (ledger) => this.forget(ledger.all));
	}

	/** The contact's ledger, now the most recently used; undefined when it has none (or it was dropped). */
	get(contactId: string): ContactLedger | undefined {
		return this.ledgers.get(contactId);
	}

	evaluate(contactId: string, counters: CapCounter[], now: number): CapVerdict {
		return (this.ledgers.get(contactId) ?? NO_LEDGER).evaluate(counters, now);
	}

	/**
	 * The memory store's check-and-reserve, with one lookup of the contact: drops what is older than `keepSince`,
	 * counts, and adds the reservation when every counter has room.
	 */
	reserve(r: CapReservation, counters: CapCounter[]): CapVerdict {
		const ledger = this.ledgers.get(r.contactId);
		if (ledger && r.keepSince !== undefined && ledger.hasBefore(r.keepSince)) this.forget(ledger.trim(r.keepSince));
		const verdict = (ledger ?? NO_LEDGER).evaluate(counters, r.at);
		if (verdict.ok) this.addTo(ledger, r);
		return verdict;
	}

	/** Adds a reservation (pending; it keeps its own copy of the tags). */
	add(r: CapReservation): void {
		// peek: the check before the add has already made the contact the most recently used.
		this.addTo(this.ledgers.peek(r.contactId), r);
	}

	/** Puts a whole ledger read from elsewhere (its entries' states as they are there). */
	load(contactId: string, entries: LedgerEntry[]): ContactLedger {
		const ledger = new ContactLedger();
		for (const entry of entries) {
			ledger.add(entry);
			if (entry.state === 'pending') this.reservations.set(entry.reservationId, entry);
		}
		this.ledgers.set(contactId, ledger);
		return ledger;
	}

	/** Commits or releases a pending reservation; false when there is none by that id (settled, or gone). */
	settle(reservationId: string, outcome: 'commit' | 'release'): boolean {
		const entry = this.reservations.get(reservationId);
		if (!entry || entry.state !== 'pending') return false;
		this.reservations.delete(reservationId);
		const ledger = this.ledgers.peek(entry.contactId);
		if (ledger) ledger.settle(entry, outcome);
		else if (outcome === 'commit') entry.state = 'committed';
		return true;
	}

	/** Moves contacts' ledgers into another contact's (merged into it): their entries count for it, pending ones still settle. */
	move(from: string[], to: string): number {
		let moved = 0;
		for (const id of from) {
			const old = id === to ? undefined : this.ledgers.peek(id);
			if (!old) continue;
			const entries = old.all;
			// Dropping the old ledger forgets its reservations: the pending ones are indexed again below.
			this.ledgers.delete(id);
			let ledger = this.ledgers.peek(to);
			if (!ledger) this.ledgers.set(to, (ledger = new ContactLedger()));
			for (const entry of entries) {
				entry.contactId = to;
				ledger.add(entry);
				if (entry.state === 'pending') this.reservations.set(entry.reservationId, entry);
			}
			moved += entries.length;
		}
		return moved;
	}

	/** Drops every entry made before `before` (dryRun: counts them) and says how many. */
	prune(before: number, dryRun: boolean): number {
		let pruned = 0;
		for (const ledger of this.ledgers.values()) {
			if (dryRun) pruned += ledger.countBefore(before);
			else {
				const old = ledger.trim(before);
				pruned += old.length;
				this.forget(old);
			}
		}
		return pruned;
	}

	/** Drops a contact's ledger with its reservations; how many entries it had. */
	drop(contactId: string): number {
		const n = this.ledgers.peek(contactId)?.all.length ?? 0;
		this.ledgers.delete(contactId);
		return n;
	}

	clear(): void {
		this.ledgers.clear();
		this.reservations.clear();
	}

	private addTo(ledger: ContactLedger | undefined, r: CapReservation): void {
		if (!ledger) this.ledgers.set(r.contactId, (ledger = new ContactLedger()));
		// A frozen array (the cap check's, one per kind of message) is kept as it is: no one can change it.
		const tags = Object.isFrozen(r.tags) ? r.tags : r.tags.slice();
		const entry: LedgerEntry = { reservationId: r.reservationId, contactId: r.contactId, channel: r.channel, journey: r.journey, tags, at: r.at, expiresAt: r.expiresAt, state: 'pending' };
		ledger.add(entry);
		this.reservations.set(r.reservationId, entry);
	}

	private forget(entries: LedgerEntry[]): void {
		for (const e of entries) this.reservations.delete(e.reservationId);
	}
}
