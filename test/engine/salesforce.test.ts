/**
 * Salesforce through jsforce. jsforce sends with its own bundled undici, which nock cannot intercept, so
 * a local HTTP server stands in for the org (login URL and instance URL point at it): OAuth 2.0 token endpoint
 * (refresh-token and JWT-bearer flows), the REST query resource
 * (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm) answering
 * `{totalSize, done, records}` with the `Sforce-Limit-Info: api-usage=n/m` header, 401 INVALID_SESSION_ID
 * for an expired session, and sObject create (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_sobject_create.htm).
 */
import { createVerify, generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Engine } from '../../engine/engine';
import { deliver, type OutboundMessage } from '../../engine/deliver/provider';
import { jwtAssertion, salesforceConnector, type SalesforceSettings } from '../../engine/vendors/salesforce';
import { pollQuery, SalesforcePollSource } from '../../engine/vendors/salesforce/poll';
import { SalesforceSender } from '../../engine/vendors/salesforce/send';
import { pollOnce } from '../../engine/events/poll';
import { createEngine } from '../../engine/registry';

let LOGIN = '';
let INSTANCE = '';
const T0 = Date.parse('2026-11-21T09:00:00.000Z');
let settings: SalesforceSettings;

type Reply = [number, unknown, Record<string, string>?];
type Handler = { method: string; path: string; times: number; reply: (req: IncomingMessage & { body: string; url: string }) => Reply };
let handlers: Handler[] = [];
let server: Server;

/** Like nock's interceptors: the first matching handler with uses left answers; unmatched requests get 501. */
function on(method: string, path: string, reply: Handler['reply'], times = 1) {
	handlers.push({ method, path, times, reply });
}

