import { randomUUID } from 'node:crypto';
import type { Decision, DecisionQuery, Outcome } from '../audit/schema';
import type { Profile } from '../profiles/schema';
import { inQueryOrder, matchesQuery, queryLimit } from './matchDecision';
import { LedgerBook } from './capLedger';
import { RecentMap } from './recentMap';
import type { ModelActivation, ModelVersionRecord } from './models';
import { INACTIVITY_QUEUE, queuePrefix, type ArmStats, type CapCounter, type CapReservation, type CapVerdict, type ContactErasure, type ErasureCounts, type KeyClaim, type LeasedTimer, type PruneTarget, type Store, type StoredTimer, type TimerQueue } from './types';
import { ComposedSteps } from './folded';
import { timerIsFor } from './erasure';
import { addArmDelta, checkArmDeltas } from './armStats';
import { DecisionFacts, DecisionFilter, FactCounter, FactKey, factsOf, isBefore, matchesFilter, newestFirst, SummaryPage, summaryOf } from './decisionFacts';


export interface MemoryStoreOptions {
	/** Most contacts (profiles and their cap ledgers) kept; the least recently used go first. */
	maxContacts?: number;
	/** Most decisions kept in the log. */
	maxDecisions?: number;
}

/** Profiles and decisions are kept as JSON text: one stringify per write and one parse per read is the
 * cheapest way to never share an object with a caller (structuredClone measured slower). */
const parse = <T>(json: string | undefined): T | undefined => (json === undefined ? undefined : (JSON.parse(json) as T));

/**
 * A bounded in-process store for tests and throwaway runs. Every method body is synchronous, so
 * check-and-reserve is atomic within the process. Nothing survives a restart.
 */
export class MemoryStore extends ComposedSteps implements Store {
	readonly kind = 'memory';
	private readonly profiles: RecentMap<string, string>;
	private readonly identities = new Map<string, string>();
	private readonly keys = new Map<string, number>();
	private readonly ledgers: LedgerBook;
	private readonly decisions: RecentMap<string, { json: string; row: Pick<Decision, 'contactId' | 'journey' | 'status' | 'reason' | 'createdAt' | 'decisionId'>; facts: DecisionFacts }>;
	private readonly outcomeIds = new Set<string>();
	private readonly messageIds = new Map<string, string>();
	private readonly arms = new Map<string, ArmStats>();

	constructor(options: MemoryStoreOptions = {}) {
		super();
		const maxContacts = options.maxContacts ?? 100_000;
		this.profiles = new RecentMap(maxContacts);
		this.ledgers = new LedgerBook(maxContacts);
		this.decisions = new RecentMap(options.maxDecisions ?? 100_000);
	}

	/** Nothing here is durable; every write is as final as it will ever be. */
	async sync() {}

	async getProfile(contactId: string) {
		return parse<Profile>(this.profiles.get(contactId));
	}

	async resolveIdentities(keys: string[]) {
		const found = new Map<string, string>();
		for (const k of keys) {
			const id = this.identities.get(k);
			if (id && this.profiles.has(id)) found.set(k, id);
		}
		return found;
	}

	async saveProfile(profile: Profile, identityKeys: string[], merged: string[]) {
		for (const id of merged) this.profiles.delete(id);
		this.profiles.set(profile.contactId, JSON.stringify(profile));
		for (const k of identityKeys) this.identities.set(k, profile.contactId);
	}

	async claimKey(key: string, ttlMs: number, now: number) {
		const until = this.keys.get(key);
		if (until !== undefined && until > now) return false;
		this.keys.set(key, now + ttlMs);
		return true;
	}

	async releaseKey(key: string, heldAs?: number) {
		if (heldAs === undefined || this.keys.get(key) === heldAs) this.keys.delete(key);
	}

	async holdKey(key: string, ttlMs: number, now: number) {
		this.keys.set(key, now + ttlMs);
	}

	async keyHeldUntil(key: string, now: number) {
		const until = this.keys.get(key);
		return until !== undefined && until > now ? until : undefined;
	}

	async reserveCap(r: CapReservation, counters: CapCounter[]): Promise<CapVerdict> {
		// Expired pending entries stay in the ledger (uncounted) until settled: a late commit must still count.
		return this.ledgers.reserve(r, counters);
	}

	async peekCap(contactId: string, counters: CapCounter[], now: number): Promise<CapVerdict> {
		return this.ledgers.evaluate(contactId, counters, now);
	}

