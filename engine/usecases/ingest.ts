import type { Profile } from '../profiles/schema';
import { HeldProfileUpdate } from '../profiles/heldUpdate';
import type { HeldLocks } from '../profiles/identityLock';
import { byCreated, type Decision, optsOut } from '../audit/schema';
import { latestDecisionOf } from '../audit/export';
import { CHANNELS, Channel } from '../channels';
import { FieldIssue, NudgeError, describeIssues } from '../errors';
import { claimEvent, claimEventAndLock, EventMark, type EventTake, releaseEvent, storeWideEventMarkKey } from '../events/eventClaim';
import { checkBatchSize } from '../events/limits';
import { normalizeEvent } from '../events/normalize';
import type { CustomerEvent } from '../events/schema';
import { applyNegativeTriggers } from '../guard/negativeTriggers';
import { newId } from '../ids';
import { carriedDecisionId } from '../items/decisionRef';
import { DEFAULT_JOURNEY, type NotFromEvent } from '../items/open';
import { eventKey, outcomeOfEvent, startsMessage } from '../journeys/journey';
import { applyToProfile, contactIdKey, contactIds, eventIdentityKeys, profileUpdateRequest, saveAndRelease, type StoreWideMark } from '../profiles/profiles';
import { ERASED } from '../privacy/pseudonymise';
import { apartFromOtherUpdates, type EngineContext, newDecision, save, suppress, loadDecision } from './context';
import { settleStopped } from './log';
import { isoTime, MAX_CLOCK_SKEW_MS } from '../util/isoTime';
import { dedupWindowMs, olderThanDedupWindow } from '../events/eventAge';


export interface IngestResult {
	event: CustomerEvent;
	decision: Decision;
	duplicate: boolean;
	profile?: Profile;
	/** With `deferMark`: the event's mark, which the caller must set (EventMark) before any message leaves. */
	mark?: EventMark;
}

/**
 * Takes in an event (Nudge or Segment format): validates it, drops a retried delivery, updates the
 * contact's profile and opens a decision for the journey. A malformed event throws and stores nothing.
 */
export async function ingest(ctx: EngineContext, raw: unknown, options: IngestOptions = {}): Promise<IngestResult> {
	return accept(ctx, normalizeEvent(raw, { source: options.source, now: ctx.wallNow(), notAfterNow: ctx.clock !== 'event' }), options.journey, options);
}

export interface IngestOptions {
	journey?: string;
	source?: CustomerEvent['source'];
	deferMark?: boolean;
	/**
	 * The event is an inactivity timer's, fired by this engine (events/timers.ts): its time is when it fell due, and
	 * however late it fires it is no repeat of anything (its own id is claimed once), so its age stops nothing.
	 */
	firedTimer?: boolean;
}

/** An event of a batch that was refused: its position, what is wrong, and the fields. */
export interface RefusedEvent {
	index: number;
	error: string;
	issues: FieldIssue[];
}

/** Every event of a batch normalised (each checked before any is stored), and those refused with why. */
function normalizeAll(ctx: EngineContext, raws: unknown[], source?: CustomerEvent['source']): { events: CustomerEvent[]; invalid: RefusedEvent[] } {
	if (!raws.length) throw new NudgeError('INVALID_EVENT', 'The batch is empty: send one event, or a JSON array of events');
	checkBatchSize(raws.length);
	const now = ctx.wallNow();
	const events: CustomerEvent[] = [];
	const invalid: RefusedEvent[] = [];
	raws.forEach((raw, index) => {
		try {
			if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
				throw new NudgeError('INVALID_EVENT', `Event must be a JSON object, not ${Array.isArray(raw) ? 'an array' : typeof raw}`);
			}
			events.push(normalizeEvent(raw, { source, now, notAfterNow: ctx.clock !== 'event' }));
		} catch (error) {
			const e = error as NudgeError;
			invalid.push({ index, error: e.issues?.length ? describeIssues(e.issues) : e.message, issues: e.issues ?? [] });
		}
	});
	return { events, invalid };
}

/** The error that refuses a batch (nothing stored), naming its first invalid event, its index and fields. */
export function batchRefused(invalid: RefusedEvent[], total: number, batch: boolean): NudgeError {
	const first = invalid[0];
	const where = batch ? `Event ${first.index} of the batch (counting from 0)` : 'The event';
	const more = invalid.length > 1 ? ` (${invalid.length} of ${total} events are invalid)` : '';
	return new NudgeError('INVALID_EVENT', `${where} is not valid, so nothing was stored${more}: ${first.error}`, first.issues, 400, { index: first.index, invalid });
}

/**
 * Takes in a batch whole or not at all: every event is validated before any is stored. An invalid
 * event fails the batch with its position and field errors.
 */
