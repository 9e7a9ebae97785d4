import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NodeAPI } from 'node-red';
import { DecisionConsole, NudgeError } from '../../../engine';
import { consoleHandler, isConsolePath } from '../../../console/server';
import { ENGINE_NODE_TYPE, NudgeEngineNode } from './adapter';

/** Where the console lives under Node-RED's admin root (e.g. http://localhost:1880/nudge/). */
export const CONSOLE_PATH = '/nudge';

/** A nudge-engine config node as the console needs it: its engine and whether it reveals PII. */
export interface ConsoleEngineNode extends NudgeEngineNode {
	consoleRevealPii?: boolean;
}

const mounted = new WeakSet<object>();
const consoles = new WeakMap<object, DecisionConsole>();

/** The console of the configured engine named by `?engine=<config node id>`, else of the first one that works. */
function consoleFor(RED: NodeAPI, engineId: string | undefined): DecisionConsole {
	const ids: string[] = [];
	RED.nodes.eachNode((n) => {
		if (n.type === ENGINE_NODE_TYPE) ids.push(n.id);
	});
	const nodes = ids.map((id) => RED.nodes.getNode(id) as ConsoleEngineNode | null).filter((n): n is ConsoleEngineNode => !!n);
	const node = engineId ? nodes.find((n) => n.id === engineId) : nodes.find((n) => n.engine);
	if (!node) {
		throw new NudgeError('INVALID_CONFIG', engineId ? `No Nudge engine config node with id ${engineId} is deployed` : 'No Nudge engine is deployed: add a nudge-engine config node (used by a Nudge node) and deploy', [], 404);
	}
	if (!node.engine) throw new NudgeError('INVALID_CONFIG', `The Nudge engine "${node.name || node.id}" cannot start: ${node.configError?.message ?? 'unknown error'}`, [], 503);
	let dc = consoles.get(node.engine);
	if (!dc || dc.revealPii !== (node.consoleRevealPii === true)) consoles.set(node.engine, (dc = new DecisionConsole(node.engine, { revealPii: node.consoleRevealPii === true })));
	return dc;
}

/**
 * Mounts the decision console once per Node-RED runtime under its admin root: the page's files at
 * /nudge/, the JSON endpoints at /nudge/api behind Node-RED's admin auth (permission `nudge.read`, which
 * every user with `read` has). With adminAuth off, Node-RED lets everyone in, as for its editor.
 * Only GETs of the console's own paths are answered: everything else under /nudge (the Nudge Trigger's
 * /nudge/events when the admin and node roots are both `/`, a flow's own routes) passes on.
 */
export function mountConsole(RED: NodeAPI): void {
	type Req = IncomingMessage & { originalUrl?: string };
	type Next = (error?: unknown) => void;
	const app = RED.httpAdmin as unknown as { use: (path: string, handler: (req: Req, res: ServerResponse, next: Next) => void) => void } | undefined;
	if (!app || mounted.has(app)) return;
	mounted.add(app);
	const handle = consoleHandler({ consoleFor: (params) => consoleFor(RED, params.engine) });
	const needsRead = RED.auth.needsPermission('nudge.read') as unknown as (req: Req, res: ServerResponse, next: Next) => void;
	app.use(CONSOLE_PATH, (req, res, next) => {
		const path = (req.url ?? '/').split('?')[0];
		if ((req.method !== 'GET' && req.method !== 'HEAD') || !isConsolePath(path)) return next();
		if (path.startsWith('/api/')) return needsRead(req, res, () => void handle(req, res));
		// Relative links need the trailing slash: /nudge → /nudge/.
		const [original, query] = (req.originalUrl ?? '').split('?');
		if (path === '/' && !original.endsWith('/')) {
			res.writeHead(301, { location: `${original}/${query ? `?${query}` : ''}` });
			return void res.end();
		}
		void handle(req, res);
	});
}
