import type { Decision } from '../audit/schema';
import { detailFromCode, detailToCode } from './detailCodes';
import { FAIL, flag, keyed, list, plain, time, tuple, word, type Context, type FieldCodec } from './fieldCodecs';

/**
 * A decision's stored form (SQLite): the same JSON, about a quarter of the bytes and written back whole on read.
 * A ~2.9 KB decision is mostly repetition: key names, the candidates' sentences on why a channel is out (written
 * from the reason, the channel and the journey: detailCodes.ts), timestamps equal or close to `createdAt`, and the
 * same words (channels, reasons, stages) again and again. Version 1 stores keys short, records as arrays, known
 * words as numbers into append-only tables, sentences as codes, and times as milliseconds after `createdAt`.
 *
 * Tagged: a version 1 body is a JSON object with `"v": 1`; a decision itself has no `v`, so plain JSON rows
 * (written before, or a decision this form cannot hold exactly) read as they are. `event` and `delivery` keep their
 * names and keys, so SQL over `$.event.eventId` and `$.delivery.providerMessageId` works on either form.
 *
 * Lossless: `decodeDecision(encodeDecision(d))` deep-equals `d` as JSON holds it. Whatever falls outside what
 * the form knows (a new top-level field, a value of an unexpected type) makes the whole decision plain JSON.
 */

/** Append only: a stored row's numbers index these lists. A word not listed is stored as itself. */
const CHANNEL_WORDS = ['email', 'sms', 'push', 'in_app', 'paid_audience', 'sales_task', 'wait'];
const STATUS_WORDS = ['pending', 'delayed', 'review', 'sent', 'suppressed', 'failed'];
const REASON_WORDS = [
	'FREQUENCY_CAP', 'QUIET_HOURS', 'NO_CONSENT', 'UNREACHABLE', 'NEGATIVE_TRIGGER', 'HOLDOUT', 'REVIEW_REQUIRED', 'DUPLICATE_EVENT', 'POLICY_BLOCKED',
	'NO_ELIGIBLE_CHANNEL', 'SEND_FAILED', 'SUPPRESSION_LIST', 'REVIEW_REJECTED', 'WAIT_CHOSEN', 'BEST_SEND_TIME', 'NOT_A_TRIGGER', 'AGENTS_DISABLED',
	'AGENT_KILL_SWITCH', 'AGENT_BLOCKED', 'BLAST_RADIUS', 'APPROVAL_INVALID', 'APPROVAL_EXPIRED', 'APPROVAL_MISMATCH', 'LOW_UPLIFT',
];
const STAGE_WORDS = ['ingest', 'score', 'choose', 'guard', 'send', 'log', 'review', 'variant', 'agent', 'approval'];
const CHECK_WORDS = ['suppression', 'consent', 'negative_trigger', 'review', 'send_time', 'quiet_hours', 'frequency_cap'];
const GUARD_OUTCOME_WORDS = ['allowed', 'delayed', 'blocked', 'review'];
const METHOD_WORDS = ['default_order', 'thompson', 'greedy', 'explore', 'holdout', 'none_eligible', 'escalated', 'requested', 'uplift_gate'];
const TIER_WORDS = ['hot', 'warm', 'cold'];
const OUTCOME_WORDS = ['open', 'click', 'conversion', 'unsubscribe', 'complaint', 'revenue'];

const channel = word(CHANNEL_WORDS);
const status = word(STATUS_WORDS);
const reason = word(REASON_WORDS);

/** A sentence written from its record and the decision (detailCodes.ts) is stored as its code. */
const detail: FieldCodec = {
	encode: (value, context, record) => (typeof value === 'string' ? detailToCode(value, context, record) : FAIL),
	decode: (stored, context, record) => detailFromCode(stored, context, record),
	late: true,
};

/** A candidate channel: the fields an ineligible one has first, so its array ends early. */
const candidate = tuple([
	['channel', channel],
	['rank', plain],
	['eligible', flag],
	['reason', reason],
	['detail', detail],
	['ruleId', plain],
	['freesAt', time],
	['mean', plain],
	['sampled', plain],
]);

const guardCheck = tuple([
	['kind', word(CHECK_WORDS)],
	['ruleId', plain],
	['passed', flag],
	['count', plain],
	['limit', plain],
	['window', plain],
	['retryAt', time],
	['detail', detail],
	['exempt', flag],
]);

const score = tuple([
	['value', plain],
	['probability', plain],
	['tier', word(TIER_WORDS)],
	['model', plain],
	['fallback', flag],
	['factors', list(tuple([['label', plain], ['contribution', plain]]))],
	['note', plain],
]);

