import type { Channel } from '../channels';

/**
 * The sentences that say why a channel is not used for a contact: a candidate's `detail` in the decision log, a
 * consent check's detail, an error a marketer reads. Written here only, so the store can leave them out of a stored
 * decision and write them back when it reads it (engine/store/decisionCodec.ts): change a sentence and old decisions
 * read with the new wording.
 */

/** What the contact lacks to be reached on a channel (channels not listed need nothing of the contact). */
export const MISSING_CONTACT_POINT: Partial<Record<Channel, string>> = {
	email: 'contact has no email address',
	sms: 'contact has no phone number',
	push: 'contact has no push token',
	in_app: 'contact has no app user id',
};

export const switchedOff = (channel: string) => `channel ${channel} is switched off in the policy`;
export const unreachable = (channel: string) => `${MISSING_CONTACT_POINT[channel as Channel]}; channel ${channel} is not reachable`;
export const optedOut = (channel: string) => `contact opted out of ${channel}`;
export const needsOptIn = (channel: string) => `${channel} needs explicit opt-in and the contact has not opted in`;
export const notInJourney = (channel: string, journey: string) => `channel ${channel} is not allowed in journey ${journey} by the policy`;
export const waitDisabled = () => 'waiting is not enabled (policy learner.allowWait)';

/** A cap rule's count in its window: "3 of 3 in the last 7d", "1 of 1 in the current calendar day". */
export const capCount = (count: number | undefined, limit: number | undefined, window: string | undefined) =>
	`${count} of ${limit} in the ${window?.startsWith('calendar') ? 'current ' : 'last '}${window}`;

/** A channel at one of its caps: "capped: weekly-email (3 of 3 in the last 7d); a slot frees at …". */
export function atCap(ruleId: string, count: number, limit: number, window: string, freesAt: string | undefined): string {
	const frees = freesAt !== undefined ? `; a slot frees at ${freesAt}` : '';
	return `capped: ${ruleId} (${capCount(count, limit, window)})${frees}`;
}

/** A capped channel kept eligible because every open channel is capped. */
export const keptCapped = (cappedDetail: string) => `${cappedDetail}; kept because every open channel is capped (the guardrails stage decides)`;
