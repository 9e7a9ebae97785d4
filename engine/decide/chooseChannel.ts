import { atCap, keptCapped, notInJourney, waitDisabled } from '../audit/candidateDetails';
import { Candidate, ReasonCode, WAIT } from '../audit/schema';
import { CHANNELS, Channel } from '../channels';
import type { CappedChannel } from '../guard/frequencyCap';
import type { Policy } from '../policy/schema';
import { channelEligibility } from '../profiles/eligibility';
import type { Profile } from '../profiles/schema';
import { isoTime } from '../util/isoTime';

export interface ChannelChoice {
	channel?: Channel;
	candidates: Candidate[];
	/** Set when no channel is eligible. */
	reason?: ReasonCode;
	explanation: string;
}

/** The channels a journey may use, in the policy's order of preference (or only those given, e.g. an escalation's). */
export function journeyChannels(policy: Policy, journey: string, only?: Channel[]): Channel[] {
	return only ?? policy.journeys[journey]?.channels ?? policy.channelOrder;
}

/**
 * Why a channel is not one the journey may use (its channels, or its escalation's); undefined when it is. Asked of a
 * channel given from outside (Frequency Cap's setting, an agent's request), which does not open a channel the policy
 * closed, and of the chosen one at every guardrails check (a delayed decision's, after the policy changed).
 */
export function channelOutsideJourney(policy: Policy, journey: string, channel: Channel): string | undefined {
	const escalate = policy.journeys[journey]?.escalate?.channel;
	if (channel === escalate || journeyChannels(policy, journey).includes(channel)) return undefined;
	const allowed = [...journeyChannels(policy, journey), ...(escalate ? [escalate] : [])];
	return `${channel} is not a channel of journey ${journey} (the policy gives it ${allowed.join(', ')}): use one of those, or add ${channel} to journeys.${journey}.channels`;
}

/** The journey's channels this contact may be messaged on before caps are counted (the ones worth a look at the caps). */
export function openChannels(profile: Profile, policy: Policy, journey: string, only?: Channel[]): Channel[] {
	return journeyChannels(policy, journey, only).filter((channel) => !channelEligibility(channel, profile, policy));
}

function cappedDetail(cap: CappedChannel): string {
	return atCap(cap.rule.id, cap.count, cap.rule.limit, cap.window, cap.freesAt !== undefined ? isoTime(cap.freesAt) : undefined);
}

/**
 * Every candidate (each channel, then "no action / wait") with its eligibility and, when ineligible, the
 * reason: the journey's channels first in its order of preference, then the channels the journey does
 * not allow, then wait (eligible only when the policy lets the learner choose it). A channel already at
 * one of its caps (`capped`, from a read-only look at the store) is ineligible with reason FREQUENCY_CAP,
 * the rule and when it frees, so the choice goes to a channel with room. When caps would leave no channel
 * at all, the capped channels stay eligible: the guardrails stage then gives the verdict in its own order
 * (a paused journey or a review before the cap, then the cap's block or its delay to the free slot).
 */
export function channelCandidates(profile: Profile, policy: Policy, journey: string, capped: ReadonlyMap<Channel, CappedChannel> = new Map(), only?: Channel[]): Candidate[] {
	const allowed = journeyChannels(policy, journey, only);
	const others = CHANNELS.filter((c) => !allowed.includes(c));
	const candidates: Candidate[] = [...allowed, ...others].map((channel, rank) => {
		const why = allowed.includes(channel)
			? channelEligibility(channel, profile, policy)
			: { reason: 'POLICY_BLOCKED' as const, detail: notInJourney(channel, journey) };
		if (why) return { channel, rank, eligible: false, ...why };
		const cap = capped.get(channel);
		if (!cap) return { channel, rank, eligible: true };
		const freesAt = cap.freesAt !== undefined ? { freesAt: isoTime(cap.freesAt) } : {};
		return { channel, rank, eligible: false, reason: 'FREQUENCY_CAP' as const, detail: cappedDetail(cap), ruleId: cap.rule.id, ...freesAt };
	});
	if (!candidates.some((c) => c.eligible)) {
		for (const c of candidates) {
			if (c.reason === 'FREQUENCY_CAP') {
				c.eligible = true;
				c.detail = keptCapped(c.detail!);
				delete c.reason;
			}
		}
	}
	const wait: Candidate = policy.learner.allowWait
		? { channel: WAIT, rank: candidates.length, eligible: true }
		: { channel: WAIT, rank: candidates.length, eligible: false, reason: 'POLICY_BLOCKED', detail: waitDisabled() };
	return [...candidates, wait];
}

/**
 * Picks the first eligible channel in the policy's order (the learner's choice with no data). Every
 * candidate is listed with its eligibility and, when ineligible, the reason.
 */
export function chooseChannel(profile: Profile, policy: Policy, journey: string, capped?: ReadonlyMap<Channel, CappedChannel>, only?: Channel[]): ChannelChoice {
	const candidates = channelCandidates(profile, policy, journey, capped, only);
	const chosen = candidates.find((c) => c.eligible && c.channel !== WAIT);
	if (chosen) {
		return { channel: chosen.channel as Channel, candidates, explanation: `${chosen.channel} is the first eligible channel in the policy order` };
	}
	// The reason names what stopped the journey's own channels (the others are off-journey by definition).
	const allowed = journeyChannels(policy, journey, only);
	const reasons = new Set(candidates.filter((c) => allowed.includes(c.channel as Channel)).map((c) => c.reason));
	const reason: ReasonCode = reasons.size === 1 ? [...reasons][0]! : 'NO_ELIGIBLE_CHANNEL';
	return {
		candidates,
		reason,
		explanation: `no channel is eligible: ${candidates.filter((c) => allowed.includes(c.channel as Channel)).map((c) => c.detail).join('; ')}`,
	};
}
