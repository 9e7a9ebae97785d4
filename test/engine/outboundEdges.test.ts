/**
 * Sends and polls at their edges, as the docs (docs/webhooks.md, docs/integrations.md) and the vendors' documented
 * APIs call for: answers cut off or canceled, network errors and maintenance pages, credentials in a webhook's
 * address, records Nudge cannot take in, and change stamps in whole seconds. Vendor APIs are mocked with nock
 * (HubSpot) or a local HTTP server (Salesforce: jsforce's own undici is out of nock's reach), with bodies shaped like
 * the vendors' documentation.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import nock from 'nock';
import { PollContext } from 'n8n-core';
import type { INodeType } from 'n8n-workflow';
import type { Engine } from '../../engine/engine';
import { deliver, type OutboundMessage } from '../../engine/deliver/provider';
import { postWebhook } from '../../engine/deliver/webhook';
import { pollOnce } from '../../engine/events/poll';
import { closeAllEngines, createEngine } from '../../engine/registry';
import { HubSpotSender } from '../../engine/vendors/hubspot/send';
import { salesforceConnector } from '../../engine/vendors/salesforce';
import { SalesforcePollSource } from '../../engine/vendors/salesforce/poll';
import { SalesforceSender } from '../../engine/vendors/salesforce/send';
import { fixture } from '../n8n/fixtures';
import { additionalData, buildWorkflow, nodeTypes, nudgeNode } from '../n8n/harness';

const HUBSPOT = 'https://api.hubapi.com';
const noSleep = { sleep: async () => undefined, random: () => 0 };

beforeAll(() => {
	nock.disableNetConnect();
	nock.enableNetConnect('127.0.0.1');
});
afterEach(() => nock.cleanAll());
afterAll(async () => {
	nock.enableNetConnect();
	await closeAllEngines();
});

const message = (identities: Record<string, string[]> = { hubspotId: ['501'], salesforceId: ['00Qxx0000000001'] }): OutboundMessage => ({
	decisionId: 'd_outbound_1',
	journey: 'sales',
	channel: 'sales_task',
	contact: { contactId: 'c_1', email: 'rae@example.com', traits: { hubspot_owner_id: '7001', ownerId: '005xx0000012345' }, identities },
	score: { value: 82, tier: 'hot' },
	event: { eventId: 'e-1', source: 'hubspot', type: 'track', name: 'Demo Requested', occurredAt: '2026-11-21T09:00:00.000Z' },
	policyVersion: 'p@1',
});

/** A local HTTP server; `handle` answers each request once its body has arrived. */
const servers: Server[] = [];
async function local(handle: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<string> {
	const server = createServer((req, res) => {
		let body = '';
		req.on('data', (c: Buffer) => (body += c.toString()));
		req.on('end', () => handle(req, res, body));
	});
	servers.push(server);
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
afterEach(async () => {
	await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve())))));
});

/** A Salesforce org on a local server: the OAuth token endpoint (refresh flow) and the Task create resource. */
async function salesforceOrg(task: (n: number, req: IncomingMessage, res: ServerResponse) => void) {
	let creates = 0;
	const url = await local((req, res) => {
		if (req.url!.startsWith('/services/oauth2/token')) {
			res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: '00D-token', instance_url: url, id: `${url}/id/00Dxx/005xx`, token_type: 'Bearer', issued_at: '1', signature: 's' }));
			return;
		}
		if (req.method === 'POST' && req.url === '/services/data/v62.0/sobjects/Task') return task(++creates, req, res);
		res.writeHead(404).end();
	});
	return { connect: salesforceConnector({ auth: 'refresh', loginUrl: url, clientId: '3MVG9-test', clientSecret: 'consumer-value', refreshToken: 'refresh-value' }), creates: () => creates };
}

