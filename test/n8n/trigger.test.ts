/** Nudge Trigger's webhook(), called through n8n-core's WebhookContext with a raw body and headers. */
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { IDataObject } from 'n8n-workflow';
import { signatureHeaders } from '../../engine/events/signature';
import { closeAllEngines } from '../../engine/registry';
import { hostileEvents, nestedJson } from '../helpers/hostileEvents';
import { anaEvent, benEvent, fixture, SECRET, type Fixture } from './fixtures';
import { callWebhook, nudgeNode, runWorkflow, signed, type WorkflowJson } from './harness';

afterAll(async () => {
	await closeAllEngines();
});

function triggerWorkflow(journey = 'nurture'): WorkflowJson {
	return {
		nodes: [
			nudgeNode('Nudge Trigger', 'nudgeTrigger', { journey }, { webhookId: '6f1c2b7a-1111-4c3d-9e8f-000000000001' }),
			nudgeNode('Score Lead', 'nudgeScore'),
		],
		connections: { 'Nudge Trigger': { main: [[{ node: 'Score Lead', type: 'main', index: 0 }]] } },
	};
}

async function post(f: Fixture, body: string, headers: Record<string, string> = signed(SECRET, body), workflow = triggerWorkflow()) {
	return await callWebhook({ workflow, nodeName: 'Nudge Trigger', rawBody: body, headers, credentials: f.credentials });
}

/** Nothing was stored: no decision in the log and no profile for the contacts named. */
async function expectStoreEmpty(f: Fixture, emails: string[]) {
	expect(await f.engine.queryDecisions({})).toEqual([]);
	const known = await f.engine.store.resolveIdentities(emails.map((email) => `email:${email}`));
	expect(known.size).toBe(0);
}

describe('Nudge Trigger: accepted requests', () => {
	it('answers 200 and emits one item per event, carrying the new decision', async () => {
		const f = fixture();
		const event = anaEvent('Pricing Viewed', 'evt-ana-1');
		const call = await post(f, JSON.stringify(event));

		expect(call.status).toBe(200);
		const items = call.result.workflowData![0];
		expect(items).toHaveLength(1);
		const json = items[0].json;
		expect(call.body).toEqual({ accepted: 1, duplicates: 0, decisionIds: [json.decisionId] });
		expect(json.contactId).toEqual(expect.any(String));
		expect(json.decision).toMatchObject({ decisionId: json.decisionId, status: 'pending', journey: 'nurture' });
		expect(json.event).toMatchObject({ eventId: 'evt-ana-1', name: 'Pricing Viewed', identities: { email: 'ana@example.com' } });
		const profile = await f.engine.getProfile(json.contactId as string);
		expect(profile?.email).toBe('ana@example.com');
	});

	it('takes a batch, drops repeated events (logged as DUPLICATE_EVENT) and starts the configured journey', async () => {
		const f = fixture();
		const wf = triggerWorkflow('onboarding');
		const events = [anaEvent('Pricing Viewed', 'evt-1'), benEvent('evt-2'), anaEvent('Pricing Viewed', 'evt-1')];
		const body = JSON.stringify(events);
		const call = await post(f, body, signed(SECRET, body), wf);

		expect(call.status).toBe(200);
		expect(call.body).toMatchObject({ accepted: 2, duplicates: 1 });
		const items = call.result.workflowData![0];
		expect(items.map((item) => (item.json.event as IDataObject).eventId)).toEqual(['evt-1', 'evt-2']);
		expect(items.every((item) => (item.json.decision as IDataObject).journey === 'onboarding')).toBe(true);
		expect(await f.engine.queryDecisions({ reason: 'DUPLICATE_EVENT' })).toHaveLength(1);

		// A retried delivery of the whole batch starts nothing.
		const retry = await post(f, body, signed(SECRET, body), wf);
		expect(retry.status).toBe(200);
		expect(retry.body).toEqual({ accepted: 0, duplicates: 3, decisionIds: [] });
		expect(retry.result.workflowData).toBeUndefined();

		// The emitted items run the rest of the workflow.
		const run = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input: call.result.workflowData!, credentials: f.credentials });
		expect(run.output('Score Lead')).toHaveLength(2);
	});

	it('accepts Segment-format events', async () => {
		const f = fixture();
		const segment = { type: 'track', event: 'Pricing Viewed', userId: 'u-42', messageId: 'seg-1', traits: { email: 'sam@example.com' } };
		const call = await post(f, JSON.stringify(segment));
		expect(call.status).toBe(200);
		expect(call.result.workflowData![0][0].json.event).toMatchObject({ source: 'segment', eventId: 'seg-1', identities: { userId: 'u-42' } });
	});
});

