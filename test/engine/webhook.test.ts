import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_ANSWER_BYTES } from '../../engine/deliver/answer';
import { attemptTimeoutMs, postWebhook } from '../../engine/deliver/webhook';
import { verifySignedRequest } from '../../engine/events/signature';

/** A local endpoint answering each POST with `answer` (after reading the request), and what it saw. */
async function endpoint(answer: (res: ServerResponse, request: number) => void) {
	const seen: { headers: IncomingMessage['headers']; body: string }[] = [];
	let written = 0;
	const closed: Promise<void>[] = [];
	const server = createServer((req, res) => {
		let body = '';
		req.on('data', (chunk) => (body += chunk));
		req.on('end', () => {
			seen.push({ headers: req.headers, body });
			const write = res.write.bind(res);
			res.write = ((chunk: Buffer | string, ...rest: never[]) => ((written += chunk.length), write(chunk, ...rest))) as typeof res.write;
			closed.push(new Promise((resolve) => res.once('close', () => resolve())));
			answer(res, seen.length);
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/messages?tenant=a`;
	return {
		url,
		seen,
		/** Bytes of answer bodies written until now. */
		written: () => written,
		/** Resolves once every answer's connection closed. */
		settled: () => Promise.all(closed),
		close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
	};
}

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
	await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function open(answer: (res: ServerResponse, request: number) => void) {
	const server = await endpoint(answer);
	servers.push(server);
	return server;
}

describe('the webhook sender: what it posts and how it reads the answer', () => {
	test('posts the signed JSON with its idempotency key to the URL as given, and takes the message id from the header or a JSON body', async () => {
		const server = await open((res, n) => {
			if (n === 1) res.writeHead(202, { 'x-message-id': 'm-header', 'content-type': 'application/json' }).end('{"id":"m-body"}');
			else if (n === 2) res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end('{"messageId":"m-json"}');
			else res.writeHead(200, { 'content-type': 'text/plain' }).end('{"id":"not json by its type"}');
		});
		const target = { url: server.url, secret: 's3cret', headers: { 'x-tenant': 'acme' }, maxAttempts: 1 };
		expect(await postWebhook(target, { decisionId: 'd1' }, 'key-1')).toEqual({ ok: true, attempts: 1, httpStatus: 202, providerMessageId: 'm-header' });
		expect(await postWebhook(target, { decisionId: 'd2' }, 'key-2')).toEqual({ ok: true, attempts: 1, httpStatus: 200, providerMessageId: 'm-json' });
		expect(await postWebhook(target, { decisionId: 'd3' }, 'key-3')).toEqual({ ok: true, attempts: 1, httpStatus: 200 });
		const [first] = server.seen;
		expect(JSON.parse(first.body)).toEqual({ decisionId: 'd1' });
		expect(first.headers).toMatchObject({ 'content-type': 'application/json', 'idempotency-key': 'key-1', 'x-tenant': 'acme' });
		expect(() => verifySignedRequest('s3cret', first.body, first.headers)).not.toThrow();
		expect(() => verifySignedRequest('other', first.body, first.headers)).toThrow(/Signature does not match/);
	});

	test('a request undici will not write as given fails the send at once, naming why, and nothing is posted', async () => {
		const server = await open((res) => res.writeHead(200).end());
		const send = (headers: Record<string, string>) => postWebhook({ url: server.url, maxAttempts: 3, headers }, {}, 'k');
		const split = await send({ 'x-tenant': 'acme\r\nx-injected: 1' });
		expect(split).toEqual({ ok: false, attempts: 1, error: 'the request was not sent: invalid x-tenant header' });
		const unwritable: Record<string, string>[] = [{ expect: '100-continue' }, { 'content-length': '1' }];
		for (const headers of unwritable) {
			const refused = await send(headers);
			expect(refused).toMatchObject({ ok: false, attempts: 1 });
			expect(refused.error).toMatch(/^the request was not sent: /);
		}
		// Nothing in flight either: a request that had been written would have reached the endpoint by now.
		await new Promise((resolve) => setTimeout(resolve, 200));
		expect(server.seen).toEqual([]);
	});

	test('a 429 or 5xx is tried again after its Retry-After; a 4xx is not', async () => {
		const server = await open((res, n) => (n === 1 ? res.writeHead(429, { 'retry-after': '2' }).end('slow down') : n === 2 ? res.writeHead(503).end('busy') : n === 3 ? res.writeHead(200).end() : res.writeHead(400).end('bad')));
		const pauses: number[] = [];
		const retry = { sleep: async (ms: number) => void pauses.push(ms), random: () => 0.5, baseDelayMs: 100 };
		expect(await postWebhook({ url: server.url, maxAttempts: 3 }, { a: 1 }, 'k1', retry)).toMatchObject({ ok: true, attempts: 3, httpStatus: 200 });
		// Retry-After 2 s, then the backoff's second step (0.5 × 200 ms with this jitter).
		expect(pauses).toEqual([2000, 100]);
		expect(await postWebhook({ url: server.url, maxAttempts: 3 }, { a: 1 }, 'k2', retry)).toMatchObject({ ok: false, attempts: 1, httpStatus: 400, error: 'the endpoint answered HTTP 400' });
		expect(server.seen.map((s) => s.headers['idempotency-key'])).toEqual(['k1', 'k1', 'k1', 'k2']);
	});

	test('an attempt’s time: the target’s, at most ten minutes; none, zero or not a number is the default 10 s', () => {
		expect([undefined, 0, -5, Number.NaN, Number.POSITIVE_INFINITY].map(attemptTimeoutMs)).toEqual([10_000, 10_000, 10_000, 10_000, 10_000]);
		expect([1, 300, 600_000, 2 ** 31].map(attemptTimeoutMs)).toEqual([1, 300, 600_000, 600_000]);
	});

	test('sends waiting for a connection start their time when they start: each reaches the endpoint instead of being dropped on a fresh connection', async () => {
		// More sends than the pool's 128 connections, to an endpoint slower than their timeout.
		const server = await open((res) => setTimeout(() => !res.destroyed && res.writeHead(200).end(), 1_000));
		const results = await Promise.all(Array.from({ length: 300 }, (_, i) => postWebhook({ url: server.url, maxAttempts: 1, timeoutMs: 300 }, {}, `q${i}`)));
		expect(results.filter((r) => !r.ok && r.error === `could not reach ${new URL(server.url).host}: no complete answer within 300 ms`)).toHaveLength(300);
		await server.settled();
		// Timed from the call, the 172 that waited were past their deadline when a connection came, and were dropped then.
		expect(server.seen).toHaveLength(300);
	});

	test('an endless 200 is a message sent: its answer is read to 64 KB and its connection closed (the id from its header still counts)', async () => {
		const chunk = Buffer.alloc(64 * 1024, 0x20);
		const server = await open((res) => {
			res.writeHead(200, { 'content-type': 'application/json', 'x-message-id': 'm-big' });
			// Writes until the client goes away (about 2 GB would be read whole).
			const more = () => {
				while (!res.destroyed && res.write(chunk));
				if (!res.destroyed) res.once('drain', more);
			};
			more();
		});
		expect(await postWebhook({ url: server.url, maxAttempts: 3 }, { a: 1 }, 'k')).toEqual({ ok: true, attempts: 1, httpStatus: 200, providerMessageId: 'm-big' });
		await server.settled();
		expect(server.seen).toHaveLength(1);
		// What the endpoint got out before the client closed: socket buffers' worth, far from the whole answer.
		expect(server.written()).toBeLessThan(64 * 1024 * 1024);
	});

	test('an answer just over the limit is not parsed for its id; one at the limit is', async () => {
		const padded = (bytes: number) => JSON.stringify({ id: 'm-padded', pad: 'x'.repeat(bytes - JSON.stringify({ id: 'm-padded', pad: '' }).length) });
		const server = await open((res, n) => res.writeHead(200, { 'content-type': 'application/json' }).end(padded(n === 1 ? MAX_ANSWER_BYTES : MAX_ANSWER_BYTES + 1)));
		expect(await postWebhook({ url: server.url, maxAttempts: 1 }, {}, 'k1')).toEqual({ ok: true, attempts: 1, httpStatus: 200, providerMessageId: 'm-padded' });
		expect(await postWebhook({ url: server.url, maxAttempts: 1 }, {}, 'k2')).toEqual({ ok: true, attempts: 1, httpStatus: 200 });
	});

	test('an answer that never ends (a byte at a time) fails the attempt at the target’s timeout, as do headers that never come', async () => {
		const server = await open((res, n) => {
			if (n > 2) return; // headers never sent
			res.writeHead(200, { 'content-type': 'application/json' });
			const drip = setInterval(() => res.write(' '), 50);
			res.once('close', () => clearInterval(drip));
		});
		const dripped = await postWebhook({ url: server.url, maxAttempts: 2, timeoutMs: 300 }, {}, 'k', { baseDelayMs: 1 });
		expect(dripped).toMatchObject({ ok: false, attempts: 2 });
		expect(dripped.error).toMatch(/could not reach 127\.0\.0\.1:\d+: no complete answer within 300 ms/);
		const silent = await postWebhook({ url: server.url, maxAttempts: 1, timeoutMs: 300 }, {}, 'k2');
		expect(silent).toMatchObject({ ok: false, attempts: 1 });
		expect(silent.error).toMatch(/within 300 ms|timeout/i);
		// Each attempt ended, not just the first: the endpoint saw three requests and every connection closed.
		await server.settled();
		expect(server.seen).toHaveLength(3);
	});
});
