/**
 * HTTP glue for the Nudge Trigger: one dispatcher route per Node-RED HTTP app (`POST /nudge/<path>`),
 * a map of path → handler that trigger nodes join and leave, and a raw-body capture at the top of the
 * root app so the signature is checked on the exact bytes received — even when Node-RED's admin app
 * (mounted first when both share `/`) would otherwise have parsed the JSON body already.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { NodeAPI } from 'node-red';
import { MAX_WEBHOOK_BYTES } from '../../../engine';
import type { Express, NextFunction, Request, Response } from 'express';

/** Every trigger listens under this prefix of Node-RED's HTTP node root. */
export const ROUTE_PREFIX = '/nudge/';

export type WebhookHandler = (req: Request & { rawBody?: Buffer }, res: Response) => void;

interface Waiting {
	handler: WebhookHandler;
	takeOver: () => void;
}

interface Dispatcher {
	handlers: Map<string, WebhookHandler>;
	/** Per path, the triggers waiting for it, oldest first. */
	waiting: Map<string, Waiting[]>;
}

/** One dispatcher per HTTP app: the module is initialised once per runtime (and per test load). */
const dispatchers = new WeakMap<object, Dispatcher>();
/** Per root app, the trigger paths of every dispatcher below it: only those get their raw body captured. */
const capturing = new WeakMap<object, Set<Map<string, WebhookHandler>>>();

interface ExpressLike {
	parent?: ExpressLike;
	use: (fn: (req: Request, res: Response, next: NextFunction) => void) => unknown;
	_router?: { stack: Array<{ handle: unknown }> };
}

/** Trims slashes: `/hubspot/` → `hubspot`. Only letters, digits, `-`, `_` and inner `/` are allowed. */
export function normalisePath(path: string | undefined): string {
	return (path ?? '').trim().replace(/^\/+|\/+$/g, '');
}

export function isValidPath(path: string): boolean {
	return /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/.test(path);
}

function rootApp(app: ExpressLike): ExpressLike {
	let current = app;
	while (current.parent) current = current.parent;
	return current;
}

/** Longest time a webhook body may take to arrive, in seconds; `nudgeTriggerBodyTimeout` in settings.js overrides it. */
export const DEFAULT_BODY_TIMEOUT_SECONDS = 30;

function bodyTimeoutMs(RED: NodeAPI): number {
	const seconds = Number((RED.settings as unknown as Record<string, unknown>).nudgeTriggerBodyTimeout ?? DEFAULT_BODY_TIMEOUT_SECONDS);
	return (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_BODY_TIMEOUT_SECONDS) * 1000;
}

/** How long, and how much, a refused sender may go on sending (dropped, never kept) before the connection is cut. */
const LINGER_MS = 2000;
const LINGER_BYTES = 1024 * 1024;

