import type { Decision, DecisionQuery, Outcome } from '../audit/schema';
import type { Profile } from '../profiles/schema';
import type { ModelActivation, ModelVersionInfo, ModelVersionRecord } from './models';
import type { DecisionFilter, DecisionSummary, FactCount, FactKey, FactValue, SummaryPage } from './decisionFacts';

/** The shapes the Store interface speaks in, so the engine's core needs no module of store/ but this one. */
export type { DecisionFilter, DecisionSummary, FactCount, FactKey, FactValue, ModelActivation, ModelVersionInfo, ModelVersionRecord, SummaryPage };

/** A cap rule reduced to what the store must count: live ledger entries that match, since `since`. */
export interface CapCounter {
	ruleId: string;
	limit: number;
	/** Epoch ms: entries at or after this instant count. */
	since: number;
	/** Only entries of this channel / journey / carrying this tag; each absent field matches all. */
	match: { channel?: string; journey?: string; tag?: string };
	/** Entries carrying any of these tags do not count (exempt categories that do not count toward the rule). */
	excludeTags: string[];
	/** Rolling windows: how long each entry counts, so the store can say when the next slot frees. */
	lengthMs?: number;
}

export interface CapReservation {
	reservationId: string;
	contactId: string;
	channel: string;
	journey: string;
	/** The message's category and tags, matched by tag-scoped rules and exemptions. */
	tags: string[];
	at: number;
	expiresAt: number;
	/**
	 * Entries of this ledger made before this instant can count under no rule of the policy any more (its
	 * longest window, at least a month: capLedgerKeepMs): a store may drop them now instead of waiting for the
	 * retention job.
	 */
	keepSince?: number;
}

export interface CapVerdict {
	ok: boolean;
	/** Count in each rule's window before this reservation, in rule order. */
	counts: number[];
	/** The first rule that is full, when not ok. */
	bindingRuleId?: string;
	/** For each full rolling counter: when its oldest counted entry leaves the window (a slot frees). */
	freesAt: (number | undefined)[];
}

/**
 * Everything Nudge keeps. Each backend makes reserveCap atomic: two callers racing for the last slot
 * cannot both get it. Methods are async so shared network stores fit the same interface.
 *
 * A resolved write is applied (every later read in this process sees it); `sync()` resolves once every
 * write applied so far is durable. Backends that write through simply resolve `sync()` at once.
 */
export interface Store {
	readonly kind: string;
	/**
	 * True for network stores that several processes use at once (Redis, PostgreSQL): the engine then
	 * serialises profile updates across processes with claimKey locks (engine/profiles/identityLock.ts).
	 */
	readonly shared?: boolean;
	sync(): Promise<void>;
	getProfile(contactId: string): Promise<Profile | undefined>;
	/** identity key → contactId for the keys that are known. */
	resolveIdentities(keys: string[]): Promise<Map<string, string>>;
	/** Saves the profile, points its identity keys at it, and deletes the profiles merged into it. */
	saveProfile(profile: Profile, identityKeys: string[], mergedContactIds: string[]): Promise<void>;

	/** True the first time a key is claimed within its time to live; false for a repeat. */
	claimKey(key: string, ttlMs: number, now: number): Promise<boolean>;
	releaseKey(key: string): Promise<void>;
	/** Holds a key until now + ttlMs whether or not it is claimed (a claim's holder extends it). */
	holdKey(key: string, ttlMs: number, now: number): Promise<void>;
	/** When a claimed key frees (epoch ms), or undefined when it is free at `now`. */
	keyHeldUntil(key: string, now: number): Promise<number | undefined>;

	/** Counts live entries (committed, or pending and unexpired) per counter and reserves if all have room. */
	reserveCap(reservation: CapReservation, counters: CapCounter[]): Promise<CapVerdict>;
	/**
	 * Counts exactly like reserveCap but reserves nothing: a read-only look, in one round trip for all the
	 * counters, used by Choose Channel to set aside channels already at a cap. Advisory only: the
	 * Frequency Cap stage's reserveCap stays the authoritative, atomic check.
	 */
	peekCap(contactId: string, counters: CapCounter[], now: number): Promise<CapVerdict>;
	/** commit keeps the slot for good; release frees it. False when the reservation is unknown or settled. */
	settleCap(reservationId: string, outcome: 'commit' | 'release'): Promise<boolean>;

	putDecision(decision: Decision): Promise<void>;
	getDecision(decisionId: string): Promise<Decision | undefined>;
	queryDecisions(query: DecisionQuery): Promise<Decision[]>;

	/** False when the outcome id was already recorded (duplicates are not counted twice). */
	addOutcome(decisionId: string, outcome: Outcome): Promise<boolean>;

