import fc from 'fast-check';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { atCap, keptCapped, needsOptIn, notInJourney, optedOut, switchedOff, unreachable, waitDisabled } from '../../engine/audit/candidateDetails';
import { REASON_CODES, type Decision } from '../../engine/audit/schema';
import { CHANNELS } from '../../engine/channels';
import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { pseudonymiseDecision } from '../../engine/privacy/pseudonymise';
import { decodeDecision, encodeDecision } from '../../engine/store/decisionCodec';
import { decisionOfRow, rowBody } from '../../engine/store/decisionRow';
import { MemoryStore } from '../../engine/store/memory';
import { SqliteStore } from '../../engine/store/sqlite';
import { knownDecisions } from '../helpers/consoleDecisions';
import { decision, tempDir } from '../helpers/fixtures';

/** What the store must give back: the decision as JSON holds it. */
const asJson = (d: unknown) => JSON.parse(JSON.stringify(d)) as Decision;
const isCompact = (body: string) => body.startsWith('{"v":1,');

/** Reads back exactly, alone and as a SQLite row (whose body leaves out what its columns hold). */
function expectRoundTrip(d: Decision): string {
	const body = encodeDecision(d);
	expect(decodeDecision(body)).toStrictEqual(asJson(d));
	const row = { decision_id: d.decisionId, contact_id: d.contactId, journey: d.journey, status: d.status, reason: d.reason ?? null, created_at: d.createdAt, body: rowBody(d) };
	expect(decisionOfRow(row)).toStrictEqual(asJson(d));
	return body;
}

/** Decisions as the engine makes them: sends, caps reached, unreachable and unconsented channels, holdouts, outcomes, reviews, erasure. */
async function engineDecisions(): Promise<Decision[]> {
	const policy = loadPolicy({
		...DEFAULT_POLICY,
		holdout: { salt: 'codec', globalShare: 0.2, journeys: {} },
		journeys: { nurture: { channels: ['email', 'sms', 'push'] }, cart: { channels: ['sms', 'email'] } },
	});
	const engine = new Engine({ store: new MemoryStore(), policy });
	const made: Decision[] = [];
	for (let i = 0; i < 40; i++) {
		const identities = i % 3 ? { email: `p${i % 7}@example.com`, userId: `u${i}` } : { anonymousId: `anon-${i}` };
		const traits = i % 4 === 0 ? { phone: `+4477009${String(i).padStart(5, '0')}` } : { title: 'VP Sales' };
		const consent = i % 5 === 0 ? { sms: 'opted_out' } : i % 5 === 1 ? { sms: 'opted_in', email: 'opted_in' } : undefined;
		const d = await engine.decide(
			{ type: 'track', name: ['Pricing Viewed', 'Demo Requested', 'Cart Abandoned'][i % 3], identities, traits, ...(consent ? { consent } : {}) },
			{ journey: i % 2 ? 'cart' : 'nurture', target: { dryRun: true } },
		);
		if (i % 6 === 0) await engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion', value: 40 });
		if (i % 9 === 0) await engine.logDecision(d.decisionId, { subject: 'Hello', reviewerNote: 'fine' });
		made.push((await engine.store.getDecision(d.decisionId))!);
	}
	await engine.close();
	const personal = ['p1@example.com', 'u4', 'email'];
	return [...made, ...made.slice(0, 10).map((d) => pseudonymiseDecision(d, 'c_erased', personal, '2026-12-01T00:00:00.000Z'))];
}

