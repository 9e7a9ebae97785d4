import { z } from 'zod/v4';
import { ChannelSchema } from '../channels';
import { eventNameKey } from '../events/schema';
import { InactivityRulesSchema } from '../events/timers';
import { durationMs } from '../guard/duration';
import { list, MAX_KEYS, MAX_SUPPRESSED, within } from './bounds';
import { isTimeZone, notATimeZone } from './timeZone';
import { ConditionLike, conditionValueIssue } from './conditions';

/**
 * A window or pause shorter than a second counts nothing (a "0s" cap is no cap); one longer than ten years
 * outlives any contact history, and far beyond it the arithmetic leaves the range of a date.
 */
const MIN_DURATION_MS = 1_000;
const MAX_DURATION_MS = 3650 * 86_400_000;

const DURATION = /^\d+(s|m|h|d|w)$/;

/** "30m", "24h", "7d", "2w": a rolling window length, from 1s to 3650d (10 years). */
export const DurationSchema = z
	.string()
	.regex(DURATION, 'must be a number followed by s, m, h, d or w, e.g. "24h" or "7d"')
	// Zod runs this even when the format is wrong: that case has its own message above.
	.refine((d) => !DURATION.test(d) || (durationMs(d) >= MIN_DURATION_MS && durationMs(d) <= MAX_DURATION_MS), {
		message: 'must be from "1s" to "3650d" (10 years)',
	})
	.meta({ description: 'A number followed by s, m, h, d or w, from "1s" to "3650d" (10 years)' });

/** An IANA zone name; a typo would otherwise turn quiet hours and calendar caps off without a word. */
export const TimeZoneSchema = z
	.string()
	.superRefine((name, ctx) => {
		if (!isTimeZone(name)) ctx.addIssue({ code: 'custom', message: notATimeZone(name) });
	})
	.meta({ description: 'An IANA time zone name, e.g. "Europe/Berlin" or "UTC"' });

/** A record whose number of entries is bounded like a list. */
const boundedRecord = <K extends z.core.$ZodRecordKey, V extends z.ZodType>(key: K, value: V) =>
	z
		.record(key, value)
		.refine((r) => Object.keys(r).length <= MAX_KEYS, { message: `must have at most ${MAX_KEYS} entries` })
		.meta({ maxProperties: MAX_KEYS });

/** What a cap counts: one channel, every channel, a message category/tag, or one journey's messages. */
export const CapScopeSchema = z.discriminatedUnion('kind', [
	z.object({ kind: z.literal('channel'), channel: ChannelSchema }).strict(),
	z.object({ kind: z.literal('any') }).strict(),
	z.object({ kind: z.literal('tag'), tag: z.string().min(1) }).strict(),
	z.object({ kind: z.literal('journey'), journey: z.string().min(1) }).strict(),
]);
export type CapScope = z.infer<typeof CapScopeSchema>;

/** A rolling duration ("the last 7 days"), or a calendar period in the contact's own time zone. */
export const CapWindowSchema = z.discriminatedUnion('kind', [
	z.object({ kind: z.literal('rolling'), duration: DurationSchema }).strict(),
	z
		.object({
			kind: z.literal('calendar'),
			unit: z.enum(['day', 'week', 'month']),
			/** First day of a calendar week, 1 = Monday … 7 = Sunday. */
			weekStartsOn: z.int().min(1).max(7).default(1),
		})
		.strict(),
]);
export type CapWindow = z.infer<typeof CapWindowSchema>;

export const ExemptionSchema = z
	.object({
		/** Messages of this category (e.g. "transactional") are not stopped by the rule… */
		category: z.string().min(1),
		/** …and, when true, still count toward it for the messages that follow. */
		countsTowardCap: z.boolean().default(false),
	})
	.strict();