/**
 * Refuses a request before Express has seen it (so without res.status / res.json). The answer is written
 * on the socket with our end of the connection closed after it, rather than through `res`: Node would
 * destroy the socket as soon as the answer is out, and a sender still writing its body would get a reset
 * instead of the answer. What still arrives is read and dropped until the sender closes its end, for
 * LINGER_MS at most; past LINGER_BYTES the socket is no longer read, so a fast sender stalls on full buffers
 * instead of pushing its whole body through. The rest of the body is never kept.
 */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, error: string): void {
	const socket = req.socket;
	if (res.headersSent || !socket.writable) return void socket.destroy();
	const body = JSON.stringify({ error });
	socket.end(
		`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
	);
	let dropped = 0;
	req.on('data', (chunk: Buffer) => {
		dropped += chunk.length;
		// Stop reading rather than cut the connection: a reset now could wipe the answer before the sender reads it.
		if (dropped > LINGER_BYTES) req.pause();
	});
	req.resume();
	const linger = setTimeout(() => socket.destroy(), LINGER_MS);
	socket.once('close', () => clearTimeout(linger));
}

/** Express answers a broken %-escape in a route parameter with an HTML 400: the capture answers it in JSON first. */
function decodable(path: string): boolean {
	try {
		decodeURIComponent(path);
		return true;
	} catch {
		return false;
	}
}

const BROKEN_ESCAPE = `The path ${ROUTE_PREFIX}… has a broken %-escape; use letters, digits, - and _ (e.g. ${ROUTE_PREFIX}events)`;
const TOO_LARGE = `The request body is larger than ${MAX_WEBHOOK_BYTES / 1024 / 1024} MB (${MAX_WEBHOOK_BYTES} bytes); send smaller batches`;

/** The trigger path a request URL (below the prefix) names; undefined when its %-escapes are broken. */
function triggerPath(rest: string): string | undefined {
	const path = rest.split('?')[0];
	return decodable(path) ? normalisePath(decodeURIComponent(path)) : undefined;
}

/**
 * Reads the raw body of POSTs to a trigger's path before any body parser runs, within a size and a time limit.
 * Other POSTs under the prefix (a flow's own `http in` node on /nudge/orders) are left to Node-RED's parsers.
 */
function installRawBodyCapture(RED: NodeAPI, handlers: Map<string, WebhookHandler>): void {
	const root = rootApp(RED.httpNode as unknown as ExpressLike);
	const known = capturing.get(root);
	if (known) return void known.add(handlers);
	const all = new Set([handlers]);
	capturing.set(root, all);
	const nodeRoot = String(RED.settings.httpNodeRoot || '/').replace(/\/+$/, '');
	const prefix = `${nodeRoot}${ROUTE_PREFIX}`;
	const timeoutMs = bodyTimeoutMs(RED);
	const capture = (req: Request & { rawBody?: Buffer; _body?: boolean }, res: ServerResponse, next: NextFunction) => {
		if (req.method !== 'POST' || !req.originalUrl.startsWith(prefix) || req._body || req.readableEnded) return next();
		const path = triggerPath(req.originalUrl.slice(prefix.length));
		if (path === undefined) return refuse(req, res, 400, BROKEN_ESCAPE);
		if (![...all].some((paths) => paths.has(path))) return next();
		if (Number(req.headers['content-length']) > MAX_WEBHOOK_BYTES) return refuse(req, res, 413, TOO_LARGE);
		const chunks: Buffer[] = [];
		let size = 0;
		let finished = false;
		const finish = () => {
			finished = true;
			clearTimeout(timer);
			chunks.length = 0;
		};
		// A sender trickling bytes must not hold the connection (and its buffered bytes) forever.
		const timer = setTimeout(() => {
			if (finished) return;
			finish();
			refuse(req, res, 408, `The request body did not arrive within ${timeoutMs / 1000} s; send the whole request at once`);
		}, timeoutMs);
		req.on('data', (chunk: Buffer) => {
			if (finished) return;
			size += chunk.length;
			if (size > MAX_WEBHOOK_BYTES) {
				finish();
				refuse(req, res, 413, TOO_LARGE);
				return;
			}
			chunks.push(chunk);
		});
		req.on('end', () => {
			if (finished) return;
			req.rawBody = Buffer.concat(chunks);
			finish();
			req.body = req.rawBody;
			req._body = true;
			next();
		});
		// The sender went away mid-body: there is no one left to answer.
		req.on('close', () => {
			if (!finished) finish();
		});
		req.on('error', () => {
			if (!finished) finish();
		});
	};
	root.use(capture as unknown as (req: Request, res: Response, next: NextFunction) => void);
	const stack = root._router?.stack;
	if (stack) {
		const index = stack.findIndex((layer) => layer.handle === capture);
		if (index > 0) stack.unshift(...stack.splice(index, 1));
	}
}

/** The dispatcher of this runtime's HTTP node app, created (route + raw-body capture) on first use. */
function webhookDispatcher(RED: NodeAPI): Dispatcher {
	const app = RED.httpNode as Express | undefined;
	if (!app) throw new Error('Node-RED HTTP endpoints are disabled (httpNodeRoot is false), so the Nudge Trigger cannot listen');
	const existing = dispatchers.get(app);
	if (existing) return existing;
	const dispatcher: Dispatcher = { handlers: new Map(), waiting: new Map() };
	dispatchers.set(app, dispatcher);
	installRawBodyCapture(RED, dispatcher.handlers);
	// No capture group: express would decode it before this handler and answer a malformed %-escape with
	// its own error page (a stack trace); the path is decoded here instead (the capture refuses a broken
	// escape first, but it stands aside when a body parser has read the body already).
	app.post(/^\/nudge\/./, (req: Request, res: Response, next: NextFunction) => {
		let path: string;
		try {
			path = normalisePath(decodeURIComponent(req.path.slice(ROUTE_PREFIX.length)));
		} catch {
			res.status(400).json({ error: BROKEN_ESCAPE });
			return;
		}
		const handler = dispatcher.handlers.get(path);
		// Not a trigger's path: a flow's own `http in` node may answer it (Node-RED answers 404 when none does).
		if (!handler) return next();
		handler(req, res);
	});
	return dispatcher;
}

/**
 * Claims a path for a trigger's handler. Returns whether it listens now, and a release for its close.
 * A path already held queues the trigger instead: an "Import copy" of a journey leaves two triggers on one
 * path, and a "Modified nodes" deploy that deletes the first one never restarts the copy, so the copy must
 * take the path over (`takeOver` runs) when the holder releases it, or every event to it would get 404.
 * Throws when Node-RED's HTTP endpoints are disabled.
 */
export function claimPath(RED: NodeAPI, path: string, handler: WebhookHandler, takeOver: () => void): { listening: boolean; release: () => void } {
	const { handlers, waiting } = webhookDispatcher(RED);
	const entry: Waiting = { handler, takeOver };
	if (handlers.has(path)) waiting.set(path, [...(waiting.get(path) ?? []), entry]);
	else handlers.set(path, handler);
	const release = () => {
		const queue = (waiting.get(path) ?? []).filter((w) => w !== entry);
		const next = handlers.get(path) === handler ? queue.shift() : undefined;
		if (queue.length) waiting.set(path, queue);
		else waiting.delete(path);
		if (next) {
			handlers.set(path, next.handler);
			next.takeOver();
		} else if (handlers.get(path) === handler) handlers.delete(path);
	};
	return { listening: handlers.get(path) === handler, release };
}
