/**
 * One worker process of the multi-process proof (bench/scale.ts, test/engine/scaleOut.test.ts): its
 * own engine on the shared store, running the nurture journey for the events it is given, as an n8n
 * queue-mode worker or a Node-RED instance would. Talks to its parent over IPC:
 * parent → { events, …config } ; worker → ready ; parent → go ; worker → results… ; worker → done.
 */
import { runJourney } from '../engine/journeys/journey';
import { createEngine } from '../engine/registry';
import { countStatements } from './pgStatements';

export interface WorkerConfig {
	store: string;
	policy: Record<string, unknown>;
	sinkUrl: string;
	/** Events to decide, in order; `inFlight` at a time. */
	events: Record<string, unknown>[];
	inFlight: number;
	/** Events decided before `ready` (JIT and connection warm-up); not reported. */
	warmup?: Record<string, unknown>[];
	/** Count the statements sent to PostgreSQL from `go` on (each on the hot path commits on its own). */
	countStatements?: boolean;
}

/** One event's fate: accepted (a decision came back) or failed (the trigger would answer with an error); `at` is epoch ms when it ended. */
export type WorkerResult =
	| { eventId: string; decisionId: string; status: string; reason?: string; contactId: string; ms: number; at: number }
	| { eventId: string; error: string; at: number };

/** `done` carries the CPU time the worker spent from `go` to its last decision (user + system, ms) and, when asked, its PostgreSQL statements by their first word. */
export type WorkerMessage = { type: 'ready' } | { type: 'results'; items: WorkerResult[] } | { type: 'done'; cpuMs: number; statements?: Record<string, number> } | { type: 'fatal'; error: string };

async function work(config: WorkerConfig): Promise<void> {
	const send = (m: WorkerMessage) => new Promise<void>((resolve) => process.send!(m, () => resolve()));
	const engine = createEngine({ store: config.store, policy: config.policy });
	const target = { url: config.sinkUrl, maxAttempts: 1 };
	for (const event of config.warmup ?? []) await runJourney(engine, 'nurture', event, target);
	await send({ type: 'ready' });
	await new Promise<void>((resolve) => process.once('message', () => resolve()));
	const statements = config.countStatements ? countStatements() : undefined;
	const cpu = process.cpuUsage();
	let next = 0;
	let batch: WorkerResult[] = [];
	const flush = async () => {
		if (!batch.length) return;
		const items = batch;
		batch = [];
		await send({ type: 'results', items });
	};
	await Promise.all(
		Array.from({ length: config.inFlight }, async () => {
			while (next < config.events.length) {
				const event = config.events[next++];
				const started = performance.now();
				try {
					const d = await runJourney(engine, 'nurture', event, target);
					batch.push({ eventId: String(event.eventId), decisionId: d.decisionId, status: d.status, reason: d.reason, contactId: d.contactId, ms: performance.now() - started, at: Date.now() });
				} catch (error) {
					batch.push({ eventId: String(event.eventId), error: (error as Error).message, at: Date.now() });
				}
				// Reported as they happen, so a worker killed mid-run has told its parent what it accepted.
				if (batch.length >= 25) await flush();
			}
		}),
	);
	await flush();
	const used = process.cpuUsage(cpu);
	await engine.close();
	await send({ type: 'done', cpuMs: (used.user + used.system) / 1000, ...(statements ? { statements: { ...statements } } : {}) });
}

if (require.main === module) {
	process.once('message', (config: WorkerConfig) => {
		work(config).catch((error) => {
			process.send?.({ type: 'fatal', error: String((error as Error).stack ?? error) }, () => process.exit(1));
		});
	});
}
