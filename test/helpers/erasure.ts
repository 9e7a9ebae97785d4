import type { Sender } from '../../engine/deliver/provider';
import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import type { PolicyInput } from '../../engine/policy/schema';
import type { Store } from '../../engine/store/types';

/** A sender that counts what it was asked to deliver. */
export function countingSender(): Sender & { attempts: number } {
	const sender = {
		provider: 'counting-esp',
		attempts: 0,
		async attempt() {
			sender.attempts++;
			return { providerMessageId: `esp-${sender.attempts}` };
		},
	};
	return sender;
}

/**
 * An engine on `store` with the default policy and `policy` over it, closed with its store after `run`. With `at`, its
 * clock reads `clock.at` (the test moves it); without, the wall clock.
 */
export async function withEngine(store: Store, run: (engine: Engine, clock: { at: string }) => Promise<void>, policy: Partial<PolicyInput> = {}, at?: string): Promise<void> {
	const clock = { at: at ?? '' };
	const engine = new Engine({ store, policy: loadPolicy({ ...DEFAULT_POLICY, ...policy }), ...(at === undefined ? {} : { now: () => new Date(clock.at) }) });
	try {
		await run(engine, clock);
	} finally {
		await engine.close();
		await store.close();
	}
}

/**
 * Each of the store's `methods` runs `first` before the first call of any of them: an erasure landing as the other
 * operation reaches the store (what another worker, or another flow of this process, does in that window); with
 * `when`, the first call it says yes to.
 */
export function beforeFirstCall<K extends keyof Store>(store: Store, methods: K[], first: () => Promise<unknown>, when: (method: K, args: unknown[]) => boolean = () => true): { ran: () => boolean } {
	let ran = false;
	for (const method of methods) {
		const original = (store[method] as (...args: unknown[]) => Promise<unknown>).bind(store);
		(store as unknown as Record<K, unknown>)[method] = async (...args: unknown[]) => {
			if (!ran && when(method, args)) {
				ran = true;
				await first();
			}
			return original(...args);
		};
	}
	return { ran: () => ran };
}
