import type { CapWindow, Policy } from '../policy/schema';
import { durationMs } from './duration';

const DAY_MS = 86_400_000;
/** How far back a calendar window can start, with a day for time zones and daylight saving. */
const CALENDAR_MS = { day: 2 * DAY_MS, week: 8 * DAY_MS, month: 32 * DAY_MS } as const;
/**
 * The ledger keeps at least a calendar month, whatever this policy's caps: another policy on the same store, or
 * a monthly cap added later, still finds the month's sends.
 */
const LEDGER_FLOOR_MS = CALENDAR_MS.month;

const windowMs = (w: CapWindow) => (w.kind === 'rolling' ? durationMs(w.duration) : CALENDAR_MS[w.unit]);

/** Worked out once per policy: every cap check passes it to the store. */
const keepMsByPolicy = new WeakMap<Policy, number>();

/**
 * How long a cap ledger entry can still count under the policy: its longest window, the agents' blast radius
 * windows included (they keep their counts in the same ledger), at least LEDGER_FLOOR_MS. The retention job
 * prunes what is older; the memory store drops it as soon as it checks the contact again.
 */
export function capLedgerKeepMs(policy: Policy): number {
	let keepMs = keepMsByPolicy.get(policy);
	if (keepMs !== undefined) return keepMs;
	const blastRadius = policy.agents.blastRadius.map((rule) => durationMs(rule.window));
	keepMs = Math.max(LEDGER_FLOOR_MS, ...policy.caps.map((c) => windowMs(c.window)), ...blastRadius);
	keepMsByPolicy.set(policy, keepMs);
	return keepMs;
}
