import { decideApproval, requestAction, sendAction } from './agents/actions';
import { blastRadiusTouches } from './agents/blastRadius';
import type { ActionVerdict } from './agents/verdict';
import type { Decision, DecisionQuery, Score } from './audit/schema';
import { exportJsonl, iterateDecisions } from './audit/export';
import type { Channel } from './channels';
import { LiftOptions, LiftRow, LiftTally } from './decide/lift';
import type { Random } from './decide/sampling';
import { webhookPoster } from './deliver/webhook';
import type { CustomerEvent } from './events/schema';
import type { DecisionRef } from './items/decisionRef';
import { DEFAULT_JOURNEY, type NotFromEvent } from './items/open';
import { JOURNEYS } from './journeys/journey';
import { eraseContact, EraseOptions, ErasureReceipt } from './privacy/erase';
import { ContactRecord, contactRecord } from './privacy/record';
import type { RetentionReport } from './privacy/retention';
import { RetentionSchedule } from './privacy/schedule';
import { LoadedPolicy, loadPolicy } from './policy/load';
import type { Policy } from './policy/schema';
import { profileById } from './profiles/profiles';
import { couldBeStoredId } from './events/limits';
import type { Profile } from './profiles/schema';
import type { Store } from './store/types';
import { chooseDecisionChannel, chooseVariant } from './usecases/choose';
import { type EngineContext, loadDecision } from './usecases/context';
import { checkCap, type GuardOptions } from './usecases/guard';
import { ingest, ingestBatch, type IngestOptions, type IngestResult, ingestValid, open, type RefusedEvent } from './usecases/ingest';
import { logDecision } from './usecases/log';
import { type OutcomeInput, recordOutcome } from './usecases/outcome';
import { resolveReview } from './usecases/review';
import { decide, decideDue, decideIngested } from './usecases/run';
import { scoreDecision, scoreProfile } from './usecases/score';
import { send, type SendTarget } from './usecases/send';
import { Serial } from './util/serial';
import { dedupWindowMs } from './events/eventAge';

export type { GuardOptions, IngestResult, OutcomeInput, SendTarget };

export interface EngineOptions {
	store: Store;
	/** False when the store is shared (the registry closes it when its last engine goes). */
	ownsStore?: boolean;
	policy?: LoadedPolicy;
	/**
	 * `wall` (default) decides at the current time. `event` decides at each event's own time, so a
	 * replay of history sees caps and windows as they were.
	 */
	clock?: 'wall' | 'event';
	/** Overrides the wall clock (tests). */
	now?: () => Date;
	/** The learner's uniform random source (seed it in tests and benchmarks); Math.random by default. */
	random?: Random;
}

/**
 * Profile read-modify-write must not interleave: one lock per store keeping profiles, shared by every engine on it
 * (a split store on the SQLite file another engine's store is: the file's, profileHolder).
 */
const profileLocks = new WeakMap<object, Serial>();
function profileLockFor(store: Store): Serial {
	const holder = store.profileHolder ?? store;
	let lock = profileLocks.get(holder);
	if (!lock) profileLocks.set(holder, (lock = new Serial()));
	return lock;
}

/** How long close() waits for tracked work: Node-RED gives a node's close 15 s. */
export const CLOSE_WAIT_MS = 15_000;

/**
 * The decision engine: a façade over the use cases in engine/usecases (and engine/agents, engine/privacy).
 * Each step loads the decision from the store (the store is the authority, not the item a flow passes
 * along), does one thing, records it in the decision log, and returns the decision. A step given a
 * decision that is already settled (sent, suppressed, failed) returns it unchanged.
 */
export class Engine {
	readonly store: Store;
	private loaded: LoadedPolicy;
	private readonly ownsStore: boolean;
	/** What the use cases are given; reads the policy in force at each call. */
	private readonly ctx: EngineContext;
	private readonly retention: RetentionSchedule;
	/** Work a caller asked close() to wait for (see track). */
	private readonly running = new Set<Promise<unknown>>();
	private closeStarted = false;

	constructor(options: EngineOptions) {
		this.store = options.store;
		this.ownsStore = options.ownsStore ?? true;
		this.loaded = options.policy ?? loadPolicy();
		const loaded = () => this.loaded;
		this.ctx = {
			store: options.store,
			get policy() {
				return loaded().policy;
			},
			get policyVersion() {
				return loaded().version;
			},
			clock: options.clock ?? 'wall',
			wallNow: options.now ?? (() => new Date()),
			random: options.random ?? Math.random,
			profileLock: profileLockFor(options.store),
			webhook: webhookPoster,
		};
		this.retention = new RetentionSchedule(this.ctx);
	}

	get policy(): Policy {
		return this.loaded.policy;
	}

	get policyVersion(): string {
		return this.loaded.version;
	}

	/** Swaps the policy; an invalid one throws and the old one stays in force. */
	setPolicy(input: unknown): void {
		this.loaded = loadPolicy(input);
	}

