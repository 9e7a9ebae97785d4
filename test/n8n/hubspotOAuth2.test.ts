/**
 * The HubSpot OAuth2 app in real n8n execution: Nudge Trigger, Poll Trigger and Send with Authentication
 * "OAuth2 App" read the Nudge HubSpot OAuth2 API credential as n8n stores it after "Connect my account"
 * (client id/secret, and the tokens of the sign-in in `oauthTokenData`) and hand the engine one token
 * provider. The engine renews the access token itself at HubSpot's token endpoint (nock answers like
 * https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/refresh-oauth-token);
 * n8n's own OAuth2 request helper is not used by these nodes, so it is not exercised here.
 */
import nock from 'nock';
import { PollContext } from 'n8n-core';
import type { IDataObject, INode, INodeType } from 'n8n-workflow';
import { closeAllEngines } from '../../engine/registry';
import { hubspotSignature } from '../../engine/vendors/hubspot/signature';
import { fixture } from './fixtures';
import { additionalData, buildWorkflow, callWebhook, nodeTypes, nudgeNode, runWorkflow, type WorkflowJson } from './harness';

const HUBSPOT = 'https://api.hubapi.com';
const CLIENT_ID = 'n8n-app-client-id';
const OAUTH_SECRET = 'hubspot-oauth-client-secret-value';
const PRIVATE_SECRET = 'hubspot-private-client-secret-value';
const SIGNIN_ACCESS = 'n8n-signin-access';
const WEBHOOK_ID = '6f1c2b7a-3333-4c3d-9e8f-000000000016';
let refreshCounter = 0;

beforeAll(() => nock.disableNetConnect());
afterAll(async () => {
	await closeAllEngines();
	nock.enableNetConnect();
});
afterEach(() => nock.cleanAll());

function withHubSpot(node: INode): INode {
	return { ...node, credentials: { ...node.credentials, nudgeHubSpotApi: { id: '3', name: 'HubSpot' }, nudgeHubSpotOAuth2Api: { id: '5', name: 'HubSpot OAuth2' } } };
}

/** Both HubSpot credentials, with different secrets, so a test shows which one a node used. */
function oauthFixture() {
	const f = fixture();
	const refreshToken = `n8n-refresh-value-${++refreshCounter}`;
	f.credentials.nudgeHubSpotApi = { accessToken: 'private-app-token-value', clientSecret: PRIVATE_SECRET };
	f.credentials.nudgeHubSpotOAuth2Api = {
		grantType: 'authorizationCode',
		authUrl: 'https://app.hubspot.com/oauth/authorize',
		accessTokenUrl: `${HUBSPOT}/oauth/v1/token`,
		authentication: 'body',
		clientId: CLIENT_ID,
		clientSecret: OAUTH_SECRET,
		oauthTokenData: { access_token: SIGNIN_ACCESS, refresh_token: refreshToken, expires_in: 1800, token_type: 'bearer' },
	};
	return { f, refreshToken };
}

function tokenEndpoint(refreshToken: string, accessToken: string) {
	return nock(HUBSPOT)
		.post('/oauth/v1/token', (body: Record<string, string>) => body.grant_type === 'refresh_token' && body.refresh_token === refreshToken && body.client_id === CLIENT_ID && body.client_secret === OAUTH_SECRET)
		.reply(200, { token_type: 'bearer', refresh_token: refreshToken, access_token: accessToken, expires_in: 1800 });
}

describe('Nudge Send, Provider HubSpot, Authentication OAuth2 App', () => {
	const workflow: WorkflowJson = {
		nodes: [nudgeNode('Frequency Cap', 'nudgeFrequencyCap'), withHubSpot(nudgeNode('Send', 'nudgeSend', { provider: 'hubspot', authentication: 'oAuth2', hubspotAction: 'note' }))],
		connections: { 'Frequency Cap': { main: [[{ node: 'Send', type: 'main', index: 0 }]] } },
	};

	it('uses the sign-in’s access token, renews it once when HubSpot says it expired, and sends once', async () => {
		const { f, refreshToken } = oauthFixture();
		const api = nock(HUBSPOT)
			.post('/crm/v3/objects/notes')
			.matchHeader('authorization', `Bearer ${SIGNIN_ACCESS}`)
			.reply(401, { status: 'error', message: 'The OAuth token used to make this call expired 12 minute(s) ago.', correlationId: 'c-n8n', category: 'EXPIRED_AUTHENTICATION' })
			.post('/crm/v3/objects/notes')
			.matchHeader('authorization', 'Bearer renewed-by-nudge')
			.reply(201, { id: '66001', properties: {}, createdAt: '2026-11-21T09:00:01.000Z', updatedAt: '2026-11-21T09:00:01.000Z', archived: false });
		const token = tokenEndpoint(refreshToken, 'renewed-by-nudge');
		const { decision } = await f.engine.ingest({ type: 'track', name: 'Demo Requested', identities: { email: 'ola@example.com', hubspotId: '905' } }, { journey: 'nurture' });
		await f.engine.chooseChannel(decision);
		const run = await runWorkflow({ workflow, startNode: 'Frequency Cap', input: [[{ json: { decisionId: decision.decisionId } }]], credentials: f.credentials });
		expect(run.output('Send')[0].decision).toMatchObject({ status: 'sent', delivery: { provider: 'hubspot:note', providerMessageId: '66001', attempts: 1 } });
		api.done();
		token.done();
	});

	it('a refused refresh token goes to Failed with what to reconnect, and no secret in the decision', async () => {
		const { f, refreshToken } = oauthFixture();
		nock(HUBSPOT).post('/crm/v3/objects/notes').reply(401, { status: 'error', message: 'The OAuth token used to make this call expired 12 minute(s) ago.', correlationId: 'c-n8n-2', category: 'EXPIRED_AUTHENTICATION' });
		nock(HUBSPOT).post('/oauth/v1/token').reply(400, { status: 'BAD_REFRESH_TOKEN', message: 'missing or invalid refresh token' });
		const { decision } = await f.engine.ingest({ type: 'track', name: 'Demo Requested', identities: { email: 'pia@example.com', hubspotId: '906' } }, { journey: 'nurture' });
		await f.engine.chooseChannel(decision);
		const run = await runWorkflow({ workflow, startNode: 'Frequency Cap', input: [[{ json: { decisionId: decision.decisionId } }]], credentials: f.credentials });
		const failed = run.output('Send', 1);
		expect(failed).toHaveLength(1);
		expect(failed[0].decision).toMatchObject({ status: 'failed', delivery: { error: expect.stringMatching(/BAD_REFRESH_TOKEN.*Connect my account/) } });
		const logged = JSON.stringify(await f.engine.queryDecisions({}));
		for (const secret of [OAUTH_SECRET, refreshToken, SIGNIN_ACCESS]) expect(logged).not.toContain(secret);
	});
});

