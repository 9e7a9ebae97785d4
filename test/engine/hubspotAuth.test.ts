/**
 * HubSpot access through an OAuth2 app (engine/vendors/hubspot/auth.ts): the access token is renewed with the
 * refresh token, cached until shortly before it expires, renewed once on 401, and a refusal says what to
 * fix without repeating a secret. nock answers like HubSpot's token endpoint
 * (https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/refresh-oauth-token:
 * 200 `{token_type, refresh_token, access_token, expires_in}`; 400 `{status: "BAD_REFRESH_TOKEN", message}`)
 * and like the CRM APIs with an expired token (401 `{status, message, correlationId, category:
 * "EXPIRED_AUTHENTICATION"}`, https://developers.hubspot.com/docs/api/error-handling).
 */
import nock from 'nock';
import { deliver, type OutboundMessage } from '../../engine/deliver/provider';
import { hubspotAuthFrom, HubSpotOAuthTokens, type HubSpotAuthSettings } from '../../engine/vendors/hubspot';
import { HubSpotPollSource } from '../../engine/vendors/hubspot/poll';
import { HubSpotSender } from '../../engine/vendors/hubspot/send';

const HUBSPOT = 'https://api.hubapi.com';
const CLIENT_ID = '5f3c1d2e-0000-4b5c-9d8e-clientid';
const APP_CLIENT = 'hs-client-value-91ab';
let refreshCounter = 0;

/** Each test gets its own refresh token, so the process-wide token cache never carries over. */
function oauth(extra: Partial<HubSpotAuthSettings> = {}): HubSpotAuthSettings {
	refreshCounter++;
	return { auth: 'oauth2', clientId: CLIENT_ID, clientSecret: APP_CLIENT, refreshToken: `hs-refresh-value-${refreshCounter}`, ...extra };
}

/** HubSpot's token endpoint: checks the form and answers with a new access token. */
function tokenEndpoint(settings: HubSpotAuthSettings, accessToken: string, expiresIn = 1800) {
	return nock(HUBSPOT)
		.post('/oauth/v1/token', (body: Record<string, string>) => body.grant_type === 'refresh_token' && body.client_id === CLIENT_ID && body.client_secret === APP_CLIENT && body.refresh_token === settings.refreshToken)
		.matchHeader('content-type', /application\/x-www-form-urlencoded/)
		.reply(200, { token_type: 'bearer', refresh_token: settings.refreshToken, access_token: accessToken, expires_in: expiresIn });
}

const expired = (correlationId: string) => ({
	status: 'error',
	message: 'The OAuth token used to make this call expired 2 minute(s) ago.',
	correlationId,
	category: 'EXPIRED_AUTHENTICATION',
});

const task = (id: string) => ({ id, properties: {}, createdAt: '2026-11-21T09:00:01.000Z', updatedAt: '2026-11-21T09:00:01.000Z', archived: false });

const message: OutboundMessage = {
	decisionId: 'd_oauth_1',
	journey: 'sales',
	channel: 'sales_task',
	contact: { contactId: 'c_1', email: 'rae@example.com', traits: { hubspot_owner_id: '7001' }, identities: { hubspotId: ['501'] } },
	event: { eventId: 'hubspot:62515:1001', source: 'hubspot', type: 'track', name: 'Demo Requested', occurredAt: '2026-11-21T09:00:00.000Z' },
	policyVersion: 'p@1',
};

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => nock.enableNetConnect());

