import { durationMs } from '../guard/duration';
import { capLedgerKeepMs } from '../guard/ledgerHorizon';
import { withLocks } from '../profiles/identityLock';
import { contentHash, newId } from '../ids';
import type { BlastRadiusRule, Policy } from '../policy/schema';
import type { Store } from '../store/types';
import { isoTime } from '../util/isoTime';

/**
 * Blast radius: how much one agent may do in a window (policy `agents.blastRadius`), whatever each contact's own
 * caps say. Each rule keeps a ledger of its own in the store's cap ledger, under a pseudo-contact named after the
 * rule and the agent, so the count is atomic on every backend (two workers racing for the last slot cannot both
 * get it). `actions` rules take a slot per action; `contacts` rules take one the first time the agent touches a
 * contact in the window (a claim key remembers it).
 */

export type BlastRadiusResult =
	| { ok: true }
	| { ok: false; rule: BlastRadiusRule; count: number; freesAt?: number; explanation: string };

const ledgerOf = (rule: BlastRadiusRule, agentId: string) => `agent-blast:${rule.id}:${agentId}`;
/** The contact is hashed: the key may outlive an erasure of the contact (until its window ends). */
const touchKey = (rule: BlastRadiusRule, agentId: string, contactId: string) => `agent-touch:${rule.id}:${agentId}:${contentHash(contactId, 24)}`;
/** Held while one request counts a contact against the agent's `contacts` rules (see reserveBlastRadius). */
const countingLock = (agentId: string, contactId: string) => `lock:agent-counting:${agentId}:${contentHash(contactId, 24)}`;

/**
 * What an erasure deletes of the agents' `contacts` rules: their marks of the person's contact ids, for the agents
 * that acted on them (hashed, the marks are still found by anyone holding an id), and how far back those acted.
 */
export function blastRadiusTouches(policy: Policy): { windowMs: number; keys(contactIds: string[], agentIds: string[]): string[] } | undefined {
	const rules = policy.agents.blastRadius.filter((r) => r.count === 'contacts');
	if (!rules.length) return undefined;
	return {
		windowMs: Math.max(...rules.map((r) => durationMs(r.window))),
		keys: (contactIds, agentIds) => agentIds.flatMap((agentId) => rulesFor(policy, agentId).flatMap((rule) => (rule.count === 'contacts' ? contactIds.map((contactId) => touchKey(rule, agentId, contactId)) : []))),
	};
}

function rulesFor(policy: Policy, agentId: string): BlastRadiusRule[] {
	return policy.agents.blastRadius.filter((r) => !r.agents || r.agents.includes(agentId));
}

/**
 * Takes a slot in every blast radius rule of the agent, all or none (a full rule gives back what was taken).
 * Every request the engine evaluates counts, whatever its verdict: a looping agent is stopped even while its
 * actions are being denied. A slot is a reservation that expires when its window ends, so it counts exactly as
 * long as the window. `reserve: false` (a dry run) only looks.
 *
 * A contact is marked touched only once every slot is held, and the mark is never taken back: a request that
 * skips a `contacts` rule because its contact is marked relies on a slot really taken. (Marking first and
 * unmarking on a full rule let a twin request for the same new contact pass in between, uncounted.)
 */
export async function reserveBlastRadius(store: Store, policy: Policy, agentId: string, contactId: string, now: number, reserve = true): Promise<BlastRadiusResult> {
	const rules = rulesFor(policy, agentId);
	// Twin requests for one new contact would each take a slot before either marks the contact, and until the second
	// gave its slot back a third contact could be refused: a rule of 2 contacts reached 1. So one request at a time
	// counts a contact; its twin waits, then finds the contact marked. A contact marked in every rule needs no lock:
	// a mark is never taken back within its window.
	if (reserve && (await anyUntouched(store, rules, agentId, contactId, now))) return withLocks(store, [countingLock(agentId, contactId)], () => takeSlots(store, policy, rules, agentId, contactId, now, reserve));
	return takeSlots(store, policy, rules, agentId, contactId, now, reserve);
}

async function anyUntouched(store: Store, rules: BlastRadiusRule[], agentId: string, contactId: string, now: number): Promise<boolean> {
	for (const rule of rules) if (rule.count === 'contacts' && (await store.keyHeldUntil(touchKey(rule, agentId, contactId), now)) === undefined) return true;
	return false;
}

async function takeSlots(store: Store, policy: Policy, rules: BlastRadiusRule[], agentId: string, contactId: string, now: number, reserve: boolean): Promise<BlastRadiusResult> {
	const taken: string[] = [];
	const touches: { key: string; lengthMs: number; reservationId: string }[] = [];
	for (const rule of rules) {
		const lengthMs = durationMs(rule.window);
		const key = rule.count === 'contacts' ? touchKey(rule, agentId, contactId) : undefined;
		if (key && (await store.keyHeldUntil(key, now)) !== undefined) continue;
		const counter = { ruleId: rule.id, limit: rule.limit, since: now - lengthMs, match: {}, excludeTags: [], lengthMs };
		const reservationId = newId('r');
		const ledger = ledgerOf(rule, agentId);
		const verdict = reserve
			? await store.reserveCap({ reservationId, contactId: ledger, channel: 'agent', journey: 'agent', tags: [], at: now, expiresAt: now + lengthMs, keepSince: now - capLedgerKeepMs(policy) }, [counter])
			: await store.peekCap(ledger, [counter], now);
		if (!verdict.ok) {
			for (const id of taken) await store.settleCap(id, 'release');
			const what = rule.count === 'actions' ? 'actions' : 'distinct contacts';
			const freesAt = verdict.freesAt[0];
			return {
				ok: false,
				rule,
				count: verdict.counts[0],
				...(freesAt !== undefined ? { freesAt } : {}),
				explanation: `agent ${agentId} reached blast radius ${rule.id}: ${verdict.counts[0]} of ${rule.limit} ${what} in the last ${rule.window}${freesAt !== undefined ? `; the next slot frees at ${isoTime(freesAt)}` : ''}`,
			};
		}
		if (!reserve) continue;
		taken.push(reservationId);
		if (key) touches.push({ key, lengthMs, reservationId });
	}
	// Should a request have counted the contact meanwhile (a lock held past its time), that request's slot stands.
	for (const touch of touches) if (!(await store.claimKey(touch.key, touch.lengthMs, now))) await store.settleCap(touch.reservationId, 'release');
	return { ok: true };
}
