/** `nudge-choose-channel`: picks the channel for a decision; one output per channel, then "none". */
import type { NodeAPI, Node } from 'node-red';
import { CHANNEL_OUTPUTS, chooseChannelStep, routedChannel } from '../../engine/items';
import { decisionOf, decisionStatus, handleSteps, NudgeNodeDef } from './shared/adapter';

interface ChooseChannelDef extends NudgeNodeDef {
	/** A content slot to test (e.g. "cart-subject") and its variants, one per line. */
	variantSlot?: string;
	variants?: string;
}

export = function (RED: NodeAPI) {
	function NudgeChooseChannel(this: Node, def: ChooseChannelDef) {
		RED.nodes.createNode(this, def);
		handleSteps(RED, this, def, {
			outputs: CHANNEL_OUTPUTS.length,
			run: async (engine, msg) => {
				// Output order: the engine's channels, then none. A message leaving by a channel carries msg.sendAt (information: the guardrails wait for it when the journey's policy says so).
				const routed = await chooseChannelStep(engine, await decisionOf(engine, msg), { slot: def.variantSlot, variants: def.variants });
				return { ...routed, status: decisionStatus(routed.decision, routedChannel(routed.decision) ?? 'none') };
			},
		});
	}
	RED.nodes.registerType('nudge-choose-channel', NudgeChooseChannel);
};
