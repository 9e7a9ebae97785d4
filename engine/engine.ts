import { approvalDecisionId, approvalState, newApprovalId } from './agents/approvals';
import { reserveBlastRadius } from './agents/blastRadius';
import { agentGate } from './agents/gate';
import { actionDecisionId, sameAction, withActionLease } from './agents/idempotency';
import { ActionRequest, parseActionRequest, requestHash, resolveActionContact } from './agents/request';
import { ActionVerdict, verdictKind, verdictOf } from './agents/verdict';
import type { Decision, DecisionQuery, Outcome, ReasonCode, Score } from './audit/schema';
import { OutcomeSchema } from './audit/schema';
import { exportJsonl, iterateDecisions } from './audit/export';
import { CHANNELS, Channel } from './channels';
import { channelEligibility, chooseChannel, openChannels } from './decide/chooseChannel';
import { holdoutKey, holdoutOf } from './decide/holdout';
import { lowUpliftExplanation, upliftView } from './decide/upliftGate';
import { bestSendTime, ENGAGEMENT, engagementDeltas } from './decide/sendTime';
import { zoneFor } from './guard/windows';
import { LiftOptions, LiftRow, LiftTally } from './decide/lift';
import { armDeltas, chooseArm, contextOf, outcomeDelta, probabilityBest, variantScopes, WAIT } from './decide/learner';
import { Random } from './decide/sampling';
import { deliver, RetryPolicy, Sender, SendResult } from './deliver/provider';
import { checkWebhookUrl, postWebhook, WebhookTarget } from './deliver/webhook';
import { FieldIssue, NudgeError, describeIssues, issuesFromZod } from './errors';
import { claimEvent, commitEvent, releaseEvent } from './events/eventClaim';
import type { CustomerEvent } from './events/schema';
import { checkBatchSize } from './events/limits';
import { normalizeEvent } from './events/normalize';
import { cappedChannels } from './guard/frequencyCap';
import { evaluateGuards, suppressionHit } from './guard/guard';
import { applyNegativeTriggers } from './guard/negativeTriggers';
import { markVariantApproved } from './guard/review';
import { durationMs } from './guard/duration';
import { waitTimer } from './guard/waits';
import { newId } from './ids';
import { eraseContact, EraseOptions, ErasureReceipt } from './privacy/erase';
import { ContactRecord, contactRecord } from './privacy/record';
import { formatRetention, RetentionReport, rewardClaimKey, runRetention, runRetentionIfDue } from './privacy/retention';
import { LoadedPolicy, loadPolicy } from './policy/load';
import type { Policy } from './policy/schema';
import { eventIdentityKeys, ingestIntoProfile } from './profiles/profiles';
import { decisionIdOf, type DecisionRef } from './items/decisionRef';
import { DEFAULT_JOURNEY } from './items/open';
import { conversionOf, escalationFor, eventKey, handoffFor, offerFor, outcomeOfEvent, scoringFor, startsMessage } from './journeys/journey';
import type { Profile } from './profiles/schema';
import { scoreWithRules } from './scoring/rulesModel';
import { activeModel, coldStartReason, modelScore } from './scoring/registry';
import type { Store } from './store/types';
import { Serial } from './util/serial';

export interface EngineOptions {
	store: Store;
	/** False when the store is shared (the registry closes it when its last engine goes). */
	ownsStore?: boolean;
	policy?: LoadedPolicy;
	/**
	 * `wall` (default) decides at the current time. `event` decides at each event's own time, so a
	 * replay of history sees caps and windows as they were.
	 */
	clock?: 'wall' | 'event';
	/** Overrides the wall clock (tests). */
	now?: () => Date;
	/** The learner's uniform random source (seed it in tests and benchmarks); Math.random by default. */
	random?: Random;
}

export interface IngestResult {
	event: CustomerEvent;
	decision: Decision;
	duplicate: boolean;
	profile?: Profile;
}

/** A webhook, a dry run, or any provider's sender (engine/deliver: Segment, HubSpot…). */
export type SendTarget = WebhookTarget | { dryRun: true } | { sender: Sender; retry?: Partial<RetryPolicy> };

/**
 * An outcome names its decision one way: its decision id, the provider's message id, or the contact
 * (and optionally the channel): then the contact's latest decision within the policy's attribution window.
 */
export interface OutcomeInput {
	decisionId?: string;
	messageId?: string;
	contactId?: string;
	channel?: Channel;
	type: Outcome['type'];
	outcomeId?: string;
	value?: number;
	at?: string;
}

/** What the Frequency Cap step may be told about the message (and a channel other than the chosen one). */
export interface GuardOptions {
	channel?: Channel;
	category?: string;
	tags?: string[];
	offerValue?: number;
	variant?: string;
}

/** Profile read-modify-write must not interleave: one lock per store, shared by every engine on it. */
const profileLocks = new WeakMap<Store, Serial>();
function profileLockFor(store: Store): Serial {
	let lock = profileLocks.get(store);
	if (!lock) profileLocks.set(store, (lock = new Serial()));
	return lock;
}

/**
 * The decision engine. Each step loads the decision from the store (the store is the authority, not the
 * item a flow passes along), does one thing, records it in the decision log, and returns the decision.
 * A step given a decision that is already settled (sent, suppressed, failed) returns it unchanged.
 */
/** How often one process asks its store whether the retention job is due. */
const RETENTION_CHECK_MS = 10 * 60_000;

export class Engine {
	readonly store: Store;
	private loaded: LoadedPolicy;
	private readonly clock: 'wall' | 'event';
	private readonly wallNow: () => Date;
	private readonly profileLock: Serial;
	private readonly ownsStore: boolean;
	private readonly random: Random;

	constructor(options: EngineOptions) {
		this.store = options.store;
		this.ownsStore = options.ownsStore ?? true;
		this.profileLock = profileLockFor(options.store);
		this.loaded = options.policy ?? loadPolicy();
		this.clock = options.clock ?? 'wall';
		this.wallNow = options.now ?? (() => new Date());
		this.random = options.random ?? Math.random;
	}

	get policy(): Policy {
		return this.loaded.policy;
	}

	get policyVersion(): string {
		return this.loaded.version;
	}

	/** Swaps the policy; an invalid one throws and the old one stays in force. */
	setPolicy(input: unknown): void {
		this.loaded = loadPolicy(input);
	}

	/** On the event clock, a decision's time is its event's, or later once it waited (its trail's last step). */
	private nowFor(decision?: Decision): Date {
		if (this.clock !== 'event' || !decision) return this.wallNow();
		const last = decision.trail.at(-1)?.at;
		return new Date(Math.max(Date.parse(decision.event.occurredAt), last ? Date.parse(last) : 0));
	}

	/**
	 * Records a step in the decision's trail and stores it. A settled decision (sent, suppressed, failed)
	 * and a logged one are durable before this returns; pending progress is committed with the store's
	 * next batch. `persist: false` only adds to the trail: the one-call journey stores at its milestones.
	 */
	private async save(decision: Decision, stage: string, now: Date, options: { durable?: boolean; persist?: boolean } = {}): Promise<Decision> {
		decision.updatedAt = now.toISOString();
		decision.trail.push({ stage, at: decision.updatedAt, status: decision.status });
		if (options.persist === false) return decision;
		await this.store.putDecision(decision);
		if (options.durable ?? decision.status !== 'pending') await this.store.sync();
		return decision;
	}

	private suppress(decision: Decision, reason: ReasonCode, explanation: string, ruleId?: string): void {
		decision.status = 'suppressed';
		decision.reason = reason;
		decision.explanation = explanation;
		if (ruleId) decision.ruleId = ruleId;
	}

