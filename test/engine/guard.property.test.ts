/**
 * Property tests: over thousands of random policies and event streams, decided step by step as the
 * flows do, the decision log shows that
 *   1. no contact ever received more than a cap allows in any of its windows,
 *   2. no opted-out contact was ever messaged on the channel they left,
 *   3. every event has a decision, and every decision not sent carries a reason from the closed list.
 */
import fc from 'fast-check';
import { join } from 'node:path';
import { REASON_CODES, type Decision } from '../../engine/audit/schema';
import { Engine } from '../../engine/engine';
import { windowSpan } from '../../engine/guard/windows';
import { loadPolicy } from '../../engine/policy/load';
import type { CapRule, PolicyInput } from '../../engine/policy/schema';
import { MemoryStore } from '../../engine/store/memory';
import { SqliteStore } from '../../engine/store/sqlite';
import type { Store } from '../../engine/store/types';
import { tempDir } from '../helpers/fixtures';

const CONTACTS = ['ana', 'bo', 'cy'];
const ZONES: Record<string, string> = { ana: 'Europe/Berlin', bo: 'America/New_York', cy: 'Asia/Tokyo' };
const START = Date.parse('2026-03-01T00:00:00Z');
const CATEGORIES = ['promotional', 'transactional', 'newsletter'];

const capRule = fc.record({
	scope: fc.oneof(
		fc.constant({ kind: 'any' as const }),
		fc.constantFrom('email' as const, 'sms' as const).map((channel) => ({ kind: 'channel' as const, channel })),
		fc.constantFrom(...CATEGORIES).map((tag) => ({ kind: 'tag' as const, tag })),
		fc.constant({ kind: 'journey' as const, journey: 'nurture' }),
	),
	limit: fc.integer({ min: 1, max: 3 }),
	window: fc.oneof(
		fc.constantFrom('2h', '12h', '1d', '3d').map((duration) => ({ kind: 'rolling' as const, duration })),
		fc.constantFrom('day' as const, 'week' as const).map((unit) => ({ kind: 'calendar' as const, unit, weekStartsOn: 1 })),
	),
	action: fc.constantFrom('drop' as const, 'delay' as const),
	exemptions: fc.array(fc.record({ category: fc.constantFrom(...CATEGORIES), countsTowardCap: fc.boolean() }), { maxLength: 1 }),
});

const policyArb = fc
	.record({ caps: fc.array(capRule, { minLength: 1, maxLength: 4 }), order: fc.constantFrom(['email', 'sms'], ['sms', 'email']) })
	.map(({ caps, order }): PolicyInput => ({
		channelOrder: [...order],
		channels: { email: { unknownConsent: 'allow' }, sms: { unknownConsent: 'deny' } },
		caps: caps.map((c, i) => ({ id: `r${i}`, ...c })),
	}));

const eventArb = fc.record({
	contact: fc.constantFrom(...CONTACTS),
	minute: fc.integer({ min: 0, max: 10 * 24 * 60 }),
	kind: fc.constantFrom('message', 'message', 'message', 'message', 'unsubscribe', 'subscribe'),
	channel: fc.constantFrom('email' as const, 'sms' as const),
	category: fc.constantFrom(...CATEGORIES),
});

type Ev = { contact: string; minute: number; kind: string; channel: 'email' | 'sms'; category: string };

async function simulate(store: Store, input: PolicyInput, events: Ev[]) {
	const engine = new Engine({ store, policy: loadPolicy(input), clock: 'event' });
	const sorted = [...events].sort((a, b) => a.minute - b.minute);
	const decisions: Decision[] = [];
	for (const [i, e] of sorted.entries()) {
		const occurredAt = new Date(START + e.minute * 60_000 + i).toISOString();
		const identities = { email: `${e.contact}@example.com`, userId: e.contact };
		const traits = { phone: '+15550100', timezone: ZONES[e.contact] };
		// Every event goes through the whole journey, consent changes included, as in the flows.
		const name = e.kind === 'unsubscribe' ? 'Unsubscribed' : e.kind === 'subscribe' ? 'Subscribed' : 'Pricing Viewed';
		let { decision: d } = await engine.ingest({ type: 'track', name, identities, traits, properties: { channel: e.channel }, occurredAt }, { journey: 'nurture' });
		d = await engine.chooseChannel(d);
		if (d.status === 'pending') d = await engine.checkCap(d, { category: e.category, tags: [e.category] });
		if (d.status === 'pending') d = await engine.send(d, { dryRun: true });
		decisions.push(await engine.logDecision(d));
	}
	return { engine, sorted, decisions };
}