describe('Nudge Trigger, Source HubSpot, Authentication OAuth2 App', () => {
	const url = `http://localhost:5678/webhook/${WEBHOOK_ID}/events`;
	const workflow = (): WorkflowJson => ({
		nodes: [withHubSpot(nudgeNode('Nudge Trigger', 'nudgeTrigger', { source: 'hubspot', authentication: 'oAuth2', journey: 'sales' }, { webhookId: WEBHOOK_ID }))],
		connections: {},
	});
	const body = JSON.stringify([
		{ eventId: 4001, subscriptionId: 25, portalId: 62515, appId: 54321, occurredAt: Date.now(), subscriptionType: 'contact.creation', attemptNumber: 0, objectId: 711, changeFlag: 'CREATED', changeSource: 'CRM_UI' },
	]);
	const headers = (secret: string) => {
		const ts = String(Date.now());
		return { 'x-hubspot-signature-v3': hubspotSignature(secret, 'POST', url, body, ts), 'x-hubspot-request-timestamp': ts };
	};

	it('checks the v3 signature with the OAuth2 app’s client secret (not the private app credential’s)', async () => {
		const { f } = oauthFixture();
		const refused = await callWebhook({ workflow: workflow(), nodeName: 'Nudge Trigger', rawBody: body, headers: headers(PRIVATE_SECRET), credentials: f.credentials });
		expect(refused.status).toBe(401);
		const accepted = await callWebhook({ workflow: workflow(), nodeName: 'Nudge Trigger', rawBody: body, headers: headers(OAUTH_SECRET), credentials: f.credentials });
		expect(accepted.status).toBe(200);
		expect(accepted.result.workflowData![0].map((item) => (item.json.event as IDataObject).name)).toEqual(['Contact Created']);
	});
});

describe('Nudge Poll Trigger, Source HubSpot, Authentication OAuth2 App', () => {
	function poll(credentials: ReturnType<typeof oauthFixture>['f']['credentials']) {
		const workflow = buildWorkflow({ nodes: [withHubSpot(nudgeNode('Poll', 'nudgePollTrigger', { source: 'hubspot', authentication: 'oAuth2', hubspotObject: 'deals', journey: 'sales' }))], connections: {} });
		const node = workflow.getNode('Poll')!;
		return (nodeTypes.getByNameAndVersion(node.type, 1) as INodeType).poll!.call(new PollContext(workflow, node, additionalData(credentials), 'trigger', 'activate'));
	}

	it('searches with the OAuth2 app’s token', async () => {
		const { f } = oauthFixture();
		const modified = Date.now() - 5 * 60_000;
		await f.engine.store.setCursor('hubspot:deals', JSON.stringify({ at: modified - 600_000, id: '' }), undefined);
		// https://developers.hubspot.com/docs/api/crm/search
		const search = nock(HUBSPOT)
			.post('/crm/v3/objects/deals/search')
			.matchHeader('authorization', `Bearer ${SIGNIN_ACCESS}`)
			.reply(200, { total: 1, results: [{ id: '3301', properties: { hs_object_id: '3301', dealname: 'Acme renewal', dealstage: 'contractsent', hs_lastmodifieddate: new Date(modified).toISOString() }, createdAt: new Date(modified).toISOString(), updatedAt: new Date(modified).toISOString(), archived: false }] });
		const items = await poll(f.credentials);
		expect(items![0].map((item) => (item.json.event as IDataObject).identities)).toEqual([{ hubspotId: 'deal:3301' }]);
		search.done();
	});

	it('a credential that was never connected fails the check, naming what to do', async () => {
		const { f } = oauthFixture();
		f.credentials.nudgeHubSpotOAuth2Api = { clientId: CLIENT_ID, clientSecret: OAUTH_SECRET };
		await expect(poll(f.credentials)).rejects.toThrow(/has no refresh token\. Reconnect the HubSpot OAuth2 app/);
	});
});
