import type { Decision, DecisionQuery, Outcome } from '../audit/schema';
import type { Profile } from '../profiles/schema';
import type { ModelActivation } from './models';
import type { ArmStats, CapCounter, CapReservation, ContactErasure, ErasureCounts, KeyClaim, PruneTarget, Store, StoredTimer, TimerQueue } from './types';
import type { DecisionFilter, FactKey, SummaryPage } from './decisionFacts';

/**
 * Two stores as one: `hot` keeps what every decision reads and writes under contention (profiles,
 * de-duplication keys, cap reservations, cursors, timers, learner counts) — Redis; `log` keeps what
 * is written once and queried later (decisions, outcomes, model versions) — PostgreSQL.
 */
export class SplitStore implements Store {
	readonly kind: string;
	readonly shared: boolean;

	constructor(
		readonly hot: Store,
		readonly log: Store,
	) {
		this.kind = `${hot.kind}+${log.kind}`;
		this.shared = !!(hot.shared || log.shared);
	}

	async sync() {
		await Promise.all([this.hot.sync(), this.log.sync()]);
	}

	getProfile(contactId: string) {
		return this.hot.getProfile(contactId);
	}
	resolveIdentities(keys: string[]) {
		return this.hot.resolveIdentities(keys);
	}
	saveProfile(profile: Profile, identityKeys: string[], merged: string[]) {
		return this.hot.saveProfile(profile, identityKeys, merged);
	}
	claimKey(key: string, ttlMs: number, now: number) {
		return this.hot.claimKey(key, ttlMs, now);
	}
	releaseKey(key: string) {
		return this.hot.releaseKey(key);
	}
	holdKey(key: string, ttlMs: number, now: number) {
		return this.hot.holdKey(key, ttlMs, now);
	}
	keyHeldUntil(key: string, now: number) {
		return this.hot.keyHeldUntil(key, now);
	}
	reserveCap(reservation: CapReservation, counters: CapCounter[]) {
		return this.hot.reserveCap(reservation, counters);
	}
	peekCap(contactId: string, counters: CapCounter[], now: number) {
		return this.hot.peekCap(contactId, counters, now);
	}
	settleCap(reservationId: string, outcome: 'commit' | 'release') {
		return this.hot.settleCap(reservationId, outcome);
	}
	getCursor(name: string) {
		return this.hot.getCursor(name);
	}
	setCursor(name: string, value: string, expected: string | undefined) {
		return this.hot.setCursor(name, value, expected);
	}
	scheduleTimer(timer: StoredTimer) {
		return this.hot.scheduleTimer(timer);
	}
	cancelTimer(timerId: string) {
		return this.hot.cancelTimer(timerId);
	}
	takeDueTimers(now: number, limit: number, leaseMs: number, queue?: TimerQueue) {
		return this.hot.takeDueTimers(now, limit, leaseMs, queue);
	}
	ackTimer(timerId: string, lease: string) {
		return this.hot.ackTimer(timerId, lease);
	}
	getArmStats(keys: string[]) {
		return this.hot.getArmStats(keys);
	}
	addArmStats(deltas: { key: string; delta: Partial<ArmStats> }[]) {
		return this.hot.addArmStats(deltas);
	}
	pruneExpired(target: PruneTarget, before: number, dryRun: boolean) {
		return this.hot.pruneExpired(target, before, dryRun);
	}
	inactiveContacts(before: string, pageSize: number) {
		return this.hot.inactiveContacts(before, pageSize);
	}
	claimKeyUnlessMarked(key: string, ttlMs: number, now: number, mark: string, markAt: number) {
		return this.hot.claimKeyUnlessMarked(key, ttlMs, now, mark, markAt);
	}
	holdKeyAndRelease(hold: string, ttlMs: number, now: number, release: string) {
		return this.hot.holdKeyAndRelease(hold, ttlMs, now, release);
	}
	lockAndReadProfiles(locks: string[], ttlMs: number, now: number, identityKeys: string[], contactId?: string) {
		return this.hot.lockAndReadProfiles(locks, ttlMs, now, identityKeys, contactId);
	}
	saveProfileAndRelease(profile: Profile, identityKeys: string[], merged: string[], release: string[]) {
		return this.hot.saveProfileAndRelease(profile, identityKeys, merged, release);
	}
	reserveCapAndClaim(reservation: CapReservation, counters: CapCounter[], claim: KeyClaim) {
		return this.hot.reserveCapAndClaim(reservation, counters, claim);
	}
	settleCapAndCount(reservationId: string, outcome: 'commit' | 'release', deltas: { key: string; delta: Partial<ArmStats> }[]) {
		return this.hot.settleCapAndCount(reservationId, outcome, deltas);
	}

	putDecision(decision: Decision) {
		return this.log.putDecision(decision);
	}
	getDecision(decisionId: string) {
		return this.log.getDecision(decisionId);
	}
	queryDecisions(query: DecisionQuery) {
		return this.log.queryDecisions(query);
	}
	addOutcome(decisionId: string, outcome: Outcome) {
		return this.log.addOutcome(decisionId, outcome);
	}
	deleteDecisions(decisionIds: string[]) {
		return this.log.deleteDecisions(decisionIds);
	}
	findDecisionByMessageId(messageId: string) {
		return this.log.findDecisionByMessageId(messageId);
	}
	listDecisionSummaries(filter: DecisionFilter, page: SummaryPage) {
		return this.log.listDecisionSummaries(filter, page);
	}
	countDecisions(filter: DecisionFilter, by: FactKey[]) {
		return this.log.countDecisions(filter, by);
	}
	saveModelVersion(name: string, createdAt: string, meta: Record<string, unknown>, body: string) {
		return this.log.saveModelVersion(name, createdAt, meta, body);
	}
	getModelVersion(name: string, version?: number) {
		return this.log.getModelVersion(name, version);
	}
	activeModelVersion(name: string) {
		return this.log.activeModelVersion(name);
	}
	listModelVersions(name: string) {
		return this.log.listModelVersions(name);
	}
	activateModelVersion(entry: Omit<ModelActivation, 'previous'>) {
		return this.log.activateModelVersion(entry);
	}
	modelActivations(name: string) {
		return this.log.modelActivations(name);
	}

	/** Each half erases what it holds (the other half finds nothing of its kind); the counts add up. */
	async eraseContact(erasure: ContactErasure): Promise<ErasureCounts> {
		const [hot, log] = await Promise.all([this.hot.eraseContact(erasure), this.log.eraseContact(erasure)]);
		return { profiles: hot.profiles + log.profiles, identities: hot.identities + log.identities, capEntries: hot.capEntries + log.capEntries, timers: hot.timers + log.timers, decisions: hot.decisions + log.decisions };
	}

	async close() {
		await Promise.all([this.hot.close(), this.log.close()]);
	}
}