export async function ingestBatch(ctx: EngineContext,
	raws: unknown[],
	options: { journey?: string; source?: CustomerEvent['source']; batch?: boolean } = {},
): Promise<IngestResult[]> {
	const { events, invalid } = normalizeAll(ctx, raws, options.source);
	if (invalid.length) throw batchRefused(invalid, raws.length, options.batch || raws.length > 1);
	const results: IngestResult[] = [];
	for (const event of events) results.push(await accept(ctx, event, options.journey));
	return results;
}

/**
 * Takes in the valid events of a batch and refuses the others, saying which and why: for a sender that never
 * delivers a refused batch again (HubSpot does not retry a 400), so one bad record does not lose the others.
 */
export async function ingestValid(ctx: EngineContext, raws: unknown[], options: { journey?: string; source?: CustomerEvent['source'] } = {}): Promise<{ results: IngestResult[]; invalid: RefusedEvent[] }> {
	const { events, invalid } = normalizeAll(ctx, raws, options.source);
	// Nothing valid to take in: refused whole, as any batch (400, naming the first).
	if (!events.length) throw batchRefused(invalid, raws.length, raws.length > 1);
	const results: IngestResult[] = [];
	for (const event of events) results.push(await accept(ctx, event, options.journey));
	return { results, invalid };
}

async function accept(ctx: EngineContext, event: CustomerEvent, journey = DEFAULT_JOURNEY, { deferMark = false, firedTimer = false }: IngestOptions = {}): Promise<IngestResult> {
	const at = ctx.clock === 'event' ? new Date(event.occurredAt) : ctx.wallNow();
	const decision = newDecision(ctx, {
		decisionId: newId('d'),
		at,
		journey,
		contactId: event.identities.contactId ?? '',
		event: { eventId: event.eventId, source: event.source, type: event.type, name: event.name, occurredAt: event.occurredAt },
	});
	// On a shared store the profile's save is left to the step that sets the event's mark (the one-call journey's next
	// step): fenced by the locks and the lease with it (one step on Redis), so a delivery that stalled past them writes
	// nothing when another took the event over. A store of one process saves under the engine's profile lock.
	const take: EventTake = { journey, eventId: event.eventId };
	const taken = await claimAndUpdateProfile(ctx, event, take, at, !!ctx.store.shared);
	if ('duplicate' in taken) {
		const contactId = await duplicateContact(ctx, event);
		// A retried delivery of an erased person's event (the erasure holds its mark): its name may spell them (`Referral
		// from ana@…`), and it is logged under no id of theirs, nor one an event could give a contact (`unknown`), so the
		// erasure is not undone by its own duplicate and no contact's record holds it.
		decision.contactId = contactId ?? newId('erased');
		if (!contactId && decision.event.name !== undefined) decision.event = { ...decision.event, name: ERASED };
		suppress(decision, 'DUPLICATE_EVENT', taken.duplicate);
		// No flow sees a duplicate, so it is finalised here.
		decision.loggedAt = isoTime(at.getTime());
		return { event, decision: await save(ctx, decision, 'ingest', at), duplicate: true };
	}
	const { profile, claimedUntil, held } = taken;
	let mark: EventMark | undefined;
	try {
		decision.contactId = profile.contactId;
		await routeEvent(ctx, decision, contactIds(profile), event, at, firedTimer);
		// Durable before the caller acknowledges the event: an accepted event always has its decision row.
		const saved = await save(ctx, decision, 'ingest', at, { durable: true });
		mark = new EventMark(ctx.store, take, at.getTime(), dedupWindowMs(ctx.policy), claimedUntil, held);
		if (deferMark) return { event, profile, decision: saved, duplicate: false, mark };
		await mark.set();
		return { event, profile, decision: saved, duplicate: false };
	} catch (error) {
		// Not processed: let a retried delivery through again (a profile update left unsaved is dropped: the retry makes
		// it). A refused take-in let go what was still its own (EventMark.refuse) and its decision row says why.
		await held?.abandon().catch(() => undefined);
		if (mark?.refused) await settleStopped(ctx, decision, error, true).catch(() => undefined);
		else if (!mark?.letGo) await releaseEvent(ctx.store, take, claimedUntil);
		throw error;
	}
}

/** The contact a duplicate event is about, if the store has it: by its identities, or the contact id it names. */
async function duplicateContact(ctx: EngineContext, event: CustomerEvent): Promise<string | undefined> {
	const direct = event.identities.contactId;
	const known = await ctx.store.resolveIdentities([...eventIdentityKeys(event), ...(direct ? [contactIdKey(direct)] : [])]);
	const resolved = [...known.values()][0];
	if (resolved) return resolved;
	return direct !== undefined && (await ctx.store.getProfile(direct)) ? direct : undefined;
}

/** Taken in: the contact's profile updated; `held` when its save is left to the event's mark. */
type TakenIn = { profile: Profile; held?: HeldProfileUpdate; claimedUntil: number };

