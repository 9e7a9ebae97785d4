/**
 * The best-send-time wait is the engine's: a journey that opts in (policy journeys.<id>.sendTime) has its
 * message delayed (BEST_SEND_TIME) until the contact's best hour, kept in the store's wait queue, and checked
 * against every guardrail again when it comes back; a journey that does not opt in sends at once.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { replay } from '../../cli/replay';
import type { Decision } from '../../engine/audit/schema';
import { engagementDeltas } from '../../engine/decide/sendTime';
import { Engine } from '../../engine/engine';
import { takeDueDecisions } from '../../engine/guard/waits';
import { loadPolicy } from '../../engine/policy/load';
import type { PolicyInput } from '../../engine/policy/schema';
import { openStore } from '../../engine/store/open';
import { PostgresStore } from '../../engine/store/postgres';
import { RedisStore } from '../../engine/store/redis';
import type { Store } from '../../engine/store/types';
import { tempDir } from '../helpers/fixtures';
import { describeWithServer, runId, TEST_POSTGRES_URL, TEST_REDIS_URL } from '../helpers/services';

const NOW = Date.parse('2026-11-02T10:30:00Z');
const BEST = Date.parse('2026-11-02T18:00:00Z'); // the population's best hour, later today
const HOUR = 3_600_000;

const basePolicy = (nurture: Record<string, unknown> = { waitForBestTime: true }, extra: Partial<PolicyInput> = {}): PolicyInput => ({
	channelOrder: ['email'],
	channels: { email: { unknownConsent: 'allow' }, sales_task: { unknownConsent: 'allow' } },
	journeys: { nurture: { sendTime: nurture }, cart: {}, escalating: { escalate: { tiers: ['cold', 'warm', 'hot'] }, sendTime: { waitForBestTime: true } } },
	...extra,
});

/** Everyone engaged at 18:00 UTC; a contact with a habit of engaging at 10:00 has their best hour now. */
async function seedHours(store: Store) {
	for (let i = 0; i < 10; i++) await store.addArmStats(engagementDeltas(`someone-${i}`, new Date('2026-10-20T18:10:00Z'), 'UTC'));
	for (let i = 0; i < 6; i++) await store.addArmStats(engagementDeltas('contact-now', new Date(`2026-10-2${i}T10:05:00Z`), 'UTC'));
}

function backends(): [string, jest.Describe, () => Store][] {
	const redisPrefix = () => `${runId('nudgetest')}:`;
	return [
		['memory', describe, () => openStore('memory:')],
		['sqlite', describe, () => openStore(`sqlite:${join(tempDir(), 'b.db')}`)],
		['redis', describeWithServer('Redis', TEST_REDIS_URL), () => new RedisStore(TEST_REDIS_URL, { prefix: redisPrefix() })],
		['postgres', describeWithServer('PostgreSQL', TEST_POSTGRES_URL), () => new PostgresStore(TEST_POSTGRES_URL, { schema: runId('nudgetest') })],
	];
}

