/**
 * Inactivity timers: "cart updated with no order completed within 30 minutes → cart abandoned".
 * A start event schedules a timer for its contact in the store (a later start event moves it), a
 * clearing event cancels it, and a due timer fires as a new event for the contact. Firing is leased:
 * `takeDueTimers` hands each due timer to one caller for TIMER_LEASE_MS, the caller ingests it, emits
 * the result and then acknowledges it; a timer whose taker died before acknowledging is due again for
 * the next one. The event's id is derived from the timer, so a timer fired twice is a duplicate.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod/v4';
import type { Decision } from '../audit/schema';
import type { Engine, IngestResult } from '../engine';
import { EVENT_LIMITS } from './limits';
import { olderThanDedupWindow } from './eventAge';
import { eventName } from './schema';
import { FieldIssue, NudgeError, describeIssues, issuesFromZod } from '../errors';
import { list, MAX_LIST, within } from '../policy/bounds';
import type { Policy } from '../policy/schema';
import type { Profile } from '../profiles/schema';
import { contactIds, profileById } from '../profiles/profiles';
import { INACTIVITY_QUEUE, inactivityQueue, type LeasedTimer } from '../store/types';
import { isoTime, MAX_CLOCK_SKEW_MS, parseTime } from '../util/isoTime';

/**
 * A rule's event name, held to what an event's name may be: a name no event can have would never start or cancel the
 * wait, and a fired one that cannot be taken in would fail at every firing, for ever (refused here instead).
 */
const ruleEventName = (empty: string) => z.string().trim().min(1, empty).pipe(eventName());

export const InactivityRuleSchema = z
	.object({
		/** Event name that starts (or restarts) the wait, e.g. "Cart Updated". */
		start: ruleEventName('name the event that starts the wait'),
		/** Event names that end the wait without firing, e.g. ["Order Completed"]. */
		cancel: list(ruleEventName('name the event that cancels the wait')).min(1, 'name at least one event that cancels the wait'),
		/** Up to 90 days; from 0.01 (0.6 s), so a demo can play a wait in compressed time, but never a wait of nothing. */
		minutes: within(z.number(), 0.01, 60 * 24 * 90, 'from 0.01 to 129600 minutes (90 days)'),
		/** Event fired when the wait runs out, e.g. "Cart Abandoned". */
		fire: ruleEventName('name the event to fire'),
	})
	.strict();
export type InactivityRule = z.infer<typeof InactivityRuleSchema>;

/**
 * A chain of timers that start each other for ever (a timer fires "Pong", which starts a timer that fires
 * "Ping", which starts the first again; or a timer that fires its own start event), as event names, or
 * undefined. Events match case-insensitively, as when timers run.
 */
export function timerCycle(rules: InactivityRule[]): string[] | undefined {
	const key = (name: string) => name.toLowerCase();
	const startedBy = new Map<string, InactivityRule[]>();
	for (const rule of rules) startedBy.set(key(rule.start), [...(startedBy.get(key(rule.start)) ?? []), rule]);
	const done = new Set<string>();
	const path: string[] = [];
	const onPath = new Set<string>();
	const visit = (event: string): string[] | undefined => {
		if (onPath.has(key(event))) return [...path.slice(path.findIndex((p) => key(p) === key(event))), event];
		if (done.has(key(event))) return undefined;
		path.push(event);
		onPath.add(key(event));
		for (const rule of startedBy.get(key(event)) ?? []) {
			const cycle = visit(rule.fire);
			if (cycle) return cycle;
		}
		path.pop();
		onPath.delete(key(event));
		done.add(key(event));
		return undefined;
	};
	for (const rule of rules) {
		const cycle = visit(rule.start);
		if (cycle) return cycle;
	}
	return undefined;
}

/** A list of timers, refused when they would start each other for ever (one event, endless sends). */
export const InactivityRulesSchema = list(InactivityRuleSchema).superRefine((rules, ctx) => {
	// An over-long list is refused by its length already (and the search recurses once per chained timer).
	const cycle = rules.length <= MAX_LIST ? timerCycle(rules) : undefined;
	if (cycle) ctx.addIssue({ code: 'custom', message: `timers form a cycle: ${cycle.join(' → ')}` });
});

