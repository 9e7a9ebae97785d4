/**
 * `nudge-trigger`: starts a decision for every customer event posted to `POST /nudge/<path>`.
 * Requests must be signed with the engine's signing secret; an event or a batch is validated in full
 * before anything is stored; each new event leaves as one message (duplicates are answered, not sent).
 */
import type { NodeAPI, Node, NodeMessage } from 'node-red';
import type { Response } from 'express';
import { NudgeError, describeIssues } from '../../engine/errors';
import { normalizeEvent } from '../../engine/events/normalize';
import { verifySignedRequest } from '../../engine/events/signature';
import { asNudgeError, errorStatus, linkEngine, NudgeNodeDef, shortText } from './shared/adapter';
import { isValidPath, normalisePath, ROUTE_PREFIX, webhookDispatcher, WebhookHandler } from './shared/webhook';

interface TriggerDef extends NudgeNodeDef {
	path?: string;
	journey?: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return !!value && typeof value === 'object' && !Array.isArray(value);
}

/** One event, an array of events, or Segment's batch envelope `{ "batch": [...] }`. */
function eventsIn(body: unknown): unknown[] {
	if (Array.isArray(body)) return body;
	if (isRecord(body) && Array.isArray(body.batch) && !('type' in body)) return body.batch;
	return [body];
}

function reply(res: Response, status: number, body: Record<string, unknown>): void {
	res.status(status).json(body);
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
				reply(res, 503, { error: error.message });
				return;
			}
			const engine = link.engine;
			const raw = req.rawBody ?? (typeof req.body === 'string' || Buffer.isBuffer(req.body) ? req.body : undefined);
			try {
				verifySignedRequest(link.signingSecret, raw, req.headers as Record<string, unknown>);
			} catch (error) {
				const e = asNudgeError(error);
				this.status(errorStatus(e));
				this.warn(`Rejected a request to ${ROUTE_PREFIX}${path}: ${e.message}`);
				reply(res, e.httpStatus, { error: e.message });
				return;
			}
			let body: unknown;
			try {
				body = JSON.parse(Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw));
			} catch (error) {
				this.status({ fill: 'red', shape: 'dot', text: 'invalid JSON' });
				reply(res, 400, { error: `The request body is not valid JSON: ${(error as Error).message}` });
				return;
			}
			const events = eventsIn(body);
			if (events.length === 0) {
				this.status({ fill: 'red', shape: 'dot', text: 'empty batch' });
				reply(res, 400, { error: 'The request holds no events: send one event or a non-empty array of events' });
				return;
			}
			// Validate the whole request before storing anything.
			for (let index = 0; index < events.length; index++) {
				try {
					normalizeEvent(events[index]);
				} catch (error) {
					const e = asNudgeError(error);
					this.status({ fill: 'red', shape: 'dot', text: 'invalid event' });
					const where = events.length > 1 || Array.isArray(body) ? `Event ${index} of the batch` : 'The event';
					const why = e.issues.length ? describeIssues(e.issues) : e.message;
					reply(res, 400, {
						error: `${where} is not valid, so nothing was stored: ${why}`,
						index,
						issues: e.issues,
					});
					return;
				}
			}
			(async () => {
				const fresh: NodeMessage[] = [];
				let duplicates = 0;
				for (const raw of events) {
					const result = await engine.ingest(raw, { journey });
					if (result.duplicate) duplicates++;
					else fresh.push({ payload: result.event, decision: result.decision, topic: result.decision.contactId });
				}
				return { fresh, duplicates };
			})().then(
				({ fresh, duplicates }) => {
					reply(res, 200, {
						accepted: fresh.length,
						duplicates,
						decisionIds: fresh.map((m) => (m.decision as { decisionId: string }).decisionId),
					});
					const parts = [`${fresh.length} accepted`, ...(duplicates ? [`${duplicates} dup`] : [])];
					this.status({ fill: fresh.length ? 'green' : 'yellow', shape: 'dot', text: shortText(parts.join(', ')) });
					for (const msg of fresh) this.send(msg);
				},
				(error) => {
					const e = asNudgeError(error, 'STORE_ERROR');
					this.status(errorStatus(e));
					this.error(`Could not take in events on ${ROUTE_PREFIX}${path}: ${e.message}`);
					reply(res, e.httpStatus >= 500 ? e.httpStatus : 500, { error: e.message });
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