describe('Send: providers', () => {
	test('HubSpot task: a 201 whose body cannot be parsed is not retried into a second task', async () => {
		// https://developers.hubspot.com/docs/api/crm/tasks — 201 means the task exists, whatever became of its body on the
		// way (cut off, rewritten by a proxy): a retry would create the task again.
		let creates = 0;
		nock(HUBSPOT)
			.post('/crm/v3/objects/tasks', () => (++creates, true))
			.reply(201, '{"id":"94312","properties":{"hs_task_subject":"Nudge: follow', { 'content-type': 'application/json' })
			.post('/crm/v3/objects/tasks', () => (++creates, true))
			.reply(201, { id: '94313', properties: {}, createdAt: '2026-11-21T09:00:01.000Z', updatedAt: '2026-11-21T09:00:01.000Z', archived: false });
		const result = await deliver(new HubSpotSender({ auth: { auth: 'privateApp', accessToken: 'pat-na1-test' }, action: 'task' }), message(), 'd_outbound_1', noSleep);
		expect(creates).toBe(1);
		expect(result.ok).toBe(true);
	});

	test('Salesforce task: a network error before Salesforce answered is retried (docs: network errors are retried)', async () => {
		const org = await salesforceOrg((n, req, res) => {
			if (n === 1) return void req.socket.destroy();
			res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: '00Txx000001AbCd', success: true, errors: [] }));
		});
		const result = await deliver(new SalesforceSender(org.connect, { action: 'task' }), message(), 'd_outbound_1', noSleep);
		expect(result).toMatchObject({ ok: true, attempts: 2, providerMessageId: '00Txx000001AbCd' });
	});

	test('Salesforce task: a 503 maintenance page (HTML) is retried like any 5xx', async () => {
		// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm — 503: the server is down for
		// maintenance or overloaded. jsforce names an answer that is not Salesforce's JSON ERROR_HTTP_503.
		const org = await salesforceOrg((n, req, res) => {
			if (n === 1) return void res.writeHead(503, { 'content-type': 'text/html' }).end('<html><body>Service Unavailable - maintenance</body></html>');
			res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: '00Txx000001AbCe', success: true, errors: [] }));
		});
		const result = await deliver(new SalesforceSender(org.connect, { action: 'task' }), message(), 'd_outbound_1', noSleep);
		expect(result).toMatchObject({ ok: true, attempts: 2, providerMessageId: '00Txx000001AbCe' });
	});
});

describe('Send: webhook', () => {
	test('credentials in the webhook URL are sent (Basic auth), not silently dropped', async () => {
		const authorizations: (string | undefined)[] = [];
		const base = await local((req, res) => {
			authorizations.push(req.headers.authorization);
			res.writeHead(req.headers.authorization === `Basic ${Buffer.from('nudge:hook-pa55').toString('base64')}` ? 200 : 401).end();
		});
		const url = base.replace('http://', 'http://nudge:hook-pa55@') + '/hooks/nudge';
		const result = await postWebhook({ url, maxAttempts: 1 }, { decisionId: 'd_outbound_1' }, 'd_outbound_1');
		expect(authorizations).toEqual([`Basic ${Buffer.from('nudge:hook-pa55').toString('base64')}`]);
		expect(result.ok).toBe(true);
	});
});

