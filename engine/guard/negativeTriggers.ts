import type { GuardCheck } from '../audit/schema';
import { type CustomerEvent, eventNameKey } from '../events/schema';
import { holds } from '../policy/conditions';
import type { NegativeTrigger, Policy } from '../policy/schema';
import type { Profile } from '../profiles/schema';
import { durationMs } from './duration';
import { isoTime, parseTime } from '../util/isoTime';

/** What a condition can read on ingest: the profile's fields plus the event. */
function eventContext(profile: Profile, event: CustomerEvent) {
	return { ...profile, event: { name: event.name, type: event.type, properties: event.properties, traits: event.traits } };
}

/**
 * A trigger's event names, without case (as journey triggers and outcomes match: "ticket opened" is "Ticket
 * Opened"), made once per loaded list: every event is looked up in every trigger's lists.
 */
const keysByList = new WeakMap<string[], Set<string>>();
function nameKeys(names: string[]): Set<string> {
	let keys = keysByList.get(names);
	if (!keys) keysByList.set(names, (keys = new Set(names.map(eventNameKey))));
	return keys;
}

/**
 * Starts and clears pauses as events arrive (called while the profile is updated, so a pause is in
 * place before the next decision): a starting event opens a pause, a clearing event ends it.
 */
export function applyNegativeTriggers(profile: Profile, event: CustomerEvent, policy: Policy): void {
	if (!event.name) return;
	const key = eventNameKey(event.name);
	const at = parseTime(event.occurredAt);
	const named = (names: string[]) => nameKeys(names).has(key);
	for (const trigger of policy.negativeTriggers) {
		const pause = profile.pauses?.[trigger.id];
		const cleared = profile.pausesClearedAt?.[trigger.id];
		// By the events' own times, not their arrival: a clearing event from before the pause began (delivered late: an
		// earlier ticket's "solved") ends nothing; a start older than the pause, or than the last clearing event, starts
		// nothing (that episode ended).
		if (named(trigger.clearedBy)) {
			if (pause && at < parseTime(pause.since)) continue;
			if (pause) delete profile.pauses![trigger.id];
			if (cleared === undefined || at > parseTime(cleared)) (profile.pausesClearedAt ??= {})[trigger.id] = event.occurredAt;
		} else if (named(trigger.events) && trigger.where.every((c) => holds(c, eventContext(profile, event)))) {
			if ((pause && at < parseTime(pause.since)) || (cleared !== undefined && at < parseTime(cleared))) continue;
			const since = event.occurredAt;
			const until = trigger.timeout ? isoTime(at + durationMs(trigger.timeout)) : undefined;
			(profile.pauses ??= {})[trigger.id] = { since, ...(until ? { until } : {}), event: event.name };
		}
	}
}

function applies(trigger: NegativeTrigger, journey: string): boolean {
	return !trigger.journeys || trigger.journeys.includes(journey);
}

/** Is the journey paused for this contact now? Event pauses (until cleared or timed out) and profile conditions. */
export function checkNegativeTriggers(policy: Policy, profile: Profile, journey: string, now: number): { checks: GuardCheck[]; binding?: NegativeTrigger } {
	const checks: GuardCheck[] = [];
	let binding: NegativeTrigger | undefined;
	for (const trigger of policy.negativeTriggers) {
		if (!applies(trigger, journey)) continue;
		const pause = profile.pauses?.[trigger.id];
		let active = false;
		let detail: string | undefined;
		if (trigger.events.length) {
			active = !!pause && (!pause.until || parseTime(pause.until) > now);
			if (active) detail = `paused since ${pause!.since} by ${pause!.event}${pause!.until ? ` until ${pause!.until}` : ' until a clearing event'}`;
		} else {
			active = trigger.where.every((c) => holds(c, profile));
			if (active) detail = 'the contact matches the trigger’s conditions';
		}
		checks.push({ kind: 'negative_trigger', ruleId: trigger.id, passed: !active, ...(detail ? { detail } : {}) });
		if (active && !binding) binding = trigger;
	}
	return { checks, binding };
}
