import { z } from 'zod/v4';

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
