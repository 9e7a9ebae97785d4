import { converted, Decision, Outcome } from '../audit/schema';
import { iterateDecisions } from '../audit/export';
import { NudgeError } from '../errors';
import { profileById } from '../profiles/profiles';
import type { Profile } from '../profiles/schema';
import type { Store } from '../store/types';
import { tableFromObjects, Table } from './table';

/**
 * Learning from outcomes: the engine's own decisions and their recorded outcomes become labelled
 * training rows, one per contact (a contact merged into another is part of the survivor's row). The label
 * column `converted` is 1 when any of the contact's decisions in the range got an outcome of the chosen type
 * (default `conversion`), else 0. The features are the contact's profile as it is now: its traits, its event
 * counters (by event name) and lifecycle — the same names a model reads when it scores a profile (registry.ts
 * `profileRecord`). The counters of journey outcome events (policy `journeys.<id>.outcomes`, and every event the
 * log recorded as an outcome) are left out and listed in the table's `skipped`: an "Order Completed" count is the
 * label itself, and an open or a click exists only for a messaged contact. A trait written after the outcome (a
 * "customer since" date) would leak the answer as well: exclude it when training.
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
	/** Event names the policy records as journey outcomes (journey.ts outcomeEventNames): never features. */
	outcomeEvents?: string[];
}

/** Why an outcome event's counter is not a feature (reported among a model's columns not used). */
export const OUTCOME_EVENT_SKIPPED = 'journey outcome event: its count is the label, or only messaged contacts have it';

/** A contact's profile as training features, plus the given label columns; counters named in `leaks` (lower case) are left out. */
export function profileRow(profile: Profile, labels: Record<string, string>, leaks: ReadonlySet<string> = new Set()): Record<string, unknown> {
	const counters = Object.fromEntries(Object.entries(profile.counters).filter(([name]) => !leaks.has(name.toLowerCase())));
	return { ...counters, ...profile.traits, ...(profile.lifecycle ? { lifecycle: profile.lifecycle } : {}), ...labels };
}

/** A contact id's label columns, and the time of its latest decision (which sets the arm when ids merge). */
interface ContactLabel {
	labels: Record<string, string>;
	latest: string;
	/** Whether a decision converted, by the arm it was made in (uplift rows: '1' messaged, '0' held out; '' otherwise). */
	byArm: Record<string, boolean>;
}

/**
 * The label is set by the decisions in the contact's arm (its latest decision's) only: a messaged decision's conversion
 * booked to a contact later held out would count the message's effect as the control group's.
 */
function withLabel(l: ContactLabel): ContactLabel {
	return { ...l, labels: { ...l.labels, [OUTCOME_LABEL]: l.byArm[l.labels[TREATED_COLUMN] ?? ''] ? '1' : '0' } };
}

const anyByArm = (a: Record<string, boolean>, b: Record<string, boolean>) => Object.fromEntries([...new Set([...Object.keys(a), ...Object.keys(b)])].map((arm) => [arm, !!a[arm] || !!b[arm]]));

/** The labels of two ids of one person: converted when either did in the arm of the later decision, the rest from that decision. */
function mergedLabel(a: ContactLabel, b: ContactLabel): ContactLabel {
	const newer = a.latest > b.latest ? a : b;
	return withLabel({ latest: newer.latest, labels: newer.labels, byArm: anyByArm(a.byArm, b.byArm) });
}

/** What the log teaches the table builders besides labels: the events recorded as outcomes, lower case. */
function outcomeEventsOf(options: Pick<OutcomeRowsOptions, 'outcomeEvents'>): Set<string> {
	return new Set((options.outcomeEvents ?? []).map((name) => name.toLowerCase()));
}

/** Notes the event of a decision that is an outcome of a message (policy `outcomes`): its counter is never a feature. */
function noteOutcomeEvent(d: Decision, leaks: Set<string>): void {
	if (d.outcomeFor && d.event.name) leaks.add(d.event.name.toLowerCase());
}

/**
 * One row per person with a profile; contacts without a trait or counter simply lack it (blank). A contact id merged
 * into another leads to the survivor (profileById), so its decisions label the survivor's row, not no row at all.
 */