	/** Saves a new version of a model (inactive) and returns its version number. */
	saveModelVersion(name: string, createdAt: string, meta: Record<string, unknown>, body: string): Promise<number>;
	/** One version, or the active one when `version` is omitted. */
	getModelVersion(name: string, version?: number): Promise<ModelVersionRecord | undefined>;
	/** The active version's number; cheap, so a scorer can check it on every score. */
	activeModelVersion(name: string): Promise<number | undefined>;
	/** Every version of a model (without bodies), oldest first. */
	listModelVersions(name: string): Promise<ModelVersionInfo[]>;
	/** Makes one version the active one and logs it. False when the version does not exist (nothing changes). */
	activateModelVersion(entry: Omit<ModelActivation, 'previous'>): Promise<boolean>;
	/** Activations and rollbacks of a model, oldest first. */
	modelActivations(name: string): Promise<ModelActivation[]>;

	/** A named position in an external feed (a polling trigger's cursor), or undefined when unset. */
	getCursor(name: string): Promise<string | undefined>;
	/**
	 * Compare-and-set: stores `value` only if the cursor still equals `expected` (undefined = unset), so two
	 * pollers on one store never both advance it. False when it had moved.
	 */
	setCursor(name: string, value: string, expected: string | undefined): Promise<boolean>;

	/** Schedules a timer, replacing a pending one with the same id. */
	scheduleTimer(timer: StoredTimer): Promise<void>;
	/** Cancels a pending timer; false when there was none. */
	cancelTimer(timerId: string): Promise<boolean>;
	/**
	 * Leases the timers due at `now` (earliest first, at most `limit`) to this caller for `leaseMs`: no other
	 * caller gets them meanwhile. The taker fires each and then acknowledges it with `ackTimer`; one it never
	 * acknowledges (the process died) is due again once the lease runs out, for the next taker. Only timers
	 * of `queue` are taken (inactivity timers by default; see TimerQueue).
	 */
	takeDueTimers(now: number, limit: number, leaseMs: number, queue?: TimerQueue): Promise<LeasedTimer[]>;
	/**
	 * Deletes a fired timer, if `lease` is still its lease; false when the lease was lost (it ran out and
	 * another caller took the timer) or the timer was rescheduled or cancelled since.
	 */
	ackTimer(timerId: string, lease: string): Promise<boolean>;

	/** The learner's counts for each key that has any (see engine/decide/learner.ts). */
	getArmStats(keys: string[]): Promise<Map<string, ArmStats>>;
	/** Adds each delta to its key's counts, all or none, atomically with respect to other writers. */
	addArmStats(deltas: { key: string; delta: Partial<ArmStats> }[]): Promise<void>;
	/** The decision whose delivery carries this provider message id, if any. */
	findDecisionByMessageId(messageId: string): Promise<Decision | undefined>;

	/** The decision console's stream: summaries of matching decisions, newest first, keyset-paged (see decisionFacts.ts). */
	listDecisionSummaries(filter: DecisionFilter, page: SummaryPage): Promise<DecisionSummary[]>;
	/** The console's charts: matching decisions counted per combination of `by` values, computed in the store. */
	countDecisions(filter: DecisionFilter, by: FactKey[]): Promise<FactCount[]>;

	/**
	 * Erases a contact (GDPR Art. 17): its profile, the identity keys that point at it, its cap ledger and pending
	 * reservations, the timers whose JSON body names it (`contactId`), the claim keys and learner counts named, and
	 * replaces each of its decisions with `pseudonymise(decision)` (which names a pseudonym instead), re-indexed under
	 * the pseudonym; their provider message id lookups go. See engine/privacy/erase.ts.
	 */
	eraseContact(erasure: ContactErasure): Promise<ErasureCounts>;

	/**
	 * Retention (engine/privacy/retention.ts): deletes these decisions with their outcomes, console facts and
	 * provider message id lookups. Returns how many this call deleted (ids already gone count nothing, so two
	 * concurrent runs never count a decision twice).
	 */
	deleteDecisions(decisionIds: string[]): Promise<number>;
	/**
	 * Retention: deletes cap ledger entries (committed or pending, with their reservations) made before `before`,
	 * or claimed keys that expired before `before`, in bounded batches; with `dryRun`, only counts them.
	 */
	pruneExpired(target: PruneTarget, before: number, dryRun: boolean): Promise<number>;
	/** Retention: the contacts whose profile was last seen before `before` (ISO), a page at a time. */
	inactiveContacts(before: string, pageSize: number): AsyncIterable<string[]>;

	// ── Folded steps: what the decision path always does together, one round trip on Redis. Every other backend
	// composes them of the methods above (store/folded.ts), so they mean exactly what their parts do in turn.