describe('Polling', () => {
	let engine: Engine;
	beforeEach(() => {
		engine = createEngine({ store: 'memory:' });
	});
	afterEach(() => engine.close());

	test('n8n Poll Trigger: a HubSpot record Nudge cannot take in is reported, not silently skipped', async () => {
		// pollOnce moves the cursor past a record whose event is refused (result.invalid), so it is said in the log, with
		// its id. A contact whose first name a form bot filled with 12,000 characters (HubSpot takes up to 65,536 in a
		// single-line text property; Nudge's limit is 10,240) is such a record.
		const f = fixture();
		f.credentials.nudgeHubSpotApi = { accessToken: 'pat-na1-n8n', clientSecret: '' };
		const modified = Date.now() - 5 * 60_000;
		nock(HUBSPOT)
			.post('/crm/v3/objects/contacts/search')
			.reply(200, {
				total: 1,
				results: [
					{
						id: '901',
						properties: { hs_object_id: '901', email: 'spam@example.com', firstname: 'B'.repeat(12_000), hs_lastmodifieddate: new Date(modified).toISOString() },
						createdAt: new Date(modified).toISOString(),
						updatedAt: new Date(modified).toISOString(),
						archived: false,
					},
				],
			});
		await f.engine.store.setCursor('hubspot:contacts', JSON.stringify({ at: modified - 600_000, id: '' }), undefined);
		const workflow = buildWorkflow({
			nodes: [{ ...nudgeNode('Poll', 'nudgePollTrigger', { source: 'hubspot', hubspotObject: 'contacts', journey: 'sales', settleSeconds: 60 }), credentials: { nudgeEngineApi: { id: '1', name: 'Nudge' }, nudgeHubSpotApi: { id: '3', name: 'HubSpot' } } }],
			connections: {},
		});
		const node = workflow.getNode('Poll')!;
		const fromCore = (name: string) => require.resolve(name, { paths: [require.resolve('n8n-core')] });
		// eslint-disable-next-line @typescript-eslint/no-require-imports
		const { Container } = require(fromCore('@n8n/di')) as { Container: { get(type: unknown): Record<'error' | 'warn' | 'info', (m: string) => void> } };
		// eslint-disable-next-line @typescript-eslint/no-require-imports
		const { Logger } = require(fromCore('@n8n/backend-common')) as { Logger: unknown };
		const logger = Container.get(Logger);
		const spies = (['error', 'warn', 'info'] as const).map((level) => jest.spyOn(logger, level).mockImplementation(() => undefined));
		let items: unknown;
		let logged: string[];
		try {
			items = await (nodeTypes.getByNameAndVersion(node.type, 1) as INodeType).poll!.call(new PollContext(workflow, node, additionalData(f.credentials), 'trigger', 'activate'));
		} finally {
			// Read before mockRestore, which clears the calls.
			logged = spies.flatMap((s) => s.mock.calls.map(([m]) => String(m)));
			spies.forEach((s) => s.mockRestore());
		}
		// The cursor moved past the record: it will never be read again.
		expect(JSON.parse((await f.engine.store.getCursor('hubspot:contacts@sales'))!)).toMatchObject({ id: '901' });
		expect(items).toBeNull();
		expect(logged.filter((line) => line.includes('901'))).toEqual([expect.stringMatching(/skipped hubspot record 901, which Nudge cannot take in: .*firstname/)]);
	});

	test('Salesforce: a lead changed just after the first check, in the same second, is not skipped', async () => {
		// SystemModstamp has whole seconds; a first cursor "now − settle" to the millisecond would put a lead stamped in
		// that same second before it, and the poll would move on without it.
		const t0 = Date.parse('2026-11-21T09:00:00.000Z');
		const clock = { now: t0 + 60_500 };
		const lead = { Id: '00Qxx0000000ABC', at: t0, visibleAt: t0 + 700 };
		let base = '';
		base = await local((req, res) => {
			if (req.url!.startsWith('/services/oauth2/token')) {
				res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: '00D-token', instance_url: base, id: `${base}/id/00Dxx/005xx`, token_type: 'Bearer', issued_at: '1', signature: 's' }));
				return;
			}
			// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm
			const q = new URL(req.url!, base).searchParams.get('q')!;
			const tie = /\(SystemModstamp > (\S+) OR \(SystemModstamp = \S+ AND Id > '(\w+)'\)\)/.exec(q);
			const from = /SystemModstamp >= (\S+) AND/.exec(q);
			const gt = /WHERE SystemModstamp > (\S+) AND/.exec(q);
			const until = Date.parse(/SystemModstamp < (\S+) ORDER/.exec(q)![1]);
			const newer = tie ? lead.at > Date.parse(tie[1]) || (lead.at === Date.parse(tie[1]) && lead.Id > tie[2]) : from ? lead.at >= Date.parse(from[1]) : lead.at > Date.parse(gt![1]);
			const rows =
				lead.visibleAt <= clock.now && newer && lead.at < until
					? [{ attributes: { type: 'Lead', url: `/services/data/v62.0/sobjects/Lead/${lead.Id}` }, Id: lead.Id, SystemModstamp: '2026-11-21T09:00:00.000+0000', Email: 'lee@example.com', FirstName: 'Lee', LastName: 'Ng', Company: 'Acme', Status: 'Open - Not Contacted', LeadSource: 'Web', Phone: null, OwnerId: '005xx0000012345' }]
					: [];
			res.writeHead(200, { 'content-type': 'application/json', 'Sforce-Limit-Info': 'api-usage=18/15000' }).end(JSON.stringify({ totalSize: rows.length, done: true, records: rows }));
		});
		const source = new SalesforcePollSource(salesforceConnector({ auth: 'refresh', loginUrl: base, clientId: '3MVG9-test', clientSecret: 'consumer-value', refreshToken: 'refresh-value' }), 'Lead');
		// First check at 09:01:00.500 with the default 60 s settle: it reads up to 09:00:00.500 and pins the cursor there.
		expect((await pollOnce(engine, source, { journey: 'nurture', now: () => clock.now })).accepted).toHaveLength(0);
		// The lead is saved at 09:00:00.700 — after the first check's window — and Salesforce stamps it 09:00:00.
		clock.now = t0 + 300_000;
		const later = await pollOnce(engine, source, { journey: 'nurture', now: () => clock.now });
		expect(later.accepted.map((a) => a.event.properties.objectId)).toEqual([lead.Id]);
	});
});

