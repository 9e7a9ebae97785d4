import type { Decision, DecisionQuery, Outcome } from '../audit/schema';
import type { Profile } from '../profiles/schema';

/** A cap rule reduced to what the store must count: sends of `channel` (or any) since `since`. */
export interface CapCounter {
	ruleId: string;
	limit: number;
	/** Undefined counts every channel. */
	channel?: string;
	/** Epoch ms: entries at or after this instant count. */
	since: number;
}

export interface CapReservation {
	reservationId: string;
	contactId: string;
	channel: string;
	at: number;
	expiresAt: number;
}

export interface CapVerdict {
	ok: boolean;
	/** Count in each rule's window before this reservation, in rule order. */
	counts: number[];
	/** The first rule that is full, when not ok. */
	bindingRuleId?: string;
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
	sync(): Promise<void>;
	getProfile(contactId: string): Promise<Profile | undefined>;
	/** identity key → contactId for the keys that are known. */
	resolveIdentities(keys: string[]): Promise<Map<string, string>>;
	/** Saves the profile, points its identity keys at it, and deletes the profiles merged into it. */
	saveProfile(profile: Profile, identityKeys: string[], mergedContactIds: string[]): Promise<void>;

	/** True the first time a key is claimed within its time to live; false for a repeat. */
	claimKey(key: string, ttlMs: number, now: number): Promise<boolean>;
	releaseKey(key: string): Promise<void>;

	/** Counts live entries (committed, or pending and unexpired) per counter and reserves if all have room. */
	reserveCap(reservation: CapReservation, counters: CapCounter[]): Promise<CapVerdict>;
	/** commit keeps the slot for good; release frees it. False when the reservation is unknown or settled. */
	settleCap(reservationId: string, outcome: 'commit' | 'release'): Promise<boolean>;

	putDecision(decision: Decision): Promise<void>;
	getDecision(decisionId: string): Promise<Decision | undefined>;
	queryDecisions(query: DecisionQuery): Promise<Decision[]>;

	/** False when the outcome id was already recorded (duplicates are not counted twice). */
	addOutcome(decisionId: string, outcome: Outcome): Promise<boolean>;

	close(): Promise<void>;
}