/**
 * Validates rules from a node's settings; an invalid one names its position and field. Where the node's
 * fired events meet its journey's policy timers too (Node-RED), give both: a cycle through them is refused.
 */
export function parseInactivityRules(input: unknown, policy?: Pick<Policy, 'journeys'>, journey?: string): InactivityRule[] {
	const parsed = InactivityRulesSchema.safeParse(input);
	if (!parsed.success) throw invalidRules(issuesFromZod(parsed.error));
	const policyTimers = (journey && policy?.journeys[journey]?.timers) || [];
	const cycle = policyTimers.length ? timerCycle([...parsed.data, ...policyTimers]) : undefined;
	if (cycle) throw invalidRules([{ path: '(root)', message: `with the policy's journeys.${journey}.timers, timers form a cycle: ${cycle.join(' → ')}` }]);
	return parsed.data;
}

const invalidRules = (issues: FieldIssue[]) => new NudgeError('INVALID_INPUT', `Inactivity timer settings are not valid: ${describeIssues(issues)}`, issues);

interface TimerBody {
	fire: string;
	contactId: string;
	journey: string;
	startedBy: string;
	start: string;
	minutes: number;
	/**
	 * The rules the scheduling node set (not the policy's, which every taker has) that its fired event leads to
	 * (chainFrom): the next touches are started by whichever node fires the timer (n8n: a Poll Trigger, which has no
	 * rules of its own).
	 */
	chained?: InactivityRule[];
	/** The node that set it (its id in the flow): that node, firing it, meets it with its rules as they are now. */
	setBy?: string;
	/** The events fired earlier in the chain of timers that led to this one, oldest first (meetRules: cycles across nodes). */
	after?: string[];
	/** Its firings record meeting the next touches (touchesMetKey); a timer set by a version before has none. */
	recorded?: true;
}

/** Which node fires or sets timers, and for which journey: a journey's node fires only that journey's timers. */
export interface TimerNode {
	journey?: string;
	/** The node's id in its flow (Node-RED's node id, n8n's node id), stable across deploys. */
	node?: string;
}

/**
 * Whose rules a fired timer's event is met with, each set with the node it belongs to (the next timers it sets name
 * that node): the node that set the timer fires it with its own as they are now (a touch removed or edited since counts
 * as it is now); any other node (n8n's Poll Trigger, another node of the journey) with its own, and those the timer
 * carries as its setter's, its own first where both have one for the same event.
 */
function rulesMeeting(rules: InactivityRule[], body: TimerBody, node: string | undefined): RuleSet[] {
	if (node !== undefined && body.setBy === node) return [{ rules, node }];
	const own = new Set(rules.map((rule) => `${rule.start}\u0000${rule.fire}`.toLowerCase()));
	const carried = (body.chained ?? []).filter((rule) => !own.has(`${rule.start}\u0000${rule.fire}`.toLowerCase()));
	// The policy's timers once, with the taker's set: met again with the carried set, they would be set again naming the
	// other node.
	return [{ rules, node }, ...(carried.length ? [{ rules: carried, node: body.setBy, withPolicy: false }] : [])];
}

/**
 * The node's rules a rule's fired event leads to, touch after touch (each rule once): those it starts or cancels, then
 * those their fired events do, so a cadence of any length carries on whichever node fires its timers.
 */
function chainFrom(rule: InactivityRule, rules: InactivityRule[]): InactivityRule[] {
	const chained: InactivityRule[] = [];
	const fired = [rule.fire];
	for (let i = 0; i < fired.length; i++) {
		for (const next of rules) {
			if (chained.includes(next) || !(same(fired[i], next.start) || next.cancel.some((name) => same(fired[i], name)))) continue;
			chained.push(next);
			fired.push(next.fire);
		}
	}
	return chained;
}

/**
 * A contact's timer of a rule in a journey: two journeys whose rules fire the same event each have their own (one
 * event reaches both journeys' triggers). The journey's name is length-prefixed, so no names spell another's id.
 */