describe('the stored form of a decision', () => {
	test('every decision the engine makes reads back exactly, in about a third of its JSON', async () => {
		const decisions = [...(await engineDecisions()), ...knownDecisions(), decision('bare')];
		let json = 0;
		let stored = 0;
		for (const d of decisions) {
			const body = expectRoundTrip(d);
			expect(isCompact(body)).toBe(true);
			json += JSON.stringify(d).length;
			stored += body.length;
		}
		expect(stored / json).toBeLessThan(0.45);
	});

	test('candidate sentences are stored as codes and written back with the decision channel and journey', () => {
		const candidates = [
			{ channel: 'email' as const, rank: 0, eligible: false, reason: 'POLICY_BLOCKED' as const, detail: switchedOff('email') },
			{ channel: 'sms' as const, rank: 1, eligible: false, reason: 'UNREACHABLE' as const, detail: unreachable('sms') },
			{ channel: 'push' as const, rank: 2, eligible: false, reason: 'NO_CONSENT' as const, detail: optedOut('push') },
			{ channel: 'in_app' as const, rank: 3, eligible: false, reason: 'NO_CONSENT' as const, detail: needsOptIn('in_app') },
			{ channel: 'paid_audience' as const, rank: 4, eligible: false, reason: 'POLICY_BLOCKED' as const, detail: notInJourney('paid_audience', 'win back') },
			{ channel: 'sales_task' as const, rank: 5, eligible: false, reason: 'FREQUENCY_CAP' as const, ruleId: 'weekly', freesAt: '2026-11-02T00:00:00.000Z', detail: atCap('weekly', 3, 3, 'calendar week', '2026-11-02T00:00:00.000Z') },
			{ channel: 'email' as const, rank: 6, eligible: true, ruleId: 'daily', detail: keptCapped(atCap('daily', 1, 1, '24h', undefined)) },
			{ channel: 'wait' as const, rank: 7, eligible: false, reason: 'POLICY_BLOCKED' as const, detail: waitDisabled() },
			// Not one of the sentences (another journey's): kept as written.
			{ channel: 'sms' as const, rank: 8, eligible: false, reason: 'POLICY_BLOCKED' as const, detail: notInJourney('sms', 'nurture') },
		];
		const d = decision('d-sentences', { journey: 'win back', candidates });
		const body = expectRoundTrip(d);
		expect(body).not.toContain('is switched off');
		expect(body).not.toContain('kept because');
		expect(body).toContain(notInJourney('sms', 'nurture'));
	});

	test('a body written as plain JSON reads as it is, and a form from a later version is refused', () => {
		const d = knownDecisions()[1]!;
		expect(decodeDecision(JSON.stringify(d))).toStrictEqual(asJson(d));
		expect(() => decodeDecision('{"v":2,"i":"d1"}')).toThrow(/form 2.*upgrade Nudge/);
	});

	test('what the form does not know is stored as plain JSON', () => {
		const unknownField = { ...decision('d-new'), futureField: { a: 1 } } as Decision;
		const oddCandidate = decision('d-odd', { candidates: [{ channel: 'email', rank: 0, eligible: 'yes' } as never] });
		for (const d of [unknownField, oddCandidate]) expect(isCompact(expectRoundTrip(d))).toBe(false);
	});

	test('property: any decision reads back exactly', () => {
		fc.assert(fc.property(decisionArb, (d) => void expectRoundTrip(d)), { numRuns: 400 });
	});

	test('property: any decision of the schema takes the compact form', () => {
		fc.assert(
			fc.property(decisionArb, (d) => {
				if (!('extra' in d)) expect(isCompact(encodeDecision(d))).toBe(true);
			}),
			{ numRuns: 200 },
		);
	});
});

