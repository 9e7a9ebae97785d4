/** `nudge-choose-channel`: picks the channel for a decision; one output per channel, then "none". */
import type { NodeAPI, Node } from 'node-red';
import { CHANNELS } from '../../engine/channels';
import { decisionOf, decisionStatus, handleSteps, NudgeNodeDef } from './shared/adapter';

/** Output order: the engine's channels (email, sms, push, in_app, paid_audience, sales_task), then none. */
const CHANNEL_OUTPUTS = [...CHANNELS, 'none'] as const;

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
				const chosen = await engine.chooseChannel(await decisionOf(engine, msg));
				const decision = def.variantSlot?.trim() || def.variants?.trim() ? await engine.chooseVariant(chosen, def.variantSlot ?? '', def.variants ?? '') : chosen;
				const channel = decision.status === 'pending' ? decision.channel : undefined;
				const output = channel ? CHANNELS.indexOf(channel) : CHANNEL_OUTPUTS.length - 1;
				// The best time to send (contact's best hour, outside quiet hours): msg.sendAt; the guardrails wait for it when the journey's policy says so.
				const extra = channel && decision.sendTime ? { sendAt: decision.sendTime.sendAt } : undefined;
				return { decision, output, extra, status: decisionStatus(decision, channel ?? 'none') };
			},
		});
	}
	RED.nodes.registerType('nudge-choose-channel', NudgeChooseChannel);
};
