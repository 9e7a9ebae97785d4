import type { Decision, ReasonCode } from '../audit/schema';
import type { WebhookPoster } from '../deliver/provider';
import { isOpen, moveTo } from '../audit/status';
import { conversionOf } from '../journeys/journey';
import type { Random } from '../decide/sampling';
import { NudgeError } from '../errors';
import { couldBeStoredId } from '../events/limits';
import { decisionIdOf, type DecisionRef } from '../items/decisionRef';
import type { Policy } from '../policy/schema';
import type { Profile } from '../profiles/schema';
import { profileById } from '../profiles/profiles';
import type { Store } from '../store/types';
import type { Serial } from '../util/serial';
import { isoTime, parseTime } from '../util/isoTime';

/**
 * What every use case works with, passed explicitly: the store (the authority on decisions), the policy in
 * force (read at each call: `setPolicy` swaps it), the clock, the learner's random source and the lock that
 * keeps profile read-modify-writes from interleaving, and how to post a plain webhook target.
 */
export interface EngineContext {
	readonly store: Store;
	readonly policy: Policy;
	readonly policyVersion: string;
	/** `wall` decides at the current time; `event` at each event's own time (replay). */
	readonly clock: 'wall' | 'event';
	wallNow(): Date;
	readonly random: Random;
	readonly profileLock: Serial;
	readonly webhook: WebhookPoster;
}

/** On the event clock, a decision's time is its event's, or later once it waited (its trail's last step). */
export function nowFor(ctx: EngineContext, decision?: Decision): Date {
	if (ctx.clock !== 'event' || !decision) return ctx.wallNow();
	const last = decision.trail.at(-1)?.at;
	return new Date(Math.max(parseTime(decision.event.occurredAt), last ? parseTime(last) : 0));
}

/**
 * Records a step in the decision's trail and stores it. A settled decision (sent, suppressed, failed)
 * and a logged one are durable before this returns; pending progress is committed with the store's
 * next batch. `persist: false` only adds to the trail: the one-call journey stores at its milestones.
 */
export async function save(ctx: EngineContext, decision: Decision, stage: string, now: Date, options: { durable?: boolean; persist?: boolean } = {}): Promise<Decision> {
	decision.updatedAt = isoTime(now.getTime());
	decision.trail.push({ stage, at: decision.updatedAt, status: decision.status });
	if (options.persist === false) return decision;
	await ctx.store.putDecision(decision);
	if (options.durable ?? decision.status !== 'pending') await ctx.store.sync();
	return asStored(ctx, decision);
}

/** A new pending decision for a contact in a journey, opened by `event` at `at`: nothing done yet. */
export function newDecision(ctx: EngineContext, fields: { decisionId: string; at: Date; journey: string; contactId: string; event: Decision['event'] }): Decision {
	const { decisionId, at, journey, contactId, event } = fields;
	return {
		decisionId,
		createdAt: isoTime(at.getTime()),
		updatedAt: isoTime(at.getTime()),
		policyVersion: ctx.policyVersion,
		journey,
		contactId,
		status: 'pending',
		event,
		outcomes: [],
		...conversionOf(ctx.policy, journey),
		trail: [],
		annotations: {},
	};
}

/**
 * The decision's send key is held by another execution sending it, or by an erasure of its contact, which holds the
 * key of every open decision and ends them CONTACT_ERASED. A decision ended since it was read is answered as stored:
 * the caller's copy (the one-call journey's, a Frequency Cap node's) must not be written back over the erased row.
 */
export async function endedElsewhere(ctx: EngineContext, decision: Decision): Promise<Decision> {
	const stored = await ctx.store.getDecision(decision.decisionId);
	if (!stored || isOpen(stored.status)) throw new NudgeError('CONFLICT', `Decision ${decision.decisionId} is already being sent by another execution, or its contact is being erased`, [], 409);
	return stored;
}

export function suppress(decision: Decision, reason: ReasonCode, explanation: string, ruleId?: string): void {
	moveTo(decision, 'suppressed');
	decision.reason = reason;
	decision.explanation = explanation;
	if (ruleId) decision.ruleId = ruleId;
}