/**
 * Claims the event in the journey and updates its contact's profile; `duplicate` (why) when the journey took the event
 * in before, or an earlier version did (its store-wide mark). The first try is one store step (the event's lease,
 * the identity locks, the profile read), apart from this process's other updates (apartFromOtherUpdates); a lock
 * another caller holds is waited for after it, as is another delivery holding the event (that wait may be long). With
 * `defer` the update is made under the locks and its save left to the caller (`held`). `claimedUntil`: the lease's
 * value, which the event's mark is fenced by. A failure lets the event go, so a retried delivery can take it.
 */
async function claimAndUpdateProfile(ctx: EngineContext, event: CustomerEvent, take: EventTake, at: Date, defer: boolean): Promise<TakenIn | { duplicate: string }> {
	const request = profileUpdateRequest(ctx.store, event);
	const afterApply = (p: Profile, e: CustomerEvent) => applyNegativeTriggers(p, e, ctx.policy);
	const storeWide: StoreWideMark = { at: at.getTime(), windowMs: dedupWindowMs(ctx.policy), marked: async () => (await ctx.store.keyHeldUntil(storeWideEventMarkKey(event.eventId), at.getTime())) !== undefined };
	const duplicate = () => ({ duplicate: `event ${event.eventId} was already taken in by journey ${take.journey}` });
	const update = async (claimedUntil: number, locked?: HeldLocks): Promise<TakenIn | { duplicate: string }> => {
		try {
			const applied = await applyToProfile(ctx.store, event, afterApply, locked, storeWide);
			if (!applied) {
				await releaseEvent(ctx.store, take, claimedUntil);
				return { duplicate: `event ${event.eventId} was already taken in, by a version of Nudge before this one (in whichever journey received it first)` };
			}
			if (defer) return { profile: applied.write.profile, held: new HeldProfileUpdate(ctx.store, applied.write, applied.lockedAt), claimedUntil };
			await saveAndRelease(ctx.store, applied.write);
			return { profile: applied.write.profile, claimedUntil };
		} catch (error) {
			await releaseEvent(ctx.store, take, claimedUntil);
			throw error;
		}
	};
	const first = await apartFromOtherUpdates(ctx, async () => {
		const { claim, claimedUntil, locked } = await claimEventAndLock(ctx.store, take, at.getTime(), request);
		return claim === 'claimed' ? (locked ? update(claimedUntil, locked) : { unlocked: claimedUntil }) : claim;
	});
	if (first === 'marked') return duplicate();
	if (first === 'held') {
		const claimedUntil = await claimEvent(ctx.store, take, at.getTime());
		return claimedUntil === undefined ? duplicate() : apartFromOtherUpdates(ctx, () => update(claimedUntil));
	}
	return 'unlocked' in first ? update(first.unlocked) : first;
}

/**
 * The journey's branches at ingest (policy `journeys.<id>`): an event that is an outcome of an earlier
 * message names that decision in `outcomeFor` (Record Outcome records it there); an event that is not one
 * of the journey's triggers only updated the profile, so its decision is settled NOT_A_TRIGGER; a trigger that
 * happened longer ago than the de-duplication window is settled EVENT_TOO_OLD.
 */
async function routeEvent(ctx: EngineContext, decision: Decision, ids: string[], event: CustomerEvent, at: Date, firedTimer: boolean): Promise<void> {
	const outcomeFor = await outcomeOfMessage(ctx, ids, decision.journey, event, at);
	if (outcomeFor) decision.outcomeFor = outcomeFor;
	if (!startsMessage(ctx.policy, decision.journey, event)) {
		const recorded = decision.outcomeFor ? `; it is recorded as ${decision.outcomeFor.type} of decision ${decision.outcomeFor.decisionId}` : '';
		suppress(decision, 'NOT_A_TRIGGER', `${eventKey(event)} does not start a message in journey ${decision.journey} (policy journeys.${decision.journey}.triggers)${recorded}`);
	} else if (!firedTimer && olderThanDedupWindow(ctx.policy, event.occurredAt, at.getTime())) {
		const hours = ctx.policy.dedupWindowHours;
		suppress(decision, 'EVENT_TOO_OLD', `${eventKey(event)} happened at ${event.occurredAt}, more than dedupWindowHours (${hours} h) before it arrived: Nudge tells a repeated delivery only within that window, so an event this old (a replay of history, a backfill, a delivery retried for days) updates the contact but starts no message; raise dedupWindowHours to act on older events`);
	}
}

/**
 * The outcome an event is of the contact's latest message in the journey (policy `journeys.<id>.outcomes`), with the
 * decision it belongs to; undefined when the event is no outcome, or there is no such message in the attribution window.
 * Each journey whose trigger receives the event attributes it to its own message: a journey's lift counts the purchases
 * after its messages and after its holdouts, whatever another journey sent. `ids`: the contact's ids (profiles.ts
 * contactIds): a message sent before a merge is under the merged contact's id.
 */
