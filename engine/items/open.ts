import type { Decision } from '../audit/schema';
import type { Engine } from '../engine';
import type { NudgeErrorCode } from '../errors';

/** The journey a node opens a decision for when it is given an event and no journey (the triggers' default too). */
export const DEFAULT_JOURNEY = 'nurture';

/** A journey setting as a journey id: trimmed text, else the default. */
export function journeyOf(value: unknown): string {
	return (typeof value === 'string' && value.trim()) || DEFAULT_JOURNEY;
}

/** What a step node is given: an item (an event, or something carrying a decision) and where it came from. */
export interface StepItem {
	/** The item: n8n's item json, Node-RED's msg.payload. */
	item: unknown;
	/** A decision named beside the item (Node-RED's msg.decision); when set it is the one the step works on. */
	decision?: unknown;
	/** The journey a new decision is opened for (default nurture). */
	journey?: unknown;
	/** Why the step cannot go on with a decision opened here from an event (see NotFromEvent). */
	notFromEvent?: NotFromEvent;
}

/**
 * A step that always fails on a decision it would open from an event: Send (a new decision holds no cap slot),
 * Frequency Cap's check without a channel, its review verdict (no review is open). Such an item is refused before the
 * event is taken in: taken in, it would be used up (its profile updated, its id claimed in the journey), a pending
 * decision nothing finishes, and the same event sent again to the mended flow a duplicate that starts nothing.
 */
export interface NotFromEvent {
	code: NudgeErrorCode;
	why: string;
}

export const SEND_NOT_FROM_EVENT: NotFromEvent = {
	code: 'NOT_RESERVED',
	why: 'Send sends only a decision that passed Frequency Cap (it holds a cap slot): connect Send after the Allowed output of Frequency Cap',
};

/** What Frequency Cap cannot do from an event: a review verdict (`review`), a check with no channel given. */
export function capNotFromEvent(review: boolean, channel: unknown): NotFromEvent | undefined {
	if (review) return { code: 'INVALID_INPUT', why: 'a review verdict is for a decision waiting for review: connect this node after the Review output of a Frequency Cap check' };
	if (typeof channel === 'string' && channel.trim()) return undefined;
	return { code: 'INVALID_INPUT', why: 'a new decision has no channel yet: put Choose Channel before Frequency Cap, or set the channel on the node' };
}

/**
 * The decision a step node works on, the same way on both platforms: the one named beside the item, else the
 * one the item carries, else a new one when the item is itself an event.
 */
export function openItem(engine: Engine, { item, decision, journey, notFromEvent }: StepItem): Promise<Decision> {
	if (decision !== undefined && decision !== null) return engine.getDecision(decision);
	return engine.open(item, journeyOf(journey), notFromEvent);
}
