import type { Decision } from '../audit/schema';
import type { Profile } from '../profiles/schema';
import type { ModelActivation, ModelVersionInfo, ModelVersionRecord } from './models';
import type {
	CapLedgerStore,
	ClaimStore,
	CursorStore,
	DecisionLog,
	FoldedSteps,
	LearnerStatsStore,
	ModelStore,
	ProfileStore,
	RetentionStore,
	RewardRecords,
	SuppressionRecords,
	StoreLifecycle,
	TimerStore,
	VariantRecords,
} from './roles';
import type { DecisionFilter, DecisionSummary, FactCount, FactKey, FactValue, SummaryPage } from './decisionFacts';

/** The shapes the Store interface speaks in, so the engine's core needs no module of store/ but this one. */
export type { DecisionFilter, DecisionSummary, FactCount, FactKey, FactValue, ModelActivation, ModelVersionInfo, ModelVersionRecord, SummaryPage };
export type * from './roles';
/** The send time's engagement counts as every store keys them (the core adds and erases them by these keys). */
export { contactHourKeys, HOURS, POPULATION_SCOPE, sendHourKey, type SendHours } from './sendHours';

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
	/**
	 * For each full rolling counter: the entry's time plus the window's length, the last instant it still counts (a
	 * window counts entries at or after now minus its length); a slot is free 1 ms later.
	 */
	freesAt: (number | undefined)[];
}

/**
 * Everything Nudge keeps: every role of roles.ts, each method in exactly one (compose.ts checks it). Methods are
 * async so shared network stores fit the same interface.
 *
 * A resolved write is applied (every later read in this process sees it); `sync()` resolves once every
 * write applied so far is durable. Backends that write through simply resolve `sync()` at once.
 */
export interface Store
	extends StoreLifecycle,
		ProfileStore,
		ClaimStore,
		CapLedgerStore,
		DecisionLog,
		ModelStore,
		CursorStore,
		TimerStore,
		LearnerStatsStore,
		RetentionStore,
		FoldedSteps,
		VariantRecords,
		RewardRecords,
		SuppressionRecords {}

/** A key to claim (as Store.claimKey) for `ttlMs`. */
export interface KeyClaim {
	key: string;
	ttlMs: number;
	/** With a cap reservation (reserveCapAndClaim): only looked at, never claimed (a held key still reserves nothing). */
	lookOnly?: boolean;
}

/** A key held for `ttlMs` from `now` (as holdKey), then `release` let go: an event's mark set and its lease let go. */
export interface KeyHold {
	hold: string;
	ttlMs: number;
	now: number;
	release: string;
	/**
	 * The value `release` was claimed with (claimKey's now + ttl): the hold is made only while it still holds it, or,
	 * gone, while `hold` is not held. An event's lease that ran out may have been taken by another delivery of the
	 * event, which takes the event in itself.
	 */
	claimedUntil?: number;
}

/** saveProfileAndRelease's arguments: a profile update's save with its identity locks' release. */
export interface ProfileWrite {
	profile: Profile;
	identityKeys: string[];
	merged: string[];
	release: string[];
	/** The value the locks of `release` were taken with (claimKey's now + ttl): the save is made only while each holds it. */
	lockedUntil?: number;
}

/** The end of an event's take-in (FoldedSteps.finishTakeIn): its profile update's save, when left to it, then its mark. */
export interface TakeIn {
	profile?: ProfileWrite;
	mark: KeyHold;
}

/** What a profile update locks and reads (Store.lockAndReadProfiles' arguments but the time). */
export interface ProfileLockRequest {
	locks: string[];
	ttlMs: number;
	identityKeys: string[];
	contactId?: string;
	/** Records read in the same step (the suppression list's: privacy/suppression.ts). */
	reads?: RecordReads;
	/** The prefix of a contact's lock key: the contacts read are locked too (FoldedSteps.lockAndReadProfiles). */
	contactLocks?: string;
}

/** Named records to read with a profile update's locks: cursors by name, and whether claimed keys are held. */
export interface RecordReads {
	cursors: string[];
	claims: string[];
}

/** What RecordReads found: each cursor that is set, with its value, and each claim held at the step's time. */
export interface ReadRecords {
	cursors: Map<string, string>;
	claims: Set<string>;
}

/**
 * What Store.lockAndReadProfiles read: identity key → contactId for the known keys, contactId → profile for those that
 * exist, and the records asked for (only when asked).
 */
export interface LockedProfiles {
	identities: Map<string, string>;
	profiles: Map<string, Profile>;
	records?: ReadRecords;
}

/** What pruneExpired deletes: cap ledger entries by when they were made, claimed keys by when they expired. */
export type PruneTarget = 'capLedger' | 'claims';
/** Rows or keys a retention batch touches at most (one transaction, one Redis script or SCAN page). */
export const RETENTION_BATCH = 1_000;

/** The verdict of a cap check with no counters: nothing is counted, so nothing is full. */
export const noCounters = (): CapVerdict => ({ ok: true, counts: [], freesAt: [] });

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
/**
 * One journey's inactivity timers: those of the inactivity queue whose body names the journey (every version's timer
 * bodies do: events/timers.ts TimerBody), so a journey's trigger fires only its own, whatever their ids.
 */
export const inactivityQueue = (journey: string): TimerQueue => `${INACTIVITY_QUEUE}#${journey}`;
const isInactivityQueue = (queue: TimerQueue) => queue === INACTIVITY_QUEUE || queue.startsWith(`${INACTIVITY_QUEUE}#`);
/** The inactivity queue's keys (Redis) serve every journey's part of it. */
export const storedQueue = (queue: TimerQueue): TimerQueue => (isInactivityQueue(queue) ? INACTIVITY_QUEUE : queue);

/**
 * A queue's timers are those whose id starts with `prefix`, or (`without`) those whose id does not; of a journey's part
 * of the inactivity queue, only those whose body holds `journeyText` (journeyFragment).
 */
export function queuePrefix(queue: TimerQueue): { prefix: string; without: boolean; journeyText?: string } {
	if (!isInactivityQueue(queue)) return { prefix: `${queue}:`, without: false };
	return queue === INACTIVITY_QUEUE ? { prefix: WAIT, without: true } : { prefix: WAIT, without: true, journeyText: journeyFragment(queue.slice(INACTIVITY_QUEUE.length + 1)) };
}

/**
 * How a timer's body names its journey: the engine writes bodies with JSON.stringify (events/timers.ts TimerBody: no
 * spaces, no other object holding a `journey` key, quotes inside a text escaped), so this text is in a body exactly
 * when its journey is this one. Every backend looks for it as text: nothing is parsed, so a body that is not JSON
 * (hand-made) is no journey's and fails no take.
 */
export const journeyFragment = (journey: string): string => `"journey":${JSON.stringify(journey)}`;

/** A due timer leased to one taker; `lease` identifies this taking (see Store.takeDueTimers). */
export interface LeasedTimer extends StoredTimer {
	lease: string;
}
