import type { Decision, DecisionQuery, Outcome, ReasonCode, Score } from './audit/schema';
import { OutcomeSchema } from './audit/schema';
import { exportJsonl } from './audit/export';
import type { Channel } from './channels';
import { channelEligibility, chooseChannel } from './decide/chooseChannel';
import { deliver, RetryPolicy, Sender, SendResult } from './deliver/provider';
import { checkWebhookUrl, postWebhook, WebhookTarget } from './deliver/webhook';
import { FieldIssue, NudgeError, describeIssues, issuesFromZod } from './errors';
import type { CustomerEvent } from './events/schema';
import { normalizeEvent } from './events/normalize';
import { evaluateGuards, suppressionHit } from './guard/guard';
import { applyNegativeTriggers } from './guard/negativeTriggers';
import { markVariantApproved } from './guard/review';
import { newId } from './ids';
import { LoadedPolicy, loadPolicy } from './policy/load';
import type { Policy } from './policy/schema';
import { eventIdentityKeys, ingestIntoProfile } from './profiles/profiles';
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
}

export interface IngestResult {
	event: CustomerEvent;
	decision: Decision;
	duplicate: boolean;
	profile?: Profile;
}

/** A webhook, a dry run, or any provider's sender (engine/deliver: Segment, HubSpot…). */
export type SendTarget = WebhookTarget | { dryRun: true } | { sender: Sender; retry?: Partial<RetryPolicy> };

export interface OutcomeInput {
	decisionId: string;
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

/** A step may be given a decision, its id, or an item that carries `decision`. */
export type DecisionRef = string | { decisionId: string } | { decision: { decisionId: string } };

function decisionIdOf(ref: unknown): string | undefined {
	if (typeof ref === 'string') return ref;
	if (ref && typeof ref === 'object') {
		const r = ref as Record<string, unknown>;
		if (typeof r.decisionId === 'string') return r.decisionId;
		if (r.decision && typeof r.decision === 'object') return decisionIdOf(r.decision);
	}
	return undefined;
}

/**
 * The decision engine. Each step loads the decision from the store (the store is the authority, not the
 * item a flow passes along), does one thing, records it in the decision log, and returns the decision.
 * A step given a decision that is already settled (sent, suppressed, failed) returns it unchanged.
 */
export class Engine {
	readonly store: Store;
	private loaded: LoadedPolicy;
	private readonly clock: 'wall' | 'event';
	private readonly wallNow: () => Date;
	private readonly profileLock: Serial;
	private readonly ownsStore: boolean;

	constructor(options: EngineOptions) {
		this.store = options.store;
		this.ownsStore = options.ownsStore ?? true;
		this.profileLock = profileLockFor(options.store);
		this.loaded = options.policy ?? loadPolicy();
		this.clock = options.clock ?? 'wall';
		this.wallNow = options.now ?? (() => new Date());
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

	private nowFor(decision?: Decision): Date {
		return this.clock === 'event' && decision ? new Date(decision.event.occurredAt) : this.wallNow();
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

	private async accept(event: CustomerEvent, journey = 'default'): Promise<IngestResult> {
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
			trail: [],
			annotations: {},
		};
		const fresh = await this.store.claimKey(`event:${event.eventId}`, this.policy.dedupWindowHours * 3_600_000, at.getTime());
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
			// Durable before the caller acknowledges the event: an accepted event always has its decision row.
			return { event, profile, decision: await this.save(decision, 'ingest', at, { durable: true }), duplicate: false };
		} catch (error) {
			// Not processed: let a retried delivery through again.
			await this.store.releaseKey(`event:${event.eventId}`);
			throw error;
		}
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
		const ingested = await this.ingest(rawEvent, { journey: options.journey });
		let decision = ingested.decision;
		if (ingested.duplicate) return decision;
		const profile = this.profileLoader(decision, ingested.profile);
		const stages = [
			() => this.scoreStage(decision, profile, false),
			() => this.chooseStage(decision, profile, false),
			() => this.guardStage(decision, profile, {}, false),
			() => this.sendStage(decision, profile, options.target, false),
		];
		for (const stage of stages) {
			if (decision.status !== 'pending') break;
			decision = await stage();
		}
		return this.logStage(decision, {});
	}

