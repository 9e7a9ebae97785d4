import type { Decision, DecisionQuery, Outcome } from '../audit/schema';
import type { Profile } from '../profiles/schema';
import type { ModelActivation, ModelVersionInfo, ModelVersionRecord } from './models';
import type { DecisionFilter, DecisionSummary, FactCount, FactKey, SummaryPage } from './decisionFacts';
import type { SendHours } from './sendHours';
import type { ArmStats, CapCounter, CapReservation, CapVerdict, ContactErasure, ErasureCounts, KeyClaim, LeasedTimer, LockedProfiles, ProfileLockRequest, PruneTarget, RecordReads, StoredTimer, TakeIn, TimerQueue } from './types';

/**
 * The store, one role per concern. `Store` (types.ts) is all of them; a rule that needs one or two takes just
 * those, so its signature says what it touches. A composed store (compose.ts) puts each role on one backend.
 */

/** What a store is and how it ends, over all its roles. */
export interface StoreLifecycle {
	readonly kind: string;
	/**
	 * What keeps the profiles, when not this store itself: a composed store's part (compose.ts), the shared store behind
	 * a split store's part (registry.ts). Engines on one of them share one in-process profile lock (engine.ts).
	 */
	readonly profileHolder?: object;
	/**
	 * True for network stores that several processes use at once (Redis, PostgreSQL): the engine then
	 * serialises profile updates across processes with claimKey locks (engine/profiles/identityLock.ts).
	 */
	readonly shared?: boolean;
	/**
	 * True when lockAndReadProfiles (and the event's claim with the locks) reads the `reads` asked for in the same step
	 * (Redis's script); the composed default reads none (FoldedSteps.lockAndReadProfiles), so nobody need ask it.
	 */
	readonly readsRecordsWithLocks?: boolean;
	/**
	 * True when the look at the caps (FoldedSteps.peekCapAndReadArmStats) finishes an event's take-in in its own round
	 * trip (Redis's script): the one-call journey then leaves its profile update's save to that step too.
	 */
	readonly foldsTakeIn?: boolean;
	/** Resolves once every write applied so far is durable. */
	sync(): Promise<void>;
	close(): Promise<void>;
}

/** Contact profiles and the identity keys that point at them. */
export interface ProfileStore {
	getProfile(contactId: string): Promise<Profile | undefined>;
	/** identity key → contactId for the keys that are known. */
	resolveIdentities(keys: string[]): Promise<Map<string, string>>;
	/** Saves the profile, points its identity keys at it, and deletes the profiles merged into it. */
	saveProfile(profile: Profile, identityKeys: string[], mergedContactIds: string[]): Promise<void>;
	/** Retention: the contacts whose profile was last seen before `before` (ISO), a page at a time. */
	inactiveContacts(before: string, pageSize: number): AsyncIterable<string[]>;
}

/** Keys held for a while: de-duplication marks, locks, leases. */
export interface ClaimStore {
	/** True the first time a key is claimed within its time to live; false for a repeat. */
	claimKey(key: string, ttlMs: number, now: number): Promise<boolean>;
	/**
	 * Lets a key go; with `heldAs`, only while it holds that value (claimKey's now + ttl): a holder whose claim ran out
	 * does not let go of another caller's.
	 */
	releaseKey(key: string, heldAs?: number): Promise<void>;
	/** Holds a key until now + ttlMs whether or not it is claimed (a claim's holder extends it). */
	holdKey(key: string, ttlMs: number, now: number): Promise<void>;
	/** When a claimed key frees (epoch ms), or undefined when it is free at `now`. */
	keyHeldUntil(key: string, now: number): Promise<number | undefined>;
}

/** The frequency caps' ledger: each backend makes reserveCap atomic (two callers racing for the last slot cannot both get it). */
export interface CapLedgerStore {
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
	/**
	 * Moves the ledgers of contacts merged into another (`from`) to it (`to`): their sends count under its caps from now
	 * on, and a pending entry still settles by its reservation id. Moving again moves nothing. Returns the entries moved.
	 */
	moveCapLedger(from: string[], to: string): Promise<number>;
}

