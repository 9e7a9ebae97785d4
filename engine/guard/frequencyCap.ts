import { capCount } from '../audit/candidateDetails';
import type { GuardCheck } from '../audit/schema';
import type { Channel } from '../channels';
import { NudgeError } from '../errors';
import { newId } from '../ids';
import type { CapRule, Policy } from '../policy/schema';
import type { CapCounter, CapLedgerStore, CapReservation, CapVerdict, FoldedSteps, KeyClaim } from '../store/types';
import { durationMs } from './duration';
import { capLedgerKeepMs } from './ledgerHorizon';
import { windowSpan, WindowSpan } from './windows';
import { isoTime } from '../util/isoTime';

/** A message of one category tagged with a category a cap exempts: exempt or counted, the policy cannot tell. */
export class AmbiguousExemption extends NudgeError {
	constructor(tag: string, ruleId: string, category: string | undefined) {
		super('INVALID_INPUT', `The tag "${tag}" names a category that cap ${ruleId} exempts, on a ${category ?? 'message without a category'}: a message is exempt by its category, so set the category to "${tag}" or use another tag`);
	}
}

/**
 * The decision's send key is held (engine/usecases/send.ts sendClaim): by an erasure of its contact, which holds the
 * keys of every open decision, or by another execution sending it. Nothing was reserved.
 */
export class SendKeyHeld extends NudgeError {
	constructor(key: string) {
		super('CONFLICT', `${key} is held: the decision is being sent by another execution, or its contact is being erased`, [], 409);
	}
}

/** The facts about a message that caps look at. */
export interface MessageFacts {
	channel: Channel;
	journey: string;
	/** e.g. "transactional", "promotional": matched by exemptions and tag scopes. */
	category?: string;
	tags: string[];
}

export function messageTags(message: MessageFacts): string[] {
	return [...new Set([...(message.category ? [message.category] : []), ...message.tags])];
}

/** Does a rule's scope cover this message? */
export function ruleApplies(rule: CapRule, message: MessageFacts): boolean {
	switch (rule.scope.kind) {
		case 'any':
			return true;
		case 'channel':
			return rule.scope.channel === message.channel;
		case 'tag':
			return messageTags(message).includes(rule.scope.tag);
		case 'journey':
			return rule.scope.journey === message.journey;
	}
}

/** The rules that apply to a channel's messages in general (no category or tags). */
export function rulesFor(policy: Policy, channel: Channel, journey = 'default'): CapRule[] {
	return policy.caps.filter((rule) => ruleApplies(rule, { channel, journey, tags: [] }));
}

/** What a rule means for one kind of message, worked out once (the cap check is on every decision's path). */
interface RuleForMessage {
	rule: CapRule;
	/** The counter's fixed part, shared by every check of this kind of message. */
	match: CapCounter['match'];
	excludeTags: string[];
	/** Rolling windows: the window's length (a calendar window's span depends on the time and the zone). */
	lengthMs?: number;
}

/** A rule the message's category is exempt from: a passed check, never counted. */
interface ExemptRule {
	rule: CapRule;
	detail: string;
}

/** A kind of message (channel, journey, category, tags): the rules that cover it and the tags its reservation carries. */
interface MessageKind {
	/** The message's own tags, to tell kinds that differ only by them apart. */
	messageTags: string[];
	exempt: ExemptRule[];
	/** The rules counted, in policy order. */
	counted: RuleForMessage[];
	tags: string[];
}

/** Kinds of message by channel, journey and category (no category and an empty one cover the same rules). */
type KindCache = { size: number; byChannel: Map<string, Map<string, Map<string, MessageKind[]>>> };

/**
 * The rules that cover each kind of message, per policy: scope matching and exemptions depend on nothing else,
 * so they are not redone per check (bench/caps). Found through nested maps, so a check builds no key. Bounded
 * like the calendar spans, as tags come from flows.
 */
const kindsByPolicy = new WeakMap<CapRule[], KindCache>();
const MAX_MESSAGE_KINDS = 1_000;

const sameTags = (a: string[], b: string[]) => a.length === b.length && a.every((tag, i) => tag === b[i]);

function child<K, V>(map: Map<K, Map<string, V>>, key: K): Map<string, V> {
	let value = map.get(key);
	if (value === undefined) map.set(key, (value = new Map()));
	return value;
}