	/** One step (nothing awaited between the look at the key and the reservation): an erasure cannot land between them. */
	async reserveCapAndClaim(r: CapReservation, counters: CapCounter[], claim: KeyClaim): Promise<CapVerdict & { claimed: boolean; held?: boolean }> {
		const until = this.keys.get(claim.key);
		if (until !== undefined && until > r.at) return { ...this.ledgers.evaluate(r.contactId, counters, r.at), claimed: false, held: true };
		const verdict = this.ledgers.reserve(r, counters);
		if (verdict.ok && !claim.lookOnly) this.keys.set(claim.key, r.at + claim.ttlMs);
		return { ...verdict, claimed: verdict.ok && !claim.lookOnly };
	}

	async settleCap(reservationId: string, outcome: 'commit' | 'release') {
		return this.ledgers.settle(reservationId, outcome);
	}

	async moveCapLedger(from: string[], to: string) {
		return this.ledgers.move(from, to);
	}

	async putDecision(d: Decision) {
		const { decisionId, contactId, journey, status, reason, createdAt } = d;
		if (d.delivery?.providerMessageId) this.messageIds.set(d.delivery.providerMessageId, decisionId);
		this.decisions.set(decisionId, { json: JSON.stringify(d), row: { decisionId, contactId, journey, status, reason, createdAt }, facts: factsOf(d) });
	}

	async getDecision(decisionId: string) {
		return parse<Decision>(this.decisions.get(decisionId)?.json);
	}

	async queryDecisions(query: DecisionQuery) {
		const rows = [...this.decisions.values()].filter((d) => matchesQuery(d.row, query));
		const order = inQueryOrder(query);
		rows.sort((a, b) => order(a.row, b.row));
		return rows.slice(0, queryLimit(query)).map((d) => JSON.parse(d.json) as Decision);
	}

	async addOutcome(decisionId: string, outcome: Outcome, sameAs?: string) {
		const entry = this.decisions.get(decisionId);
		if (!entry || this.outcomeIds.has(outcome.outcomeId)) return false;
		const d = JSON.parse(entry.json) as Decision;
		if (sameAs !== undefined && d.outcomes.some((o) => o.outcomeId === sameAs)) return false;
		this.outcomeIds.add(outcome.outcomeId);
		d.outcomes.push(outcome);
		if (outcome.at > d.updatedAt) d.updatedAt = outcome.at;
		await this.putDecision(d);
		return true;
	}

	private readonly models = new Map<string, { versions: ModelVersionRecord[]; active?: number; log: ModelActivation[] }>();

	private modelEntry(name: string) {
		let entry = this.models.get(name);
		if (!entry) this.models.set(name, (entry = { versions: [], log: [] }));
		return entry;
	}

	async saveModelVersion(name: string, createdAt: string, meta: Record<string, unknown>, body: string) {
		const entry = this.modelEntry(name);
		const version = entry.versions.length + 1;
		entry.versions.push({ name, version, createdAt, active: false, meta: structuredClone(meta), body });
		return version;
	}

	async getModelVersion(name: string, version?: number) {
		const entry = this.models.get(name);
		const v = version ?? entry?.active;
		const found = v === undefined ? undefined : entry?.versions[v - 1];
		return found && { ...found, meta: structuredClone(found.meta), active: found.version === entry!.active };
	}

	async activeModelVersion(name: string) {
		return this.models.get(name)?.active;
	}

	async listModelVersions(name: string) {
		const entry = this.models.get(name);
		return (entry?.versions ?? []).map((v) => ({ name, version: v.version, createdAt: v.createdAt, meta: structuredClone(v.meta), active: v.version === entry!.active }));
	}

	async activateModelVersion(a: Omit<ModelActivation, 'previous'>, expected?: number | null) {
		const entry = this.models.get(a.name);
		if (!entry?.versions[a.version - 1]) return false;
		if (expected !== undefined && (entry.active ?? null) !== expected) return false;
		entry.log.push({ ...a, ...(entry.active !== undefined ? { previous: entry.active } : {}) });
		entry.active = a.version;
		return true;
	}

	async modelActivations(name: string) {
		return (this.models.get(name)?.log ?? []).map((a) => ({ ...a }));
	}

	private readonly cursors = new Map<string, string>();
	private readonly timers = new Map<string, StoredTimer & { lease?: string; leaseUntil?: number }>();

	async getCursor(name: string) {
		return this.cursors.get(name);
	}

	async deleteCursor(name: string) {
		this.cursors.delete(name);
	}

	async setCursor(name: string, value: string, expected: string | undefined) {
		if (this.cursors.get(name) !== expected) return false;
		this.cursors.set(name, value);
		return true;
	}

	async scheduleTimer(timer: StoredTimer, onlyIfAbsent = false) {
		if (!onlyIfAbsent || !this.timers.has(timer.timerId)) this.timers.set(timer.timerId, { ...timer });
	}

	async cancelTimer(timerId: string) {
		return this.timers.delete(timerId);
	}

