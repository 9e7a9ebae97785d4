/**
 * HTTP glue for the Nudge Trigger: one dispatcher route per Node-RED HTTP app (`POST /nudge/<path>`),
 * a map of path → handler that trigger nodes join and leave, and a raw-body capture at the top of the
 * root app so the signature is checked on the exact bytes received — even when Node-RED's admin app
 * (mounted first when both share `/`) would otherwise have parsed the JSON body already.
 */
import type { NodeAPI } from 'node-red';
import { MAX_WEBHOOK_BYTES } from '../../../engine/events/receive';
import type { Express, NextFunction, Request, Response } from 'express';

/** Every trigger listens under this prefix of Node-RED's HTTP node root. */
export const ROUTE_PREFIX = '/nudge/';

export type WebhookHandler = (req: Request & { rawBody?: Buffer }, res: Response) => void;

interface Dispatcher {
	handlers: Map<string, WebhookHandler>;
}

/** One dispatcher per HTTP app: the module is initialised once per runtime (and per test load). */
const dispatchers = new WeakMap<object, Dispatcher>();
const capturing = new WeakSet<object>();

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

/** Reads the raw body of POSTs under the Nudge prefix before any body parser runs. */
function installRawBodyCapture(RED: NodeAPI): void {
	const root = rootApp(RED.httpNode as unknown as ExpressLike);
	if (capturing.has(root)) return;
	capturing.add(root);
	const nodeRoot = String(RED.settings.httpNodeRoot || '/').replace(/\/+$/, '');
	const prefix = `${nodeRoot}${ROUTE_PREFIX}`;
	const capture = (req: Request & { rawBody?: Buffer; _body?: boolean }, res: Response, next: NextFunction) => {
		if (req.method !== 'POST' || !req.originalUrl.startsWith(prefix) || req._body || req.readableEnded) return next();
		const chunks: Buffer[] = [];
		let size = 0;
		let finished = false;
		req.on('data', (chunk: Buffer) => {
			if (finished) return;
			size += chunk.length;
			if (size > MAX_WEBHOOK_BYTES) {
				finished = true;
				res.status(413).json({ error: `The request body is larger than ${MAX_WEBHOOK_BYTES / 1024 / 1024} MB; send smaller batches` });
				req.resume();
				return;
			}
			chunks.push(chunk);
		});
		req.on('end', () => {
			if (finished) return;
			finished = true;
			req.rawBody = Buffer.concat(chunks);
			req.body = req.rawBody;
			req._body = true;
			next();
		});
		req.on('error', (error) => {
			if (finished) return;
			finished = true;
			next(error);
		});
	};
	root.use(capture);
	const stack = root._router?.stack;
	if (stack) {
		const index = stack.findIndex((layer) => layer.handle === capture);
		if (index > 0) stack.unshift(...stack.splice(index, 1));
	}
}

/** The dispatcher of this runtime's HTTP node app, created (route + raw-body capture) on first use. */
export function webhookDispatcher(RED: NodeAPI): Map<string, WebhookHandler> {
	const app = RED.httpNode as Express | undefined;
	if (!app) throw new Error('Node-RED HTTP endpoints are disabled (httpNodeRoot is false), so the Nudge Trigger cannot listen');
	const existing = dispatchers.get(app);
	if (existing) return existing.handlers;
	const dispatcher: Dispatcher = { handlers: new Map() };
	dispatchers.set(app, dispatcher);
	installRawBodyCapture(RED);
	// No capture group: express would decode it before this handler and answer a malformed %-escape with
	// its own error page (a stack trace); the path is decoded here instead.
	app.post(/^\/nudge\/./, (req: Request, res: Response) => {
		let path: string;
		try {
			path = normalisePath(decodeURIComponent(req.path.slice(ROUTE_PREFIX.length)));
		} catch {
			res.status(404).json({ error: `No Nudge Trigger listens on this path: it is not valid percent-encoding. Trigger paths are letters, digits, - and _ under ${ROUTE_PREFIX}` });
			return;
		}
		const handler = dispatcher.handlers.get(path);
		if (!handler) {
			res.status(404).json({ error: `No Nudge Trigger listens on ${ROUTE_PREFIX}${path}: check the path in the trigger node and that the flow is deployed` });
			return;
		}
		handler(req, res);
	});
	return dispatcher.handlers;
}
