import { z } from 'zod/v4';
import { ChannelSchema } from '../channels';

/** The closed list of reasons a message was not sent. Every suppression carries one. */
export const REASON_CODES = [
	'FREQUENCY_CAP',
	'QUIET_HOURS',
	'NO_CONSENT',
	'UNREACHABLE',
	'NEGATIVE_TRIGGER',
	'HOLDOUT',
	'REVIEW_REQUIRED',
	'DUPLICATE_EVENT',
	'POLICY_BLOCKED',
	'NO_ELIGIBLE_CHANNEL',
	'SEND_FAILED',
	'SUPPRESSION_LIST',
	'REVIEW_REJECTED',
	/** The learner judged "no action / wait" the best move for now. */
	'WAIT_CHOSEN',
	/** Waiting for the contact's best send time (policy `journeys.<id>.sendTime`): delayed, then checked again. */
	'BEST_SEND_TIME',
	/** The journey sends nothing for this event (policy `journeys.<id>.triggers`): it only updated the profile or recorded an outcome. */
	'NOT_A_TRIGGER',
	/** Agent actions (engine/agents): the policy's `agents.enabled` is false. */
	'AGENTS_DISABLED',
	/** The policy's `agents.killSwitch` stops every agent action. */
	'AGENT_KILL_SWITCH',
	/** The agent is in the policy's `agents.blocked`. */
	'AGENT_BLOCKED',
	/** The agent reached a blast radius rule (`agents.blastRadius`): too many actions or contacts in the window. */
	'BLAST_RADIUS',
	/** The approval id presented is not one this engine issued to this agent (or it was never approved). */
	'APPROVAL_INVALID',
	/** The approval (or the request for it) is past its expiry (`agents.approvalTtl`). */
	'APPROVAL_EXPIRED',
	/** The approval was granted for other content: another contact, channel or message. */
	'APPROVAL_MISMATCH',
	/** The journey's uplift gate (policy `journeys.<id>.uplift`): the message is not predicted to change this contact enough. */
	'LOW_UPLIFT',
	/**
	 * The decision stopped on an error before it ended: the one-call journey's store that failed, or a take-in refused
	 * as its lease or locks ran out (either path). No delivery is recorded, and the explanation names the error. Left
	 * pending, it would never end.
	 */
	'STOPPED_BY_ERROR',
	/** The contact was erased (a data request, or retention of an inactive contact) while the decision was open: nothing is sent. */
	'CONTACT_ERASED',
	/**
	 * The event that would start the message happened longer ago than the policy's dedupWindowHours: a repeat of it
	 * could no longer be told from a first delivery, so it updated the contact and started nothing.
	 */
	'EVENT_TOO_OLD',
] as const;
export const ReasonCodeSchema = z.enum(REASON_CODES);
export type ReasonCode = z.infer<typeof ReasonCodeSchema>;

/**
 * pending: still moving through the flow; delayed: held until `guard.retryAt` (quiet hours, a full cap
 * with action delay, the contact's best send time); review: waiting for a person; then sent, suppressed (with a reason) or failed.
 */
export const DECISION_STATUSES = ['pending', 'delayed', 'review', 'sent', 'suppressed', 'failed'] as const;
export type DecisionStatus = (typeof DECISION_STATUSES)[number];

export const FactorSchema = z.object({ label: z.string(), contribution: z.number() });

export const ScoreSchema = z.object({
	/** 0–100. */
	value: z.number(),
	probability: z.number(),
	tier: z.enum(['hot', 'warm', 'cold']),
	model: z.string(),
	/** Rules model used because no trained model is active. */
	fallback: z.boolean(),
	factors: z.array(FactorSchema),
	/** Why the rules scored although the policy names a model (none active, or too little training data). */
	note: z.string().optional(),
});
export type Score = z.infer<typeof ScoreSchema>;

/** "No action / wait" competes with the channels when the policy allows it. */
export const WAIT = 'wait' as const;
export const CandidateSchema = z.object({
	channel: z.union([ChannelSchema, z.literal(WAIT)]),
	rank: z.number(),
	eligible: z.boolean(),
	reason: ReasonCodeSchema.optional(),
	detail: z.string().optional(),
	/** The learner's posterior mean expected value (conversion chance, or revenue per message). */
	mean: z.number().optional(),
	/** The value drawn from the posterior for this decision (Thompson sampling). */
	sampled: z.number().optional(),
	/** The cap rule that made the channel ineligible (reason FREQUENCY_CAP), and when it has room again. */
	ruleId: z.string().optional(),
	freesAt: z.string().optional(),
});
export type Candidate = z.infer<typeof CandidateSchema>;

export const GUARD_CHECK_KINDS = ['suppression', 'consent', 'negative_trigger', 'review', 'send_time', 'quiet_hours', 'frequency_cap'] as const;