export async function outcomeOfMessage(ctx: EngineContext, ids: string[], journey: string, event: CustomerEvent, at: Date): Promise<Decision['outcomeFor']> {
	const outcome = outcomeOfEvent(ctx.policy, journey, event);
	if (!outcome) return undefined;
	// At the event's own time when it is earlier (a late delivery): a message sent since is none it can be an outcome of,
	// and the outcome is recorded at the event's time. An unsubscribe or complaint may be dated up to the clock skew
	// allowed before its message (the provider's clock behind ours): Record Outcome takes it at the message's time.
	const until = new Date(Math.min(Date.parse(event.occurredAt) + (optsOut(outcome.type) ? MAX_CLOCK_SKEW_MS : 0), at.getTime()));
	// An event naming its channel (an email unsubscribe) belongs to the latest message on that channel.
	const named = event.properties.channel;
	const channel = typeof named === 'string' && (CHANNELS as readonly string[]).includes(named) ? (named as Channel) : undefined;
	// An unsubscribe or a complaint is about a message sent: a later holdout has no channel to opt out of.
	const target = await latestMessage(ctx, ids, journey, event.eventId, until, channel, optsOut(outcome.type));
	return target && { decisionId: target.decisionId, ...outcome, outcomeId: outcomeIdOf(event.eventId, outcome.type, journey) };
}

/**
 * An outcome event's id as recorded: one per journey, so the same event reaching two journeys' triggers is recorded on
 * each journey's message (outcome ids are unique in the store), and a repeat in the same journey is not recorded again,
 * whichever message it finds (one sent meanwhile, a replay run twice). The journey's name is length-prefixed and the
 * type has no colon, so no two events and journeys spell the same id. Versions before this one had one id an event
 * (`legacy`: a repeat of an event they recorded finds it so).
 */
const outcomeIdOf = (eventId: string, type: string, journey: string) => `${journey.length}:${journey}:${type}:${eventId}`;
export const legacyOutcomeIdOf = (eventId: string, type: string) => `${eventId}:${type}`;

/**
 * The contact's latest message in the journey (sent, or held out unless `sentOnly`) within the attribution window, on
 * `channel` if given, other than one the outcome event itself started (a repeated delivery finds the event's own message).
 */
async function latestMessage(ctx: EngineContext, ids: string[], journey: string, eventId: string, at: Date, channel?: Channel, sentOnly = false): Promise<Decision | undefined> {
	const window = { journey, from: isoTime(at.getTime() - ctx.policy.learner.attributionWindowHours * 3_600_000), to: isoTime(at.getTime() + 1) };
	const earlier = (d: Decision) => d.event.eventId !== eventId;
	// Two narrow reads: the latest message sent (on the channel), and without a channel the latest holdout.
	const sent = await latestDecisionOf(ctx.store, ids, { ...window, status: 'sent' }, (d) => earlier(d) && (!channel || d.channel === channel));
	const held = channel || sentOnly ? undefined : await latestDecisionOf(ctx.store, ids, { ...window, reason: 'HOLDOUT' }, (d) => earlier(d) && d.choice?.method === 'holdout');
	return !sent || (held && byCreated(held, sent) > 0) ? held : sent;
}

/**
 * A decision for an item: the one it carries (a decision, `{decision}`, `{decisionId}` or a `d_…` id),
 * or a new one when the item is itself an event (an object, or JSON text), unless the step cannot go on with one
 * (`notFromEvent`).
 */
export async function open(ctx: EngineContext, item: unknown, journey?: string, notFromEvent?: NotFromEvent): Promise<Decision> {
	const carried = carriedDecisionId(item);
	if (carried) return loadDecision(ctx, carried);
	let event: CustomerEvent;
	try {
		event = normalizeEvent(item, { now: ctx.wallNow(), notAfterNow: ctx.clock !== 'event' });
	} catch (error) {
		if (!(error instanceof NudgeError) || error.code !== 'INVALID_EVENT') throw error;
		throw new NudgeError(
			'INVALID_EVENT',
			`This item carries no Nudge decision and is not a customer event either (${error.message}). Connect this node after a Nudge Trigger or another Nudge node, or give it an event with a type and the contact it is about (email, userId…)`,
			error.issues,
		);
	}
	// Checked before the event is taken in, which would use it up: see NotFromEvent.
	if (notFromEvent) throw new NudgeError(notFromEvent.code, `This item is an event, not a Nudge decision, and ${notFromEvent.why}. Nothing was taken in: once the flow is mended, the same event can be sent to it again`);
	return (await accept(ctx, event, journey)).decision;
}
