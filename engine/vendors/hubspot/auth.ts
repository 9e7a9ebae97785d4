/**
 * Access to a HubSpot account, one way for every HubSpot caller (senders, polling): an access-token
 * provider that is either a private app's token (fixed) or an OAuth2 app's tokens, renewed with the
 * refresh token at HubSpot's token endpoint
 * (https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/refresh-oauth-token):
 * `POST /oauth/v1/token`, form-encoded `grant_type=refresh_token, client_id, client_secret,
 * refresh_token` → `{access_token, refresh_token, expires_in, token_type}`. The access token is cached
 * until shortly before it expires; a 401 renews it once and the call is retried. Secrets never appear in
 * an error message.
 */
import { createHash } from 'node:crypto';
import type { Client } from '@hubspot/api-client';
import { MAX_ANSWER_BYTES, readAnswer } from '../../deliver/answer';
import { NudgeError } from '../../errors';
import { HUBSPOT_TIMEOUT_MS, SEND_BOUNDS, withBoundedHttp, type HubSpotHttpBounds } from './http';

export const HUBSPOT_TOKEN_URL = 'https://api.hubapi.com/oauth/v1/token';

/** How long before its stated expiry a cached access token is renewed (HubSpot's last 30 minutes). */
const RENEW_MARGIN_MS = 5 * 60_000;

export interface HubSpotAuthSettings {
	/** `privateApp`: a private app's access token; `oauth2`: an OAuth2 app installed in the account. */
	auth: 'privateApp' | 'oauth2';
	/** The private app's token, or an OAuth access token already issued (used until HubSpot refuses it). */
	accessToken?: string;
	/** Epoch ms when that OAuth access token expires, when known (n8n records it as `n8n_expires_at`). */
	accessTokenExpiresAt?: number;
	clientId?: string;
	clientSecret?: string;
	refreshToken?: string;
	/** Test servers (nock) or a proxy. */
	tokenUrl?: string;
}

/** One interface for both kinds of HubSpot access, so the callers have one path. */
export interface AccessTokenProvider {
	/** A token to call HubSpot with now. */
	token(): Promise<string>;
	/** HubSpot refused `rejected` (401): a renewed token, or undefined when this kind cannot renew. */
	renew(rejected: string): Promise<string | undefined>;
}

/** A failure to get a token: `retryable` when HubSpot or the network failed, not the credential. */
export class HubSpotAuthError extends NudgeError {
	constructor(
		message: string,
		readonly retryable: boolean,
		readonly status?: number,
	) {
		super('INVALID_CONFIG', message, [], retryable ? 503 : 400);
	}
}

const fingerprint = (...parts: (string | undefined)[]) => createHash('sha256').update(parts.map((p) => p ?? '').join('\n')).digest('hex').slice(0, 16);

/** What to fix when the OAuth2 app's tokens cannot be renewed, for n8n and Node-RED users alike. */
const RECONNECT =
	'Reconnect the HubSpot OAuth2 app: in n8n open the Nudge HubSpot OAuth2 API credential and press “Connect my account” again; in Node-RED paste a new refresh token (and check the client ID and client secret) in the HubSpot config node';

export function checkHubSpotAuth(settings: HubSpotAuthSettings): void {
	if (settings.auth === 'oauth2') {
		const missing = [!settings.clientId && 'client ID', !settings.clientSecret && 'client secret', !settings.refreshToken && 'refresh token'].filter(Boolean);
		if (missing.length) {
			throw new HubSpotAuthError(`The HubSpot OAuth2 app credential has no ${missing.join(', ')}. ${RECONNECT}`, false);
		}
	} else if (!settings.accessToken?.trim()) {
		throw new HubSpotAuthError('The HubSpot credential has no private app access token: create a private app in HubSpot (Settings → Integrations → Private Apps) and paste its token', false);
	}
}

class PrivateAppToken implements AccessTokenProvider {
	constructor(private readonly accessToken: string) {}
	async token() {
		return this.accessToken;
	}
	async renew() {
		return undefined;
	}
}

