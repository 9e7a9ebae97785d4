import { converted, Outcome } from '../audit/schema';
import { iterateDecisions } from '../audit/export';
import { NudgeError } from '../errors';
import type { Profile } from '../profiles/schema';
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
/** The arm column of uplift training rows: 1 messaged (treated), 0 held out. */
export const TREATED_COLUMN = 'treated';

export interface OutcomeRowsOptions {
	outcome?: Outcome['type'];
	journey?: string;
	/** ISO times on decision creation: inclusive from, exclusive to. */
	from?: string;
	to?: string;
}

/** A contact's profile as training features, plus the given label columns. */
export function profileRow(profile: Profile, labels: Record<string, string>): Record<string, unknown> {
	return { ...profile.counters, ...profile.traits, ...(profile.lifecycle ? { lifecycle: profile.lifecycle } : {}), ...labels };
}

/** One row per contact with a profile; contacts without a trait or counter simply lack it (blank). */
async function contactTable(store: Store, labels: Map<string, Record<string, string>>, what: string): Promise<Table> {
	const rows: Record<string, unknown>[] = [];
	for (const [contactId, label] of labels) {
		const profile = await store.getProfile(contactId);
		if (profile) rows.push(profileRow(profile, label));
	}
	if (!rows.length) throw new NudgeError('INVALID_INPUT', `No decisions with a known contact${what} to learn from yet`);
	return tableFromObjects(rows, 'The outcome rows');
}

export async function outcomeTrainingTable(store: Store, options: OutcomeRowsOptions = {}): Promise<Table> {
	const type = options.outcome ?? 'conversion';
	const labels = new Map<string, Record<string, string>>();
	for await (const d of iterateDecisions(store, { journey: options.journey, from: options.from, to: options.to })) {
		if (!d.contactId) continue;
		const hit = d.outcomes.some((o) => o.type === type) || labels.get(d.contactId)?.[OUTCOME_LABEL] === '1';
		labels.set(d.contactId, { [OUTCOME_LABEL]: hit ? '1' : '0' });
	}
	return contactTable(store, labels, options.journey ? ` in journey "${options.journey}"` : '');
}

/**
 * Uplift training rows of one journey: each contact whose decisions reached Choose Channel, with its arm
 * (`treated` 0 when the holdout hash held it out, else 1: assigned at random) and whether it converted by
 * the journey's own conversion outcomes. Decisions the uplift gate stopped (LOW_UPLIFT), and holdout
 * decisions the gate would have stopped, are left out alike, so the two arms stay comparable. A contact's
 * latest decision sets its arm (a changed holdout share can move a contact between arms).
 */
export async function upliftTrainingTable(store: Store, options: Omit<OutcomeRowsOptions, 'outcome'> & { journey: string }): Promise<Table> {
	const labels = new Map<string, Record<string, string>>();
	let gated = 0;
	for await (const d of iterateDecisions(store, { journey: options.journey, from: options.from, to: options.to })) {
		if (d.uplift?.admitted === false) gated++;
		if (!d.contactId || !d.choice || d.uplift?.admitted === false) continue;
		const hit = converted(d) || labels.get(d.contactId)?.[OUTCOME_LABEL] === '1';
		labels.set(d.contactId, { [TREATED_COLUMN]: d.choice.method === 'holdout' ? '0' : '1', [OUTCOME_LABEL]: hit ? '1' : '0' });
	}
	if (!labels.size && gated) {
		throw new NudgeError(
			'INVALID_INPUT',
			`All ${gated} decisions of journey "${options.journey}" were stopped by its uplift gate, or held out where the gate would have stopped them: nothing comparable to learn from. Lower journeys.${options.journey}.uplift, or train from an export`,
		);
	}
	return contactTable(store, labels, ` in journey "${options.journey}"`);
}