	async takeDueTimers(now: number, limit: number, leaseMs: number, queue: TimerQueue = INACTIVITY_QUEUE) {
		const { prefix, without, journeyText } = queuePrefix(queue);
		const due = [...this.timers.values()]
			.filter((t) => t.timerId.startsWith(prefix) !== without && t.dueAt <= now && (t.leaseUntil === undefined || t.leaseUntil <= now) && (journeyText === undefined || t.body.includes(journeyText)))
			.sort((a, b) => a.dueAt - b.dueAt || (a.timerId < b.timerId ? -1 : 1))
			.slice(0, limit);
		return due.map((t): LeasedTimer => {
			t.lease = randomUUID();
			t.leaseUntil = now + leaseMs;
			return { timerId: t.timerId, dueAt: t.dueAt, body: t.body, lease: t.lease };
		});
	}

	async ackTimer(timerId: string, lease: string) {
		return this.timers.get(timerId)?.lease === lease && this.timers.delete(timerId);
	}

	async getArmStats(keys: string[]) {
		const found = new Map<string, ArmStats>();
		for (const k of keys) {
			const stats = this.arms.get(k);
			if (stats) found.set(k, { ...stats });
		}
		return found;
	}

	async addArmStats(deltas: { key: string; delta: Partial<ArmStats> }[]) {
		checkArmDeltas(deltas);
		for (const { key, delta } of deltas) this.arms.set(key, addArmDelta(this.arms.get(key), delta));
	}

	async findDecisionByMessageId(messageId: string) {
		const id = this.messageIds.get(messageId);
		return id === undefined ? undefined : this.getDecision(id);
	}

	async listDecisionSummaries(filter: DecisionFilter, page: SummaryPage) {
		const rows: DecisionFacts[] = [];
		for (const { facts } of this.decisions.values()) if (matchesFilter(facts, filter) && isBefore(facts, page.before)) rows.push(facts);
		return rows.sort(newestFirst).slice(0, page.limit).map(summaryOf);
	}

	async countDecisions(filter: DecisionFilter, by: FactKey[]) {
		const counter = new FactCounter(filter, by);
		for (const { facts } of this.decisions.values()) counter.add(facts);
		return counter.rows();
	}

	async eraseContact({ contactId, claimKeys, armKeys, pseudonymise }: ContactErasure): Promise<ErasureCounts> {
		const counts: ErasureCounts = { profiles: Number(this.profiles.delete(contactId)), identities: 0, capEntries: 0, timers: 0, decisions: 0 };
		for (const [key, id] of this.identities) {
			if (id !== contactId) continue;
			this.identities.delete(key);
			counts.identities++;
		}
		for (const key of claimKeys) this.keys.delete(key);
		for (const key of armKeys) this.arms.delete(key);
		counts.capEntries = this.ledgers.drop(contactId);
		for (const [id, timer] of this.timers) if (timerIsFor(timer.body, contactId) && this.timers.delete(id)) counts.timers++;
		for (const [id, entry] of [...this.decisions.entries()].filter(([, e]) => e.row.contactId === contactId)) {
			const d = JSON.parse(entry.json) as Decision;
			if (d.delivery?.providerMessageId) this.messageIds.delete(d.delivery.providerMessageId);
			this.decisions.delete(id);
			const erased = pseudonymise(d);
			for (const o of d.outcomes) this.outcomeIds.delete(o.outcomeId);
			for (const o of erased.outcomes) this.outcomeIds.add(o.outcomeId);
			await this.putDecision(erased);
			counts.decisions++;
		}
		return counts;
	}

	async deleteDecisions(decisionIds: string[]) {
		let deleted = 0;
		for (const id of decisionIds) {
			const entry = this.decisions.get(id);
			if (!entry) continue;
			const d = JSON.parse(entry.json) as Decision;
			if (d.delivery?.providerMessageId) this.messageIds.delete(d.delivery.providerMessageId);
			for (const o of d.outcomes) this.outcomeIds.delete(o.outcomeId);
			this.decisions.delete(id);
			deleted++;
		}
		return deleted;
	}

	async pruneExpired(target: PruneTarget, before: number, dryRun: boolean) {
		let pruned = 0;
		if (target === 'claims') {
			for (const [key, until] of [...this.keys]) {
				if (until >= before) continue;
				pruned++;
				if (!dryRun) this.keys.delete(key);
			}
			return pruned;
		}
		return this.ledgers.prune(before, dryRun);
	}

	async *inactiveContacts(before: string, pageSize: number) {
		let page: string[] = [];
		for (const [contactId, json] of [...this.profiles.entries()]) {
			const seen = (JSON.parse(json) as Partial<Profile>).lastSeenAt;
			if (typeof seen !== 'string' || seen >= before) continue;
			page.push(contactId);
			if (page.length < pageSize) continue;
			yield page;
			page = [];
		}
		if (page.length) yield page;
	}

	async close() {}
}