	/**
	 * Takes in an event (Nudge or Segment format): validates it, drops a retried delivery, updates the
	 * contact's profile and opens a decision for the journey. A malformed event throws and stores nothing.
	 */
	async ingest(raw: unknown, options: { journey?: string; source?: CustomerEvent['source'] } = {}): Promise<IngestResult> {
		return this.accept(normalizeEvent(raw, { source: options.source, now: this.wallNow() }), options.journey);
	}

	/**
	 * Takes in a batch whole or not at all: every event is validated before any is stored. An invalid
	 * event fails the batch with its position and field errors.
	 */
	async ingestBatch(
		raws: unknown[],
		options: { journey?: string; source?: CustomerEvent['source']; batch?: boolean } = {},
	): Promise<IngestResult[]> {
		if (!raws.length) throw new NudgeError('INVALID_EVENT', 'The batch is empty: send one event, or a JSON array of events');
		checkBatchSize(raws.length);
		const now = this.wallNow();
		const events: CustomerEvent[] = [];
		const invalid: { index: number; error: string; issues: FieldIssue[] }[] = [];
		raws.forEach((raw, index) => {
			try {
				if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
					throw new NudgeError('INVALID_EVENT', `Event must be a JSON object, not ${Array.isArray(raw) ? 'an array' : typeof raw}`);
				}
				events.push(normalizeEvent(raw, { source: options.source, now }));
			} catch (error) {
				const e = error as NudgeError;
				invalid.push({ index, error: e.issues?.length ? describeIssues(e.issues) : e.message, issues: e.issues ?? [] });
			}
		});
		if (invalid.length) {
			const first = invalid[0];
			const where = options.batch || raws.length > 1 ? `Event ${first.index} of the batch (counting from 0)` : 'The event';
			const more = invalid.length > 1 ? ` (${invalid.length} of ${raws.length} events are invalid)` : '';
			throw new NudgeError(
				'INVALID_EVENT',
				`${where} is not valid, so nothing was stored${more}: ${first.error}`,
				first.issues,
				400,
				{ index: first.index, invalid },
			);
		}
		const results: IngestResult[] = [];
		for (const event of events) results.push(await this.accept(event, options.journey));
		return results;
	}

	private async accept(event: CustomerEvent, journey = DEFAULT_JOURNEY): Promise<IngestResult> {
		const at = this.clock === 'event' ? new Date(event.occurredAt) : this.wallNow();
		const decision: Decision = {
			decisionId: newId('d'),
			createdAt: at.toISOString(),
			updatedAt: at.toISOString(),
			policyVersion: this.policyVersion,
			journey,
			contactId: event.identities.contactId ?? '',
			status: 'pending',
			event: { eventId: event.eventId, source: event.source, type: event.type, name: event.name, occurredAt: event.occurredAt },
			outcomes: [],
			...conversionOf(this.policy, journey),
			trail: [],
			annotations: {},
		};
		const fresh = await claimEvent(this.store, event.eventId, at.getTime());
		if (!fresh) {
			const known = await this.store.resolveIdentities(eventIdentityKeys(event));
			decision.contactId ||= [...known.values()][0] ?? 'unknown';
			this.suppress(decision, 'DUPLICATE_EVENT', `event ${event.eventId} was already processed`);
			// No flow sees a duplicate, so it is finalised here.
			decision.loggedAt = at.toISOString();
			return { event, decision: await this.save(decision, 'ingest', at), duplicate: true };
		}
		try {
			const profile = await this.profileLock.run(() => ingestIntoProfile(this.store, event, (p, e) => applyNegativeTriggers(p, e, this.policy)));
			decision.contactId = profile.contactId;
			await this.routeEvent(decision, event, at);
			// Durable before the caller acknowledges the event: an accepted event always has its decision row.
			const saved = await this.save(decision, 'ingest', at, { durable: true });
			await commitEvent(this.store, event.eventId, at.getTime(), this.policy.dedupWindowHours * 3_600_000);
			return { event, profile, decision: saved, duplicate: false };
		} catch (error) {
			// Not processed: let a retried delivery through again.
			await releaseEvent(this.store, event.eventId);
			throw error;
		}
	}

	/**
	 * The journey's branches at ingest (policy `journeys.<id>`): an event that is an outcome of an earlier
	 * message names that decision in `outcomeFor` (Record Outcome records it there); an event that is not one
	 * of the journey's triggers only updated the profile, so its decision is settled NOT_A_TRIGGER.
	 */
	private async routeEvent(decision: Decision, event: CustomerEvent, at: Date): Promise<void> {
		const outcome = outcomeOfEvent(this.policy, decision.journey, event);
		if (outcome) {
			// An event naming its channel (an email unsubscribe) belongs to the latest message on that channel.
			const named = event.properties.channel;
			const channel = typeof named === 'string' && (CHANNELS as readonly string[]).includes(named) ? (named as Channel) : undefined;
			const target = await this.latestMessage(decision.contactId, decision.journey, at, channel);
			if (target) decision.outcomeFor = { decisionId: target.decisionId, ...outcome, outcomeId: `${event.eventId}:${outcome.type}` };
		}
		if (!startsMessage(this.policy, decision.journey, event)) {
			const recorded = decision.outcomeFor ? `; it is recorded as ${decision.outcomeFor.type} of decision ${decision.outcomeFor.decisionId}` : '';
			this.suppress(decision, 'NOT_A_TRIGGER', `${eventKey(event)} does not start a message in journey ${decision.journey} (policy journeys.${decision.journey}.triggers)${recorded}`);
		}
	}

	/** The contact's latest message in the journey (sent, or held out) within the attribution window, on `channel` if given. */
	private async latestMessage(contactId: string, journey: string, at: Date, channel?: Channel): Promise<Decision | undefined> {
		const from = new Date(at.getTime() - this.policy.learner.attributionWindowHours * 3_600_000).toISOString();
		const recent = await this.store.queryDecisions({ contactId, journey, from, to: new Date(at.getTime() + 1).toISOString(), limit: 1000 });
		return recent.filter((d) => (d.status === 'sent' && (!channel || d.channel === channel)) || (!channel && d.choice?.method === 'holdout')).pop();
	}

	/** Loads a decision; accepts an id, a decision, or an item carrying one. */
	async getDecision(ref: DecisionRef | unknown): Promise<Decision> {
		const id = decisionIdOf(ref);
		if (!id) {
			throw new NudgeError('INVALID_INPUT', 'This item carries no Nudge decision: connect the node after a Nudge Trigger (or another Nudge node), or pass an event');
		}
		const decision = await this.store.getDecision(id);
		if (!decision) throw new NudgeError('UNKNOWN_DECISION', `Decision ${id} is not in this engine's decision log (is the node using the same engine settings as the trigger?)`);
		return decision;
	}

	/**
	 * A decision for an item: the one it carries (a decision, `{decision}`, `{decisionId}` or a `d_…` id),
	 * or a new one when the item is itself an event (an object, or JSON text).
	 */
	async open(item: unknown, journey?: string): Promise<Decision> {
		const carried = typeof item === 'string' ? (item.startsWith('d_') ? item : undefined) : decisionIdOf(item);
		if (carried) return this.getDecision(carried);
		try {
			return (await this.ingest(item, { journey })).decision;
		} catch (error) {
			if (!(error instanceof NudgeError) || error.code !== 'INVALID_EVENT') throw error;
			throw new NudgeError(
				'INVALID_EVENT',
				`This item carries no Nudge decision and is not a customer event either (${error.message}). Connect this node after a Nudge Trigger or another Nudge node, or give it an event with a type and the contact it is about (email, userId…)`,
				error.issues,
			);
		}
	}

	private async profileOf(decision: Decision): Promise<Profile> {
		const profile = await this.store.getProfile(decision.contactId);
		if (!profile) throw new NudgeError('UNKNOWN_CONTACT', `Contact ${decision.contactId} is unknown: no profile exists for it (was it erased?)`);
		return profile;
	}

	/** The contact's profile for the stages of one decision, loaded at most once. */
	private profileLoader(decision: Decision, known?: Profile): () => Promise<Profile> {
		let profile = known;
		return async () => (profile ??= await this.profileOf(decision));
	}

	async score(ref: DecisionRef | unknown): Promise<Decision> {
		const decision = await this.getDecision(ref);
		return decision.status === 'pending' ? this.scoreStage(decision, this.profileLoader(decision)) : decision;
	}

	/**
	 * Picks the content variant for a slot (e.g. `cart-subject` among ["A", "B"]) with the same learner as
	 * channels, per context; once a variant's probability of being best reaches `learner.promoteAt` (and
	 * every variant was sent `promoteMinTrials` times) it is promoted and every later decision gets it.
	 * The choice is recorded in `variantChoice` and as `message.variant`. `variants` may be a list, or text
	 * with one variant per line (or comma-separated), as node settings give it.
	 */
	async chooseVariant(ref: DecisionRef | unknown, slot: string, variants: string[] | string): Promise<Decision> {
		const name = typeof slot === 'string' ? slot.trim() : '';
		const given = typeof variants === 'string' ? variants.split(/[\n,]/).filter((v) => v.trim()) : variants;
		const list = Array.isArray(given) ? given.map((v) => (typeof v === 'string' ? v.trim() : '')) : [];
		if (!name) throw new NudgeError('INVALID_INPUT', 'A content slot needs a name, e.g. "cart-subject"');
		if (!list.length || list.some((v) => !v) || new Set(list).size !== list.length) {
			throw new NudgeError('INVALID_INPUT', `Slot "${name}" needs a list of distinct, non-empty variant names, e.g. ["A", "B"]`);
		}
		const decision = await this.getDecision(ref);
		if (decision.status !== 'pending') return decision;
		const now = this.nowFor(decision);
		const context = decision.choice?.context ?? contextOf(decision, await this.profileOf(decision), this.policy.learner);
		const scopes = variantScopes(name, context);
		const winner = await this.store.getCursor(`variant-winner:${name}`);
		const picked = await chooseArm({ store: this.store, policy: this.policy, arms: list, context: scopes.context, globalScope: scopes.globalScope, random: this.random });
		const promoted = winner !== undefined && list.includes(winner);
		const variant = promoted ? winner : picked.arm;
		decision.variantChoice = {
			slot: name,
			variant,
			context,
			method: promoted ? 'promoted' : picked.method,
			estimates: picked.estimates.map((e) => ({ variant: e.arm, mean: e.mean, sampled: e.sampled })),
		};
		decision.message = { ...decision.message, variant };
		return this.save(decision, 'variant', now);
	}

	/** The promoted variant of a content slot, if one has won. */
	variantWinner(slot: string): Promise<string | undefined> {
		return this.store.getCursor(`variant-winner:${slot}`);
	}

	async chooseChannel(ref: DecisionRef | unknown): Promise<Decision> {
		const decision = await this.getDecision(ref);
		return decision.status === 'pending' ? this.chooseStage(decision, this.profileLoader(decision)) : decision;
	}

	/**
	 * The guardrails step (the Frequency Cap node): suppression list, consent, negative triggers, human
	 * review, quiet hours and caps. Ends allowed (a cap slot reserved), delayed (with `guard.retryAt`),
	 * blocked (suppressed with a reason) or in review. A delayed decision is checked again when it comes
	 * back. `message` says what is sent (category such as "transactional", tags, offer value, variant).
	 */
	async checkCap(ref: DecisionRef | unknown, options: Channel | GuardOptions = {}): Promise<Decision> {
		const decision = await this.getDecision(ref);
		const opts = typeof options === 'string' ? { channel: options } : options;
		return decision.status === 'pending' || decision.status === 'delayed' ? this.guardStage(decision, this.profileLoader(decision), opts) : decision;
	}

	/**
	 * A reviewer's verdict on a decision waiting in review. Approved: the remaining guardrails run (the
	 * review is not asked again) and the decision goes on; rejected: it ends suppressed (REVIEW_REJECTED).
	 * Who decided, when and why is recorded in `decision.review`.
	 */
	async resolveReview(ref: DecisionRef | unknown, verdict: { approve: boolean; reviewer: string; note?: string }): Promise<Decision> {
		const decision = await this.getDecision(ref);
		// An agent's action is approved under its approval id, bound to its content (engine/agents).
		if (decision.agent?.approval) {
			await this.decideApproval(decision.agent.approval.approvalId, { approver: verdict.reviewer, approve: verdict.approve, note: verdict.note });
			return this.getDecision(decision.decisionId);
		}
		if (decision.status !== 'review' || !decision.review) {
			throw new NudgeError('INVALID_INPUT', `Decision ${decision.decisionId} is not waiting for review (it is ${decision.status})`);
		}
		const reviewer = verdict.reviewer?.trim();
		if (!reviewer) throw new NudgeError('INVALID_INPUT', 'A review verdict needs the reviewer’s name or email, for the audit trail');
		const now = this.nowFor(decision);
		Object.assign(decision.review, { verdict: verdict.approve ? 'approved' : 'rejected', reviewer, decidedAt: now.toISOString(), ...(verdict.note ? { note: verdict.note } : {}) });
		if (!verdict.approve) {
			this.suppress(decision, 'REVIEW_REJECTED', `rejected by ${reviewer}${verdict.note ? `: ${verdict.note}` : ''}`);
			return this.save(decision, 'review', now);
		}
		if (decision.message?.variant) await markVariantApproved(this.store, decision.message.variant, now.getTime());
		decision.status = 'pending';
		delete decision.reason;
		delete decision.ruleId;
		await this.save(decision, 'review', now);
		return this.guardStage(decision, this.profileLoader(decision), {}, true);
	}

	/**
	 * An action an AI agent (or any caller) proposes: one verdict — allow (a cap slot reserved: send it with
	 * `sendAction`), defer (ask again at `retryAt`), needs_approval (a person decides with `decideApproval`), or
	 * deny — with reason codes, the binding rule and a sentence the agent can act on. The journeys' guardrails
	 * (consent, suppression, negative triggers, review, quiet hours, caps, holdouts) run unchanged, after the
	 * policy's agent switches and blast radius. The same idempotency key is one action, even when calls race.
	 * A dry run answers without claiming the key, reserving, sending or logging anything. Bad input throws a
	 * NudgeError (INVALID_INPUT, UNKNOWN_CONTACT) and changes nothing. See docs/policy.md#agents.
	 */
	async requestAction(input: unknown): Promise<ActionVerdict> {
		const request = parseActionRequest(input);
		const profile = await resolveActionContact(this.store, request.contact);
		const journey = request.journey ?? this.policy.agents.journey;
		// A made-up journey would escape the caps, holdouts and review rules scoped to the real ones.
		if (journey !== this.policy.agents.journey && !Object.prototype.hasOwnProperty.call(this.policy.journeys, journey)) {
			const known = [this.policy.agents.journey, ...Object.keys(this.policy.journeys)].join(', ');
			throw new NudgeError('INVALID_INPUT', `Journey "${journey}" is not in the policy: leave it out (actions then belong to "${this.policy.agents.journey}") or name one of ${known}`);
		}
		const hash = requestHash(request, profile.contactId, journey);
		const decisionId = actionDecisionId(request.agentId, request.idempotencyKey);
		if (request.dryRun) {
			const existing = await this.store.getDecision(decisionId);
			// As the real request would: the earlier action's verdict, or CONFLICT for other content under its key.
			if (existing) return verdictOf(sameAction(existing, request, hash), { dryRun: true, duplicate: true });
			return verdictOf(await this.newAction(decisionId, request, profile, journey, hash, true), { dryRun: true });
		}
		return withActionLease(this.store, decisionId, () => this.wallNow().getTime(), async () => {
			const existing = await this.store.getDecision(decisionId);
			return existing ? this.revisitAction(existing, request, profile, hash) : verdictOf(await this.newAction(decisionId, request, profile, journey, hash, false));
		});
	}

	private async newAction(decisionId: string, request: ActionRequest, contact: Profile, journey: string, hash: string, dryRun: boolean): Promise<Decision> {
		const now = this.wallNow();
		const { text, subject, ...facts } = request.message;
		const decision: Decision = {
			decisionId,
			createdAt: now.toISOString(),
			updatedAt: now.toISOString(),
			policyVersion: this.policyVersion,
			journey,
			contactId: contact.contactId,
			status: 'pending',
			event: { eventId: `agent:${request.agentId}:${request.idempotencyKey}`, source: 'agent', type: 'track', name: 'Agent Action Requested', occurredAt: now.toISOString() },
			outcomes: [],
			...conversionOf(this.policy, journey),
			trail: [],
			annotations: {},
			agent: {
				agentId: request.agentId,
				idempotencyKey: request.idempotencyKey,
				requestHash: hash,
				requestedChannel: request.channel,
				...(text !== undefined || subject !== undefined ? { content: { text, subject } } : {}),
				verdict: 'deny',
				reasons: [],
			},
		};
		// First the switches and the blast radius: a looping agent is counted even when its requests are forged.
		if (!(await this.admitAction(decision, now, dryRun))) return this.settleAction(decision, dryRun);
		if (request.approvalId) {
			// A new action presenting an approval: the approval belongs to another request (or to none).
			const approved = await this.store.getDecision(approvalDecisionId(request.approvalId) ?? '');
			const state = approvalState(approved, request.approvalId, request.agentId, hash, now.getTime());
			if (state.state === 'refused') this.suppress(decision, state.reason, state.explanation, 'agents.approval');
			else this.suppress(decision, 'APPROVAL_MISMATCH', `approval ${request.approvalId} was asked under idempotency key ${approved!.agent!.idempotencyKey}: present it with that key`, 'agents.approval');
			return this.settleAction(decision, dryRun);
		}
		const profile = this.profileLoader(decision, contact);
		await this.scoreStage(decision, profile, false);
		// The agent's own facts win over the journey's offer by score tier.
		decision.message = { ...decision.message, ...Object.fromEntries(Object.entries(facts).filter(([, v]) => v !== undefined)) };
		if (request.channel === 'choose') await this.chooseStage(decision, profile, false, !dryRun);
		else {
			const context = contextOf(decision, contact, this.policy.learner);
			if (!this.holdOut(decision, contact, context)) {
				decision.choice = { context, method: 'requested', arm: request.channel };
				decision.channel = request.channel;
			}
		}
		if (decision.status === 'pending') await this.guardAction(decision, profile, false, dryRun);
		return this.settleAction(decision, dryRun);
	}

	/** The policy's agent switches and the agent's blast radius; false when the action is denied by one. */
	private async admitAction(decision: Decision, now: Date, dryRun: boolean): Promise<boolean> {
		const agentId = decision.agent!.agentId;
		const gate = agentGate(this.policy, agentId);
		if (gate) {
			this.suppress(decision, gate.reason, gate.explanation, gate.rule);
			return false;
		}
		const blast = await reserveBlastRadius(this.store, this.policy, agentId, decision.contactId, now.getTime(), !dryRun);
		if (!blast.ok) this.suppress(decision, 'BLAST_RADIUS', blast.explanation, blast.rule.id);
		return blast.ok;
	}

	/** The journeys' guardrails for an action; a delay waits for the agent to ask again, a review for an approval. */
	private async guardAction(decision: Decision, profile: () => Promise<Profile>, approved: boolean, dryRun: boolean): Promise<void> {
		await this.guardStage(decision, profile, {}, false, approved, { wait: false, reserve: !dryRun });
		if (decision.status === 'review') {
			const ttl = durationMs(this.policy.agents.approvalTtl);
			const requestedAt = Date.parse(decision.review!.requestedAt);
			decision.agent!.approval = { approvalId: newApprovalId(decision.decisionId), rules: decision.review!.rules, expiresAt: new Date(requestedAt + ttl).toISOString() };
		}
	}

	/** Records the verdict on the decision; a final one is logged. A dry run stores nothing. */
	private async settleAction(decision: Decision, dryRun: boolean): Promise<Decision> {
		const agent = decision.agent!;
		agent.verdict = verdictKind(decision);
		agent.reasons = agent.verdict === 'allow' || !decision.reason ? [] : [decision.reason];
		if (dryRun) return decision;
		if (agent.verdict === 'deny') return this.logStage(decision, {});
		return this.save(decision, 'agent', this.wallNow(), { durable: true });
	}

	/** The same key again: the same verdict, unless its wait is over or an approval is presented. */
	private async revisitAction(decision: Decision, request: ActionRequest, contact: Profile, hash: string): Promise<ActionVerdict> {
		const agent = sameAction(decision, request, hash).agent!;
		const now = this.wallNow();
		const profile = this.profileLoader(decision, contact);
		if (decision.status === 'review' && agent.approval) {
			const state = request.approvalId
				? approvalState(decision, request.approvalId, request.agentId, hash, now.getTime())
				: Date.parse(agent.approval.expiresAt) <= now.getTime()
					? ({ state: 'refused', reason: 'APPROVAL_EXPIRED', explanation: `the approval request expired at ${agent.approval.expiresAt} (policy agents.approvalTtl)` } as const)
					: undefined;
			if (!state || state.state === 'pending') return verdictOf(decision, { duplicate: true });
			if (state.state === 'refused') {
				this.suppress(decision, state.reason, state.explanation, 'agents.approval');
				return verdictOf(await this.settleAction(decision, false));
			}
			decision.status = 'pending';
			delete decision.reason;
			delete decision.ruleId;
			if (await this.admitAction(decision, now, false)) await this.guardAction(decision, profile, true, false);
			return verdictOf(await this.settleAction(decision, false));
		}
		if (decision.status === 'delayed' && Date.parse(decision.guard?.retryAt ?? '') <= now.getTime()) {
			if (await this.admitAction(decision, now, false)) await this.guardAction(decision, profile, decision.review?.verdict === 'approved', false);
			return verdictOf(await this.settleAction(decision, false));
		}
		return verdictOf(decision, { duplicate: true });
	}

	/**
	 * A person's decision on an agent's action waiting for approval (`needs_approval`), with who decided and why.
	 * Approved: the agent may present the approval id with the exact same request until `agents.approvalTtl` from
	 * now; refused: the action ends denied (REVIEW_REJECTED). Never an agent's tool.
	 */
	async decideApproval(approvalId: string, input: { approver: string; approve: boolean; note?: string }): Promise<ActionVerdict> {
		const approver = typeof input?.approver === 'string' ? input.approver.trim() : '';
		if (!approver) throw new NudgeError('INVALID_INPUT', 'An approval needs the approver’s name or email, for the audit trail');
		if (typeof input.approve !== 'boolean') throw new NudgeError('INVALID_INPUT', 'Say whether the action is approved: approve true or false');
		const id = typeof approvalId === 'string' ? approvalDecisionId(approvalId) : undefined;
		const found = id ? await this.store.getDecision(id) : undefined;
		if (!found?.agent) throw new NudgeError('UNKNOWN_DECISION', `No agent action waits for approval ${String(approvalId).slice(0, 80)}`, [], 404);
		return withActionLease(this.store, found.decisionId, () => this.wallNow().getTime(), async () => {
			const decision = await this.getDecision(found.decisionId);
			const agent = decision.agent!;
			const now = this.wallNow();
			const state = approvalState(decision, approvalId, agent.agentId, agent.requestHash, now.getTime());
			if (state.state !== 'pending' || decision.status !== 'review' || decision.review?.verdict) {
				const why = state.state === 'refused' ? state.explanation : `it was already ${decision.review?.verdict ?? decision.status}`;
				throw new NudgeError('INVALID_INPUT', `Action ${decision.decisionId} cannot be decided: ${why}`, [], 409);
			}
			Object.assign(decision.review!, { verdict: input.approve ? 'approved' : 'rejected', reviewer: approver, decidedAt: now.toISOString(), ...(input.note ? { note: input.note } : {}) });
			if (!input.approve) {
				this.suppress(decision, 'REVIEW_REJECTED', `refused by ${approver}${input.note ? `: ${input.note}` : ''}`, 'agents.approval');
				return verdictOf(await this.settleAction(decision, false));
			}
			if (decision.message?.variant) await markVariantApproved(this.store, decision.message.variant, now.getTime());
			agent.approval!.expiresAt = new Date(now.getTime() + durationMs(this.policy.agents.approvalTtl)).toISOString();
			// Still `review` until the agent presents the approval (an action is sent only as its agent asks): the log says so.
			decision.explanation = `approved by ${approver}; waiting for agent ${agent.agentId} to request it again with its approval id before ${agent.approval!.expiresAt}`;
			return verdictOf(await this.save(decision, 'approval', now, { durable: true }));
		});
	}

	/**
	 * Sends an allowed agent action by the engine's one send path (`send`: once per decision, only with its cap
	 * reservation, consent checked again) and logs it. Anything but an allowed action is refused. An allowed action
	 * is not sent, and comes back with its new verdict, when the policy's agent switches now stop it, or when it
	 * waited past `reservationTimeoutSeconds` and the guardrails, checked again, no longer allow it.
	 */
	async sendAction(decisionId: string, target: SendTarget): Promise<Decision> {
		const decision = await this.getDecision(decisionId);
		if (!decision.agent) throw new NudgeError('INVALID_INPUT', `Decision ${decision.decisionId} is not an agent's action: send it with send()`);
		if (decision.status === 'sent') return decision;
		if (verdictKind(decision) !== 'allow') {
			throw new NudgeError('NOT_RESERVED', `Action ${decision.decisionId} is not allowed (${verdictOf(decision).explanation}), so it is not sent`);
		}
		return withActionLease(this.store, decision.decisionId, () => this.wallNow().getTime(), async () => {
			const current = await this.getDecision(decisionId);
			if (verdictKind(current) !== 'allow' || current.status === 'sent') return current;
			// The policy's switches hold until the message leaves: a kill switch stops allowed actions not yet sent.
			const gate = agentGate(this.policy, current.agent!.agentId);
			const now = this.wallNow();
			const held = Date.parse(current.updatedAt) + this.policy.reservationTimeoutSeconds * 1000;
			if (gate || now.getTime() >= held) {
				// A slot held past the reservation timeout may have been given to another message: decide again.
				if (current.guard?.reservationId) await this.store.settleCap(current.guard.reservationId, 'release');
				if (gate) this.suppress(current, gate.reason, gate.explanation, gate.rule);
				else await this.guardAction(current, this.profileLoader(current), current.review?.verdict === 'approved', false);
				await this.settleAction(current, false);
				if (verdictKind(current) !== 'allow') return current;
			}
			return this.logStage(await this.send(current, target), {});
		});
	}

	/**
	 * Sends once per decision: the decision id is the idempotency key, so a retried flow never sends
	 * twice. Only a decision holding a cap reservation may send; success commits it, failure releases it.
	 */
	async send(ref: DecisionRef | unknown, target: SendTarget, message: { category?: string } = {}): Promise<Decision> {
		const decision = await this.getDecision(ref);
		if (message.category && decision.status === 'pending') decision.message = { ...decision.message, category: message.category };
		// Sent or failed: a retried flow gets the same answer, and nothing is posted again.
		if (decision.status === 'sent' || decision.status === 'failed') return decision;
		if (decision.status === 'suppressed') {
			throw new NudgeError('NOT_RESERVED', `Decision ${decision.decisionId} was suppressed (${decision.reason}) and cannot be sent: connect Send only after the Allowed output of Frequency Cap`);
		}
		return this.sendStage(decision, this.profileLoader(decision), target);
	}

	/**
	 * A whole journey in one call (CLI replay, benchmarks): the same stages as the nodes on one loaded
	 * decision, each recorded in its trail; stored when the event is accepted, before a message leaves,
	 * and when it is logged. A suppressed decision skips to the log, like the flows.
	 */
	async decide(rawEvent: unknown, options: { journey: string; target: SendTarget }): Promise<Decision> {
		return this.decideIngested(await this.ingest(rawEvent, { journey: options.journey }), options.target);
	}

	/** The stages of `decide` for an event already taken in (e.g. a timer that fired); records its outcome first. */
	async decideIngested(ingested: IngestResult, target: SendTarget): Promise<Decision> {
		const decision = ingested.decision;
		if (ingested.duplicate) return decision;
		const outcome = decision.outcomeFor;
		if (outcome) await this.recordOutcome({ decisionId: outcome.decisionId, type: outcome.type, value: outcome.value, outcomeId: outcome.outcomeId, at: decision.event.occurredAt });
		const profile = this.profileLoader(decision, ingested.profile);
		return this.runStages(decision, [
			() => this.scoreStage(decision, profile, false),
			() => this.chooseStage(decision, profile, false),
			() => this.guardStage(decision, profile, {}, false),
			() => this.sendStage(decision, profile, target, false),
		]);
	}

	/**
	 * The rest of `decide` for a delayed decision that came due (guard/waits.ts): the guardrails again, then
	 * the send, then the log — the same decision is finalised. Anything but a delayed decision is returned as it is.
	 */
	async decideDue(ref: DecisionRef | unknown, target: SendTarget): Promise<Decision> {
		const decision = await this.getDecision(ref);
		if (decision.status !== 'delayed') return decision;
		const profile = this.profileLoader(decision);
		return this.runStages(decision, [() => this.guardStage(decision, profile, {}, false), () => this.sendStage(decision, profile, target, false)]);
	}

	/** Runs stages while the decision is open (the first may take a delayed one), then logs it. */
	private async runStages(decision: Decision, stages: (() => Promise<Decision>)[]): Promise<Decision> {
		for (const [i, stage] of stages.entries()) {
			if (decision.status !== 'pending' && !(i === 0 && decision.status === 'delayed')) break;
			decision = await stage();
		}
		return this.logStage(decision, {});
	}

	private async scoreStage(decision: Decision, profile: () => Promise<Profile>, persist = true): Promise<Decision> {
		const now = this.nowFor(decision);
		decision.score = await this.scoreProfile(await profile(), decision.journey);
		// Offer depth by intent (policy journeys.<id>.offers): review thresholds on message.offerValue then apply.
		const offer = offerFor(this.policy, decision.journey, decision.score);
		if (offer !== undefined) decision.message = { ...decision.message, offerValue: offer };
		return this.save(decision, 'score', now, { persist });
	}

	/**
	 * The active version of the policy's model (`scoring.model`, or the journey's own `scoring`) when it was
	 * trained on enough data; otherwise the rules model, with `fallback: true` and a note saying why.
	 */
	async scoreProfile(profile: Profile, journey?: string): Promise<Score> {
		const scoring = journey ? scoringFor(this.policy, journey) : this.policy.scoring;
		const { model: name, tiers, minTrainingRows, minTrainingPositives } = scoring;
		if (!name) return scoreWithRules(profile, scoring, this.policyVersion);
		let active: Awaited<ReturnType<typeof activeModel>>;
		let why: string | undefined;
		try {
			active = await activeModel(this.store, name);
			why = active ? coldStartReason(active.model, minTrainingRows, minTrainingPositives) : `no version of model "${name}" is active`;
		} catch (error) {
			// A stored model that no longer loads must not stop decisions: the rules score, and say why.
			if (!(error instanceof NudgeError)) throw error;
			why = `model "${name}" could not be loaded (${error.message})`;
		}
		if (active && !why) return modelScore(name, active.version, active.model, profile, tiers);
		return { ...scoreWithRules(profile, scoring, this.policyVersion), note: `rules used: ${active ? `model ${name} v${active.version} is not used yet: ${why}` : why}` };
	}

	/** `learn: false` (a dry run) leaves the learner's counts alone when it picks "wait". */
	private async chooseStage(decision: Decision, profile: () => Promise<Profile>, persist = true, learn = true): Promise<Decision> {
		const now = this.nowFor(decision);
		const contact = await profile();
		// A score tier the journey escalates (hot leads → a sales task) has only that channel to go by.
		const escalation = escalationFor(this.policy, decision.journey, decision.score);
		const only = escalation ? [escalation.channel] : undefined;
		// "Not capped" is part of eligibility: a read-only look at the caps of the channels still in the running.
		const open = openChannels(contact, this.policy, decision.journey, only);
		const message = { journey: decision.journey, category: escalation?.category ?? decision.message?.category, tags: decision.message?.tags ?? [] };
		const capped = await cappedChannels(this.store, this.policy, decision.contactId, open, message, now.getTime(), zoneFor(contact.timezone, this.policy.timezone));
		const choice = chooseChannel(contact, this.policy, decision.journey, capped, only);
		const context = contextOf(decision, contact, this.policy.learner);
		decision.candidates = choice.candidates;
		// The uplift gate's view goes on holdout decisions too, so training can compare like with like.
		const gate = this.policy.journeys[decision.journey]?.uplift;
		if (gate) decision.uplift = await upliftView(this.store, gate, contact);
		// Holdout first and regardless of eligibility: the control group is a random slice of everyone.
		if (this.holdOut(decision, contact, context)) {
			// held out: suppressed, outcomes still recorded
		} else if (gate && decision.uplift?.admitted === false) {
			decision.choice = { context, method: 'uplift_gate' };
			this.suppress(decision, 'LOW_UPLIFT', lowUpliftExplanation(decision.uplift, gate));
		} else if (!choice.channel) {
			decision.choice = { context, method: 'none_eligible' };
			this.suppress(decision, choice.reason!, choice.explanation);
		} else if (escalation) {
			decision.choice = { context, method: 'escalated', arm: choice.channel };
			decision.channel = choice.channel;
			decision.message = { ...decision.message, category: escalation.category };
			decision.handoff = handoffFor(this.policy, decision.journey, contact, decision.score!);
			decision.explanation = `${decision.score!.tier} score (${decision.score!.value}): handed to a person by ${choice.channel} (policy journeys.${decision.journey}.escalate)`;
		} else {
			const arms = choice.candidates.filter((c) => c.eligible).map((c) => c.channel);
			const picked = await chooseArm({ store: this.store, policy: this.policy, arms, context, random: this.random });
			for (const e of picked.estimates) Object.assign(decision.candidates.find((c) => c.channel === e.arm)!, { mean: e.mean, sampled: e.sampled });
			decision.choice = { context, method: picked.method, arm: picked.arm };
			const estimate = picked.estimates.find((e) => e.arm === picked.arm)!;
			const why = {
				default_order: 'is the first eligible channel in the policy order (nothing learned yet)',
				thompson: `drew the highest sampled expected value (${estimate.sampled.toFixed(4)}, mean ${estimate.mean.toFixed(4)}) of ${arms.length} eligible`,
				greedy: `has the highest expected value (mean ${estimate.mean.toFixed(4)}) of ${arms.length} eligible`,
				explore: 'was tried to keep learning (exploration floor)',
			}[picked.method];
			if (picked.arm === WAIT) {
				if (learn) {
					await this.store.addArmStats(armDeltas(context, WAIT));
					decision.choice.trialCounted = true;
				}
				this.suppress(decision, 'WAIT_CHOSEN', `no action now: waiting ${why}`);
			} else {
				decision.channel = picked.arm;
				decision.explanation = `${picked.arm} ${why}`;
				const sendTime = await bestSendTime({ store: this.store, policy: this.policy, contactId: decision.contactId, channel: picked.arm, zone: zoneFor(contact.timezone, this.policy.timezone), now });
				if (sendTime) decision.sendTime = sendTime;
			}
		}
		return this.save(decision, 'choose', now, { persist });
	}

	/** Puts the decision in its control group when the contact is held out (suppressed HOLDOUT, outcomes still measured). */
	private holdOut(decision: Decision, contact: Profile, context: string): boolean {
		const holdout = holdoutOf(this.policy.holdout, holdoutKey(contact), decision.journey);
		if (!holdout) return false;
		decision.choice = { context, method: 'holdout', holdout };
		const group = holdout.group === 'global' ? 'the global control group' : `the holdout of journey ${decision.journey}`;
		this.suppress(decision, 'HOLDOUT', `contact is in ${group} (bucket ${holdout.bucket}): no message is sent; outcomes are still recorded to measure lift`);
		return true;
	}

	/** `wait: false` keeps a delayed decision out of the journey's wait queue (its caller asks again); `reserve: false` only looks at the caps. */
	private async guardStage(
		decision: Decision,
		profile: () => Promise<Profile>,
		options: GuardOptions,
		persist = true,
		reviewApproved = false,
		flags: { wait?: boolean; reserve?: boolean } = {},
	): Promise<Decision> {
		// On the event clock (replay), a delayed decision is checked again at its due time.
		const retryAt = decision.status === 'delayed' && decision.guard?.retryAt ? Date.parse(decision.guard.retryAt) : 0;
		const now = new Date(Math.max(this.nowFor(decision).getTime(), this.clock === 'event' ? retryAt : 0));
		const channel = options.channel ?? decision.channel;
		if (!channel) {
			throw new NudgeError('INVALID_INPUT', `Decision ${decision.decisionId} has no channel yet: put Choose Channel before Frequency Cap, or set the channel on the node`);
		}
		decision.channel = channel;
		const message = { category: options.category, tags: options.tags, offerValue: options.offerValue, variant: options.variant };
		const given = Object.fromEntries(Object.entries(message).filter(([, v]) => v !== undefined));
		if (Object.keys(given).length) decision.message = { ...decision.message, ...given };
		const approved = reviewApproved || decision.review?.verdict === 'approved';
		const result = await evaluateGuards({ store: this.store, policy: this.policy, profile: await profile(), decision, channel, now: now.getTime(), reviewApproved: approved, reserve: flags.reserve });
		decision.guard = {
			outcome: result.outcome,
			allowed: result.outcome === 'allowed',
			checks: result.checks,
			...(result.reservationId ? { reservationId: result.reservationId } : {}),
			...(result.retryAt !== undefined ? { retryAt: new Date(result.retryAt).toISOString() } : {}),
			...(result.bindingRuleId ? { bindingRuleId: result.bindingRuleId } : {}),
		};
		decision.explanation = result.explanation;
		if (result.outcome === 'allowed') {
			decision.status = 'pending';
			delete decision.reason;
			delete decision.ruleId;
		} else if (result.outcome === 'blocked') {
			this.suppress(decision, result.reason!, result.explanation, result.bindingRuleId);
		} else {
			decision.status = result.outcome === 'delayed' ? 'delayed' : 'review';
			decision.reason = result.reason;
			decision.ruleId = result.bindingRuleId;
			if (result.outcome === 'review') decision.review = { rules: result.reviewRules ?? [], requestedAt: now.toISOString() };
			// The store keeps the wait, not the flow: the decision comes back when due (guard/waits.ts).
			else if (flags.wait !== false) await this.store.scheduleTimer(waitTimer(decision, result.retryAt!));
		}
		return this.save(decision, 'guard', now, { persist, durable: decision.status !== 'pending' });
	}

	private async sendStage(decision: Decision, loadProfile: () => Promise<Profile>, target: SendTarget, persist = true): Promise<Decision> {
		if ('sender' in target) target.sender.check?.();
		else if (!('dryRun' in target)) checkWebhookUrl(target.url);
		const now = this.nowFor(decision);
		const reservationId = decision.guard?.allowed ? decision.guard.reservationId : undefined;
		const category = decision.message?.category;
		const unreservedAllowed = !!category && this.policy.sendWithoutCapCheck.includes(category);
		if (!reservationId && !unreservedAllowed) {
			throw new NudgeError('NOT_RESERVED', `Decision ${decision.decisionId} has not passed Frequency Cap${decision.status === 'delayed' ? ` (it is delayed until ${decision.guard?.retryAt})` : decision.status === 'review' ? ' (it is waiting for review)' : ''}; Nudge only sends messages that hold a cap reservation`);
		}
		// Defence in depth: consent or the suppression list may have changed since Frequency Cap.
		const current = await loadProfile();
		const blocked = suppressionHit(this.policy, current) ?? (decision.channel ? channelEligibility(decision.channel, current, this.policy)?.detail : 'no channel');
		if (blocked) {
			if (reservationId) await this.store.settleCap(reservationId, 'release');
			this.suppress(decision, suppressionHit(this.policy, current) ? 'SUPPRESSION_LIST' : 'NO_CONSENT', `not sent: ${blocked} (checked again at send)`);
			return this.save(decision, 'send', now, { persist });
		}
		const key = `send:${decision.decisionId}`;
		if (!(await this.store.claimKey(key, 24 * 3_600_000, now.getTime()))) {
			throw new NudgeError('CONFLICT', `Decision ${decision.decisionId} is already being sent by another execution`, [], 409);
		}
		// The decision, its reservation and the send claim are durable before the message leaves the process.
		if (!persist) await this.store.putDecision(decision);
		await this.store.sync();
		const profile = current;
		const payload = {
			decisionId: decision.decisionId,
			journey: decision.journey,
			channel: decision.channel,
			contact: { contactId: profile.contactId, email: profile.email, phone: profile.phone, traits: profile.traits, identities: profile.identities },
			score: decision.score,
			event: decision.event,
			policyVersion: decision.policyVersion,
			...(decision.handoff ? { handoff: decision.handoff } : {}),
		};
		let result: SendResult;
		try {
			result =
				'dryRun' in target
					? { ok: true, attempts: 0 }
					: 'sender' in target
						? await deliver(target.sender, payload, decision.decisionId, target.retry)
						: await postWebhook(target, payload, decision.decisionId);
		} catch (error) {
			// Nothing was recorded: free the claim so the send can be retried.
			await this.store.releaseKey(key);
			throw error;
		}
		decision.delivery = {
			provider: 'dryRun' in target ? 'dry-run' : 'sender' in target ? target.sender.provider : 'webhook',
			status: result.ok ? 'sent' : 'failed',
			idempotencyKey: decision.decisionId,
			attempts: result.attempts,
			...(result.httpStatus !== undefined ? { httpStatus: result.httpStatus } : {}),
			...(result.providerMessageId ? { providerMessageId: result.providerMessageId } : {}),
			...(result.error ? { error: result.error } : {}),
			at: now.toISOString(),
		};
		if (result.ok) {
			if (reservationId) await this.store.settleCap(reservationId, 'commit');
			// The learner counts a trial only for a message that left (a chosen channel, sent).
			if (decision.choice && decision.channel && !decision.choice.trialCounted) {
				await this.store.addArmStats(armDeltas(decision.choice.context, decision.channel));
				Object.assign(decision.choice, { arm: decision.channel, trialCounted: true });
			}
			const vc = decision.variantChoice;
			if (vc && !vc.trialCounted) {
				const scopes = variantScopes(vc.slot, vc.context);
				await this.store.addArmStats(armDeltas(scopes.context, vc.variant, { trials: 1 }, scopes.globalScope));
				vc.trialCounted = true;
			}
			decision.status = 'sent';
			decision.explanation = `sent by ${decision.channel}`;
		} else {
			if (reservationId) await this.store.settleCap(reservationId, 'release');
			decision.status = 'failed';
			decision.reason = 'SEND_FAILED';
			decision.explanation = `send failed after ${result.attempts} attempt(s): ${result.error ?? ''}`;
		}
		return this.save(decision, 'send', now, { persist });
	}

	/** Finalises a decision in the log, with optional annotations (campaign, reviewer notes…). */
	async logDecision(ref: DecisionRef | unknown, annotations: Record<string, unknown> = {}): Promise<Decision> {
		return this.logStage(await this.getDecision(ref), annotations);
	}

	private logStage(decision: Decision, annotations: Record<string, unknown>): Promise<Decision> {
		const now = this.nowFor(decision);
		Object.assign(decision.annotations, annotations);
		decision.loggedAt = now.toISOString();
		return this.save(decision, 'log', now, { durable: true });
	}

	/**
	 * Attributes an outcome to its decision (by decision id, message id, or contact and channel within the
	 * attribution window) and teaches the learner, once: a repeated outcome id is ignored and reported as
	 * `duplicate`, and changes nothing.
	 */
	async recordOutcome(input: OutcomeInput): Promise<{ decision: Decision; duplicate: boolean }> {
		const at = input.at === undefined ? this.wallNow() : new Date(input.at);
		if (Number.isNaN(at.getTime())) throw new NudgeError('INVALID_INPUT', `Outcome time "${input.at}" is not a date-time (use ISO 8601, e.g. 2026-05-01T10:00:00Z)`);
		if (input.type === 'revenue' && !(typeof input.value === 'number' && Number.isFinite(input.value) && input.value >= 0)) {
			throw new NudgeError('INVALID_INPUT', `A revenue outcome needs its amount as a number of 0 or more; got ${JSON.stringify(input.value) ?? 'nothing'}`);
		}
		const decision = await this.attribute(input, at);
		const outcome = OutcomeSchema.safeParse({
			outcomeId: input.outcomeId ?? `${decision.decisionId}:${input.type}`,
			type: input.type,
			channel: decision.channel,
			value: input.value,
			at: at.toISOString(),
		});
		if (!outcome.success) {
			const issues = issuesFromZod(outcome.error);
			throw new NudgeError('INVALID_INPUT', `Outcome is not valid: ${describeIssues(issues)}`, issues);
		}
		if (outcome.data.at < decision.createdAt) {
			throw new NudgeError('INVALID_INPUT', `Outcome at ${outcome.data.at} is earlier than its decision (${decision.createdAt})`);
		}
		const added = await this.store.addOutcome(decision.decisionId, outcome.data);
		if (added) await this.learnFrom(decision, outcome.data);
		if (added && ENGAGEMENT.has(outcome.data.type) && decision.contactId) {
			const profile = await this.store.getProfile(decision.contactId);
			await this.store.addArmStats(engagementDeltas(decision.contactId, at, zoneFor(profile?.timezone, this.policy.timezone)));
		}
		if (added && (outcome.data.type === 'unsubscribe' || outcome.data.type === 'complaint') && decision.channel) {
			await this.profileLock.run(async () => {
				const profile = await this.profileOf(decision);
				profile.consent[decision.channel!] = 'opted_out';
				await this.store.saveProfile(profile, [], []);
			});
		}
		const current = await this.getDecision(decision.decisionId);
		if (added) return { decision: current, duplicate: false };
		// A repeated outcome is not counted again, but it is logged: the trail says it arrived and was ignored.
		return { decision: await this.save(current, `outcome ignored: duplicate ${outcome.data.outcomeId}`, this.wallNow(), { durable: true }), duplicate: true };
	}

	/** The decision an outcome belongs to; exactly one way of naming it must be given. */
	private async attribute(input: OutcomeInput, at: Date): Promise<Decision> {
		const ways = [input.decisionId, input.messageId, input.contactId].filter((v) => v !== undefined && v !== '');
		if (ways.length !== 1 || (input.channel && !input.contactId)) {
			throw new NudgeError('INVALID_INPUT', 'An outcome names its decision one way: a decision id, a provider message id, or a contact id (optionally with the channel)');
		}
		if (input.channel !== undefined && !(CHANNELS as readonly string[]).includes(input.channel)) {
			throw new NudgeError('INVALID_INPUT', `Channel "${input.channel}" is not one of ${CHANNELS.join(', ')}`);
		}
		if (input.decisionId) return this.getDecision(input.decisionId);
		if (input.messageId) {
			const found = await this.store.findDecisionByMessageId(input.messageId);
			if (!found) throw new NudgeError('UNKNOWN_DECISION', `No decision in the log sent message ${input.messageId}`);
			return found;
		}
		const hours = this.policy.learner.attributionWindowHours;
		const from = new Date(at.getTime() - hours * 3_600_000).toISOString();
		const to = new Date(at.getTime() + 1).toISOString();
		const recent = await this.store.queryDecisions({ contactId: input.contactId, from, to, limit: 1000 });
		// Only decisions that reached Choose Channel (a channel, wait or holdout) can earn an outcome.
		const match = recent.filter((d) => d.choice && (!input.channel || d.channel === input.channel)).pop();
		if (!match) {
			throw new NudgeError('UNKNOWN_DECISION', `No decision for contact ${input.contactId}${input.channel ? ` by ${input.channel}` : ''} in the ${hours} hours before ${at.toISOString()} (the policy's attribution window)`);
		}
		return match;
	}

	/** A newly recorded outcome updates the arm its decision tried (a sent message or a chosen wait). */
	private async learnFrom(decision: Decision, outcome: Outcome): Promise<void> {
		const choice = decision.choice?.trialCounted && decision.choice.arm ? decision.choice : undefined;
		const vc = decision.variantChoice?.trialCounted ? decision.variantChoice : undefined;
		if (!choice && !vc) return;
		const learner = this.policy.learner;
		const isReward = learner.objective === 'conversion' && (learner.reward as string[]).includes(outcome.type);
		// A decision is one trial, so it earns at most one success however many reward outcomes arrive.
		const first = isReward && (await this.store.claimKey(rewardClaimKey(decision.decisionId), 100 * 365 * 86_400_000, Date.now()));
		const delta = outcomeDelta(outcome, learner, first);
		if (!delta) return;
		if (choice) await this.store.addArmStats(armDeltas(choice.context, choice.arm!, delta));
		if (vc) {
			const scopes = variantScopes(vc.slot, vc.context);
			await this.store.addArmStats(armDeltas(scopes.context, vc.variant, delta, scopes.globalScope));
			if (delta.successes) await this.maybePromote(vc.slot, vc.estimates.map((e) => e.variant), scopes.globalScope);
		}
	}

	/** Promotes a slot's leader once it is probably best and was sent often enough; only once (compare-and-set). */
	private async maybePromote(slot: string, variants: string[], globalScope: string): Promise<void> {
		if (variants.length < 2 || (await this.variantWinner(slot)) !== undefined) return;
		const { promoteAt, promoteMinTrials } = this.policy.learner;
		const odds = await probabilityBest({ store: this.store, policy: this.policy, arms: variants, globalScope, random: this.random });
		const leader = odds.reduce((a, b) => (b.probability > a.probability ? b : a));
		if (leader.probability >= promoteAt && leader.trials >= promoteMinTrials) await this.store.setCursor(`variant-winner:${slot}`, leader.arm, undefined);
	}

	queryDecisions(query: DecisionQuery): Promise<Decision[]> {
		return this.store.queryDecisions(query);
	}

	/**
	 * Erases a contact (GDPR Art. 17), named `{ contactId }` or `{ email }`: its profile, identities, consent, timers
	 * and cap ledger go, its decisions are pseudonymised (counts and lift unchanged). `suppress` keeps a salted hash
	 * of its identities so the person, if they come again, is never contacted. See engine/privacy/erase.ts.
	 */
	eraseContact(contact: unknown, options: EraseOptions = {}): Promise<ErasureReceipt> {
		return this.profileLock.run(() => eraseContact(this.store, contact, options, this.wallNow()));
	}

	/** Deletes what the policy's `retention` keeps no longer (engine/privacy/retention.ts); `nudge retention` runs it. */
	runRetention(options: { dryRun?: boolean } = {}): Promise<RetentionReport> {
		return runRetention(this.store, this.policy, this.wallNow(), { ...options, exclusive: (run) => this.profileLock.run(run) });
	}

	/** Epoch ms before which retentionIfDue does not ask the store again (a trigger's tick costs nothing meanwhile). */
	private retentionCheckAt = 0;

	/**
	 * The trigger nodes' schedule, off their event path (they do not await it): runs the retention job when it is
	 * due on this store (see runRetentionIfDue); this process asks the store at most once in RETENTION_CHECK_MS.
	 * Resolves with the report when it ran.
	 */
	retentionIfDue(): Promise<RetentionReport | undefined> {
		const now = this.wallNow();
		if (now.getTime() < this.retentionCheckAt) return Promise.resolve(undefined);
		this.retentionCheckAt = now.getTime() + RETENTION_CHECK_MS;
		return runRetentionIfDue(this.store, this.policy, now, (run) => this.profileLock.run(run));
	}

	/**
	 * retentionIfDue for a trigger's tick, which must not wait for it: `log` gets the report's line (counts only)
	 * when the job ran, or the failure (the job runs again when next due; nothing is half-deleted, see retention.ts).
	 */
	startRetentionIfDue(log: (line: string, failed: boolean) => void): void {
		this.retentionIfDue().then(
			(report) => report && log(formatRetention(report), false),
			(error: unknown) => log(`Retention failed (it runs again when next due): ${(error as Error).message}`, true),
		);
	}

	/** Everything held about one contact (GDPR Art. 15), named `{ contactId }` or `{ email }`, as one JSON document. */
	contactRecord(contact: unknown): Promise<ContactRecord> {
		return contactRecord(this.store, contact, this.wallNow());
	}

	/** Lift per journey and arm, treated vs holdout, from the decision log (see engine/decide/lift.ts). */
	async lift(query: DecisionQuery = {}, options: LiftOptions = {}): Promise<LiftRow[]> {
		const tally = new LiftTally(options);
		for await (const d of iterateDecisions(this.store, query)) tally.add(d);
		return tally.report();
	}

	exportJsonl(query: DecisionQuery, write: (line: string) => void): Promise<number> {
		return exportJsonl(this.store, query, write);
	}

	async getProfile(contactId: string): Promise<Profile | undefined> {
		return this.store.getProfile(contactId);
	}

	async close(): Promise<void> {
		if (this.ownsStore) await this.store.close();
		else await this.store.sync();
	}
}
