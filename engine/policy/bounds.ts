import { z } from 'zod/v4';

/**
 * Rule and name lists are read on every decision: past a thousand entries a list is a mistake (or an
 * attack), not a policy, and it would slow every decision down.
 */
export const MAX_LIST = 1_000;
/** Journeys, outcomes, holdout shares: named entries, bounded like lists. */
export const MAX_KEYS = 1_000;
/** Suppression lists are checked on every decision (as sets, guard.ts); a longer list belongs in the CRM's consent fields. */
export const MAX_SUPPRESSED = 10_000;
/** A policy is a few levels deep (journeys.<id>.scoring.rules.<n>.value); anything much deeper is not a policy. */
export const MAX_DEPTH = 32;

/** An array with a bounded length, saying the bound when it is passed. */
export const list = <T extends z.ZodType>(item: T, max = MAX_LIST) => z.array(item).max(max, `must have at most ${max} entries`);

/** A number within [min, max], saying the range (`from 1 to 8760 hours (1 year)`) when it is outside. */
export const within = <T extends z.ZodNumber>(schema: T, min: number, max: number, range: string) => schema.min(min, `must be ${range}`).max(max, `must be ${range}`);
