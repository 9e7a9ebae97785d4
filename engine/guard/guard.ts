import type { Decision, GuardCheck, ReasonCode } from '../audit/schema';
import type { Channel } from '../channels';
import { channelEligibility } from '../profiles/eligibility';
import { contactIds } from '../profiles/profiles';
import type { Policy } from '../policy/schema';
import type { Profile } from '../profiles/schema';
import type { CapLedgerStore, FoldedSteps, KeyClaim, VariantRecords } from '../store/types';
import { checkBestSendTime } from './bestTime';
import { checkAndReserve, MessageFacts } from './frequencyCap';
import { checkNegativeTriggers } from './negativeTriggers';
import { checkQuietHours } from './quietHours';
import { checkReview } from './review';
import { zoneFallbackNote, zoneFor } from './windows';
import { isoTime } from '../util/isoTime';

export type GuardOutcome = 'allowed' | 'delayed' | 'blocked' | 'review';

export interface GuardResult {
	outcome: GuardOutcome;
	checks: GuardCheck[];
	reason?: ReasonCode;
	bindingRuleId?: string;
	retryAt?: number;
	reservationId?: string;
	/** With `claim`: whether its key was claimed with the reservation. */
	claimed?: boolean;
	explanation: string;
	/** Review rules that asked for a person. */
	reviewRules?: string[];
}

/** A policy's suppression list as sets, made once per policy: every decision checks it twice (guard and send). */
interface SuppressionSets {
	emails: Set<string>;
	domains: Set<string>;
	userIds: Set<string>;
}
const suppressionSets = new WeakMap<Policy['suppression'], SuppressionSets>();

function setsOf(list: Policy['suppression']): SuppressionSets {
	let sets = suppressionSets.get(list);
	if (!sets) {
		sets = {
			emails: new Set(list.emails.map((e) => e.toLowerCase())),
			domains: new Set(list.domains.map((d) => d.toLowerCase().replace(/^@/, ''))),
			userIds: new Set(list.userIds),
		};
		suppressionSets.set(list, sets);
	}
	return sets;
}

/** Does the address end with `@` and a listed domain (after any of its `@`s)? */
function atListedDomain(address: string, domains: Set<string>): boolean {
	for (let at = address.indexOf('@'); at >= 0; at = address.indexOf('@', at + 1)) if (domains.has(address.slice(at + 1))) return true;
	return false;
}

/**
 * Is the contact on the policy's global suppression list? Emails and domains compare without case. Looked up in
 * sets: scanning the lists, lower-casing each entry, cost every decision time in proportion to the list's length.
 */
export function suppressionHit(policy: Policy, profile: Profile): string | undefined {
	if (profile.doNotContact) return 'this person had their data erased and asked not to be contacted';
	const { emails, domains, userIds } = setsOf(policy.suppression);
	const addresses = [profile.email, ...(profile.identities.email ?? [])].filter((e): e is string => !!e).map((e) => e.toLowerCase());
	const email = addresses.find((a) => emails.has(a));
	if (email) return `${email} is on the suppression list`;
	const domain = domains.size ? addresses.find((a) => atListedDomain(a, domains)) : undefined;
	if (domain) return `${domain} is at a suppressed domain`;
	// The ids of contacts merged into this one too: a listed contact id stays suppressed after its contact merged.
	const ids = [...contactIds(profile), ...(profile.identities.userId ?? [])];
	const id = ids.find((i) => userIds.has(i));
	return id ? `${id} is on the suppression list` : undefined;
}

export interface GuardInput {
	/** Reviews ask whether a variant was approved; caps reserve in the ledger. */
	store: CapLedgerStore & Pick<FoldedSteps, 'reserveCapAndClaim'> & VariantRecords;
	policy: Policy;
	profile: Profile;
	decision: Decision;
	channel: Channel;
	now: number;
	/** A reviewer approved this decision: review thresholds are not asked again. */
	reviewApproved?: boolean;
	/** False: check only (a dry run): the caps are looked at, no slot is reserved. */
	reserve?: boolean;
	/** A key to claim with the cap reservation, in the same store step (the send's, when the send follows at once). */
	claim?: KeyClaim;
}

/**
 * Every guardrail for one message, in order — suppression list, consent, negative triggers, human
 * review, the best send time, quiet hours, frequency caps — stopping at the first that blocks, delays or
 * asks for review. Caps come last because they reserve a slot: nothing is reserved for a message that
 * cannot go. The best-time wait comes after review (a person decides first) and before the clock checks,
 * which the message meets again when it comes back.
 */
