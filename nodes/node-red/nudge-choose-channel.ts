/** `nudge-choose-channel`: picks the channel for a decision; one output per channel, then "none". */
import type { NodeAPI, Node } from 'node-red';
import { CHANNELS } from '../../engine/channels';
import { decisionOf, decisionStatus, handleSteps, NudgeNodeDef } from './shared/adapter';

/** Output order: the engine's channels (email, sms, push, in_app, paid_audience, sales_task), then none. */
const CHANNEL_OUTPUTS = [...CHANNELS, 'none'] as const;

export = function (RED: NodeAPI) {
	function NudgeChooseChannel(this: Node, def: NudgeNodeDef) {
		RED.nodes.createNode(this, def);
		handleSteps(RED, this, def, {
			outputs: CHANNEL_OUTPUTS.length,
			run: async (engine, msg) => {
				const decision = await engine.chooseChannel(await decisionOf(engine, msg));
				const channel = decision.status === 'pending' ? decision.channel : undefined;
				const output = channel ? CHANNELS.indexOf(channel) : CHANNEL_OUTPUTS.length - 1;
				return { decision, output, status: decisionStatus(decision, channel ?? 'none') };
			},
		});
	}
	RED.nodes.registerType('nudge-choose-channel', NudgeChooseChannel);
};
