/**
 * `nudge-due`: every N seconds, takes the journey's delayed decisions whose wait is over (quiet hours
 * ended, a cap slot freed) from the Nudge store and sends one message per decision, to be wired into the
 * guardrails node that delayed it. The wait lives in the store, not in a delay node's memory, so a restart
 * loses nothing, and of several Node-RED instances sharing a store exactly one takes each decision.
 */
import type { Node, NodeAPI } from 'node-red';
import { journeyOf, NudgeError, takeDueDecisions } from '../../engine';
import { asNudgeError, errorStatus, linkEngine, NudgeNodeDef, shortText, trackRun } from './shared/adapter';

interface DueDef extends NudgeNodeDef {
	journey?: string;
	/** Seconds between checks. */
	interval?: string | number;
}

/** From 0.05 s (a demo in compressed time) to an hour. */
const MIN_SECONDS = 0.05;
const MAX_SECONDS = 3600;

export = function (RED: NodeAPI) {
	function NudgeDue(this: Node, def: DueDef) {
		RED.nodes.createNode(this, def);
		const journey = journeyOf(def.journey);
		const seconds = Number(def.interval ?? 30);
		const link = linkEngine(RED, def.engine);
		const problem =
			link.error ??
			(!Number.isFinite(seconds) || seconds < MIN_SECONDS || seconds > MAX_SECONDS
				? new NudgeError('INVALID_INPUT', `Check every must be from ${MIN_SECONDS} to ${MAX_SECONDS} seconds (got "${def.interval}")`)
				: undefined);
		if (problem || !link.engine) {
			const error = problem ?? new NudgeError('INVALID_CONFIG', 'The Nudge engine is not available');
			this.status(errorStatus(error));
			this.error(error.message);
			return;
		}
		const engine = link.engine;
		let running = false;
		const check = () => {
			if (running) return;
			running = true;
			const run = takeDueDecisions(engine, journey)
				.then(
					async ({ decisions, failed, acknowledge }) => {
						for (const decision of decisions) this.send({ payload: decision, decision, topic: decision.contactId });
						for (const { timerId, error } of failed) this.warn(`Waiting decision ${timerId} could not be read (it will be retried): ${error.message}`);
						// A decision sent on whose flow fails before Frequency Cap checks it again comes out again (WAIT_RETRY_MS).
						await acknowledge().catch((error: Error) => this.warn(`Could not acknowledge due decisions (they may come out again): ${error.message}`));
						if (decisions.length) this.status({ fill: 'green', shape: 'dot', text: shortText(`${decisions.length} due`) });
					},
					(error: unknown) => {
						const e = asNudgeError(error, 'STORE_ERROR');
						this.status({ fill: 'red', shape: 'dot', text: 'check failed' });
						this.error(`Could not take due decisions of journey ${journey}: ${e.message}`);
					},
				)
				.finally(() => {
					running = false;
				});
			trackRun(this, engine, run);
		};
		const timer = setInterval(check, seconds * 1000);
		this.on('input', () => check());
		this.status({ fill: 'grey', shape: 'ring', text: shortText(`waiting: ${journey}`) });
		this.on('close', (_removed: boolean, done: () => void) => {
			clearInterval(timer);
			done();
		});
	}
	RED.nodes.registerType('nudge-due', NudgeDue);
};
