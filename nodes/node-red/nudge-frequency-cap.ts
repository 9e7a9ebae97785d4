/** `nudge-frequency-cap`: reserves a slot under the policy's caps (allowed) or suppresses (capped). */
import type { NodeAPI, Node } from 'node-red';
import { Channel, CHANNELS } from '../../engine/channels';
import { NudgeError } from '../../engine/errors';
import { decisionOf, decisionStatus, handleSteps, NudgeNodeDef } from './shared/adapter';

interface FrequencyCapDef extends NudgeNodeDef {
	/** '' = the channel Choose Channel picked. */
	channel?: string;
}

export = function (RED: NodeAPI) {
	function NudgeFrequencyCap(this: Node, def: FrequencyCapDef) {
		RED.nodes.createNode(this, def);
		const override = def.channel?.trim() || undefined;
		const settingsError =
			override && !(CHANNELS as readonly string[]).includes(override)
				? new NudgeError('INVALID_INPUT', `Channel "${override}" is not a Nudge channel; pick one of ${CHANNELS.join(', ')} or leave it empty`)
				: undefined;
		handleSteps(RED, this, def, {
			outputs: 2,
			settingsError,
			run: async (engine, msg) => {
				const decision = await engine.checkCap(await decisionOf(engine, msg), override as Channel | undefined);
				const allowed = decision.status === 'pending' && decision.guard?.allowed === true;
				return { decision, output: allowed ? 0 : 1, status: decisionStatus(decision, `allowed ${decision.channel ?? ''}`.trim()) };
			},
		});
	}
	RED.nodes.registerType('nudge-frequency-cap', NudgeFrequencyCap);
};