/** The decision log: decisions, their outcomes, and the lookups and counts the console and retention need. */
export interface DecisionLog {
	putDecision(decision: Decision): Promise<void>;
	getDecision(decisionId: string): Promise<Decision | undefined>;
	queryDecisions(query: DecisionQuery): Promise<Decision[]>;
	/**
	 * False when the outcome id was already recorded (duplicates are not counted twice), or `sameAs` was on this decision:
	 * the outcome's other spelling (an agent's id kept under its decision, engine/usecases/outcome.ts), checked in the
	 * same step so two reports of one order at once count once.
	 */
	addOutcome(decisionId: string, outcome: Outcome, sameAs?: string): Promise<boolean>;
	/** The decision whose delivery carries this provider message id, if any. */
	findDecisionByMessageId(messageId: string): Promise<Decision | undefined>;
	/** The decision console's stream: summaries of matching decisions, newest first, keyset-paged (see decisionFacts.ts). */
	listDecisionSummaries(filter: DecisionFilter, page: SummaryPage): Promise<DecisionSummary[]>;
	/** The console's charts: matching decisions counted per combination of `by` values, computed in the store. */
	countDecisions(filter: DecisionFilter, by: FactKey[]): Promise<FactCount[]>;
	/**
	 * Retention (engine/privacy/retention.ts): deletes these decisions with their outcomes, console facts and
	 * provider message id lookups. Returns how many this call deleted (ids already gone count nothing, so two
	 * concurrent runs never count a decision twice).
	 */
	deleteDecisions(decisionIds: string[]): Promise<number>;
}

/** Versioned models and their activation log. */
export interface ModelStore {
	/** Saves a new version of a model (inactive) and returns its version number. */
	saveModelVersion(name: string, createdAt: string, meta: Record<string, unknown>, body: string): Promise<number>;
	/** One version, or the active one when `version` is omitted. */
	getModelVersion(name: string, version?: number): Promise<ModelVersionRecord | undefined>;
	/** The active version's number; cheap, so a scorer can check it on every score. */
	activeModelVersion(name: string): Promise<number | undefined>;
	/** Every version of a model (without bodies), oldest first. */
	listModelVersions(name: string): Promise<ModelVersionInfo[]>;
	/**
	 * Makes one version the active one and logs it. False when the version does not exist, or, given
	 * `expected`, when the active version is not `expected` (null: none is active): then nothing changes.
	 * The check and the activation are one step, so a caller that compared with the active version never
	 * replaces another one activated meanwhile.
	 */
	activateModelVersion(entry: Omit<ModelActivation, 'previous'>, expected?: number | null): Promise<boolean>;
	/** Activations and rollbacks of a model, oldest first. */
	modelActivations(name: string): Promise<ModelActivation[]>;
}

/** Named, permanent values moved by compare-and-set: polling cursors, and the records of records.ts. */
export interface CursorStore {
	/** A named position in an external feed (a polling trigger's cursor), or undefined when unset. */
	getCursor(name: string): Promise<string | undefined>;
	/**
	 * Compare-and-set: stores `value` only if the cursor still equals `expected` (undefined = unset), so two
	 * pollers on one store never both advance it. False when it had moved.
	 */
	setCursor(name: string, value: string, expected: string | undefined): Promise<boolean>;
	/** Unsets a cursor (nothing when it is unset). */
	deleteCursor(name: string): Promise<void>;
}

/** Timers, each queue leased to one taker at a time. */
export interface TimerStore {
	/**
	 * Schedules a timer, replacing a pending one with the same id (its due time, body and lease); with `onlyIfAbsent`, a
	 * timer with that id is left as it is.
	 */
	scheduleTimer(timer: StoredTimer, onlyIfAbsent?: boolean): Promise<void>;
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
}

