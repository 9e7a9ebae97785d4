import type { Decision } from '../audit/schema';
import type { Engine } from '../engine';
import { channelOutput, CHANNEL_OUTPUTS, GUARD_OUTPUTS, guardOutput, routedChannel, SEND_OUTPUTS, sendOutput } from './outputs';

/** A step's decision, the output (0-based) its item leaves by, and the fields the item gains beside the decision. */
export interface Routed {
	decision: Decision;
	output: number;
	extra: Record<string, unknown>;
}

/** Choose Channel's content test: a slot and its variants (one per line or comma-separated). */
export interface ContentTest {
	slot?: string;
	variants?: string;
}

/**
 * Choose Channel: the channel, then a content variant when the node names a slot or variants (the engine
 * says what is missing when only one is set). An item leaving by a channel carries `sendAt`, the contact's
 * best time to send, when the engine chose one.
 */
export async function chooseChannelStep(engine: Engine, current: Decision, content: ContentTest = {}): Promise<Routed> {
	const chosen = await engine.chooseChannel(current);
	const slot = content.slot?.trim() ?? '';
	const variants = content.variants?.trim() ?? '';
	const decision = slot || variants ? await engine.chooseVariant(chosen, slot, variants) : chosen;
	const sendAt = routedChannel(decision) && decision.sendTime ? { sendAt: decision.sendTime.sendAt } : {};
	return { decision, output: CHANNEL_OUTPUTS.indexOf(channelOutput(decision)), extra: sendAt };
}

/** Frequency Cap (check or review): a delayed item carries `retryAt`, when to try it again. */
export function routeGuard(decision: Decision): Routed {
	return { decision, output: GUARD_OUTPUTS.indexOf(guardOutput(decision)), extra: decision.guard?.retryAt ? { retryAt: decision.guard.retryAt } : {} };
}

export function routeSend(decision: Decision): Routed {
	return { decision, output: SEND_OUTPUTS.indexOf(sendOutput(decision)), extra: {} };
}
