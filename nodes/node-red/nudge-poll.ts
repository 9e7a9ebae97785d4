/**
 * `nudge-poll`: every N seconds, asks HubSpot (CRM search, private app token or OAuth2 app) or Salesforce (SOQL on
 * SystemModstamp) for records changed since the last check, and sends one message per new change with
 * its decision. The cursor lives in the Nudge store, so several Node-RED instances sharing a store
 * neither skip nor repeat records.
 */
import type { Node, NodeAPI } from 'node-red';
import { unfinishedDecisions } from './shared/unfinished';
import { applyInactivityRules, createPollSource, fireDueTimers, TIMER_LEASE_MS, type InactivityRule, journeyOf, NudgeError, parseInactivityRulesJson, policyHasTimers, pollOnce, type PollSourceSpec, timerFailureText } from '../../engine';
import { asNudgeError, errorStatus, linkEngine, NudgeNodeDef, runsInFlight, shortText, trackRun } from './shared/adapter';
import { hubspotAuthOf, salesforceSettingsOf } from './shared/vendors';

interface PollDef extends NudgeNodeDef {
	source?: 'hubspot' | 'salesforce';
	hubspot?: string;
	salesforce?: string;
	object?: string;
	journey?: string;
	/** Seconds between checks. */
	interval?: string | number;
	/** Seconds each check reads behind now (late writes). */
	settle?: string | number;
	/** Inactivity timers as JSON, like nudge-trigger's. */
	timers?: string;
}

function specOf(RED: NodeAPI, def: PollDef): PollSourceSpec {
	if (def.source === 'salesforce') return { source: 'salesforce', settings: salesforceSettingsOf(RED, def.salesforce), object: def.object === 'Contact' ? 'Contact' : 'Lead' };
	return { source: 'hubspot', auth: hubspotAuthOf(RED, def.hubspot), object: def.object === 'deals' ? 'deals' : 'contacts' };
}

export = function (RED: NodeAPI) {
	function NudgePoll(this: Node, def: PollDef) {
		RED.nodes.createNode(this, def);
		const journey = journeyOf(def.journey);
		const intervalSeconds = Number(def.interval ?? 60);
		const settleSeconds = Number(def.settle ?? 60);
		const link = linkEngine(RED, def.engine);
		let problem: NudgeError | undefined = link.error;
		let source: ReturnType<typeof createPollSource> | undefined;
		let rules: InactivityRule[] = [];
		if (!problem && (!Number.isFinite(intervalSeconds) || intervalSeconds < 5)) {
			problem = new NudgeError('INVALID_INPUT', `Check every must be at least 5 seconds (got "${def.interval}")`);
		}
		// Not a number would read nothing at each check (changes before NaN), yet say "0 new".
		if (!problem && (!Number.isFinite(settleSeconds) || settleSeconds < 0)) {
			problem = new NudgeError('INVALID_INPUT', `Read behind must be a number of seconds, 0 or more (got "${def.settle}")`);
		}
		const settleMs = settleSeconds * 1000;
		if (!problem) {
			try {
				rules = parseInactivityRulesJson(def.timers, link.engine?.policy, journey);
				source = createPollSource(specOf(RED, def));
			} catch (error) {
				problem = asNudgeError(error, 'INVALID_CONFIG');
			}
		}
		if (problem || !source || !link.engine) {
			const error = problem ?? new NudgeError('INVALID_CONFIG', 'The Nudge engine is not available');
			this.status(errorStatus(error));
			this.error(error.message);
			return;
		}
		const engine = link.engine;
		const poller = source;
		// The decisions handed to the flow, kept if it stops before finishing them and handed to it again when it starts.
		const unfinished = unfinishedDecisions(RED, this, engine, journey);
		let running = false;
		const check = () => {
			if (running) return;
			running = true;
			const run = pollOnce(engine, poller, { journey, settleMs })
				.then(async (result) => {
					for (const failure of await applyInactivityRules(engine, result.accepted, rules, this.id)) this.error(timerFailureText(failure));
					// Timers that ran out leave with the changes (the same ids fire once, whichever node takes them).
					const timers = rules.length || policyHasTimers(engine, journey) ? await fireDueTimers(engine, Date.now(), 100, rules, TIMER_LEASE_MS, { journey, node: this.id }) : undefined;
					return { ...result, accepted: [...result.accepted, ...(timers?.fired ?? [])], timers };
				})
				.then(
					async (result) => {
						for (const taken of result.accepted) unfinished.handOut(taken);
						for (const bad of result.invalid) this.warn(`Skipped record ${bad.id}: ${bad.error}`);
						for (const { timerId, error } of result.timers?.failed ?? []) this.warn(`Timer ${timerId} could not fire (it will be retried): ${error.message}`);
						for (const failure of result.timers?.timerFailures ?? []) this.error(timerFailureText(failure));
						await result.timers?.acknowledge().catch((error: Error) => this.warn(`Could not acknowledge fired timers (they may fire again as duplicates): ${error.message}`));
						this.status({ fill: 'green', shape: 'dot', text: shortText(`${result.accepted.length} new`) });
					},
					(error: unknown) => {
						const e = asNudgeError(error, 'STORE_ERROR');
						this.status({ fill: 'red', shape: 'dot', text: shortText(e.httpStatus === 429 ? 'API limit' : 'check failed') });
						this.error(`Could not check ${def.source ?? 'hubspot'} for changes: ${e.message}`);
					},
				)
				.finally(() => {
					running = false;
				});
			trackRun(this, engine, run);
		};
		const timer = setInterval(check, intervalSeconds * 1000);
		this.on('input', () => check());
		this.status({ fill: 'grey', shape: 'ring', text: 'waiting' });
		this.on('close', (removed: boolean, done: () => void) => {
			clearInterval(timer);
			// The work in flight may still hand decisions out: held and kept, not sent into the stopping flow.
			void unfinished.close(removed, runsInFlight(this)).finally(done);
		});
	}
	RED.nodes.registerType('nudge-poll', NudgePoll);
};
