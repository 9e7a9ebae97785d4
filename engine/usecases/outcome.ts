import { latestDecisionOf } from '../audit/export';
import { type Decision, type Outcome, OutcomeSchema, optsOut } from '../audit/schema';
import { CHANNELS, Channel } from '../channels';
import { claimsReward, engagementTrials, outcomeDeltas } from '../decide/bookkeeping';
import { probabilityBest } from '../decide/learner';
import { NudgeError, describeIssues, finiteNumbers, issuesFromZod } from '../errors';
import { couldBeStoredId } from '../events/limits';
import { isoDate } from '../events/schema';
import { zoneFor } from '../guard/windows';
import { apartFromOtherUpdates, type EngineContext, save, loadDecision, unknownContact } from './context';
import { beyondClockSkew, isoTime, MAX_CLOCK_SKEW_MS, parseTime } from '../util/isoTime';
import { heldLockKeys, lockAndReadProfiles, profileLockRequest } from '../profiles/identityLock';
import { contactIdKey, contactIds, profileById, releaseLocks, saveAndRelease, stateConsent } from '../profiles/profiles';

/**
 * An outcome names its decision one way: its decision id, the provider's message id, or the contact
 * (and optionally the channel): then the contact's latest decision within the policy's attribution window.
 */
export interface OutcomeInput {
	decisionId?: string;
	messageId?: string;
	contactId?: string;
	channel?: Channel;
	type: Outcome['type'];
	outcomeId?: string;
	value?: number;
	at?: string;
	/**
	 * The AI agent reporting it (its tool's fixed Agent ID): only outcomes of its own actions are taken. An outcome
	 * trains the channel learner, counts in lift and may opt a contact out, so an agent must not write them on
	 * journeys' or other agents' messages.
	 */
	agentId?: string;
}

/**
 * An order id and an amount as shops and forms send them: the id as a JSON number (two orders are two outcomes, not
 * one and a duplicate), the amount as text ("12.50"; blank is no amount, never 0). Anything else is left for the
 * checks below to refuse with the field's name.
 */
function asSent(input: OutcomeInput): OutcomeInput {
	const { outcomeId, value } = input as { outcomeId?: unknown; value?: unknown };
	// Past 2^53 a JSON number is no longer the id that was sent (9007199254740993 reads as …992): two orders would be one.
	if (typeof outcomeId === 'number' && !Number.isSafeInteger(outcomeId)) {
		throw new NudgeError('INVALID_INPUT', `The outcome id ${String(outcomeId)} is a number JSON cannot carry exactly (a whole number up to 9007199254740991): send it as text`);
	}
	const id = typeof outcomeId === 'number' ? String(outcomeId) : typeof outcomeId === 'string' ? outcomeId.trim() || undefined : outcomeId;
	const text = typeof value === 'string' ? value.trim() : undefined;
	const amount = text === undefined ? value : text === '' ? undefined : Number.isNaN(Number(text)) ? value : Number(text);
	return { ...input, outcomeId: id as string | undefined, value: amount as number | undefined };
}

/**
 * Attributes an outcome to its decision (by decision id, message id, or contact and channel within the
 * attribution window) and teaches the learner, once: a repeated outcome id is ignored and reported as
 * `duplicate`, and changes nothing.
 */
