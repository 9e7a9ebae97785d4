/**
 * Decisions a trigger handed to its flow that the flow had not finished when it stopped. Node-RED drops the messages
 * in flight at a deploy or a stop, after the sender had its 200 and will not send again: without this, each deploy
 * during traffic left a few decisions `pending` for ever, their events taken in and never acted on. A stopping trigger
 * keeps in the store, under its journey and node id, those of its decisions whose message the stop dropped
 * (nodes/node-red/shared/unfinished.ts says which) and still `pending`; started again, it hands them out again. Every
 * step after it takes a decision it has seen before as it stands (Frequency Cap keeps an allowed decision's slot, Send
 * sends a decision once), so one the old flow did finish meanwhile is not sent twice. A process that dies without
 * stopping (kill -9, a power cut) keeps nothing: run such a runtime behind a queue.
 */
import type { Decision } from '../audit/schema';
import type { Engine } from '../engine';
import { isRecord } from '../util/isRecord';
import { dedupWindowMs } from './eventAge';

/** The most decisions one trigger keeps (the most recent): a flow stopped with more in flight keeps these. */
export const MAX_UNFINISHED = 1_000;
const CAS_TRIES = 5;

const unfinishedKey = (journey: string, node: string) => `unfinished:${encodeURIComponent(journey)}:${node}`;

function idsOf(text: string | undefined): string[] {
	if (!text) return [];
	try {
		const ids = JSON.parse(text) as unknown;
		return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
	} catch {
		return [];
	}
}

/** Of the decisions the flow was given, those still `pending` (none of its steps finished them), each read once. */
export async function stillPending(engine: Engine, decisionIds: string[]): Promise<Decision[]> {
	const pending: Decision[] = [];
	for (const id of decisionIds) {
		const decision = await engine.store.getDecision(id);
		if (decision?.status === 'pending') pending.push(decision);
	}
	return pending;
}

/**
 * As a trigger stops: keeps those of `decisionIds` (the decisions the stop dropped) still pending, beside any kept
 * before and not taken yet (another instance of the same flow on the store). Returns how many it keeps for this trigger.
 */
export async function keepUnfinished(engine: Engine, journey: string, node: string, decisionIds: string[]): Promise<number> {
	const pending = (await stillPending(engine, decisionIds.slice(-MAX_UNFINISHED))).map((d) => d.decisionId);
	if (!pending.length) return 0;
	const key = unfinishedKey(journey, node);
	for (let i = 0; i < CAS_TRIES; i++) {
		const stored = await engine.store.getCursor(key);
		const kept = [...new Set([...idsOf(stored), ...pending])].slice(-MAX_UNFINISHED);
		if (await engine.store.setCursor(key, JSON.stringify(kept), stored)) {
			await engine.store.sync();
			return kept.length;
		}
	}
	throw new Error(`Could not keep ${pending.length} unfinished decisions of journey ${journey}: the store changed under every try`);
}

/**
 * As a trigger starts: takes the decisions kept for it (one instance takes each, compare-and-set) and returns those
 * still pending, to be handed to its flow again.
 */
export async function takeUnfinished(engine: Engine, journey: string, node: string): Promise<Decision[]> {
	const key = unfinishedKey(journey, node);
	for (let i = 0; i < CAS_TRIES; i++) {
		const stored = await engine.store.getCursor(key);
		const ids = idsOf(stored);
		if (!ids.length) return [];
		if (!(await engine.store.setCursor(key, '[]', stored))) continue;
		await engine.store.sync();
		return stillPending(engine, ids);
	}
	return [];
}

/**
 * The most decisions a hand-out record names: a check hands out at most 1,000 new ones, and a check that finds a dropped
 * hand-out hands out only those (the poll trigger's rule), so no record ever has to leave one out.
 */
export const MAX_HANDOUT = 2 * MAX_UNFINISHED;

const handoutKey = (node: string, instance: string) => `handout:${node}:${instance}`;

/**
 * What a poll trigger keeps in its runtime's own state for each hand-out (n8n's workflow static data): its record's
 * instance (one per runtime's copy of that state, so two runtimes running the same workflow on one store keep two
 * records) and the token of the last hand-out the runtime took.
 */
export interface HandoutMark {
	instance: string;
	token: string;
}

/**
 * A poll trigger's hand-out to a runtime that may drop it: n8n 2 discards what poll() returned when the workflow was
 * deactivated, saved or published while it ran (its poll trigger executor), after the check had fired and
 * acknowledged its timers or moved its HubSpot or Salesforce cursor. The runtime keeps the node's state only with an
 * execution it starts (n8n saves static data as it emits the execution), so the trigger writes
 * a fresh token there with each hand-out, and the same token here with the hand-out's decisions (`recordHandout`).
 * At the next check a record whose token is not the one the runtime kept names a hand-out the runtime dropped: its
 * decisions still pending are handed out again (`lostHandout`). Every step takes a decision it has seen before as it
 * stands, so one handed out twice is not sent twice.
 */
export async function lostHandout(engine: Engine, node: string, kept: HandoutMark, now = Date.now()): Promise<Decision[]> {
	const stored = await engine.store.getCursor(handoutKey(node, kept.instance));
	if (!stored) return [];
	let record: unknown;
	try {
		record = JSON.parse(stored);
	} catch {
		return [];
	}
	// A record that is not one (restored, edited by hand) hands nothing out again, rather than failing every check.
	if (!isRecord(record) || record.token === kept.token || !Array.isArray(record.decisionIds)) return [];
	// Dropped longer ago than events are acted on (a workflow reactivated days later): a reminder that late is not sent.
	if (typeof record.at === 'number' && now - record.at > dedupWindowMs(engine.policy)) return [];
	return stillPending(engine, record.decisionIds.filter((id): id is string => typeof id === 'string').slice(-MAX_HANDOUT));
}

/** Records a hand-out under the token the runtime keeps with it (see lostHandout), durably, before it is handed out. */
export async function recordHandout(engine: Engine, node: string, mark: HandoutMark, decisionIds: string[], now = Date.now()): Promise<void> {
	if (decisionIds.length > MAX_HANDOUT) throw new Error(`A hand-out of ${decisionIds.length} decisions cannot be recorded: at most ${MAX_HANDOUT}`);
	const key = handoutKey(node, mark.instance);
	const record = JSON.stringify({ token: mark.token, at: now, decisionIds });
	for (let i = 0; i < CAS_TRIES; i++) {
		if (await engine.store.setCursor(key, record, await engine.store.getCursor(key))) {
			await engine.store.sync();
			return;
		}
	}
	throw new Error(`Could not record the decisions handed out by ${node}: the store changed under every try`);
}