describe.each(backends())('best send time (%s store)', (name, describeFor, makeStore) => {
	describeFor(`waits in the ${name} store`, () => {
		let now = NOW;
		let store: Store;
		let engine: Engine;
		const start = async (input: PolicyInput = basePolicy()) => {
			store = makeStore();
			engine = new Engine({ store, policy: loadPolicy(input), now: () => new Date(now) });
			await seedHours(store);
		};
		beforeEach(() => {
			now = NOW;
		});
		afterEach(async () => {
			const dropAll = (store as unknown as { dropAll?: () => Promise<void> }).dropAll;
			if (dropAll) await dropAll.call(store);
			await engine.close();
		});

		const decide = (email: string, journey = 'nurture', userId?: string) =>
			engine.decide({ type: 'track', name: 'Pricing Viewed', identities: { email, ...(userId ? { userId } : {}) }, traits: { timezone: 'UTC' } }, { journey, target: { dryRun: true } });
		const take = async (at: number, journey = 'nurture') => {
			const due = await takeDueDecisions(engine, journey, at);
			expect(due.failed).toEqual([]);
			await due.acknowledge();
			return due.decisions;
		};

		test('opted in: the message waits in the store until the best time, comes back once, and is sent as the same decision', async () => {
			await start();
			const waiting = await decide('ana@example.com');
			expect(waiting).toMatchObject({
				status: 'delayed',
				reason: 'BEST_SEND_TIME',
				ruleId: 'journeys.nurture.sendTime',
				loggedAt: expect.any(String),
				guard: { outcome: 'delayed', retryAt: new Date(BEST).toISOString(), bindingRuleId: 'journeys.nurture.sendTime' },
			});
			expect(waiting.guard!.checks.find((c) => c.kind === 'send_time')).toMatchObject({ passed: false, retryAt: new Date(BEST).toISOString() });
			// Nothing reserved while it waits: the caps are met when it goes.
			expect(waiting.guard!.reservationId).toBeUndefined();
			expect(waiting.explanation).toMatch(/best send time is 2026-11-02T18:00:00.000Z/);
			expect(await take(BEST - 1)).toEqual([]);
			const [due, ...rest] = await take(BEST);
			expect(rest).toEqual([]);
			now = BEST;
			const sent = await engine.decideDue(due, { dryRun: true });
			expect(sent).toMatchObject({ decisionId: waiting.decisionId, status: 'sent', delivery: { at: new Date(BEST).toISOString() } });
			expect(sent.guard!.checks.find((c) => c.kind === 'send_time')).toMatchObject({ passed: true });
			expect(sent.trail.filter((t) => t.stage === 'guard').map((t) => t.status)).toEqual(['delayed', 'pending']);
			expect(await take(BEST + HOUR)).toEqual([]);
		});

		test('a journey that does not opt in, a contact whose best time is now, and a sales task go at once', async () => {
			await start();
			expect(await decide('bo@example.com', 'cart')).toMatchObject({ status: 'sent', sendTime: { sendAt: new Date(BEST).toISOString() } });
			// 18:30 in Singapore: the best hour is the current one.
			const singapore = await engine.decide({ type: 'track', name: 'Pricing Viewed', identities: { email: 'cy@example.com' }, traits: { timezone: 'Asia/Singapore' } }, { journey: 'nurture', target: { dryRun: true } });
			expect(singapore).toMatchObject({ status: 'sent', sendTime: { hour: 18, sendAt: new Date(NOW).toISOString() } });
			expect(singapore.guard!.checks.find((c) => c.kind === 'send_time')).toMatchObject({ passed: true });
			expect(await decide('dee@example.com', 'escalating')).toMatchObject({ status: 'sent', channel: 'sales_task' });
			expect((await take(BEST + HOUR, 'cart')).length + (await take(BEST + HOUR, 'escalating')).length).toBe(0);
		});

		test('with no engagement anywhere there is no best time: the message goes at once', async () => {
			store = makeStore();
			engine = new Engine({ store, policy: loadPolicy(basePolicy()), now: () => new Date(now) });
			const d = await decide('ana@example.com');
			expect(d).toMatchObject({ status: 'sent' });
			expect(d.sendTime).toBeUndefined();
			expect(d.guard!.checks.some((c) => c.kind === 'send_time')).toBe(false);
		});

		test('maxWait caps the wait: the message goes when it runs out, before the best time, and is not held again', async () => {
			await start(basePolicy({ waitForBestTime: true, maxWait: '2h' }));
			const waiting = await decide('ana@example.com');
			const capped = NOW + 2 * HOUR;
			expect(waiting).toMatchObject({ status: 'delayed', reason: 'BEST_SEND_TIME', guard: { retryAt: new Date(capped).toISOString() } });
			expect(waiting.explanation).toMatch(/held at most 2h \(maxWait\)/);
			now = capped;
			const [due] = await take(capped);
			expect(await engine.decideDue(due, { dryRun: true })).toMatchObject({ status: 'sent', delivery: { at: new Date(capped).toISOString() } });
		});

		test('when due it meets the guardrails again: quiet hours delay it anew, a cap filled meanwhile suppresses it', async () => {
			const quiet = { quietHours: [{ id: 'lunch', start: '12:00', end: '14:00' }], caps: [{ id: 'daily', scope: { kind: 'any' as const }, limit: 1, window: { kind: 'rolling' as const, duration: '24h' } }] };
			await start(basePolicy({ waitForBestTime: true, maxWait: '2h' }, quiet));
			const ana = await decide('ana@example.com');
			now = NOW + 2 * HOUR; // 12:30, inside the quiet hours
			const [due] = await take(now);
			const again = await engine.decideDue(due, { dryRun: true });
			expect(again).toMatchObject({ decisionId: ana.decisionId, status: 'delayed', reason: 'QUIET_HOURS', guard: { retryAt: '2026-11-02T14:00:00.000Z' } });
			expect(again.guard!.checks.find((c) => c.kind === 'send_time')).toMatchObject({ passed: true });
			// The same contact gets a cart message meanwhile (no best-time wait there) in a free moment: the daily cap is used.
			now = Date.parse('2026-11-02T14:00:00Z');
			const cart = await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { email: 'ana@example.com' } }, { journey: 'cart', target: { dryRun: true } });
			expect(cart.status).toBe('sent');
			const [back] = await take(now);
			expect(await engine.decideDue(back, { dryRun: true })).toMatchObject({ decisionId: ana.decisionId, status: 'suppressed', reason: 'FREQUENCY_CAP', ruleId: 'daily' });
		});
	});
});

