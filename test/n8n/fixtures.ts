/** Scripted contacts, fixture credentials and a real local HTTP endpoint for Nudge Send. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ICredentialDataDecryptedObject, IDataObject, INodeExecutionData } from 'n8n-workflow';
import type { Engine } from '../../engine/engine';
import { closeAllEngines, getEngine } from '../../engine/registry';
import { callWebhook, freshStore, signed, type WorkflowJson } from './harness';

export const SECRET = 'test-signing-secret';

export interface Fixture {
	store: string;
	credentials: Record<string, ICredentialDataDecryptedObject>;
	/** The engine the nodes share for this credential (same store and policy). */
	engine: Engine;
}

/** A credential on a fresh SQLite store with the default policy and a signing secret. */
export function fixture(overrides: ICredentialDataDecryptedObject = {}): Fixture {
	const store = freshStore();
	const data = { store, policy: '', signingSecret: SECRET, ...overrides };
	return {
		store,
		credentials: { nudgeEngineApi: data },
		get engine() {
			return getEngine({ store: String(data.store), policy: String(data.policy || '') || undefined });
		},
	};
}

let seq = 0;
const nextId = () => `evt-${Date.now()}-${++seq}`;

/** Email reachable and allowed (unknown consent is allowed for email by the default policy). */
export function anaEvent(name = 'Pricing Viewed', eventId = nextId()): IDataObject {
	return {
		eventId,
		type: 'track',
		name,
		identities: { email: 'ana@example.com' },
		traits: { title: 'VP Marketing', employees: 120 },
	};
}

/** Opted out of email, opted in to SMS with a phone number. */
export function benEvent(eventId = nextId()): IDataObject {
	return {
		eventId,
		type: 'identify',
		identities: { email: 'ben@example.com' },
		traits: { phone: '+15550100', consent: { email: 'opted_out', sms: 'opted_in' } },
	};
}

/** Opted out of email, no phone, no push token: nothing is eligible. */
export function caraEvent(eventId = nextId()): IDataObject {
	return {
		eventId,
		type: 'identify',
		identities: { email: 'cara@example.com' },
		traits: { consent: { email: 'opted_out' } },
	};
}

/** Email reachable; the test endpoint refuses messages to dan. */
export function danEvent(eventId = nextId()): IDataObject {
	return { eventId, type: 'track', name: 'Webinar Signup', identities: { email: 'dan@example.com' } };
}

/** Posts events to the trigger, signed, and returns what it emits (the items n8n would run). */
export async function trigger(
	f: Fixture,
	workflow: WorkflowJson,
	events: unknown,
	nodeName = 'Nudge Trigger',
): Promise<INodeExecutionData[][]> {
	const rawBody = JSON.stringify(events);
	const call = await callWebhook({ workflow, nodeName, rawBody, headers: signed(SECRET, rawBody), credentials: f.credentials });
	if (call.status !== 200 || !call.result.workflowData) {
		throw new TypeError(`Trigger answered ${call.status}: ${JSON.stringify(call.body)}`);
	}
	return call.result.workflowData;
}

export interface Received {
	headers: IncomingHttpHeaders;
	rawBody: string;
	body: IDataObject;
}

/** A real HTTP server on 127.0.0.1 standing in for the sending tool. */
export class SendTarget {
	readonly received: Received[] = [];
	/** Status to answer for a request body; 200 by default. */
	answer: (body: IDataObject) => number = () => 200;
	private server?: Server;

	async start(): Promise<string> {
		this.server = createServer((req, res) => {
			const chunks: Buffer[] = [];
			req.on('data', (chunk: Buffer) => chunks.push(chunk));
			req.on('end', () => {
				const rawBody = Buffer.concat(chunks).toString('utf8');
				const body = JSON.parse(rawBody) as IDataObject;
				this.received.push({ headers: req.headers, rawBody, body });
				const status = this.answer(body);
				res.writeHead(status, { 'content-type': 'application/json' });
				res.end(JSON.stringify(status < 300 ? { messageId: `msg-${this.received.length}` } : { error: 'refused' }));
			});
		});
		await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
		return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/messages`;
	}

	async stop(): Promise<void> {
		const server = this.server;
		if (!server) return;
		server.closeAllConnections();
		await new Promise<void>((resolve) => server.close(() => resolve()));
	}
}

/**
 * A test file's sending tool: listening before its tests (at `url`), emptied and answering 200 again before
 * each test, stopped after them together with every engine the file opened.
 */
export function sendTargetForFile(): { target: SendTarget; url: string } {
	const file = { target: new SendTarget(), url: '' };
	beforeAll(async () => {
		file.url = await file.target.start();
	});
	afterAll(async () => {
		await file.target.stop();
		await closeAllEngines();
	});
	beforeEach(() => {
		file.target.received.length = 0;
		file.target.answer = () => 200;
	});
	return file;
}
