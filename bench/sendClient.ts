import axios from 'axios';
import { Agent as HttpAgent } from 'node:http';
import { postWebhook } from '../engine/deliver/webhook';
import { startSinkProcess } from './sink';
import { fmt, print } from './stats';

/**
 * Why the webhook sender uses undici: the same signed JSON POSTs to the same local receiver, through
 * our sender (undici) and through axios with a keep-alive agent, in one run.
 */
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10_000);
const IN_FLIGHT = 32;

async function rate(send: (i: number) => Promise<unknown>): Promise<number> {
	for (let i = 0; i < 500; i++) await send(i);
	let next = 0;
	const started = performance.now();
	await Promise.all(
		Array.from({ length: IN_FLIGHT }, async () => {
			while (next < REQUESTS) await send(next++);
		}),
	);
	return REQUESTS / ((performance.now() - started) / 1000);
}

export async function benchSendClient(): Promise<void> {
	const sink = await startSinkProcess();
	const payload = { decisionId: 'd_x', channel: 'email', contact: { email: 'a@example.com' } };
	const client = axios.create({ httpAgent: new HttpAgent({ keepAlive: true }), validateStatus: () => true });
	const ours = await rate((i) => postWebhook({ url: sink.url, secret: 's', maxAttempts: 1 }, payload, `k${i}`));
	const baseline = await rate((i) => client.post(sink.url, JSON.stringify(payload), { headers: { 'content-type': 'application/json', 'idempotency-key': `k${i}` } }));
	await sink.close();
	print(`bench/sendClient: ${fmt(REQUESTS, 0)} webhook POSTs, ${IN_FLIGHT} in flight, receiver in a child process`);
	print(`  nudge sender (undici)  ${fmt(ours, 0).padStart(8)} requests/s`);
	print(`  axios (keep-alive)     ${fmt(baseline, 0).padStart(8)} requests/s`);
	print(`  undici/axios ratio: ${fmt(ours / baseline)}`);
}

if (require.main === module) {
	benchSendClient().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
