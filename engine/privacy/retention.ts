/**
 * The retention job (docs/privacy.md): deletes what the policy says is kept no longer, on any backend, in
 * bounded batches. Runs under a lease in the store, so of N workers one runs it at a time; every step is
 * idempotent, so a run that died halfway is finished by the next. Its report holds counts only.
 */
import { durationMs } from '../guard/duration';
import { capLedgerKeepMs } from '../guard/ledgerHorizon';
import { newId } from '../ids';
import type { Policy } from '../policy/schema';
import { yieldToEvents } from '../store/prune';
import { RETENTION_BATCH, type Store } from '../store/types';
import { blastRadiusTouches } from '../agents/blastRadius';
import { type AgentTouches, agentTouchKeys, eraseUnderLocks } from './erase';
import { isoTime, parseTime } from '../util/isoTime';
import { dedupWindowMs } from '../events/eventAge';

export { capLedgerKeepMs };

export interface RetentionCounts {
	/** Decisions deleted with their outcomes. */
	decisions: number;
	/** Inactive contacts erased (their profile, identities, consent, timers, cap ledger; decisions pseudonymised). */
	profiles: number;
	capEntries: number;
	claims: number;
}

export interface RetentionReport {
	at: string;
	dryRun: boolean;
	/** What was kept: decisions made, contacts last seen, cap entries made, claims expired at or after these times. */
	keptSince: { decisions: string; profiles: string; capLedger: string; claims: string };
	/** What was deleted (a dry run: what would be). */
	counts: RetentionCounts;
	/** Why this run did nothing (another run held the lease). */
	skipped?: string;
}

/** The last run's report, kept in the store (cursors table / Redis key `cursor:retention:last`). */
export const RETENTION_REPORT_KEY = 'retention:last';
/** Held while a run deletes (claimed keys); a run that died frees it after LEASE_MS. */
const LEASE_KEY = 'retention:lease';
const LEASE_MS = 15 * 60_000;
/** Claimed for `retention.every` by the run the trigger nodes start, so N workers start one. */
const DUE_KEY = 'retention:due';

/**
 * Decisions deleted per transaction: a decision is a row in several indexes (in SQLite's console facts a dozen
 * more), so small deletes keep each pause of the events sharing the process and the store short (bench/retention).
 */
const DELETE_CHUNK = 100;

function cutoffs(policy: Policy, now: number) {
	const iso = isoTime;
	return {
		decisions: iso(now - durationMs(policy.retention.decisions)),
		profiles: iso(now - durationMs(policy.retention.inactiveProfiles)),
		capLedger: iso(now - capLedgerKeepMs(policy)),
		// A claim past its expiry decides nothing; the dedup window on top keeps marks of events replayed late.
		claims: iso(now - dedupWindowMs(policy)),
	};
}

/** Deletes the decisions made before `before`, oldest first: read a batch at a time, deleted DELETE_CHUNK at a time. */
async function pruneDecisions(store: Store, before: string): Promise<number> {
	let deleted = 0;
	let after: { createdAt: string; decisionId: string } | undefined;
	for (;;) {
		const batch = await store.queryDecisions({ to: before, limit: RETENTION_BATCH, ...(after ? { after } : {}) });
		for (let i = 0; i < batch.length; i += DELETE_CHUNK) {
			const chunk = batch.slice(i, i + DELETE_CHUNK);
			deleted += await store.deleteDecisions(chunk.map((d) => d.decisionId));
			// The learner's once-per-decision reward mark goes with its decision.
			await Promise.all(chunk.filter((d) => d.outcomes.length).map((d) => store.releaseReward(d.decisionId)));
			await yieldToEvents();
		}
		if (batch.length < RETENTION_BATCH) return deleted;
		const last = batch[batch.length - 1];
		after = { createdAt: last.createdAt, decisionId: last.decisionId };
	}
}

/** Runs one contact's erasure apart from the engine's own profile updates in this process (Engine.profileLock). */
export type Exclusive = <T>(run: () => Promise<T>) => Promise<T>;

/**
 * Erases the contacts last seen before `before`, each as `nudge erase` would (without rebuilding SQLite's file), the
 * agents' blast radius marks of them included (an agent acting on a contact does not make it seen).
 */
