import type { Decision } from '../audit/schema';
import { moveTo } from '../audit/status';
import type { DecisionRef } from '../items/decisionRef';
import { type EngineContext, nowFor, save, loadDecision } from './context';
import { isoTime } from '../util/isoTime';
import { checkStorable } from '../events/limits';
import { NudgeError } from '../errors';

/** A decision's annotations, as JSON: room for campaign names, ids and notes; a document belongs elsewhere. */
export const MAX_ANNOTATION_BYTES = 16_384;

/** Refuses annotations that cannot be kept: a cycle, nesting too deep for JSON, too long. */
function checkAnnotationsSize(annotations: Record<string, unknown>): void {
	let json: string;
	try {
		json = JSON.stringify(annotations);
	} catch {
		throw new NudgeError('INVALID_INPUT', 'Cannot log the decision: the annotations are not plain JSON data (they refer to themselves, or nest too deep); pass an object of names and values');
	}
	const bytes = Buffer.byteLength(json);
	if (bytes > MAX_ANNOTATION_BYTES) {
		throw new NudgeError('INVALID_INPUT', `Cannot log the decision: the annotations are ${bytes} bytes of JSON, over ${MAX_ANNOTATION_BYTES}; keep names, ids and short notes there, not documents`);
	}
}

/** Finalises a decision in the log, with optional annotations (campaign, reviewer notes…). */
export async function logDecision(ctx: EngineContext, ref: DecisionRef | unknown, annotations: Record<string, unknown> = {}): Promise<Decision> {
	const decision = await loadDecision(ctx, ref);
	// Counted with the annotations the decision has already (each log step adds to them), once, and before the text
	// check walks them: JSON refuses a cycle the walk would follow for ever.
	checkAnnotationsSize({ ...decision.annotations, ...annotations });
	checkStorable(annotations, 'Cannot log the decision: an annotation is not text Nudge can store');
	return logStage(ctx, decision, annotations);
}

export function logStage(ctx: EngineContext, decision: Decision, annotations: Record<string, unknown>): Promise<Decision> {
	const now = nowFor(ctx, decision);
	Object.assign(decision.annotations, annotations);
	decision.loggedAt = isoTime(now.getTime());
	return save(ctx, decision, 'log', now, { durable: true });
}

/**
 * A decision that could not be finished is settled failed with its error (STOPPED_BY_ERROR) instead of being left
 * pending for ever: nothing would take it up again (the one-call journey's decision of a marked event, whose repeated
 * delivery is a duplicate). Left as it is when it had ended, waits for a later step (delayed, review), or holds a
 * delivery's record. A decision whose take-in was refused (`refused`: its lease or its locks ran out, and its event's
 * retry opens a new decision) is settled so whatever its row said at ingest: nothing of its event was kept (not a
 * trigger, an outcome of an earlier message). Best effort: the store that failed may refuse this write too.
 */
export async function settleStopped(ctx: EngineContext, decision: Decision, error: unknown, refused = false): Promise<void> {
	if (decision.delivery) return;
	if (refused) {
		// Not a move of the decision's life: the row it had never held (no event of it was taken in).
		decision.status = 'failed';
		delete decision.ruleId;
		delete decision.outcomeFor;
	} else if (decision.status === 'pending') moveTo(decision, 'failed');
	else return;
	decision.reason = 'STOPPED_BY_ERROR';
	decision.explanation = `stopped by an error before it ended: ${error instanceof Error ? error.message : String(error)}`;
	await logStage(ctx, decision, {});
}
