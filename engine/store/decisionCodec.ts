import type { Decision } from '../audit/schema';
import { detailFromCode, detailToCode } from './detailCodes';
import { FAIL, flag, keyed, list, plain, time, tuple, word, type Context, type FieldCodec } from './fieldCodecs';
import { exactIsoTime } from '../util/isoTime';

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
	'STOPPED_BY_ERROR', 'CONTACT_ERASED', 'EVENT_TOO_OLD',
];
const STAGE_WORDS = ['ingest', 'score', 'choose', 'guard', 'send', 'log', 'review', 'variant', 'agent', 'approval', 'erase'];
const CHECK_WORDS = ['suppression', 'consent', 'negative_trigger', 'review', 'send_time', 'quiet_hours', 'frequency_cap'];
const GUARD_OUTCOME_WORDS = ['allowed', 'delayed', 'blocked', 'review'];
const METHOD_WORDS = ['default_order', 'thompson', 'greedy', 'explore', 'holdout', 'none_eligible', 'escalated', 'requested', 'uplift_gate'];
const TIER_WORDS = ['hot', 'warm', 'cold'];
const OUTCOME_WORDS = ['open', 'click', 'conversion', 'unsubscribe', 'complaint', 'revenue'];
const SOURCE_WORDS = ['segment', 'hubspot', 'salesforce', 'webhook', 'nudge'];
const EVENT_TYPE_WORDS = ['identify', 'track', 'page', 'group', 'alias'];
/** The rules every guarded decision checks. */
const CHECK_RULE_WORDS = ['suppression-list', ...CHANNEL_WORDS.slice(0, 6).map((c) => `consent:${c}`)];

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
	['ruleId', word(CHECK_RULE_WORDS)],
	['passed', flag],
	['count', plain],
	['limit', plain],
	['window', plain],
	['retryAt', time],
	['detail', detail],
	['exempt', flag],
]);

/** The rules model of the decision's own policy (`rules:<policy version>`, what scores without a trained model) as 0. */
const model: FieldCodec = {
	encode: (value, { policyVersion }) => (typeof value !== 'string' ? FAIL : value === `rules:${policyVersion}` ? 0 : value),
	decode: (stored, { policyVersion }) => (stored === 0 ? `rules:${policyVersion}` : stored),
};

const score = tuple([
	['value', plain],
	['probability', plain],
	['tier', word(TIER_WORDS)],
	['model', model],
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

/** The learner's context (decide/learner.ts) begins with what the decision holds: stored without that beginning. */
function learnerPrefix(d: Record<string, unknown>): string {
	const event = d.event as Decision['event'] | undefined;
	const score = d.score as Decision['score'] | undefined;
	return `journey=${String(d.journey)}|step=${event?.name ?? event?.type}|tier=${score?.tier ?? 'unscored'}|`;
}
const learnerContext: FieldCodec = {
	encode(value, { decision }) {
		if (typeof value !== 'string') return FAIL;
		const prefix = learnerPrefix(decision);
		return value.startsWith(prefix) ? [value.slice(prefix.length)] : value;
	},
	decode: (stored, { decision }) => (Array.isArray(stored) ? learnerPrefix(decision) + String(stored[0]) : stored),
};

/** Decoded after the event and the score, which its context is written from. */
const choice: FieldCodec = {
	...tuple([
		['context', learnerContext],
		['method', word(METHOD_WORDS)],
		['arm', channel],
		['holdout', plain],
		['trialCounted', flag],
	]),
	late: true,
};

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
	// `eventId` keeps its name: SQL reads $.event.eventId.
	['event', 'event', keyed({ occurredAt: time, source: word(SOURCE_WORDS), type: word(EVENT_TYPE_WORDS) }, { source: 's', type: 't', name: 'n', occurredAt: 'o' })],
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

/** Fields a store keeps in columns of their own: the body can leave them out and take them back on read. */
export type OutsideFields = Partial<Pick<Decision, 'decisionId' | 'createdAt' | 'journey' | 'contactId' | 'status' | 'reason'>>;

/** What every field's form may refer to: the decision's time, journey, policy version and channel. */
function contextOf(decision: Record<string, unknown>, createdAt: unknown, journey: unknown, policyVersion: unknown, chosen: unknown): Context | undefined {
	if (typeof createdAt !== 'string' || typeof journey !== 'string' || typeof policyVersion !== 'string') return undefined;
	if (chosen !== undefined && typeof chosen !== 'string') return undefined;
	// Offsets only when the anchor itself reads back exactly.
	const base = exactIsoTime(createdAt);
	const exact = !Number.isNaN(base);
	const times = new Map<string | number, string | number>(exact ? [[createdAt, 0], [0, createdAt]] : []);
	return { base: exact ? base : undefined, journey, policyVersion, channel: chosen, decision, times };
}

/**
 * The stored body of a decision: version 1 when it holds the decision exactly, else the decision's JSON. `outside`
 * names the fields the store keeps in columns: version 1 leaves them out, and decodeDecision needs them back.
 */
export function encodeDecision(d: Decision, outside: readonly (keyof OutsideFields)[] = []): string {
	const stored = compact(d, outside);
	return stored === FAIL ? JSON.stringify(d) : JSON.stringify(stored);
}

function compact(d: Decision, outside: readonly string[]): Record<string, unknown> | typeof FAIL {
	const context = contextOf(d, d.createdAt, d.journey, d.policyVersion, d.channel);
	if (!context) return FAIL;
	const stored: Record<string, unknown> = { v: VERSION };
	for (const name in d) {
		const value = d[name as keyof Decision];
		if (value === undefined || outside.includes(name)) continue;
		const field = BY_NAME.get(name);
		if (!field) return FAIL;
		const encoded = field.codec.encode(value, context, d);
		if (encoded === FAIL) return FAIL;
		stored[field.key] = encoded;
	}
	return stored;
}

/** A decision from its stored body, whichever version wrote it, with the fields its store kept `outside` it. */
export function decodeDecision(body: string, outside: OutsideFields = {}): Decision {
	const stored = JSON.parse(body) as Record<string, unknown>;
	if (stored.v === undefined) return stored as unknown as Decision;
	if (stored.v !== VERSION) throw new Error(`A decision is stored in form ${String(stored.v)}, which this version of Nudge cannot read: upgrade Nudge.`);
	const d: Record<string, unknown> = {};
	for (const [name, value] of Object.entries(outside)) if (value !== undefined && value !== null) d[name] = value;
	const chosen = typeof stored.h === 'number' ? CHANNEL_WORDS[stored.h] : stored.h;
	const context = contextOf(d, d.createdAt ?? stored.c, d.journey ?? stored.j, stored.p, chosen);
	if (!context) throw new Error('A stored decision has no creation time, journey or policy version.');
	for (const key in stored) if (key !== 'v' && !BY_KEY.has(key)) throw new Error(`A stored decision has an unknown field ${key}.`);
	// The fields written from others last; the decision keeps the stored order of its keys.
	const late: string[] = [];
	for (const key in stored) {
		const field = BY_KEY.get(key);
		if (!field) continue;
		if (field.codec.late) {
			late.push(key);
			d[field.name] = undefined;
		} else d[field.name] = field.codec.decode(stored[key], context, d);
	}
	for (const key of late) d[BY_KEY.get(key)!.name] = BY_KEY.get(key)!.codec.decode(stored[key], context, d);
	return d as unknown as Decision;
}