async function eraseInactive(store: Store, before: string, at: string, exclusive: Exclusive, touches?: AgentTouches): Promise<number> {
	let erased = 0;
	for await (const page of store.inactiveContacts(before, RETENTION_BATCH)) {
		for (const contactId of page) {
			const ids = async () => [contactId, ...((await store.getProfile(contactId))?.mergedFrom ?? [])];
			const claimKeys = touches ? await agentTouchKeys(store, await ids(), parseTime(at), touches) : [];
			// Seen again meanwhile, or erased by another run: kept, and not counted.
			const counts = await exclusive(() => eraseUnderLocks(store, contactId, newId('erased'), at, { scrub: false, keep: (p) => !p || !(p.lastSeenAt < before), claimKeys }));
			if (counts?.profiles) erased++;
		}
	}
	return erased;
}

async function countInactive(store: Store, before: string): Promise<number> {
	let n = 0;
	for await (const page of store.inactiveContacts(before, RETENTION_BATCH)) n += page.length;
	return n;
}

/** Runs the retention job now (`nudge retention`); a dry run deletes nothing and reports what it would delete. */
export async function runRetention(store: Store, policy: Policy, now: Date, options: { dryRun?: boolean; exclusive?: Exclusive } = {}): Promise<RetentionReport> {
	const dryRun = !!options.dryRun;
	const keptSince = cutoffs(policy, now.getTime());
	const report: RetentionReport = { at: isoTime(now.getTime()), dryRun, keptSince, counts: { decisions: 0, profiles: 0, capEntries: 0, claims: 0 } };
	const ms = parseTime;
	if (dryRun) {
		report.counts = {
			decisions: (await store.countDecisions({ to: keptSince.decisions }, [])).reduce((n, row) => n + row.n, 0),
			profiles: await countInactive(store, keptSince.profiles),
			capEntries: await store.pruneExpired('capLedger', ms(keptSince.capLedger), true),
			claims: await store.pruneExpired('claims', ms(keptSince.claims), true),
		};
		return report;
	}
	if (!(await store.claimKey(LEASE_KEY, LEASE_MS, now.getTime()))) return { ...report, skipped: 'another retention run is under way on this store' };
	// The lease as this run took it: a run that outlasted it lets go of its own only, never of the next run's.
	const heldAs = now.getTime() + LEASE_MS;
	try {
		// Profiles last: the ledger entries and claims an erasure would take too are counted where a dry run counts them.
		report.counts.decisions = await pruneDecisions(store, keptSince.decisions);
		report.counts.capEntries = await store.pruneExpired('capLedger', ms(keptSince.capLedger), false);
		report.counts.claims = await store.pruneExpired('claims', ms(keptSince.claims), false);
		report.counts.profiles = await eraseInactive(store, keptSince.profiles, report.at, options.exclusive ?? ((run) => run()), blastRadiusTouches(policy));
		await store.setCursor(RETENTION_REPORT_KEY, JSON.stringify(report), await store.getCursor(RETENTION_REPORT_KEY));
		await store.sync();
	} finally {
		await store.releaseKey(LEASE_KEY, heldAs);
	}
	return report;
}

/**
 * The trigger nodes' schedule: runs the job when `retention.auto` is on and no worker on this store has run it
 * within `retention.every`. Undefined when it did not run.
 */
export async function runRetentionIfDue(store: Store, policy: Policy, now: Date, exclusive?: Exclusive): Promise<RetentionReport | undefined> {
	if (!policy.retention.auto) return undefined;
	if (!(await store.claimKey(DUE_KEY, durationMs(policy.retention.every), now.getTime()))) return undefined;
	return runRetention(store, policy, now, { exclusive });
}

/** One line for a log: counts and cutoffs, nothing about any person. */
export function formatRetention(r: RetentionReport): string {
	if (r.skipped) return `Retention skipped: ${r.skipped}`;
	const c = r.counts;
	return `Retention${r.dryRun ? ' dry run (nothing deleted), would delete' : ' deleted'}: ${c.decisions} decisions made before ${r.keptSince.decisions}, ${c.profiles} contacts last seen before ${r.keptSince.profiles}, ${c.capEntries} cap ledger entries made before ${r.keptSince.capLedger}, ${c.claims} claims expired before ${r.keptSince.claims}`;
}