const timerId = (journey: string, rule: InactivityRule, contactId: string) => `inactivity:${journey.length}:${journey}:${rule.fire}:${contactId}`;
/** The id earlier versions gave the timer, one for all journeys: cancelled with the journey's own, so it cannot fire as well. */
const earlierTimerId = (rule: InactivityRule, contactId: string) => `inactivity:${rule.fire}:${contactId}`;
const same = (a: string | undefined, b: string) => !!a && a.toLowerCase() === b.toLowerCase();

/** A node's own rules plus the timers the policy gives the event's journey (`journeys.<id>.timers`). */
function rulesFor(engine: Engine, journey: string, rules: InactivityRule[]): InactivityRule[] {
	const own = engine.policy.journeys[journey]?.timers ?? [];
	return own.length ? [...rules, ...own] : rules;
}

/** Does the policy give any journey, or this one, inactivity timers? (Then a trigger must fire them.) */
export function policyHasTimers(engine: Engine, journey?: string): boolean {
	return Object.entries(engine.policy.journeys).some(([name, j]) => (!journey || name === journey) && j.timers.length > 0);
}

/** An accepted event whose timers could not be started or cancelled (the store failed). */
export interface TimerFailure {
	eventId: string;
	error: Error;
}

/** What a node reports for a TimerFailure. */
export const timerFailureText = ({ eventId, error }: TimerFailure) => `Could not start or cancel the inactivity timers of event ${eventId} (it was taken in and goes on): ${error.message}`;

/**
 * Schedules and cancels timers for newly accepted events (call after every ingest). The events are taken in already
 * (their marks make a retry a duplicate), so a failure must not keep them from the flow: each event's timers are its
 * own, and what failed is returned for the node to report, never thrown.
 */
export function applyInactivityRules(engine: Engine, accepted: IngestResult[], rules: InactivityRule[], node?: string, withPolicy = true): Promise<TimerFailure[]> {
	return meetRules(engine, accepted, [{ rules, ...(node !== undefined ? { node } : {}), withPolicy }]);
}

/** Rules an event meets, with the node they belong to (the timers they start name it) and whether the policy's join them. */
interface RuleSet {
	rules: InactivityRule[];
	node?: string;
	withPolicy?: boolean;
}

/**
 * Meets the events with every set of rules: first every wait the event ends, then every wait it starts, so one set's
 * cancel never ends a wait another set (or a rule of the same set) starts on the same event, whatever their order.
 * `after`: the events fired earlier in the chain that led to these (a fired timer's); a wait that would fire one of them
 * again is a cycle across nodes (each node's rules alone are checked when set) and is not started.
 */