	/**
	 * Takes in an event (Nudge or Segment format): validates it, drops a retried delivery, updates the
	 * contact's profile and opens a decision for the journey. A malformed event throws and stores nothing.
	 */
	ingest(raw: unknown, options: Omit<IngestOptions, 'deferMark'> = {}): Promise<IngestResult> {
		return ingest(this.ctx, raw, options);
	}

	/**
	 * Takes in a batch whole or not at all: every event is validated before any is stored. An invalid
	 * event fails the batch with its position and field errors.
	 */
	ingestBatch(raws: unknown[], options: { journey?: string; source?: CustomerEvent['source']; batch?: boolean } = {}): Promise<IngestResult[]> {
		return ingestBatch(this.ctx, raws, options);
	}

	/** Takes in a batch's valid events and says which others were refused and why (usecases/ingest.ts ingestValid). */
	ingestValid(raws: unknown[], options: { journey?: string; source?: CustomerEvent['source'] } = {}): Promise<{ results: IngestResult[]; invalid: RefusedEvent[] }> {
		return ingestValid(this.ctx, raws, options);
	}

	/** Loads a decision; accepts an id, a decision, or an item carrying one. */
	getDecision(ref: DecisionRef | unknown): Promise<Decision> {
		return loadDecision(this.ctx, ref);
	}

	/**
	 * A decision for an item: the one it carries (a decision, `{decision}`, `{decisionId}` or a `d_…` id),
	 * or a new one when the item is itself an event (an object, or JSON text), unless the step cannot go on with one.
	 */
	open(item: unknown, journey?: string, notFromEvent?: NotFromEvent): Promise<Decision> {
		return open(this.ctx, item, journey, notFromEvent);
	}

	score(ref: DecisionRef | unknown): Promise<Decision> {
		return scoreDecision(this.ctx, ref);
	}

	/** A content variant for a slot, learned like channels (engine/usecases/choose.ts). */
	chooseVariant(ref: DecisionRef | unknown, slot: string, variants: string[] | string): Promise<Decision> {
		return chooseVariant(this.ctx, ref, slot, variants);
	}

	/** The promoted variant of a content slot, if one has won. */
	variantWinner(slot: string): Promise<string | undefined> {
		// An id no store could hold names nothing (PostgreSQL would refuse it as "the store is down").
		return couldBeStoredId(slot) ? this.ctx.store.variantWinner(slot) : Promise.resolve(undefined);
	}

	chooseChannel(ref: DecisionRef | unknown): Promise<Decision> {
		return chooseDecisionChannel(this.ctx, ref);
	}

	/** The guardrails step (the Frequency Cap node): see engine/usecases/guard.ts. */
	checkCap(ref: DecisionRef | unknown, options: Channel | GuardOptions = {}): Promise<Decision> {
		return checkCap(this.ctx, ref, options);
	}

	/** A reviewer's verdict on a decision waiting in review (engine/usecases/review.ts). */
	resolveReview(ref: DecisionRef | unknown, verdict: { approve: boolean; reviewer: string; note?: string }): Promise<Decision> {
		return resolveReview(this.ctx, ref, verdict);
	}

	/** An action an AI agent proposes, answered with one verdict (engine/agents/actions.ts, docs/policy.md#agents). */
	requestAction(input: unknown): Promise<ActionVerdict> {
		return requestAction(this.ctx, input);
	}

	/** A person's decision on an agent's action waiting for approval. Never an agent's tool. */
	decideApproval(approvalId: string, input: { approver: string; approve: boolean; note?: string }): Promise<ActionVerdict> {
		return decideApproval(this.ctx, approvalId, input);
	}

	/** Sends an allowed agent action by the engine's one send path, and logs it. */
	sendAction(decisionId: string, target: SendTarget): Promise<Decision> {
		return sendAction(this.ctx, decisionId, target);
	}

	/** Sends once per decision, only with its cap reservation (engine/usecases/send.ts). */
	send(ref: DecisionRef | unknown, target: SendTarget, message: { category?: string } = {}): Promise<Decision> {
		return send(this.ctx, ref, target, message);
	}

	/** A whole journey in one call (CLI replay, benchmarks): engine/usecases/run.ts. */
	decide(rawEvent: unknown, options: { journey: string; target: SendTarget }): Promise<Decision> {
		return decide(this.ctx, rawEvent, options);
	}

	/** The stages of `decide` for an event already taken in (e.g. a timer that fired); records its outcome first. */
	decideIngested(ingested: IngestResult, target: SendTarget): Promise<Decision> {
		return decideIngested(this.ctx, ingested, target);
	}

	/** The rest of `decide` for a delayed decision that came due (guard/waits.ts). */
	decideDue(ref: DecisionRef | unknown, target: SendTarget): Promise<Decision> {
		return decideDue(this.ctx, ref, target);
	}

	/**
	 * The active version of the policy's model (`scoring.model`, or the journey's own `scoring`) when it was
	 * trained on enough data; otherwise the rules model, with `fallback: true` and a note saying why.
	 */
	scoreProfile(profile: Profile, journey?: string): Promise<Score> {
		return scoreProfile(this.ctx, profile, journey);
	}

