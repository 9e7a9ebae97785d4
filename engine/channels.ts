import { z } from 'zod/v4';
import type { ReasonCode } from './audit/schema';
import type { Policy } from './policy/schema';
import type { Profile } from './profiles/schema';

/** Every channel a decision can choose. `sales_task` hands the contact to a person. */
export const CHANNELS = ['email', 'sms', 'push', 'in_app', 'paid_audience', 'sales_task'] as const;
export const ChannelSchema = z.enum(CHANNELS);
export type Channel = z.infer<typeof ChannelSchema>;

export function isChannel(value: unknown): value is Channel {
	return typeof value === 'string' && (CHANNELS as readonly string[]).includes(value);
}

export const CONSENT_STATES = ['opted_in', 'opted_out', 'unknown'] as const;
export const ConsentStateSchema = z.enum(CONSENT_STATES);
export type ConsentState = z.infer<typeof ConsentStateSchema>;

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
