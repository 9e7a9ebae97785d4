import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Decision } from '../engine/audit/schema';
import { NudgeError } from '../engine/errors';
import { applyInactivityRules, fireDueTimers } from '../engine/events/timers';
import { takeDueDecisions } from '../engine/guard/waits';
import { EVENT_LIMITS } from '../engine/events/limits';
import { normalizeEvent } from '../engine/events/normalize';
import { JOURNEYS, JourneyName } from '../engine/journeys/journey';
import { Engine } from '../engine/engine';
import { loadPolicyFile } from '../engine/policy/load';
import { openStore } from '../engine/store/open';
import type { Store } from '../engine/store/types';
import { requireInputFile } from './inputFile';
import { boundedLines } from './lines';

/** The prebuilt journeys' policy (triggers, outcomes, timers, offers…), used unless --policy names another. */
export const JOURNEYS_POLICY = [join(__dirname, '..', 'flows'), join(__dirname, '..', '..', 'flows')].map((dir) => join(dir, 'policies', 'journeys.json')).find((file) => existsSync(file));

export interface ReplayOptions {
	events: string;
	journey?: string;
	policy?: string;
	/** SQLite file to keep the replay's store in (a new one, or one of an earlier replay); a throwaway one when absent. */
	store?: string;
}

export interface ReplaySummary {
	events: number;
	/** Events fired by inactivity timers (e.g. Cart Abandoned). */
	timers: number;
	rejected: { line: number; error: string }[];
	/** Per status (`holdout` apart from `suppressed`) and reason, leaving out the events that only updated the profile (counted in `profileOnly`). */
	byStatus: Record<string, number>;
	byReason: Record<string, number>;
	/** Events that are not one of the journey's triggers (NOT_A_TRIGGER): they updated the profile, no message was meant. */
	profileOnly: number;
}

/** The cursor that marks a store as replay's own: its dry-run decisions may go there, never into a live store's log. */
const REPLAY_STORE = 'replay-store';

/**
 * Where the replays into a store left its log: decisions are created at their events' times, a live engine's at the
 * wall clock. `since` is the wall-clock time the last replay ended (or began, until it ends) and `own` how many
 * decisions dated from then on the replays made (their events' timers may fire into the future). More decisions
 * dated from `since` on than `own` were made by someone else (nudge mcp, the nodes) after that replay: a live store.
 */
interface ReplayMark {
	since: string;
	own: number;
}

/** Decisions dated from `since` on: counted on the log's date index, so a store of millions answers at once. */
const decidedSince = async (store: Store, since: string) => (await store.countDecisions({ from: since }, [])).reduce((n, c) => n + c.n, 0);

const markReplayStore = async (store: Store, since: string, previous: string | undefined) => {
	const mark: ReplayMark = { since, own: await decidedSince(store, since) };
	await store.setCursor(REPLAY_STORE, JSON.stringify(mark), previous);
	return JSON.stringify(mark);
};

/**
 * Marks the store as a replay store, unless the engine has decided in it (a live store): replay's dry runs (status
 * sent, provider dry-run) would then mix into the real decision log. An empty store is fine; so is a store of
 * earlier replays, as long as nothing else decided in it since. Returns the mark, for `markReplayStore` at the end.
 */
async function claimReplayStore(store: Store, file: string | undefined, startedAt: string): Promise<string> {
	const value = await store.getCursor(REPLAY_STORE);
	// A mark of an earlier version (the time it was marked, not JSON) is taken as it was then: trusted once, then replaced.
	const mark = value === undefined ? undefined : (JSON.parse(value.startsWith('{') ? value : 'null') as ReplayMark | null);
	const live = value === undefined ? (await store.queryDecisions({ limit: 1 })).length > 0 : !!mark && (await decidedSince(store, mark.since)) > mark.own;
	if (live) {
		const since = mark ? ` since a replay last used it, at ${mark.since}` : '';
		throw new NudgeError('INVALID_INPUT', `--store ${file} holds decisions Nudge made (a live store)${since}, or a replay into it was killed before it ended: replay would mix its dry runs into them. Give --store a new file, or leave it out; nothing was replayed`);
	}
	return markReplayStore(store, startedAt, value);
}

/**
 * Replays an event file through a journey on a fresh embedded store, deciding each event at its own
 * timestamp (so caps see history as it happened) and sending nothing: deliveries are dry runs. The
 * journey's inactivity timers (policy `journeys.<id>.timers`) fire in simulated time, and delayed decisions
 * (quiet hours, caps) are finished at their due time: before each event, everything due by its timestamp;
 * after the last, what is still waiting. Each decision is emitted once, in the order the decisions ended (a
 * delayed one when it is finished, or, still delayed, at the end), after the last event: read back from the store,
 * it carries the outcomes later events recorded (an order after the cart reminder), which lift counts.
 */
