import type { GuardCheck } from '../audit/schema';
import type { Channel } from '../channels';
import { newId } from '../ids';
import type { CapRule, Policy } from '../policy/schema';
import type { CapCounter, CapReservation, CapVerdict, KeyClaim, Store } from '../store/types';
import { durationMs } from './duration';
import { capLedgerKeepMs } from './ledgerHorizon';
import { windowSpan, WindowSpan } from './windows';

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
	/** Set when the message's category is exempt from the rule. */
	exemption?: CapRule['exemptions'][number];
	/** The counter's fixed part, shared by every check of this kind of message. */
	match: CapCounter['match'];
	excludeTags: string[];
	/** Rolling windows: the window's length (a calendar window's span depends on the time and the zone). */
	lengthMs?: number;
}

/** A kind of message (channel, journey, category, tags): the rules that cover it and the tags its reservation carries. */
interface MessageKind {
	/** The message's own tags, to tell kinds that differ only by them apart. */
	messageTags: string[];
	rules: RuleForMessage[];
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

function child<K, V>(map: Map<K, V>, key: K, make: () => V): V {
	let value = map.get(key);
	if (value === undefined) map.set(key, (value = make()));
	return value;
}

function messageKind(policy: Policy, message: MessageFacts): MessageKind {
	let cache = kindsByPolicy.get(policy.caps);
	if (!cache) kindsByPolicy.set(policy.caps, (cache = { size: 0, byChannel: new Map() }));
	const byCategory = child(child(cache.byChannel, message.channel, () => new Map()), message.journey, () => new Map<string, MessageKind[]>());
	const kinds = child(byCategory, message.category ?? '', (): MessageKind[] => []);
	for (const kind of kinds) if (sameTags(kind.messageTags, message.tags)) return kind;
	const rules = policy.caps
		.filter((rule) => ruleApplies(rule, message))
		.map((rule): RuleForMessage => {
			const scope = rule.scope;
			const exemption = message.category ? rule.exemptions.find((e) => e.category === message.category) : undefined;
			return {
				rule,
				...(exemption ? { exemption } : {}),
				match: scope.kind === 'channel' ? { channel: scope.channel } : scope.kind === 'tag' ? { tag: scope.tag } : scope.kind === 'journey' ? { journey: scope.journey } : {},
				excludeTags: rule.exemptions.filter((e) => !e.countsTowardCap).map((e) => e.category),
				...(rule.window.kind === 'rolling' ? { lengthMs: durationMs(rule.window.duration) } : {}),
			};
		});
	const kind: MessageKind = { messageTags: [...message.tags], rules, tags: messageTags(message) };
	if (cache.size >= MAX_MESSAGE_KINDS) {
		cache.byChannel.clear();
		cache.size = 0;
		return kind;
	}
	kinds.push(kind);
	cache.size++;
	return kind;
}

interface CheckedRule {
	rule: CapRule;
	span: WindowSpan;
	counter: CapCounter;
}

/**
 * The rules that apply to a message, with their current windows and counters; rules the message's category is
 * exempt from are passed checks instead (and, unless the exemption says so, are not counted later).
 */
function rulesToCheck(kind: MessageKind, message: MessageFacts, now: number, zone: string): { checks: GuardCheck[]; checked: CheckedRule[] } {
	const checks: GuardCheck[] = [];
	const checked: CheckedRule[] = [];
	for (const { rule, exemption, match, excludeTags, lengthMs } of kind.rules) {
		const span: WindowSpan = lengthMs !== undefined ? { since: now - lengthMs, lengthMs, label: (rule.window as { duration: string }).duration } : windowSpan(rule.window, now, zone);
		if (exemption) {
			checks.push({ kind: 'frequency_cap', ruleId: rule.id, passed: true, exempt: true, limit: rule.limit, window: span.label, detail: `${message.category} messages are exempt${exemption.countsTowardCap ? ' but count toward the cap' : ''}` });
			continue;
		}
		const counter: CapCounter = { ruleId: rule.id, limit: rule.limit, since: span.since, match, excludeTags };
		if (lengthMs !== undefined) counter.lengthMs = lengthMs;
		checked.push({ rule, span, counter });
	}
	return { checks, checked };
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
 * Check-and-reserve across every rule that applies, in one atomic store call: if all have room, a slot
 * is reserved until the send commits it, a failure releases it, or the policy's timeout expires it.
 * A message of an exempt category skips that rule (and, unless the exemption says it counts, is not
 * counted by it later). Every rule evaluated is in the checks; the binding one is named.
 */
export async function checkAndReserve(
	store: Store,
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
	const { checks, checked } = rulesToCheck(kind, message, now, zone);
	const counters = new Array<CapCounter>(checked.length);
	for (let i = 0; i < checked.length; i++) counters[i] = checked[i].counter;
	const reservationId = reserve ? newId('r') : '';
	const reservation: CapReservation = { reservationId, contactId, channel: message.channel, journey: message.journey, tags: kind.tags, at: now, expiresAt: now + policy.reservationTimeoutSeconds * 1000, keepSince: now - capLedgerKeepMs(policy) };
	const verdict: CapVerdict & { claimed?: boolean } = !reserve ? await store.peekCap(contactId, counters, now) : claim ? await store.reserveCapAndClaim(reservation, counters, claim) : await store.reserveCap(reservation, counters);
	let binding: CapResult['binding'];
	for (let i = 0; i < checked.length; i++) {
		const { rule, span } = checked[i];
		const count = verdict.counts[i];
		const full = count >= rule.limit;
		const check: GuardCheck = { kind: 'frequency_cap', ruleId: rule.id, passed: !full, count, limit: rule.limit, window: span.label };
		checks.push(check);
		if (!full) continue;
		const retryAt = span.resetsAt ?? verdict.freesAt[i];
		if (retryAt !== undefined) check.retryAt = new Date(retryAt).toISOString();
		binding = moreRestrictive(binding, { rule, retryAt });
	}
	if (verdict.ok) {
		return { allowed: true, ...(reserve ? { reservationId } : {}), ...(verdict.claimed !== undefined ? { claimed: verdict.claimed } : {}), checks, explanation: `within ${checked.length} cap rule(s) for ${message.channel}` };
	}
	const b = binding!;
	const check = checks.find((c) => c.kind === 'frequency_cap' && c.ruleId === b.rule.id)!;
	return {
		allowed: false,
		checks,
		binding: b,
		explanation: `cap ${b.rule.id} reached: ${check.count} of ${check.limit} in the ${check.window?.startsWith('calendar') ? 'current ' : 'last '}${check.window}`,
	};
}

/** A channel whose messages a cap would stop now: the binding rule, its count, and when a slot frees. */
export interface CappedChannel {
	rule: CapRule;
	count: number;
	window: string;
	/** Epoch ms when the rule has room again (calendar reset or the oldest counted send leaving the window). */
	freesAt?: number;
}

/**
 * Which of these channels are already at a cap for the contact, by a read-only look at the store (one
 * call for every rule of every channel): Choose Channel sets them aside so the learner picks among the
 * others. Nothing is reserved, so Frequency Cap's check-and-reserve stays the authoritative check.
 */
export async function cappedChannels(
	store: Store,
	policy: Policy,
	contactId: string,
	channels: Channel[],
	message: Omit<MessageFacts, 'channel'>,
	now: number,
	zone: string,
): Promise<Map<Channel, CappedChannel>> {
	const perChannel = channels.map((channel) => {
		const facts = { ...message, channel };
		return { channel, checked: rulesToCheck(messageKind(policy, facts), facts, now, zone).checked };
	});
	const rules = new Map<string, CheckedRule>();
	for (const { checked } of perChannel) for (const c of checked) rules.set(c.rule.id, c);
	const capped = new Map<Channel, CappedChannel>();
	if (!rules.size) return capped;
	const list = [...rules.values()];
	const verdict = await store.peekCap(contactId, list.map((c) => c.counter), now);
	if (verdict.ok) return capped;
	const full = new Map(list.flatMap(({ rule, span }, i) => (verdict.counts[i] >= rule.limit ? [[rule.id, { count: verdict.counts[i], span, freesAt: span.resetsAt ?? verdict.freesAt[i] }] as const] : [])));
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
}