const guard = tuple([
	['outcome', word(GUARD_OUTCOME_WORDS)],
	['allowed', flag],
	['reservationId', plain],
	['retryAt', time],
	['bindingRuleId', plain],
	['checks', list(guardCheck)],
]);

const choice = tuple([
	['context', plain],
	['method', word(METHOD_WORDS)],
	['arm', channel],
	['holdout', plain],
	['trialCounted', flag],
]);

const outcome = tuple([
	['outcomeId', plain],
	['type', word(OUTCOME_WORDS)],
	['channel', channel],
	['value', plain],
	['at', time],
]);

const trailStep = tuple([
	['stage', word(STAGE_WORDS)],
	['at', time],
	['status', status],
]);

/** Every top-level field: its stored key and form. Fields without a short key keep their name (SQL reads them). */
const FIELDS: [keyof Decision, string, FieldCodec][] = [
	['decisionId', 'i', plain],
	['createdAt', 'c', plain],
	['updatedAt', 'u', time],
	['policyVersion', 'p', plain],
	['journey', 'j', plain],
	['contactId', 'k', plain],
	['status', 's', status],
	['reason', 'r', reason],
	['ruleId', 'R', plain],
	['explanation', 'x', plain],
	['event', 'event', keyed({ occurredAt: time })],
	['score', 'S', score],
	['channel', 'h', channel],
	['candidates', 'C', list(candidate)],
	['choice', 'o', choice],
	['sendTime', 'T', plain],
	['variantChoice', 'V', plain],
	['uplift', 'U', plain],
	['message', 'm', plain],
	['guard', 'g', guard],
	['review', 'w', plain],
	['delivery', 'delivery', keyed({ at: time })],
	['agent', 'a', plain],
	['handoff', 'H', plain],
	['outcomeFor', 'F', plain],
	['outcomes', 'O', list(outcome)],
	['conversion', 'K', plain],
	['trail', 't', list(trailStep)],
	['annotations', 'n', plain],
	['loggedAt', 'l', time],
];
const BY_NAME = new Map(FIELDS.map(([name, key, codec]) => [name as string, { key, codec }]));
const BY_KEY = new Map(FIELDS.map(([name, key, codec]) => [key, { name: name as string, codec }]));
const VERSION = 1;

/** What every field's form may refer to: the decision's time, journey and channel. */
function contextOf(createdAt: unknown, journey: unknown, chosen: unknown): Context | undefined {
	if (typeof createdAt !== 'string' || typeof journey !== 'string' || (chosen !== undefined && typeof chosen !== 'string')) return undefined;
	const base = Date.parse(createdAt);
	// Offsets only when the anchor itself reads back exactly.
	const exact = Number.isFinite(base) && new Date(base).toISOString() === createdAt;
	const times = new Map<string | number, string | number>(exact ? [[createdAt, 0], [0, createdAt]] : []);
	return { base: exact ? base : undefined, journey, channel: chosen, times };
}

/** The stored body of a decision: version 1 when it holds the decision exactly, else the decision's JSON. */
export function encodeDecision(d: Decision): string {
	const stored = compact(d);
	return stored === FAIL ? JSON.stringify(d) : JSON.stringify(stored);
}

function compact(d: Decision): Record<string, unknown> | typeof FAIL {
	const context = contextOf(d.createdAt, d.journey, d.channel);
	if (!context) return FAIL;
	const stored: Record<string, unknown> = { v: VERSION };
	for (const [name, value] of Object.entries(d)) {
		if (value === undefined) continue;
		const field = BY_NAME.get(name);
		if (!field) return FAIL;
		const encoded = field.codec.encode(value, context, d);
		if (encoded === FAIL) return FAIL;
		stored[field.key] = encoded;
	}
	return stored;
}

/** A decision from its stored body, whichever version wrote it. */
export function decodeDecision(body: string): Decision {
	const stored = JSON.parse(body) as Record<string, unknown>;
	if (stored.v === undefined) return stored as unknown as Decision;
	if (stored.v !== VERSION) throw new Error(`A decision is stored in form ${String(stored.v)}, which this version of Nudge cannot read: upgrade Nudge.`);
	const context = contextOf(stored.c, stored.j, stored.h === undefined ? undefined : CHANNEL_WORDS[stored.h as number] ?? stored.h);
	if (!context) throw new Error('A stored decision has no creation time or journey.');
	const d: Record<string, unknown> = {};
	for (const [key, value] of Object.entries(stored)) {
		if (key === 'v') continue;
		const field = BY_KEY.get(key);
		if (!field) throw new Error(`A stored decision has an unknown field ${key}.`);
		d[field.name] = field.codec.decode(value, context, d);
	}
	return d as unknown as Decision;
}