export async function replay(options: ReplayOptions, emit: (decision: Decision) => void): Promise<ReplaySummary> {
	const journey = (options.journey ?? 'nurture') as JourneyName;
	if (!JOURNEYS.includes(journey)) {
		throw new NudgeError('INVALID_INPUT', `Unknown journey "${options.journey}". Available: ${JOURNEYS.join(', ')}`);
	}
	requireInputFile('--events', 'Events file', options.events);
	// The policy first: a bad one stops the replay before its scratch store is created (and left behind).
	const policy = loadPolicyFile(options.policy ?? JOURNEYS_POLICY!);
	const scratch = options.store ? undefined : mkdtempSync(join(tmpdir(), 'nudge-replay-'));
	const engine = new Engine({ store: openStore(`sqlite:${options.store ?? join(scratch!, 'replay.db')}`), policy, clock: 'event' });
	const summary: ReplaySummary = { events: 0, timers: 0, rejected: [], byStatus: {}, byReason: {}, profileOnly: 0 };
	let mark: string | undefined;
	try {
		mark = await claimReplayStore(engine.store, options.store, new Date().toISOString());
		// The decisions' ids only, in the order they ended; each is read back with its outcomes once all is replayed.
		const ended: string[] = [];
		const lines = boundedLines(createReadStream(options.events), EVENT_LIMITS.jsonBytes);
		const count = (decision: Decision) => {
			ended.push(decision.decisionId);
			if (decision.reason === 'NOT_A_TRIGGER') return void summary.profileOnly++;
			// A holdout is kept from the message on purpose (to measure lift), not suppressed by a guardrail: counted apart.
			const status = decision.reason === 'HOLDOUT' ? 'holdout' : decision.status;
			summary.byStatus[status] = (summary.byStatus[status] ?? 0) + 1;
			if (decision.reason) summary.byReason[decision.reason] = (summary.byReason[decision.reason] ?? 0) + 1;
		};
		// A delayed decision is counted and emitted once it ended (checked again when due, below).
		const waiting = new Map<string, Decision>();
		const tally = (decision: Decision) => {
			if (decision.status === 'delayed') waiting.set(decision.decisionId, decision);
			else {
				waiting.delete(decision.decisionId);
				count(decision);
			}
		};
		// Timers due by `until` fire as events of their own (a fired event may start the next timer), and
		// delayed decisions due by then are checked again and sent or suppressed (or delayed anew).
		const fireUntil = async (until: number) => {
			for (;;) {
				const { fired, failed, timerFailures, acknowledge } = await fireDueTimers(engine, until);
				if (failed.length) throw failed[0].error;
				if (timerFailures.length) throw timerFailures[0].error;
				for (const ingested of fired) {
					summary.timers++;
					tally(await engine.decideIngested(ingested, { dryRun: true }));
				}
				await acknowledge();
				const due = await takeDueDecisions(engine, journey, until);
				if (due.failed.length) throw due.failed[0].error;
				for (const decision of due.decisions) tally(await engine.decideDue(decision, { dryRun: true }));
				await due.acknowledge();
				if (!fired.length && !due.decisions.length) break;
			}
		};
		let lineNo = 0;
		let lastAt = 0;
		for await (const { text: line, error } of lines) {
			lineNo++;
			if (line === undefined) {
				summary.events++;
				summary.rejected.push({ line: lineNo, error });
				continue;
			}
			if (!line.trim()) continue;
			summary.events++;
			let decision: Decision;
			try {
				const at = Date.parse(normalizeEvent(line).occurredAt);
				lastAt = Math.max(lastAt, at);
				await fireUntil(at - 1);
				const ingested = await engine.ingest(line, { journey });
				const [timerFailure] = await applyInactivityRules(engine, [ingested], []);
				if (timerFailure) throw timerFailure.error;
				decision = await engine.decideIngested(ingested, { dryRun: true });
			} catch (error) {
				summary.rejected.push({ line: lineNo, error: (error as Error).message });
				continue;
			}
			tally(decision);
		}
		// After the last event, the timers still waiting (a second touch a day later…), up to half a year on:
		// enough for any chain of timers (each waits at most 90 days), and a bound should a policy's chain loop.
		await fireUntil(lastAt + 180 * 86_400_000);
		for (const decision of waiting.values()) count(decision);
		for (const id of ended) emit((await engine.store.getDecision(id))!);
	} finally {
		// Also when the replay stops on an error: its own decisions (timers fired into the future) would otherwise make
		// the next replay into this store take it for a live one. A replay killed outright cannot mark it (the refusal says so).
		if (mark !== undefined) await markReplayStore(engine.store, new Date().toISOString(), mark).catch(() => undefined);
		await engine.close();
		if (scratch) rmSync(scratch, { recursive: true, force: true });
	}
	// A file of blank lines only (or none): nothing was replayed, which is no result to report as one.
	if (!summary.events) throw new NudgeError('INVALID_INPUT', `--events ${options.events} holds no events: give a file of events, one JSON per line`);
	return summary;
}

export function formatSummary(s: ReplaySummary): string {
	const count = (o: Record<string, number>) =>
		Object.entries(o)
			.sort((a, b) => b[1] - a[1])
			.map(([k, v]) => `${k} ${v}`)
			.join(', ') || 'none';
	const lines = [
		`replayed ${s.events} event(s)${s.timers ? ` and ${s.timers} timer event(s)` : ''}: ${count(s.byStatus)}${s.profileOnly ? `; ${s.profileOnly} only updated the profile (not a trigger: no message meant)` : ''}`,
		`reasons (not sent, held or waiting): ${count(s.byReason)}`,
	];
	if (s.rejected.length) {
		lines.push(`rejected ${s.rejected.length} line(s):`);
		for (const r of s.rejected) lines.push(`  line ${r.line}: ${r.error}`);
	}
	return `${lines.join('\n')}\n`;
}
