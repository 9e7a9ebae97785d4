/**
 * n8n queue mode in miniature: two separate processes each run the nurture template
 * (flows/n8n/nurture.json) through n8n-core's WorkflowExecute — the Nudge Trigger's webhook, then the
 * execution — on one shared store (Redis for hot state, PostgreSQL for the log), as a main process and
 * a worker, or two workers, would. Every event is delivered to both processes at about the same moment
 * (a retried webhook reaching another process), for overlapping contacts under a tight cap. Only the
 * trigger is looked up in the template; the assertions read the store and a local webhook sink.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { scaleEvent, TIGHT_CAPS_POLICY } from '../../bench/scaleHarness';
import type { Decision } from '../../engine/audit/schema';
import { describeWithServer, TEST_POSTGRES_URL, TEST_REDIS_URL } from '../helpers/services';
import { useSplitStore } from '../helpers/splitStore';
import type { Delivery, TwoProcessConfig, TwoProcessMessage } from './twoProcessWorker';

const TEMPLATE = join(__dirname, '../../flows/n8n/nurture.json');
const CHILD = join(__dirname, '../helpers/tsChild.js');
const WORKER = join(__dirname, 'twoProcessWorker.ts');
const CONTACTS = 12;
const EVENTS_PER_CONTACT = 4;
const EMAILS_PER_DAY = 2;

const withRedis = describeWithServer('Redis', TEST_REDIS_URL);
const withPostgres = describeWithServer('PostgreSQL', TEST_POSTGRES_URL);

/** Starts every process, lets them all start at once, and returns what each delivery got back. */
async function runProcesses(configs: TwoProcessConfig[]): Promise<Delivery[][]> {
	const children = configs.map(() => fork(CHILD, [WORKER], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
	try {
		const ready = children.map((child) => new Promise<void>((resolve, reject) => {
			child.once('message', (m: TwoProcessMessage) => (m.type === 'ready' ? resolve() : reject(new Error(JSON.stringify(m)))));
			child.once('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
		}));
		children.forEach((child, i) => child.send(configs[i]));
		await Promise.all(ready);
		const done = children.map((child) => new Promise<Delivery[]>((resolve, reject) => {
			child.once('message', (m: TwoProcessMessage) => (m.type === 'done' ? resolve(m.deliveries) : reject(new Error(m.type === 'fatal' ? m.error : m.type))));
		}));
		for (const child of children) child.send('go');
		return await Promise.all(done);
	} finally {
		for (const child of children) if (child.exitCode === null) child.kill();
	}
}

withRedis('n8n queue mode: the nurture template in two processes', () => {
	withPostgres('on Redis + PostgreSQL', () => {
		const shared = useSplitStore();

		test('overlapping contacts, every event delivered to both: no cap violation, no duplicate send, each decision logged once', async () => {
			// Contact c's events, in order; the second process gets the same events, so each one races.
			const events = Array.from({ length: CONTACTS * EVENTS_PER_CONTACT }, (_, i) => {
				const c = i % CONTACTS;
				const k = Math.floor(i / CONTACTS);
				return { ...scaleEvent(`n8n-${c}-${k}`, c, k), traits: { title: 'VP Marketing', employees: 200 } };
			});
			const { sink, log } = shared;
			const base = { template: TEMPLATE, store: shared.url, policy: JSON.stringify(TIGHT_CAPS_POLICY), secret: 'two-process-secret', sinkUrl: sink.url, concurrency: 4 };
			const perProcess = await runProcesses([
				{ ...base, events },
				{ ...base, events: [...events] },
			]);

			// Every delivery was answered 200 (accepted or recognised as a repeat), and every execution succeeded.
			const deliveries = perProcess.flat();
			expect(deliveries).toHaveLength(2 * events.length);
			expect(deliveries.filter((d) => d.status !== 200)).toEqual([]);
			expect(deliveries.filter((d) => d.run !== undefined && d.run !== 'success')).toEqual([]);

			// Each event was accepted by exactly one process; the other process's delivery was a duplicate.
			const acceptedBy = new Map<string, string[]>();
			for (const d of deliveries) {
				const body = d.body as { accepted: number; duplicates: number; decisionIds: string[] };
				expect(body.accepted + body.duplicates).toBe(1);
				if (body.accepted) acceptedBy.set(d.eventId, [...(acceptedBy.get(d.eventId) ?? []), ...body.decisionIds]);
			}
			expect(acceptedBy.size).toBe(events.length);
			expect([...acceptedBy.values()].every((ids) => ids.length === 1)).toBe(true);
			// Both processes did part of the work.
			for (const own of perProcess) expect(own.some((d) => d.run === 'success')).toBe(true);

			// Each accepted event's decision is in the log once, finalised by the template's log step.
			const rows = await log.queryDecisions({ journey: 'nurture', limit: 10_000 });
			const made = rows.filter((d) => d.reason !== 'DUPLICATE_EVENT');
			expect(made).toHaveLength(events.length);
			expect(new Set(made.map((d) => d.decisionId)).size).toBe(events.length);
			expect(made.map((d) => d.decisionId).sort()).toEqual([...acceptedBy.values()].flat().sort());
			expect(made.filter((d) => !d.loggedAt)).toEqual([]);
			// The repeats are logged too, one per event.
			expect(rows.filter((d) => d.reason === 'DUPLICATE_EVENT')).toHaveLength(events.length);

			// No cap violation and no slot lost to the race: exactly the daily cap per contact, one contact per person.
			const sentPer = new Map<string, Decision[]>();
			for (const d of made) if (d.status === 'sent') sentPer.set(d.contactId, [...(sentPer.get(d.contactId) ?? []), d]);
			expect(sentPer.size).toBe(CONTACTS);
			expect([...sentPer.values()].map((sent) => sent.length)).toEqual(Array(CONTACTS).fill(EMAILS_PER_DAY));
			expect(made.filter((d) => d.status !== 'sent').every((d) => d.status === 'suppressed' && d.reason === 'FREQUENCY_CAP')).toBe(true);

			// No duplicate send: the sink got one request per sent decision, keyed by its decision id.
			expect(sink.received).toBe(CONTACTS * EMAILS_PER_DAY);
			expect([...sink.keys].sort()).toEqual([...sentPer.values()].flat().map((d) => d.decisionId).sort());
		});
	});
});