describe('HubSpotOAuthTokens', () => {
	test('gets an access token with the refresh token and caches it until shortly before it expires', async () => {
		const settings = oauth();
		const clock = { now: 1_000_000 };
		const tokens = new HubSpotOAuthTokens(settings, () => clock.now);
		const first = tokenEndpoint(settings, 'access-one', 1800);
		expect(await tokens.token()).toBe('access-one');
		first.done();
		// Cached: no request (nock would refuse one) within the token's life minus the renewal margin.
		clock.now += 24 * 60_000;
		expect(await tokens.token()).toBe('access-one');
		// Five minutes before expiry it is renewed.
		clock.now += 60_000 + 1;
		const second = tokenEndpoint(settings, 'access-two', 1800);
		expect(await tokens.token()).toBe('access-two');
		second.done();
	});

	test('concurrent callers share one renewal; a 401 on a token already replaced does not renew again', async () => {
		const settings = oauth({ accessToken: 'stale-access' });
		const tokens = new HubSpotOAuthTokens(settings);
		// A token issued earlier (n8n keeps the last one) is used until HubSpot refuses it.
		expect(await tokens.token()).toBe('stale-access');
		const scope = tokenEndpoint(settings, 'fresh-access');
		const renewed = await Promise.all([tokens.renew('stale-access'), tokens.renew('stale-access'), tokens.renew('stale-access')]);
		expect(renewed).toEqual(['fresh-access', 'fresh-access', 'fresh-access']);
		scope.done();
		expect(await tokens.renew('stale-access')).toBe('fresh-access');
	});

	test('a token issued earlier with a known expiry (n8n’s n8n_expires_at) is renewed shortly before it, without a 401 first', async () => {
		const clock = { now: 5_000_000 };
		const settings = hubspotAuthFrom('oauth2', {
			clientId: CLIENT_ID,
			clientSecret: APP_CLIENT,
			oauthTokenData: { access_token: 'signin-access', refresh_token: `hs-refresh-value-expiry`, expires_in: 1800, n8n_expires_at: String(clock.now + 10 * 60_000) },
		});
		expect(settings.accessTokenExpiresAt).toBe(clock.now + 10 * 60_000);
		const tokens = new HubSpotOAuthTokens(settings, () => clock.now);
		expect(await tokens.token()).toBe('signin-access');
		clock.now += 5 * 60_000 + 1;
		const scope = tokenEndpoint(settings, 'access-after-signin');
		expect(await tokens.token()).toBe('access-after-signin');
		scope.done();
	});

	test('a refused refresh token: a clear error naming what to fix, never a secret', async () => {
		const settings = oauth();
		nock(HUBSPOT).post('/oauth/v1/token').reply(400, { status: 'BAD_REFRESH_TOKEN', message: 'missing or invalid refresh token' });
		const error = await new HubSpotOAuthTokens(settings).token().catch((e: Error) => e);
		expect(error).toMatchObject({ code: 'INVALID_CONFIG', retryable: false, status: 400 });
		expect((error as Error).message).toMatch(/HubSpot refused to renew .*HTTP 400 BAD_REFRESH_TOKEN: missing or invalid refresh token.*Reconnect the HubSpot OAuth2 app.*Connect my account.*refresh token/);
		for (const secret of [APP_CLIENT, settings.refreshToken!]) expect((error as Error).message).not.toContain(secret);
	});

	test('HubSpot down (5xx) while renewing is a retryable failure', async () => {
		nock(HUBSPOT).post('/oauth/v1/token').reply(503, { status: 'error', message: 'Service Unavailable' });
		await expect(new HubSpotOAuthTokens(oauth()).token()).rejects.toMatchObject({ retryable: true, status: 503, message: expect.stringMatching(/Nudge tries again/) });
	});

	test('an answer past 64 KB is not read: a retryable failure that says so (a token URL that is not HubSpot, say)', async () => {
		nock(HUBSPOT).post('/oauth/v1/token').reply(200, JSON.stringify({ access_token: 'x', pad: ' '.repeat(100 * 1024) }), { 'content-type': 'application/json' });
		await expect(new HubSpotOAuthTokens(oauth()).token()).rejects.toMatchObject({ retryable: true, status: 200, message: expect.stringMatching(/longer than 65536 bytes, so it was not read; Nudge tries again/) });
	});

	test('a refusal too long to read is still a refusal: not retried, with the advice to reconnect', async () => {
		nock(HUBSPOT).post('/oauth/v1/token').reply(400, `<html>${' '.repeat(100 * 1024)}</html>`, { 'content-type': 'text/html' });
		await expect(new HubSpotOAuthTokens(oauth()).token()).rejects.toMatchObject({ retryable: false, status: 400, message: expect.stringMatching(/HubSpot refused to renew .*HTTP 400.*Reconnect the HubSpot OAuth2 app/) });
	});

	test('missing fields are named before any request', () => {
		expect(() => new HubSpotOAuthTokens({ auth: 'oauth2', clientId: CLIENT_ID })).toThrow(/has no client secret, refresh token/);
	});

	test('both platforms’ credential fields map to the same settings', () => {
		// n8n's OAuth2 credential keeps the tokens of the last sign-in in oauthTokenData.
		expect(hubspotAuthFrom('oauth2', { clientId: 'id', clientSecret: 's', oauthTokenData: { access_token: 'a', refresh_token: 'r', expires_in: 1800 } })).toEqual({
			auth: 'oauth2',
			clientId: 'id',
			clientSecret: 's',
			refreshToken: 'r',
			accessToken: 'a',
		});
		// Node-RED's config node has the refresh token as a credential field.
		expect(hubspotAuthFrom('oauth2', { clientId: 'id', clientSecret: 's', refreshToken: 'r' })).toMatchObject({ auth: 'oauth2', refreshToken: 'r', accessToken: undefined });
		expect(hubspotAuthFrom(undefined, { accessToken: ' pat ', clientSecret: 's' })).toEqual({ auth: 'privateApp', accessToken: 'pat' });
	});
});

