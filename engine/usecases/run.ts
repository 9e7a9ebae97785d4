import { type Decision, optsOut } from '../audit/schema';
import { NudgeError } from '../errors';
import type { DecisionRef } from '../items/decisionRef';
import { outcomeOfEvent } from '../journeys/journey';
import { contactIds, profileById } from '../profiles/profiles';
import { chooseStage } from './choose';
import { type EngineContext, loadDecision, profileLoader } from './context';
import { guardStage } from './guard';
import { ingest, legacyOutcomeIdOf, outcomeOfMessage, type IngestResult } from './ingest';
import { logStage, settleStopped } from './log';
import { recordOutcome } from './outcome';
import { scoreStage } from './score';
import { sendStage, type SendTarget } from './send';

/**
 * A whole journey in one call (CLI replay, benchmarks): the same stages as the nodes on one loaded
 * decision, each recorded in its trail; stored when the event is accepted, before a message leaves,
 * and when it is logged. A suppressed decision skips to the log, like the flows.
 */
export async function decide(ctx: EngineContext, rawEvent: unknown, options: { journey: string; target: SendTarget }): Promise<Decision> {
	return decideIngested(ctx, await ingest(ctx, rawEvent, { journey: options.journey, deferMark: true }), options.target);
}

/**
 * The stages of `decide` for an event already taken in (e.g. a timer that fired); records its outcome first. An event
 * mark left to set (`ingested.mark`) is carried by Choose Channel's look at the caps, one store step instead of two
 * (bench/scale: one Redis round trip fewer a decision); it is set on its own before the guardrails when the look
 * did not carry it, and whatever happens: the mark is set before a message can leave.
 */
export async function decideIngested(ctx: EngineContext, ingested: IngestResult, target: SendTarget): Promise<Decision> {
	const decision = ingested.decision;
	if (ingested.duplicate) {
		await recordOutcomeAgain(ctx, ingested);
		return decision;
	}
	const mark = ingested.mark;
	try {
		if (decision.outcomeFor) {
			// Taken in first (the outcome's opt-out takes the contact's locks): a record that fails then is made by the
			// event's repeated delivery (recordOutcomeAgain).
			await mark?.set();
			await recordOutcomeOf(ctx, decision.outcomeFor, decision.event.occurredAt);
		}
		// An unsubscribe or a complaint just changed the contact's consent: its stages read the profile as it is now, not
		// as it was taken in (the one-call journey then answers as the nodes do, Record Outcome before Choose Channel).
		const profile = profileLoader(ctx, decision, optsOut(decision.outcomeFor?.type) ? undefined : ingested.profile);
		const sendKey = { claimed: false };
		const done = await runStages(ctx, decision, [
			() => scoreStage(ctx, decision, profile, false),
			() => chooseStage(ctx, decision, profile, false, true, mark),
			async () => {
				await mark?.set();
				return guardStage(ctx, decision, profile, {}, false, false, { claimSend: sendKey });
			},
			() => sendStage(ctx, decision, profile, target, false, sendKey.claimed),
		]);
		await mark?.set();
		return done;
	} catch (error) {
		await mark?.set().catch(() => undefined);
		await settleStopped(ctx, decision, error, mark?.refused).catch(() => undefined);
		throw error;
	}
}

function recordOutcomeOf(ctx: EngineContext, outcome: NonNullable<Decision['outcomeFor']>, at: string) {
	return recordOutcome(ctx, { decisionId: outcome.decisionId, type: outcome.type, value: outcome.value, outcomeId: outcome.outcomeId, at });
}

/**
 * A repeated delivery of an outcome event records its outcome again, a no-op once it is recorded (by its outcome id).
 * The first delivery's record may have failed after the event was taken in (its mark is set whatever happens, so the
 * profile update is not made twice): a retry is then a duplicate, and without this the outcome (an unsubscribe's
 * opt-out with it) would be lost. The message it belongs to is looked for as the first delivery did, at the event's time.
 */
async function recordOutcomeAgain(ctx: EngineContext, { event, decision }: IngestResult): Promise<void> {
	// At the event's own time, not the repeat's (outcomeOfMessage): a message sent since is none it can be an outcome of.
	const at = new Date(decision.createdAt);
	if (!outcomeOfEvent(ctx.policy, decision.journey, event)) return;
	const profile = await profileById(ctx.store, decision.contactId);
	const outcome = await outcomeOfMessage(ctx, profile ? contactIds(profile) : [decision.contactId], decision.journey, event, at);
	if (!outcome) return;
	const legacy = legacyOutcomeIdOf(event.eventId, outcome.type);
	if ((await ctx.store.getDecision(outcome.decisionId))?.outcomes.some((o) => o.outcomeId === legacy)) return;
	try {
		await recordOutcomeOf(ctx, outcome, event.occurredAt);
	} catch (error) {
		// One the repeat cannot record (refused as invalid) leaves it a duplicate; a store that failed asks for a retry.
		if (!(error instanceof NudgeError) || error.httpStatus >= 500) throw error;
	}
}


/**
 * The rest of `decide` for a delayed decision that came due (guard/waits.ts): the guardrails again, then
 * the send, then the log — the same decision is finalised. Anything but a delayed decision is returned as it is.
 */
export async function decideDue(ctx: EngineContext, ref: DecisionRef | unknown, target: SendTarget): Promise<Decision> {
	const decision = await loadDecision(ctx, ref);
	if (decision.status !== 'delayed') return decision;
	const profile = profileLoader(ctx, decision);
	const sendKey = { claimed: false };
	return runStages(ctx, decision, [() => guardStage(ctx, decision, profile, {}, false, false, { claimSend: sendKey }), () => sendStage(ctx, decision, profile, target, false, sendKey.claimed)]);
}

/** Runs stages while the decision is open (the first may take a delayed one), then logs it. */
async function runStages(ctx: EngineContext, decision: Decision, stages: (() => Promise<Decision>)[]): Promise<Decision> {
	for (const [i, stage] of stages.entries()) {
		if (decision.status !== 'pending' && !(i === 0 && decision.status === 'delayed')) break;
		decision = await stage();
	}
	return logStage(ctx, decision, {});
}
