/**
 * A Salesforce connection through `jsforce`, authorised with OAuth 2.0 either by refresh token
 * (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_refresh_token_flow.htm) or by
 * JWT bearer (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm).
 * An expired session (401 INVALID_SESSION_ID) is renewed by jsforce through `refreshFn` and the call
 * retried once. API usage from the `Sforce-Limit-Info` header is read after every call.
 */
import { createHash, createSign } from 'node:crypto';
import type { Connection } from 'jsforce';
import { NudgeError } from '../../errors';

/** jsforce, loaded on first use, not when a node loads: a node that never uses it does not pay for it (docs/benchmarks.md, bench/load). */
const jsforce = () => require('jsforce') as typeof import('jsforce');

export const SALESFORCE_API_VERSION = '62.0';

export interface SalesforceSettings {
	/** `refresh` (refresh token) or `jwt` (JWT bearer: connected app certificate + user name). */
	auth: 'refresh' | 'jwt';
	/** https://login.salesforce.com, https://test.salesforce.com or your My Domain login URL. */
	loginUrl?: string;
	clientId: string;
	clientSecret?: string;
	refreshToken?: string;
	/** PEM private key matching the certificate uploaded to the connected app (JWT bearer). */
	privateKey?: string;
	username?: string;
	/** Known instance URL (optional: the token response gives it). */
	instanceUrl?: string;
}

type TokenResponse = { access_token: string; instance_url: string };

function base64url(input: string | Buffer): string {
	return Buffer.from(input).toString('base64url');
}

/** The signed assertion of the JWT bearer flow: iss = client id, sub = user name, aud = login URL, RS256. */
export function jwtAssertion(settings: SalesforceSettings, now = Date.now()): string {
	const header = base64url(JSON.stringify({ alg: 'RS256' }));
	const claims = base64url(JSON.stringify({ iss: settings.clientId, sub: settings.username, aud: loginUrl(settings), exp: Math.floor(now / 1000) + 180 }));
	const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(settings.privateKey!);
	return `${header}.${claims}.${base64url(signature)}`;
}

function loginUrl(settings: SalesforceSettings): string {
	return (settings.loginUrl || 'https://login.salesforce.com').replace(/\/+$/, '');
}

export function checkSalesforceSettings(settings: SalesforceSettings): void {
	const missing: string[] = [];
	if (!settings.clientId) missing.push('consumer key (client id)');
	if (settings.auth === 'jwt') {
		if (!settings.privateKey) missing.push('private key');
		if (!settings.username) missing.push('user name');
	} else if (!settings.refreshToken) missing.push('refresh token');
	if (missing.length) {
		throw new NudgeError('INVALID_CONFIG', `The Salesforce credential is missing its ${missing.join(', ')}: see docs/integrations.md#salesforce`);
	}
}

/** Asks Salesforce for a new access token; the error names what to fix and never carries a secret. */
async function requestToken(settings: SalesforceSettings): Promise<TokenResponse> {
	const oauth2 = new (jsforce().OAuth2)({ clientId: settings.clientId, clientSecret: settings.clientSecret, loginUrl: loginUrl(settings) });
	try {
		const response =
			settings.auth === 'jwt'
				? await oauth2.requestToken({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jwtAssertion(settings) })
				: await oauth2.refreshToken(settings.refreshToken!);
		return response as TokenResponse;
	} catch (error) {
		const e = error as { name?: string; message?: string; errorCode?: string };
		const code = e.errorCode ?? e.name;
		throw new NudgeError('INVALID_CONFIG', `Salesforce refused to sign Nudge in (${code ?? 'error'}: ${e.message ?? ''}). Check the Salesforce credential (consumer key, ${settings.auth === 'jwt' ? 'certificate and user name' : 'refresh token'})`, [], 503);
	}
}

/** An authorised jsforce connection that renews its own session when it expires. */
export async function connectSalesforce(settings: SalesforceSettings): Promise<Connection> {
	checkSalesforceSettings(settings);
	const token = await requestToken(settings);
	const conn = new (jsforce().Connection)({
		version: SALESFORCE_API_VERSION,
		instanceUrl: token.instance_url || settings.instanceUrl,
		accessToken: token.access_token,
		refreshFn: (_conn, callback) => {
			requestToken(settings).then(
				(fresh) => callback(null, fresh.access_token, fresh as never),
				(error: Error) => callback(error),
			);
		},
	});
	return conn;
}

/** API calls used / allowed in the org's rolling 24 hours, from the last Sforce-Limit-Info header. */
export function apiUsage(conn: Connection): { used: number; limit: number } | undefined {
	return conn.limitInfo?.apiUsage;
}

/** Refuses to spend the org's last API calls on marketing: above `share` of the limit, polling and sending pause. */
export function checkApiBudget(conn: Connection, share: number): void {
	const usage = apiUsage(conn);
	if (usage && usage.limit > 0 && usage.used / usage.limit >= share) {
		throw new NudgeError(
			'CONFLICT',
			`Salesforce API usage is at ${usage.used} of ${usage.limit} calls in the last 24 hours (Sforce-Limit-Info); Nudge pauses until it is below ${Math.round(share * 100)}% so your other integrations keep working`,
			[],
			429,
		);
	}
}

/** One connection per settings, made on first use and reused (it renews its own session). */
export function salesforceConnector(settings: SalesforceSettings): () => Promise<Connection> {
	let connection: Promise<Connection> | undefined;
	return () =>
		(connection ??= connectSalesforce(settings).catch((error: unknown) => {
			connection = undefined;
			throw error;
		}));
}

const connectors = new Map<string, () => Promise<Connection>>();

/** The process-wide connector for one set of settings (n8n calls each poll afresh; the session is kept). */
export function sharedSalesforceConnector(settings: SalesforceSettings): () => Promise<Connection> {
	const key = createHash('sha256').update(JSON.stringify(settings)).digest('hex');
	let connector = connectors.get(key);
	if (!connector) connectors.set(key, (connector = salesforceConnector(settings)));
	return connector;
}

/** Credential fields as both platforms store them (text, '' when unset) → sign-in settings. */
export function salesforceSettingsFrom(fields: Record<string, string | undefined>): SalesforceSettings {
	return {
		auth: fields.auth === 'jwt' ? 'jwt' : 'refresh',
		loginUrl: fields.loginUrl || undefined,
		clientId: fields.clientId ?? '',
		clientSecret: fields.clientSecret || undefined,
		refreshToken: fields.refreshToken || undefined,
		username: fields.username || undefined,
		privateKey: fields.privateKey || undefined,
	};
}