	/**
	 * Claims `key` (as claimKey) unless `mark` is held at `markAt`: 'marked' (nothing is kept claimed), 'claimed',
	 * or 'held' by another caller. An event's lease and its de-duplication mark (events/eventClaim.ts).
	 */
	claimKeyUnlessMarked(key: string, ttlMs: number, now: number, mark: string, markAt: number): Promise<'claimed' | 'held' | 'marked'>;
	/** holdKey(hold, ttlMs, now), then releaseKey(release): an event's mark set, then its lease let go. */
	holdKeyAndRelease(hold: string, ttlMs: number, now: number, release: string): Promise<void>;
	/**
	 * Claims every lock key (as claimKey; all or none) and, when it did, reads what a profile update starts from:
	 * the identity keys that are known, and the profiles of `contactId` and of every contact they name. Undefined
	 * (nothing claimed, nothing read) when a lock is held by another caller.
	 */
	lockAndReadProfiles(locks: string[], ttlMs: number, now: number, identityKeys: string[], contactId?: string): Promise<LockedProfiles | undefined>;
	/** saveProfile, then releaseKey of each key in `release`. */
	saveProfileAndRelease(profile: Profile, identityKeys: string[], mergedContactIds: string[], release: string[]): Promise<void>;
	/**
	 * reserveCap, then, when it reserved, claimKey(claim.key, claim.ttlMs, reservation.at); `claimed` says whether
	 * it claimed (false when nothing was reserved, or another caller holds the key). A send's key with its cap slot.
	 */
	reserveCapAndClaim(reservation: CapReservation, counters: CapCounter[], claim: KeyClaim): Promise<CapVerdict & { claimed: boolean }>;
	/** settleCap, then addArmStats(deltas) whatever it returned (an empty list adds nothing). */
	settleCapAndCount(reservationId: string, outcome: 'commit' | 'release', deltas: { key: string; delta: Partial<ArmStats> }[]): Promise<boolean>;

	close(): Promise<void>;
}

/** A key to claim (as Store.claimKey) for `ttlMs`. */
export interface KeyClaim {
	key: string;
	ttlMs: number;
}

/** What Store.lockAndReadProfiles read: identity key → contactId for the known keys, contactId → profile for those that exist. */
export interface LockedProfiles {
	identities: Map<string, string>;
	profiles: Map<string, Profile>;
}

/** What pruneExpired deletes: cap ledger entries by when they were made, claimed keys by when they expired. */
export type PruneTarget = 'capLedger' | 'claims';
/** Rows or keys a retention batch touches at most (one transaction, one Redis script or SCAN page). */
export const RETENTION_BATCH = 1_000;

export interface ContactErasure {
	contactId: string;
	/** The profile's identity keys; each is deleted while it still points at the contact (a backend indexing identities by contact finds any others). */
	identityKeys: string[];
	/** Claim keys named after the contact (its identity locks). */
	claimKeys: string[];
	/** Learner counts kept per contact (its engagement hours). */
	armKeys: string[];
	pseudonymise: (decision: Decision) => Decision;
	/**
	 * False: SQLite overwrites what it deletes instead of rebuilding the file after the erasure (retention erases
	 * contacts in the background, and a rebuild holds the file's write lock for as long as it takes). Rows it only
	 * rewrites (pseudonymised decisions) may leave their old bytes in free pages until reused.
	 */
	scrub?: boolean;
}

/** What erasing a contact removed (profiles, identities, capEntries, timers) or pseudonymised (decisions). */
export interface ErasureCounts {
	profiles: number;
	identities: number;
	capEntries: number;
	timers: number;
	decisions: number;
}

/** What the learner keeps per (context, arm): sufficient statistics of its posteriors. */
export interface ArmStats {
	trials: number;
	successes: number;
	negatives: number;
	valueSum: number;
	valueSq: number;
}
export const ARM_STAT_FIELDS = ['trials', 'successes', 'negatives', 'valueSum', 'valueSq'] as const;

/**
 * A timer kept in the store (e.g. "cart abandoned" if no order within 30 minutes); `body` is JSON, whose `contactId`
 * names the contact it is for (erasing the contact deletes it).
 */
export interface StoredTimer {
	timerId: string;
	/** Epoch ms. */
	dueAt: number;
	body: string;
}

/**
 * Timers come in queues, each with its own taker: inactivity timers (`timers`, fired as new events), and each
 * journey's decisions waiting for their due time (`wait:<journey>`, the journey URI-encoded; ids
 * `wait:<journey>:<decisionId>`), so one journey's flow never takes another's.
 */
export type TimerQueue = string;
export const INACTIVITY_QUEUE = 'timers';
const WAIT = 'wait:';
export const waitQueue = (journey: string): TimerQueue => `${WAIT}${encodeURIComponent(journey)}`;
/** The queue a timer is in, by its id. */
export function timerQueue(timerId: string): TimerQueue {
	const end = timerId.indexOf(':', WAIT.length);
	return timerId.startsWith(WAIT) && end > 0 ? timerId.slice(0, end) : INACTIVITY_QUEUE;
}
/** A queue's timers are those whose id starts with `prefix`, or (`without`) those whose id does not. */
export function queuePrefix(queue: TimerQueue): { prefix: string; without: boolean } {
	return queue === INACTIVITY_QUEUE ? { prefix: WAIT, without: true } : { prefix: `${queue}:`, without: false };
}

/** A due timer leased to one taker; `lease` identifies this taking (see Store.takeDueTimers). */
export interface LeasedTimer extends StoredTimer {
	lease: string;
}
