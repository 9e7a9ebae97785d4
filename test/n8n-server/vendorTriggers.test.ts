/**
 * Nudge Trigger's vendor sources in a real n8n server (each version in NUDGE_N8N_VERSIONS, default 2.41.1 and
 * 1.123.81): Source "HubSpot (App Webhooks)" and Source "Segment (Webhooks Destination)", set up as an admin does
 * (this package packed and installed as a community package, the Nudge Engine, Nudge HubSpot API and Nudge Segment
 * API credentials and two workflows, Nudge Trigger → Log Decision, imported with n8n's CLI and activated), then
 * requests shaped and signed the way HubSpot and Segment build theirs posted to the production webhooks. n8n runs as
 * it does behind a reverse proxy: WEBHOOK_URL is the public address (written without its trailing slash, with a
 * path), and the test posts to n8n's own port, as the proxy does. Checked from the outside: the HTTP answer, n8n's
 * execution list and Nudge's decision log.
 *
 * What n8n does to a webhook request before the node sees it (packages/cli/src/middlewares/body-parser.ts in both
 * versions): `rawBodyReader` keeps the bytes as received in `req.rawBody` (decompressed when gzip/deflate) and
 * `parseBody` parses a copy into `req.body`; the trigger checks signatures on `rawBody` and parses it itself.
 */
import { createHash, createHmac } from 'node:crypto';
import { rmSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Decision } from '../../engine/audit/schema';
import { hubspotSignature } from '../../engine/vendors/hubspot/signature';
import { segmentSignature } from '../../engine/vendors/segment/signature';
import { MAX_WEBHOOK_BYTES } from '../../engine/events/receive';
import { openStore } from '../../engine/store/open';
import type { Store } from '../../engine/store/types';
import { tempDir } from '../helpers/fixtures';
import { describeWithN8n, installedVersion } from './n8nInstall';
import { freePort, N8nServer, packAsCommunityPackage, type Execution } from './n8nServer';

const ROOT = join(__dirname, '..', '..');
const VERSIONS = (process.env.NUDGE_N8N_VERSIONS ?? '2.41.1,1.123.81').split(',').map((v) => v.trim()).filter(Boolean);
const POLICY = readFileSync(join(ROOT, 'flows/policies/journeys.json'), 'utf8');

/** The public address n8n is reached at, as an admin behind a proxy sets WEBHOOK_URL: a path, no trailing slash. */
const PUBLIC_BASE = 'https://automation.example.com/n8n';
const HUBSPOT_SECRET = 'hs-app-client-secret';
/** The client secret of the OAuth2 app (a developer account's app) of the third workflow. */
const HUBSPOT_OAUTH_SECRET = 'hs-oauth-app-client-secret';
const SEGMENT_SECRET = 'segment-shared-secret';

const CREDENTIALS = {
	engine: { id: 'NudgeVendorEng01', name: 'Nudge Engine' },
	hubspot: { id: 'NudgeVendorHub01', name: 'Nudge HubSpot' },
	segment: { id: 'NudgeVendorSeg01', name: 'Nudge Segment' },
	hubspotOAuth2: { id: 'NudgeVendorHub02', name: 'Nudge HubSpot OAuth2' },
};
const HUBSPOT_FLOW = { id: 'NudgeVendorHubSp', webhookId: '6f0b7d52-3c1e-4a8e-9b1f-2d0c5e7a9101' };
const SEGMENT_FLOW = { id: 'NudgeVendorSegmt', webhookId: '6f0b7d52-3c1e-4a8e-9b1f-2d0c5e7a9102' };
const HUBSPOT_OAUTH_FLOW = { id: 'NudgeVendorHubOA', webhookId: '6f0b7d52-3c1e-4a8e-9b1f-2d0c5e7a9103' };
const hookPath = (flow: { webhookId: string }) => `/webhook/${flow.webhookId}/events`;

/** Nudge Trigger (the vendor source) → Log Decision, both on the Nudge Engine credential. */
function workflow(flow: { id: string; webhookId: string }, name: string, source: 'hubspot' | 'segment', authentication: 'privateApp' | 'oAuth2' = 'privateApp') {
	const vendor =
		source === 'segment' ? { nudgeSegmentApi: CREDENTIALS.segment } : authentication === 'oAuth2' ? { nudgeHubSpotOAuth2Api: CREDENTIALS.hubspotOAuth2 } : { nudgeHubSpotApi: CREDENTIALS.hubspot };
	return {
		id: flow.id,
		name,
		active: false,
		settings: { executionOrder: 'v1' },
		nodes: [
			{
				id: `${flow.webhookId}-t`,
				name: 'Nudge Trigger',
				type: 'n8n-nodes-nudge.nudgeTrigger',
				typeVersion: 1,
				position: [0, 0],
				webhookId: flow.webhookId,
				parameters: { source, journey: 'nurture', ...(source === 'hubspot' ? { authentication } : {}) },
				credentials: { nudgeEngineApi: CREDENTIALS.engine, ...vendor },
			},
			{
				id: `${flow.webhookId}-l`,
				name: 'Log Decision',
				type: 'n8n-nodes-nudge.nudgeLogDecision',
				typeVersion: 1,
				position: [220, 0],
				parameters: { annotations: `{"source": "${source}"}` },
				credentials: { nudgeEngineApi: CREDENTIALS.engine },
			},
		],
		connections: { 'Nudge Trigger': { main: [[{ node: 'Log Decision', type: 'main', index: 0 }]] } },
	};
}

