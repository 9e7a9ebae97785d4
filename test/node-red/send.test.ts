/**
 * The Send node against a real HTTP server on 127.0.0.1: one delivery per decision, signed, with the
 * decision id as idempotency key; retries on 5xx end in the "failed" output; nothing is sent for a
 * decision that did not pass Frequency Cap.
 */
import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Decision } from '../../engine/audit/schema';
import { verifySignedRequest } from '../../engine/events/signature';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { closeAllEngines, createEngine } from '../../engine/registry';
import {
	catchAll,
	credentials,
	engineNodeDef,
	engineOf,
	helper,
	lastStatus,
	nextCaught,
	nextMessage,
	nodeOf,
	NUDGE_NODES,
	quietFor,
	recordMessages,
	SECRET,
	segmentEvent,
	TAB,
	waitUntil,
} from './_helpers';

interface Received {
	headers: IncomingMessage['headers'];
	body: string;
}

let server: Server;
let base: string;
let received: Received[] = [];
/** What the receiver answers next: a status code (and it sends back a message id on 2xx). */
let answer = 200;
/** How long the receiver takes to answer, in ms. */
let answerAfter = 0;

beforeAll(async () => {
	server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (c: Buffer) => chunks.push(c));
		req.on('end', () => {
			received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
			const status = answer;
			const count = received.length;
			setTimeout(() => {
				res.writeHead(status, { 'content-type': 'application/json' });
				res.end(status < 300 ? JSON.stringify({ messageId: `esp-${count}` }) : JSON.stringify({ error: 'try later' }));
			}, answerAfter);
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
	base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	await helper.startServer();
});
afterAll(async () => {
	await helper.stopServer();
	await new Promise((resolve) => server.close(resolve));
	await closeAllEngines();
});
beforeEach(() => {
	received = [];
	answer = 200;
	answerAfter = 0;
});
afterEach(() => helper.unload());

function flow(send: Record<string, unknown> = {}): Record<string, unknown>[] {
	return [
		...catchAll(),
		engineNodeDef(),
		{ id: 'send', type: 'nudge-send', z: TAB, engine: 'eng1', url: `${base}/hooks/esp`, timeout: 5, sign: true, wires: [['sent'], ['failed']], ...send },
		{ id: 'sent', type: 'helper', z: TAB },
		{ id: 'failed', type: 'helper', z: TAB },
	];
}

/** A decision that went through choose channel and frequency cap, ready to send. */
async function allowedDecision(email = 'dana@northwind.example'): Promise<Decision> {
	const engine = engineOf();
	const { decision } = await engine.ingest(segmentEvent({ userId: 'u-send', context: { traits: { email } } }), { journey: 'nurture' });
	const capped = await engine.checkCap(await engine.chooseChannel(await engine.score(decision)));
	expect(capped.guard?.allowed).toBe(true);
	return capped;
}

describe('nudge-send', () => {
	it('posts once to the receiver, signed, with the decision id as idempotency key', async () => {
		await helper.load(NUDGE_NODES, flow(), credentials());
		const decision = await allowedDecision();
		const out = nextMessage('sent');
		nodeOf('send').receive({ decision });
		const sent = (await out).decision as Decision;
		expect(received).toHaveLength(1);
		const [req] = received;
		expect(req.headers['idempotency-key']).toBe(decision.decisionId);
		expect(() => verifySignedRequest(SECRET, req.body, req.headers as Record<string, unknown>)).not.toThrow();
		expect(JSON.parse(req.body)).toMatchObject({ decisionId: decision.decisionId, channel: 'email', journey: 'nurture', contact: { email: 'dana@northwind.example' } });
		expect(sent).toMatchObject({ status: 'sent', delivery: { status: 'sent', attempts: 1, httpStatus: 200, providerMessageId: 'esp-1' } });
		expect(lastStatus('send')).toEqual({ fill: 'green', shape: 'dot', text: 'sent email' });
		expect((await engineOf().store.getDecision(decision.decisionId))?.status).toBe('sent');
	});

	it('does not send a retried decision twice: a rerun leaves by "sent" without a new request', async () => {
		await helper.load(NUDGE_NODES, flow(), credentials());
		const decision = await allowedDecision();
		const seen = recordMessages(['sent', 'failed']);
		for (const ref of [decision, decision, decision.decisionId]) {
			const out = nextMessage('sent');
			nodeOf('send').receive({ decision: ref });
			await out;
		}
		expect(received).toHaveLength(1);
		expect(seen.sent).toHaveLength(3);
		expect(seen.failed).toHaveLength(0);
		expect(new Set(seen.sent.map((m) => (m.decision as Decision).delivery?.providerMessageId))).toEqual(new Set(['esp-1']));
	});

	it('sends once when the same decision arrives twice at the same time; the other copy is refused', async () => {
		await helper.load(NUDGE_NODES, flow(), credentials());
		const decision = await allowedDecision();
		const seen = recordMessages(['sent', 'failed', 'caught']);
		nodeOf('send').receive({ decision });
		nodeOf('send').receive({ decision });
		await quietFor(300);
		expect(received).toHaveLength(1);
		expect(seen.sent).toHaveLength(1);
		expect(seen.caught).toHaveLength(1);
		expect((seen.caught[0].error as { message: string }).message).toMatch(/is already being sent by another execution/);
	});

	it('retries a failing receiver and then leaves by "failed", giving the cap slot back', async () => {
		await helper.load(NUDGE_NODES, flow(), credentials());
		answer = 503;
		const decision = await allowedDecision('retry@example.com');
		const out = nextMessage('failed');
		nodeOf('send').receive({ decision });
		const failed = (await out).decision as Decision;
		expect(received).toHaveLength(3);
		expect(new Set(received.map((r) => r.headers['idempotency-key']))).toEqual(new Set([decision.decisionId]));
		expect(failed).toMatchObject({ status: 'failed', reason: 'SEND_FAILED', delivery: { status: 'failed', attempts: 3, httpStatus: 503 } });
		expect(lastStatus('send')).toEqual({ fill: 'red', shape: 'dot', text: 'send failed' });
		// The slot was released: a new decision for the same contact may email today.
		answer = 200;
		const next = await allowedDecision('retry@example.com');
		expect(next.guard?.allowed).toBe(true);
	});

	it('sends unsigned when signing is off', async () => {
		await helper.load(NUDGE_NODES, flow({ sign: false }), credentials());
		const out = nextMessage('sent');
		nodeOf('send').receive({ decision: await allowedDecision() });
		await out;
		expect(received[0].headers['x-nudge-signature']).toBeUndefined();
	});

	it('refuses a decision that never passed Frequency Cap, and sends nothing', async () => {
		await helper.load(NUDGE_NODES, flow(), credentials());
		const engine = engineOf();
		const { decision } = await engine.ingest(segmentEvent(), { journey: 'nurture' });
		const chosen = await engine.chooseChannel(decision);
		const caught = nextCaught();
		nodeOf('send').receive({ decision: chosen });
		const error = await caught;
		expect(error.source).toBe('send');
		expect(error.message).toMatch(/has not passed Frequency Cap; Nudge only sends messages that hold a cap reservation/);
		expect(lastStatus('send')).toEqual({ fill: 'red', shape: 'dot', text: 'not cap-checked' });
		expect(received).toHaveLength(0);
		expect((await engine.store.getDecision(decision.decisionId))?.status).toBe('pending');
	});

	it('refuses a suppressed decision (capped output wired to Send by mistake)', async () => {
		await helper.load(NUDGE_NODES, flow(), credentials());
		const engine = engineOf();
		await allowedDecision('twice@example.com');
		const { decision } = await engine.ingest(segmentEvent({ userId: 'u-send', context: { traits: { email: 'twice@example.com' } } }), { journey: 'nurture' });
		const capped = await engine.checkCap(await engine.chooseChannel(decision));
		expect(capped.status).toBe('suppressed');
		const caught = nextCaught();
		nodeOf('send').receive({ decision: capped });
		expect((await caught).message).toMatch(/was suppressed \(FREQUENCY_CAP\) and cannot be sent: connect Send only after the Allowed output of Frequency Cap/);
		expect(received).toHaveLength(0);
	});

	it('shows a red status and fails messages when its settings are unusable', async () => {
		await helper.load(NUDGE_NODES, flow({ url: 'ftp://example.com/x' }), credentials());
		expect(lastStatus('send')).toEqual({ fill: 'red', shape: 'dot', text: 'invalid input' });
		const caught = nextCaught();
		nodeOf('send').receive({ decision: await allowedDecision() });
		expect((await caught).message).toMatch(/Webhook URL "ftp:\/\/example\.com\/x" is not a web address/);
		expect(received).toHaveLength(0);
	});

	it('says so when signing is on but the engine has no signing secret', async () => {
		await helper.load(NUDGE_NODES, flow(), {});
		const caught = nextCaught();
		nodeOf('send').receive({ decision: await allowedDecision() });
		expect((await caught).message).toMatch(/"Sign requests" is on but the Nudge Engine has no signing secret/);
		expect(received).toHaveLength(0);
	});

	it('a message delivered while the flow is redeployed is recorded as sent: the redeploy waits for the send in flight', async () => {
		const store = `sqlite:${path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nudge-send-')), 'redeploy.db')}`;
		await helper.load(NUDGE_NODES, [...flow({ sign: false }).filter((n) => n.type !== 'nudge-engine'), engineNodeDef({ store })], credentials());
		const decision = await allowedDecision('inflight@example.com');
		answerAfter = 400;
		nodeOf('send').receive({ decision });
		await waitUntil(() => received.length > 0, 'the receiver to get the message');
		await helper.unload();
		const reopened = createEngine({ store });
		try {
			expect(await reopened.getDecision(decision.decisionId)).toMatchObject({ status: 'sent', delivery: { providerMessageId: 'esp-1' } });
		} finally {
			await reopened.close();
		}
	});
});
