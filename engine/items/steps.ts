import type { Decision } from '../audit/schema';
import { CHANNELS, isChannel, type Channel } from '../channels';
import type { Engine, GuardOptions, OutcomeInput } from '../engine';
import { NudgeError } from '../errors';
import { channelOutput, CHANNEL_OUTPUTS, GUARD_OUTPUTS, guardOutput, routedChannel, SEND_OUTPUTS, sendOutput } from './outputs';

const text = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim() : undefined);

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

/** What a Frequency Cap node is told about the message, as set on the node (text; tags comma-separated). */
export interface GuardSettings {
	/** A channel other than the one Choose Channel picked; empty for that one. */
	channel?: unknown;
	category?: unknown;
	tags?: unknown;
	offerValue?: unknown;
	variant?: unknown;
}

/** The node's message settings as the engine's guard options; a channel or offer value that is not one is an error. */
export function guardOptionsOf(settings: GuardSettings): GuardOptions {
	const channel = text(settings.channel);
	if (channel && !isChannel(channel)) {
		throw new NudgeError('INVALID_INPUT', `Channel "${channel}" is not a Nudge channel; pick one of ${CHANNELS.join(', ')} or leave it empty`);
	}
	const offer = settings.offerValue;
	const offerValue = offer === undefined || offer === null || String(offer).trim() === '' || offer === 0 ? undefined : Number(offer);
	if (offerValue !== undefined && !Number.isFinite(offerValue)) throw new NudgeError('INVALID_INPUT', `Offer value must be a number (got "${String(offer)}")`);
	const tags = String(settings.tags ?? '').split(',').map((t) => t.trim()).filter(Boolean);
	const category = text(settings.category);
	const variant = text(settings.variant);
	return {
		...(channel ? { channel: channel as Channel } : {}),
		...(category ? { category } : {}),
		...(tags.length ? { tags } : {}),
		...(offerValue !== undefined ? { offerValue } : {}),
		...(variant ? { variant } : {}),
	};
}

/** Frequency Cap (check or review): a delayed item carries `retryAt`, when to try it again. */
export function routeGuard(decision: Decision): Routed {
	return { decision, output: GUARD_OUTPUTS.indexOf(guardOutput(decision)), extra: decision.guard?.retryAt ? { retryAt: decision.guard.retryAt } : {} };
}

export function routeSend(decision: Decision): Routed {
	return { decision, output: SEND_OUTPUTS.indexOf(sendOutput(decision)), extra: {} };
}

/** The places an outcome may name its decision by (text as given; empty counts as absent). */
export interface OutcomeRefs {
	decisionId?: unknown;
	messageId?: unknown;
	contactId?: unknown;
	channel?: unknown;
}

/**
 * Which decision an outcome is about, by the first reference given: the decision id, else the sending tool's
 * message id, else the contact (with the channel, when given, to pick their latest message on it).
 * Undefined when none is given: the node says which field to fill.
 */
export function outcomeReference(refs: OutcomeRefs): Pick<OutcomeInput, 'decisionId' | 'messageId' | 'contactId' | 'channel'> | undefined {
	const decisionId = text(refs.decisionId);
	if (decisionId) return { decisionId };
	const messageId = text(refs.messageId);
	if (messageId) return { messageId };
	const contactId = text(refs.contactId);
	if (!contactId) return undefined;
	const channel = text(refs.channel);
	return { contactId, ...(channel ? { channel: channel as Channel } : {}) };
}
