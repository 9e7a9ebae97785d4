/**
 * The Nudge Trigger over real HTTP in a real Node-RED runtime (admin and nodes both on `/`, as the
 * `node-red` command mounts them): bodies too large, streamed or trickled in, and a corpus of hostile
 * bodies, signed and unsigned. Each is answered with a JSON error (or accepted when valid), and the
 * runtime, its other flows and its admin API keep answering.
 */
import http from 'node:http';
import { signatureHeaders } from '../../engine/events/signature';
import { builtIsFresh, NodeRedRuntime, startNodeRed } from '../helpers/nodeRedRuntime';
import { SECRET, segmentEvent } from './_helpers';

const maybe = builtIsFresh(['nodes/node-red/shared/webhook.ts', 'nodes/node-red/nudge-trigger.ts', 'nodes/node-red/nudge-engine.ts']) ? describe : describe.skip;

const MB = 1024 * 1024;
const BODY_TIMEOUT_SECONDS = 1;

const TAB = 'tab1';
const FLOWS = [
	{ id: TAB, type: 'tab', label: 'webhooks' },
	{ id: 'eng1', type: 'nudge-engine', name: 'test engine', policy: '' },
	{ id: 'trigger', type: 'nudge-trigger', z: TAB, engine: 'eng1', path: 'events', journey: 'nurture', wires: [[]] },
	{ id: 'trigger2', type: 'nudge-trigger', z: TAB, engine: 'eng1', path: 'other', journey: 'nurture', wires: [[]] },
	// Another flow on the same runtime; its function reads the main realm's Object.prototype through msg.
	{ id: 'probe-in', type: 'http in', z: TAB, url: '/probe', method: 'get', wires: [['probe-fn']] },
	{
		id: 'probe-fn',
		type: 'function',
		z: TAB,
		func: 'msg.payload = { polluted: msg.polluted === undefined ? null : msg.polluted, prototypeKeys: Object.keys(Object.getPrototypeOf(msg)) };\nreturn msg;',
		outputs: 1,
		wires: [['probe-out']],
	},
	{ id: 'probe-out', type: 'http response', z: TAB, statusCode: '', headers: {}, wires: [] },
];

interface Answer {
	status: number;
	headers: http.IncomingHttpHeaders;
	text: string;
	json: Record<string, unknown> | undefined;
	/** Body bytes the client's socket took before the answer came (or the server closed). */
	sent: number;
}

/** How a test writes its body: it is told whether the answer has come yet. */
type Writer = (req: http.ClientRequest, answered: () => boolean, count: (bytes: number) => void) => void;

function exchange(origin: string, path: string, headers: Record<string, string | number>, write: Writer, method = 'POST'): Promise<Answer> {
	return new Promise((resolve, reject) => {
		let sent = 0;
		let answer: Answer | undefined;
		const req = http.request(`${origin}${path}`, { method, headers: { connection: 'close', ...headers } }, (res) => {
			const chunks: Buffer[] = [];
			res.on('data', (c: Buffer) => chunks.push(c));
			res.on('end', () => {
				const text = Buffer.concat(chunks).toString();
				let json: Record<string, unknown> | undefined;
				try {
					json = JSON.parse(text) as Record<string, unknown>;
				} catch {
					json = undefined;
				}
				answer = { status: res.statusCode ?? 0, headers: res.headers, text, json, sent };
				resolve(answer);
			});
		});
		// Writing after the server has answered and closed fails (EPIPE / ECONNRESET): the answer is what counts.
		req.on('error', (error) => {
			if (!answer) setTimeout(() => (answer ? undefined : reject(error)), 200);
		});
		write(req, () => answer !== undefined || req.destroyed, (bytes) => (sent += bytes));
	});
}

const whole =
	(body: Buffer): Writer =>
	(req, _answered, count) => {
		count(body.length);
		req.end(body);
	};

/** `total` bytes in 64 KiB chunks, chunked (no Content-Length), at the pace the server reads them, until it answers. */
const streamed =
	(total: number): Writer =>
	(req, answered, count) => {
		const chunk = Buffer.alloc(64 * 1024, 'a');
		let written = 0;
		const pump = () => {
			while (written < total && !answered()) {
				written += chunk.length;
				count(chunk.length);
				if (!req.write(chunk)) return void req.once('drain', pump);
			}
			if (written >= total) req.end();
		};
		pump();
	};

/** One byte every 100 ms, never the whole body. */
const trickled: Writer = (req, answered, count) => {
	const tick = setInterval(() => {
		if (answered()) return void clearInterval(tick);
		count(1);
		req.write('a');
	}, 100);
};

function signed(body: Buffer | string, contentType = 'application/json'): Record<string, string> {
	return { 'content-type': contentType, ...signatureHeaders(SECRET, body) };
}

