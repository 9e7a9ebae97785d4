/**
 * The multi-process proof, small: 4 worker processes (each its own engine, as n8n queue-mode
 * workers) run the nurture journey against one Redis + PostgreSQL store, with tight caps and every
 * event delivered twice (to two different workers, as a retried webhook would be), sending to a
 * local webhook sink. Runs the built engine (npm test builds). bench/scale.ts is the full version.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { startSink, Sink } from '../../bench/sink';
import { runWorkers, scaleEvent, TIGHT_CAPS_POLICY } from '../../bench/scaleHarness';
import type { WorkerResult } from '../../bench/scaleWorker';
import type { PostgresStore } from '../../engine/store/postgres';
import { describeWithServer, TEST_POSTGRES_URL, TEST_REDIS_URL } from '../helpers/services';
import { useSplitStore } from '../helpers/splitStore';

const SCRIPT = resolve(__dirname, '../../dist/bench/scaleWorker.js');
const WORKERS = 4;
const CONTACTS = 120;
const EVENTS_PER_CONTACT = 4;

const withRedis = describeWithServer('Redis', TEST_REDIS_URL);
const withPostgres = describeWithServer('PostgreSQL', TEST_POSTGRES_URL);

withRedis('scale-out', () => {
	withPostgres('on Redis + PostgreSQL', () => {
		const shared = useSplitStore();
		const storeUrl = shared.url;
		let sink: Sink;
		let log: PostgresStore;
		beforeAll(() => {
			if (!existsSync(SCRIPT)) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
			({ sink, log } = shared);
		});

		test('4 worker processes, tight caps, every event delivered twice: zero cap violations, zero duplicate sends, zero lost decisions', async () => {
			// Event k of contact c goes to worker (c + k) % 4 and its redelivery to worker (c + k + 1) % 4; each worker
			// takes contacts in the same order, so one contact's events race on all workers at once.
			const perWorker: Record<string, unknown>[][] = Array.from({ length: WORKERS }, () => []);
			for (let c = 0; c < CONTACTS; c++) {
				for (let k = 0; k < EVENTS_PER_CONTACT; k++) {
					const event = scaleEvent(`e-${c}-${k}`, c, k);
					perWorker[(c + k) % WORKERS].push(event);
					perWorker[(c + k + 1) % WORKERS].push(event);
				}
			}
			const run = await runWorkers({ script: SCRIPT, store: storeUrl, policy: TIGHT_CAPS_POLICY, sinkUrl: sink.url, inFlight: 16, workers: perWorker.map((events) => ({ events })) });
			expect(run.died).toBe(0);
			const accepted = run.results.filter((r): r is Extract<WorkerResult, { decisionId: string }> => 'decisionId' in r);
			expect(run.results.filter((r) => 'error' in r)).toEqual([]);
			expect(accepted).toHaveLength(2 * CONTACTS * EVENTS_PER_CONTACT);

			// Each event was processed once; its redelivery was recognised as a duplicate.
			const processed = accepted.filter((r) => r.reason !== 'DUPLICATE_EVENT');
			expect(new Set(processed.map((r) => r.eventId)).size).toBe(CONTACTS * EVENTS_PER_CONTACT);
			expect(processed).toHaveLength(CONTACTS * EVENTS_PER_CONTACT);

			// One contact per person, even though their first events reached several workers at once.
			expect(new Set(processed.map((r) => r.contactId)).size).toBe(CONTACTS);

			// Zero cap violations: exactly two emails per contact (the daily cap), none lost to the race.
			const sentPer = new Map<string, number>();
			for (const r of processed) if (r.status === 'sent') sentPer.set(r.contactId, (sentPer.get(r.contactId) ?? 0) + 1);
			expect([...sentPer.values()]).toEqual(Array(CONTACTS).fill(2));
			expect(processed.filter((r) => r.status !== 'sent').every((r) => r.status === 'suppressed' && r.reason === 'FREQUENCY_CAP')).toBe(true);

			// Zero duplicate sends, counted at the sink.
			expect(sink.received).toBe(2 * CONTACTS);
			expect(sink.keys.size).toBe(2 * CONTACTS);

			// Zero lost decisions: every accepted event has its decision row in PostgreSQL, as reported.
			const rows = await log.queryDecisions({ limit: 10_000 });
			const byId = new Map(rows.map((d) => [d.decisionId, d]));
			for (const r of accepted) expect(byId.get(r.decisionId)?.status).toBe(r.status);
			expect(rows.filter((d) => d.status === 'sent')).toHaveLength(2 * CONTACTS);
		});

		test('kill -9 of one worker mid-run: no over-cap, no accepted decision lost, and its reservations expire', async () => {
			const contacts = 60;
			// Short, so the second run can show the dead worker's slots freed; long enough that a live worker's send (a
			// busy machine) does not outlast its own reservation.
			const policy = { ...TIGHT_CAPS_POLICY, reservationTimeoutSeconds: 3 };
			const killSink = await startSink();
			const contact = (c: number) => 1000 + c;
			const events = (phase: string, k0: number, k1: number) => {
				const perWorker: Record<string, unknown>[][] = Array.from({ length: WORKERS }, () => []);
				for (let c = 0; c < contacts; c++) for (let k = k0; k < k1; k++) perWorker[(c + k) % WORKERS].push(scaleEvent(`${phase}-${c}-${k}`, contact(c), k));
				return perWorker;
			};
			try {
				const first = await runWorkers({ script: SCRIPT, store: storeUrl, policy, sinkUrl: killSink.url, inFlight: 8, workers: events('kill', 0, 4).map((e) => ({ events: e })), kill: { worker: 0, afterResults: 25 } });
				expect(first.died).toBe(1);
				const accepted = first.results.filter((r): r is Extract<WorkerResult, { decisionId: string }> => 'decisionId' in r);
				// Every decision a worker reported (the killed one up to its death) is in the log as reported.
				for (const r of accepted) expect((await log.getDecision(r.decisionId))?.status).toBe(r.status);
				// Deliveries per contact, from the sink's idempotency keys (= decision ids, logged before the send).
				const deliveries = async () => {
					const per = new Map<string, { delivered: number; inDoubt: number }>();
					for (const key of killSink.keys) {
						const d = await log.getDecision(key);
						expect(d).toBeDefined();
						const entry = per.get(d!.contactId) ?? { delivered: 0, inDoubt: 0 };
						entry.delivered++;
						// Handed to the sink by the killed worker, which died before recording it as sent.
						if (d!.status !== 'sent') entry.inDoubt++;
						per.set(d!.contactId, entry);
					}
					return per;
				};
				const afterKill = await deliveries();
				// The dead worker's unsettled reservations hold their slots while they last: no contact has more messages
				// recorded sent than the cap, and beyond it only the dead worker's in-doubt ones (its reservations may have
				// expired before the run ended, on a busy machine, freeing their slots).
				for (const { delivered, inDoubt } of afterKill.values()) expect(delivered - inDoubt).toBeLessThanOrEqual(2);
				expect(killSink.received).toBe(killSink.keys.size);

				// Once its reservations expire, their slots free: a second run fills every contact to the cap.
				await new Promise((r) => setTimeout(r, 3100));
				const second = await runWorkers({ script: SCRIPT, store: storeUrl, policy, sinkUrl: killSink.url, inFlight: 8, workers: events('after', 4, 7).map((e) => ({ events: e })) });
				expect(second.died).toBe(0);
				const per = await deliveries();
				expect(per.size).toBe(contacts);
				// Every contact reached its cap (expired reservations gave their slots back). The only deliveries
				// beyond it can be "in doubt" ones: sent by the killed worker, whose reservation then expired
				// uncommitted, so the slot was reused — at most the 8 it had in flight.
				for (const { delivered, inDoubt } of per.values()) {
					expect(delivered).toBeGreaterThanOrEqual(2);
					expect(delivered).toBeLessThanOrEqual(2 + inDoubt);
				}
				expect([...per.values()].reduce((n, e) => n + e.inDoubt, 0)).toBeLessThanOrEqual(8);
			} finally {
				await killSink.close();
			}
		});
	});
});