describe('Nudge Trigger: refused signatures (401, nothing run or stored)', () => {
	const body = JSON.stringify(anaEvent('Pricing Viewed', 'evt-sig'));

	it.each([
		['a wrong signature', () => signed('another-secret', body), /Signature does not match/],
		['a timestamp older than 5 minutes', () => signed(SECRET, body, new Date(Date.now() - 10 * 60_000)), /more than 5 minutes/],
		['no signature headers', () => ({}), /Missing x-nudge-signature/],
		['a body altered after signing', () => signed(SECRET, body.replace('ana@', 'eve@')), /Signature does not match/],
	])('refuses %s', async (_case, headers, message) => {
		const f = fixture();
		const call = await post(f, body, headers());
		expect(call.status).toBe(401);
		expect((call.body as IDataObject).error).toMatch(message);
		expect(call.result).toEqual({ noWebhookResponse: true });
		await expectStoreEmpty(f, ['ana@example.com']);
	});

	it('refuses every event while the credential has no signing secret', async () => {
		const f = fixture({ signingSecret: '' });
		const call = await post(f, body);
		expect(call.status).toBe(401);
		expect((call.body as IDataObject).error).toMatch(/No signing secret is configured/);
		await expectStoreEmpty(f, ['ana@example.com']);
	});
});

describe('Nudge Trigger: malformed payloads (400, store unchanged)', () => {
	it('refuses a malformed event and names the field', async () => {
		const f = fixture();
		const call = await post(f, JSON.stringify({ type: 'track', name: 'Pricing Viewed', identities: { email: 'not-an-email' } }));
		expect(call.status).toBe(400);
		expect((call.body as IDataObject).error).toMatch(/^The event is not valid, so nothing was stored: identities\.email: is not a valid email address/);
		expect(call.result.workflowData).toBeUndefined();
		await expectStoreEmpty(f, ['not-an-email']);
	});

	it('refuses a whole batch when one event is malformed, naming its index, and stores none of it', async () => {
		const f = fixture();
		const events = [anaEvent('Pricing Viewed', 'evt-a'), { type: 'track', identities: { email: 'x@example.com' } }, benEvent('evt-b')];
		const call = await post(f, JSON.stringify(events));
		expect(call.status).toBe(400);
		const body = call.body as IDataObject;
		expect(body.error).toMatch(/^Event 1 of the batch \(counting from 0\) is not valid, so nothing was stored: name: a track event needs a name/);
		expect(body.invalid).toEqual([expect.objectContaining({ index: 1, issues: [{ path: 'name', message: 'a track event needs a name' }] })]);
		expect(call.result.workflowData).toBeUndefined();
		await expectStoreEmpty(f, ['ana@example.com', 'ben@example.com', 'x@example.com']);
	});

	it.each([
		['a body that is not JSON', '{"type": "track",', /not valid JSON/],
		['an empty batch', '[]', /The batch is empty/],
		['a JSON value that is not an event', '"hello"', /^The event is not valid, so nothing was stored: Event must be a JSON object, not string/],
		['a batch holding a string', `[${JSON.stringify(JSON.stringify(anaEvent()))}]`, /^Event 0 of the batch \(counting from 0\) is not valid, so nothing was stored: Event must be a JSON object, not string/],
	])('refuses %s', async (_case, body, message) => {
		const f = fixture();
		const call = await post(f, body);
		expect(call.status).toBe(400);
		expect((call.body as IDataObject).error).toMatch(message);
		expect(await f.engine.queryDecisions({})).toEqual([]);
	});
});

