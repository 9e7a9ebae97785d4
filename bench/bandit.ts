import type { Channel } from '../engine/channels';
import { armDeltas, chooseArm, outcomeDelta } from '../engine/decide/learner';
import { Random, seededRandom } from '../engine/decide/sampling';
import { loadPolicy } from '../engine/policy/load';
import type { PolicyInput } from '../engine/policy/schema';
import { MemoryStore } from '../engine/store/memory';
import { fmt, print } from './stats';

/**
 * A simulated marketing world: four contexts, five channels, a known conversion chance for each pair
 * (the best channel differs by context, and the policy's default order puts email first, which is
 * best in only one context). Each strategy meets the same stream of contacts (same seed) and its
 * pseudo-regret, Σ (best chance in the context − chance of the chosen channel), is summed. Ours is the
 * engine's own learner (chooseArm, armDeltas, outcomeDelta on a MemoryStore), exactly as Choose Channel
 * and Record Outcome use it.
 */
export const CHANNELS: Channel[] = ['email', 'sms', 'push', 'in_app', 'paid_audience'];
export const WORLD: Record<string, number[]> = {
	'journey=cart|step=Cart Abandoned|tier=hot|lifecycle=lead': [0.04, 0.12, 0.06, 0.05, 0.02],
	'journey=cart|step=Cart Abandoned|tier=cold|lifecycle=lead': [0.08, 0.03, 0.04, 0.05, 0.02],
	'journey=browse|step=Product Viewed|tier=hot|lifecycle=customer': [0.05, 0.06, 0.03, 0.14, 0.04],
	'journey=browse|step=Product Viewed|tier=cold|lifecycle=customer': [0.03, 0.02, 0.07, 0.04, 0.11],
};
const CONTEXTS = Object.keys(WORLD);

export interface Strategy {
	name: string;
	choose(context: string, random: Random): Promise<number>;
	learn(context: string, arm: number, converted: boolean): Promise<void>;
}

export function ourLearner(policy: Partial<PolicyInput> = {}): Strategy {
	const { policy: p } = loadPolicy({ channelOrder: CHANNELS, ...policy });
	const store = new MemoryStore();
	return {
		name: 'ours (Thompson, pooled)',
		async choose(context, random) {
			const picked = await chooseArm({ store, policy: p, arms: CHANNELS, context, random });
			return CHANNELS.indexOf(picked.arm as Channel);
		},
		async learn(context, arm, converted) {
			await store.addArmStats(armDeltas(context, CHANNELS[arm]));
			const delta = converted && outcomeDelta({ outcomeId: 'o', type: 'conversion', at: '' }, p.learner, true);
			if (delta) await store.addArmStats(armDeltas(context, CHANNELS[arm], delta));
		},
	};
}

export const uniform: () => Strategy = () => ({ name: 'uniform random', choose: async (_c, random) => Math.floor(random() * CHANNELS.length), learn: async () => {} });
export const fixedOrder: () => Strategy = () => ({ name: 'fixed default order', choose: async () => 0, learn: async () => {} });

/** ε-greedy per context on observed rates (untried channels first), ε = 0.1. */
export function epsilonGreedy(epsilon = 0.1): Strategy {
	const counts = new Map<string, { n: number[]; s: number[] }>();
	const of = (c: string) => counts.get(c) ?? counts.set(c, { n: CHANNELS.map(() => 0), s: CHANNELS.map(() => 0) }).get(c)!;
	return {
		name: `epsilon-greedy (ε=${epsilon})`,
		async choose(context, random) {
			const { n, s } = of(context);
			if (random() < epsilon) return Math.floor(random() * CHANNELS.length);
			const untried = n.indexOf(0);
			if (untried >= 0) return untried;
			return n.reduce((best, _, i) => (s[i] / n[i] > s[best] / n[best] ? i : best), 0);
		},
		async learn(context, arm, converted) {
			const c = of(context);
			c.n[arm] += 1;
			if (converted) c.s[arm] += 1;
		},
	};
}

export interface RunResult {
	name: string;
	regret: number;
	/** Share of the last `tail` decisions that chose the best channel of their context. */
	bestShareTail: number;
}

/**
 * Runs one strategy. With `drift`, the hot-cart context's best channel changes halfway (sms and push
 * swap), and the tail share is measured against the new best.
 */
export async function simulate(strategy: Strategy, options: { decisions: number; seed: number; drift?: boolean; tail?: number }): Promise<RunResult> {
	const world = seededRandom(options.seed);
	const choices = seededRandom(options.seed * 7919 + 1);
	const tail = options.tail ?? 10_000;
	let regret = 0;
	let bestTail = 0;
	for (let i = 0; i < options.decisions; i++) {
		const context = CONTEXTS[Math.floor(world() * CONTEXTS.length)];
		let rates = WORLD[context];
		if (options.drift && i >= options.decisions / 2 && context === CONTEXTS[0]) rates = [rates[0], rates[2], rates[1], rates[3], rates[4]];
		const best = Math.max(...rates);
		const arm = await strategy.choose(context, choices);
		regret += best - rates[arm];
		if (i >= options.decisions - tail && rates[arm] === best) bestTail++;
		await strategy.learn(context, arm, world() < rates[arm]);
	}
	return { name: strategy.name, regret, bestShareTail: bestTail / Math.min(tail, options.decisions) };
}

const DECISIONS = Number(process.env.BENCH_BANDIT_DECISIONS ?? 50_000);
const SEEDS = (process.env.BENCH_BANDIT_SEEDS ?? '1,2,3').split(',').map(Number);

export async function benchBandit(): Promise<void> {
	print(`bench/bandit — ${DECISIONS.toLocaleString('en-US')} decisions, ${CONTEXTS.length} contexts × ${CHANNELS.length} channels, seeds ${SEEDS.join(', ')}`);
	for (const drift of [false, true]) {
		print(`\n${drift ? 'with drift (the hot-cart context swaps its best channel halfway)' : 'stationary'}`);
		print('strategy                     | regret (mean of seeds) | vs uniform | vs ours | best channel, last 10,000');
		const rows: RunResult[][] = [];
		for (const make of [() => ourLearner(), uniform, fixedOrder, () => epsilonGreedy(0.1)]) {
			const runs: RunResult[] = [];
			for (const seed of SEEDS) runs.push(await simulate(make(), { decisions: DECISIONS, seed, drift }));
			rows.push(runs);
		}
		const mean = (runs: RunResult[], f: (r: RunResult) => number) => runs.reduce((a, r) => a + f(r), 0) / runs.length;
		const uniformRegret = mean(rows[1], (r) => r.regret);
		const oursRegret = mean(rows[0], (r) => r.regret);
		for (const runs of rows) {
			const regret = mean(runs, (r) => r.regret);
			print(
				`${runs[0].name.padEnd(28)} | ${fmt(regret, 1).padStart(22)} | ${`${fmt((regret / uniformRegret) * 100, 1)}%`.padStart(10)} | ${`${fmt(regret / oursRegret, 2)}×`.padStart(7)} | ${fmt(mean(runs, (r) => r.bestShareTail) * 100, 1)}% (per seed: ${runs.map((r) => fmt(r.bestShareTail * 100, 1)).join(', ')})`,
			);
		}
	}
}

if (require.main === module) {
	benchBandit().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
