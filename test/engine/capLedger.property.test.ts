/**
 * The memory store's indexed ledger (engine/store/capLedger.ts) against the model it must equal: capMatch's
 * evaluateCounters, a plain pass over every entry. Random reservations (out of time order too), commits,
 * releases, expiries, trims, and counters of every scope shape (several fields, exclusions), at times before and
 * after entries expire.
 */
import fc from 'fast-check';
import { ContactLedger } from '../../engine/store/capLedger';
import { evaluateCounters, type LedgerEntry } from '../../engine/store/capMatch';
import { MemoryStore } from '../../engine/store/memory';
import type { CapCounter } from '../../engine/store/types';
import { counterArb, entryArb, toCounter } from '../helpers/capArbitraries';

const op = fc.oneof(
	entryArb.map((e) => ({ kind: 'add' as const, ...e })),
	fc.record({ kind: fc.constantFrom('commit' as const, 'release' as const), pick: fc.nat() }),
	fc.record({ kind: fc.constant('trim' as const), before: fc.integer({ min: 0, max: 40 }) }),
);

describe('ContactLedger counts exactly as capMatch.evaluateCounters', () => {
	test('after any history of reservations, settlements and trims, at any time', () => {
		fc.assert(
			// Indexed from the start, from a few entries on, or never (the one-pass count of small ledgers).
			fc.property(fc.constantFrom(0, 3, 1_000), fc.array(op, { maxLength: 40 }), fc.array(counterArb, { maxLength: 5 }), fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 4 }), (indexFrom, ops, counters, times) => {
				const ledger = new ContactLedger(indexFrom);
				let model: LedgerEntry[] = [];
				let n = 0;
				for (const o of ops) {
					if (o.kind === 'add') {
						const entry: LedgerEntry = { reservationId: `x${n++}`, contactId: 'c', channel: o.channel, journey: o.journey, tags: o.tags, at: o.at, expiresAt: o.at + o.ttl, state: 'pending' };
						ledger.add(entry);
						model.push(entry);
					} else if (o.kind === 'trim') {
						const gone = ledger.trim(o.before);
						expect(new Set(gone)).toEqual(new Set(model.filter((e) => e.at < o.before)));
						model = model.filter((e) => e.at >= o.before);
					} else {
						const pending = model.filter((e) => e.state === 'pending');
						if (!pending.length) continue;
						const entry = pending[o.pick % pending.length];
						ledger.settle(entry, o.kind);
						if (o.kind === 'release') model = model.filter((e) => e !== entry);
					}
				}
				expect([...ledger.all].sort((a, b) => a.at - b.at)).toEqual([...model].sort((a, b) => a.at - b.at));
				// Also at each entry's expiry, the instant it stops counting unless committed.
				for (const at of [...times, ...model.map((e) => e.expiresAt)]) {
					const cs = counters.map(toCounter);
					expect(ledger.evaluate(cs, at)).toEqual(evaluateCounters(model, cs, at));
				}
			}),
			{ numRuns: 3_000 },
		);
	});
});

describe('MemoryStore keeps the ledger to the horizon it is told', () => {
	const counter: CapCounter = { ruleId: 'all', limit: 100, since: 0, match: {}, excludeTags: [] };
	const reserve = (store: MemoryStore, id: string, at: number, keepSince?: number) =>
		store.reserveCap({ reservationId: id, contactId: 'c1', channel: 'email', journey: 'j', tags: [], at, expiresAt: at + 1_000, ...(keepSince !== undefined ? { keepSince } : {}) }, [counter]);

	test('entries made before keepSince go at the next reservation, with their reservations; the others stay', async () => {
		const store = new MemoryStore();
		await reserve(store, 'old-pending', 10);
		await reserve(store, 'old-sent', 20);
		await store.settleCap('old-sent', 'commit');
		await reserve(store, 'kept', 50);
		expect((await reserve(store, 'no-horizon', 60)).counts).toEqual([3]);
		expect((await store.peekCap('c1', [counter], 70)).counts).toEqual([4]);
		expect((await reserve(store, 'new', 80, 30)).counts).toEqual([2]);
		expect((await store.peekCap('c1', [counter], 90)).counts).toEqual([3]);
		// A trimmed reservation is gone: settling it finds nothing; a kept one still settles.
		expect(await store.settleCap('old-pending', 'commit')).toBe(false);
		expect(await store.settleCap('kept', 'commit')).toBe(true);
		expect(await store.pruneExpired('capLedger', 1_000, true)).toBe(3);
	});

	test('a contact evicted from a full store takes its reservations along', async () => {
		const store = new MemoryStore({ maxContacts: 1 });
		await reserve(store, 'first', 10);
		await store.reserveCap({ reservationId: 'other', contactId: 'c2', channel: 'email', journey: 'j', tags: [], at: 10, expiresAt: 2_000 }, [counter]);
		expect(await store.settleCap('first', 'commit')).toBe(false);
		expect(await store.settleCap('other', 'commit')).toBe(true);
	});
});