interface TokenResponse {
	access_token?: string;
	refresh_token?: string;
	expires_in?: number;
	token_type?: string;
	status?: string;
	message?: string;
	category?: string;
}

/** HubSpot's answer as a token response; anything else (not JSON, not an object) as none. */
function parseToken(text: string): TokenResponse {
	try {
		const body = JSON.parse(text) as unknown;
		return body && typeof body === 'object' && !Array.isArray(body) ? (body as TokenResponse) : {};
	} catch {
		return {};
	}
}

/** An OAuth2 app's access token, renewed with the refresh token; one renewal at a time. */
export class HubSpotOAuthTokens implements AccessTokenProvider {
	private current?: { token: string; renewAt: number };
	private renewing?: Promise<string>;
	private refreshToken: string;

	constructor(
		private readonly settings: HubSpotAuthSettings,
		private readonly now: () => number = Date.now,
	) {
		checkHubSpotAuth(settings);
		this.refreshToken = settings.refreshToken!;
		// A token issued earlier (n8n keeps the last one): renewed shortly before its known expiry, else used until HubSpot refuses it.
		if (settings.accessToken) {
			const expiresAt = settings.accessTokenExpiresAt;
			this.current = { token: settings.accessToken, renewAt: expiresAt !== undefined && Number.isFinite(expiresAt) ? expiresAt - RENEW_MARGIN_MS : Infinity };
		}
	}

	async token(): Promise<string> {
		if (this.current && this.now() < this.current.renewAt) return this.current.token;
		return this.refresh();
	}

	async renew(rejected: string): Promise<string> {
		// Another call already renewed the token HubSpot refused: use the new one.
		if (this.current && this.current.token !== rejected && this.now() < this.current.renewAt) return this.current.token;
		return this.refresh();
	}

	private refresh(): Promise<string> {
		this.renewing ??= this.requestToken().finally(() => {
			this.renewing = undefined;
		});
		return this.renewing;
	}

	private async requestToken(): Promise<string> {
		const { clientId, clientSecret } = this.settings;
		let response: Response;
		try {
			response = await fetch(this.settings.tokenUrl || HUBSPOT_TOKEN_URL, {
				method: 'POST',
				headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
				body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId!, client_secret: clientSecret!, refresh_token: this.refreshToken }),
				signal: AbortSignal.timeout(HUBSPOT_TIMEOUT_MS),
			});
		} catch (error) {
			throw new HubSpotAuthError(`Could not reach HubSpot to renew the access token (${(error as Error).message}); Nudge tries again`, true);
		}
		const text = await readAnswer(response).catch((error: Error) => {
			throw new HubSpotAuthError(`Could not read HubSpot's answer to renew the access token (${error.message}); Nudge tries again`, true);
		});
		// A success too long to read is retried; a refusal too long to read is still a refusal (its status says so).
		if (text === undefined && response.ok) throw new HubSpotAuthError(`HubSpot's answer to renew the access token was longer than ${MAX_ANSWER_BYTES} bytes, so it was not read; Nudge tries again`, true, response.status);
		const body = text === undefined ? {} : parseToken(text);
		if (!response.ok || !body.access_token) {
			const said = [body.status ?? body.category, body.message].filter(Boolean).join(': ');
			const detail = `HubSpot answered HTTP ${response.status}${said ? ` ${said}` : ''}`;
			if (response.status === 429 || response.status >= 500) {
				throw new HubSpotAuthError(`Could not renew the HubSpot access token (${detail}); Nudge tries again`, true, response.status);
			}
			throw new HubSpotAuthError(`HubSpot refused to renew Nudge’s access to your HubSpot account (${detail}). ${RECONNECT}`, false, response.status);
		}
		const lifetimeMs = Math.max(0, Number(body.expires_in ?? 1800) * 1000);
		this.current = { token: body.access_token, renewAt: this.now() + lifetimeMs - Math.min(RENEW_MARGIN_MS, lifetimeMs / 2) };
		// HubSpot's refresh tokens do not rotate today; if one ever comes back different, use it from now on.
		if (body.refresh_token) this.refreshToken = body.refresh_token;
		return body.access_token;
	}
}

