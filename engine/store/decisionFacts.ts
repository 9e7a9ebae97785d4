import { converted, Decision, DecisionStatus, ReasonCode } from '../audit/schema';

/**
 * The few facts of a decision the console filters and counts by, flattened so a store can keep them in
 * indexed columns (SQLite), derive them in SQL (PostgreSQL) or compute them while scanning (memory,
 * Redis). `factsOf` is the definition every backend must agree with (the store contract checks it).
 */
export interface DecisionFacts {
	decisionId: string;
	createdAt: string;
	journey: string;
	contactId: string;
	status: DecisionStatus;
	reason: ReasonCode | null;
	/** The chosen channel (also for a suppressed or delayed decision that had chosen one), or null. */
	channel: string | null;
	/** The first frequency-cap rule that failed, or null when no cap was hit. */
	capRule: string | null;
	/** The furthest funnel stage reached: 0 received, 1 scored, 2 channel chosen, 3 passed guardrails, 4 sent. */
	stage: number;
	/** Reached Choose Channel: `holdout` or `treated`; null before that. */
	group: 'holdout' | 'treated' | null;
	/** At least one outcome of a type the decision's journey counts as its conversion (`Decision.conversion`). */
	converted: boolean;
	/** The score's probability and the model that gave it (`name@vN`, or `rules:…`), or null when unscored. */
	probability: number | null;
	model: string | null;
	scoreValue: number | null;
	eventName: string | null;
	/** The policy version the decision was made under. */
	policyVersion: string;
}

export function factsOf(d: Decision): DecisionFacts {
	const capRule = d.guard?.checks.find((c) => c.kind === 'frequency_cap' && !c.passed && !c.exempt)?.ruleId ?? null;
	let stage = 0;
	if (d.score) stage = 1;
	if (d.channel && d.choice?.method !== 'holdout') stage = 2;
	if (stage === 2 && d.guard?.allowed) stage = 3;
	if (d.status === 'sent') stage = 4;
	return {
		decisionId: d.decisionId,
		createdAt: d.createdAt,
		journey: d.journey,
		contactId: d.contactId,
		status: d.status,
		reason: d.reason ?? null,
		channel: d.channel ?? null,
		capRule,
		stage,
		group: d.choice ? (d.choice.method === 'holdout' ? 'holdout' : 'treated') : null,
		converted: converted(d),
		probability: d.score?.probability ?? null,
		model: d.score?.model ?? null,
		scoreValue: d.score?.value ?? null,
		eventName: d.event.name ?? d.event.type,
		policyVersion: d.policyVersion,
	};
}

/** What the console can filter the log by; every field is optional and they combine with AND. */
export interface DecisionFilter {
	journey?: string;
	channel?: string;
	reason?: ReasonCode;
	status?: DecisionStatus;
	contactId?: string;
	/** ISO date-times on createdAt: inclusive `from`, exclusive `to`. */
	from?: string;
	to?: string;
}

export function matchesFilter(f: DecisionFacts, q: DecisionFilter): boolean {
	if (q.journey !== undefined && f.journey !== q.journey) return false;
	if (q.channel !== undefined && f.channel !== q.channel) return false;
	if (q.reason !== undefined && f.reason !== q.reason) return false;
	if (q.status !== undefined && f.status !== q.status) return false;
	if (q.contactId !== undefined && f.contactId !== q.contactId) return false;
	if (q.from !== undefined && f.createdAt < q.from) return false;
	if (q.to !== undefined && f.createdAt >= q.to) return false;
	return true;
}

/** One line of the decision stream: newest first, keyset-paged by (createdAt, decisionId). */
export type DecisionSummary = Pick<DecisionFacts, 'decisionId' | 'createdAt' | 'journey' | 'contactId' | 'status' | 'reason' | 'channel' | 'scoreValue' | 'eventName'>;

export function summaryOf(f: DecisionFacts): DecisionSummary {
	const { decisionId, createdAt, journey, contactId, status, reason, channel, scoreValue, eventName } = f;
	return { decisionId, createdAt, journey, contactId, status, reason, channel, scoreValue, eventName };
}

export interface SummaryPage {
	limit: number;
	/** Decisions strictly older than this one (the last row of the previous page). */
	before?: { createdAt: string; decisionId: string };
}

/** Newest first: createdAt descending, then decisionId descending. */
export function newestFirst(a: Pick<DecisionFacts, 'createdAt' | 'decisionId'>, b: Pick<DecisionFacts, 'createdAt' | 'decisionId'>): number {
	if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
	return a.decisionId < b.decisionId ? 1 : a.decisionId > b.decisionId ? -1 : 0;
}

export function isBefore(f: Pick<DecisionFacts, 'createdAt' | 'decisionId'>, before: SummaryPage['before']): boolean {
	if (!before) return true;
	return f.createdAt < before.createdAt || (f.createdAt === before.createdAt && f.decisionId < before.decisionId);
}

/**
 * What counts can be grouped by. `day` / `hour` bucket createdAt (UTC, the first 10 / 13 characters of
 * the ISO time); `scoreBin` is the probability in hundredths (0–100), null when unscored; `contactId` lets lift count
 * contacts, the unit the holdout assigns.
 */
export const FACT_KEYS = ['journey', 'status', 'reason', 'channel', 'capRule', 'stage', 'group', 'converted', 'model', 'scoreBin', 'day', 'hour', 'policyVersion', 'contactId'] as const;
export type FactKey = (typeof FACT_KEYS)[number];
export type FactValue = string | number | boolean | null;

export interface FactCount {
	/** One value per grouping key, in the order asked. */
	key: FactValue[];
	n: number;
}

export function scoreBinOf(probability: number | null): number | null {
	return probability === null ? null : Math.min(100, Math.max(0, Math.floor(probability * 100 + 1e-9)));
}

export function factValue(f: DecisionFacts, key: FactKey): FactValue {
	switch (key) {
		case 'day':
			return f.createdAt.slice(0, 10);
		case 'hour':
			return f.createdAt.slice(0, 13);
		case 'scoreBin':
			return scoreBinOf(f.probability);
		default:
			return f[key];
	}
}

/** Groups facts in memory (the memory and Redis backends); rows sorted by key so every backend answers alike. */
export class FactCounter {
	private readonly counts = new Map<string, FactCount>();
	constructor(
		private readonly filter: DecisionFilter,
		private readonly by: FactKey[],
	) {}

	add(f: DecisionFacts): void {
		if (!matchesFilter(f, this.filter)) return;
		const key = this.by.map((k) => factValue(f, k));
		const id = JSON.stringify(key);
		const row = this.counts.get(id);
		if (row) row.n++;
		else this.counts.set(id, { key, n: 1 });
	}

	rows(): FactCount[] {
		return sortFactCounts([...this.counts.values()]);
	}
}

const rank = (v: FactValue) => (v === null ? '0' : `1${typeof v === 'number' ? String(v).padStart(12, '0') : String(v)}`);

/** A stable order for grouped counts (nulls first, then by value), shared by every backend. */
export function sortFactCounts(rows: FactCount[]): FactCount[] {
	return rows.sort((a, b) => {
		for (let i = 0; i < a.key.length; i++) {
			const x = rank(a.key[i]);
			const y = rank(b.key[i]);
			if (x !== y) return x < y ? -1 : 1;
		}
		return 0;
	});
}
