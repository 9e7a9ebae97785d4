import { converted, Decision } from './schema';

/**
 * The decision log as flat CSV columns a spreadsheet opens: one row per decision, one column per fact;
 * lists and objects (candidates, guardrail checks, outcomes, annotations) as JSON in a cell.
 */
const COLUMNS: [string, (d: Decision) => unknown][] = [
	['decisionId', (d) => d.decisionId],
	['createdAt', (d) => d.createdAt],
	['updatedAt', (d) => d.updatedAt],
	['journey', (d) => d.journey],
	['contactId', (d) => d.contactId],
	['eventId', (d) => d.event.eventId],
	['eventName', (d) => d.event.name ?? d.event.type],
	['eventSource', (d) => d.event.source],
	['eventOccurredAt', (d) => d.event.occurredAt],
	['status', (d) => d.status],
	['reason', (d) => d.reason],
	['ruleId', (d) => d.ruleId],
	['explanation', (d) => d.explanation],
	['channel', (d) => d.channel],
	['choiceMethod', (d) => d.choice?.method],
	['holdout', (d) => d.choice?.holdout?.group],
	['holdoutBucket', (d) => d.choice?.holdout?.bucket],
	['score', (d) => d.score?.value],
	['probability', (d) => d.score?.probability],
	['tier', (d) => d.score?.tier],
	['model', (d) => d.score?.model],
	['guardOutcome', (d) => d.guard?.outcome],
	['bindingRuleId', (d) => d.guard?.bindingRuleId],
	['retryAt', (d) => d.guard?.retryAt],
	['reviewVerdict', (d) => d.review?.verdict],
	['reviewer', (d) => d.review?.reviewer],
	['agentId', (d) => d.agent?.agentId],
	['agentVerdict', (d) => d.agent?.verdict],
	['category', (d) => d.message?.category],
	['tags', (d) => d.message?.tags?.join(' ')],
	['variant', (d) => d.variantChoice?.variant ?? d.message?.variant],
	['sendAt', (d) => d.sendTime?.sendAt],
	['policyVersion', (d) => d.policyVersion],
	['deliveryStatus', (d) => d.delivery?.status],
	['deliveryProvider', (d) => d.delivery?.provider],
	['providerMessageId', (d) => d.delivery?.providerMessageId],
	['deliveryAttempts', (d) => d.delivery?.attempts],
	['deliveryError', (d) => d.delivery?.error],
	['deliveredAt', (d) => d.delivery?.at],
	['converted', (d) => converted(d)],
	['outcomes', (d) => (d.outcomes.length ? d.outcomes : undefined)],
	['candidates', (d) => d.candidates],
	['guardChecks', (d) => d.guard?.checks],
	['annotations', (d) => (Object.keys(d.annotations).length ? d.annotations : undefined)],
	['loggedAt', (d) => d.loggedAt],
];

export const DECISION_CSV_COLUMNS = COLUMNS.map(([name]) => name);

/**
 * One CSV field (RFC 4180: quoted when it holds a comma, quote or line break). Text that a spreadsheet would
 * run as a formula (starting with = + - @, tab or carriage return: event names come from outside) gets a
 * leading apostrophe, so opening an export never runs what a sender put in an event.
 */
export function csvField(value: unknown): string {
	if (value === undefined || value === null) return '';
	let text = typeof value === 'object' ? JSON.stringify(value) : String(value);
	if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
	return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function decisionCsvHeader(): string {
	return `${DECISION_CSV_COLUMNS.join(',')}\r\n`;
}

export function decisionCsvRow(d: Decision): string {
	return `${COLUMNS.map(([, value]) => csvField(value(d))).join(',')}\r\n`;
}