describe('best send time: the batch, replay and the policy', () => {
	test('a batch where one contact waits for their best time and the others go out at once', async () => {
		const store = openStore('memory:');
		const engine = new Engine({ store, policy: loadPolicy(basePolicy()), now: () => new Date(NOW) });
		await seedHours(store);
		const ingested = await engine.ingestBatch([
			{ type: 'track', name: 'Pricing Viewed', eventId: 'b1', identities: { email: 'ana@example.com' }, traits: { timezone: 'UTC' } },
			{ type: 'track', name: 'Pricing Viewed', eventId: 'b2', identities: { email: 'bo@example.com' }, traits: { timezone: 'Asia/Singapore' } },
			{ type: 'track', name: 'Pricing Viewed', eventId: 'b3', identities: { email: 'cy@example.com' }, traits: { timezone: 'Asia/Shanghai' } },
		], { journey: 'nurture' });
		const decisions: Decision[] = [];
		for (const item of ingested) decisions.push(await engine.decideIngested(item, { dryRun: true }));
		// It is 18:30 in Singapore and Shanghai, the best hour: those go now; Ana's 18:00 is later today.
		expect(decisions.map((d) => [d.status, d.reason ?? null, d.guard?.retryAt ?? null])).toEqual([
			['delayed', 'BEST_SEND_TIME', '2026-11-02T18:00:00.000Z'],
			['sent', null, null],
			['sent', null, null],
		]);
		expect((await takeDueDecisions(engine, 'nurture', BEST)).decisions.map((d) => d.decisionId)).toEqual([decisions[0].decisionId]);
		await engine.close();
	});

	test('a review comes first: the approved message then waits for the best time, and is not sent to review again when due', async () => {
		let now = NOW;
		const store = openStore('memory:');
		const review = { review: [{ id: 'big-offer', when: { field: 'traits.plan', op: 'eq' as const, value: 'enterprise' } }] };
		const engine = new Engine({ store, policy: loadPolicy(basePolicy({ waitForBestTime: true }, review)), now: () => new Date(now) });
		await seedHours(store);
		const asked = await engine.decide({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' }, traits: { timezone: 'UTC', plan: 'enterprise' } }, { journey: 'nurture', target: { dryRun: true } });
		expect(asked).toMatchObject({ status: 'review', reason: 'REVIEW_REQUIRED' });
		expect(asked.guard!.checks.some((c) => c.kind === 'send_time')).toBe(false);
		const approved = await engine.resolveReview(asked, { approve: true, reviewer: 'lea@example.com' });
		expect(approved).toMatchObject({ status: 'delayed', reason: 'BEST_SEND_TIME', guard: { retryAt: new Date(BEST).toISOString() } });
		now = BEST;
		const [due] = (await takeDueDecisions(engine, 'nurture', BEST)).decisions;
		expect(await engine.decideDue(due, { dryRun: true })).toMatchObject({ decisionId: asked.decisionId, status: 'sent', review: { verdict: 'approved' } });
		await engine.close();
	});

	test('nudge replay finishes best-time waits in simulated time', async () => {
		const dir = tempDir();
		const policyFile = join(dir, 'policy.json');
		writeFileSync(policyFile, JSON.stringify(basePolicy({ waitForBestTime: true, maxWait: '6h' })));
		const events = join(dir, 'events.jsonl');
		const at = (n: number, iso: string, name: string, email: string) => ({ type: 'track', name, eventId: `r${n}`, identities: { email }, traits: { timezone: 'UTC' }, occurredAt: iso });
		const lines = [
			at(1, '2026-11-01T18:05:00Z', 'Pricing Viewed', 'ana@example.com'),
			at(2, '2026-11-02T10:30:00Z', 'Pricing Viewed', 'bo@example.com'),
			at(3, '2026-11-02T23:00:00Z', 'Pricing Viewed', 'cy@example.com'),
		];
		writeFileSync(events, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
		const out: Decision[] = [];
		const store = join(dir, 'replay.db');
		// The engagement hours are in the replay store before it starts (kept with --store).
		const seed = openStore(`sqlite:${store}`);
		await seedHours(seed);
		await seed.close();
		const summary = await replay({ events, policy: policyFile, journey: 'nurture', store }, (d) => out.push(d));
		expect(summary.rejected).toEqual([]);
		const byEmail = (id: string) => out.find((d) => d.event.eventId === id)!;
		// r1 at 18:05: its best hour is now. r2 at 10:30 waits to 16:30 (6h cap, before 18:00). r3 at 23:00 waits to 05:00 (6h cap).
		expect(byEmail('r1')).toMatchObject({ status: 'sent', delivery: { at: '2026-11-01T18:05:00.000Z' } });
		expect(byEmail('r2')).toMatchObject({ status: 'sent', delivery: { at: '2026-11-02T16:30:00.000Z' } });
		expect(byEmail('r2').trail.filter((t) => t.stage === 'guard').map((t) => [t.at, t.status])).toEqual([
			['2026-11-02T10:30:00.000Z', 'delayed'],
			['2026-11-02T16:30:00.000Z', 'pending'],
		]);
		expect(byEmail('r3')).toMatchObject({ status: 'sent', delivery: { at: '2026-11-03T05:00:00.000Z' } });
		expect(summary.byStatus).toEqual({ sent: 3 });
	});

	test('the policy: off by default, bounded, with errors that name the setting', () => {
		expect(loadPolicy(basePolicy({})).policy.journeys.nurture.sendTime).toEqual({ waitForBestTime: false, maxWait: '24h' });
		expect(loadPolicy({ channelOrder: ['email'], journeys: { nurture: {} } }).policy.journeys.nurture.sendTime).toBeUndefined();
		expect(() => loadPolicy(basePolicy({ waitForBestTime: true, maxWait: '25h' }))).toThrow(/journeys\.nurture\.sendTime\.maxWait: must be at most "24h"/);
		expect(() => loadPolicy(basePolicy({ waitForBestTime: true, maxWait: 'soon' }))).toThrow(/journeys\.nurture\.sendTime\.maxWait: must be a number followed by s, m, h, d or w/);
		expect(() => loadPolicy(basePolicy({ waitForBestTime: true, maxWait: '0s' }))).toThrow(/maxWait: must be from "1s"/);
		expect(() => loadPolicy(basePolicy({ waitForBestTime: 'yes' }))).toThrow(/journeys\.nurture\.sendTime\.waitForBestTime/);
		expect(() => loadPolicy(basePolicy({ waitForBestTime: true, maxWaitSeconds: 9 }))).toThrow(/maxWaitSeconds/);
	});
});