export const CapRuleSchema = z
	.object({
		id: z.string().min(1),
		description: z.string().optional(),
		scope: CapScopeSchema,
		limit: z.int().min(1, 'must be at least 1'),
		window: CapWindowSchema,
		/** Over the cap: drop the message, or delay it to the earliest instant a slot frees (`retryAt`). */
		action: z.enum(['drop', 'delay']).default('drop'),
		exemptions: list(ExemptionSchema).default([]),
	})
	.strict()
	.superRefine((rule, ctx) => {
		// Listed twice (counted in one, not in the other), the log and the count could each take a different one.
		const categories = rule.exemptions.map((e) => e.category);
		const twice = categories.find((c, i) => categories.indexOf(c) !== i);
		if (twice !== undefined) {
			ctx.addIssue({ code: 'custom', path: ['exemptions'], message: `category "${twice}" is listed twice in cap ${rule.id}'s exemptions: keep one, with the countsTowardCap you mean` });
		}
	});
export type CapRule = z.infer<typeof CapRuleSchema>;

/** "HH:mm", 24-hour clock. */
const ClockSchema = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day like "21:00"');

export const QuietHoursSchema = z
	.object({
		id: z.string().min(1),
		/** Channels the quiet hours apply to; all channels when absent. */
		channels: list(ChannelSchema).min(1).optional(),
		/** Local time in the contact's time zone; a window may cross midnight ("21:00" to "08:00"). */
		start: ClockSchema,
		end: ClockSchema,
		/** Inside quiet hours: delay to the window's end, or drop. */
		action: z.enum(['delay', 'drop']).default('delay'),
		/** Categories that may be sent during quiet hours. */
		exemptCategories: list(z.string().min(1)).default(['transactional']),
	})
	.strict()
	.refine((q) => q.start !== q.end, { message: 'start and end must differ', path: ['end'] });
export type QuietHours = z.infer<typeof QuietHoursSchema>;

/** A condition's value that its operator cannot use is refused when the policy loads (conditionValueIssue). */
function valueFitsOperator(c: { op: ConditionLike['op']; value?: unknown }, ctx: z.RefinementCtx): void {
	const issue = conditionValueIssue(c.op, c.value);
	if (issue) ctx.addIssue({ code: 'custom', message: issue, path: ['value'] });
}

