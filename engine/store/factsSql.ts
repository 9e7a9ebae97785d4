import type { DecisionFilter, DecisionSummary, FactCount, FactKey, FactValue, SummaryPage } from './decisionFacts';
import { sortFactCounts } from './decisionFacts';

/**
 * The console's queries in SQL, shared by SQLite (a `decision_facts` table kept beside the log) and
 * PostgreSQL (a view over the JSONB bodies with the same column names). `param` adds a bound value and
 * returns its placeholder (`?` or `$n`).
 */
type Param = (value: string | number) => string;

const COLUMN: Record<FactKey, string> = {
	journey: 'journey',
	status: 'status',
	reason: 'reason',
	channel: 'channel',
	capRule: 'cap_rule',
	stage: 'stage',
	group: 'grp',
	converted: 'converted',
	model: 'model',
	scoreBin: 'score_bin',
	day: 'substr(created_at, 1, 10)',
	hour: 'substr(created_at, 1, 13)',
	policyVersion: 'policy_version',
	contactId: 'contact_id',
};

function whereOf(filter: DecisionFilter, param: Param, before?: SummaryPage['before']): string {
	const where: string[] = [];
	const eq = (column: string, value: string | undefined) => value !== undefined && where.push(`${column} = ${param(value)}`);
	eq('journey', filter.journey);
	eq('channel', filter.channel);
	eq('reason', filter.reason);
	eq('status', filter.status);
	eq('contact_id', filter.contactId);
	if (filter.from !== undefined) where.push(`created_at >= ${param(filter.from)}`);
	if (filter.to !== undefined) where.push(`created_at < ${param(filter.to)}`);
	if (before) where.push(`(created_at < ${param(before.createdAt)} OR (created_at = ${param(before.createdAt)} AND decision_id < ${param(before.decisionId)}))`);
	return where.length ? `WHERE ${where.join(' AND ')}` : '';
}

export function listSummariesSql(table: string, filter: DecisionFilter, page: SummaryPage, param: Param): string {
	return `SELECT decision_id, created_at, journey, contact_id, status, reason, channel, score_value, event_name FROM ${table}
		${whereOf(filter, param, page.before)} ORDER BY created_at DESC, decision_id DESC LIMIT ${param(page.limit)}`;
}

export function summaryFromRow(r: Record<string, unknown>): DecisionSummary {
	return {
		decisionId: String(r.decision_id),
		createdAt: String(r.created_at),
		journey: String(r.journey),
		contactId: String(r.contact_id),
		status: r.status as DecisionSummary['status'],
		reason: (r.reason ?? null) as DecisionSummary['reason'],
		channel: (r.channel ?? null) as string | null,
		scoreValue: r.score_value === null || r.score_value === undefined ? null : Number(r.score_value),
		eventName: (r.event_name ?? null) as string | null,
	};
}

export function countSql(table: string, filter: DecisionFilter, by: FactKey[], param: Param): string {
	const keys = by.map((k, i) => `${COLUMN[k]} AS k${i}`);
	const group = by.length ? `GROUP BY ${by.map((_, i) => `k${i}`).join(', ')}` : '';
	return `SELECT ${[...keys, 'COUNT(*) AS n'].join(', ')} FROM ${table} ${whereOf(filter, param)} ${group}`;
}

function valueOf(key: FactKey, v: unknown): FactValue {
	if (v === null || v === undefined) return null;
	if (key === 'converted') return v === true || Number(v) === 1;
	if (key === 'stage' || key === 'scoreBin') return Number(v);
	return String(v);
}

export function countsFromRows(rows: Record<string, unknown>[], by: FactKey[]): FactCount[] {
	const counts = rows.map((r) => ({ key: by.map((k, i) => valueOf(k, r[`k${i}`])), n: Number(r.n) }));
	return sortFactCounts(counts.filter((c) => c.n > 0));
}