export async function recordOutcome(ctx: EngineContext, given: OutcomeInput): Promise<{ decision: Decision; duplicate: boolean }> {
	const input = asSent(given);
	const at = input.at === undefined ? ctx.wallNow() : outcomeDate(input.at);
	refuseFutureTime(ctx, at);
	if (input.type === 'revenue' && !(typeof input.value === 'number' && Number.isFinite(input.value) && input.value >= 0)) {
		throw new NudgeError('INVALID_INPUT', `A revenue outcome needs its amount as a number of 0 or more; got ${JSON.stringify(input.value) ?? 'nothing'}`);
	}
	const decision = await attribute(ctx, input, at);
	if (input.agentId !== undefined && decision.agent?.agentId !== input.agentId) {
		throw new NudgeError('INVALID_INPUT', `Decision ${decision.decisionId} is not one of your actions (agent ${input.agentId}): record outcomes only of actions Request Action gave you`);
	}
	const outcome = OutcomeSchema.safeParse({
		outcomeId: outcomeIdOf(decision, input),
		type: input.type,
		channel: decision.channel,
		value: input.value,
		at: isoTime(at.getTime()),
	}, { error: finiteNumbers });
	if (!outcome.success) {
		const issues = issuesFromZod(outcome.error);
		throw new NudgeError('INVALID_INPUT', `Outcome is not valid: ${describeIssues(issues)}`, issues);
	}
	// An unsubscribe or a complaint dated up to the clock skew allowed before its message (the provider's clock behind
	// ours) is the message's, taken at the message's time: an opt-out is never lost to a clock.
	if (optsOut(outcome.data.type) && outcome.data.at < decision.createdAt && parseTime(decision.createdAt) - parseTime(outcome.data.at) <= MAX_CLOCK_SKEW_MS) outcome.data.at = decision.createdAt;
	if (outcome.data.at < decision.createdAt) {
		throw new NudgeError('INVALID_INPUT', `Outcome at ${outcome.data.at} is earlier than its decision (${decision.createdAt})`);
	}
	refuseOutsideWindow(ctx, decision, outcome.data);
	// An opt-out is made before its outcome is recorded: one that fails (a contact's lock held too long) leaves the
	// outcome unrecorded, so the retry makes it, where a recorded one would be ignored as a duplicate.
	const closes = optsOut(outcome.data.type) && decision.channel;
	const sameAs = otherSpelling(decision, input);
	const recorded = decision.outcomes.some((o) => o.outcomeId === outcome.data.outcomeId || o.outcomeId === sameAs);
	if (closes && !recorded) await apartFromOtherUpdates(ctx, () => optOut(ctx, decision, closes, outcome.data.at));
	// The store checks the other spelling again as it adds: the shop's flow and an agent reporting one order at once count once.
	const added = !recorded && (await ctx.store.addOutcome(decision.decisionId, outcome.data, sameAs));
	const sentAt = sentAfter(decision, outcome.data.at);
	if (added && !sentAt) await learnFrom(ctx, decision, outcome.data);
	const current = await loadDecision(ctx, decision.decisionId);
	// The send-time counts go by the decision as stored now: one the person's erasure pseudonymised since it was read
	// starts no counts under the id the erasure just removed.
	const engagement = added ? await engagementTrials(current, outcome.data, at, async () => zoneFor((await profileById(ctx.store, current.contactId))?.timezone, ctx.policy.timezone)) : [];
	if (engagement.length) await ctx.store.addArmStats(engagement);
	// Recorded (it happened, and lift counts it) but not a success of the message: the trail says why the learner skipped it.
	if (added && sentAt) return { decision: await save(ctx, current, `outcome not learned from: ${outcome.data.type} at ${outcome.data.at} came before the message was sent (${sentAt})`, ctx.wallNow(), { durable: true }), duplicate: false };
	if (added) return { decision: current, duplicate: false };
	// A repeated outcome is not counted again, but it is logged: the trail says it arrived and was ignored.
	return { decision: await save(ctx, current, `outcome ignored: duplicate ${outcome.data.outcomeId}`, ctx.wallNow(), { durable: true }), duplicate: true };
}

/**
 * The outcome's id, unique in the store (a repeat is ignored). An agent's own id is kept under its action's decision
 * (`<decisionId>:agent:<id>`): as given, it could take the id another decision's outcome will get (a journey's
 * `<decisionId>:conversion`, read from lookup_contact, or the order id the shop's flow records it under) and have that
 * real outcome ignored as a duplicate.
 */
function outcomeIdOf(decision: Decision, input: OutcomeInput): string {
	if (input.outcomeId === undefined) return `${decision.decisionId}:${input.type}`;
	return input.agentId === undefined ? input.outcomeId : agentOutcomeId(decision, input.outcomeId);
}

const agentOutcomeId = (decision: Decision, given: string) => `${decision.decisionId}:agent:${given}`;

/**
 * The outcome's other spelling on its decision: an agent's id as given (recorded so before agents' ids were kept under
 * their decision, or by the shop's own flow), or a flow's id the agent reported first. One order reported by both
 * counts once.
 */
function otherSpelling(decision: Decision, input: OutcomeInput): string | undefined {
	if (input.outcomeId === undefined) return undefined;
	return input.agentId === undefined ? agentOutcomeId(decision, input.outcomeId) : input.outcomeId;
}