	private async scoreStage(decision: Decision, profile: () => Promise<Profile>, persist = true): Promise<Decision> {
		const now = this.nowFor(decision);
		decision.score = await this.scoreProfile(await profile());
		return this.save(decision, 'score', now, { persist });
	}

	/**
	 * The active version of the policy's model (`scoring.model`) when it was trained on enough data;
	 * otherwise the rules model, with `fallback: true` and a note saying why.
	 */
	async scoreProfile(profile: Profile): Promise<Score> {
		const { model: name, tiers, minTrainingRows, minTrainingPositives } = this.policy.scoring;
		if (!name) return scoreWithRules(profile, this.policy, this.policyVersion);
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
		return { ...scoreWithRules(profile, this.policy, this.policyVersion), note: `rules used: ${active ? `model ${name} v${active.version} is not used yet: ${why}` : why}` };
	}

	private async chooseStage(decision: Decision, profile: () => Promise<Profile>, persist = true): Promise<Decision> {
		const now = this.nowFor(decision);
		const choice = chooseChannel(await profile(), this.policy, decision.journey);
		decision.candidates = choice.candidates;
		if (choice.channel) {
			decision.channel = choice.channel;
			decision.explanation = choice.explanation;
		} else this.suppress(decision, choice.reason!, choice.explanation);
		return this.save(decision, 'choose', now, { persist });
	}

	private async guardStage(decision: Decision, profile: () => Promise<Profile>, options: GuardOptions, persist = true, reviewApproved = false): Promise<Decision> {
		const now = this.nowFor(decision);
		const channel = options.channel ?? decision.channel;
		if (!channel) {
			throw new NudgeError('INVALID_INPUT', `Decision ${decision.decisionId} has no channel yet: put Choose Channel before Frequency Cap, or set the channel on the node`);
		}
		decision.channel = channel;
		const message = { category: options.category, tags: options.tags, offerValue: options.offerValue, variant: options.variant };
		const given = Object.fromEntries(Object.entries(message).filter(([, v]) => v !== undefined));
		if (Object.keys(given).length) decision.message = { ...decision.message, ...given };
		const approved = reviewApproved || decision.review?.verdict === 'approved';
		const result = await evaluateGuards({ store: this.store, policy: this.policy, profile: await profile(), decision, channel, now: now.getTime(), reviewApproved: approved });
		const retryAt = result.retryAt !== undefined ? new Date(result.retryAt).toISOString() : undefined;
		decision.guard = {
			outcome: result.outcome,
			allowed: result.outcome === 'allowed',
			checks: result.checks,
			...(result.reservationId ? { reservationId: result.reservationId } : {}),
			...(retryAt ? { retryAt } : {}),
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

	/** Attributes an outcome to its decision, once: a repeated outcome id is ignored and reported. */
	async recordOutcome(input: OutcomeInput): Promise<{ decision: Decision; duplicate: boolean }> {
		const decision = await this.getDecision(input.decisionId);
		const outcome = OutcomeSchema.safeParse({
			outcomeId: input.outcomeId ?? `${input.decisionId}:${input.type}`,
			type: input.type,
			channel: decision.channel,
			value: input.value,
			at: input.at ?? this.wallNow().toISOString(),
		});
		if (!outcome.success) {
			const issues = issuesFromZod(outcome.error);
			throw new NudgeError('INVALID_INPUT', `Outcome is not valid: ${describeIssues(issues)}`, issues);
		}
		if (outcome.data.at < decision.createdAt) {
			throw new NudgeError('INVALID_INPUT', `Outcome at ${outcome.data.at} is earlier than its decision (${decision.createdAt})`);
		}
		const added = await this.store.addOutcome(decision.decisionId, outcome.data);
		if (added && (outcome.data.type === 'unsubscribe' || outcome.data.type === 'complaint') && decision.channel) {
			await this.profileLock.run(async () => {
				const profile = await this.profileOf(decision);
				profile.consent[decision.channel!] = 'opted_out';
				await this.store.saveProfile(profile, [], []);
			});
		}
		return { decision: await this.getDecision(decision.decisionId), duplicate: !added };
	}

	queryDecisions(query: DecisionQuery): Promise<Decision[]> {
		return this.store.queryDecisions(query);
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
