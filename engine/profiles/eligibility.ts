import { MISSING_CONTACT_POINT, needsOptIn, optedOut, switchedOff, unreachable } from '../audit/candidateDetails';
import type { ReasonCode } from '../audit/schema';
import type { Channel } from '../channels';
import type { Policy } from '../policy/schema';
import type { Profile } from './schema';

function reachable(channel: Channel, profile: Profile): boolean {
	switch (channel) {
		case 'email':
			return !!profile.email;
		case 'sms':
			return !!profile.phone;
		case 'push':
			return !!profile.pushToken;
		case 'in_app':
			return !!profile.identities.userId?.length;
		default:
			return !MISSING_CONTACT_POINT[channel];
	}
}

/**
 * Why a channel may not be used for this contact, or undefined when it may: the policy switched it off, the contact
 * cannot be reached on it, or has not consented. Choosing a channel, the guardrails and the send all ask it.
 */
export function channelEligibility(
	channel: Channel,
	profile: Profile,
	policy: Policy,
): { reason: ReasonCode; detail: string } | undefined {
	const rules = policy.channels[channel];
	if (rules && !rules.enabled) return { reason: 'POLICY_BLOCKED', detail: switchedOff(channel) };
	if (!reachable(channel, profile)) return { reason: 'UNREACHABLE', detail: unreachable(channel) };
	const consent = profile.consent[channel] ?? 'unknown';
	if (consent === 'opted_out') return { reason: 'NO_CONSENT', detail: optedOut(channel) };
	if (consent === 'unknown' && (rules?.unknownConsent ?? 'deny') === 'deny') return { reason: 'NO_CONSENT', detail: needsOptIn(channel) };
	return undefined;
}