/** The n8n server behind a proxy: its WEBHOOK_URL is the public address, not the loopback port the test posts to. */
class ProxiedN8nServer extends N8nServer {
	env(): NodeJS.ProcessEnv {
		return { ...super.env(), WEBHOOK_URL: PUBLIC_BASE };
	}
}

interface Answer {
	status: number;
	contentType: string;
	body: { accepted?: number; duplicates?: number; decisionIds?: string[]; error?: string; refused?: unknown[] } & Record<string, unknown>;
}

async function answerOf(response: Response): Promise<Answer> {
	const text = await response.text();
	let body: unknown = text;
	try {
		body = JSON.parse(text);
	} catch {
		// Kept as text: the assertion shows what n8n answered.
	}
	return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: body as Answer['body'] };
}

/**
 * HubSpot's headers for one delivery, as its webhooks send them
 * (https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests): the v3 signature,
 * base64 HMAC-SHA256 with the app's client secret of method + the URI it called (with %3A %2F %3F %40 %21 %24 %27
 * %28 %29 %2A %2C %3B decoded) + body + timestamp (ms); and, for backward compatibility, the v1 signature
 * (hex SHA-256 of client secret + body) with X-HubSpot-Signature-Version v1.
 */
function hubspotHeaders(body: string, calledUrl: string, options: { secret?: string; timestamp?: number } = {}): Record<string, string> {
	const secret = options.secret ?? HUBSPOT_SECRET;
	const timestamp = String(options.timestamp ?? Date.now());
	return {
		'content-type': 'application/json',
		'user-agent': 'HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nio-http-client) - WebhooksExecutorDaemon-executor',
		'x-hubspot-signature': createHash('sha256').update(secret + body).digest('hex'),
		'x-hubspot-signature-version': 'v1',
		'x-hubspot-signature-v3': hubspotSignature(secret, 'POST', calledUrl, body, timestamp),
		'x-hubspot-request-timestamp': timestamp,
	};
}

let seq = 0;
/** Ids unique to this run (HubSpot's are numbers; a run must not meet an earlier run's duplicates). */
const runBase = Date.now() % 1_000_000_000;
const nextId = () => runBase * 1000 + ++seq;

/**
 * HubSpot webhook notifications (legacy app subscriptions), shaped as documented: the payload fields of
 * https://developers.hubspot.com/docs/apps/legacy-apps/public-apps/webhooks#webhook-payloads (eventId, subscriptionId,
 * portalId, appId, occurredAt ms, subscriptionType, attemptNumber, objectId, changeSource, propertyName /
 * propertyValue on property changes, changeFlag on creations), and the merge and association fields of
 * https://developers.hubspot.com/changelog/new-subscription-types-for-webhooks (primaryObjectId, mergedObjectIds,
 * newObjectId, numberOfPropertiesMoved; fromObjectId, toObjectId, associationType, associationRemoved,
 * isPrimaryAssociation).
 */
const PORTAL = 62515;
const APP = 1160452;
function notification(subscriptionType: string, fields: Record<string, unknown>): Record<string, unknown> {
	return { eventId: nextId(), subscriptionId: 25 + (seq % 7), portalId: PORTAL, appId: APP, occurredAt: Date.now() - 2000, subscriptionType, attemptNumber: 0, ...fields };
}

/**
 * One Segment event as the Webhooks (Actions) destination delivers it with its default mapping (Data = `$.`, the
 * whole event: https://www.twilio.com/docs/segment/connections/destinations/catalog/actions-webhook, and the common
 * fields of https://segment.com/docs/connections/spec/common/): serialised with JSON.stringify, which is what
 * Segment signs and sends (segmentio/action-destinations packages/destination-actions/src/destinations/webhook/index.ts).
 */
function segmentEvent(type: string, fields: Record<string, unknown>): Record<string, unknown> {
	const now = new Date().toISOString();
	return {
		anonymousId: `anon-${nextId()}`,
		channel: 'server',
		context: { library: { name: 'analytics-node', version: '2.1.2' }, ip: '203.0.113.7', locale: 'en-US', timezone: 'Europe/Amsterdam' },
		integrations: {},
		messageId: `api-${nextId()}`,
		originalTimestamp: now,
		receivedAt: now,
		sentAt: now,
		timestamp: now,
		type,
		version: 2,
		...fields,
	};
}

// Packed and installed once, copied into each server's user folder.
const packWork = tempDir('nudge-n8n-vendors-pack-');
let packed: Promise<string> | undefined;
afterAll(() => rmSync(packWork, { recursive: true, force: true }));

