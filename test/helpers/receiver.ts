import { createServer, IncomingHttpHeaders } from 'node:http';
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
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	const close = () =>
		new Promise<void>((resolve) => {
			open.delete(close);
			server.closeAllConnections();
			server.close(() => resolve());
		});
	open.add(close);
	return { url: `http://127.0.0.1:${port}/hook`, received, close };
}
