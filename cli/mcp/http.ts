/**
 * `nudge mcp --http`: the MCP streamable HTTP transport, stateless (one server per request), behind the checks
 * a network listener needs: a bearer token (required off loopback), the Host header (no DNS rebinding), a body
 * size limit and request time limits. Hostile input gets a JSON-RPC error, never a crash.
 */
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { bearerToken, hostName, linkHost, LOOPBACK_HOSTS, tokenMatches } from '../../console/server';
import { NudgeError } from '../../engine/errors';

export const MCP_PATH = '/mcp';
/** A tool call is a few kilobytes; the largest legitimate one (a 20,000-character message) fits well within this. */
export const MAX_BODY_BYTES = 256 * 1024;
export const MIN_TOKEN_LENGTH = 16;

export interface McpHttpOptions {
	port: number;
	host: string;
	token?: string;
	/** Further host names the server is reached by (behind a proxy). */
	publicHosts?: string[];
	maxBodyBytes?: number;
}

export interface RunningMcpHttp {
	url: string;
	close(): Promise<void>;
}

/** Refuses a configuration that would expose agent actions to a network without a token. */
export function checkHttpOptions(options: McpHttpOptions): void {
	const loopback = LOOPBACK_HOSTS.includes(hostName(options.host));
	if (!loopback && !options.token) {
		throw new NudgeError('INVALID_CONFIG', `Refusing to listen on ${options.host} without a token: anyone who reaches it could request actions. Give --token (at least ${MIN_TOKEN_LENGTH} characters) or NUDGE_MCP_TOKEN, or listen on 127.0.0.1`);
	}
	if (options.token !== undefined && options.token.length < MIN_TOKEN_LENGTH) {
		throw new NudgeError('INVALID_CONFIG', `The token is too short to keep anyone out: use at least ${MIN_TOKEN_LENGTH} random characters (e.g. openssl rand -base64 24)`);
	}
}

/** A JSON-RPC error answer; `id` null when the request's id could not be read (JSON-RPC 2.0 §5). */
export function rpcErrorBody(code: number, message: string, id: string | number | null = null): string {
	return JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id });
}

function rpcError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
	const body = rpcErrorBody(code, message);
	res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
	res.end(body);
}

/**
 * The request body, refused past `max` bytes (413) without reading the rest into memory. The rest is not read at
 * all: the connection closes once the 413 is written (destroying it at once reset the client before the answer).
 */
function readBody(req: IncomingMessage, res: ServerResponse, max: number): Promise<Buffer | undefined> {
	return new Promise((resolve, reject) => {
		const refuse = () => {
			req.pause();
			res.once('finish', () => req.destroy());
			resolve(undefined);
		};
		if (Number(req.headers['content-length'] ?? 0) > max) return refuse();
		const chunks: Buffer[] = [];
		let size = 0;
		const onData = (chunk: Buffer) => {
			size += chunk.length;
			if (size <= max) return void chunks.push(chunk);
			req.off('data', onData);
			refuse();
		};
		req.on('data', onData);
		req.on('end', () => resolve(Buffer.concat(chunks)));
		req.on('error', reject);
	});
}

export async function startMcpHttp(makeServer: () => McpServer, options: McpHttpOptions): Promise<RunningMcpHttp> {
	checkHttpOptions(options);
	const max = options.maxBodyBytes ?? MAX_BODY_BYTES;
	const allowed = new Set([...LOOPBACK_HOSTS, hostName(options.host), ...(options.publicHosts ?? []).map(hostName)]);
	const handle = async (req: IncomingMessage, res: ServerResponse) => {
		if (!allowed.has(hostName(req.headers.host ?? ''))) {
			return rpcError(res, 421, -32000, `This server does not answer to the host name "${String(req.headers.host ?? '').slice(0, 100)}": use 127.0.0.1, or start it with --public-host <name>`);
		}
		if (new URL(req.url ?? '/', 'http://x').pathname !== MCP_PATH) return rpcError(res, 404, -32000, `Not found: the MCP endpoint is ${MCP_PATH}`);
		if (options.token) {
			if (!tokenMatches(bearerToken(req.headers.authorization), options.token)) return rpcError(res, 401, -32001, 'Unauthorized: send the token as "Authorization: Bearer <token>"', { 'www-authenticate': 'Bearer' });
		}
		// Stateless: no sessions to resume or stream, so only POST.
		if (req.method !== 'POST') return rpcError(res, 405, -32000, 'Method not allowed: POST JSON-RPC messages to this endpoint', { allow: 'POST' });
		const body = await readBody(req, res, max);
		if (!body) return rpcError(res, 413, -32600, `Request too large: at most ${max} bytes`, { connection: 'close' });
		let message: unknown;
		try {
			message = JSON.parse(body.toString('utf8'));
		} catch {
			return rpcError(res, 400, -32700, 'Parse error: the body is not JSON');
		}
		const server = makeServer();
		const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
		res.on('close', () => {
			void transport.close();
			void server.close();
		});
		await server.connect(transport);
		await transport.handleRequest(req, res, message);
	};
	const http = createServer((req, res) => {
		handle(req, res).catch((error) => {
			process.stderr.write(`nudge mcp: ${error instanceof Error ? error.message : String(error)}\n`);
			if (!res.headersSent) rpcError(res, 500, -32603, 'Internal error');
			else res.end();
		});
	});
	http.requestTimeout = 60_000;
	http.headersTimeout = 10_000;
	await new Promise<void>((resolve, reject) => {
		http.once('error', reject);
		http.listen(options.port, options.host, () => resolve());
	});
	const { port } = http.address() as AddressInfo;
	return {
		url: `http://${linkHost(options.host, options.publicHosts)}:${port}${MCP_PATH}`,
		close: () =>
			new Promise<void>((resolve) => {
				http.closeAllConnections();
				http.close(() => resolve());
			}),
	};
}
