import type { Decision } from '../audit/schema';
import { NudgeError } from '../errors';
import type { UpliftGate } from '../policy/schema';
import type { Profile } from '../profiles/schema';
import { profileRecord } from '../scoring/registry';
import { cutoffFor, scoreUplift } from '../scoring/uplift/model';
import { activeUplift } from '../scoring/uplift/registry';
import type { Store } from '../store/types';

export type UpliftView = NonNullable<Decision['uplift']>;

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
	const threshold = gate.minUplift ?? cutoffFor(model, topPercent!);
	return { model: name, predicted: score.uplift, fallback: false, threshold, admitted: score.uplift >= threshold, factors: score.factors };
}

/** Why a decision was not sent (LOW_UPLIFT), in one sentence. */
export function lowUpliftExplanation(view: UpliftView, gate: UpliftGate): string {
	const bar =
		gate.minUplift !== undefined
			? `the journey's minimum ${pp(gate.minUplift)}`
			: view.fallback
				? 'zero (an average effect ranks nobody, so the top share passes only when it is positive)'
				: `${pp(view.threshold)}, the cut-off of the top ${gate.topPercent}%`;
	return `predicted uplift ${pp(view.predicted)} (${view.model}${view.fallback ? ", the journey's average effect" : ''}) is below ${bar}: the message is not expected to change this contact enough`;
}
