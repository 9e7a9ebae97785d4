/** The demo's counts of decisions: by journey, by outcome and by reason, read from the decision log. */
import type { Decision } from '../engine/audit/schema';

/**
 * What became of a decision, as a marketer reads it. `no message` is an event that only updated the
 * profile or recorded an outcome (reason NOT_A_TRIGGER); `pending` is still on its way through the flow.
 */
export const OUTCOMES = ['sent', 'delayed', 'review', 'holdout', 'suppressed', 'failed', 'no message', 'pending'] as const;
export type DecisionOutcome = (typeof OUTCOMES)[number];

export function outcomeOf(d: Decision): DecisionOutcome {
	// Delayed and review decisions wait by design (a Delay node, a person): they are logged when they move on.
	if (d.status === 'delayed' || d.status === 'review') return d.status;
	if (!d.loggedAt) return 'pending';
	if (d.reason === 'HOLDOUT') return 'holdout';
	if (d.reason === 'NOT_A_TRIGGER') return 'no message';
	if (d.status === 'sent' || d.status === 'failed') return d.status;
	return 'suppressed';
}

export interface Tally {
	decisions: number;
	byJourney: Map<string, Map<DecisionOutcome, number>>;
	byOutcome: Map<DecisionOutcome, number>;
	/** Reasons of everything not sent (holdouts, delays and reviews included). */
	byReason: Map<string, number>;
	/** Per journey and channel: messages sent and the conversions (or revenue outcomes) they earned. */
	byChannel: Map<string, { sent: number; converted: number }>;
	outcomes: Map<string, number>;
}

const bump = <K>(map: Map<K, number>, key: K, by = 1) => map.set(key, (map.get(key) ?? 0) + by);

export function tally(decisions: Decision[]): Tally {
	const t: Tally = { decisions: decisions.length, byJourney: new Map(), byOutcome: new Map(), byReason: new Map(), byChannel: new Map(), outcomes: new Map() };
	for (const d of decisions) {
		const outcome = outcomeOf(d);
		const journey = t.byJourney.get(d.journey) ?? new Map<DecisionOutcome, number>();
		bump(journey, outcome);
		t.byJourney.set(d.journey, journey);
		bump(t.byOutcome, outcome);
		if (d.status !== 'sent' && d.reason) bump(t.byReason, d.reason);
		for (const o of d.outcomes ?? []) bump(t.outcomes, o.type);
		if (d.status === 'sent' && d.channel) {
			const key = `${d.journey} ${d.channel}`;
			const row = t.byChannel.get(key) ?? { sent: 0, converted: 0 };
			row.sent++;
			if ((d.outcomes ?? []).some((o) => o.type === 'conversion' || o.type === 'revenue')) row.converted++;
			t.byChannel.set(key, row);
		}
	}
	return t;
}

const counts = (map: Map<string, number>) =>
	[...map.entries()]
		.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
		.map(([k, v]) => `${k} ${v}`)
		.join(', ');

/** The running summary's line: decisions by journey and by outcome. */
export function runningLine(t: Tally): string {
	const journeys = [...t.byJourney.entries()].map(([j, m]) => `${j} ${[...m.values()].reduce((a, b) => a + b, 0)}`).join(', ');
	const outcomes = OUTCOMES.filter((o) => t.byOutcome.get(o)).map((o) => `${o} ${t.byOutcome.get(o)}`).join(', ');
	return `${t.decisions} decisions (${journeys}) · ${outcomes}`;
}

/**
 * The final summary. Its lines are parsed by test/node-red/demo.test.ts:
 * "  <journey>  <n> decisions: sent 3, delayed 1, …" and "  reasons: FREQUENCY_CAP 4, …".
 */
export function summaryLines(t: Tally): string[] {
	const lines = ['By journey and outcome:'];
	const row = (name: string, m: Map<DecisionOutcome, number>) => {
		const total = [...m.values()].reduce((a, b) => a + b, 0);
		const parts = OUTCOMES.filter((o) => o !== 'pending' || m.get(o)).map((o) => `${o} ${m.get(o) ?? 0}`);
		return `  ${name.padEnd(17)} ${String(total).padStart(4)} decisions: ${parts.join(', ')}`;
	};
	for (const [journey, m] of [...t.byJourney.entries()].sort((a, b) => a[0].localeCompare(b[0]))) lines.push(row(journey, m));
	lines.push(row('all journeys', t.byOutcome));
	lines.push(`  reasons: ${counts(t.byReason) || 'none'}`);
	lines.push(`  outcomes recorded: ${counts(t.outcomes) || 'none'}`);
	if (t.byChannel.size) {
		lines.push('What the learner has seen so far (messages sent → converted):');
		for (const [key, { sent, converted }] of [...t.byChannel.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
			lines.push(`  ${key.padEnd(28)} ${String(sent).padStart(4)} → ${String(converted).padStart(3)}  (${Math.round((100 * converted) / sent)}%)`);
		}
	}
	return lines;
}