function messageKind(policy: Policy, message: MessageFacts): MessageKind {
	let cache = kindsByPolicy.get(policy.caps);
	if (!cache) kindsByPolicy.set(policy.caps, (cache = { size: 0, byChannel: new Map() }));
	const byCategory = child(child(cache.byChannel, message.channel), message.journey);
	const category = message.category ?? '';
	let kinds = byCategory.get(category);
	if (kinds === undefined) byCategory.set(category, (kinds = []));
	for (const kind of kinds) if (sameTags(kind.messageTags, message.tags)) return kind;
	// The tags are frozen: every reservation of this kind carries this one array, and a store may keep it as it is.
	const kind: MessageKind = { messageTags: [...message.tags], exempt: [], counted: [], tags: Object.freeze(messageTags(message)) as string[] };
	for (const rule of policy.caps) {
		if (!ruleApplies(rule, message)) continue;
		const exemption = message.category ? rule.exemptions.find((e) => e.category === message.category) : undefined;
		if (exemption) {
			kind.exempt.push({ rule, detail: `${message.category} messages are exempt${exemption.countsTowardCap ? ' but count toward the cap' : ''}` });
			continue;
		}
		const scope = rule.scope;
		const excludeTags = rule.exemptions.filter((e) => !e.countsTowardCap).map((e) => e.category);
		// The ledger tells an exempt send by the category among its tags: a message of another category tagged with it
		// would pass this check as counted and then count for no later one. Refused, so the marketer says which it is.
		const posing = message.tags.find((tag) => tag !== message.category && excludeTags.includes(tag));
		if (posing !== undefined) throw new AmbiguousExemption(posing, rule.id, message.category);
		kind.counted.push({
			rule,
			match: scope.kind === 'channel' ? { channel: scope.channel } : scope.kind === 'tag' ? { tag: scope.tag } : scope.kind === 'journey' ? { journey: scope.journey } : {},
			excludeTags,
			...(rule.window.kind === 'rolling' ? { lengthMs: durationMs(rule.window.duration) } : {}),
		});
	}
	if (cache.size >= MAX_MESSAGE_KINDS) {
		cache.byChannel.clear();
		cache.size = 0;
		return kind;
	}
	kinds.push(kind);
	cache.size++;
	return kind;
}

/** A rule's window at `now`: rolling spans are made here, calendar ones come from their cache (windows.ts). */
function spanOf({ rule, lengthMs }: RuleForMessage, now: number, zone: string): WindowSpan {
	return lengthMs !== undefined ? { since: now - lengthMs, lengthMs, label: (rule.window as { duration: string }).duration } : windowSpan(rule.window, now, zone);
}

/** When a rule's window starts at `now`, without making a span for a rolling one. */
function sinceOf(r: RuleForMessage, now: number, zone: string): number {
	return r.lengthMs !== undefined ? now - r.lengthMs : windowSpan(r.rule.window, now, zone).since;
}

function counterOf(r: RuleForMessage, since: number): CapCounter {
	const counter: CapCounter = { ruleId: r.rule.id, limit: r.rule.limit, since, match: r.match, excludeTags: r.excludeTags };
	if (r.lengthMs !== undefined) counter.lengthMs = r.lengthMs;
	return counter;
}

interface CheckedRule {
	rule: CapRule;
	span: WindowSpan;
	counter: CapCounter;
}

/** The counted rules of a kind of message, with their current windows and counters. */
function rulesToCheck(kind: MessageKind, now: number, zone: string): CheckedRule[] {
	return kind.counted.map((r) => {
		const span = spanOf(r, now, zone);
		return { rule: r.rule, span, counter: counterOf(r, span.since) };
	});
}

/**
 * When a full rule has room again: a calendar window's reset, or, for a rolling one, the first instant the oldest
 * counted send is out of the window (1 ms after the store's freesAt, at which it still counts: a decision delayed to
 * that instant would be delayed to it again, for ever). The binding rule, its explained check and Choose Channel's
 * look all use this.
 */
function retryAtOf(span: WindowSpan, verdict: CapVerdict, i: number): number | undefined {
	const frees = verdict.freesAt[i];
	return span.resetsAt ?? (frees === undefined ? undefined : frees + 1);
}

type Binding = { rule: CapRule; retryAt?: number };