const hubspotTask = () => new HubSpotSender({ auth: { auth: 'privateApp', accessToken: 'pat-na1-latest' }, action: 'task' });

describe('Send: HubSpot answers the client cannot parse', () => {
	test('a 201 whose body cannot be read (no Content-Type: stripped by a proxy) counts as sent, not retried into a second task', async () => {
		let creates = 0;
		nock(HUBSPOT)
			.post('/crm/v3/objects/tasks', () => (++creates, true))
			.reply(201, '')
			.post('/crm/v3/objects/tasks', () => (++creates, true))
			.reply(201, { id: '94313', properties: {}, createdAt: '2026-11-21T09:00:01.000Z', updatedAt: '2026-11-21T09:00:01.000Z', archived: false });
		const result = await deliver(hubspotTask(), message(), 'd_latest_1', noSleep);
		expect(creates).toBe(1);
		expect(result).toMatchObject({ ok: true, attempts: 1 });
	});

	test('a 403 whose body is not JSON (a proxy or WAF page without Content-Type) fails at once with its status, not as "could not reach HubSpot" retried', async () => {
		let calls = 0;
		nock(HUBSPOT)
			.post('/crm/v3/objects/tasks', () => (++calls, true))
			.times(3)
			.reply(403, 'Forbidden');
		const result = await deliver(hubspotTask(), message(), 'd_latest_1', noSleep);
		expect(calls).toBe(1);
		expect(result.ok).toBe(false);
		expect(result.error).toMatch(/HTTP 403/);
	});
});

