import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A local webhook receiver that counts deliveries and idempotency keys (benchmarks and demos). */
export interface Sink {
	url: string;
	received: number;
	keys: Set<string>;
	close(): Promise<void>;
}

export async function startSink(): Promise<Sink> {
	const state = { received: 0, keys: new Set<string>() };
	const server: Server = createServer((req, res) => {
		req.resume();
		req.on('end', () => {
			state.received++;
			const key = req.headers['idempotency-key'];
			if (typeof key === 'string') state.keys.add(key);
			res.writeHead(202, { 'content-type': 'application/json', 'x-message-id': `m-${state.received}` });
			res.end('{}');
		});
	});
	server.keepAliveTimeout = 60_000;
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}/messages`,
		get received() {
			return state.received;
		},
		keys: state.keys,
		close: () =>
			new Promise<void>((resolve) => {
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	};
}

/**
 * Runs the sink in a child process, so the benchmark's one core is spent on deciding, not on
 * receiving. The child reports its URL, then its counts when asked.
 */
export async function startSinkProcess(): Promise<{ url: string; pid: number; counts(): Promise<{ received: number; unique: number }>; close(): Promise<void> }> {
	const { fork } = await import('node:child_process');
	const child = fork(__filename, ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
	const url = await new Promise<string>((resolve, reject) => {
		child.once('message', (m: { url: string }) => resolve(m.url));
		child.once('error', reject);
	});
	return {
		url,
		pid: child.pid!,
		counts: () =>
			new Promise((resolve) => {
				child.once('message', (m: { received: number; unique: number }) => resolve(m));
				child.send('counts');
			}),
		close: () =>
			new Promise<void>((resolve) => {
				child.once('exit', () => resolve());
				child.kill();
			}),
	};
}

if (require.main === module && process.argv.includes('--serve')) {
	startSink().then((sink) => {
		process.send?.({ url: sink.url });
		process.on('message', () => process.send?.({ received: sink.received, unique: sink.keys.size }));
	});
}