describe('HubSpot calls with an OAuth2 app', () => {
	test('sender: an expired token (401) is renewed once and the call retried, in one delivery attempt', async () => {
		const settings = oauth({ accessToken: 'expired-access' });
		const api = nock(HUBSPOT)
			.post('/crm/v3/objects/tasks')
			.matchHeader('authorization', 'Bearer expired-access')
			.reply(401, expired('c-exp'))
			.post('/crm/v3/objects/tasks')
			.matchHeader('authorization', 'Bearer renewed-access')
			.reply(201, task('94400'));
		const token = tokenEndpoint(settings, 'renewed-access');
		const result = await deliver(new HubSpotSender({ auth: settings, action: 'task' }), message, 'd_oauth_1');
		expect(result).toEqual({ ok: true, attempts: 1, providerMessageId: '94400' });
		api.done();
		token.done();
	});

	test('sender: a second 401 after renewing is not renewed again; the failure keeps HubSpot’s message', async () => {
		const settings = oauth({ accessToken: 'expired-access' });
		nock(HUBSPOT).post('/crm/v3/objects/tasks').twice().reply(401, { status: 'error', message: 'The access token is missing the required scopes.', correlationId: 'c-2', category: 'MISSING_SCOPES' });
		const token = tokenEndpoint(settings, 'renewed-access');
		const result = await deliver(new HubSpotSender({ auth: settings, action: 'task' }), message, 'd_oauth_2');
		token.done();
		expect(result).toMatchObject({ ok: false, attempts: 1, httpStatus: 401, error: expect.stringContaining('MISSING_SCOPES') });
		expect(nock.pendingMocks()).toEqual([]);
	});

	test('sender: a refused refresh fails the send at once with the fix, no secret in the result', async () => {
		const settings = oauth();
		nock(HUBSPOT).post('/oauth/v1/token').reply(400, { status: 'BAD_REFRESH_TOKEN', message: 'missing or invalid refresh token' });
		const result = await deliver(new HubSpotSender({ auth: settings, action: 'task' }), message, 'd_oauth_3', { sleep: async () => undefined });
		expect(result).toMatchObject({ ok: false, attempts: 1, httpStatus: 400, error: expect.stringMatching(/^hubspot:task: HubSpot refused to renew.*Reconnect/) });
		for (const secret of [APP_CLIENT, settings.refreshToken!]) expect(JSON.stringify(result)).not.toContain(secret);
	});

	test('a private app token cannot renew: its 401 stands', async () => {
		nock(HUBSPOT).post('/crm/v3/objects/tasks').once().reply(401, expired('c-pat'));
		const result = await deliver(new HubSpotSender({ auth: { auth: 'privateApp', accessToken: 'pat-value-401' }, action: 'task' }), message, 'd_oauth_4');
		expect(result).toMatchObject({ ok: false, attempts: 1, httpStatus: 401 });
	});

	test('polling: the CRM search gets a token from the refresh token first', async () => {
		const settings = oauth();
		const token = tokenEndpoint(settings, 'poll-access');
		// https://developers.hubspot.com/docs/api/crm/search — an empty page.
		const search = nock(HUBSPOT).post('/crm/v3/objects/contacts/search').matchHeader('authorization', 'Bearer poll-access').reply(200, { total: 0, results: [] });
		const page = await new HubSpotPollSource({ auth: settings, object: 'contacts' }).fetch({ at: 0, id: '' }, Date.now(), 100);
		expect(page).toEqual({ records: [], more: false });
		token.done();
		search.done();
	});
});
