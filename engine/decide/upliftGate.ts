import type { Decision } from '../audit/schema';
import { NudgeError } from '../errors';
import type { UpliftGate } from '../policy/schema';
import type { Profile } from '../profiles/schema';
import { profileRecord } from '../scoring/registry';
import { admitTop, scoreUplift } from '../scoring/uplift/model';
import { activeUplift } from '../scoring/uplift/registry';
import type { Store } from '../store/types';
import { holdoutKey } from './holdout';

export type UpliftView = NonNullable<Decision['uplift']>;

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const pp = (v: number) => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(2)} pp`;

/**
 * The uplift gate's view of one contact (policy `journeys.<id>.uplift`). Without a usable model version
 * the gate cannot judge and admits the contact, saying so (a journey must send to learn); a model that
 * does not beat random gives everyone the average effect, which passes a `minUplift` bar or not, and
 * passes `topPercent` when it is positive (a single value ranks nobody).
 */
export async function upliftView(store: Store, gate: UpliftGate, profile: Profile): Promise<UpliftView> {
	let active: Awaited<ReturnType<typeof activeUplift>>;
	let why: string | undefined;
	try {
		active = await activeUplift(store, gate.model);
		if (!active) why = `no version of uplift model "${gate.model}" is active`;
	} catch (error) {
		if (!(error instanceof NudgeError)) throw error;
		why = `uplift model "${gate.model}" could not be loaded (${error.message})`;
	}
	if (!active) return { model: gate.model, predicted: 0, fallback: true, threshold: 0, admitted: true, factors: [], note: `${why}: the gate admits every contact until one is trained (nudge uplift train)` };
	const { version, model } = active;
	const name = `${gate.model}@v${version}`;
	const score = scoreUplift(model, profileRecord(profile, model));
	const topPercent = gate.topPercent;
	if (score.fallback) {
		const threshold = gate.minUplift ?? 0;
		const admitted = gate.minUplift !== undefined ? score.uplift >= threshold : score.uplift > 0;
		const note = `${name} does not beat random targeting, so every contact gets the journey's average effect (${pp(score.uplift)})${topPercent !== undefined ? `; a single value cannot rank the top ${topPercent}%, so it passes when positive` : ''}`;
		return { model: name, predicted: score.uplift, fallback: true, threshold, admitted, factors: [], note };
	}
	if (gate.minUplift !== undefined) return { model: name, predicted: score.uplift, fallback: false, threshold: gate.minUplift, admitted: score.uplift >= gate.minUplift, factors: score.factors };
	// The contact's holdout key: the same person gets the same answer at a tied cut-off in every store and process.
	const top = admitTop(model, topPercent!, score.uplift, holdoutKey(profile), gate.model);
	const note = top.tie && `${pct(top.tie.at)} of ${name}'s held-out contacts are predicted exactly the cut-off of the top ${topPercent}%; to keep the top ${topPercent}%, ${pct(top.tie.admitted)} of them are sent to, chosen by a stable hash of the contact, and this contact is ${top.admitted ? '' : 'not '}one of them`;
	return { model: name, predicted: score.uplift, fallback: false, threshold: top.threshold, admitted: top.admitted, factors: score.factors, ...(note ? { note } : {}) };
}

/** Why a decision was not sent (LOW_UPLIFT), in one sentence. */
export function lowUpliftExplanation(view: UpliftView, gate: UpliftGate): string {
	const bar =
		gate.minUplift !== undefined
			? `the journey's minimum ${pp(gate.minUplift)}`
			: view.fallback
				? 'zero (an average effect ranks nobody, so the top share passes only when it is positive)'
				: `${pp(view.threshold)}, the cut-off of the top ${gate.topPercent}%`;
	// A model's own view carries a note only for a tie at the cut-off (it says how many are sent): equal to the bar, not below it.
	if (!view.fallback && gate.minUplift === undefined && view.note) {
		return `predicted uplift ${pp(view.predicted)} (${view.model}) is exactly ${bar}, shared by more contacts than that share holds: only some of them are sent to, chosen by a stable hash of the contact, and this contact is not one of them`;
	}
	return `predicted uplift ${pp(view.predicted)} (${view.model}${view.fallback ? ", the journey's average effect" : ''}) is below ${bar}: the message is not expected to change this contact enough`;
}
