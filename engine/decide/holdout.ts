import { createHash } from 'node:crypto';
import type { HoldoutPolicy } from '../policy/schema';
import type { Profile } from '../profiles/schema';

export const HOLDOUT_BUCKETS = 10_000;

/**
 * A contact's bucket, 0–9,999: SHA-256 of salt, scope and contact id, first 6 bytes mod 10,000. The
 * same inputs give the same bucket in every process, on every restart and on every machine. (2^48 mod
 * 10,000 leaves a bias below 10^-10: immaterial.)
 */
export function holdoutBucket(contactId: string, salt: string, scope = 'global'): number {
	const digest = createHash('sha256').update(`${salt}\u0000${scope}\u0000${contactId}`).digest();
	return digest.readUIntBE(0, 6) % HOLDOUT_BUCKETS;
}

export interface HoldoutAssignment {
	group: 'global' | 'journey';
	bucket: number;
}

/**
 * The global control group is buckets below `globalShare × 10,000`; a journey's holdout draws its own
 * bucket (scope = journey name), so the two groups are independent of each other.
 */
export function holdoutOf(policy: HoldoutPolicy, contactId: string, journey: string): HoldoutAssignment | undefined {
	const global = holdoutBucket(contactId, policy.salt);
	if (global < Math.round(policy.globalShare * HOLDOUT_BUCKETS)) return { group: 'global', bucket: global };
	const share = policy.journeys[journey];
	if (!share) return undefined;
	const bucket = holdoutBucket(contactId, policy.salt, `journey:${journey}`);
	return bucket < Math.round(share * HOLDOUT_BUCKETS) ? { group: 'journey', bucket } : undefined;
}

/**
 * What a contact's buckets are drawn from: the key fixed on the profile at its first event, else (a profile from
 * before keys were kept) their first user id (the id your systems know them by, so a contact keeps its group in
 * every store and after a rebuild), else the Nudge contact id.
 */
export function holdoutKey(profile: Pick<Profile, 'contactId' | 'identities' | 'holdoutKey'>): string {
	return profile.holdoutKey ?? profile.identities.userId?.[0] ?? profile.contactId;
}
