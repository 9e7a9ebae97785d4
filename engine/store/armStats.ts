import { NudgeError } from '../errors';
import { ARM_STAT_FIELDS, ArmStats } from './types';

/** Every backend refuses the same bad deltas before writing anything (no NaN ever reaches a posterior). */
export function checkArmDeltas(deltas: { key: string; delta: Partial<ArmStats> }[]): void {
	for (const { key, delta } of deltas) {
		if (!key) throw new NudgeError('INVALID_INPUT', 'A learner statistics key must not be empty');
		for (const field of ARM_STAT_FIELDS) {
			const v = delta[field];
			if (v !== undefined && !Number.isFinite(v)) throw new NudgeError('INVALID_INPUT', `Learner statistic ${field} for ${key} must be a finite number, not ${v}`);
		}
	}
}

/** The counts after adding a delta (missing fields add nothing). */
export function addArmDelta(current: ArmStats | undefined, delta: Partial<ArmStats>): ArmStats {
	const next = { trials: 0, successes: 0, negatives: 0, valueSum: 0, valueSq: 0, ...current };
	for (const field of ARM_STAT_FIELDS) next[field] += delta[field] ?? 0;
	return next;
}