/** Among full rules the most restrictive binds: a drop wins over a delay; among equals, the latest slot. */
function moreRestrictive(current: Binding | undefined, candidate: Binding): Binding {
	if (!current) return candidate;
	const stricter =
		(candidate.rule.action === 'drop' && current.rule.action !== 'drop') ||
		(candidate.rule.action === current.rule.action && (candidate.retryAt ?? Infinity) > (current.retryAt ?? Infinity));
	return stricter ? candidate : current;
}

export interface CapResult {
	allowed: boolean;
	reservationId?: string;
	/** With a `claim`: whether the key was claimed with the reservation. */
	claimed?: boolean;
	checks: GuardCheck[];
	/** The most restrictive full rule: a drop wins over a delay; among delays, the latest slot. */
	binding?: { rule: CapRule; retryAt?: number };
	explanation: string;
}

/**
 * The explained checks of every rule, in order: exempt rules first (passed), then each counted rule's count, limit,
 * window and, when full, when it has room again. Equal to what the check knew when it decided (the windows are a
 * function of `now` and the zone).
 */
function explainChecks(kind: MessageKind, verdict: CapVerdict, now: number, zone: string): GuardCheck[] {
	const checks: GuardCheck[] = [];
	for (const { rule, detail } of kind.exempt) {
		const label = rule.window.kind === 'rolling' ? rule.window.duration : windowSpan(rule.window, now, zone).label;
		checks.push({ kind: 'frequency_cap', ruleId: rule.id, passed: true, exempt: true, limit: rule.limit, window: label, detail });
	}
	for (let i = 0; i < kind.counted.length; i++) {
		const r = kind.counted[i];
		const span = spanOf(r, now, zone);
		const count = verdict.counts[i];
		const full = count >= r.rule.limit;
		const check: GuardCheck = { kind: 'frequency_cap', ruleId: r.rule.id, passed: !full, count, limit: r.rule.limit, window: span.label };
		const retryAt = full ? retryAtOf(span, verdict, i) : undefined;
		if (retryAt !== undefined) check.retryAt = isoTime(retryAt);
		checks.push(check);
	}
	return checks;
}

/**
 * A cap check's result. The decision (allowed, binding rule, reservation) is made at once; the explained checks
 * and the sentence are built when first read: most rules pass, and a caller that only needs the verdict (a
 * rate-limit style check) does not pay for five explained objects per call (bench/caps).
 */
class CheckedCaps implements CapResult {
	readonly allowed: boolean;
	declare reservationId?: string;
	declare claimed?: boolean;
	declare binding?: Binding;
	private explained?: GuardCheck[];

	constructor(
		private readonly kind: MessageKind,
		private readonly verdict: CapVerdict,
		private readonly now: number,
		private readonly zone: string,
		private readonly channel: Channel,
		reservationId: string | undefined,
		binding: Binding | undefined,
	) {
		this.allowed = verdict.ok;
		if (reservationId !== undefined) this.reservationId = reservationId;
		if (binding) this.binding = binding;
	}

	get checks(): GuardCheck[] {
		return (this.explained ??= explainChecks(this.kind, this.verdict, this.now, this.zone));
	}

	get explanation(): string {
		if (this.allowed) return `within ${this.kind.counted.length} cap rule(s) for ${this.channel}`;
		const b = this.binding!;
		const check = this.checks.find((c) => c.kind === 'frequency_cap' && c.ruleId === b.rule.id)!;
		return `cap ${b.rule.id} reached: ${capCount(check.count, check.limit, check.window)}`;
	}
}

/**
 * Check-and-reserve across every rule that applies, in one atomic store call: if all have room, a slot
 * is reserved until the send commits it, a failure releases it, or the policy's timeout expires it.
 * A message of an exempt category skips that rule (and, unless the exemption says it counts, is not
 * counted by it later). Every rule evaluated is in the checks; the binding one is named.
 */