/**
 * An outcome's time as events' times are read: ISO 8601 with its time zone (Z or an offset). Without one, a date-time
 * would be read in the server's own zone, shifting the outcome by its offset with nothing said. Quoted as given, cut
 * short: the text may be anything a flow mapped (a whole payload).
 */
function outcomeDate(text: string): Date {
	// An offset written without its colon (+0200: Python's %z, Java's Z) is the same offset.
	const parsed = isoDate.safeParse(typeof text === 'string' ? text.replace(/([+-]\d{2})(\d{2})$/, '$1:$2') : text);
	if (parsed.success) return new Date(parsed.data);
	const shown = String(text);
	throw new NudgeError('INVALID_INPUT', `Outcome time ${JSON.stringify(shown.slice(0, 80))}${shown.length > 80 ? '…' : ''} is not a date-time with its time zone (use ISO 8601, e.g. 2026-05-01T10:00:00Z, or an offset such as +02:00)`);
}

/**
 * An outcome dated later than the engine's clock (plus the clock skew allowed) has not happened yet; taken as true, an
 * unsubscribe dated 2099 would outrank every opt-in the person states until then. On the event clock (`nudge replay`)
 * the events' own times are the clock, so there is nothing to compare with.
 */
function refuseFutureTime(ctx: EngineContext, at: Date): void {
	if (ctx.clock === 'event') return;
	const now = ctx.wallNow();
	if (!beyondClockSkew(at.getTime(), now.getTime())) return;
	throw new NudgeError(
		'INVALID_INPUT',
		`Outcome time ${isoTime(at.getTime())} is in the future (now is ${isoTime(now.getTime())}; at most ${MAX_CLOCK_SKEW_MS / 60_000} minutes ahead are allowed for clock differences): send the time the outcome happened, or leave it out for now`,
	);
}

/**
 * One attribution window for every way of naming the decision: an outcome named by decision or message id later than
 * `learner.attributionWindowHours` after its decision is refused, as one named by contact finds no decision then. Else a
 * late purchase would count for a messaged contact (whose e-mail link carries the id) but not for a held-out one (found
 * by contact), biasing lift and uplift training. An unsubscribe or a complaint is the person's word about a message sent
 * (no held-out twin) and is honoured whenever it comes.
 */
function refuseOutsideWindow(ctx: EngineContext, decision: Decision, outcome: Outcome): void {
	const hours = ctx.policy.learner.attributionWindowHours;
	if (optsOut(outcome.type) || parseTime(outcome.at) - parseTime(decision.createdAt) <= hours * 3_600_000) return;
	throw new NudgeError(
		'INVALID_INPUT',
		`Outcome at ${outcome.at} is more than ${hours} hours after its decision ${decision.decisionId} (${decision.createdAt}), outside the policy's attribution window (learner.attributionWindowHours): it is not counted, for messaged and held-out contacts alike`,
	);
}

/** The send time of a message that left after `at` (an outcome then cannot be its effect); undefined otherwise. */
function sentAfter(decision: Decision, at: string): string | undefined {
	const sent = decision.delivery?.status === 'sent' ? decision.delivery.at : undefined;
	return sent !== undefined && at < sent ? sent : undefined;
}

/**
 * Opts the contact out of `channel` under the contact's lock, which every update of its profile takes (identityLock.ts
 * contactLockKey), read and saved as an event's update is: a process that read the profile to update it saves before
 * this reads, so it cannot overwrite the opt-out with what it read, and a save whose lock ran out meanwhile (another
 * update may hold it) is refused, with the outcome left unrecorded for its retry.
 */
async function optOut(ctx: EngineContext, decision: Decision, channel: Channel, at: string): Promise<void> {
	// The decision's contact may have been merged into another since: its id then leads there (and locks that contact).
	const key = contactIdKey(decision.contactId);
	const request = profileLockRequest(ctx.store, [key], [key], decision.contactId);
	const { identities, profiles, lockedUntil } = await lockAndReadProfiles(ctx.store, request);
	const release = heldLockKeys(request, identities);
	const profile = profiles.get(identities.get(key) ?? decision.contactId);
	// Not over an opt-in the person stated after this message's unsubscribe; already out, its time is still the latest
	// statement (an opt-in made between the two, delivered late, must not re-open the channel).
	if (!profile || !stateConsent(profile, channel, 'opted_out', at)) {
		await releaseLocks(ctx.store, release, lockedUntil);
		if (!profile) throw unknownContact(decision.contactId);
		return;
	}
	await saveAndRelease(ctx.store, { profile, identityKeys: [], merged: [], release, lockedUntil });
}

