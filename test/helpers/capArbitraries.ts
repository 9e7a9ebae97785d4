/** Random cap ledger entries and counters (fast-check) for the property tests that compare ledgers with their model. */
import fc from 'fast-check';
import type { CapCounter } from '../../engine/store/types';

export const CHANNELS = ['email', 'sms'];
export const JOURNEYS = ['nurture', 'cart'];
export const TAGS = ['promo', 'news', 'tx'];

/** What a reservation adds to the ledger: when, for how long it stays pending, and what it matches. */
export const entryArb = fc.record({
	at: fc.integer({ min: 0, max: 100 }),
	ttl: fc.integer({ min: 1, max: 60 }),
	channel: fc.constantFrom(...CHANNELS),
	journey: fc.constantFrom(...JOURNEYS),
	tags: fc.array(fc.constantFrom(...TAGS), { maxLength: 3 }),
});

export const counterArb = fc.record({
	limit: fc.integer({ min: 1, max: 6 }),
	since: fc.integer({ min: 0, max: 110 }),
	channel: fc.option(fc.constantFrom(...CHANNELS), { nil: undefined }),
	journey: fc.option(fc.constantFrom(...JOURNEYS), { nil: undefined }),
	tag: fc.option(fc.constantFrom(...TAGS), { nil: undefined }),
	excludeTags: fc.array(fc.constantFrom(...TAGS), { maxLength: 2 }),
	lengthMs: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
});

export function toCounter(c: typeof counterArb extends fc.Arbitrary<infer T> ? T : never, i: number): CapCounter {
	const match: CapCounter['match'] = {};
	if (c.channel !== undefined) match.channel = c.channel;
	if (c.journey !== undefined) match.journey = c.journey;
	if (c.tag !== undefined) match.tag = c.tag;
	return { ruleId: `r${i}`, limit: c.limit, since: c.since, match, excludeTags: c.excludeTags, ...(c.lengthMs !== undefined ? { lengthMs: c.lengthMs } : {}) };
}