async function meetRules(engine: Engine, accepted: IngestResult[], sets: RuleSet[], after: string[] = [], firedAt?: number): Promise<TimerFailure[]> {
	const failed: TimerFailure[] = [];
	const changed: string[] = [];
	for (const { event, decision, profile } of accepted) {
		try {
			const met = sets.map((set) => ({ ...set, rules: set.withPolicy === false ? set.rules : rulesFor(engine, decision.journey, set.rules) }));
			// A timer started by a contact merged into this one since waits under that contact's id: a cancelling event
			// cancels it with the contact's own (one store call a merged id, on cancelling events only).
			const merged = (profile ? contactIds(profile) : []).filter((id) => id !== decision.contactId);
			const cancels = (rule: InactivityRule) => rule.cancel.some((name) => same(event.name, name));
			for (const rule of met.flatMap((set) => set.rules).filter(cancels)) {
				for (const other of merged) for (const ofOther of [timerId(decision.journey, rule, other), earlierTimerId(rule, other)]) await engine.store.cancelTimer(ofOther);
				await engine.store.cancelTimer(timerId(decision.journey, rule, decision.contactId));
				await engine.store.cancelTimer(earlierTimerId(rule, decision.contactId));
				changed.push(event.eventId);
			}
			// An event too old to start a message (a repeat after the de-duplication window, a backfill) starts no wait
			// either, trigger or not (a cart update starts the cart's wait without being a trigger): its timer would fall due
			// at once and fire a message, again for every repeat. It still cancels, which only ever stops one. A fired
			// timer's event (`firedAt`: fired late, timers not checked for days) still starts its next touch.
			const starts = decision.reason !== 'EVENT_TOO_OLD' && (firedAt !== undefined || !olderThanDedupWindow(engine.policy, event.occurredAt, parseTime(decision.createdAt)));
			for (const { rules, node } of starts ? met : []) {
				for (const rule of rules.filter((r) => same(event.name, r.start) && !cancels(r))) {
					if (after.some((name) => same(name, rule.fire))) {
						failed.push({ eventId: event.eventId, error: new NudgeError('INVALID_CONFIG', `timers of two nodes of journey "${decision.journey}" form a cycle (${[...after, rule.fire].join(' → ')}): the wait for "${rule.fire}" was not started again`) });
						continue;
					}
					const own = rulesOfNode(sets, node);
					const chained = chainFrom(rule, own);
					const body: TimerBody = { fire: rule.fire, contactId: decision.contactId, journey: decision.journey, startedBy: event.eventId, start: rule.start, minutes: rule.minutes, ...(chained.length ? { chained } : {}), ...(node !== undefined ? { setBy: node } : {}), ...(after.length ? { after } : {}), recorded: true };
					// A wait starts when its event happened; a fired timer's next touch when it fired (`firedAt`): fired late
					// (timers not checked for days), a next touch counted from its due time would be due at once, two messages
					// minutes apart.
					const from = Math.max(parseTime(event.occurredAt), firedAt ?? -Infinity);
					await engine.store.scheduleTimer({ timerId: timerId(decision.journey, rule, decision.contactId), dueAt: from + rule.minutes * 60_000, body: JSON.stringify(body) });
					await engine.store.cancelTimer(earlierTimerId(rule, decision.contactId));
					changed.push(event.eventId);
				}
			}
		} catch (error) {
			failed.push({ eventId: event.eventId, error: error as Error });
		}
	}
	if (changed.length) {
		try {
			await engine.store.sync();
		} catch (error) {
			for (const eventId of new Set(changed)) failed.push({ eventId, error: error as Error });
		}
	}
	return failed;
}

/** A node's own rules (without the policy's), which its timers carry: those of every set naming it. */
const rulesOfNode = (sets: RuleSet[], node: string | undefined) => sets.filter((set) => set.node === node).flatMap((set) => set.rules);

/** How long a taker has to fire a timer and acknowledge it before another taker may. */
export const TIMER_LEASE_MS = 60_000;

export interface FiredTimers {
	/** How many due timers the take held (at most its limit): fewer, and none were left due. */
	taken: number;
	/** New events, one per timer that fired (a timer whose event was already ingested fires nothing). */
	fired: IngestResult[];
	/** Timers that could not fire (e.g. the store failed): not acknowledged, so due again after the lease. */
	failed: { timerId: string; error: Error }[];
	/** Fired events whose own timers (the next touch) could not be started or cancelled: they go on; report these. */
	timerFailures: TimerFailure[];
	/** Acknowledges every timer that fired or was a repeat; call after the events left the node. */
	acknowledge(): Promise<void>;
}

/** A due timer as a test fetch shows it (previewDueTimers). */
export interface TimerPreview {
	timerId: string;
	dueAt: string;
	contactId: string;
	journey: string;
	/** The event its firing takes in. */
	fire: string;
}

/**
 * The timers due at `now`, shown without firing them: a test fetch in the editor (n8n's manual mode). They are taken
 * with a lease of a millisecond and not acknowledged, so the active workflow's next check takes and fires them as if
 * they had not been looked at (firing them here would take them from it).
 */
export async function previewDueTimers(engine: Engine, now: number, limit: number, { journey }: TimerNode = {}): Promise<TimerPreview[]> {
	const due = await engine.store.takeDueTimers(now, limit, 1, journey === undefined ? INACTIVITY_QUEUE : inactivityQueue(journey));
	return due.map((timer) => {
		const body = JSON.parse(timer.body) as TimerBody;
		return { timerId: timer.timerId, dueAt: isoTime(timer.dueAt), contactId: body.contactId, journey: body.journey, fire: body.fire };
	});
}