/** The decision an outcome belongs to; exactly one way of naming it must be given. */
async function attribute(ctx: EngineContext, input: OutcomeInput, at: Date): Promise<Decision> {
	const ways = [input.decisionId, input.messageId, input.contactId].filter((v) => v !== undefined && v !== '');
	if (ways.length !== 1 || (input.channel && !input.contactId)) {
		throw new NudgeError('INVALID_INPUT', 'An outcome names its decision one way: a decision id, a provider message id, or a contact id (optionally with the channel)');
	}
	if (input.channel !== undefined && !(CHANNELS as readonly string[]).includes(input.channel)) {
		throw new NudgeError('INVALID_INPUT', `Channel "${input.channel}" is not one of ${CHANNELS.join(', ')}`);
	}
	if (input.decisionId) return loadDecision(ctx, input.decisionId);
	if (input.messageId) {
		const found = couldBeStoredId(input.messageId) ? await ctx.store.findDecisionByMessageId(input.messageId) : undefined;
		if (!found) throw new NudgeError('UNKNOWN_DECISION', `No decision in the log sent message ${input.messageId}`);
		return found;
	}
	const hours = ctx.policy.learner.attributionWindowHours;
	const from = isoTime(at.getTime() - hours * 3_600_000);
	const to = isoTime(at.getTime() + 1);
	// The contact's decisions are under its ids (merged away, the id names the contact it was merged into).
	if (!couldBeStoredId(input.contactId!)) throw new NudgeError('UNKNOWN_DECISION', `No decision for contact ${JSON.stringify(input.contactId!.slice(0, 80))}: no contact has such an id`);
	const profile = await profileById(ctx.store, input.contactId!);
	// Only decisions that reached Choose Channel (a channel, wait or holdout) can earn an outcome; an unsubscribe or a
	// complaint is about a message: the latest one sent (a later holdout or wait has no channel to opt out of).
	const aboutMessage = optsOut(input.type);
	const earns = (d: Decision) => (aboutMessage ? d.status === 'sent' : Boolean(d.choice)) && (!input.channel || d.channel === input.channel);
	const match = await latestDecisionOf(ctx.store, profile ? contactIds(profile) : [input.contactId!], { from, to }, earns);
	if (!match) {
		throw new NudgeError('UNKNOWN_DECISION', `No decision for contact ${input.contactId}${input.channel ? ` by ${input.channel}` : ''} in the ${hours} hours before ${isoTime(at.getTime())} (the policy's attribution window)`);
	}
	return match;
}

/** A newly recorded outcome updates the arm its decision tried (a sent message or a chosen wait). */
async function learnFrom(ctx: EngineContext, decision: Decision, outcome: Outcome): Promise<void> {
	const learner = ctx.policy.learner;
	// A decision is one trial, so it earns at most one success however many reward outcomes arrive.
	const first = claimsReward(decision, outcome, learner) && (await ctx.store.claimReward(decision.decisionId, Date.now()));
	const { deltas, promote } = outcomeDeltas(decision, outcome, learner, first);
	if (deltas.length) await ctx.store.addArmStats(deltas);
	if (promote) await maybePromote(ctx, promote.slot, promote.variants, promote.globalScope);
}

/** Promotes a slot's leader once it is probably best and was sent often enough; only once (compare-and-set). */
async function maybePromote(ctx: EngineContext, slot: string, variants: string[], globalScope: string): Promise<void> {
	if (variants.length < 2 || (await ctx.store.variantWinner(slot)) !== undefined) return;
	const { promoteAt, promoteMinTrials } = ctx.policy.learner;
	const odds = await probabilityBest({ store: ctx.store, policy: ctx.policy, arms: variants, globalScope, random: ctx.random });
	const leader = odds.reduce((a, b) => (b.probability > a.probability ? b : a));
	if (leader.probability >= promoteAt && leader.trials >= promoteMinTrials) await ctx.store.promoteVariant(slot, leader.arm);
}
