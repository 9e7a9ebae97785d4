import { z } from 'zod/v4';
import { ChannelSchema } from '../channels';

/** "30m", "24h", "7d", "2w": a rolling window length. */
export const DurationSchema = z
	.string()
	.regex(/^\d+(s|m|h|d|w)$/, 'must be a number followed by s, m, h, d or w, e.g. "24h" or "7d"');

export const CapScopeSchema = z.discriminatedUnion('kind', [
	z.object({ kind: z.literal('channel'), channel: ChannelSchema }).strict(),
	z.object({ kind: z.literal('any') }).strict(),
]);

export const CapRuleSchema = z
	.object({
		id: z.string().min(1),
		description: z.string().optional(),
		scope: CapScopeSchema,
		limit: z.int().min(1, 'must be at least 1'),
		window: z.object({ kind: z.literal('rolling'), duration: DurationSchema }).strict(),
		action: z.literal('drop').default('drop'),
	})
	.strict();
export type CapRule = z.infer<typeof CapRuleSchema>;

export const ScoreRuleSchema = z
	.object({
		id: z.string().min(1),
		/** Plain words shown as the factor, e.g. "Requested a demo". */
		label: z.string().min(1),
		/** Path into the profile: `traits.jobTitle`, `counters.Email Clicked`, `consent.email`… */
		field: z.string().min(1),
		op: z.enum(['exists', 'eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'contains']),
		value: z.unknown().optional(),
		points: z.number(),
	})
	.strict()
	.refine((r) => r.op === 'exists' || r.value !== undefined, {
		message: 'needs a value for this operator',
		path: ['value'],
	});
export type ScoreRule = z.infer<typeof ScoreRuleSchema>;

export const ChannelPolicySchema = z
	.object({
		enabled: z.boolean().default(true),
		/** What consent state "unknown" allows: email may send, SMS needs explicit opt-in. */
		unknownConsent: z.enum(['allow', 'deny']).default('deny'),
	})
	.strict();

export const JourneyPolicySchema = z
	.object({
		/** Channels this journey may use, in order of preference; defaults to the policy's channelOrder. */
		channels: z.array(ChannelSchema).min(1).optional(),
	})
	.strict();

export const PolicySchema = z
	.object({
		name: z.string().min(1).default('default'),
		/** Used when a contact's own time zone is unknown. */
		timezone: z.string().min(1).default('UTC'),
		channels: z.partialRecord(ChannelSchema, ChannelPolicySchema).default({}),
		channelOrder: z.array(ChannelSchema).min(1, 'must list at least one channel'),
		journeys: z.record(z.string(), JourneyPolicySchema).default({}),
		caps: z.array(CapRuleSchema).default([]),
		scoring: z
			.object({
				base: z.number().default(0),
				rules: z.array(ScoreRuleSchema).default([]),
				/** A score at or above `hot` is hot, at or above `warm` is warm, else cold (0–100 scale). */
				tiers: z
					.object({ hot: z.number().min(0).max(100), warm: z.number().min(0).max(100) })
					.strict()
					.refine((t) => t.hot > t.warm, { message: 'hot must be above warm', path: ['hot'] })
					.default({ hot: 70, warm: 40 }),
			})
			.strict()
			.default({ base: 0, rules: [], tiers: { hot: 70, warm: 40 } }),
		/** How long a cap reservation holds a slot when neither a send nor a failure settles it. */
		reservationTimeoutSeconds: z.int().min(1).default(300),
		/** How long a processed event id is remembered to drop retried deliveries. */
		dedupWindowHours: z.number().positive().default(72),
	})
	.strict();

export type Policy = z.infer<typeof PolicySchema>;
export type PolicyInput = z.input<typeof PolicySchema>;