/** One guardrail evaluated for a decision: which rule, whether it passed, and the facts behind it. */
export const GuardCheckSchema = z.object({
	kind: z.enum(GUARD_CHECK_KINDS),
	ruleId: z.string(),
	passed: z.boolean(),
	/** The message is exempt from this rule (e.g. transactional). */
	exempt: z.boolean().optional(),
	count: z.number().optional(),
	limit: z.number().optional(),
	window: z.string().optional(),
	detail: z.string().optional(),
	/** When the rule would let the message through (a slot frees, quiet hours end). */
	retryAt: z.string().optional(),
});
export type GuardCheck = z.infer<typeof GuardCheckSchema>;

export const DeliverySchema = z.object({
	provider: z.string(),
	status: z.enum(['sent', 'failed']),
	idempotencyKey: z.string(),
	attempts: z.number(),
	httpStatus: z.number().optional(),
	providerMessageId: z.string().optional(),
	error: z.string().optional(),
	at: z.string(),
});
export type Delivery = z.infer<typeof DeliverySchema>;

export const OutcomeSchema = z.object({
	outcomeId: z.string(),
	type: z.enum(['open', 'click', 'conversion', 'unsubscribe', 'complaint', 'revenue']),
	channel: ChannelSchema.optional(),
	value: z.number().optional(),
	at: z.string(),
});
export type Outcome = z.infer<typeof OutcomeSchema>;

/** An unsubscribe or a complaint: about a message sent, it opts the contact out of its channel. */
export const optsOut = (type: Outcome['type'] | undefined): boolean => type === 'unsubscribe' || type === 'complaint';

