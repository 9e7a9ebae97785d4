import type { ClaimStore, CursorStore, RewardRecords, SuppressionRecords, VariantRecords } from './roles';
import type { ReadRecords, RecordReads } from './types';
import { isoTime } from '../util/isoTime';

/**
 * The named records (roles.ts VariantRecords, RewardRecords, SuppressionRecords), written once over the cursor and claim primitives
 * so every backend, and any composition of backends, keeps them alike. Their key names live here only.
 *
 * Each is a permanent fact, so each is a cursor (a compare-and-set row that never expires). Stores written before
 * kept approvals, reward marks and suppressed identities as claimed keys held for a hundred years: those are still read (legacy*), so an
 * approved variant stays approved, a counted reward is not counted again and a suppressed identity stays suppressed.
 */
type Primitives = CursorStore & Pick<ClaimStore, 'keyHeldUntil' | 'releaseKey'>;

const winnerKey = (slot: string) => `variant-winner:${slot}`;
const approvedKey = (variant: string) => `variant-approved:${variant}`;
const rewardKey = (decisionId: string) => `reward:${decisionId}`;
const suppressedKey = (digest: string) => `suppressed:${digest}`;
/** The claimed keys of earlier versions (same names, in the claims). */
const legacyApprovedKey = approvedKey;
const legacyRewardKey = rewardKey;
const legacySuppressedKey = suppressedKey;

/** The records that would say these digests are suppressed, to read in one store step (FoldedSteps.lockAndReadProfiles). */
export const suppressionRecordReads = (digests: string[]): RecordReads => ({ cursors: digests.map(suppressedKey), claims: digests.map(legacySuppressedKey) });

/** Whether what such a step read says this digest is suppressed (as anyIdentitySuppressed([digest])). */
export const suppressedIn = (records: ReadRecords, digest: string): boolean => records.cursors.has(suppressedKey(digest)) || records.claims.has(legacySuppressedKey(digest));

/** Held by a legacy claim: those were held for a hundred years, so the wall clock only tells held from released. */
async function legacyHeld(store: Primitives, key: string): Promise<boolean> {
	return (await store.keyHeldUntil(key, Date.now())) !== undefined;
}

/** A backend extends this to keep the named records over its own primitives. */
export class NamedRecords implements VariantRecords, RewardRecords, SuppressionRecords {
	variantWinner(this: Primitives, slot: string): Promise<string | undefined> {
		return this.getCursor(winnerKey(slot));
	}

	promoteVariant(this: Primitives, slot: string, variant: string): Promise<boolean> {
		return this.setCursor(winnerKey(slot), variant, undefined);
	}

	async approveVariant(this: Primitives, variant: string, at: number): Promise<void> {
		// Approved once is approved: a second approval keeps the first one's time.
		await this.setCursor(approvedKey(variant), isoTime(at), undefined);
	}

	async isVariantApproved(this: Primitives, variant: string): Promise<boolean> {
		return (await this.getCursor(approvedKey(variant))) !== undefined || (await legacyHeld(this, legacyApprovedKey(variant)));
	}

	async claimReward(this: Primitives, decisionId: string, now: number): Promise<boolean> {
		if (await legacyHeld(this, legacyRewardKey(decisionId))) return false;
		return this.setCursor(rewardKey(decisionId), isoTime(now), undefined);
	}

	async releaseReward(this: Primitives, decisionId: string): Promise<void> {
		await Promise.all([this.deleteCursor(rewardKey(decisionId)), this.releaseKey(legacyRewardKey(decisionId))]);
	}

	async suppressIdentities(this: Primitives, digests: string[], at: number): Promise<void> {
		// Suppressed once is suppressed: a second erasure keeps the first one's time.
		for (const digest of digests) await this.setCursor(suppressedKey(digest), isoTime(at), undefined);
	}

	async anyIdentitySuppressed(this: Primitives, digests: string[]): Promise<boolean> {
		for (const digest of digests) {
			if ((await this.getCursor(suppressedKey(digest))) !== undefined || (await legacyHeld(this, legacySuppressedKey(digest)))) return true;
		}
		return false;
	}
}
