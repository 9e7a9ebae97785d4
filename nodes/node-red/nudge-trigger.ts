/**
 * `nudge-trigger`: starts a decision for every customer event posted to `POST /nudge/<path>`.
 * Requests must be signed with the engine's signing secret; an event or a batch is validated in full
 * before anything is stored; each new event leaves as one message (duplicates are answered, not sent).
 */
import type { NodeAPI, Node } from 'node-red';
import { applyInactivityRules, fireDueTimers, TIMER_LEASE_MS, headerValue, type InactivityRule, journeyOf, NOT_CONFIGURED_ANSWER, NudgeError, parseInactivityRulesJson, type Policy, policyHasTimers, receiveSignedEvents, timerFailureText, type WebhookSource } from '../../engine';
import { vendorField } from './shared/vendors';
import { asNudgeError, errorStatus, linkEngine, NudgeNodeDef, runsInFlight, shortText, trackRun } from './shared/adapter';
import { claimPath, isValidPath, normalisePath, ROUTE_PREFIX, WebhookHandler } from './shared/webhook';
import { unfinishedDecisions } from './shared/unfinished';
import { refusalLog } from './shared/refusalLog';

/** Why every request is refused, for the log: the secret each source signs with, and where to set it. */
const NO_SECRET: Record<WebhookSource, string> = {
	nudge: 'No signing secret is set, so every request is refused (401): set one in the Nudge Engine settings and deploy',
	segment: 'No Segment shared secret is set, so every request is refused (401): pick a Segment config node with its shared secret and deploy',
	hubspot: 'No HubSpot app client secret is set, so every request is refused (401): pick a HubSpot config node with its client secret and deploy',
};

/** Status text for each refusal the engine answers with. */
const REFUSAL_LABELS: Record<number, string> = { 400: 'invalid event', 401: 'bad signature', 413: 'too large', 503: 'store error' };

interface TriggerDef extends NudgeNodeDef {
	path?: string;
	journey?: string;
	/** nudge (default), segment or hubspot. */
	source?: WebhookSource;
	/** The `nudge-segment` / `nudge-hubspot` config node holding the vendor's secret. */
	segment?: string;
	hubspot?: string;
	/** Public base URL HubSpot calls (e.g. https://nodered.example.com), when a proxy hides it. */
	publicUrl?: string;
	/** Inactivity timers as JSON: [{"start": "Cart Updated", "cancel": ["Order Completed"], "minutes": 30, "fire": "Cart Abandoned"}]. */
	timers?: string;
	/** Seconds between checks for timers that ran out (default 30). */
	timerCheck?: string | number;
}

/** The node's inactivity rules; a problem is reported and no timer is used. */
function rulesOf(def: TriggerDef, policy: Policy | undefined, journey: string): { rules: InactivityRule[]; error?: string } {
	try {
		return { rules: parseInactivityRulesJson(def.timers, policy, journey) };
	} catch (error) {
		return { rules: [], error: (error as Error).message };
	}
}

/** The URL the sender called, as HubSpot signs it: the configured public base, else what proxies forwarded. */
function calledUrl(req: { headers: Record<string, unknown>; protocol?: string; originalUrl: string }, publicUrl: string | undefined): string {
	if (publicUrl?.trim()) return `${publicUrl.trim().replace(/\/+$/, '')}${req.originalUrl}`;
	const proto = headerValue(req.headers, 'x-forwarded-proto')?.split(',')[0].trim() || req.protocol || 'http';
	const host = headerValue(req.headers, 'x-forwarded-host')?.split(',')[0].trim() || headerValue(req.headers, 'host') || 'localhost';
	return `${proto}://${host}${req.originalUrl}`;
}