const ConditionSchema = z
	.object({
		/** `event.name`, `event.properties.<p>`, `traits.<t>`, `counters.<event>`, `lifecycle`… */
		field: z.string().min(1),
		op: z.enum(['exists', 'eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'contains']),
		value: z.unknown().optional(),
	})
	.strict()
	.superRefine(valueFitsOperator);
export type Condition = z.infer<typeof ConditionSchema>;

/** Pauses that would load and never hold: each is refused, naming the trigger. */
function triggerIssues(t: { id: string; events: string[]; where: Condition[]; clearedBy: string[] }, ctx: z.RefinementCtx): void {
	// A clearing event is looked at first: an event that both starts and clears the pause would never start it.
	const clears = new Set(t.clearedBy.map(eventNameKey));
	const both = t.events.find((e) => clears.has(eventNameKey(e)));
	if (both !== undefined) {
		ctx.addIssue({ code: 'custom', path: ['clearedBy'], message: `trigger ${t.id}: "${both}" is both in events and in clearedBy, so it would never pause; take it out of one of them` });
	}
	// Without `events`, the conditions are checked on the profile at each decision, where there is no event.
	const onEvent = t.events.length ? undefined : t.where.find((c) => c.field === 'event' || c.field.startsWith('event.'));
	if (onEvent) {
		ctx.addIssue({
			code: 'custom',
			path: ['where'],
			message: `trigger ${t.id}: ${onEvent.field} is read only on the event that starts a pause: name that event in \`events\`, or check the profile (traits.*, counters.*) instead`,
		});
	}
}

/**
 * Pauses journeys for a contact: from an event (a support ticket opened, an order placed, a deal in
 * negotiation) until a clearing event or a timeout, or while a profile condition holds (churned).
 */
export const NegativeTriggerSchema = z
	.object({
		id: z.string().min(1),
		description: z.string().optional(),
		/** Event names that start the pause… */
		events: list(z.string().min(1)).default([]),
		/** …when every one of these conditions holds on the event or profile. */
		where: list(ConditionSchema).default([]),
		/** Event names that end the pause. */
		clearedBy: list(z.string().min(1)).default([]),
		/** The pause ends by itself after this long (e.g. "7d" after a purchase). */
		timeout: DurationSchema.optional(),
		/** Pauses only these journeys; all when absent. */
		journeys: list(z.string().min(1)).optional(),
	})
	.strict()
	.refine((t) => t.events.length > 0 || t.where.length > 0, { message: 'give the events that start the pause, or a `where` condition on the profile', path: ['events'] })
	.superRefine(triggerIssues);
export type NegativeTrigger = z.infer<typeof NegativeTriggerSchema>;

/** Sends a decision to a person instead of sending the message, when a condition holds. */
export const ReviewRuleSchema = z
	.object({
		id: z.string().min(1),
		description: z.string().optional(),
		/**
		 * `message.offerValue`, `traits.accountValue`, `score.probability`, … (same operators as scoring);
		 * or `newVariant: true` for the first use of a content variant.
		 */
		when: ConditionSchema.optional(),
		newVariant: z.boolean().optional(),
		journeys: list(z.string().min(1)).optional(),
	})
	.strict()
	.refine((r) => !!r.when !== !!r.newVariant, { message: 'give either `when` or `newVariant: true`', path: ['when'] });
export type ReviewRule = z.infer<typeof ReviewRuleSchema>;

/** A suppression entry, trimmed: pasted with spaces around it, it would match no one. */
const suppressed = (example: string, min = 1) => {
	const entry = z.string().trim().min(1, `is blank: remove it, or give ${example}`);
	return min > 1 ? entry.min(min, `is too short to be ${example}`) : entry;
};

export const SuppressionSchema = z
	.object({
		/** Never message these addresses (case-insensitive). */
		emails: list(suppressed('an email address like "ana@example.com"', 3), MAX_SUPPRESSED).default([]),
		/** Never message addresses at these domains ("competitor.com"). */
		domains: list(suppressed('a domain like "competitor.com"'), MAX_SUPPRESSED).default([]),
		/** Never message these Nudge contact ids or user ids. */
		userIds: list(suppressed('a contact id or user id'), MAX_SUPPRESSED).default([]),
	})
	.strict();

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
	.superRefine(valueFitsOperator);
export type ScoreRule = z.infer<typeof ScoreRuleSchema>;

export const ChannelPolicySchema = z
	.object({
		enabled: z.boolean().default(true),
		/** What consent state "unknown" allows: email may send, SMS needs explicit opt-in. */
		unknownConsent: z.enum(['allow', 'deny']).default('deny'),
	})
	.strict();

/** A rules score (and optionally a trained model) with its tiers: the policy's, or one journey's own. */
export const ScoringSchema = z
	.object({
		base: z.number().default(0),
		rules: list(ScoreRuleSchema).default([]),
		/** A score at or above `hot` is hot, at or above `warm` is warm, else cold (0–100 scale). */
		tiers: z
			.object({ hot: z.number().min(0).max(100), warm: z.number().min(0).max(100) })
			.strict()
			.refine((t) => t.hot > t.warm, { message: 'hot must be above warm', path: ['hot'] })
			.default({ hot: 70, warm: 40 }),
		/**
		 * Name of a trained model (`nudge train --name lead`). Its active version scores when it was
		 * trained on at least `minTrainingRows` rows with `minTrainingPositives` successes; otherwise,
		 * and when no version is active, the rules above score and the score says `fallback: true`.
		 */
		model: z.string().min(1).optional(),
		minTrainingRows: z.int().min(1).default(1000),
		minTrainingPositives: z.int().min(1).default(120),
	})
	.strict();
export type ScoringPolicy = z.infer<typeof ScoringSchema>;

const TierSchema = z.enum(['hot', 'warm', 'cold']);

/** An event recorded as an outcome of the contact's latest decision in the journey. */
const JourneyOutcomeSchema = z
	.object({
		type: z.enum(['open', 'click', 'conversion', 'revenue', 'unsubscribe', 'complaint']),
		/** Event property holding the amount (e.g. "revenue" for Order Completed). */
		value: z.string().min(1).optional(),
	})
	.strict();

/** The best send time is the next start of the contact's best hour: never more than a day away. */
const MAX_BEST_TIME_WAIT_MS = 86_400_000;

/** Whether a journey's messages wait for the contact's best send time, and for how long at most (docs/choosing.md). */
export const SendTimePolicySchema = z
	.object({
		/** A chosen message is delayed (BEST_SEND_TIME) until the contact's best hour; off: it goes at once. */
		waitForBestTime: z.boolean().default(false),
		/** The longest such a wait lasts, counted from the channel choice: the message then goes anyway. */
		maxWait: DurationSchema.refine((d) => !DURATION.test(d) || durationMs(d) <= MAX_BEST_TIME_WAIT_MS, {
			message: 'must be at most "24h" (the best send time is never further away)',
		}).default('24h'),
	})
	.strict();
export type SendTimePolicy = z.infer<typeof SendTimePolicySchema>;
/**
 * Uplift gate of a journey: a contact is messaged only when the active version of an uplift model
 * (`nudge uplift train --name …`) predicts the message raises its chance to convert by at least
 * `minUplift`, or puts it in the `topPercent` of contacts by predicted uplift. Stopped decisions end
 * LOW_UPLIFT with the prediction. A model that does not beat random gives everyone the journey's average
 * effect, and every decision says so. The journey must keep a holdout (see `upliftGateIssues`).
 */
export const UpliftGateSchema = z
	.object({
		model: z.string().min(1),
		/** Predicted uplift (0.01 = +1 percentage point) a contact needs to be messaged… */
		minUplift: z.number().min(-1).max(1).optional(),
		/** …or the share of contacts, highest uplift first, that is messaged (1–100; cut-off from the model's held-out rows). */
		topPercent: z.number().min(1).max(100).optional(),
	})
	.strict()
	.refine((g) => (g.minUplift === undefined) !== (g.topPercent === undefined), { message: 'give either minUplift (e.g. 0.01) or topPercent (e.g. 30), not both', path: ['minUplift'] });
export type UpliftGate = z.infer<typeof UpliftGateSchema>;

/**
 * An uplift gate with no holdout would stop the model learning and lift being measured: each gated
 * journey needs a holdout share above 0 (its own, or the global control group).
 */
export function upliftGateIssues(policy: Pick<Policy, 'journeys' | 'holdout'>): { path: string; message: string }[] {
	return Object.entries(policy.journeys)
		.filter(([id, j]) => j.uplift && !(policy.holdout.journeys[id] > 0) && !(policy.holdout.globalShare > 0))
		.map(([id]) => ({
			path: `journeys.${id}.uplift`,
			message: `an uplift gate needs a holdout to keep learning and to measure lift: set holdout.journeys.${id} (e.g. 0.1) or holdout.globalShare above 0`,
		}));
}

export const JourneyPolicySchema = z
	.object({
		/** Channels this journey may use, in order of preference; defaults to the policy's channelOrder. */
		channels: list(ChannelSchema).min(1).optional(),
		/**
		 * Event names (or `identify`, `page`… for calls without a name) that start a message decision.
		 * Any other event only updates the profile: its decision ends NOT_A_TRIGGER. Every event when absent.
		 */
		triggers: list(z.string().min(1)).min(1).optional(),
		/** Event names recorded as outcomes (open, click, conversion, revenue…) of the journey's latest message. */
		outcomes: boundedRecord(z.string().min(1), JourneyOutcomeSchema).default({}),
		/** What counts as this journey's conversion in lift, the funnel and the console (e.g. revenue for a shop); `conversion` when absent. */
		conversion: z
			.object({ outcomes: list(JourneyOutcomeSchema.shape.type).min(1, 'conversion.outcomes needs at least one outcome type, e.g. ["conversion", "revenue"]') })
			.strict()
			.optional(),
		/** The journey's own score (purchase intent, churn risk…); the policy's `scoring` when absent. */
		scoring: ScoringSchema.optional(),
		/** Score tiers handed to a person (e.g. hot leads → a sales task) instead of a marketing message. */
		escalate: z
			.object({
				tiers: list(TierSchema).min(1),
				channel: ChannelSchema.default('sales_task'),
				/** Category of the escalation (caps and quiet hours can exempt it). */
				category: z.string().min(1).default('sales'),
			})
			.strict()
			.optional(),
		/** Offer depth by score tier (e.g. percent off), put on the decision as `message.offerValue`. */
		offers: z.partialRecord(TierSchema, z.number().min(0)).optional(),
		/** Inactivity timers of this journey (e.g. Checkout Started with no Order Completed in 30 minutes → Cart Abandoned). */
		timers: InactivityRulesSchema.default([]),
		/** Wait for each contact's best send time before the message goes (off when absent: a cart reminder must not wait). */
		sendTime: SendTimePolicySchema.optional(),
		/** The uplift gate (docs/uplift.md): message only contacts the message changes. */
		uplift: UpliftGateSchema.optional(),
	})
	.strict();
export type JourneyPolicy = z.infer<typeof JourneyPolicySchema>;

/** Caps on what one agent may do in a window, whatever the contacts' own caps: a looping agent stops here. */
export const BlastRadiusRuleSchema = z
	.object({
		id: z.string().min(1),
		/** `actions`: allowed actions; `contacts`: distinct contacts acted on. */
		count: z.enum(['actions', 'contacts']),
		limit: z.int().min(1, 'must be at least 1'),
		window: DurationSchema,
		/** Only these agents (each counted on its own); every agent when absent. */
		agents: list(z.string().min(1)).optional(),
	})
	.strict();
export type BlastRadiusRule = z.infer<typeof BlastRadiusRuleSchema>;

/** When an agent's action waits for a person's approval (besides the policy's `review` rules, which apply too). */
export const AgentApprovalRuleSchema = z
	.object({
		id: z.string().min(1),
		description: z.string().optional(),
		/** A condition on `message.*` (offerValue, category, tags…), `channel`, `agentId`, `traits.*`, `consent.*`… */
		when: ConditionSchema.optional(),
		/** Every action on these channels. */
		channels: list(ChannelSchema).min(1).optional(),
		/** Every action of an agent not listed in `agents.known`. */
		unknownAgent: z.literal(true).optional(),
	})
	.strict()
	.refine((r) => [r.when, r.channels, r.unknownAgent].filter((v) => v !== undefined).length === 1, { message: 'give exactly one of `when`, `channels` or `unknownAgent: true`', path: ['when'] });
export type AgentApprovalRule = z.infer<typeof AgentApprovalRuleSchema>;

/** Actions requested by AI agents (engine/agents, DESIGN §12): on by default, with a blast radius. */
export const AgentsPolicySchema = z
	.object({
		enabled: z.boolean().default(true),
		/** Stops every agent action at once (a deny with AGENT_KILL_SWITCH), without touching the journeys. */
		killSwitch: z.boolean().default(false),
		/** Agents whose every action is denied (AGENT_BLOCKED). */
		blocked: list(z.string().min(1)).default([]),
		/** Agents the operator knows; approval rules with `unknownAgent: true` hold the actions of any other. */
		known: list(z.string().min(1)).default([]),
		/** The journey an action belongs to when the request names none (its caps, holdout and review rules apply). */
		journey: z.string().min(1).default('agent'),
		blastRadius: list(BlastRadiusRuleSchema).default([
			{ id: 'agent-actions-per-hour', count: 'actions', limit: 100, window: '1h' },
			{ id: 'agent-contacts-per-day', count: 'contacts', limit: 500, window: '1d' },
		]),
		approval: list(AgentApprovalRuleSchema).default([]),
		/** How long an approval request waits for a person, and how long a granted approval stays usable. */
		approvalTtl: DurationSchema.default('24h'),
	})
	.strict();
export type AgentsPolicy = z.infer<typeof AgentsPolicySchema>;

/** Unit interval share, e.g. 0.05 for 5%. */
const ShareSchema = z.number().min(0).max(1);

/** How Choose Channel learns from outcomes (docs/choosing.md). */
export const LearnerPolicySchema = z
	.object({
		/** `conversion`: Beta posteriors on the chance a message earns a reward outcome; `value`: Normal posteriors on revenue per message. */
		objective: z.enum(['conversion', 'value']).default('conversion'),
		/** Outcome types that count as a success (once per decision) for the `conversion` objective. */
		reward: list(z.enum(['open', 'click', 'conversion', 'revenue'])).min(1).default(['conversion']),
		/** Each unsubscribe or spam complaint counts against its channel as this many failures. */
		negativeWeight: z.number().min(0).default(1),
		exploration: z
			.object({
				/** `thompson` samples each candidate's posterior; `off` always takes the best mean. */
				mode: z.enum(['thompson', 'off']).default('thompson'),
				/** At least this share of decisions try a channel other than the current best. */
				floor: ShareSchema.default(0),
				/** At most this share of decisions may try a channel other than the current best. */
				ceiling: ShareSchema.default(1),
			})
			.strict()
			.refine((e) => e.floor <= e.ceiling, { message: 'floor must not be above ceiling', path: ['floor'] })
			.default({ mode: 'thompson', floor: 0, ceiling: 1 }),
		/** How many decisions' worth of the all-contexts evidence a context starts from (pooling). */
		poolStrength: z.number().min(0).default(20),
		/** Weight of the default-order prior, in decisions. */
		priorStrength: z.number().positive().default(2),
		/** A profile path (e.g. `traits.plan`) whose value splits contexts further. */
		segmentKey: z.string().min(1).optional(),
		/** Lets "no action / wait" compete with the channels. */
		allowWait: z.boolean().default(false),
		/**
		 * Outcomes given by contact (and channel) attach to that contact's latest decision within this window:
		 * from an hour (a click comes later than the send) to a year (no campaign is credited longer).
		 */
		attributionWindowHours: within(z.number(), 1, 8760, 'from 1 to 8760 hours (1 year)').default(168),
		/** A content variant becomes the slot's winner once its probability of being best reaches this… */
		promoteAt: z.number().min(0.5).max(1).default(0.95),
		/** …and it has been sent at least this many times. */
		promoteMinTrials: z.int().min(1).default(100),
	})
	.strict();
export type LearnerPolicy = z.infer<typeof LearnerPolicySchema>;

/** Control groups: a stable share of contacts gets no message, so lift can be measured. */
export const HoldoutPolicySchema = z
	.object({
		/** Changing the salt reshuffles every contact's bucket: keep it fixed for the life of an experiment. */
		salt: z.string().min(1).default('nudge'),
		/** Share of all contacts in the global control group (no journey messages them). */
		globalShare: ShareSchema.default(0),
		/** Per-journey holdout shares, drawn independently of the global group. */
		journeys: boundedRecord(z.string(), ShareSchema).default({}),
	})
	.strict();
export type HoldoutPolicy = z.infer<typeof HoldoutPolicySchema>;

/** A duration from `min` to `max`, saying the range (`from "30d" to "3650d" (10 years)`) when it is outside. */
const durationWithin = (min: string, max: string, range: string) =>
	z
		.string()
		.regex(DURATION, 'must be a number followed by s, m, h, d or w, e.g. "400d"')
		.refine((d) => !DURATION.test(d) || (durationMs(d) >= durationMs(min) && durationMs(d) <= durationMs(max)), { message: `must be ${range}` })
		.meta({ description: `A number followed by s, m, h, d or w, ${range}` });
const RETAIN = durationWithin('30d', '3650d', 'from "30d" to "3650d" (10 years)');

/**
 * How long personal data is kept (docs/privacy.md). The defaults: 13 months of decisions covers a
 * year-over-year comparison of lift with a month to spare (the span European regulators accept for audience
 * measurement); a profile silent for 3 years is erased (the span after which they expect a prospect's data to
 * go). The retention job runs from the trigger nodes every `every`, or from `nudge retention`.
 */
export const RetentionPolicySchema = z
	.object({
		/** Decisions (with their outcomes) older than this are deleted: at least 30 days, and no shorter than the learner's attribution window. */
		decisions: RETAIN.default('400d'),
		/** A contact not seen for this long is erased as `nudge erase` would (its remaining decisions pseudonymised). */
		inactiveProfiles: RETAIN.default('1095d'),
		/** Whether the trigger nodes run the retention job on their own (off: run `nudge retention` from a scheduler instead). */
		auto: z.boolean().default(true),
		/** How often the trigger nodes run it, per store (one worker runs it; the others skip). */
		every: durationWithin('1h', '7d', 'from "1h" to "7d"').default('1d'),
	})
	.strict();
export type RetentionPolicy = z.infer<typeof RetentionPolicySchema>;

export const PolicySchema = z
	.object({
		name: z.string().min(1).default('default'),
		/** Used when a contact's own time zone is unknown or not a time zone. */
		timezone: TimeZoneSchema.default('UTC'),
		channels: z.partialRecord(ChannelSchema, ChannelPolicySchema).default({}),
		channelOrder: list(ChannelSchema).min(1, 'must list at least one channel'),
		journeys: boundedRecord(z.string(), JourneyPolicySchema).default({}),
		caps: list(CapRuleSchema).default([]),
		quietHours: list(QuietHoursSchema).default([]),
		suppression: SuppressionSchema.default({ emails: [], domains: [], userIds: [] }),
		negativeTriggers: list(NegativeTriggerSchema).default([]),
		review: list(ReviewRuleSchema).default([]),
		/** Message categories Send may deliver without a Frequency Cap reservation (e.g. "transactional"). */
		sendWithoutCapCheck: list(z.string().min(1)).default([]),
		scoring: ScoringSchema.default(ScoringSchema.parse({})),
		learner: LearnerPolicySchema.default(LearnerPolicySchema.parse({})),
		holdout: HoldoutPolicySchema.default({ salt: 'nudge', globalShare: 0, journeys: {} }),
		agents: AgentsPolicySchema.default(AgentsPolicySchema.parse({})),
		/**
		 * How long a cap reservation holds a slot when neither a send nor a failure settles it: at most a day,
		 * as a send not settled by then has failed, and a longer hold would stop a daily cap for nothing.
		 */
		reservationTimeoutSeconds: within(z.int(), 1, 86_400, 'from 1 to 86400 seconds (1 day)').default(300),
		/**
		 * How long a processed event id is remembered to drop retried deliveries: at least an hour (vendors
		 * retry for hours), at most a year (every id is kept that long).
		 */
		dedupWindowHours: within(z.number(), 1, 8760, 'from 1 to 8760 hours (1 year)').default(72),
		/** How long decisions and inactive profiles are kept; the cap ledger and event claims follow the caps and dedupWindowHours. */
		retention: RetentionPolicySchema.default({ decisions: '400d', inactiveProfiles: '1095d', auto: true, every: '1d' }),
	})
	.strict();

export type Policy = z.infer<typeof PolicySchema>;
export type PolicyInput = z.input<typeof PolicySchema>;
