import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Decision } from '../engine/audit/schema';
import { NudgeError } from '../engine/errors';
import { JOURNEYS, JourneyName, runJourney } from '../engine/journeys/journey';
import { createEngine } from '../engine/registry';

export interface ReplayOptions {
	events: string;
	journey?: string;
	policy?: string;
	/** SQLite file to keep the replay's store in; a throwaway one when absent. */
	store?: string;
}

export interface ReplaySummary {
	events: number;
	rejected: { line: number; error: string }[];
	byStatus: Record<string, number>;
	byReason: Record<string, number>;
}

/**
 * Replays an event file through a journey on a fresh embedded store, deciding each event at its own
 * timestamp (so caps see history as it happened) and sending nothing: deliveries are dry runs.
 */
export async function replay(options: ReplayOptions, emit: (decision: Decision) => void): Promise<ReplaySummary> {
	const journey = (options.journey ?? 'nurture') as JourneyName;
	if (!JOURNEYS.includes(journey)) {
		throw new NudgeError('INVALID_INPUT', `Unknown journey "${options.journey}". Available: ${JOURNEYS.join(', ')}`);
	}
	const scratch = options.store ? undefined : mkdtempSync(join(tmpdir(), 'nudge-replay-'));
	const engine = createEngine({
		store: `sqlite:${options.store ?? join(scratch!, 'replay.db')}`,
		policyFile: options.policy,
		clock: 'event',
	});
	const summary: ReplaySummary = { events: 0, rejected: [], byStatus: {}, byReason: {} };
	try {
		const lines = createInterface({ input: createReadStream(options.events), crlfDelay: Infinity });
		let lineNo = 0;
		for await (const line of lines) {
			lineNo++;
			if (!line.trim()) continue;
			summary.events++;
			let decision: Decision;
			try {
				decision = await runJourney(engine, journey, line, { dryRun: true });
			} catch (error) {
				summary.rejected.push({ line: lineNo, error: (error as Error).message });
				continue;
			}
			summary.byStatus[decision.status] = (summary.byStatus[decision.status] ?? 0) + 1;
			if (decision.reason) summary.byReason[decision.reason] = (summary.byReason[decision.reason] ?? 0) + 1;
			emit(decision);
		}
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
			throw new NudgeError('INVALID_INPUT', `Events file not found: ${options.events}`);
		}
		throw error;
	} finally {
		await engine.close();
		if (scratch) rmSync(scratch, { recursive: true, force: true });
	}
	return summary;
}

export function formatSummary(s: ReplaySummary): string {
	const count = (o: Record<string, number>) =>
		Object.entries(o)
			.sort((a, b) => b[1] - a[1])
			.map(([k, v]) => `${k} ${v}`)
			.join(', ') || 'none';
	const lines = [
		`replayed ${s.events} event(s): ${count(s.byStatus)}`,
		`suppression reasons: ${count(s.byReason)}`,
	];
	if (s.rejected.length) {
		lines.push(`rejected ${s.rejected.length} line(s):`);
		for (const r of s.rejected) lines.push(`  line ${r.line}: ${r.error}`);
	}
	return `${lines.join('\n')}\n`;
}
