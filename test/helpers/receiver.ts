import { createServer, IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
	headers: IncomingHttpHeaders;
	body: string;
}

const open = new Set<() => Promise<void>>();

/** Closes every receiver a test left open (call from afterEach, so a failing test cannot hang the run). */
export async function closeReceivers(): Promise<void> {
	await Promise.all([...open].map((close) => close()));
}

/** Listens on a free local port; `close` (also run by closeReceivers) ends its connections and the server. */
async function listen(server: Server): Promise<{ port: number; close: () => Promise<void> }> {
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const close = () =>
		new Promise<void>((resolve) => {
			open.delete(close);
			server.closeAllConnections();
			server.close(() => resolve());
		});
	open.add(close);
	return { port: (server.address() as AddressInfo).port, close };
}

/** A real local HTTP endpoint for send tests: answers each request with the next scripted status. */
export async function startReceiver(statuses: number[] = [202]) {
	const received: Received[] = [];
	let i = 0;
	const server = createServer((req, res) => {
		let body = '';
		req.on('data', (c) => (body += c));
		req.on('end', () => {
			received.push({ headers: req.headers, body });
			const status = statuses[Math.min(i++, statuses.length - 1)];
			res.writeHead(status, { 'content-type': 'application/json', 'retry-after': '0' });
			res.end(JSON.stringify(status < 300 ? { id: `msg-${received.length}` } : { error: 'nope' }));
		});
	});
	const { port, close } = await listen(server);
	return { url: `http://127.0.0.1:${port}/hook`, received, close };
}

/**
 * A local endpoint whose answer never ends: `status`, then `opening`, then `chunk` every `everyMs` until the client
 * gives up (a proxy or a server that streams for ever). `requests()` counts the requests it took.
 */
export async function startEndlessAnswer(status: number, opening: string, chunk: string, everyMs: number) {
	let requests = 0;
	const server = createServer((req, res) => {
		requests++;
		res.writeHead(status, { 'content-type': 'application/json' });
		res.write(opening);
		const drip = setInterval(() => (res.destroyed ? clearInterval(drip) : res.write(chunk)), everyMs);
		res.on('close', () => clearInterval(drip));
	});
	const { port, close } = await listen(server);
	return { url: `http://127.0.0.1:${port}`, requests: () => requests, close };
}