/** Names one HubSpot account's access without revealing a secret (rate limiters and token caches are per account). */
export function hubspotAccountKey(settings: HubSpotAuthSettings): string {
	return settings.auth === 'oauth2'
		? fingerprint('oauth2', settings.clientId, settings.clientSecret, settings.refreshToken, settings.tokenUrl)
		: fingerprint('private', settings.accessToken);
}

const providers = new Map<string, AccessTokenProvider>();

/**
 * The process-wide token provider for one HubSpot account (n8n builds its senders afresh each execution;
 * the cached access token is kept). Checks the settings first, with a message naming what is missing.
 */
export function hubspotTokens(settings: HubSpotAuthSettings): AccessTokenProvider {
	checkHubSpotAuth(settings);
	const key = hubspotAccountKey(settings);
	let provider = providers.get(key);
	if (!provider) {
		provider = settings.auth === 'oauth2' ? new HubSpotOAuthTokens(settings) : new PrivateAppToken(settings.accessToken!);
		providers.set(key, provider);
	}
	return provider;
}

/** Credential fields as both platforms keep them → settings (n8n's OAuth2 credential nests its tokens). */
export function hubspotAuthFrom(auth: string | undefined, fields: Record<string, unknown>): HubSpotAuthSettings {
	const text = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim() : undefined);
	if (auth !== 'oauth2' && auth !== 'oAuth2') return { auth: 'privateApp', accessToken: text(fields.accessToken) };
	const tokenData = (typeof fields.oauthTokenData === 'object' && fields.oauthTokenData ? fields.oauthTokenData : {}) as Record<string, unknown>;
	return {
		auth: 'oauth2',
		clientId: text(fields.clientId),
		clientSecret: text(fields.clientSecret),
		refreshToken: text(fields.refreshToken) ?? text(tokenData.refresh_token),
		accessToken: text(tokenData.access_token),
		...(Number(tokenData.n8n_expires_at) > 0 ? { accessTokenExpiresAt: Number(tokenData.n8n_expires_at) } : {}),
	};
}

/** A status HubSpot answered, from `@hubspot/api-client`'s errors. */
function statusOf(error: unknown): number | undefined {
	const code = (error as { code?: unknown })?.code;
	return typeof code === 'number' ? code : undefined;
}

/**
 * Runs one HubSpot API call with a client for the current token; on 401 renews the token once and
 * retries (a private app's token cannot renew: the 401 stands). The library's own retries are off.
 * `pick` chooses the library's API object, which answers through Nudge's bounded HTTP layer (./http.ts):
 * each exchange within `bounds` (by default a send's: 15 s, 64 KB of an answer).
 */
export class HubSpotApi {
	private client?: { token: string; client: Client };

	constructor(
		readonly tokens: AccessTokenProvider,
		private readonly basePath?: string,
		private readonly bounds: HubSpotHttpBounds = SEND_BOUNDS,
	) {}

	private clientFor(token: string): Client {
		if (this.client?.token !== token) {
			// Loaded on first use, not when a node loads: a node that never uses it does not pay for it (docs/benchmarks.md, bench/load).
			const { Client } = require('@hubspot/api-client') as typeof import('@hubspot/api-client');
			this.client = { token, client: new Client({ accessToken: token, numberOfApiCallRetries: 0, ...(this.basePath ? { basePath: this.basePath } : {}) }) };
		}
		return this.client.client;
	}

	async call<A, T>(pick: (client: Client) => A, request: (api: A) => Promise<T>): Promise<T> {
		const bounded = (token: string) => withBoundedHttp(pick(this.clientFor(token)), this.bounds);
		const token = await this.tokens.token();
		try {
			return await request(bounded(token));
		} catch (error) {
			if (statusOf(error) !== 401) throw error;
			const renewed = await this.tokens.renew(token);
			if (!renewed) throw error;
			return request(bounded(renewed));
		}
	}
}