/**
 * Fires the timers due at `now` as events (one decision each, in the journey that started them). A fired
 * event may itself start a timer (Cart Abandoned → a second touch): `rules` and the policy's apply to it.
 */
export async function fireDueTimers(engine: Engine, now = Date.now(), limit = 100, rules: InactivityRule[] = [], leaseMs = TIMER_LEASE_MS, { journey, node }: TimerNode = {}): Promise<FiredTimers> {
	const due = await engine.store.takeDueTimers(now, limit, leaseMs, journey === undefined ? INACTIVITY_QUEUE : inactivityQueue(journey));
	const fired: IngestResult[] = [];
	const failed: FiredTimers['failed'] = [];
	const done: LeasedTimer[] = [];
	const timerFailures: TimerFailure[] = [];
	// Retries after a store error, for the whole take: a store that is down fails every timer, and a pause for each
	// would hold the take past the timers' lease.
	const retries = { left: true };
	for (const timer of due) {
		try {
			const body = JSON.parse(timer.body) as TimerBody;
			// A contact no longer in the store (erased, or removed by retention, while its timer was taken): nothing is taken
			// in, or the fired event would make a new contact of the erased id.
			const profile = await profileById(engine.store, body.contactId);
			if (!profile) {
				done.push(timer);
				continue;
			}
			const result = await fireTimer(engine, timer, body);
			if (!result.duplicate) {
				fired.push(result);
				timerFailures.push(...(await meetNextTouches(engine, timer, body, result, rules, node, now, retries)));
			} else {
				// A repeat: the taker before took the event in, and may have died before it met the next touches (no record of
				// meeting them: this taker does) or before its flow had the decision (brought out again). With the record, or
				// for a timer whose firings record nothing (set by a version before), they are not met again: a touch
				// cancelled since would start again.
				if (body.recorded && !(await engine.store.keyHeldUntil(touchesMetKey(timer), now))) timerFailures.push(...(await meetNextTouches(engine, timer, body, asSurvivor(result, profile), rules, node, now, retries)));
				const left = await firingLeftBehind(engine, timer, body, result, profile);
				if (left) fired.push(left);
			}
			done.push(timer);
		} catch (error) {
			failed.push({ timerId: timer.timerId, error: error as Error });
		}
	}
	return {
		taken: due.length,
		fired,
		failed,
		timerFailures,
		async acknowledge() {
			for (const timer of done) await engine.store.ackTimer(timer.timerId, timer.lease);
		},
	};
}

/** How long a firing's record of having met its next touches is kept: far past any lease a repeat could follow. */
const TOUCHES_MET_MS = 7 * 24 * 60 * 60_000;
/** The record that a firing's next touches were met; the fired event's id (which names the contact) hashed. */
const touchesMetKey = (timer: LeasedTimer) => `timer-touches-met:${createHash('sha256').update(firedEventId(timer)).digest('base64url')}`;

/** Pauses before meeting a firing's next touches again after a store error (a connection dropped, a lock held). */
const TOUCH_RETRY_PAUSES_MS = [100, 500];
const storeFailure = (failure: TimerFailure) => !(failure.error instanceof NudgeError && failure.error.code === 'INVALID_CONFIG');

/**
 * Meets a fired timer's event with the taker's rules and those the timer carries (the next touches), then records that
 * it did. After a store error (a wait neither started nor cancelled) they are met again, twice at most, in this firing
 * (once a timer of the take has failed its tries, the others get one try each until one is met): every cancel and start
 * is the same again (a timer restarted is the same timer). Failing still, nothing is recorded and the error is
 * reported; the timer is acknowledged all the same: repeated after its lease, its firing would hand its decision to the
 * flow a second time, and start again a touch the contact has cancelled since. A cycle stopped is no store error.
 */
