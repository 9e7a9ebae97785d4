import type { Decision } from '../audit/schema';
import type { Engine } from '../engine';

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
}

/**
 * The decision a step node works on, the same way on both platforms: the one named beside the item, else the
 * one the item carries, else a new one when the item is itself an event.
 */
export function openItem(engine: Engine, { item, decision, journey }: StepItem): Promise<Decision> {
	if (decision !== undefined && decision !== null) return engine.getDecision(decision);
	return engine.open(item, journeyOf(journey));
}
