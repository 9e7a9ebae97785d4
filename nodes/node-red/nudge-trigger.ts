/**
 * `nudge-trigger`: starts a decision for every customer event posted to `POST /nudge/<path>`.
 * Requests must be signed with the engine's signing secret; an event or a batch is validated in full
 * before anything is stored; each new event leaves as one message (duplicates are answered, not sent).
 */
import type { NodeAPI, Node } from 'node-red';
import { NudgeError } from '../../engine/errors';
import { receiveSignedEvents } from '../../engine/events/receive';
import { asNudgeError, errorStatus, linkEngine, NudgeNodeDef, shortText } from './shared/adapter';
import { isValidPath, normalisePath, ROUTE_PREFIX, webhookDispatcher, WebhookHandler } from './shared/webhook';

/** Status text for each refusal the engine answers with. */
const REFUSAL_LABELS: Record<number, string> = { 400: 'invalid event', 401: 'bad signature', 413: 'too large', 503: 'store error' };

interface TriggerDef extends NudgeNodeDef {
	path?: string;
	journey?: string;
}

export = function (RED: NodeAPI) {
	function NudgeTrigger(this: Node, def: TriggerDef) {
		RED.nodes.createNode(this, def);
		const path = normalisePath(def.path) || 'events';
		const journey = def.journey?.trim() || 'nurture';
		const link = linkEngine(RED, def.engine);

		const handler: WebhookHandler = (req, res) => {
			if (!link.engine || link.error) {
				const error = link.error ?? new NudgeError('INVALID_CONFIG', 'The Nudge engine is not available', [], 503);
				this.status(errorStatus(error));
				res.status(503).json({ error: error.message });
				return;
			}
			const rawBody = req.rawBody ?? (typeof req.body === 'string' || Buffer.isBuffer(req.body) ? req.body : undefined);
			receiveSignedEvents(link.engine, { rawBody, headers: req.headers as Record<string, unknown> }, { secret: link.signingSecret, journey }).then(
				(answer) => {
					res.status(answer.status).json(answer.body);
					if (answer.status !== 200) {
						this.status({ fill: 'red', shape: 'dot', text: REFUSAL_LABELS[answer.status] ?? `refused ${answer.status}` });
						this.warn(`Rejected a request to ${ROUTE_PREFIX}${path}: ${String(answer.body.error)}`);
						return;
					}
					const duplicates = Number(answer.body.duplicates);
					const parts = [`${answer.accepted.length} accepted`, ...(duplicates ? [`${duplicates} dup`] : [])];
					this.status({ fill: answer.accepted.length ? 'green' : 'yellow', shape: 'dot', text: shortText(parts.join(', ')) });
					for (const { event, decision } of answer.accepted) this.send({ payload: event, decision, topic: decision.contactId });
				},
				(error) => {
					const e = asNudgeError(error, 'STORE_ERROR');
					this.status(errorStatus(e));
					this.error(`Could not take in events on ${ROUTE_PREFIX}${path}: ${e.message}`);
					res.status(503).json({ error: e.message });
				},
			);
		};

		let handlers: Map<string, WebhookHandler> | undefined;
		if (!isValidPath(path)) {
			this.status({ fill: 'red', shape: 'dot', text: 'invalid path' });
			this.error(`Path "${def.path}" is not valid: use letters, digits, - and _ (e.g. "events" or "segment/prod")`);
		} else {
			try {
				handlers = webhookDispatcher(RED);
			} catch (error) {
				this.status({ fill: 'red', shape: 'dot', text: 'no HTTP' });
				this.error((error as Error).message);
			}
			if (handlers?.has(path)) {
				this.status({ fill: 'red', shape: 'dot', text: 'path in use' });
				this.error(`Another Nudge Trigger already listens on ${ROUTE_PREFIX}${path}: give this one a different path`);
				handlers = undefined;
			} else if (handlers) {
				handlers.set(path, handler);
				if (link.error) {
					this.status(errorStatus(link.error));
					this.error(link.error.message);
				} else this.status({ fill: 'green', shape: 'ring', text: shortText(`ready /${path}`) });
			}
		}

		this.on('close', (_removed: boolean, done: () => void) => {
			if (handlers?.get(path) === handler) handlers.delete(path);
			done();
		});
	}
	RED.nodes.registerType('nudge-trigger', NudgeTrigger);
};