describe('Nudge Trigger: hostile payloads (400 naming the field, store unchanged, nothing polluted)', () => {
	/** Rows in every table the ingest path writes. */
	function counts(f: Fixture) {
		const db = new DatabaseSync(f.store.replace(/^sqlite:/, ''), { readOnly: true });
		try {
			return Object.fromEntries(['decisions', 'profiles', 'identities', 'claimed_keys'].map((t) => [t, (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n]));
		} finally {
			db.close();
		}
	}

	let f: Fixture;
	beforeAll(async () => {
		f = fixture();
		expect((await post(f, JSON.stringify(anaEvent('Pricing Viewed', 'evt-seed')))).status).toBe(200);
	});

	it.each(Object.entries(hostileEvents()))('refuses %s, alone or in a batch', async (_kind, event) => {
		const before = counts(f);
		const alone = await post(f, event);
		expect(alone.status).toBe(400);
		expect((alone.body as IDataObject).error).toMatch(/^The event is not valid, so nothing was stored: \S.+/);
		const batch = await post(f, `[${JSON.stringify(anaEvent('Pricing Viewed', `evt-beside-${_kind}`))},${event}]`);
		expect(batch.status).toBe(400);
		expect((batch.body as IDataObject).error).toMatch(/^Event 1 of the batch \(counting from 0\) is not valid, so nothing was stored: \S.+/);
		expect(batch.result.workflowData).toBeUndefined();
		expect(counts(f)).toEqual(before);
		expect(({} as IDataObject).polluted).toBeUndefined();
	});

	it('says which field and which limit', async () => {
		const call = await post(f, JSON.stringify({ type: 'identify', identities: { userId: 'u' }, properties: { note: 'x'.repeat(20_480) } }));
		expect((call.body as IDataObject).error).toBe('The event is not valid, so nothing was stored: properties.note: is 20,480 characters long; the limit is 10,240');
		expect((call.body as IDataObject).issues).toEqual([{ path: 'properties.note', message: 'is 20,480 characters long; the limit is 10,240' }]);
	});

	it('refuses traits nested 5,000 levels deep as the sender’s mistake, without a server path', async () => {
		const call = await post(f, `{"type":"identify","identities":{"userId":"u"},"traits":${nestedJson(5_000)}}`);
		expect(call.status).toBe(400);
		expect((call.body as IDataObject).error).toMatch(/is an object or array 11 levels deep .*the limit is 10: flatten it$/);
		expect(JSON.stringify(call.body)).not.toMatch(/SQLite|call stack|\/tmp/);
	});

	it('refuses a batch of 100,000 events by its count', async () => {
		const before = counts(f);
		const call = await post(f, `[${Array(100_000).fill('{}').join(',')}]`);
		expect(call.status).toBe(400);
		expect((call.body as IDataObject).error).toBe('The batch has 100,000 events; the limit is 1,000. Send smaller batches; nothing was stored');
		expect(counts(f)).toEqual(before);
	});

	it('refuses a body that is not UTF-8, and JSON escapes of lone surrogates and NUL', async () => {
		const latin1 = Buffer.from(JSON.stringify({ type: 'identify', identities: { userId: 'u' }, traits: { city: 'Zürich' } }), 'latin1');
		const call = await callWebhook({ workflow: triggerWorkflow(), nodeName: 'Nudge Trigger', rawBody: latin1, headers: signatureHeaders(SECRET, latin1), credentials: f.credentials });
		expect(call.status).toBe(400);
		expect((call.body as IDataObject).error).toBe('The request body is not UTF-8 text (JSON must be sent as UTF-8); nothing was stored');
		for (const escaped of ['"\\ud800x"', '"a\\u0000b"']) {
			const body = `{"type":"identify","identities":{"userId":"u"},"traits":{"city":${escaped}}}`;
			const answer = await post(f, body);
			expect(answer.status).toBe(400);
			expect((answer.body as IDataObject).error).toMatch(/^The event is not valid, so nothing was stored: traits\.city: (is not valid Unicode text|contains a NUL character)/);
		}
	});

	it('answers a store failure with 503 and the store’s file name, never its directory', async () => {
		const g = fixture();
		expect((await post(g, JSON.stringify(anaEvent('Pricing Viewed', 'evt-first')))).status).toBe(200);
		const file = g.store.replace(/^sqlite:/, '');
		// The engine's open write batch commits first; then the table the next event is claimed in goes.
		await g.engine.store.sync();
		const db = new DatabaseSync(file, { timeout: 5_000 });
		db.exec('DROP TABLE claimed_keys');
		db.close();
		const call = await post(g, JSON.stringify(anaEvent('Pricing Viewed', 'evt-second')));
		expect(call.status).toBe(503);
		expect((call.body as IDataObject).error).toMatch(/^Could not write to the SQLite store nudge\.db: .*Retry the request/);
		expect(JSON.stringify(call.body)).not.toContain(dirname(file));
	});
});

describe('Nudge Trigger: engine settings', () => {
	/** What n8n's logger (the one n8n-core gives node contexts, from its own dependencies) records while `run` goes on. */
	async function logged(run: () => Promise<unknown>): Promise<string[]> {
		const fromCore = (name: string) => require.resolve(name, { paths: [require.resolve('n8n-core')] });
		// eslint-disable-next-line @typescript-eslint/no-require-imports
		const { Container } = require(fromCore('@n8n/di')) as { Container: { get(type: unknown): { error(message: string): void } } };
		// eslint-disable-next-line @typescript-eslint/no-require-imports
		const { Logger } = require(fromCore('@n8n/backend-common')) as { Logger: unknown };
		const spy = jest.spyOn(Container.get(Logger), 'error').mockImplementation(() => undefined);
		try {
			await run();
			return spy.mock.calls.map(([message]) => String(message));
		} finally {
			spy.mockRestore();
		}
	}

	it('answers a generic 503 to anyone while the credential’s policy is invalid (the sender retries); the reason is in n8n’s log', async () => {
		const f = fixture({ policy: '{"channelOrder": []}' });
		const body = JSON.stringify(anaEvent());
		let call: Awaited<ReturnType<typeof post>> | undefined;
		const log = await logged(async () => (call = await post(f, body)));
		expect(call!.status).toBe(503);
		expect(call!.body).toEqual({ error: 'Nudge is not configured correctly; see the server log' });
		expect(log).toEqual([expect.stringMatching(/^Nudge Trigger "Nudge Trigger" cannot take in events: Check the Nudge Engine credential\. Policy is not valid: channelOrder: must list at least one channel/)]);
	});

	it.each([
		['an unknown scheme', 'Redis2://default:S3cret%50W@cache.internal:6379'],
		['redis: with one slash', 'redis:/default:S3cret%50W@cache.internal:6379'],
		['a password with @', 'split:hot=redis://default:p@ss%50W@cache.internal:6379;log=mongodb://u:S3cret%50W@db'],
	])('an unsigned caller learns nothing about a bad store URL (%s); the log masks its password', async (_label, store) => {
		const f = fixture({ store });
		const body = JSON.stringify(anaEvent());
		let call: Awaited<ReturnType<typeof post>> | undefined;
		const log = await logged(async () => (call = await post(f, body, {})));
		expect(call!.status).toBe(503);
		expect(call!.body).toEqual({ error: 'Nudge is not configured correctly; see the server log' });
		expect(log).toHaveLength(1);
		expect(log[0]).toMatch(/cannot take in events: Check the Nudge Engine credential\..*:\*\*\*@/);
		for (const text of [log[0], decodeURIComponent(log[0])]) expect(text).not.toMatch(/S3cret|p@ss/);
	});
});
