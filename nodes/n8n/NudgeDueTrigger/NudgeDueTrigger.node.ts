import type { INodeType, INodeTypeDescription, ITriggerFunctions, ITriggerResponse } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { NudgeError, takeDueDecisions } from '../../../engine';
import { decisionJson, loadEngine, nudgeEngineConnectionTest, toNodeError } from '../shared/engine';
import { engineCredentials, journeyParameter, notice } from '../shared/description';

/** How often the engine's store is asked for due decisions, in seconds: from 1 s to an hour. */
const MIN_SECONDS = 1;
const MAX_SECONDS = 3600;

/**
 * Starts an execution for each decision of a journey whose wait is over (quiet hours ended, a cap slot
 * freed). The waiting is the engine's: the decision sits in the Nudge store, not in a paused execution,
 * so one waiting message never holds up others and a restart loses nothing.
 */
export class NudgeDueTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Nudge Due Trigger',
		name: 'nudgeDueTrigger',
		icon: { light: 'file:nudgeDueTrigger.svg', dark: 'file:nudgeDueTrigger.dark.svg' },
		group: ['trigger'],
		version: 1,
		subtitle: '={{"Journey " + $parameter["journey"]}}',
		description: 'Brings back each delayed decision when its wait is over (the best send time, quiet hours, a full cap), in an execution of its own: connect it to Frequency Cap',
		defaults: { name: 'Nudge Due Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: engineCredentials(),
		properties: [
			notice('Connect this to the Frequency Cap node whose Delayed output ends the branch: each decision comes back there when its wait is over, is checked again, and goes on to Send (or is delayed again, or blocked). No Wait node is needed.'),
			journeyParameter('The journey whose waiting decisions this workflow takes back (the journey set on its Nudge Trigger)'),
			{
				displayName: 'Check Every (Seconds)',
				name: 'intervalSeconds',
				type: 'number',
				typeOptions: { minValue: MIN_SECONDS, maxValue: MAX_SECONDS },
				default: 30,
				description: 'How often to look for decisions that are due. A decision comes back at most this long after its time.',
			},
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest } };

	async trigger(this: ITriggerFunctions): Promise<ITriggerResponse> {
		const journey = String(this.getNodeParameter('journey', 'nurture')).trim();
		const seconds = Number(this.getNodeParameter('intervalSeconds', 30));
		if (!journey) throw toNodeError(this.getNode(), new NudgeError('INVALID_INPUT', 'Journey is empty: enter the journey set on this workflow’s Nudge Trigger, e.g. nurture'));
		if (!Number.isFinite(seconds) || seconds < MIN_SECONDS || seconds > MAX_SECONDS) {
			throw toNodeError(this.getNode(), new NudgeError('INVALID_INPUT', `Check Every (Seconds) must be from ${MIN_SECONDS} to ${MAX_SECONDS}, not ${seconds}`));
		}
		const { engine } = await loadEngine(this).catch((error: unknown) => {
			throw toNodeError(this.getNode(), error);
		});
		// Each due decision is an execution of its own. Its wait stays in the store until Frequency Cap checks it
		// again: if that execution fails first, the decision comes out again (WAIT_RETRY_MS, engine/guard/waits.ts).
		const emitDue = async () => {
			const due = await takeDueDecisions(engine, journey);
			for (const decision of due.decisions) this.emit([[{ json: decisionJson({}, decision) }]]);
			await due.acknowledge();
			// Waits that could not be read: due again after their lease, here or on another instance.
			if (due.failed.length) throw due.failed[0].error;
		};
		let busy = false;
		const tick = () => {
			// The store's retention job, when due: in the background, never in the due decisions' way.
			engine.startRetentionIfDue((line, failed) => this.logger[failed ? 'warn' : 'info'](line));
			if (busy) return;
			busy = true;
			emitDue()
				.catch((error: unknown) => this.emitError(toNodeError(this.getNode(), error)))
				.finally(() => (busy = false));
		};
		const interval = this.getMode() === 'manual' ? undefined : setInterval(tick, seconds * 1000);
		return {
			closeFunction: async () => clearInterval(interval),
			manualTriggerFunction: emitDue,
		};
	}
}
