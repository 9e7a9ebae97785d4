import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { DECISION_STATUSES, REASON_CODES } from '../engine/audit/schema';
import { CHANNELS } from '../engine/channels';
import { NudgeError, redactUrl } from '../engine/errors';
import { DecisionConsole, parseConsoleParams } from '../engine/audit/queries';

/** The page's own files, shipped in the package next to this module (gulp copies them into dist). */
const PUBLIC_DIR = join(__dirname, 'public');
/** chart.js's browser build, served from the installed package so the page works offline. */
const chartJsFile = () => join(dirname(require.resolve('chart.js')), 'chart.umd.min.js');

const STATIC: Record<string, { file: () => string; type: string }> = {
	'/': { file: () => join(PUBLIC_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
	'/index.html': { file: () => join(PUBLIC_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
	'/app.js': { file: () => join(PUBLIC_DIR, 'app.js'), type: 'text/javascript; charset=utf-8' },
	'/style.css': { file: () => join(PUBLIC_DIR, 'style.css'), type: 'text/css; charset=utf-8' },
	'/vendor/chart.umd.min.js': { file: chartJsFile, type: 'text/javascript; charset=utf-8' },
};

/** Whether a path (relative to the console's mount) is the console's: its page files or its JSON endpoints. */
export function isConsolePath(path: string): boolean {
	return Object.prototype.hasOwnProperty.call(STATIC, path) || path.startsWith('/api/');
}

export interface ConsoleHandlerOptions {
	/** The console to answer from, per request (Node-RED picks the engine named by `?engine=`). */
	consoleFor: (params: Record<string, string | undefined>) => DecisionConsole | Promise<DecisionConsole>;
	/** When set, every /api request must carry it (`Authorization: Bearer …` or `?token=`). */
	token?: string;
	/**
	 * When set, only requests whose Host header names a loopback address or one of these names are
	 * answered (421 otherwise), so a DNS-rebinding page cannot read the console through a browser.
	 */
	allowedHosts?: string[];
}

/** Host names that always reach a console on this machine. */
export const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '::1'];

/** The host name of a Host header or a configured name: lower case, without port, brackets or trailing dot. */
export function hostName(host: string): string {
	const text = host.trim().toLowerCase();
	// [::1]:4280 → ::1; example.com:4280 → example.com; a bare IPv6 address (several colons) stays whole.
	const bracketed = /^\[([^\]]*)\]/.exec(text);
	const name = bracketed ? bracketed[1] : text.split(':').length === 2 ? text.slice(0, text.indexOf(':')) : text;
	return name.replace(/\.$/, '');
}

/** Query parameters, percent-decoded strictly: a malformed escape is refused naming the parameter, not silently turned into �. */
function queryParams(search: string): Record<string, string> {
	const params: Record<string, string> = Object.create(null);
	for (const pair of search.replace(/^\?/, '').replace(/\+/g, ' ').split('&')) {
		if (!pair) continue;
		const eq = pair.indexOf('=');
		const name = decodeComponent(eq < 0 ? pair : pair.slice(0, eq), 'A query parameter name');
		params[name] = decodeComponent(eq < 0 ? '' : pair.slice(eq + 1), `The query parameter "${name}"`);
	}
	return params;
}

function decodeComponent(text: string, what: string): string {
	try {
		return decodeURIComponent(text);
	} catch {
		throw new NudgeError('INVALID_INPUT', `${what} is not valid percent-encoding (a % must start a UTF-8 escape such as %40 for @): encode the value with encodeURIComponent`);
	}
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
	const text = JSON.stringify(body);
	res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
	res.end(text);
}

/** Compares a presented token with the expected one in constant time. */
export function tokenMatches(given: string | undefined, expected: string): boolean {
	if (!given) return false;
	const a = Buffer.from(given);
	const b = Buffer.from(expected);
	return a.length === b.length && timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer <token>` header. The scheme is matched in any case (RFC 7235: `bearer` is as good). */
export function bearerToken(header: string | undefined): string | undefined {
	const match = header && /^bearer +(.*)$/is.exec(header);
	return match ? match[1].trim() : undefined;
}

function bearerOf(req: IncomingMessage, params: Record<string, string | undefined>): string | undefined {
	return bearerToken(req.headers.authorization) ?? params.token ?? params.access_token;
}

type View = (c: DecisionConsole, params: Record<string, string | undefined>) => Promise<unknown>;

/** Each JSON endpoint is one call of the console's query API; filters are validated first (400 when bad). */
const VIEWS: Record<string, View> = {
	meta: async (c) => ({
		revealPii: c.revealPii,
		piiNotice: c.piiNotice,
		store: c.engine.store.kind,
		policyVersion: c.engine.policyVersion,
		channels: [...CHANNELS, 'wait'],
		reasons: REASON_CODES,
		statuses: DECISION_STATUSES,
	}),
	decisions: (c, p) => {
		const { filter, page } = parseConsoleParams(p);
		return c.stream(filter, page);
	},
	totals: (c, p) => c.totals(parseConsoleParams(p).filter),
	funnel: (c, p) => c.funnel(parseConsoleParams(p).filter),
	suppressions: (c, p) => c.suppressions(parseConsoleParams(p).filter),
	channels: (c, p) => c.channelMix(parseConsoleParams(p).filter),
	caps: (c, p) => c.capHits(parseConsoleParams(p).filter),
	models: (c, p) => c.models(parseConsoleParams(p).filter),
	lift: (c, p) => c.lift(parseConsoleParams(p).filter),
	uplift: (c, p) => c.uplift(parseConsoleParams(p).filter),
};

/**
 * The console as a plain Node request handler (also an Express / Node-RED middleware): the page's static
 * files, and JSON endpoints under /api that read only through DecisionConsole.
 */
export function consoleHandler(options: ConsoleHandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
	const allowed = options.allowedHosts && new Set([...LOOPBACK_HOSTS, ...options.allowedHosts.map(hostName)]);
	return async (req, res) => {
		try {
			if (allowed && !allowed.has(hostName(req.headers.host ?? ''))) {
				return sendJson(res, 421, {
					error: `This console does not answer to the host name "${req.headers.host ?? ''}": open it as localhost or 127.0.0.1, or start it with --public-host <name> for the name you use`,
				});
			}
			const url = new URL(req.url ?? '/', 'http://console.invalid');
			const params = queryParams(url.search);
			if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'The decision console is read-only: use GET' });
			const asset = STATIC[url.pathname];
			if (asset) {
				const body = await readFile(asset.file());
				res.writeHead(200, { 'content-type': asset.type, 'content-length': body.length, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
				return void res.end(req.method === 'HEAD' ? undefined : body);
			}
			if (!url.pathname.startsWith('/api/')) return sendJson(res, 404, { error: `Nothing at ${url.pathname}` });
			if (options.token !== undefined && !tokenMatches(bearerOf(req, params), options.token)) {
				res.setHeader('www-authenticate', 'Bearer realm="nudge-console"');
				return sendJson(res, 401, { error: 'This console needs its access token: open the link printed by `nudge console`, or send Authorization: Bearer <token>' });
			}
			const dc = await options.consoleFor(params);
			const [, , view, id] = url.pathname.split('/');
			if (view === 'decisions' && id) {
				parseConsoleParams(params);
				return sendJson(res, 200, await dc.decision(decodeComponent(id, 'The decision id in the path')));
			}
			const handler = Object.prototype.hasOwnProperty.call(VIEWS, view) ? VIEWS[view] : undefined;
			if (!handler) return sendJson(res, 404, { error: `Unknown view "${view}". Views: ${Object.keys(VIEWS).join(', ')}` });
			return sendJson(res, 200, await handler(dc, params));
		} catch (error) {
			if (error instanceof NudgeError) return sendJson(res, error.code === 'STORE_ERROR' ? 503 : error.httpStatus, { error: error.message, code: error.code, issues: error.issues });
			return sendJson(res, 500, { error: `The console failed: ${redactUrl((error as Error).message)}` });
		}
	};
}

export interface StandaloneOptions {
	console: DecisionConsole;
	port?: number;
	/** 127.0.0.1 by default; any other address requires `token`. */
	host?: string;
	token?: string;
	/** Host names the console is reached by besides loopback ones (e.g. nudge.example.com behind a proxy). */
	publicHosts?: string[];
}

/** Addresses that listen on every interface: no host name follows from them. */
const WILDCARD_HOSTS = ['0.0.0.0', '::', ''];

/**
 * The host a printed link names: the address bound to, or, bound to every interface (0.0.0.0, ::), the first public
 * host name given, else 127.0.0.1. A link to 0.0.0.0 would send `Host: 0.0.0.0`, which the server refuses (421).
 */
export function linkHost(host: string, publicHosts: string[] = []): string {
	const named = WILDCARD_HOSTS.includes(host) ? hostName(publicHosts[0] ?? '127.0.0.1') : host;
	return named.includes(':') ? `[${named}]` : named;
}

/** `nudge console`: the page on its own HTTP server. Bound to loopback unless told otherwise, and then only with a token. */
export async function startConsoleServer(options: StandaloneOptions): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
	const host = options.host ?? '127.0.0.1';
	if (!LOOPBACK_HOSTS.includes(host) && !options.token) {
		throw new NudgeError('INVALID_CONFIG', `The console shows your decision log: bound to ${host} (reachable from other machines) it needs an access token (--token or NUDGE_CONSOLE_TOKEN)`);
	}
	if (options.token !== undefined && options.token.length < 16) throw new NudgeError('INVALID_CONFIG', 'The console access token must be at least 16 characters long');
	// Bound to one address, that address is a name the console answers to; bound to all, only the configured ones.
	const allowedHosts = [...(options.publicHosts ?? []), ...(WILDCARD_HOSTS.includes(host) ? [] : [host])];
	const handle = consoleHandler({ consoleFor: () => options.console, token: options.token, allowedHosts });
	const server = createServer((req, res) => void handle(req, res));
	await new Promise<void>((resolve, reject) => {
		server.once('error', (error: NodeJS.ErrnoException) =>
			reject(new NudgeError('INVALID_CONFIG', `The console cannot listen on ${host}:${options.port ?? 0}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}`)),
		);
		server.listen(options.port ?? 0, host, resolve);
	});
	const { port } = server.address() as AddressInfo;
	return {
		server,
		url: `http://${linkHost(host, options.publicHosts)}:${port}/${options.token ? `#token=${encodeURIComponent(options.token)}` : ''}`,
		close: () => new Promise<void>((resolve) => server.close(() => resolve())),
	};
}