export async function checkAndReserve(
	store: CapLedgerStore & Pick<FoldedSteps, 'reserveCapAndClaim'>,
	policy: Policy,
	contactId: string,
	message: MessageFacts,
	now: number,
	zone: string,
	/** False: the same check as a read-only look (a dry run), which reserves nothing. */
	reserve = true,
	/** A key to claim with the reservation, in the same store step (a send's key: usecases/send.ts). */
	claim?: KeyClaim,
): Promise<CapResult> {
	const kind = messageKind(policy, message);
	const counted = kind.counted;
	const counters = new Array<CapCounter>(counted.length);
	for (let i = 0; i < counted.length; i++) counters[i] = counterOf(counted[i], sinceOf(counted[i], now, zone));
	const reservationId = reserve ? newId('r') : '';
	const reservation: CapReservation = { reservationId, contactId, channel: message.channel, journey: message.journey, tags: kind.tags, at: now, expiresAt: now + policy.reservationTimeoutSeconds * 1000, keepSince: now - capLedgerKeepMs(policy) };
	const verdict: CapVerdict & { claimed?: boolean; held?: boolean } = !reserve ? await store.peekCap(contactId, counters, now) : claim ? await store.reserveCapAndClaim(reservation, counters, claim) : await store.reserveCap(reservation, counters);
	if (verdict.held) throw new SendKeyHeld(claim!.key);
	let binding: Binding | undefined;
	for (let i = 0; i < counted.length; i++) {
		const r = counted[i];
		if (verdict.counts[i] < r.rule.limit) continue;
		binding = moreRestrictive(binding, { rule: r.rule, retryAt: retryAtOf(spanOf(r, now, zone), verdict, i) });
	}
	const caps = new CheckedCaps(kind, verdict, now, zone, message.channel, verdict.ok && reserve ? reservationId : undefined, verdict.ok ? undefined : binding);
	if (verdict.ok && verdict.claimed !== undefined) caps.claimed = verdict.claimed;
	return caps;
}

/** A channel whose messages a cap would stop now: the binding rule, its count, and when a slot frees. */
export interface CappedChannel {
	rule: CapRule;
	count: number;
	window: string;
	/** Epoch ms when the rule has room again (calendar reset or the oldest counted send leaving the window). */
	freesAt?: number;
}

/** A read-only look at the caps of several channels: the counters to count, and what their verdict means. */
export interface CapLook {
	/** Every rule of every channel, once each (one store call counts them all). */
	counters: CapCounter[];
	/** The channels the counters' verdict puts at a cap, each with its binding rule. */
	capped(verdict: CapVerdict): Map<Channel, CappedChannel>;
}

/**
 * Which of these channels are at a cap for the contact, as a look at the store that counts every rule of every
 * channel in one call (Choose Channel makes that call with its learner read: store FoldedSteps.peekCapAndReadArmStats).
 */
export function capLook(policy: Policy, channels: Channel[], message: Omit<MessageFacts, 'channel'>, now: number, zone: string): CapLook {
	const perChannel = channels.map((channel) => {
		const facts = { ...message, channel };
		return { channel, checked: rulesToCheck(messageKind(policy, facts), now, zone) };
	});
	const rules = new Map<string, CheckedRule>();
	for (const { checked } of perChannel) for (const c of checked) rules.set(c.rule.id, c);
	const list = [...rules.values()];
	return {
		counters: list.map((c) => c.counter),
		capped(verdict) {
			const capped = new Map<Channel, CappedChannel>();
			if (verdict.ok) return capped;
			const full = new Map(list.flatMap(({ rule, span }, i) => (verdict.counts[i] >= rule.limit ? [[rule.id, { count: verdict.counts[i], span, freesAt: retryAtOf(span, verdict, i) }] as const] : [])));
			for (const { channel, checked } of perChannel) {
				let binding: Binding | undefined;
				for (const { rule } of checked) {
					const hit = full.get(rule.id);
					if (hit) binding = moreRestrictive(binding, { rule, retryAt: hit.freesAt });
				}
				if (!binding) continue;
				const hit = full.get(binding.rule.id)!;
				capped.set(channel, { rule: binding.rule, count: hit.count, window: hit.span.label, ...(hit.freesAt !== undefined ? { freesAt: hit.freesAt } : {}) });
			}
			return capped;
		},
	};
}

/**
 * Which of these channels are already at a cap for the contact, by a read-only look at the store (one call for every
 * rule of every channel). Nothing is reserved, so Frequency Cap's check-and-reserve stays the authoritative check.
 */
export async function cappedChannels(
	store: CapLedgerStore,
	policy: Policy,
	contactId: string,
	channels: Channel[],
	message: Omit<MessageFacts, 'channel'>,
	now: number,
	zone: string,
): Promise<Map<Channel, CappedChannel>> {
	const look = capLook(policy, channels, message, now, zone);
	return look.counters.length ? look.capped(await store.peekCap(contactId, look.counters, now)) : new Map();
}
