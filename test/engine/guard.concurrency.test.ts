/**
 * Several worker threads, each with its own engine and SQLite connection on one store file, race
 * decisions for the same contacts (as n8n executions or Node-RED instances on one machine would):
 * caps are never exceeded, and every event has its decision. Runs the built engine (npm test builds).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { createEngine } from '../../engine/registry';
import { tempDir } from '../helpers/fixtures';

const DIST = resolve(__dirname, '../../dist/engine/index.js');
const WORKERS = 4;
const PER_WORKER = 60;
const CONTACTS = 12;

const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { createEngine, runJourney } = require(workerData.dist);
(async () => {
	const engine = createEngine({ store: 'sqlite:' + workerData.db, policy: workerData.policy });
	const pending = [];
	for (let i = 0; i < workerData.count; i++) {
		const contact = i % workerData.contacts;
		const event = { eventId: 'w' + workerData.id + '-' + i, type: 'track', name: 'Pricing Viewed', identities: { email: 'c' + contact + '@example.com' } };
		pending.push(runJourney(engine, 'nurture', event, { dryRun: true }));
	}
	const decisions = await Promise.all(pending);
	await engine.close();
	parentPort.postMessage(decisions.map((d) => ({ status: d.status, reason: d.reason, contactId: d.contactId })));
})().catch((error) => parentPort.postMessage({ error: String(error && error.stack || error) }));
`;

test('4 worker threads racing on one SQLite store: zero cap violations, zero lost decisions', async () => {
	if (!existsSync(DIST)) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
	const db = join(tempDir(), 'race.db');
	const policy = {
		channelOrder: ['email'],
		channels: { email: { unknownConsent: 'allow' } },
		caps: [
			{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: 2, window: { kind: 'rolling', duration: '24h' } },
			{ id: 'all-weekly', scope: { kind: 'any' }, limit: 3, window: { kind: 'rolling', duration: '7d' } },
		],
	};
	const results = await Promise.all(
		Array.from({ length: WORKERS }, (_, id) =>
			new Promise<{ status: string; reason?: string; contactId: string }[]>((resolvePromise, reject) => {
				const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { dist: DIST, db, policy, id, count: PER_WORKER, contacts: CONTACTS } });
				worker.once('message', (m) => (m.error ? reject(new Error(m.error)) : resolvePromise(m)));
				worker.once('error', reject);
			}),
		),
	);
	const all = results.flat();
	expect(all).toHaveLength(WORKERS * PER_WORKER);
	const sentPer = new Map<string, number>();
	for (const d of all) if (d.status === 'sent') sentPer.set(d.contactId, (sentPer.get(d.contactId) ?? 0) + 1);
	// Each contact got exactly the daily email cap: no more (no violation), no fewer (no slot lost).
	expect([...sentPer.values()]).toEqual(Array(CONTACTS).fill(2));
	expect(all.filter((d) => d.status !== 'sent').every((d) => d.status === 'suppressed' && d.reason === 'FREQUENCY_CAP')).toBe(true);
	// The store agrees: every decision is there, logged.
	const engine = createEngine({ store: `sqlite:${db}` });
	const stored = await engine.queryDecisions({ limit: 10_000 });
	expect(stored).toHaveLength(WORKERS * PER_WORKER);
	expect(stored.every((d) => d.loggedAt)).toBe(true);
	expect(stored.filter((d) => d.status === 'sent')).toHaveLength(2 * CONTACTS);
	await engine.close();
});