beforeAll(async () => {
	server = createServer((req, res) => {
		let body = '';
		req.on('data', (c: Buffer) => (body += c.toString()));
		req.on('end', () => {
			const path = new URL(req.url!, 'http://x').pathname;
			const handler = handlers.find((h) => h.times > 0 && h.method === req.method && h.path === path);
			if (!handler) {
				res.writeHead(501).end(JSON.stringify([{ errorCode: 'NO_HANDLER', message: `${req.method} ${path}` }]));
				return;
			}
			handler.times--;
			const [status, payload, headers] = handler.reply(Object.assign(req, { body, url: req.url! }));
			res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(payload));
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	LOGIN = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	INSTANCE = LOGIN;
	settings = { auth: 'refresh', loginUrl: LOGIN, clientId: '3MVG9-test-consumer', clientSecret: 'consumer-value', refreshToken: 'refresh-value' };
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

interface OrgRecord {
	Id: string;
	at: number;
	/** When the record's transaction commits (becomes visible to queries). */
	visibleAt: number;
}

/** Token endpoint as documented: a new access token and the instance URL. */
function tokenEndpoint(times = 1) {
	let issued = 0;
	const bodies: string[] = [];
	on(
		'POST',
		'/services/oauth2/token',
		(req) => {
			bodies.push(req.body);
			return [200, { access_token: `00D-token-${++issued}`, instance_url: INSTANCE, id: `${LOGIN}/id/00Dxx/005xx`, token_type: 'Bearer', issued_at: String(T0), signature: 'sig' }];
		},
		times,
	);
	return { bodies, issued: () => issued };
}

/**
 * The org's query resource: evaluates the poll's WHERE/ORDER BY/LIMIT the way SOQL does. With `batchSize`, it answers
 * in batches as Salesforce may ("the returned batch can include fewer records than the limit"): `done: false` and a
 * `nextRecordsUrl` (/query/<locator>) for the rest.
 */
function org(records: OrgRecord[], clock: { now: number }, usage = '18/15000', batchSize = Infinity) {
	const queries: string[] = [];
	const locators = new Map<string, unknown[]>();
	const batchOf = (rows: unknown[], total: number): Reply => {
		const rest = rows.slice(batchSize);
		const answer: Record<string, unknown> = { totalSize: total, done: !rest.length, records: rows.slice(0, batchSize) };
		if (rest.length) {
			const locator = `01gxx0000000${locators.size + 1}-${batchSize}`;
			locators.set(locator, rest);
			answer.nextRecordsUrl = `/services/data/v62.0/query/${locator}`;
			on('GET', answer.nextRecordsUrl as string, () => batchOf(locators.get(locator)!, total));
		}
		return [200, answer, { 'Sforce-Limit-Info': `api-usage=${usage}` }];
	};
	on(
		'GET',
		'/services/data/v62.0/query',
		(req) => {
			const q = new URL(req.url, INSTANCE).searchParams.get('q')!;
			queries.push(q);
			const lit = (s: string) => Date.parse(s);
			const tie = /\(SystemModstamp > (\S+) OR \(SystemModstamp = \S+ AND Id > '(\w+)'\)\)/.exec(q);
			const from = /SystemModstamp >= (\S+) AND/.exec(q);
			const gt = /WHERE SystemModstamp > (\S+) AND/.exec(q);
			const until = lit(/SystemModstamp < (\S+) ORDER/.exec(q)![1]);
			const limit = Number(/LIMIT (\d+)/.exec(q)![1]);
			const newer = (r: OrgRecord) => (tie ? r.at > lit(tie[1]) || (r.at === lit(tie[1]) && r.Id > tie[2]) : from ? r.at >= lit(from[1]) : r.at > lit(gt![1]));
			const rows = records
				.filter((r) => r.visibleAt <= clock.now && newer(r) && r.at < until)
				.sort((a, b) => a.at - b.at || (a.Id < b.Id ? -1 : 1))
				.slice(0, limit)
				.map((r) => ({ attributes: { type: 'Lead', url: `/services/data/v62.0/sobjects/Lead/${r.Id}` }, Id: r.Id, SystemModstamp: new Date(r.at).toISOString().replace('Z', '+0000'), Email: `${r.Id.toLowerCase()}@example.com`, FirstName: 'Lee', LastName: r.Id, Company: 'Acme', Status: 'Open - Not Contacted', LeadSource: 'Web', Phone: null, OwnerId: '005xx0000012345' }));
			return batchOf(rows, rows.length);
		},
		Infinity,
	);
	return { queries };
}

let engine: Engine;
beforeEach(() => {
	engine = createEngine({ store: 'memory:' });
});
afterEach(async () => {
	handlers = [];
	await engine.close();
});

const leadId = (n: number) => `00Qxx00000${String(n).padStart(5, '0')}`;

async function drain(source: SalesforcePollSource, clock: { now: number }, settleMs: number, limit: number) {
	const seen: string[] = [];
	for (let i = 0; i < 30; i++) {
		const r = await pollOnce(engine, source, { journey: 'nurture', since: new Date(T0), settleMs, limit, now: () => clock.now });
		seen.push(...r.accepted.map((a) => String(a.event.properties.objectId)));
		if (!r.more) break;
	}
	return seen;
}

describe('Salesforce polling on (SystemModstamp, Id)', () => {
	test('the query pages by (SystemModstamp, Id) and never puts anything but an Id in the SOQL text', () => {
		expect(pollQuery('Lead', { at: T0, id: '00Qxx0000000001' }, T0 + 60_000, 200)).toBe(
			"SELECT Id, SystemModstamp, Email, FirstName, LastName, Company, Status, LeadSource, Phone, OwnerId FROM Lead WHERE (SystemModstamp > 2026-11-21T09:00:00Z OR (SystemModstamp = 2026-11-21T09:00:00Z AND Id > '00Qxx0000000001')) AND SystemModstamp < 2026-11-21T09:01:00Z ORDER BY SystemModstamp ASC, Id ASC LIMIT 200",
		);
		expect(() => pollQuery('Lead', { at: T0, id: "x' OR Name != '" }, T0, 1)).toThrow(/not a record Id/);
	});

	test('ties: 7 leads with one SystemModstamp, 3 per poll, each taken once in Id order', async () => {
		tokenEndpoint();
		const clock = { now: T0 + 600_000 };
		const records = [1, 2, 3, 4, 5, 6, 7].map((n) => ({ Id: leadId(8 - n), at: T0 + 10_000, visibleAt: T0 }));
		records.push({ Id: leadId(99), at: T0 + 5_000, visibleAt: T0 }, { Id: leadId(50), at: T0 + 20_000, visibleAt: T0 });
		org(records, clock);
		const source = new SalesforcePollSource(salesforceConnector(settings), 'Lead');
		const seen = await drain(source, clock, 60_000, 3);
		expect(seen).toEqual([leadId(99), ...[1, 2, 3, 4, 5, 6, 7].map(leadId), leadId(50)]);
		const profile = await engine.getProfile((await engine.store.resolveIdentities([`salesforceId:${leadId(1)}`])).get(`salesforceId:${leadId(1)}`)!);
		expect(profile).toMatchObject({ email: `${leadId(1).toLowerCase()}@example.com`, traits: { company: 'Acme', ownerId: '005xx0000012345' } });
	});

	test('a query Salesforce answers in batches smaller than its LIMIT is read whole in one check (nextRecordsUrl), each lead once', async () => {
		tokenEndpoint();
		const clock = { now: T0 + 600_000 };
		const records = [1, 2, 3, 4, 5, 6, 7].map((n) => ({ Id: leadId(n), at: T0 + n * 1_000, visibleAt: T0 }));
		const { queries } = org(records, clock, '18/15000', 2);
		const source = new SalesforcePollSource(salesforceConnector(settings), 'Lead');
		const first = await pollOnce(engine, source, { journey: 'nurture', since: new Date(T0), settleMs: 60_000, limit: 5, now: () => clock.now });
		expect(first.accepted.map((a) => a.event.properties.objectId)).toEqual([1, 2, 3, 4, 5].map(leadId));
		expect(first.more).toBe(true);
		const second = await pollOnce(engine, source, { journey: 'nurture', since: new Date(T0), settleMs: 60_000, limit: 5, now: () => clock.now });
		expect(second.accepted.map((a) => a.event.properties.objectId)).toEqual([6, 7].map(leadId));
		expect(queries).toHaveLength(2);
	});

	test('a first poll starting inside a second asks only for later seconds: leads of the second before it (≥ the limit) never hold the cursor back', async () => {
		tokenEndpoint();
		// A Data Loader run touched 5 leads at 08:59:59, before the poll's start (09:00:00); a lead changes at 09:00:10.
		// The first cursor is 08:59:59.999: those 5 are behind it, so a query that returns them (and 3 fill the limit)
		// leaves the cursor where it was, and every poll would ask the same again.
		const records = [1, 2, 3, 4, 5].map((n) => ({ Id: leadId(n), at: T0 - 1000, visibleAt: T0 - 1000 }));
		records.push({ Id: leadId(50), at: T0 + 10_000, visibleAt: T0 + 10_000 });
		const clock = { now: T0 + 600_000 };
		org(records, clock);
		const source = new SalesforcePollSource(salesforceConnector(settings), 'Lead');
		const seen: string[] = [];
		for (let i = 0; i < 3; i++) {
			const r = await pollOnce(engine, source, { journey: 'nurture', since: new Date(T0), settleMs: 60_000, limit: 3, now: () => clock.now });
			seen.push(...r.accepted.map((a) => String(a.event.properties.objectId)));
			clock.now += 60_000;
		}
		expect(seen).toEqual([leadId(50)]);
	});

	test('the query for a cursor inside a second, or with no id, is exact for whole-second stamps', () => {
		const where = (at: number, id: string) => /WHERE (.*) AND SystemModstamp </.exec(pollQuery('Lead', { at, id }, T0 + 60_000, 200))![1];
		expect(where(T0 - 1, '')).toBe('SystemModstamp > 2026-11-21T08:59:59Z');
		expect(where(T0 + 500, '00Qxx0000000001')).toBe('SystemModstamp > 2026-11-21T09:00:00Z');
		expect(where(T0, '')).toBe('SystemModstamp >= 2026-11-21T09:00:00Z');
	});

	test('late writes: a lead committed 30 s after its SystemModstamp is picked up; with no settle window it would be skipped', async () => {
		for (const [settleMs, expected] of [
			[60_000, [[leadId(1)], [leadId(2), leadId(3)]]],
			[0, [[leadId(1), leadId(3)], []]],
		] as const) {
			handlers = [];
			engine = createEngine({ store: 'memory:' });
			tokenEndpoint();
			const clock = { now: T0 + 120_000 };
			org(
				[
					{ Id: leadId(1), at: T0 + 10_000, visibleAt: T0 + 10_000 },
					{ Id: leadId(2), at: T0 + 100_000, visibleAt: T0 + 130_000 },
					{ Id: leadId(3), at: T0 + 110_000, visibleAt: T0 + 110_000 },
				],
				clock,
			);
			const source = new SalesforcePollSource(salesforceConnector(settings), 'Lead');
			const first = await drain(source, clock, settleMs, 100);
			clock.now = T0 + 200_000;
			const second = await drain(source, clock, settleMs, 100);
			expect([first, second]).toEqual(expected);
		}
	});

	test('an expired session (401 INVALID_SESSION_ID) is refreshed with the refresh token and the query retried', async () => {
		const token = tokenEndpoint(2);
		const clock = { now: T0 + 600_000 };
		on('GET', '/services/data/v62.0/query', () => [401, [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]]);
		org([{ Id: leadId(1), at: T0 + 1000, visibleAt: T0 }], clock);
		const source = new SalesforcePollSource(salesforceConnector(settings), 'Lead');
		expect(await drain(source, clock, 60_000, 100)).toEqual([leadId(1)]);
		expect(token.issued()).toBe(2);
		expect(token.bodies[0]).toContain('grant_type=refresh_token');
	});

	test('API limits: above 90% of the daily calls (Sforce-Limit-Info) polling pauses with the reason, cursor kept', async () => {
		tokenEndpoint();
		const clock = { now: T0 + 600_000 };
		const { queries } = org([{ Id: leadId(1), at: T0 + 1000, visibleAt: T0 }], clock, '13700/15000');
		const source = new SalesforcePollSource(salesforceConnector(settings), 'Lead');
		expect(await drain(source, clock, 60_000, 100)).toEqual([leadId(1)]);
		const cursor = await engine.store.getCursor('salesforce:Lead@nurture');
		await expect(pollOnce(engine, source, { journey: 'nurture', now: () => clock.now })).rejects.toThrow(/API usage is at 13700 of 15000 calls .*pauses until it is below 90%/);
		expect(queries).toHaveLength(1);
		expect(await engine.store.getCursor('salesforce:Lead@nurture')).toBe(cursor);
	});

	test('JWT bearer: the assertion is RS256 over iss/sub/aud/exp and is what the token request carries', async () => {
		const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
		const jwt: SalesforceSettings = { auth: 'jwt', loginUrl: LOGIN, clientId: '3MVG9-jwt', username: 'integration@acme.com', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
		const assertion = jwtAssertion(jwt, T0);
		const [header, claims, signature] = assertion.split('.');
		expect(JSON.parse(Buffer.from(claims, 'base64url').toString())).toEqual({ iss: '3MVG9-jwt', sub: 'integration@acme.com', aud: LOGIN, exp: T0 / 1000 + 180 });
		expect(createVerify('RSA-SHA256').update(`${header}.${claims}`).verify(publicKey, Buffer.from(signature, 'base64url'))).toBe(true);
		const token = tokenEndpoint();
		await salesforceConnector(jwt)();
		expect(token.bodies[0]).toContain('grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer');
		expect(token.bodies[0]).toContain('assertion=');
	});

	test('a refused sign-in names what to check and never echoes the refresh token', async () => {
		on('POST', '/services/oauth2/token', () => [400, { error: 'invalid_grant', error_description: 'expired access/refresh token' }]);
		const source = new SalesforcePollSource(salesforceConnector(settings), 'Lead');
		const error = await pollOnce(engine, source, { journey: 'nurture' }).catch((e: Error) => e);
		expect(String((error as Error).message)).toMatch(/Salesforce refused to sign Nudge in .*Check the Salesforce credential/);
		expect(String((error as Error).message)).not.toContain('refresh-value');
	});
});

describe('Salesforce senders', () => {
	const message = (ids: string[] = [leadId(1)]): OutboundMessage => ({
		decisionId: 'd_sf_1',
		journey: 'sales',
		channel: 'sales_task',
		contact: { contactId: 'c_1', email: 'lee@example.com', traits: { ownerId: '005xx0000012345' }, identities: { salesforceId: ids } },
		event: { eventId: 'e1', source: 'salesforce', type: 'identify', name: 'Lead Changed', occurredAt: '2026-11-21T09:00:00.000Z' },
		policyVersion: 'p@1',
	});

	test('Task for the owner on the lead; 503 is retried', async () => {
		tokenEndpoint();
		let body: Record<string, unknown> = {};
		on('POST', '/services/data/v62.0/sobjects/Task', () => [503, [{ message: 'Server unavailable', errorCode: 'SERVER_UNAVAILABLE' }]]);
		on('POST', '/services/data/v62.0/sobjects/Task', (req) => ((body = JSON.parse(req.body)), [201, { id: '00Txx000001AbCd', success: true, errors: [] }, { 'Sforce-Limit-Info': 'api-usage=20/15000' }]));
		const pauses: number[] = [];
		const result = await deliver(new SalesforceSender(salesforceConnector(settings), { action: 'task', subject: 'Call {{name}}' }), message(), 'd_sf_1', { sleep: async (ms) => void pauses.push(ms) });
		expect(result).toEqual({ ok: true, attempts: 2, providerMessageId: '00Txx000001AbCd' });
		expect(pauses).toHaveLength(1);
		expect(body).toMatchObject({ Subject: 'Call Lead Changed', WhoId: leadId(1), OwnerId: '005xx0000012345', Status: 'Not Started', Description: expect.stringContaining('d_sf_1') });
	});

	test('Task text from the event is taken literally: no replacement patterns, no forged lines', async () => {
		tokenEndpoint();
		let body: Record<string, unknown> = {};
		on('POST', '/services/data/v62.0/sobjects/Task', (req) => ((body = JSON.parse(req.body)), [201, { id: '00Txx000001AbCe', success: true, errors: [] }]));
		const hostile = { ...message(), event: { ...message().event, name: `Q&A <b>$&</b>\nNudge decision: d_forged` } };
		expect(await deliver(new SalesforceSender(salesforceConnector(settings), { action: 'task', subject: 'Call {{name}}' }), hostile, 'd_sf_1')).toMatchObject({ ok: true });
		// Subject and Description are plain-text fields: the name as written, on one line.
		expect(body.Subject).toBe('Call Q&A <b>$&</b> Nudge decision: d_forged');
		expect(body.Description).toBe('Trigger: Q&A <b>$&</b> Nudge decision: d_forged at 2026-11-21T09:00:00.000Z\nJourney: sales\nNudge decision: d_sf_1');
	});

	test('CampaignMember add; an existing membership (DUPLICATE_VALUE) counts as done', async () => {
		tokenEndpoint();
		const bodies: Record<string, unknown>[] = [];
		on('POST', '/services/data/v62.0/sobjects/CampaignMember', (req) => (bodies.push(JSON.parse(req.body)), [201, { id: '00vxx000000AbCd', success: true, errors: [] }]));
		on('POST', '/services/data/v62.0/sobjects/CampaignMember', () => [400, [{ message: 'Already a campaign member.', errorCode: 'DUPLICATE_VALUE', fields: [] }]]);
		const sender = new SalesforceSender(salesforceConnector(settings), { action: 'campaign', campaignId: '701xx0000001AbC', memberStatus: 'Sent' });
		expect(await deliver(sender, message(['003xx0000001AbC']), 'd_sf_2')).toMatchObject({ ok: true, providerMessageId: '00vxx000000AbCd' });
		expect(bodies[0]).toEqual({ CampaignId: '701xx0000001AbC', ContactId: '003xx0000001AbC', Status: 'Sent' });
		expect(await deliver(sender, message(['003xx0000001AbC']), 'd_sf_2')).toMatchObject({ ok: true, attempts: 1 });
	});

	test('a bad campaign id fails before anything is sent; an unknown record fails without a call', async () => {
		expect(() => new SalesforceSender(salesforceConnector(settings), { action: 'campaign', campaignId: 'abc' }).check()).toThrow(/Campaign ID/);
		const result = await deliver(new SalesforceSender(salesforceConnector(settings), { action: 'task' }), message(['001xx0000001AbC']), 'k');
		expect(result).toMatchObject({ ok: false, attempts: 1, error: expect.stringMatching(/no Salesforce Lead or Contact id/) });
	});
});