/** The learner's counts (see engine/decide/learner.ts). */
export interface LearnerStatsStore {
	/** The learner's counts for each key that has any. */
	getArmStats(keys: string[]): Promise<Map<string, ArmStats>>;
	/** A contact's and the population's engagements per local hour (the send time's counts, sendHours.ts), at one moment. */
	getSendHours(contactId: string): Promise<SendHours>;
	/** Adds each delta to its key's counts, all or none, atomically with respect to other writers. */
	addArmStats(deltas: { key: string; delta: Partial<ArmStats> }[]): Promise<void>;
}

/** Deleting across roles: what erasure and retention remove that no single role owns. */
export interface RetentionStore {
	/**
	 * Erases a contact (GDPR Art. 17): its profile, the identity keys that point at it, its cap ledger and pending
	 * reservations, the timers whose JSON body names it (`contactId`), the claim keys and learner counts named, and
	 * replaces each of its decisions with `pseudonymise(decision)` (which names a pseudonym instead), re-indexed under
	 * the pseudonym; their provider message id lookups go. See engine/privacy/erase.ts.
	 */
	eraseContact(erasure: ContactErasure): Promise<ErasureCounts>;
	/**
	 * Retention: deletes cap ledger entries (committed or pending, with their reservations) made before `before`,
	 * or claimed keys that expired before `before`, in bounded batches; with `dryRun`, only counts them.
	 */
	pruneExpired(target: PruneTarget, before: number, dryRun: boolean): Promise<number>;
}

/**
 * What the decision path always does together, one round trip on Redis. Each means exactly what its parts (the
 * methods of the roles named) do in turn; a backend without a faster way composes them of those (folded.ts), and
 * a composed store forwards one to a part only when that part keeps every role it touches (compose.ts).
 */