async function contactTable(store: Store, byId: Map<string, ContactLabel>, leaks: ReadonlySet<string>, what: string): Promise<Table> {
	const people = new Map<string, { profile: Profile; label: ContactLabel }>();
	for (const [contactId, label] of byId) {
		const profile = await profileById(store, contactId);
		if (!profile) continue;
		const seen = people.get(profile.contactId);
		people.set(profile.contactId, { profile, label: seen ? mergedLabel(seen.label, label) : label });
	}
	// A person with decisions in both arms (the holdout share changed between them): which arm an order reported by
	// contact belongs to cannot be told, so they are no row of either (uplift rows only: other rows have no arm).
	let bothArms = 0;
	for (const [contactId, { label }] of people) if ('0' in label.byArm && '1' in label.byArm && people.delete(contactId)) bothArms++;
	if (!people.size) throw new NudgeError('INVALID_INPUT', `No decisions with a known contact${what} to learn from yet${bothArms ? ` (${bothArms} contacts have decisions in both arms, as the holdout share changed, and are left out)` : ''}`);
	const skipped = new Set<string>();
	const rows = [...people.values()].map(({ profile, label }) => {
		for (const name of Object.keys(profile.counters)) if (leaks.has(name.toLowerCase())) skipped.add(name);
		return profileRow(profile, label.labels, leaks);
	});
	const table = tableFromObjects(rows, 'The outcome rows');
	return skipped.size ? { ...table, skipped: [...skipped].map((name) => ({ name, reason: OUTCOME_EVENT_SKIPPED })) } : table;
}

/** Sets a contact id's label from one more of its decisions: converted once any decision in its arm converted; the latest sets the rest. */
function label(byId: Map<string, ContactLabel>, d: Decision, hit: boolean, extra: Record<string, string> = {}): void {
	const before = byId.get(d.contactId);
	const newer = !before || d.createdAt >= before.latest;
	const byArm = anyByArm(before?.byArm ?? {}, { [extra[TREATED_COLUMN] ?? '']: hit });
	byId.set(d.contactId, withLabel({ latest: newer ? d.createdAt : before.latest, labels: newer ? extra : before.labels, byArm }));
}

export async function outcomeTrainingTable(store: Store, options: OutcomeRowsOptions = {}): Promise<Table> {
	const type = options.outcome ?? 'conversion';
	const labels = new Map<string, ContactLabel>();
	const leaks = outcomeEventsOf(options);
	for await (const d of iterateDecisions(store, { journey: options.journey, from: options.from, to: options.to })) {
		noteOutcomeEvent(d, leaks);
		if (!d.contactId) continue;
		label(labels, d, d.outcomes.some((o) => o.type === type));
	}
	return contactTable(store, labels, leaks, options.journey ? ` in journey "${options.journey}"` : '');
}

/**
 * Uplift training rows of one journey: each contact whose decisions reached Choose Channel, with its arm
 * (`treated` 0 when the holdout hash held it out, else 1: assigned at random) and whether it converted by
 * the journey's own conversion outcomes. Decisions the uplift gate stopped (LOW_UPLIFT), and holdout
 * decisions the gate would have stopped, are left out alike, so the two arms stay comparable. A contact's
 * latest decision sets its arm, and only its decisions in that arm say whether it converted; a contact with
 * decisions in both arms (a changed holdout share moved it) is left out.
 */
export async function upliftTrainingTable(store: Store, options: Omit<OutcomeRowsOptions, 'outcome'> & { journey: string }): Promise<Table> {
	const labels = new Map<string, ContactLabel>();
	const leaks = outcomeEventsOf(options);
	let gated = 0;
	for await (const d of iterateDecisions(store, { journey: options.journey, from: options.from, to: options.to })) {
		noteOutcomeEvent(d, leaks);
		if (d.uplift?.admitted === false) gated++;
		if (!d.contactId || !d.choice || d.uplift?.admitted === false) continue;
		label(labels, d, converted(d), { [TREATED_COLUMN]: d.choice.method === 'holdout' ? '0' : '1' });
	}
	if (!labels.size && gated) {
		throw new NudgeError(
			'INVALID_INPUT',
			`All ${gated} decisions of journey "${options.journey}" were stopped by its uplift gate, or held out where the gate would have stopped them: nothing comparable to learn from. Lower journeys.${options.journey}.uplift, or train from an export`,
		);
	}
	return contactTable(store, labels, leaks, ` in journey "${options.journey}"`);
}
