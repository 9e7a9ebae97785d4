import { isRecord } from '../util/isRecord';

/** A step may be given a decision, its id, or an item that carries `decisionId` or `decision`. */
export type DecisionRef = string | { decisionId: string } | { decision: { decisionId: string } };


/** The decision id a reference names (see DecisionRef); undefined when it names none. */
export function decisionIdOf(ref: unknown): string | undefined {
	if (typeof ref === 'string') return ref.trim() || undefined;
	if (!isRecord(ref)) return undefined;
	if (typeof ref.decisionId === 'string' && ref.decisionId.trim()) return ref.decisionId.trim();
	return isRecord(ref.decision) ? decisionIdOf(ref.decision) : undefined;
}

/**
 * The decision an item a step node is given carries: its id (in `decisionId`, `decision`, or the item itself as an id
 * text). Text that is not an id is an event's JSON (a Node-RED payload), not a decision.
 */
export function carriedDecisionId(item: unknown): string | undefined {
	return typeof item === 'string' ? (item.startsWith('d_') ? item : undefined) : decisionIdOf(item);
}
