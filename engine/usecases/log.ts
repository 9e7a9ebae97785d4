import type { Decision } from '../audit/schema';
import type { DecisionRef } from '../items/decisionRef';
import { type EngineContext, nowFor, save, loadDecision } from './context';
import { isoTime } from '../util/isoTime';

/** Finalises a decision in the log, with optional annotations (campaign, reviewer notes…). */
export async function logDecision(ctx: EngineContext, ref: DecisionRef | unknown, annotations: Record<string, unknown> = {}): Promise<Decision> {
	return logStage(ctx, await loadDecision(ctx, ref), annotations);
}

export function logStage(ctx: EngineContext, decision: Decision, annotations: Record<string, unknown>): Promise<Decision> {
	const now = nowFor(ctx, decision);
	Object.assign(decision.annotations, annotations);
	decision.loggedAt = isoTime(now.getTime());
	return save(ctx, decision, 'log', now, { durable: true });
}