describe('Send: HubSpot email results', () => {
	// https://developers.hubspot.com/docs/api-reference/latest/marketing/transactional-emails/create-transactional-email —
	// the answer is an EmailSendStatusView: status is the request's state (PENDING, PROCESSING, CANCELED, COMPLETE),
	// sendResult its outcome (SENT, QUEUED … or why it did not go: PREVIOUSLY_BOUNCED, PREVIOUSLY_UNSUBSCRIBED_PORTAL…).
	const answer = (status: string, sendResult: string) => ({ status, statusId: `st-${status.toLowerCase()}-1`, sendResult, requestedAt: '2026-11-21T09:00:01.000Z', startedAt: '2026-11-21T09:00:01.000Z', completedAt: '2026-11-21T09:00:01.000Z' });
	const sendEmail = () => deliver(new HubSpotSender({ auth: { auth: 'privateApp', accessToken: 'pat-na1-test' }, action: 'email', emailId: 4126643 }), message(), 'd_outbound_1', noSleep);

	test.each([
		['CANCELED', 'PREVIOUSLY_BOUNCED'],
		['COMPLETE', 'PREVIOUSLY_UNSUBSCRIBED_PORTAL'],
	])('a 200 with status %s and sendResult %s is not recorded as sent, and says why', async (status, sendResult) => {
		nock(HUBSPOT).post('/marketing/v3/transactional/single-email/send').reply(200, answer(status, sendResult));
		const result = await sendEmail();
		expect(result).toMatchObject({ ok: false, attempts: 1 });
		expect(result.error).toContain(sendResult);
	});

	test('a 200 with sendResult SENT or QUEUED is sent, with HubSpot\'s statusId', async () => {
		for (const sendResult of ['SENT', 'QUEUED']) {
			nock(HUBSPOT).post('/marketing/v3/transactional/single-email/send').reply(200, answer('COMPLETE', sendResult));
			expect(await sendEmail()).toMatchObject({ ok: true, providerMessageId: 'st-complete-1' });
		}
	});
});

describe('Send: webhook credentials in the URL', () => {
	test('an Authorization header set on the node wins over the URL credentials: one Authorization header is sent, the node\'s', async () => {
		const seen: string[][] = [];
		const base = await local((req, res) => {
			const raw = req.rawHeaders;
			seen.push(raw.flatMap((name, i) => (i % 2 === 0 && name.toLowerCase() === 'authorization' ? [raw[i + 1]] : [])));
			res.writeHead(200).end();
		});
		const url = base.replace('http://', 'http://nudge:hook-pa55@') + '/hooks/nudge';
		const result = await postWebhook({ url, maxAttempts: 1, headers: { Authorization: 'Bearer node-token' } }, { decisionId: 'd_latest_1' }, 'd_latest_1');
		expect(result.ok).toBe(true);
		expect(seen).toEqual([['Bearer node-token']]);
	});

	test('a password with a bare "%" is sent as typed, once: not a "could not reach" the host retried', async () => {
		const authorizations: (string | undefined)[] = [];
		const base = await local((req, res) => {
			authorizations.push(req.headers.authorization);
			res.writeHead(200).end();
		});
		const url = base.replace('http://', 'http://nudge:50%@') + '/hooks/nudge';
		const result = await postWebhook({ url }, { decisionId: 'd_latest_1' }, 'd_latest_1', noSleep);
		expect(authorizations).toEqual([`Basic ${Buffer.from('nudge:50%').toString('base64')}`]);
		expect(result).toMatchObject({ ok: true, attempts: 1 });
	});
});

describe('Send: Salesforce network errors', () => {
	test('a DNS failure reaching the org\'s instance ("could not reach Salesforce") is retried like any network error', async () => {
		let base = '';
		base = await local((req, res) => {
			if (req.url!.startsWith('/services/oauth2/token')) {
				res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: '00D-token', instance_url: 'http://nudge-org.invalid', id: `${base}/id/00Dxx/005xx`, token_type: 'Bearer', issued_at: '1', signature: 's' }));
				return;
			}
			res.writeHead(404).end();
		});
		const connect = salesforceConnector({ auth: 'refresh', loginUrl: base, clientId: '3MVG9-test', clientSecret: 'consumer-value', refreshToken: 'refresh-value' });
		const result = await deliver(new SalesforceSender(connect, { action: 'task' }), message(), 'd_latest_1', noSleep);
		expect(result.error).toMatch(/could not reach Salesforce/);
		expect(result.attempts).toBe(3);
	});
});