export interface FoldedSteps {
	/**
	 * Claims: claims `key` (as claimKey) unless `mark` is held at `markAt`: 'marked' (nothing is kept claimed),
	 * 'claimed', or 'held' by another caller. An event's lease and its de-duplication mark (events/eventClaim.ts).
	 */
	claimKeyUnlessMarked(key: string, ttlMs: number, now: number, mark: string, markAt: number): Promise<'claimed' | 'held' | 'marked'>;
	/**
	 * Claims and profiles: claimKeyUnlessMarked, then, when it claimed, lockAndReadProfiles(lock) at `now`; `locked` is
	 * what that read (absent when the key was not claimed, or a lock is held: the key stays claimed). An event's lease
	 * with its contact's identity locks and profile read.
	 */
	claimKeyUnlessMarkedAndLock(key: string, ttlMs: number, now: number, mark: string, markAt: number, lock: ProfileLockRequest): Promise<{ claim: 'claimed' | 'held' | 'marked'; locked?: LockedProfiles }>;
	/**
	 * Profiles and claims: with `profile`, saveProfileAndRelease(profile); then, unless that wrote nothing (false),
	 * holdKey(mark.hold, mark.ttlMs, mark.now) and releaseKey(mark.release). The end of an event's take-in: its profile
	 * update saved with the identity locks let go (when it was left to this step), its mark set, its lease let go. With
	 * `mark.claimedUntil`, nothing is written (false) unless the lease still holds that value, or, gone, no other
	 * delivery has marked the event: a lease that ran out may have been taken by another delivery.
	 */
	finishTakeIn(takeIn: TakeIn): Promise<boolean>;
	/**
	 * Claims and profiles: claims every lock key (as claimKey; all or none) and, when it did, reads what a profile
	 * update starts from: the identity keys that are known, and the profiles of `contactId` and of every contact they
	 * name. With `reads`, a store that reads them in the same step (Redis's script) also returns those cursors
	 * (getCursor) and whether those claims are held at `now` (keyHeldUntil), in `records`; one that would need calls of
	 * their own (the composed default, store/folded.ts) returns no `records`, and the caller reads what it needs later.
	 * With `contactLocks`, the lock key `contactLocks` + id of `contactId` and of every contact the identity keys name is
	 * claimed too, all or none with `locks`: two updates of one contact that come by different identities share a lock.
	 * Undefined (nothing claimed, nothing read) when a lock is held by another caller.
	 */
	lockAndReadProfiles(locks: string[], ttlMs: number, now: number, identityKeys: string[], contactId?: string, reads?: RecordReads, contactLocks?: string): Promise<LockedProfiles | undefined>;
	/**
	 * Profiles and claims: saveProfile, then releaseKey of each key in `release`. With `lockedUntil` (the value the locks
	 * were claimed with: now + ttl), only while every key of `release` still holds it (none ran out and was claimed by
	 * another caller since); false, with nothing written, when one does not.
	 */
	saveProfileAndRelease(profile: Profile, identityKeys: string[], mergedContactIds: string[], release: string[], lockedUntil?: number): Promise<boolean>;
	/**
	 * Caps and claims: reserveCap, then, when it reserved, claimKey(claim.key, claim.ttlMs, reservation.at); `claimed`
	 * says whether it claimed (false when nothing was reserved, or another caller holds the key). A send's key with its cap
	 * slot. A key held already reserves nothing (peekCap's look; `held`): an erasure holds the keys of the person's open
	 * decisions. `claim.lookOnly`: the key is looked at, never claimed.
	 */
	reserveCapAndClaim(reservation: CapReservation, counters: CapCounter[], claim: KeyClaim): Promise<CapVerdict & { claimed: boolean; held?: boolean }>;
	/**
	 * Caps and learner counts, read only: peekCap (an always-ok verdict with no counters), getArmStats(armKeys) and, with
	 * `sendHours`, getSendHours(contactId), at one moment. Choose Channel's look at the caps and the learner's and send
	 * time's counts. With `takeIn` (profiles and claims), finishTakeIn(takeIn) in the same step (it writes nothing the
	 * look reads): the one-call journey's event mark and profile save, carried by the next step it takes (usecases/run.ts).
	 */
	peekCapAndReadArmStats(
		contactId: string,
		counters: CapCounter[],
		now: number,
		armKeys: string[],
		sendHours?: boolean,
		takeIn?: TakeIn,
	): Promise<{ verdict: CapVerdict; stats: Map<string, ArmStats>; hours?: SendHours; /** false when finishTakeIn(takeIn) wrote nothing */ tookIn?: false }>;
	/** Caps and learner counts: settleCap, then addArmStats(deltas) whatever it returned (an empty list adds nothing). */
	settleCapAndCount(reservationId: string, outcome: 'commit' | 'release', deltas: { key: string; delta: Partial<ArmStats> }[]): Promise<boolean>;
}

/** Content variants: the one a slot promoted, and those a reviewer approved. Permanent records (records.ts). */
export interface VariantRecords {
	/** The variant a content slot promoted, if one has won. */
	variantWinner(slot: string): Promise<string | undefined>;
	/** Promotes a slot's variant, once: false when the slot already has a winner. */
	promoteVariant(slot: string, variant: string): Promise<boolean>;
	/** A reviewer approved a decision using this variant: it is new no more. `at` is epoch ms. */
	approveVariant(variant: string, at: number): Promise<void>;
	/** Whether a reviewer approved this variant (a read only: it never marks it). */
	isVariantApproved(variant: string): Promise<boolean>;
}

/** Erased people who asked not to be contacted again, by a keyed digest of each identity (privacy/suppression.ts). */
export interface SuppressionRecords {
	/** Marks these identity digests suppressed for good (`at`, epoch ms, is when). */
	suppressIdentities(digests: string[], at: number): Promise<void>;
	/** Whether any of these identity digests is suppressed. */
	anyIdentitySuppressed(digests: string[]): Promise<boolean>;
}

/** The learner's once-per-decision reward: a decision is one trial, so it earns at most one success. */
export interface RewardRecords {
	/** True the first time for a decision (recorded as counted at `now`, epoch ms); false once its reward was counted. */
	claimReward(decisionId: string, now: number): Promise<boolean>;
	/** Forgets a decision's reward mark (its decision is deleted). */
	releaseReward(decisionId: string): Promise<void>;
}