export async function evaluateGuards(input: GuardInput): Promise<GuardResult> {
	const { store, policy, profile, decision, channel, now } = input;
	const checks: GuardCheck[] = [];
	const stop = (outcome: GuardOutcome, reason: ReasonCode, ruleId: string, explanation: string, retryAt?: number): GuardResult => ({
		outcome,
		checks,
		reason,
		bindingRuleId: ruleId,
		explanation,
		...(retryAt !== undefined ? { retryAt } : {}),
	});

	const suppressed = suppressionHit(policy, profile);
	checks.push({ kind: 'suppression', ruleId: 'suppression-list', passed: !suppressed, ...(suppressed ? { detail: suppressed } : {}) });
	if (suppressed) return stop('blocked', 'SUPPRESSION_LIST', 'suppression-list', suppressed);

	// Consent may have changed since the channel was chosen (an unsubscribe in between): check again.
	const ineligible = channelEligibility(channel, profile, policy);
	checks.push({ kind: 'consent', ruleId: `consent:${channel}`, passed: !ineligible, ...(ineligible ? { detail: ineligible.detail } : {}) });
	if (ineligible) return stop('blocked', ineligible.reason, `consent:${channel}`, ineligible.detail);

	const paused = checkNegativeTriggers(policy, profile, decision.journey, now);
	checks.push(...paused.checks);
	if (paused.binding) {
		const detail = paused.checks.find((c) => c.ruleId === paused.binding!.id)?.detail ?? '';
		return stop('blocked', 'NEGATIVE_TRIGGER', paused.binding.id, `journey paused by ${paused.binding.id}: ${detail}`);
	}

	if (!input.reviewApproved) {
		const review = await checkReview(store, policy, profile, decision);
		checks.push(...review.checks);
		if (review.hits.length) {
			const ids = review.hits.map((r) => r.id);
			return { ...stop('review', 'REVIEW_REQUIRED', ids[0], `needs a person's approval (${ids.join(', ')})`), reviewRules: ids };
		}
	}

	const best = checkBestSendTime(policy, decision, now);
	checks.push(...best.checks);
	if (best.waitUntil !== undefined) {
		const check = best.checks[0];
		return stop('delayed', 'BEST_SEND_TIME', check.ruleId, `waiting for ${check.detail}; retry at ${isoTime(best.waitUntil)}`, best.waitUntil);
	}

	const zone = zoneFor(profile.timezone, policy.timezone);
	// A contact's unusable zone must not switch the guardrails off, nor pass unnoticed: the checks that
	// read the local clock (quiet hours, calendar caps) say so.
	const note = zoneFallbackNote(profile.timezone, zone);
	const zoned = (c: GuardCheck) => c.kind === 'quiet_hours' || !!c.window?.startsWith('calendar');
	const noted = (list: GuardCheck[]) => (note ? list.map((c) => (zoned(c) ? { ...c, detail: c.detail ? `${c.detail}; ${note}` : note } : c)) : list);
	const quiet = checkQuietHours(policy, channel, decision.message?.category, now, zone);
	checks.push(...noted(quiet.checks));
	if (quiet.binding) {
		const { rule, retryAt } = quiet.binding;
		const when = isoTime(retryAt);
		return rule.action === 'drop'
			? stop('blocked', 'QUIET_HOURS', rule.id, `inside quiet hours ${rule.start}–${rule.end} (${zone}); the policy drops such messages`)
			: stop('delayed', 'QUIET_HOURS', rule.id, `inside quiet hours ${rule.start}–${rule.end} (${zone}); retry at ${when}`, retryAt);
	}

	const message: MessageFacts = { channel, journey: decision.journey, category: decision.message?.category, tags: decision.message?.tags ?? [] };
	const caps = await checkAndReserve(store, policy, profile.contactId, message, now, zone, input.reserve ?? true, input.claim);
	checks.push(...noted(caps.checks));
	if (caps.allowed) return { outcome: 'allowed', checks, reservationId: caps.reservationId, ...(caps.claimed !== undefined ? { claimed: caps.claimed } : {}), explanation: caps.explanation };
	const { rule, retryAt } = caps.binding!;
	return rule.action === 'delay' && retryAt !== undefined
		? stop('delayed', 'FREQUENCY_CAP', rule.id, `${caps.explanation}; retry at ${isoTime(retryAt)}`, retryAt)
		: stop('blocked', 'FREQUENCY_CAP', rule.id, caps.explanation);
}
