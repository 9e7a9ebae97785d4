import { composeStore, type ComposedStore, type Placement } from './compose';
import type { Store } from './types';

type SplitParts<H extends Store, L extends Store> = { hot: H; log: L };

/**
 * `hot` keeps what every decision reads and writes under contention (profiles, de-duplication keys, cap
 * reservations, cursors, timers, learner counts) — Redis; `log` keeps what is written once and queried later
 * (decisions, outcomes, model versions) — PostgreSQL.
 */
export const SPLIT_PLACEMENT: Placement<SplitParts<Store, Store>> = {
	profiles: 'hot',
	claims: 'hot',
	caps: 'hot',
	cursors: 'hot',
	timers: 'hot',
	learnerStats: 'hot',
	decisions: 'log',
	models: 'log',
};

/** Two stores as one (`split:hot=…;log=…`); `parts.hot` and `parts.log` reach each. */
export type SplitStore<H extends Store = Store, L extends Store = Store> = ComposedStore<SplitParts<H, L>>;

export function splitStore<H extends Store, L extends Store>(hot: H, log: L): SplitStore<H, L> {
	return composeStore({ hot, log }, SPLIT_PLACEMENT);
}