	/** Finalises a decision in the log, with optional annotations (campaign, reviewer notes…). */
	logDecision(ref: DecisionRef | unknown, annotations: Record<string, unknown> = {}): Promise<Decision> {
		return logDecision(this.ctx, ref, annotations);
	}

	/** Attributes an outcome to its decision and teaches the learner, once (engine/usecases/outcome.ts). */
	recordOutcome(input: OutcomeInput): Promise<{ decision: Decision; duplicate: boolean }> {
		return recordOutcome(this.ctx, input);
	}

	queryDecisions(query: DecisionQuery): Promise<Decision[]> {
		// An id no store could hold matches nothing (PostgreSQL would refuse it as "the store is down").
		const contactIds = query.contactIds?.filter(couldBeStoredId);
		if ([query.contactId, query.journey].some((id) => id !== undefined && !couldBeStoredId(id)) || (query.contactIds?.length && !contactIds?.length)) return Promise.resolve([]);
		return this.store.queryDecisions(contactIds ? { ...query, contactIds } : query);
	}

	/**
	 * Erases a contact (GDPR Art. 17), named `{ contactId }` or `{ email }`: its profile, identities, consent, timers
	 * and cap ledger go, its decisions are pseudonymised (counts and lift unchanged). `suppress` keeps a salted hash
	 * of its identities so the person, if they come again, is never contacted. See engine/privacy/erase.ts.
	 */
	eraseContact(contact: unknown, options: EraseOptions = {}): Promise<ErasureReceipt> {
		// The policy's journeys, the default and the prebuilt ones (their flows run on a policy that may not name them).
		const journeys = [...new Set([DEFAULT_JOURNEY, ...JOURNEYS, ...Object.keys(this.policy.journeys)])];
		const events = { journeys, windowMs: dedupWindowMs(this.policy), eventClock: this.ctx.clock === 'event' };
		return this.ctx.profileLock.run(() => eraseContact(this.store, contact, options, this.ctx.wallNow(), events, blastRadiusTouches(this.policy)));
	}

	/** Deletes what the policy's `retention` keeps no longer (engine/privacy/retention.ts); `nudge retention` runs it. */
	runRetention(options: { dryRun?: boolean } = {}): Promise<RetentionReport> {
		return this.retention.run(options);
	}

	/** The trigger nodes' schedule, off their event path: runs the retention job when it is due (privacy/schedule.ts). */
	retentionIfDue(): Promise<RetentionReport | undefined> {
		return this.retention.ifDue();
	}

	/** retentionIfDue for a trigger's tick, which must not wait for it: `log` gets the report's line or the failure. */
	startRetentionIfDue(log: (line: string, failed: boolean) => void): void {
		this.retention.startIfDue(log);
	}

	/** Everything held about one contact (GDPR Art. 15), named `{ contactId }` or `{ email }`, as one JSON document. */
	contactRecord(contact: unknown): Promise<ContactRecord> {
		return contactRecord(this.store, contact, this.ctx.wallNow());
	}

	/** Lift per journey and arm, treated vs holdout, from the decision log (see engine/decide/lift.ts). */
	async lift(query: DecisionQuery = {}, options: LiftOptions = {}): Promise<LiftRow[]> {
		const tally = new LiftTally(options);
		for await (const d of iterateDecisions(this.store, query)) tally.add(d);
		return tally.report();
	}

	exportJsonl(query: DecisionQuery, write: (line: string) => void): Promise<number> {
		return exportJsonl(this.store, query, write);
	}

	/** The contact's profile; by the id of a contact merged into another, that contact's. */
	async getProfile(contactId: string): Promise<Profile | undefined> {
		return couldBeStoredId(contactId) ? profileById(this.store, contactId) : undefined;
	}

	/**
	 * Marks work on this engine (a step a flow started) that close() must let finish: a redeploy that closes the
	 * store under a send in flight would lose its record in the decision log. Returns the work as given.
	 */
	track<T>(work: Promise<T>): Promise<T> {
		this.running.add(work);
		const forget = () => this.running.delete(work);
		work.then(forget, forget);
		return work;
	}

	/**
	 * Waits for tracked work (at most `waitMs`, as long as Node-RED lets a node close: a run that never settles, a
	 * hung store call, must not keep the store open for good), then syncs (or closes, when it owns it) the store.
	 */
	async close(waitMs = CLOSE_WAIT_MS): Promise<void> {
		this.closeStarted = true;
		if (this.running.size) {
			let timer: NodeJS.Timeout | undefined;
			let waited = false;
			const deadline = new Promise<void>((resolve) => {
				timer = setTimeout(() => {
					waited = true;
					resolve();
				}, waitMs);
			});
			// Work tracked while it waits (a message already on its way in) is waited for as well, within the same time.
			while (this.running.size && !waited) await Promise.race([Promise.allSettled([...this.running]), deadline]);
			clearTimeout(timer);
		}
		if (this.ownsStore) await this.store.close();
		else await this.store.sync();
	}

	/** Once close() is called: a caller starting new work (an MCP tool call) refuses it from then on. */
	get closing(): boolean {
		return this.closeStarted;
	}
}