describe('the SQLite store keeps decisions in their stored form', () => {
	test('new rows are compact and still answer SQL on the event id and the provider message id; plain JSON rows still read', async () => {
		const file = join(tempDir(), 'codec.db');
		const store = new SqliteStore(file);
		const sent = decision('d-new', {
			status: 'sent',
			channel: 'email',
			delivery: { provider: 'webhook', status: 'sent', idempotencyKey: 'k1', attempts: 1, providerMessageId: 'm-42', at: '2026-11-01T00:00:01.000Z' },
			trail: [{ stage: 'send', at: '2026-11-01T00:00:01.000Z', status: 'sent' }],
		});
		await store.putDecision(sent);
		await store.close();

		const db = new DatabaseSync(file);
		const row = db.prepare(`SELECT body, json_extract(body, '$.event.eventId') AS event FROM decisions WHERE decision_id = 'd-new'`).get() as { body: string; event: string };
		expect(isCompact(row.body)).toBe(true);
		expect(row.event).toBe('e-d-new');
		const old = decision('d-old', { createdAt: '2026-10-01T00:00:00.000Z', status: 'suppressed', reason: 'HOLDOUT' });
		db.prepare('INSERT INTO decisions (decision_id, contact_id, journey, status, reason, created_at, body) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
			old.decisionId, old.contactId, old.journey, old.status, old.reason!, old.createdAt, JSON.stringify(old),
		);
		db.close();

		const reopened = new SqliteStore(file);
		expect(await reopened.getDecision('d-old')).toStrictEqual(old);
		expect(await reopened.getDecision('d-new')).toStrictEqual(sent);
		expect(await reopened.findDecisionByMessageId('m-42')).toStrictEqual(sent);
		expect((await reopened.queryDecisions({})).map((d) => d.decisionId)).toEqual(['d-old', 'd-new']);
		expect(await reopened.addOutcome('d-old', { outcomeId: 'o1', type: 'open', at: '2026-10-02T00:00:00.000Z' })).toBe(true);
		expect((await reopened.getDecision('d-old'))!.outcomes).toHaveLength(1);
		await reopened.close();
	});

	test('a file from before the message id column: its sent decisions are found by message id after it opens, through the new index', async () => {
		const file = join(tempDir(), 'before-message-id.db');
		const store = new SqliteStore(file);
		const delivery = (id: string) => ({ provider: 'webhook', status: 'sent' as const, idempotencyKey: id, attempts: 1, providerMessageId: id, at: '2026-11-01T00:00:01.000Z' });
		const sent = decision('d-sent', { status: 'sent', channel: 'email', delivery: delivery('m-1') });
		const other = decision('d-other', { status: 'sent', channel: 'email', delivery: delivery('m-2') });
		const unsent = decision('d-unsent', { status: 'suppressed', reason: 'HOLDOUT' });
		for (const d of [sent, other, unsent]) await store.putDecision(d);
		await store.close();

		// The layout an earlier version left: no column, an index on the body's JSON.
		const db = new DatabaseSync(file);
		db.exec(`DROP INDEX decisions_message_id; ALTER TABLE decisions DROP COLUMN message_id;
			CREATE INDEX decisions_message ON decisions (json_extract(body, '$.delivery.providerMessageId')) WHERE json_extract(body, '$.delivery.providerMessageId') IS NOT NULL`);
		db.close();

		const reopened = new SqliteStore(file);
		expect(await reopened.findDecisionByMessageId('m-1')).toStrictEqual(sent);
		expect(await reopened.findDecisionByMessageId('m-2')).toStrictEqual(other);
		expect(await reopened.findDecisionByMessageId('m-3')).toBeUndefined();
		await reopened.close();

		const after = new DatabaseSync(file);
		const indexes = (after.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'decisions'`).all() as { name: string }[]).map((r) => r.name);
		expect(indexes).toContain('decisions_message_id');
		expect(indexes).not.toContain('decisions_message');
		const plan = after.prepare(`EXPLAIN QUERY PLAN SELECT decision_id FROM decisions WHERE message_id = ? LIMIT 1`).all('m-1') as { detail: string }[];
		expect(plan.map((p) => p.detail).join(' ')).toContain('USING INDEX decisions_message_id');
		after.close();
	});
});

// Generated decisions: the schema's fields, with values the form codes (listed words, exact times, sentences) and
// values it keeps as written (other words, times it cannot give back, other sentences).
const CREATED = Date.parse('2026-11-01T00:00:00.000Z');
const iso = fc.integer({ min: -86_400_000, max: 30 * 86_400_000 }).map((ms) => new Date(CREATED + ms).toISOString());
const timeArb = fc.oneof({ weight: 4, arbitrary: iso }, { weight: 1, arbitrary: fc.constantFrom('2026-11-01', '2026-11-01T00:00:00Z', 'soon', '') });
const channelArb = fc.oneof(fc.constantFrom(...CHANNELS, 'wait'), fc.string({ maxLength: 6 }));
const reasonArb = fc.oneof(fc.constantFrom(...REASON_CODES), fc.string({ maxLength: 6 }));
const journeyArb = fc.constantFrom('nurture', 'cart', 'win back', '');
const number = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const windowArb = fc.constantFrom('24h', '7d', 'calendar week', 'x)y');
const sentence = (channel: string, journey: string) =>
	fc.oneof(
		fc.constantFrom(switchedOff(channel), unreachable(channel), optedOut(channel), needsOptIn(channel), notInJourney(channel, journey), waitDisabled(), notInJourney(channel, 'other')),
		fc.tuple(fc.nat(9), fc.nat(9), windowArb, fc.boolean()).map(([count, limit, window, kept]) => ({ count, limit, window, kept })),
		fc.string({ maxLength: 20 }),
	);

const candidateArb = (journey: string) =>
	channelArb.chain((channel) =>
		fc.record(
			{
				channel: fc.constant(channel),
				rank: fc.nat(8),
				eligible: fc.boolean(),
				reason: optional(reasonArb),
				detail: optional(sentence(channel, journey)),
				mean: optional(number),
				sampled: optional(number),
				ruleId: optional(fc.constantFrom('email-daily', 'weekly')),
				freesAt: optional(timeArb),
			},
			{ requiredKeys: ['channel', 'rank', 'eligible'] },
		).map((c) => {
			// A cap sentence is written from the candidate's own rule and free time, as the engine writes it.
			const d = c.detail;
			if (d && typeof d === 'object') {
				const written = atCap(c.ruleId ?? 'email-daily', d.count, d.limit, d.window, c.freesAt);
				return { ...c, detail: d.kept ? keptCapped(written) : written };
			}
			return c;
		}),
	);

const checkArb = (channel: string | undefined) =>
	fc.record(
		{
			kind: fc.constantFrom('suppression', 'consent', 'negative_trigger', 'review', 'send_time', 'quiet_hours', 'frequency_cap'),
			ruleId: fc.constantFrom('suppression-list', 'consent:email', 'email-daily'),
			passed: fc.boolean(),
			exempt: optional(fc.boolean()),
			count: optional(fc.nat(9)),
			limit: optional(fc.nat(9)),
			window: optional(windowArb),
			detail: optional(fc.oneof(fc.string({ maxLength: 12 }), fc.constant(optedOut(channel ?? '')), fc.constant(needsOptIn(channel ?? '')))),
			retryAt: optional(timeArb),
		},
		{ requiredKeys: ['kind', 'ruleId', 'passed'] },
	);

const decisionArb: fc.Arbitrary<Decision> = fc
	.tuple(fc.oneof({ weight: 5, arbitrary: iso }, { weight: 1, arbitrary: fc.constantFrom('2026-11-01', 'yesterday') }), journeyArb, optional(fc.constantFrom(...CHANNELS)))
	.chain(([createdAt, journey, channel]) =>
		fc.record(
			{
				decisionId: fc.string({ minLength: 1, maxLength: 8 }),
				createdAt: fc.constant(createdAt),
				updatedAt: timeArb,
				policyVersion: fc.constant('default@abc'),
				journey: fc.constant(journey),
				contactId: fc.string({ maxLength: 8 }),
				status: fc.constantFrom('pending', 'delayed', 'review', 'sent', 'suppressed', 'failed'),
				reason: optional(reasonArb),
				ruleId: optional(fc.string({ maxLength: 6 })),
				explanation: optional(fc.string({ maxLength: 20 })),
				event: fc.record({ eventId: fc.string({ maxLength: 6 }), source: fc.constant('nudge'), type: fc.constant('track'), name: optional(fc.string({ maxLength: 6 })), occurredAt: timeArb }, { requiredKeys: ['eventId', 'source', 'type', 'occurredAt'] }),
				score: optional(
					fc.record(
						{
							value: number,
							probability: number,
							tier: fc.constantFrom('hot', 'warm', 'cold'),
							model: fc.string({ maxLength: 8 }),
							fallback: fc.boolean(),
							factors: fc.array(fc.record({ label: fc.string({ maxLength: 8 }), contribution: number }), { maxLength: 3 }),
							note: optional(fc.string({ maxLength: 8 })),
						},
						{ requiredKeys: ['value', 'probability', 'tier', 'model', 'fallback', 'factors'] },
					),
				),
				channel: fc.constant(channel),
				candidates: optional(fc.array(candidateArb(journey), { maxLength: 8 })),
				choice: optional(
					fc.record(
						{
							context: fc.string({ maxLength: 10 }),
							method: fc.constantFrom('default_order', 'thompson', 'greedy', 'explore', 'holdout', 'none_eligible', 'escalated', 'requested', 'uplift_gate'),
							arm: optional(channelArb),
							holdout: optional(fc.record({ group: fc.constantFrom('global', 'journey'), bucket: fc.nat(99) })),
							trialCounted: optional(fc.boolean()),
						},
						{ requiredKeys: ['context', 'method'] },
					),
				),
				guard: optional(
					fc.record(
						{
							outcome: fc.constantFrom('allowed', 'delayed', 'blocked', 'review'),
							allowed: fc.boolean(),
							reservationId: optional(fc.string({ maxLength: 6 })),
							retryAt: optional(timeArb),
							bindingRuleId: optional(fc.string({ maxLength: 6 })),
							checks: fc.array(checkArb(channel), { maxLength: 5 }),
						},
						{ requiredKeys: ['outcome', 'allowed', 'checks'] },
					),
				),
				review: optional(fc.record({ rules: fc.array(fc.string({ maxLength: 5 })), requestedAt: timeArb, note: optional(fc.string()) }, { requiredKeys: ['rules', 'requestedAt'] })),
				delivery: optional(
					fc.record(
						{ provider: fc.constant('webhook'), status: fc.constantFrom('sent', 'failed'), idempotencyKey: fc.string({ maxLength: 6 }), attempts: fc.nat(3), providerMessageId: optional(fc.string({ maxLength: 6 })), at: timeArb },
						{ requiredKeys: ['provider', 'status', 'idempotencyKey', 'attempts', 'at'] },
					),
				),
				outcomes: fc.array(
					fc.record(
						{ outcomeId: fc.string({ maxLength: 5 }), type: fc.constantFrom('open', 'click', 'conversion', 'unsubscribe', 'complaint', 'revenue'), channel: optional(fc.constantFrom(...CHANNELS)), value: optional(number), at: timeArb },
						{ requiredKeys: ['outcomeId', 'type', 'at'] },
					),
					{ maxLength: 3 },
				),
				conversion: optional(fc.constant(['conversion', 'click'])),
				trail: fc.array(fc.record({ stage: fc.oneof(fc.constantFrom('ingest', 'score', 'choose', 'guard', 'send', 'log'), fc.string({ maxLength: 5 })), at: timeArb, status: fc.oneof(fc.constantFrom('pending', 'sent'), fc.string({ maxLength: 5 })) }), { maxLength: 8 }),
				annotations: fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })),
				loggedAt: optional(timeArb),
				extra: optional(fc.jsonValue({ maxDepth: 1 })),
			},
			{ requiredKeys: ['decisionId', 'createdAt', 'updatedAt', 'policyVersion', 'journey', 'contactId', 'status', 'event', 'outcomes', 'trail', 'annotations'] },
		),
	)
	// Half the choices carry the learner's context as the engine writes it (journey, step, tier, then the rest).
	.map((d) => {
		if (d.choice && d.decisionId.length % 2) d.choice.context = `journey=${d.journey}|step=${d.event.name ?? d.event.type}|tier=${d.score?.tier ?? 'unscored'}|${d.choice.context}`;
		return asJson(d);
	});
