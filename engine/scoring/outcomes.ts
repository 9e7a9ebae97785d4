import type { DecisionQuery, Outcome } from '../audit/schema';
import { NudgeError } from '../errors';
import type { Store } from '../store/types';
import { tableFromObjects, Table } from './table';

/**
 * Learning from outcomes: the engine's own decisions and their recorded outcomes become labelled
 * training rows, one per contact. The label column `converted` is 1 when any of the contact's
 * decisions in the range got an outcome of the chosen type (default `conversion`), else 0. The features
 * are the contact's profile as it is now: its traits, its event counters (by event name) and lifecycle —
 * the same names a model reads when it scores a profile (registry.ts `profileRecord`). A trait written
 * after the outcome (a "customer since" date) would leak the answer: exclude it when training.
 */
export const OUTCOME_LABEL = 'converted';

export interface OutcomeRowsOptions {
	outcome?: Outcome['type'];
	journey?: string;
	/** ISO times on decision creation: inclusive from, exclusive to. */
	from?: string;
	to?: string;
}

export async function outcomeTrainingTable(store: Store, options: OutcomeRowsOptions = {}): Promise<Table> {
	const type = options.outcome ?? 'conversion';
	const labels = new Map<string, number>();
	let after: DecisionQuery['after'];
	for (;;) {
		const page = await store.queryDecisions({ journey: options.journey, from: options.from, to: options.to, limit: 1000, after });
		for (const d of page) {
			if (!d.contactId) continue;
			const hit = d.outcomes.some((o) => o.type === type) ? 1 : 0;
			labels.set(d.contactId, Math.max(labels.get(d.contactId) ?? 0, hit));
		}
		if (page.length < 1000) break;
		const last = page[page.length - 1];
		after = { createdAt: last.createdAt, decisionId: last.decisionId };
	}
	const rows: Record<string, unknown>[] = [];
	for (const [contactId, label] of labels) {
		const profile = await store.getProfile(contactId);
		if (!profile) continue;
		rows.push({ ...profile.counters, ...profile.traits, ...(profile.lifecycle ? { lifecycle: profile.lifecycle } : {}), [OUTCOME_LABEL]: String(label) });
	}
	if (!rows.length) throw new NudgeError('INVALID_INPUT', `No decisions with a known contact${options.journey ? ` in journey "${options.journey}"` : ''} to learn from yet`);
	// Contacts without a trait or counter simply lack it: blank, like an empty cell.
	return tableFromObjects(rows, 'The outcome rows');
}