maybe('Nudge Trigger over real HTTP in a Node-RED runtime', () => {
	let red: NodeRedRuntime;
	const post = (path: string, body: Buffer | string, headers: Record<string, string | number>) => exchange(red.origin, path, headers, whole(Buffer.from(body)));

	/** The runtime is up, another flow answers, the other trigger takes a signed event, the admin API answers, and Object.prototype is clean. */
	async function stillServing() {
		expect(red.alive()).toBe(true);
		const probe = await fetch(`${red.origin}/probe`);
		expect(probe.status).toBe(200);
		expect(await probe.json()).toEqual({ polluted: null, prototypeKeys: [] });
		const body = JSON.stringify(segmentEvent());
		const other = await post('/nudge/other', body, signed(body));
		expect({ status: other.status, accepted: other.json?.accepted }).toEqual({ status: 200, accepted: 1 });
		expect((await fetch(`${red.origin}/flows`)).status).toBe(200);
	}

	beforeAll(async () => {
		red = await startNodeRed({ flows: FLOWS, credentials: { eng1: { signingSecret: SECRET, storeUrl: 'memory:' } }, settings: { nudgeTriggerBodyTimeout: BODY_TIMEOUT_SECONDS } });
	}, 60_000);

	afterAll(async () => {
		await red?.stop();
	});

	describe('bodies over the limit, and bodies that never finish', () => {
		test('a 6 MB unsigned body with its length declared: 413 with a JSON reason, and the runtime keeps serving', async () => {
			const answer = await exchange(red.origin, '/nudge/events', { 'content-type': 'application/json', 'content-length': 6 * MB }, whole(Buffer.alloc(6 * MB, 'a')));
			expect(answer.status).toBe(413);
			expect(answer.json).toEqual({ error: expect.stringMatching(/larger than 5 MB.*send smaller batches/) });
			expect(answer.headers.connection).toBe('close');
			await stillServing();
		});

		test('a 6 MB body streamed without a length to a path no trigger listens on: left to Node-RED, which refuses it (413)', async () => {
			const before = red.peakMemory();
			const answer = await exchange(red.origin, '/nudge/no-such-trigger', { 'content-type': 'application/json' }, streamed(6 * MB));
			expect(answer.status).toBe(413);
			expect(red.peakMemory() - before).toBeLessThan(40 * MB);
			await stillServing();
		});

		test('a 100 MB stream is refused after the limit with the runtime memory bounded: nothing past the limit is kept', async () => {
			const before = red.peakMemory();
			const answer = await exchange(red.origin, '/nudge/events', { 'content-type': 'application/json' }, streamed(100 * MB));
			expect(answer.status).toBe(413);
			expect(answer.json?.error).toMatch(/larger than 5 MB/);
			// Keeping the body would raise the peak by 100 MB; at most the 5 MB limit (and parsing buffers) may be held.
			expect(red.peakMemory() - before).toBeLessThan(40 * MB);
			// How much the sender got through before the answer reached it depends on the machine's load (the
			// server drops what arrives for a moment after answering): reported, not asserted.
			process.stdout.write(`100 MB stream: the sender wrote ${(answer.sent / MB).toFixed(1)} MB before the 413 reached it\n`);
			await stillServing();
		});

		test('a body trickled in byte by byte and never finished: 408 once the body timeout has passed, connection closed', async () => {
			const answer = await exchange(red.origin, '/nudge/events', { 'content-type': 'application/json', 'content-length': 1000 }, trickled);
			expect(answer.status).toBe(408);
			expect(answer.json).toEqual({ error: `The request body did not arrive within ${BODY_TIMEOUT_SECONDS} s; send the whole request at once` });
			expect(answer.sent).toBeLessThan(1000);
			await stillServing();
		});
	});

	describe('hostile bodies (fuzz corpus), signed and unsigned', () => {
		const event = (overrides: Record<string, unknown> = {}) => JSON.stringify(segmentEvent(overrides));
		const deep = (levels: number) => `{"type":"track","event":"Deep","userId":"u-deep","messageId":"m-deep-${levels}-${process.pid}-${Date.now()}","properties":${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}}`;
		const latin1 = Buffer.from(event({ event: 'Caf\u00e9 Visited' }), 'latin1');

		/** What the corpus expects: a refusal (4xx) naming the problem, acceptance, or (engine limits still to come) anything but a 5xx. */
		type Expectation = { status: number; error?: RegExp } | 'not-5xx';
		const corpus: Array<{ name: string; body: () => Buffer | string; contentType?: string; expect: Expectation }> = [
			{ name: 'invalid JSON', body: () => '{"type": "track", "event": ', expect: { status: 400, error: /not valid JSON/ } },
			{ name: 'an empty body', body: () => '', expect: { status: 400, error: /not valid JSON/ } },
			{ name: 'a valid event sent as text/plain', body: () => event(), contentType: 'text/plain', expect: { status: 200 } },
			{ name: 'a valid event sent as a form', body: () => event(), contentType: 'application/x-www-form-urlencoded', expect: { status: 200 } },
			{ name: 'UTF-16 with a byte-order mark', body: () => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(event(), 'utf16le')]), expect: { status: 400 } },
			{ name: 'a lone invalid UTF-8 byte sequence', body: () => Buffer.from([0x7b, 0xc3, 0x28, 0xa0, 0xa1, 0x7d]), expect: { status: 400 } },
			// Engine-side: whether a byte-order mark is skipped, and invalid UTF-8 refused rather than read as U+FFFD, are the engine's ingest rules.
			{ name: 'JSON after a UTF-8 byte-order mark', body: () => `\ufeff${event()}`, expect: 'not-5xx' },
			{ name: 'latin1 bytes (invalid UTF-8) in a string', body: () => latin1, expect: 'not-5xx' },
			{ name: 'JSON null', body: () => 'null', expect: { status: 400, error: /must be a JSON object/ } },
			{ name: 'a bare number', body: () => '42', expect: { status: 400, error: /must be a JSON object/ } },
			{ name: 'a bare string', body: () => '"track"', expect: { status: 400, error: /must be a JSON object/ } },
			{ name: 'an array of arrays where events are expected', body: () => '[[1,2],[3]]', expect: { status: 400, error: /Event 0 of the batch .*not an array/ } },
			{ name: 'an empty batch', body: () => '[]', expect: { status: 400, error: /batch is empty/ } },
			{ name: 'a batch envelope whose batch is an object', body: () => '{"batch":{"type":"track"}}', expect: { status: 400 } },
			{ name: 'numbers where strings are expected', body: () => event({ event: 42, userId: 7, messageId: 9 }), expect: { status: 400 } },
			{ name: 'an object where the event name is expected', body: () => event({ event: { name: 'x' } }), expect: { status: 400 } },
			{ name: 'properties given as an array', body: () => event({ properties: [1, 2, 3] }), expect: 'not-5xx' },
			{ name: 'a __proto__ key at the top', body: () => event().replace(/^\{/, '{"__proto__":{"polluted":1},'), expect: 'not-5xx' },
			{ name: 'a __proto__ key in properties and traits', body: () => event({ properties: JSON.parse('{"__proto__":{"polluted":1}}'), traits: JSON.parse('{"__proto__":{"polluted":1}}') }), expect: 'not-5xx' },
			{ name: 'a constructor.prototype payload', body: () => event({ constructor: { prototype: { polluted: 1 } }, properties: { constructor: { prototype: { polluted: 1 } } } }), expect: 'not-5xx' },
			{ name: 'a __proto__ key in every event of a batch', body: () => `[${event().replace(/^\{/, '{"__proto__":{"polluted":1},')},${event()}]`, expect: 'not-5xx' },
			// Engine-side: a nesting-depth limit on event properties is the engine's ingest rule; the transport must not fail.
			{ name: 'properties nested 5,000 levels deep', body: () => deep(5000), expect: 'not-5xx' },
			{ name: 'properties nested 500,000 levels deep (2 MB)', body: () => deep(500_000), expect: 'not-5xx' },
			{ name: 'an array nested 1,000,000 levels deep', body: () => `${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`, expect: { status: 400 } },
			// Engine-side: field length limits are the engine's ingest rule.
			{ name: 'a 1 MB event name', body: () => event({ event: 'x'.repeat(MB) }), expect: 'not-5xx' },
			{ name: 'a batch of 100,000 empty objects', body: () => `[${Array(100_000).fill('{}').join(',')}]`, expect: { status: 400, error: /100,?000/ } },
			{ name: 'a batch of 500 valid events', body: () => `[${Array.from({ length: 500 }, () => event()).join(',')}]`, expect: { status: 200 } },
		];

		test.each(corpus)('unsigned: $name → 401 with a JSON reason, nothing taken in', async ({ body, contentType }) => {
			const answer = await post('/nudge/events', body(), { 'content-type': contentType ?? 'application/json' });
			expect(answer.status).toBe(401);
			expect(typeof answer.json?.error).toBe('string');
		});

		test.each(corpus)('signed: $name', async ({ body, contentType, expect: expectation }) => {
			const raw = body();
			const answer = await post('/nudge/events', raw, signed(raw, contentType));
			expect(answer.headers['content-type']).toMatch(/^application\/json/);
			if (expectation === 'not-5xx') {
				expect([answer.status, answer.status < 500 ? 'no server error' : answer.text.slice(0, 300)]).toEqual([answer.status, 'no server error']);
				if (answer.status !== 200) expect(answer.json?.error).toEqual(expect.any(String));
			} else {
				expect(answer.status).toBe(expectation.status);
				if (expectation.status !== 200) expect(answer.json?.error).toEqual(expect.any(String));
				if (expectation.error) expect(answer.json?.error).toMatch(expectation.error);
			}
		});

		test('a broken %-escape in the path: 400 in JSON, not an HTML error page', async () => {
			for (const path of ['/nudge/%E0%A4%A', '/nudge/events%']) {
				const body = event();
				const answer = await post(path, body, signed(body));
				expect({ path, status: answer.status, error: typeof answer.json?.error }).toEqual({ path, status: 400, error: 'string' });
			}
			// A well-formed escape naming no trigger ("%E0") is Node-RED's to answer: 404.
			const body = event();
			expect((await post('/nudge/%25E0', body, signed(body))).status).toBe(404);
		});

		test('after the whole corpus the runtime still serves, and Object.prototype was never polluted', async () => {
			await stillServing();
		});
	});
});