export = function (RED: NodeAPI) {
	function NudgeTrigger(this: Node, def: TriggerDef) {
		RED.nodes.createNode(this, def);
		const path = normalisePath(def.path) || 'events';
		const journey = journeyOf(def.journey);
		const source: WebhookSource = def.source === 'segment' || def.source === 'hubspot' ? def.source : 'nudge';
		const link = linkEngine(RED, def.engine);
		const { rules, error: rulesError } = rulesOf(def, link.engine?.policy, journey);
		if (rulesError) this.error(rulesError);
		// Every source signs its requests: without the secret each one is refused (401).
		const secret = source === 'nudge' ? link.signingSecret : source === 'segment' ? vendorField(RED, def.segment, 'sharedSecret') : vendorField(RED, def.hubspot, 'clientSecret');

		// Requests refused before the caller is known (not configured; unsigned or badly signed): once a minute at most.
		const refusals = refusalLog();
		const logRefusal = refusals.refused;
		const handler: WebhookHandler = (req, res) => {
			if (!link.engine || link.error) {
				// The caller is not authenticated yet: the reason (store, policy) goes to the Node-RED log only.
				const error = link.error ?? new NudgeError('INVALID_CONFIG', 'The Nudge engine is not available', [], 503);
				this.status(errorStatus(error));
				logRefusal((text) => this.error(text), `Refused a request to ${ROUTE_PREFIX}${path}: ${error.message}`);
				res.status(NOT_CONFIGURED_ANSWER.status).json(NOT_CONFIGURED_ANSWER.body);
				return;
			}
			const rawBody = req.rawBody ?? (typeof req.body === 'string' || Buffer.isBuffer(req.body) ? req.body : undefined);
			const headers = req.headers as Record<string, unknown>;
			const request = { rawBody, headers, method: req.method, url: calledUrl({ headers, protocol: req.protocol, originalUrl: req.originalUrl }, def.publicUrl) };
			const engine = link.engine;
			const run = Promise.resolve()
				.then(() => receiveSignedEvents(engine, request, { secret, journey, source }))
				.then(async (answer) => {
					for (const failure of await applyInactivityRules(engine, answer.accepted, rules, this.id)) this.error(timerFailureText(failure));
					res.status(answer.status).json(answer.body);
					if (answer.status !== 200) {
						this.status({ fill: 'red', shape: 'dot', text: REFUSAL_LABELS[answer.status] ?? `refused ${answer.status}` });
						const text = `Rejected a request to ${ROUTE_PREFIX}${path}: ${String(answer.body.error)}`;
						if (answer.unauthenticated) logRefusal((line) => this.warn(line), text);
						else this.warn(text);
						return;
					}
					for (const { index, error } of answer.refused ?? []) this.warn(`Event ${index} of a ${source} batch was refused (the others were taken in): ${error}`);
					const duplicates = Number(answer.body.duplicates);
					const parts = [`${answer.accepted.length} accepted`, ...(duplicates ? [`${duplicates} dup`] : [])];
					this.status({ fill: answer.accepted.length ? 'green' : 'yellow', shape: 'dot', text: shortText(parts.join(', ')) });
					for (const accepted of answer.accepted) unfinished.handOut(accepted);
				})
				.catch((error: unknown) => {
					const e = asNudgeError(error, 'STORE_ERROR');
					this.status(errorStatus(e));
					this.error(`Could not take in events on ${ROUTE_PREFIX}${path}: ${e.message}`);
					// Sending the messages on can fail after the sender got its answer.
					if (!res.headersSent) res.status(503).json({ error: 'Nudge could not take in the events; see the server log. Retry the request.' });
				});
			trackRun(this, engine, run);
		};

		// The decisions handed to the flow, kept if it stops before finishing them and handed to it again when it starts.
		const unfinished = unfinishedDecisions(RED, this, link.engine, journey);

		// Timers that ran out fire from here, as messages like any other event.
		let firing = false;
		const fireTimers = () => {
			if (!link.engine || firing) return;
			firing = true;
			// Only this journey's: another journey's timer leaves through that journey's trigger (its flow, its templates).
			const run = fireDueTimers(link.engine, Date.now(), 100, rules, TIMER_LEASE_MS, { journey, node: this.id })
				.then(
					async ({ fired, failed, timerFailures, acknowledge }) => {
						for (const taken of fired) unfinished.handOut(taken);
						for (const { timerId, error } of failed) this.warn(`Timer ${timerId} could not fire (it will be retried): ${error.message}`);
						for (const failure of timerFailures) this.error(timerFailureText(failure));
						// Acknowledged once sent: a timer taken by an instance that dies first fires again after its lease.
						await acknowledge().catch((error: Error) => this.warn(`Could not acknowledge fired timers (they may fire again as duplicates): ${error.message}`));
					},
					(error: Error) => this.error(`Could not fire inactivity timers: ${error.message}`),
				)
				.finally(() => {
					firing = false;
				});
			trackRun(this, link.engine, run);
		};
		const timerCheck = Number(def.timerCheck ?? 30);
		// The node's own timers, or the policy's for this journey (journeys.<id>.timers).
		const timed = rules.length > 0 || (!!link.engine && policyHasTimers(link.engine, journey));
		let timerLoop: ReturnType<typeof setInterval> | undefined;

		/** The path is this trigger's: say whether it is ready, and start firing timers. */
		const listen = () => {
			if (link.error) {
				this.status(errorStatus(link.error));
				this.error(link.error.message);
			} else if (!secret) {
				this.status({ fill: 'red', shape: 'dot', text: 'no secret' });
				this.error(NO_SECRET[source]);
			} else if (rulesError) {
				// The timers are dropped: say so on the node, not only once in the log.
				this.status({ fill: 'red', shape: 'dot', text: 'invalid timers' });
			} else this.status({ fill: 'green', shape: 'ring', text: shortText(`ready /${path}`) });
			if (timed) timerLoop = setInterval(fireTimers, Math.max(0.05, Number.isFinite(timerCheck) ? timerCheck : 30) * 1000);
		};

		let claim: ReturnType<typeof claimPath> | undefined;
		if (!isValidPath(path)) {
			this.status({ fill: 'red', shape: 'dot', text: 'invalid path' });
			this.error(`Path "${def.path}" is not valid: use letters, digits, - and _ (e.g. "events" or "segment/prod")`);
		} else {
			try {
				claim = claimPath(RED, path, handler, () => {
					this.log(`Now listening on ${ROUTE_PREFIX}${path}: the trigger that held it was removed`);
					listen();
				});
			} catch (error) {
				this.status({ fill: 'red', shape: 'dot', text: 'no HTTP' });
				this.error((error as Error).message);
			}
			if (claim?.listening) listen();
			else if (claim) {
				// It waits, "path in use", and takes the path over when the trigger holding it is removed.
				this.status({ fill: 'red', shape: 'dot', text: 'path in use' });
				this.error(`Another Nudge Trigger already listens on ${ROUTE_PREFIX}${path}: give this one a different path`);
			}
		}

		this.on('close', (removed: boolean, done: () => void) => {
			if (timerLoop) clearInterval(timerLoop);
			refusals.close();
			claim?.release();
			// The work in flight may still hand decisions out: held and kept, not sent into the stopping flow.
			void unfinished.close(removed, runsInFlight(this)).finally(done);
		});
	}
	RED.nodes.registerType('nudge-trigger', NudgeTrigger);
};
