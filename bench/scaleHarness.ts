import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { WorkerConfig, WorkerMessage, WorkerResult } from './scaleWorker';

/** The compiled worker (the harness runs it from dist/, like n8n runs the built package). */
export const WORKER_SCRIPT = join(__dirname, 'scaleWorker.js');

export interface ScaleRun {
	/** Every result each worker reported (a killed worker's reports up to its death). */
	results: WorkerResult[];
	/** The same, per worker. */
	byWorker: WorkerResult[][];
	/** From `go` until the last worker finished. */
	seconds: number;
	/** Workers that were killed or crashed. */
	died: number;
	/** Epoch ms of the `kill` option's kill -9, when it happened. */
	killedAt?: number;
	/** CPU time the workers that finished spent deciding (ms, user + system, summed). */
	cpuMs: number;
	/** With `countStatements`: PostgreSQL statements the workers sent while deciding, by first word, summed. */
	statements: Record<string, number>;
}

export interface ScaleRunOptions {
	workers: Omit<WorkerConfig, 'store' | 'policy' | 'sinkUrl' | 'inFlight' | 'countStatements'>[];
	countStatements?: boolean;
	store: string;
	policy: Record<string, unknown>;
	sinkUrl: string;
	inFlight: number;
	/** Kill -9 this worker (index) once it has reported this many results. */
	kill?: { worker: number; afterResults: number };
	/** Called each time results arrive, with every result so far (fault injection watches progress). */
	onResults?: (results: WorkerResult[]) => void;
	/** Called once every worker is warm, just before they start (benchmarks read their counters here). */
	onStart?: () => Promise<void> | void;
	script?: string;
}

/** Starts one child process per worker, waits until all are warm, starts them together, collects results. */
export async function runWorkers(options: ScaleRunOptions): Promise<ScaleRun> {
	const { fork } = await import('node:child_process');
	const results: WorkerResult[] = [];
	const byWorker: WorkerResult[][] = options.workers.map(() => []);
	let died = 0;
	let killedAt: number | undefined;
	let cpuMs = 0;
	const statements: Record<string, number> = {};
	const children: ChildProcess[] = [];
	const ready: Promise<void>[] = [];
	const done: Promise<void>[] = [];
	options.workers.forEach((w, index) => {
		const child = fork(options.script ?? WORKER_SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
		children.push(child);
		let reported = 0;
		let onReady!: () => void;
		let failReady!: (e: Error) => void;
		ready.push(new Promise<void>((resolve, reject) => ((onReady = resolve), (failReady = reject))));
		done.push(
			new Promise<void>((resolve, reject) => {
				child.on('message', (m: WorkerMessage) => {
					if (m.type === 'ready') onReady();
					else if (m.type === 'results') {
						results.push(...m.items);
						byWorker[index].push(...m.items);
						reported += m.items.length;
						if (options.kill?.worker === index && reported >= options.kill.afterResults && child.exitCode === null && killedAt === undefined) {
							killedAt = Date.now();
							child.kill('SIGKILL');
						}
						options.onResults?.(results);
					} else if (m.type === 'done') {
						cpuMs += m.cpuMs;
						for (const [word, n] of Object.entries(m.statements ?? {})) statements[word] = (statements[word] ?? 0) + n;
						resolve();
					}
					else if (m.type === 'fatal') {
						const error = new Error(`worker ${index} failed: ${m.error}`);
						failReady(error);
						reject(error);
					}
				});
				child.on('exit', (code, signal) => {
					if (signal === 'SIGKILL' || code !== 0) {
						died++;
						onReady();
						resolve();
					}
				});
			}),
		);
		child.send({ ...w, store: options.store, policy: options.policy, sinkUrl: options.sinkUrl, inFlight: options.inFlight, countStatements: options.countStatements } satisfies WorkerConfig);
	});
	try {
		await Promise.all(ready);
		await options.onStart?.();
		const started = performance.now();
		for (const child of children) if (child.connected) child.send('go');
		await Promise.all(done);
		return { results, byWorker, seconds: (performance.now() - started) / 1000, died, killedAt, cpuMs, statements };
	} finally {
		for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill();
	}
}

/** A nurture event for contact `c` (the same person on every worker: same email). */
export function scaleEvent(id: string, c: number, i: number): Record<string, unknown> {
	return {
		eventId: id,
		type: 'track',
		name: ['Pricing Viewed', 'Demo Requested', 'Email Clicked', 'Email Opened'][i % 4],
		identities: { email: `lead${c}@example.com` },
		traits: { title: c % 3 ? 'Marketing Manager' : 'VP Sales', employees: c % 500 },
	};
}

/** Tight caps: two emails a day, three messages a week, per contact. */
export const TIGHT_CAPS_POLICY = {
	channelOrder: ['email'],
	channels: { email: { unknownConsent: 'allow' } },
	caps: [
		{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: 2, window: { kind: 'rolling', duration: '24h' } },
		{ id: 'all-weekly', scope: { kind: 'any' }, limit: 3, window: { kind: 'rolling', duration: '7d' } },
	],
};
