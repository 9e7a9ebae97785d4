import type { ReasonCode } from '../audit/schema';
import type { Channel } from '../channels';
import type { Policy } from '../policy/schema';
import type { Profile } from './schema';

function reachable(channel: Channel, profile: Profile): string | undefined {
	switch (channel) {
		case 'email':
			return profile.email ? undefined : 'contact has no email address';
		case 'sms':
			return profile.phone ? undefined : 'contact has no phone number';
		case 'push':
			return profile.pushToken ? undefined : 'contact has no push token';
		case 'in_app':
			return profile.identities.userId?.length ? undefined : 'contact has no app user id';
		default:
			return undefined;
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
	if (rules && !rules.enabled) return { reason: 'POLICY_BLOCKED', detail: `channel ${channel} is switched off in the policy` };
	const missing = reachable(channel, profile);
	if (missing) return { reason: 'UNREACHABLE', detail: `${missing}; channel ${channel} is not reachable` };
	const consent = profile.consent[channel] ?? 'unknown';
	if (consent === 'opted_out') return { reason: 'NO_CONSENT', detail: `contact opted out of ${channel}` };
	if (consent === 'unknown' && (rules?.unknownConsent ?? 'deny') === 'deny') {
		return { reason: 'NO_CONSENT', detail: `${channel} needs explicit opt-in and the contact has not opted in` };
	}
	return undefined;
}