async function meetNextTouches(engine: Engine, timer: LeasedTimer, body: TimerBody, result: IngestResult, rules: InactivityRule[], node: string | undefined, now: number, retries: { left: boolean }): Promise<TimerFailure[]> {
	// The next touches wait from when this one fired: the taker's time (`now`), or in a replay, which fires everything due
	// before its next event, the decision's (the due time, on the events' clock).
	const meet = () => meetRules(engine, [result], rulesMeeting(rules, body, node), [...(body.after ?? []), body.fire], Math.min(now, parseTime(result.decision.createdAt)));
	let failures = await meet();
	for (const pause of retries.left ? TOUCH_RETRY_PAUSES_MS : []) {
		if (!failures.some(storeFailure)) break;
		await new Promise((resolve) => setTimeout(resolve, pause));
		failures = await meet();
	}
	if (failures.some(storeFailure)) {
		// Failing after its tries: the store is down, and the take's other timers are met once each until one is met.
		retries.left = false;
		return failures;
	}
	retries.left = true;
	try {
		await engine.store.holdKey(touchesMetKey(timer), TOUCHES_MET_MS, now);
	} catch (error) {
		// The touches were met and the timer is acknowledged: not repeated, it needs no record.
		failures.push({ eventId: result.event.eventId, error: error as Error });
	}
	return failures;
}

/** A repeat's take-in names the contact the timer's body holds: the next touches wait under the contact it merged into since. */
function asSurvivor(repeat: IngestResult, profile: Profile | undefined): IngestResult {
	return profile ? { ...repeat, decision: { ...repeat.decision, contactId: profile.contactId }, profile } : repeat;
}

/**
 * The id of the event a timer fires: one per timer and due time, so a timer fired twice is a duplicate. Past an event
 * id's length (a long journey, event name and contact id) it is a hash of that, or the event could never be taken in.
 */
function firedEventId(timer: LeasedTimer): string {
	const id = `${timer.timerId}:${timer.dueAt}`;
	return id.length <= EVENT_LIMITS.idChars ? id : `inactivity:${createHash('sha256').update(id).digest('base64url')}:${timer.dueAt}`;
}

/**
 * The decision an earlier firing of this timer opened, when it never left the taker that made it (the taker died, or
 * its acknowledgement failed, before a flow had it): still pending, only taken in. Brought out again, so the reminder
 * is not lost to the duplicate its event now is; a decision handed out twice is sent once (its send's claim).
 */
async function firingLeftBehind(engine: Engine, timer: LeasedTimer, body: TimerBody, repeat: IngestResult, profile: Profile | undefined): Promise<IngestResult | undefined> {
	const eventId = firedEventId(timer);
	// Every pending decision of the contact in the journey since the due time (less a clock's skew), a page at a time:
	// the firing made it when it fired, which may be after any number of the contact's others.
	const query = { contactIds: profile ? contactIds(profile) : [repeat.decision.contactId], journey: body.journey, status: 'pending' as const, from: isoTime(timer.dueAt - MAX_CLOCK_SKEW_MS), limit: 100 };
	for (let after: Decision | undefined; ; ) {
		const page = await engine.store.queryDecisions({ ...query, ...(after ? { after: { createdAt: after.createdAt, decisionId: after.decisionId } } : {}) });
		const decision = page.find((d) => d.event.eventId === eventId && d.trail.every((step) => step.stage === 'ingest'));
		if (decision) return { event: repeat.event, decision, duplicate: false, ...(profile ? { profile } : {}) };
		if (page.length < query.limit) return undefined;
		after = page[page.length - 1];
	}
}

function fireTimer(engine: Engine, timer: LeasedTimer, body: TimerBody): Promise<IngestResult> {
	return engine.ingest(
		{
			eventId: firedEventId(timer),
			source: 'nudge',
			type: 'track',
			name: body.fire,
			occurredAt: isoTime(timer.dueAt),
			identities: { contactId: body.contactId },
			properties: { timer: true, startedBy: body.startedBy, waitedFor: body.start, minutes: body.minutes },
		},
		{ journey: body.journey, firedTimer: true },
	);
}

/** Rules written as JSON text (Node-RED settings); empty text means none. */
export function parseInactivityRulesJson(text: string | undefined, policy?: Pick<Policy, 'journeys'>, journey?: string): InactivityRule[] {
	if (!text?.trim()) return [];
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch (error) {
		throw new NudgeError('INVALID_INPUT', `Inactivity timers are not valid JSON: ${(error as Error).message}`);
	}
	return parseInactivityRules(value, policy, journey);
}