for (const version of VERSIONS) {
	describeWithN8n(version, (install) => {
		let server: N8nServer;
		let store: Store;

		beforeAll(async () => {
			expect(installedVersion(install)).toBe(version);
			packed ??= packAsCommunityPackage(packWork);
			server = new ProxiedN8nServer(install, await freePort(), await freePort());
			server.addNodes(await packed);
			const storeUrl = `sqlite:${join(server.home, 'nudge.db')}`;
			store = openStore(storeUrl);
			const credentials = join(server.home, 'credentials.json');
			writeFileSync(
				credentials,
				JSON.stringify([
					{ ...CREDENTIALS.engine, type: 'nudgeEngineApi', data: { store: storeUrl, policy: POLICY, signingSecret: 'vendor-test-nudge-secret' } },
					{ ...CREDENTIALS.hubspot, type: 'nudgeHubSpotApi', data: { accessToken: '', clientSecret: HUBSPOT_SECRET } },
					{ ...CREDENTIALS.segment, type: 'nudgeSegmentApi', data: { writeKey: '', sharedSecret: SEGMENT_SECRET, host: 'https://api.segment.io' } },
					// Connected once (n8n keeps the tokens in oauthTokenData); the trigger only reads the client secret.
					{
						...CREDENTIALS.hubspotOAuth2,
						type: 'nudgeHubSpotOAuth2Api',
						data: { clientId: 'hs-oauth-app-client-id', clientSecret: HUBSPOT_OAUTH_SECRET, oauthTokenData: { access_token: 'hs-oauth-access', refresh_token: 'hs-oauth-refresh', expires_in: 1800, token_type: 'bearer' } },
					},
				]),
			);
			await server.cli(['import:credentials', `--input=${credentials}`], /Successfully imported 4 credentials/);
			const flows = [workflow(HUBSPOT_FLOW, 'HubSpot events', 'hubspot'), workflow(SEGMENT_FLOW, 'Segment events', 'segment'), workflow(HUBSPOT_OAUTH_FLOW, 'HubSpot OAuth2 app events', 'hubspot', 'oAuth2')];
			const workflows = join(server.home, 'workflows.json');
			writeFileSync(workflows, JSON.stringify(flows));
			await server.cli(['import:workflow', `--input=${workflows}`], /Successfully imported 3 workflows/);
			// 2.x publishes one workflow at a time; 1.x activates them all at once.
			if (server.major >= 2) for (const f of flows) await server.cli(['publish:workflow', `--id=${f.id}`], /Publishing workflow with ID/);
			else await server.cli(['update:workflow', '--all', '--active=true'], /Activating all workflows/);
			await server.start();
			// An unsigned '{}' is answered by the trigger (401) once n8n has registered the webhook (404 before).
			for (const flow of [HUBSPOT_FLOW, SEGMENT_FLOW, HUBSPOT_OAUTH_FLOW]) await server.waitForWebhook(hookPath(flow));
		}, 20 * 60_000);

		afterAll(async () => {
			await store?.close();
			await server?.close();
		}, 60_000);

		/** What HubSpot calls: the public URL n8n shows as the trigger's Production URL, plus the query of the target URL. */
		const hubspotUrl = (suffix = '', flow = HUBSPOT_FLOW) => `${PUBLIC_BASE}${hookPath(flow)}${suffix}`;

		/** Posts a body to a HubSpot workflow's webhook (at n8n's port, as the proxy does) with `headers`. */
		async function postHubSpot(body: string, headers: Record<string, string>, suffix = '', flow = HUBSPOT_FLOW): Promise<Answer> {
			return answerOf(await fetch(`${server.url}${hookPath(flow)}${suffix}`, { method: 'POST', headers, body }));
		}

		/** Posts a body to the Segment workflow's webhook, signed as Segment signs it unless told otherwise. */
		async function postSegment(body: string, headers: Record<string, string> = { 'x-signature': segmentSignature(SEGMENT_SECRET, body) }): Promise<Answer> {
			// Segment's request client sends JSON with this content type and its own user agent.
			return answerOf(await fetch(`${server.url}${hookPath(SEGMENT_FLOW)}`, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'Segment (Actions)', ...headers }, body }));
		}

		const ofWorkflow = async (flow: { id: string }) => (await server.executions()).filter((e) => e.workflowId === flow.id);

		/** Waits until `flow` has `count` executions, none running, and returns the new ones. */
		async function newRuns(flow: { id: string }, before: number, count: number): Promise<Execution[]> {
			const deadline = Date.now() + 60_000;
			for (;;) {
				const runs = (await ofWorkflow(flow)).slice(before);
				if ((runs.length >= count && runs.every((e) => !['new', 'running'].includes(e.status))) || Date.now() > deadline) return runs;
				await new Promise((resolve) => setTimeout(resolve, 250));
			}
		}

		/**
		 * The executions of `flow` that n8n records while `act` runs, looked at after a marker request to the other
		 * workflow has run to its end: a trigger answers before n8n records its execution, so an unwanted one is listed
		 * by then.
		 */
		async function executionsDuring(flow: { id: string }, act: () => Promise<void>): Promise<Execution[]> {
			const before = (await ofWorkflow(flow)).length;
			await act();
			const other = flow.id === HUBSPOT_FLOW.id ? SEGMENT_FLOW : HUBSPOT_FLOW;
			const otherBefore = (await ofWorkflow(other)).length;
			const marker =
				other.id === SEGMENT_FLOW.id
					? await postSegment(JSON.stringify(segmentEvent('track', { userId: `marker-${nextId()}`, event: 'Marker Viewed', properties: {} })))
					: await (async () => {
							const body = JSON.stringify([notification('contact.creation', { objectId: nextId(), changeFlag: 'CREATED', changeSource: 'CRM_UI' })]);
							return postHubSpot(body, hubspotHeaders(body, hubspotUrl()));
						})();
			expect(marker.body).toMatchObject({ accepted: 1 });
			await newRuns(other, otherBefore, 1);
			await new Promise((resolve) => setTimeout(resolve, 1000));
			return (await ofWorkflow(flow)).slice(before);
		}

		/** The decisions of `ids` once the workflow has logged them all. */
		async function loggedDecisions(ids: string[]): Promise<Decision[]> {
			const deadline = Date.now() + 30_000;
			for (;;) {
				const decisions = (await Promise.all(ids.map((id) => store.getDecision(id)))) as Decision[];
				if (decisions.every((d) => d?.loggedAt) || Date.now() > deadline) return decisions;
				await new Promise((resolve) => setTimeout(resolve, 250));
			}
		}

		const hubspotContact = async (objectId: unknown) => (await store.resolveIdentities([`hubspotId:${String(objectId)}`])).get(`hubspotId:${String(objectId)}`);

		describe('Source HubSpot (App Webhooks)', () => {
			it('takes in a documented batch (contact creation, property changes, merge, association, deal creation and stage) signed for the public URL HubSpot called with its query: 200 JSON, one execution, every decision logged', async () => {
				const contact = nextId();
				const deal = nextId();
				const [mergedA, mergedB] = [nextId(), nextId()];
				const batch = [
					notification('contact.creation', { objectId: contact, changeFlag: 'CREATED', changeSource: 'CRM_UI', sourceId: 'userId:45678' }),
					notification('contact.propertyChange', { objectId: contact, propertyName: 'email', propertyValue: `Rae.${contact}@Example.com`, changeSource: 'CRM_UI', sourceId: 'userId:45678' }),
					notification('contact.propertyChange', { objectId: contact, propertyName: 'lifecyclestage', propertyValue: 'marketingqualifiedlead', changeSource: 'WORKFLOWS' }),
					notification('contact.merge', { objectId: contact, primaryObjectId: contact, mergedObjectIds: [mergedA, mergedB], newObjectId: contact, numberOfPropertiesMoved: 12, changeSource: 'CRM_UI' }),
					notification('contact.associationChange', { associationType: 'CONTACT_TO_DEAL', fromObjectId: contact, toObjectId: deal, associationRemoved: false, isPrimaryAssociation: false, changeSource: 'USER' }),
					notification('deal.creation', { objectId: deal, changeFlag: 'CREATED', changeSource: 'API' }),
					notification('deal.propertyChange', { objectId: deal, propertyName: 'dealstage', propertyValue: 'contractsent', changeSource: 'CRM_UI' }),
				];
				const body = JSON.stringify(batch);
				// The app's Target URL carries a query; a colon in it is percent-encoded in the request and decoded in
				// what HubSpot signs (the v3 rules).
				const query = `?portal=${PORTAL}&region=eu%3Awest`;
				const signedUrl = hubspotUrl(`?portal=${PORTAL}&region=eu:west`);
				const before = (await ofWorkflow(HUBSPOT_FLOW)).length;
				const answer = await postHubSpot(body, hubspotHeaders(body, signedUrl), query);
				expect([answer.status, answer.contentType]).toEqual([200, expect.stringMatching(/^application\/json/)]);
				expect(answer.body).toEqual({ accepted: batch.length, duplicates: 0, decisionIds: batch.map(() => expect.any(String)) });

				const runs = await newRuns(HUBSPOT_FLOW, before, 1);
				expect(runs.map((e) => [e.mode, e.status])).toEqual([['webhook', 'success']]);
				const decisions = await loggedDecisions(answer.body.decisionIds!);
				expect(decisions.map((d) => [d.event.name, typeof d.loggedAt, d.annotations.source])).toEqual([
					['Contact Created', 'string', 'hubspot'],
					['Contact Property Changed', 'string', 'hubspot'],
					['Contact Property Changed', 'string', 'hubspot'],
					['Contact Merged', 'string', 'hubspot'],
					['Contact Association Changed', 'string', 'hubspot'],
					['Deal Created', 'string', 'hubspot'],
					['Deal Stage Changed', 'string', 'hubspot'],
				]);
				// The contact's events are one contact, with the email and lifecycle HubSpot sent, and the merged records are it too.
				const contactId = await hubspotContact(contact);
				expect(new Set(decisions.slice(0, 5).map((d) => d.contactId))).toEqual(new Set([contactId]));
				expect(await store.getProfile(contactId!)).toMatchObject({ email: `rae.${contact}@example.com`, lifecycle: 'marketingqualifiedlead' });
				expect(await hubspotContact(mergedA)).toBe(contactId);
				expect(decisions[5].contactId).toBe(decisions[6].contactId);
				expect(decisions[5].contactId).not.toBe(contactId);
			});

			it('takes in a body exactly as sent: pretty-printed JSON with \\u escapes and UTF-8 names verifies on the raw bytes', async () => {
				const objectId = nextId();
				const pretty = `[\n  {\n    "eventId" : ${nextId()},\n    "subscriptionId" : 26,\n    "portalId" : ${PORTAL},\n    "appId" : ${APP},\n    "occurredAt" : ${Date.now() - 1000},\n    "subscriptionType" : "contact.propertyChange",\n    "attemptNumber" : 0,\n    "objectId" : ${objectId},\n    "propertyName" : "firstname",\n    "propertyValue" : "J\\u00fcrgen M\u00fcller \u2013 \ud83d\ude80",\n    "changeSource" : "CRM_UI"\n  }\n]`;
				const before = (await ofWorkflow(HUBSPOT_FLOW)).length;
				const answer = await postHubSpot(pretty, hubspotHeaders(pretty, hubspotUrl()));
				expect([answer.status, answer.body]).toEqual([200, { accepted: 1, duplicates: 0, decisionIds: [expect.any(String)] }]);
				await newRuns(HUBSPOT_FLOW, before, 1);
				const [decision] = await loggedDecisions(answer.body.decisionIds!);
				expect((await store.getProfile(decision.contactId))?.traits).toMatchObject({ firstname: 'Jürgen Müller – 🚀' });
			});

			it('takes in a delivery to the Production URL with a trailing slash (a Target URL pasted with one), which n8n routes to the trigger and HubSpot signs as it called it', async () => {
				// n8n drops one trailing slash when it looks the webhook up (LiveWebhooks.findWebhook, both versions), so
				// HubSpot's request reaches the trigger; HubSpot signs the URI it called, slash included.
				const body = JSON.stringify([notification('contact.creation', { objectId: nextId(), changeFlag: 'CREATED', changeSource: 'CRM_UI' })]);
				const before = (await ofWorkflow(HUBSPOT_FLOW)).length;
				const answer = await postHubSpot(body, hubspotHeaders(body, hubspotUrl(`/?portal=${PORTAL}`)), `/?portal=${PORTAL}`);
				expect([answer.status, answer.body]).toEqual([200, { accepted: 1, duplicates: 0, decisionIds: [expect.any(String)] }]);
				expect((await newRuns(HUBSPOT_FLOW, before, 1)).map((e) => e.status)).toEqual(['success']);
				// And not signed for the URL without it: what HubSpot did not call is refused.
				const other = JSON.stringify([notification('contact.creation', { objectId: nextId(), changeFlag: 'CREATED', changeSource: 'CRM_UI' })]);
				const refused = await postHubSpot(other, hubspotHeaders(other, hubspotUrl()), '/');
				expect([refused.status, refused.body.error]).toEqual([401, expect.stringMatching(/X-HubSpot-Signature-v3 does not match/)]);
			});

			it('answers HubSpot’s retry of a delivery (attemptNumber 1, new timestamp and signature) as duplicates and starts nothing', async () => {
				const batch = [notification('contact.creation', { objectId: nextId(), changeFlag: 'CREATED', changeSource: 'CRM_UI' })];
				const first = JSON.stringify(batch);
				const before = (await ofWorkflow(HUBSPOT_FLOW)).length;
				expect((await postHubSpot(first, hubspotHeaders(first, hubspotUrl()))).body).toMatchObject({ accepted: 1, duplicates: 0 });
				await newRuns(HUBSPOT_FLOW, before, 1);
				let retry: Answer | undefined;
				const started = await executionsDuring(HUBSPOT_FLOW, async () => {
					const body = JSON.stringify(batch.map((e) => ({ ...e, attemptNumber: 1 })));
					retry = await postHubSpot(body, hubspotHeaders(body, hubspotUrl()));
				});
				expect([retry!.status, retry!.body]).toEqual([200, { accepted: 0, duplicates: 1, decisionIds: [] }]);
				expect(started).toEqual([]);
			});

			it('refuses, with a 401 JSON error, nothing stored and no execution: a captured request replayed after 5 minutes, another client secret, a body changed after signing, the URL n8n was called on instead of the public one, a v1-only request, no signature', async () => {
				const objectId = nextId();
				const body = JSON.stringify([notification('contact.propertyChange', { objectId, propertyName: 'email', propertyValue: `mallory.${objectId}@example.com`, changeSource: 'CRM_UI' })]);
				const v3 = hubspotHeaders(body, hubspotUrl());
				const v1Only = Object.fromEntries(Object.entries(v3).filter(([name]) => !['x-hubspot-signature-v3', 'x-hubspot-request-timestamp'].includes(name)));
				const cases: Array<[string, string, Record<string, string>, RegExp]> = [
					// Signed by HubSpot 5 minutes and 1 second ago: the request as captured, sent again now.
					['replayed after 5 minutes', body, hubspotHeaders(body, hubspotUrl(), { timestamp: Date.now() - 5 * 60_000 - 1000 }), /more than 5 minutes old/],
					['another client secret', body, hubspotHeaders(body, hubspotUrl(), { secret: 'another-apps-secret' }), /X-HubSpot-Signature-v3 does not match/],
					['a body re-serialised after signing', JSON.stringify(JSON.parse(body), null, 1), v3, /X-HubSpot-Signature-v3 does not match/],
					['signed for the loopback URL', body, hubspotHeaders(body, `${server.url}${hookPath(HUBSPOT_FLOW)}`), /X-HubSpot-Signature-v3 does not match/],
					['v1 only', body, v1Only, /Missing X-HubSpot-Signature-v3/],
					['no signature', body, { 'content-type': 'application/json' }, /Missing X-HubSpot-Signature-v3/],
				];
				const answers: Answer[] = [];
				const started = await executionsDuring(HUBSPOT_FLOW, async () => {
					for (const [, payload, headers] of cases) answers.push(await postHubSpot(payload, headers));
				});
				expect(answers.map((a, i) => [cases[i][0], a.status, a.contentType, a.body.error])).toEqual(
					cases.map(([name, , , message]) => [name, 401, expect.stringMatching(/^application\/json/), expect.stringMatching(message)]),
				);
				for (const a of answers) expect(JSON.stringify(a.body)).not.toContain(HUBSPOT_SECRET);
				expect(started).toEqual([]);
				expect(await hubspotContact(objectId)).toBeUndefined();
				expect((await store.resolveIdentities([`email:mallory.${objectId}@example.com`])).size).toBe(0);
			});

			it('takes in each event once when HubSpot delivers a batch again while the first delivery is still being taken in (its retry after a timeout, concurrent requests)', async () => {
				const batch = [1, 2, 3].map(() => notification('contact.creation', { objectId: nextId(), changeFlag: 'CREATED', changeSource: 'CRM_UI' }));
				const bodies = [batch, batch.map((e) => ({ ...e, attemptNumber: 1 }))].map((b) => JSON.stringify(b));
				const before = (await ofWorkflow(HUBSPOT_FLOW)).length;
				const answers = await Promise.all(bodies.map((body) => postHubSpot(body, hubspotHeaders(body, hubspotUrl()))));
				expect(answers.map((a) => a.status)).toEqual([200, 200]);
				const ids = answers.flatMap((a) => a.body.decisionIds ?? []);
				expect([answers.reduce((n, a) => n + a.body.accepted!, 0), answers.reduce((n, a) => n + a.body.duplicates!, 0), new Set(ids).size]).toEqual([3, 3, 3]);
				// One execution per answer that took something in, each run to its end, every decision logged once.
				const runs = await newRuns(HUBSPOT_FLOW, before, answers.filter((a) => a.body.accepted! > 0).length);
				expect(runs.map((e) => e.status)).toEqual(answers.filter((a) => a.body.accepted! > 0).map(() => 'success'));
				expect((await loggedDecisions(ids)).map((d) => typeof d.loggedAt)).toEqual(['string', 'string', 'string']);
				const contacts = await Promise.all(batch.map((e) => hubspotContact(e.objectId)));
				expect(contacts.every((c) => typeof c === 'string')).toBe(true);
				const logged = (await Promise.all(contacts.map((contactId) => store.queryDecisions({ contactId })))).map((ds) => ds.filter((d) => d.reason !== 'DUPLICATE_EVENT').length);
				expect(logged).toEqual([1, 1, 1]);
			});

			it('checks an OAuth2 app’s deliveries with that app’s client secret (Authentication: OAuth2 App): taken in and logged; signed with the private app credential’s secret, refused', async () => {
				const objectId = nextId();
				const body = JSON.stringify([notification('contact.creation', { objectId, changeFlag: 'CREATED', changeSource: 'CRM_UI' })]);
				const before = (await ofWorkflow(HUBSPOT_OAUTH_FLOW)).length;
				const answer = await postHubSpot(body, hubspotHeaders(body, hubspotUrl('', HUBSPOT_OAUTH_FLOW), { secret: HUBSPOT_OAUTH_SECRET }), '', HUBSPOT_OAUTH_FLOW);
				expect([answer.status, answer.body]).toEqual([200, { accepted: 1, duplicates: 0, decisionIds: [expect.any(String)] }]);
				expect((await newRuns(HUBSPOT_OAUTH_FLOW, before, 1)).map((e) => e.status)).toEqual(['success']);
				expect((await loggedDecisions(answer.body.decisionIds!)).map((d) => [d.event.name, typeof d.loggedAt])).toEqual([['Contact Created', 'string']]);
				const other = JSON.stringify([notification('contact.creation', { objectId: nextId(), changeFlag: 'CREATED', changeSource: 'CRM_UI' })]);
				const refused = await postHubSpot(other, hubspotHeaders(other, hubspotUrl('', HUBSPOT_OAUTH_FLOW)), '', HUBSPOT_OAUTH_FLOW);
				expect([refused.status, refused.body.error]).toEqual([401, expect.stringMatching(/X-HubSpot-Signature-v3 does not match/)]);
			});

			it('never reaches the trigger with a body n8n itself refuses: JSON it cannot parse (422) and a body over n8n’s 16 MB limit (500); nothing stored, no execution', async () => {
				const objectId = nextId();
				const broken = `[{"eventId":${nextId()},"portalId":${PORTAL},"subscriptionType":"contact.creation","objectId":${objectId},`;
				const huge = JSON.stringify([notification('contact.propertyChange', { objectId, propertyName: 'notes', propertyValue: 'z'.repeat(17 * 1024 * 1024), changeSource: 'CRM_UI' })]);
				const answers: Answer[] = [];
				const started = await executionsDuring(HUBSPOT_FLOW, async () => {
					answers.push(await postHubSpot(broken, hubspotHeaders(broken, hubspotUrl())));
					answers.push(await postHubSpot(huge, hubspotHeaders(huge, hubspotUrl())));
				});
				// n8n answers both itself, before the trigger runs (webhook-helpers parseRequestBody → body-parser parseBody): its
				// UnprocessableRequestError for the JSON; raw-body's 413 for the size, which n8n's sendErrorResponse (not one
				// of its ResponseErrors) turns into a 500 in 2.41.1 and 1.123.81, so a sender retries it.
				expect(answers.map((a) => [a.status, a.contentType, typeof a.body])).toEqual([
					[422, expect.stringMatching(/^application\/json/), 'object'],
					[expect.any(Number), expect.stringMatching(/^application\/json/), 'object'],
				]);
				expect([413, 500]).toContain(answers[1].status);
				expect(started).toEqual([]);
				expect(await hubspotContact(objectId)).toBeUndefined();
			});

			it('refuses a body over 5 MB with 413 JSON, nothing stored and no execution (n8n’s own limit, 16 MB, is above it)', async () => {
				const objectId = nextId();
				const big = JSON.stringify([notification('contact.propertyChange', { objectId, propertyName: 'notes', propertyValue: 'x'.repeat(MAX_WEBHOOK_BYTES), changeSource: 'CRM_UI' })]);
				let answer: Answer | undefined;
				const started = await executionsDuring(HUBSPOT_FLOW, async () => {
					answer = await postHubSpot(big, hubspotHeaders(big, hubspotUrl()));
				});
				expect([answer!.status, answer!.contentType, answer!.body.error]).toEqual([413, expect.stringMatching(/^application\/json/), expect.stringMatching(/limit is 5242880/)]);
				expect(started).toEqual([]);
				expect(await hubspotContact(objectId)).toBeUndefined();
			});
		});

		describe('Source Segment (Webhooks Destination)', () => {
			it('takes in identify, track, page, group and alias as the Webhooks (Actions) destination sends them, one per request: 200 JSON, one execution each, every decision logged on one contact', async () => {
				const userId = `seg-user-${nextId()}`;
				const anonymousId = `anon-${nextId()}`;
				const email = `${userId}@example.com`;
				const events = [
					segmentEvent('identify', { userId, anonymousId, traits: { email, firstName: 'Ines', plan: 'pro' } }),
					segmentEvent('track', { userId, anonymousId, event: 'Product Viewed', properties: { product_id: 'sku-42', price: 19.99, currency: 'EUR' } }),
					segmentEvent('page', { userId, anonymousId, name: 'Pricing', properties: { path: '/pricing', url: 'https://shop.example.com/pricing', title: 'Pricing' } }),
					segmentEvent('group', { userId, anonymousId, groupId: `acct-${nextId()}`, traits: { name: 'Northwind', industry: 'Retail', employees: 420 } }),
					segmentEvent('alias', { userId, anonymousId, previousId: `old-${userId}` }),
				];
				const before = (await ofWorkflow(SEGMENT_FLOW)).length;
				const ids: string[] = [];
				for (const event of events) {
					const answer = await postSegment(JSON.stringify(event));
					expect([event.type, answer.status, answer.contentType, answer.body]).toEqual([event.type, 200, expect.stringMatching(/^application\/json/), { accepted: 1, duplicates: 0, decisionIds: [expect.any(String)] }]);
					ids.push(answer.body.decisionIds![0]);
				}
				const runs = await newRuns(SEGMENT_FLOW, before, events.length);
				expect(runs.map((e) => [e.mode, e.status])).toEqual(events.map(() => ['webhook', 'success']));
				const decisions = await loggedDecisions(ids);
				expect(decisions.map((d) => [d.event.type, d.event.eventId, typeof d.loggedAt, d.annotations.source])).toEqual(events.map((e) => [e.type, e.messageId, 'string', 'segment']));
				expect(new Set(decisions.map((d) => d.contactId)).size).toBe(1);
				expect(await store.getProfile(decisions[0].contactId)).toMatchObject({ email, traits: { plan: 'pro', groupId: events[3].groupId } });
				const resolved = await store.resolveIdentities([`userId:old-${userId}`]);
				expect(resolved.get(`userId:old-${userId}`)).toBe(decisions[0].contactId);
			});

			it('answers the same signed request sent again (a retry, or a replay however late) as a duplicate and starts nothing', async () => {
				const body = JSON.stringify(segmentEvent('track', { userId: `seg-replay-${nextId()}`, event: 'Order Completed', properties: { order_id: 'o-1', total: 30 } }));
				const before = (await ofWorkflow(SEGMENT_FLOW)).length;
				expect((await postSegment(body)).body).toMatchObject({ accepted: 1, duplicates: 0 });
				await newRuns(SEGMENT_FLOW, before, 1);
				let replay: Answer | undefined;
				const started = await executionsDuring(SEGMENT_FLOW, async () => {
					replay = await postSegment(body);
				});
				expect([replay!.status, replay!.body]).toEqual([200, { accepted: 0, duplicates: 1, decisionIds: [] }]);
				expect(started).toEqual([]);
			});

			it('refuses, with a 401 JSON error, nothing stored and no execution: another shared secret, a body changed after signing, no X-Signature', async () => {
				const userId = `seg-mallory-${nextId()}`;
				const body = JSON.stringify(segmentEvent('identify', { userId, traits: { email: `${userId}@example.com` } }));
				const cases: Array<[string, string, Record<string, string>, RegExp]> = [
					['another shared secret', body, { 'x-signature': createHmac('sha1', 'not-the-secret').update(body).digest('hex') }, /X-Signature does not match/],
					['a changed body', body.replace(userId, `${userId}-x`), { 'x-signature': segmentSignature(SEGMENT_SECRET, body) }, /X-Signature does not match/],
					['no X-Signature', body, {}, /Missing X-Signature/],
				];
				const answers: Answer[] = [];
				const started = await executionsDuring(SEGMENT_FLOW, async () => {
					for (const [, payload, headers] of cases) answers.push(await postSegment(payload, headers));
				});
				expect(answers.map((a, i) => [cases[i][0], a.status, a.contentType, a.body.error])).toEqual(
					cases.map(([name, , , message]) => [name, 401, expect.stringMatching(/^application\/json/), expect.stringMatching(message)]),
				);
				for (const a of answers) expect(JSON.stringify(a.body)).not.toContain(SEGMENT_SECRET);
				expect(started).toEqual([]);
				expect((await store.resolveIdentities([`userId:${userId}`, `userId:${userId}-x`])).size).toBe(0);
			});

			it('refuses a batched delivery, which Segment signs over its first event only, with a 401 that says to turn batching off; nothing stored, no execution', async () => {
				// With batching on, the destination posts the array of events and its X-Signature is the HMAC of the first
				// event alone (segmentio/action-destinations webhook/index.ts extendRequest: `payload.length ?
				// payload[0]['data'] : payload['data']`; its webhook.test.ts 'supports request signing with batched
				// events'). The other events are signed by nothing, so taking them in would take in whatever anyone appended.
				const users = [`seg-batch-${nextId()}`, `seg-batch-${nextId()}`];
				const events = users.map((userId) => segmentEvent('track', { userId, event: 'Cart Viewed', properties: { cart_id: `c-${userId}` } }));
				const body = JSON.stringify(events);
				let answer: Answer | undefined;
				const started = await executionsDuring(SEGMENT_FLOW, async () => {
					answer = await postSegment(body, { 'x-signature': segmentSignature(SEGMENT_SECRET, JSON.stringify(events[0])) });
				});
				expect([answer!.status, answer!.contentType]).toEqual([401, expect.stringMatching(/^application\/json/)]);
				expect(answer!.body.error).toMatch(/batch/i);
				expect(answer!.body.error).toMatch(/turn batching off/i);
				expect(answer!.body.error).toMatch(/Use X-Segment-Signature Header/);
				expect(answer!.body.error).not.toMatch(/same shared secret/);
				expect(started).toEqual([]);
				expect((await store.resolveIdentities(users.map((u) => `userId:${u}`))).size).toBe(0);
			});

			it('takes in a batch signed over the whole body in X-Segment-Signature (the destination’s Use X-Segment-Signature Header): 200 JSON, one execution, every event decided and logged', async () => {
				// action-destinations webhook/index.ts with useSegmentSignatureHeader: the HMAC of JSON.stringify of every
				// event's data, the body it posts, in X-Segment-Signature instead of X-Signature.
				const users = [`seg-whole-${nextId()}`, `seg-whole-${nextId()}`, `seg-whole-${nextId()}`];
				const events = users.map((userId) => segmentEvent('track', { userId, event: 'Cart Viewed', properties: { cart_id: `c-${userId}` } }));
				const body = JSON.stringify(events);
				const before = (await ofWorkflow(SEGMENT_FLOW)).length;
				const answer = await postSegment(body, { 'x-segment-signature': segmentSignature(SEGMENT_SECRET, body) });
				expect([answer.status, answer.body]).toEqual([200, { accepted: 3, duplicates: 0, decisionIds: users.map(() => expect.any(String)) }]);
				const runs = await newRuns(SEGMENT_FLOW, before, 1);
				expect(runs.map((e) => [e.mode, e.status])).toEqual([['webhook', 'success']]);
				const decisions = await loggedDecisions(answer.body.decisionIds!);
				expect(decisions.map((d) => [d.event.eventId, typeof d.loggedAt])).toEqual(events.map((e) => [e.messageId, 'string']));
			});

			it('refuses a body over 5 MB with 413 JSON, nothing stored and no execution', async () => {
				const userId = `seg-big-${nextId()}`;
				const body = JSON.stringify(segmentEvent('track', { userId, event: 'Huge', properties: { blob: 'y'.repeat(MAX_WEBHOOK_BYTES) } }));
				let answer: Answer | undefined;
				const started = await executionsDuring(SEGMENT_FLOW, async () => {
					answer = await postSegment(body);
				});
				expect([answer!.status, answer!.contentType, answer!.body.error]).toEqual([413, expect.stringMatching(/^application\/json/), expect.stringMatching(/limit is 5242880/)]);
				expect(started).toEqual([]);
				expect((await store.resolveIdentities([`userId:${userId}`])).size).toBe(0);
			});
		});
	});
}