export const DecisionSchema = z.object({
	decisionId: z.string(),
	createdAt: z.string(),
	updatedAt: z.string(),
	policyVersion: z.string(),
	journey: z.string(),
	contactId: z.string(),
	status: z.enum(DECISION_STATUSES),
	reason: ReasonCodeSchema.optional(),
	ruleId: z.string().optional(),
	/** One sentence on why, for the audit trail. */
	explanation: z.string().optional(),
	event: z.object({
		eventId: z.string(),
		source: z.string(),
		type: z.string(),
		name: z.string().optional(),
		occurredAt: z.string(),
	}),
	score: ScoreSchema.optional(),
	channel: ChannelSchema.optional(),
	candidates: z.array(CandidateSchema).optional(),
	/** How the channel was chosen: the learner's context, method, and any holdout group. */
	choice: z
		.object({
			context: z.string(),
			/**
			 * default_order: no data yet; thompson: posterior sample; greedy: best mean; explore: exploration floor; holdout;
			 * escalated: the score's tier hands the contact to a person (policy journeys.<id>.escalate); requested: the
			 * caller named the channel (an agent's action, engine/agents); uplift_gate: the journey's uplift gate stopped it (LOW_UPLIFT).
			 */
			method: z.enum(['default_order', 'thompson', 'greedy', 'explore', 'holdout', 'none_eligible', 'escalated', 'requested', 'uplift_gate']),
			arm: z.union([ChannelSchema, z.literal(WAIT)]).optional(),
			holdout: z.object({ group: z.enum(['global', 'journey']), bucket: z.number() }).optional(),
			/** Set once the learner counted this decision as a trial of `arm` (on send, or on choosing wait). */
			trialCounted: z.boolean().optional(),
		})
		.optional(),
	/** The best time to send: the contact's best local hour (shrunk toward the population's), outside quiet hours. */
	sendTime: z
		.object({ hour: z.number(), sendAt: z.string(), basis: z.enum(['contact', 'population']), contactEngagements: z.number() })
		.optional(),
	/** The content variant the learner chose for a slot (a subject line, an offer), and how. */
	variantChoice: z
		.object({
			slot: z.string(),
			variant: z.string(),
			context: z.string(),
			/** As `choice.method`, or `promoted`: the slot has a winner, which every decision now gets. */
			method: z.enum(['default_order', 'thompson', 'greedy', 'explore', 'promoted']),
			estimates: z.array(z.object({ variant: z.string(), mean: z.number(), sampled: z.number() })),
			trialCounted: z.boolean().optional(),
		})
		.optional(),
	/**
	 * The uplift gate's view of this contact (policy `journeys.<id>.uplift`), on treated and holdout decisions
	 * alike: predicted uplift, whether it is the model's or the journey's average effect (`fallback`, when the
	 * model does not beat random), the bar it had to clear, and whether it did.
	 */
	uplift: z
		.object({
			model: z.string(),
			predicted: z.number(),
			fallback: z.boolean(),
			threshold: z.number(),
			admitted: z.boolean(),
			factors: z.array(FactorSchema),
			note: z.string().optional(),
		})
		.optional(),
	/** What is being sent: its category (e.g. transactional), tags, offer value and content variant. */
	message: z
		.object({ category: z.string().optional(), tags: z.array(z.string()).optional(), offerValue: z.number().optional(), variant: z.string().optional() })
		.optional(),
	guard: z
		.object({
			outcome: z.enum(['allowed', 'delayed', 'blocked', 'review']),
			allowed: z.boolean(),
			reservationId: z.string().optional(),
			retryAt: z.string().optional(),
			/** The rule that decided a delay, block or review. */
			bindingRuleId: z.string().optional(),
			checks: z.array(GuardCheckSchema),
		})
		.optional(),
	review: z
		.object({
			rules: z.array(z.string()),
			requestedAt: z.string(),
			verdict: z.enum(['approved', 'rejected']).optional(),
			reviewer: z.string().optional(),
			note: z.string().optional(),
			decidedAt: z.string().optional(),
		})
		.optional(),
	delivery: DeliverySchema.optional(),
	/** An action an AI agent requested (engine/agents): who asked, under which key, for what, and the verdict it got. */
	agent: z
		.object({
			agentId: z.string(),
			idempotencyKey: z.string(),
			/** Hash of (contact, journey, requested channel, message): an approval is bound to it. */
			requestHash: z.string(),
			/** A channel id, or `choose` (the engine chose). */
			requestedChannel: z.string(),
			/** The message's text and subject as the agent proposed them (what an approver reads). */
			content: z.object({ text: z.string().optional(), subject: z.string().optional() }).optional(),
			verdict: z.enum(['allow', 'defer', 'needs_approval', 'deny']),
			reasons: z.array(ReasonCodeSchema),
			approval: z
				.object({
					approvalId: z.string(),
					rules: z.array(z.string()),
					/** Until when a person may decide; once approved, until when the agent may use it. */
					expiresAt: z.string(),
				})
				.optional(),
		})
		.optional(),
	/** An escalation's brief for the person who takes over (policy `journeys.<id>.escalate`): sent with the task. */
	handoff: z
		.object({ summary: z.string(), interests: z.array(z.object({ event: z.string(), count: z.number() })), topFactors: z.array(z.string()) })
		.optional(),
	/** This event is an outcome (policy `journeys.<id>.outcomes`) of an earlier decision: Record Outcome records it there. */
	outcomeFor: z
		.object({ decisionId: z.string(), type: OutcomeSchema.shape.type, value: z.number().optional(), outcomeId: z.string() })
		.optional(),
	outcomes: z.array(OutcomeSchema),
	/**
	 * The outcome types that count as this decision's conversion, from its journey's policy when it was made
	 * (`journeys.<id>.conversion`); absent means `conversion` alone. Lift, the funnel and the console read it.
	 */
	conversion: z.array(OutcomeSchema.shape.type).min(1).optional(),
	/** Each stage the decision passed, in order. */
	trail: z.array(z.object({ stage: z.string(), at: z.string(), status: z.string() })),
	annotations: z.record(z.string(), z.unknown()),
	loggedAt: z.string().optional(),
});
export type Decision = z.infer<typeof DecisionSchema>;

/** Outcome types that count as a conversion when neither the journey nor the reader says otherwise. */
export const DEFAULT_CONVERSION: readonly Outcome['type'][] = ['conversion'];

/** Did the decision convert: has it an outcome of a type its journey counts (or `types`, a reader's override)? */
export function converted(d: Pick<Decision, 'outcomes' | 'conversion'>, types: readonly Outcome['type'][] = d.conversion ?? DEFAULT_CONVERSION): boolean {
	return d.outcomes.some((o) => types.includes(o.type));
}

/** The log's order: by creation time, then by id (decisions created in the same millisecond). */
export function byCreated(a: Pick<Decision, 'createdAt' | 'decisionId'>, b: Pick<Decision, 'createdAt' | 'decisionId'>): number {
	if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
	return a.decisionId < b.decisionId ? -1 : a.decisionId > b.decisionId ? 1 : 0;
}

export interface DecisionQuery {
	contactId?: string;
	/** Any of these contacts (a contact's own id and those merged into it): one read instead of one a contact. */
	contactIds?: string[];
	journey?: string;
	reason?: ReasonCode;
	status?: DecisionStatus;
	/** ISO date-times, inclusive `from`, exclusive `to`, on createdAt. */
	from?: string;
	to?: string;
	limit?: number;
	/** Newest first (by createdAt, then decisionId); oldest first when absent. */
	newestFirst?: boolean;
	/** Keyset pagination: the decisions that come after this one (createdAt, decisionId) in the query's order. */
	after?: { createdAt: string; decisionId: string };
}
