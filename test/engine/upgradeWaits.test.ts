/**
 * Upgrading from a version before the store kept waits (87cd8ad, 2026-12-03; e.g. 6fe8bfe, what early users run): that
 * version delayed a decision (quiet hours, a full cap) by writing it `delayed` with `guard.retryAt` and handing it to the
 * flow's own wait (the n8n templates' "Wait Until Retry" node, an n8n waiting execution). It wrote no `wait:<journey>:…`
 * timer, and its decision body was plain JSON. This version's templates bring delayed decisions back only through
 * Decisions Due (the store's waits), so such a decision is found by nothing once its n8n execution is gone (the old
 * workflow deleted when the current templates replace it: n8n hard-deletes a deleted workflow's executions, waiting
 * ones included). Found upgrading a real n8n 2.41.1 from 6fe8bfe to main.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Engine } from '../../engine/engine';
import { takeDueDecisions, waitTimer } from '../../engine/guard/waits';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { RedisStore } from '../../engine/store/redis';
import { SqliteStore } from '../../engine/store/sqlite';
import { tempDir } from '../helpers/fixtures';
import { describeWithServer, runId, TEST_REDIS_URL } from '../helpers/services';

const night = { id: 'night', start: '21:00', end: '08:00', action: 'delay' as const, exemptCategories: ['transactional'] };
const NIGHT = Date.parse('2026-11-02T22:30:00Z'); // 23:30 in Berlin
const MORNING = Date.parse('2026-11-03T07:00:00Z'); // 08:00 in Berlin
const policy = loadPolicy({ ...DEFAULT_POLICY, quietHours: [night] });

describe('upgrading a SQLite store with decisions an earlier version delayed', () => {
	let dir: string;
	beforeEach(() => (dir = tempDir('nudge-upgrade-waits-')));
	afterEach(() => rmSync(dir, { recursive: true, force: true }));

	/** The file as 6fe8bfe left it: the decision delayed until the morning, its body plain JSON, and no wait in the store. */
	async function delayedByEarlierVersion(file: string): Promise<string> {
		const engine = new Engine({ store: new SqliteStore(file), policy, now: () => new Date(NIGHT) });
		const { decision } = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' }, traits: { timezone: 'Europe/Berlin', consent: { email: 'opted_in' } } }, { journey: 'nurture' });
		const delayed = await engine.checkCap(await engine.chooseChannel(decision));
		expect(delayed).toMatchObject({ status: 'delayed', reason: 'QUIET_HOURS', guard: { retryAt: new Date(MORNING).toISOString() } });
		await engine.store.cancelTimer(waitTimer(delayed, MORNING).timerId);
		await engine.close();
		const db = new DatabaseSync(file);
		db.prepare('UPDATE decisions SET body = ? WHERE decision_id = ?').run(JSON.stringify(delayed), delayed.decisionId);
		db.close();
		return delayed.decisionId;
	}

	test('Decisions Due brings such a decision back at its retryAt after the upgrade (it is not left delayed for ever)', async () => {
		const file = join(dir, 'nudge.db');
		const decisionId = await delayedByEarlierVersion(file);
		// The upgraded process opens the same file in the morning.
		const engine = new Engine({ store: new SqliteStore(file), policy, now: () => new Date(MORNING) });
		try {
			expect(await engine.getDecision(decisionId)).toMatchObject({ status: 'delayed', guard: { retryAt: new Date(MORNING).toISOString() } });
			const due = await takeDueDecisions(engine, 'nurture', MORNING);
			await due.acknowledge();
			expect(due.decisions.map((d) => d.decisionId)).toEqual([decisionId]);
		} finally {
			await engine.close();
		}
	});
});

describeWithServer('Redis', TEST_REDIS_URL)('a rolling upgrade on Redis: a wait an earlier worker wrote after the bodies moved', () => {
	test('is handed out by the decision id in its name (not failed at every take for want of its body)', async () => {
		const prefix = `${runId('nudgewaitbody')}:`;
		const engine = new Engine({ store: new RedisStore(TEST_REDIS_URL, { prefix }), policy, now: () => new Date(NIGHT) });
		try {
			const { decision } = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'bo@example.com' }, traits: { timezone: 'Europe/Berlin', consent: { email: 'opted_in' } } }, { journey: 'nurture' });
			const delayed = await engine.checkCap(await engine.chooseChannel(decision));
			expect(delayed).toMatchObject({ status: 'delayed', reason: 'QUIET_HOURS' });
			// The earlier worker's write: the wait in the queue, its body under the earlier name (wait:<journey>-bodies).
			const { timerId } = waitTimer(delayed, MORNING);
			const redis = (engine.store as RedisStore).client;
			const body = await redis.hget(`${prefix}wait-bodies:nurture`, timerId);
			expect(body).toEqual(expect.any(String));
			await redis.multi().hdel(`${prefix}wait-bodies:nurture`, timerId).hset(`${prefix}wait:nurture-bodies`, timerId, body!).exec();
			const due = await takeDueDecisions(engine, 'nurture', MORNING);
			expect({ decisions: due.decisions.map((d) => d.decisionId), failed: due.failed }).toEqual({ decisions: [delayed.decisionId], failed: [] });
		} finally {
			await (engine.store as RedisStore).dropAll();
			await engine.close();
		}
	});
});
