import { byCreated, type Decision, type DecisionQuery } from '../audit/schema';

export const DEFAULT_QUERY_LIMIT = 100;
export const MAX_QUERY_LIMIT = 10_000;

export function queryLimit(query: DecisionQuery): number {
	return Math.min(Math.max(1, query.limit ?? DEFAULT_QUERY_LIMIT), MAX_QUERY_LIMIT);
}

/** The in-memory twin of the SQL WHERE clause, so both backends answer a query alike. */
type DecisionRow = Pick<Decision, 'contactId' | 'journey' | 'status' | 'reason' | 'createdAt' | 'decisionId'>;

export function matchesQuery(d: DecisionRow, q: DecisionQuery): boolean {
	if (q.contactId && d.contactId !== q.contactId) return false;
	if (q.contactIds && !q.contactIds.includes(d.contactId)) return false;
	if (q.journey && d.journey !== q.journey) return false;
	if (q.reason && d.reason !== q.reason) return false;
	if (q.status && d.status !== q.status) return false;
	if (q.from && d.createdAt < q.from) return false;
	if (q.to && d.createdAt >= q.to) return false;
	if (q.after && inQueryOrder(q)(d, q.after) <= 0) return false;
	return true;
}

const newestFirst: typeof byCreated = (a, b) => byCreated(b, a);

/** The order a query's answer is in: by creation, newest first when it asks. */
export function inQueryOrder(q: DecisionQuery): typeof byCreated {
	return q.newestFirst ? newestFirst : byCreated;
}
