import type { Decision } from '../audit/schema';
import { CHANNELS, type Channel } from '../channels';

/*
 * Which output an item leaves a node by, on both platforms. It follows from the decision the engine returned
 * and nothing else; the nodes only label the outputs.
 */

/** A decision that still goes on: pending, or already sent (a step given it again passes it along unchanged). */
const live = (decision: Decision) => decision.status === 'pending' || decision.status === 'sent';

/** Choose Channel's outputs, in order: one per channel in the engine's channel order, then none (suppressed, held out, failed). */
export const CHANNEL_OUTPUTS = [...CHANNELS, 'none'] as const;
export type ChannelOutputName = (typeof CHANNEL_OUTPUTS)[number];

/** The decision's channel when it leaves Choose Channel by that channel's output; undefined for none. */
export function routedChannel(decision: Decision): Channel | undefined {
	return decision.channel && live(decision) && CHANNELS.includes(decision.channel) ? decision.channel : undefined;
}

/** The Choose Channel output a decision leaves by. */
export function channelOutput(decision: Decision): ChannelOutputName {
	return routedChannel(decision) ?? 'none';
}

/** The Frequency Cap node's outputs, in order. */
export const GUARD_OUTPUTS = ['allowed', 'delayed', 'blocked', 'review'] as const;
export type GuardOutputName = (typeof GUARD_OUTPUTS)[number];

/**
 * Which output a decision leaves the guardrails step by: allowed (holds a cap slot, or was already
 * sent), delayed (waits until `guard.retryAt`), review (waits for a person), blocked (everything else:
 * suppressed here or earlier, or failed).
 */
export function guardOutput(decision: Decision): GuardOutputName {
	if (decision.status === 'sent' || (decision.status === 'pending' && decision.guard?.allowed)) return 'allowed';
	if (decision.status === 'delayed') return 'delayed';
	if (decision.status === 'review') return 'review';
	return 'blocked';
}

/** The Send node's outputs, in order. */
export const SEND_OUTPUTS = ['sent', 'failed'] as const;
export type SendOutputName = (typeof SEND_OUTPUTS)[number];

/** Sent when the message went out; failed otherwise (failed, or suppressed before it could go). */
export function sendOutput(decision: Decision): SendOutputName {
	return decision.status === 'sent' ? 'sent' : 'failed';
}
