import type { Decision } from '../audit/schema';
import { decodeDecision, encodeDecision, type OutsideFields } from './decisionCodec';

/** The decisions table's columns (SQLite): the ones besides `body` are what the body leaves out. */
export const DECISION_COLUMNS = 'decision_id, contact_id, journey, status, reason, created_at, body';

export interface DecisionRow {
	decision_id: string;
	contact_id: string;
	journey: string;
	status: Decision['status'];
	reason: Decision['reason'] | null;
	created_at: string;
	body: string;
}

const IN_COLUMNS: (keyof OutsideFields)[] = ['decisionId', 'contactId', 'journey', 'status', 'reason', 'createdAt'];

/** The body of a decision's row: its stored form without what the row's other columns hold. */
export const rowBody = (d: Decision): string => encodeDecision(d, IN_COLUMNS);

export function decisionOfRow(row: DecisionRow): Decision {
	const columns = { decisionId: row.decision_id, contactId: row.contact_id, journey: row.journey, status: row.status, reason: row.reason ?? undefined, createdAt: row.created_at };
	return decodeDecision(row.body, columns);
}