/** Does rule `r` count a sent decision, and does it apply to (check) that decision? */
function counted(rule: CapRule, d: Decision): boolean {
	const category = d.message?.category;
	const exemption = rule.exemptions.find((x) => x.category === category);
	if (exemption && !exemption.countsTowardCap) return false;
	return scoped(rule, d);
}
function scoped(rule: CapRule, d: Decision): boolean {
	const s = rule.scope;
	return s.kind === 'any' || (s.kind === 'channel' ? d.channel === s.channel : s.kind === 'tag' ? d.message?.category === s.tag : d.journey === s.journey);
}

function checkInvariants(input: PolicyInput, sorted: Ev[], decisions: Decision[]) {
	const { policy } = loadPolicy(input);
	// 3. A decision per event; every decision not sent has a reason from the closed list.
	expect(decisions).toHaveLength(sorted.length);
	for (const d of decisions) {
		expect(d.loggedAt).toBeDefined();
		if (d.status !== 'sent') expect(REASON_CODES).toContain(d.reason);
	}
	// 2. Consent replayed from the event stream (decisions[i] is sorted[i]): never send to an opt-out,
	//    and SMS only after an explicit opt-in.
	const consent: Record<string, string> = {};
	decisions.forEach((d, i) => {
		const e = sorted[i];
		// A consent event takes effect when it is ingested, before its own decision is made.
		if (e.kind !== 'message') consent[`${e.contact}:${e.channel}`] = e.kind === 'unsubscribe' ? 'opted_out' : 'opted_in';
		if (d.status === 'sent') {
			const state = consent[`${e.contact}:${d.channel}`] ?? 'unknown';
			expect(state).not.toBe('opted_out');
			if (d.channel === 'sms') expect(state).toBe('opted_in');
		}
	});
	// 1. For every sent message a rule applies to, the messages that rule counts in the window ending at
	//    that message (itself included) are within the limit.
	for (const contact of CONTACTS) {
		const sent = decisions.filter((d, i) => d.status === 'sent' && sorted[i].contact === contact);
		for (const m of sent) {
			const now = Date.parse(m.createdAt);
			for (const rule of policy.caps) {
				const exempt = rule.exemptions.some((x) => x.category === m.message?.category);
				if (!scoped(rule, m) || exempt) continue;
				const span = windowSpan(rule.window, now, ZONES[contact]);
				const inWindow = sent.filter((o) => counted(rule, o) && Date.parse(o.createdAt) >= span.since && Date.parse(o.createdAt) <= now);
				expect(inWindow.length).toBeLessThanOrEqual(rule.limit);
			}
		}
	}
	return decisions.filter((d) => d.status === 'sent').length;
}

/** Tallies across runs, so a property that held only because nothing was ever sent or capped fails. */
function tally(decisions: Decision[], into: Record<string, number>) {
	for (const d of decisions) into[d.status === 'sent' ? 'sent' : (d.reason ?? d.status)] = (into[d.status === 'sent' ? 'sent' : (d.reason ?? d.status)] ?? 0) + 1;
}

describe('guardrail invariants (fast-check)', () => {
	test('memory store: 1,000 random policies and event streams', async () => {
		const seen: Record<string, number> = {};
		await fc.assert(
			fc.asyncProperty(policyArb, fc.array(eventArb, { minLength: 5, maxLength: 40 }), async (input, events) => {
				const { sorted, decisions } = await simulate(new MemoryStore({ maxContacts: 100, maxDecisions: 1000 }), input, events);
				checkInvariants(input, sorted, decisions);
				tally(decisions, seen);
			}),
			{ numRuns: 1000, seed: 20261121 },
		);
		expect(seen.sent).toBeGreaterThan(1000);
		expect(seen.FREQUENCY_CAP).toBeGreaterThan(1000);
		expect(seen.NO_CONSENT).toBeGreaterThan(100);
	});

	test('SQLite store: 150 random policies and event streams', async () => {
		const dir = tempDir();
		let n = 0;
		await fc.assert(
			fc.asyncProperty(policyArb, fc.array(eventArb, { minLength: 5, maxLength: 40 }), async (input, events) => {
				const store = new SqliteStore(join(dir, `p${n++}.db`));
				const { sorted, decisions } = await simulate(store, input, events);
				await store.close();
				checkInvariants(input, sorted, decisions);
			}),
			{ numRuns: 150, seed: 7 },
		);
	});
});