/**
 * Decisions this engine just read from its store or wrote to it, by store, for the current turn of the event
 * loop. A node opens an item's decision and passes it straight to its step (`openItem`, then `score`; Choose
 * Channel, then its content variant): the step takes that object instead of reading the same row again. Only
 * the very object qualifies (an item's JSON copy never does), once, and only until the event loop turns: a
 * decision held longer is read again.
 */
const justRead = new WeakMap<Decision, { store: Store; turn: number }>();

/** The event loop's turn, counted by one immediate per turn that needs it (not one per decision). */
let turn = 0;
let turnEnds = false;
function currentTurn(): number {
	if (!turnEnds) {
		turnEnds = true;
		setImmediate(() => {
			turn++;
			turnEnds = false;
		});
	}
	return turn;
}

function asStored(ctx: EngineContext, decision: Decision): Decision {
	justRead.set(decision, { store: ctx.store, turn: currentTurn() });
	return decision;
}

/** The decision itself when `ref` is the very object just read or stored by this engine's store (this turn), once. */
function takeJustRead(ctx: EngineContext, ref: unknown): Decision | undefined {
	if (!ref || typeof ref !== 'object') return undefined;
	const mark = justRead.get(ref as Decision);
	if (!mark) return undefined;
	justRead.delete(ref as Decision);
	return mark.store === ctx.store && mark.turn === turn ? (ref as Decision) : undefined;
}

/** Loads a decision; accepts an id, a decision, or an item carrying one. */
export async function loadDecision(ctx: EngineContext, ref: DecisionRef | unknown): Promise<Decision> {
	const held = takeJustRead(ctx, ref);
	if (held) return held;
	const id = decisionIdOf(ref);
	if (!id) {
		// A Poll Trigger's test fetch (n8n's "Fetch Test Event") shows changes without taking them in.
		if ((ref as { preview?: unknown } | undefined)?.preview === true) {
			throw new NudgeError('INVALID_INPUT', 'This item is a test fetch of the Nudge Poll Trigger: shown, not taken in, so it has no Nudge decision. Activate the workflow (its checks take the changes in), or test the flow with a Nudge Trigger’s test URL');
		}
		throw new NudgeError('INVALID_INPUT', 'This item carries no Nudge decision: connect the node after a Nudge Trigger (or another Nudge node), or pass an event');
	}
	const storable = couldBeStoredId(id);
	const decision = storable ? await ctx.store.getDecision(id) : undefined;
	const shown = storable ? id : `${JSON.stringify(id.slice(0, 80))}${id.length > 80 ? '…' : ''}`;
	if (!decision) throw new NudgeError('UNKNOWN_DECISION', `Decision ${shown} is not in this engine's decision log (is the node using the same engine settings as the trigger?)`);
	return asStored(ctx, decision);
}

/** The profile of the decision's contact, also when that contact was merged into another since the decision was made. */
export async function profileOf(ctx: EngineContext, decision: Decision): Promise<Profile> {
	const profile = await profileById(ctx.store, decision.contactId);
	if (!profile) throw unknownContact(decision.contactId);
	return profile;
}

export const unknownContact = (contactId: string) => new NudgeError('UNKNOWN_CONTACT', `Contact ${contactId} is unknown: no profile exists for it (was it erased?)`);

/**
 * Runs a profile read-modify-write apart from this process's others: under the engine's profile lock on a store of one
 * process. On a shared store the identity locks keep updates apart, in every process, and a wait for them inside the
 * profile lock would hold up every other update of this process meanwhile.
 */
export function apartFromOtherUpdates<T>(ctx: EngineContext, run: () => Promise<T>): Promise<T> {
	return ctx.store.shared ? run() : ctx.profileLock.run(run);
}

/** The contact's profile for the stages of one decision, loaded at most once. */
export type ProfileLoader = () => Promise<Profile>;

export function profileLoader(ctx: EngineContext, decision: Decision, known?: Profile): ProfileLoader {
	let profile = known;
	return async () => (profile ??= await profileOf(ctx, decision));
}
