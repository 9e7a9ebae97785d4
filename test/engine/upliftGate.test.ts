import { join } from 'node:path';
import type { Decision } from '../../engine/audit/schema';
import { seededRandom } from '../../engine/decide/sampling';
import { upliftView } from '../../engine/decide/upliftGate';
import { Engine } from '../../engine/engine';
import { loadPolicy } from '../../engine/policy/load';
import { profileById } from '../../engine/profiles/profiles';
import { TREATED_COLUMN, upliftTrainingTable } from '../../engine/scoring/outcomes';
import { trainAndSave } from '../../engine/scoring/registry';
import { simulate, trainAndSaveUplift, trainUplift } from '../../engine/scoring/uplift';
import { SqliteStore } from '../../engine/store/sqlite';
import { tempDir, trackEvent } from '../helpers/fixtures';

const OPTIONS = { treatment: 'treatment', outcome: 'converted', replicates: 50 } as const;
const base = { channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } } };
const gated = (uplift: Record<string, unknown>, holdout: Record<string, unknown> = { journeys: { cart: 0.2 } }) => ({ ...base, holdout, journeys: { cart: { uplift } } });

const features = (x: Partial<Record<string, number>>) => ({ x0: 0, x1: 0, x2: 0, x3: 0, x4: 0, x5: 0, x6: 0, x7: 0, x8: 0, x9: 0, ...x });
// x0 and x1 make persuadables, x4 sleeping dogs (engine/scoring/uplift/simulate.ts).
const PERSUADABLE = features({ x0: 2, x1: 1.5, x4: -2 });
const SLEEPING_DOG = features({ x0: -1.5, x4: 2.5 });

describe('the uplift gate in the policy', () => {
	test('refuses a gated journey without a holdout, and a gate with both or neither bar', () => {
		expect(() => loadPolicy(gated({ model: 'u', minUplift: 0.01 }, {}))).toThrow(/journeys\.cart\.uplift: an uplift gate needs a holdout .* set holdout\.journeys\.cart/);
		expect(() => loadPolicy(gated({ model: 'u', minUplift: 0.01 }, { journeys: { cart: 0 } }))).toThrow(/needs a holdout/);
		expect(() => loadPolicy(gated({ model: 'u', minUplift: 0.01, topPercent: 30 }))).toThrow(/either minUplift .* or topPercent/);
		expect(() => loadPolicy(gated({ model: 'u' }))).toThrow(/either minUplift .* or topPercent/);
		expect(() => loadPolicy(gated({ model: 'u', topPercent: 0 }))).toThrow(/topPercent/);
		// The global control group keeps the journey learning too.
		expect(loadPolicy(gated({ model: 'u', topPercent: 30 }, { globalShare: 0.1 })).policy.journeys.cart.uplift).toEqual({ model: 'u', topPercent: 30 });
	});
});

describe('the uplift gate in the engine', () => {
	const sim = simulate({ rows: 16_000, seed: 61 });
	const noise = simulate({ rows: 8_000, seed: 31, signal: 0 });
	let store: SqliteStore;

	beforeAll(async () => {
		store = new SqliteStore(join(tempDir(), 'uplift.db'));
		const saved = await trainAndSaveUplift(store, 'cart-uplift', sim.table, { ...OPTIONS, seed: 1 }, { activate: true });
		expect(saved.message).toMatch(/saved and activated as cart-uplift v1; the model beats random targeting/);
		const flat = await trainAndSaveUplift(store, 'flat-uplift', noise.table, { ...OPTIONS, seed: 31 }, { activate: true });
		expect(flat.model.fallback).toBe(true);
	});
	afterAll(() => store.close());

	const engineFor = (policy: object) => new Engine({ store, policy: loadPolicy(policy), random: seededRandom(1) });
	const run = (engine: Engine, email: string, traits: Record<string, number>) => engine.decide(trackEvent(email, 'Cart Abandoned', { traits }), { journey: 'cart', target: { dryRun: true } });

	/** Contacts outside the holdout (the gate only matters for them). */
	async function treatedRun(engine: Engine, prefix: string, traits: Record<string, number>): Promise<Decision> {
		for (let i = 0; i < 20; i++) {
			const d = await run(engine, `${prefix}${i}@x.io`, traits);
			if (d.reason !== 'HOLDOUT') return d;
		}
		throw new Error('every contact was held out');
	}

	test('a persuadable is sent to; a sleeping dog is stopped with LOW_UPLIFT and its predicted uplift in the log', async () => {
		const engine = engineFor(gated({ model: 'cart-uplift', minUplift: 0.05 }));
		const p = await treatedRun(engine, 'persuadable', PERSUADABLE);
		expect(p.status).toBe('sent');
		expect(p.uplift).toMatchObject({ model: 'cart-uplift@v1', fallback: false, threshold: 0.05, admitted: true });
		expect(p.uplift!.predicted).toBeGreaterThan(0.05);
		expect(p.uplift!.factors[0].label).toMatch(/raises the uplift/);
		const d = await treatedRun(engine, 'dog', SLEEPING_DOG);
		expect(d).toMatchObject({ status: 'suppressed', reason: 'LOW_UPLIFT', choice: { method: 'uplift_gate' }, uplift: { admitted: false, fallback: false } });
		expect(d.uplift!.predicted).toBeLessThan(0);
		expect(d.explanation).toMatch(/^predicted uplift -\d+\.\d\d pp \(cart-uplift@v1\) is below the journey's minimum \+5\.00 pp/);
		expect(d.delivery).toBeUndefined();
		const logged = await store.queryDecisions({ reason: 'LOW_UPLIFT' });
		expect(logged.map((x) => x.decisionId)).toContain(d.decisionId);
	});

	test('an agent naming its channel meets the gate of the journey it acts in, like the journey does', async () => {
		const engine = engineFor({ ...gated({ model: 'cart-uplift', minUplift: 0.05 }), agents: { journey: 'cart' } });
		const verdicts = [];
		for (let i = 0; i < 20; i++) {
			const email = `agent-dog${i}@x.io`;
			await run(engine, email, SLEEPING_DOG); // makes the contact known (agents never create contacts)
			verdicts.push(await engine.requestAction({ agentId: 'growth-agent', idempotencyKey: `dog-${i}`, contact: email, channel: 'email' }));
		}
		const gatedOut = verdicts.filter((v) => v.reasons[0] === 'LOW_UPLIFT');
		expect(gatedOut.length).toBeGreaterThan(0);
		expect(verdicts.every((v) => v.verdict === 'deny' && ['LOW_UPLIFT', 'HOLDOUT'].includes(v.reasons[0]))).toBe(true);
		const logged = await store.getDecision(gatedOut[0].decisionId);
		expect(logged).toMatchObject({ status: 'suppressed', reason: 'LOW_UPLIFT', choice: { method: 'uplift_gate' }, agent: { agentId: 'growth-agent' }, uplift: { admitted: false } });
		expect(logged!.delivery).toBeUndefined();
	});

	test('holdout decisions carry the gate’s view too, and the holdout stays on', async () => {
		const engine = engineFor(gated({ model: 'cart-uplift', minUplift: 0.05 }, { journeys: { cart: 0.5 } }));
		const held: Decision[] = [];
		for (let i = 0; i < 30 && held.length < 3; i++) {
			const d = await run(engine, `held${i}@x.io`, SLEEPING_DOG);
			if (d.reason === 'HOLDOUT') held.push(d);
		}
		expect(held.length).toBe(3);
		for (const d of held) expect(d.uplift).toMatchObject({ admitted: false, fallback: false });
	});

	test('top k%: the cut-off comes from the model’s held-out rows', async () => {
		const engine = engineFor(gated({ model: 'cart-uplift', topPercent: 10 }));
		const p = await treatedRun(engine, 'top', PERSUADABLE);
		expect(p.status).toBe('sent');
		const average = await treatedRun(engine, 'avg', features({}));
		expect(average.reason).toBe('LOW_UPLIFT');
		expect(average.explanation).toMatch(/the cut-off of the top 10%/);
		expect(average.uplift!.threshold).toBe(p.uplift!.threshold);
	});

	test('top k% admits about k% of contacts when many are predicted exactly the cut-off; a tied contact always gets the same answer', async () => {
		// Two shallow trees predict a dozen distinct values: about 22% of contacts share the top 10%'s cut-off.
		const tied = await trainAndSaveUplift(store, 'tied-uplift', sim.table, { ...OPTIONS, trees: 2, maxDepth: 2, learner: 'transformed-outcome', seed: 1 }, { activate: true });
		expect(tied.model.fallback).toBe(false);
		const engine = engineFor(gated({ model: 'tied-uplift', topPercent: 10 }));
		const fresh = simulate({ rows: 1500, seed: 77 });
		const traits = (i: number) => Object.fromEntries(fresh.table.columns.slice(0, 10).map((c, f) => [c, Number(fresh.table.rows[i][f])]));
		const decisions: { i: number; d: Decision }[] = [];
		for (let i = 0; i < 1500; i++) {
			const d = await run(engine, `tie${i}@x.io`, traits(i));
			if (d.reason !== 'HOLDOUT') decisions.push({ i, d });
		}
		const sent = decisions.filter(({ d }) => d.status === 'sent');
		expect(sent.length / decisions.length).toBeGreaterThan(0.07);
		expect(sent.length / decisions.length).toBeLessThan(0.13);
		expect(tied.model.cutoffShares!.at[9]).toBeGreaterThan(0.15);
		// At the cut-off some are sent and some not, each decision saying why; the same contact gets the same answer again.
		const atCut = decisions.filter(({ d }) => d.uplift!.note?.includes('predicted exactly the cut-off of the top 10%'));
		const inTie = atCut.find(({ d }) => d.status === 'sent')!;
		const outTie = atCut.find(({ d }) => d.reason === 'LOW_UPLIFT')!;
		expect(inTie.d.uplift!.note).toMatch(/to keep the top 10%, \d+\.\d% of them are sent to, chosen by a stable hash of the contact, and this contact is one of them/);
		expect(outTie.d.uplift!.note).toMatch(/and this contact is not one of them/);
		expect(outTie.d.explanation).toMatch(/predicted uplift \+\d+\.\d\d pp \(tied-uplift@v1\) is exactly \+\d+\.\d\d pp, the cut-off of the top 10%, shared by more contacts than that share holds/);
		for (const { d } of [inTie, outTie]) expect((await upliftView(store, { model: 'tied-uplift', topPercent: 10 }, (await profileById(store, d.contactId))!)).admitted).toBe(d.uplift!.admitted);
	});

	test('a model that does not beat random: every decision gets the average effect and says so', async () => {
		const model = trainUplift(noise.table, { ...OPTIONS, seed: 31 });
		const low = engineFor(gated({ model: 'flat-uplift', minUplift: model.averageEffect + 0.01 }));
		const d = await treatedRun(low, 'flat', PERSUADABLE);
		expect(d).toMatchObject({ reason: 'LOW_UPLIFT', uplift: { fallback: true, factors: [] } });
		expect(d.uplift!.predicted).toBeCloseTo(model.averageEffect, 12);
		expect(d.uplift!.note).toMatch(/flat-uplift@v1 does not beat random targeting, so every contact gets the journey's average effect/);
		expect(d.explanation).toMatch(/the journey's average effect\) is below/);
		const high = engineFor(gated({ model: 'flat-uplift', minUplift: model.averageEffect - 0.01 }));
		const sent = await treatedRun(high, 'flat2', SLEEPING_DOG);
		expect(sent).toMatchObject({ status: 'sent', uplift: { fallback: true, admitted: true } });
		expect(sent.uplift!.note).toMatch(/does not beat random/);
	});

	test('without a usable model the gate admits and says why; a propensity model under that name is not read as one', async () => {
		const engine = engineFor(gated({ model: 'never-trained', minUplift: 0.05 }));
		const d = await treatedRun(engine, 'none', SLEEPING_DOG);
		expect(d).toMatchObject({ status: 'sent', uplift: { admitted: true, fallback: true } });
		expect(d.uplift!.note).toMatch(/no version of uplift model "never-trained" is active: the gate admits every contact until one is trained/);
		await trainAndSave(store, 'lead', sim.table, { target: 'converted', exclude: ['treatment'], trees: 3 }, { activate: true });
		const wrong = await treatedRun(engineFor(gated({ model: 'lead', minUplift: 0.05 })), 'wrong', SLEEPING_DOG);
		expect(wrong.uplift!.note).toMatch(/uplift model "lead" could not be loaded \(.*propensity model .* not an uplift model.*\): the gate admits/);
	});

	test('training rows from the store: one per contact, arm from the holdout hash, gated decisions left out on both arms', async () => {
		const path = join(tempDir(), 'rows.db');
		const own = new SqliteStore(path);
		await trainAndSaveUplift(own, 'cart-uplift', sim.table, { ...OPTIONS, seed: 1 }, { activate: true });
		const engine = new Engine({ store: own, policy: loadPolicy(gated({ model: 'cart-uplift', minUplift: 0.05 }, { journeys: { cart: 0.3 } })), random: seededRandom(2) });
		const all: Decision[] = [];
		for (let i = 0; i < 40; i++) all.push(await run(engine, `row${i}@x.io`, i % 2 ? PERSUADABLE : SLEEPING_DOG));
		await engine.recordOutcome({ contactId: all[1].contactId, type: 'conversion' });
		const table = await upliftTrainingTable(own, { journey: 'cart' });
		const col = (name: string) => table.columns.indexOf(name);
		const admitted = all.filter((d) => d.uplift!.admitted);
		expect(admitted.length).toBe(20);
		expect(table.rows).toHaveLength(admitted.length);
		const byArm = table.rows.map((r) => r[col(TREATED_COLUMN)]);
		expect(byArm.filter((v) => v === '0')).toHaveLength(admitted.filter((d) => d.reason === 'HOLDOUT').length);
		expect(byArm.filter((v) => v === '1')).toHaveLength(admitted.filter((d) => d.reason !== 'HOLDOUT').length);
		expect(table.rows.filter((r) => r[col('converted')] === '1')).toHaveLength(1);
		expect(table.columns).toEqual(expect.arrayContaining(['x2', 'x4', TREATED_COLUMN, 'converted']));
		await expect(upliftTrainingTable(own, { journey: 'winback' })).rejects.toThrow(/No decisions with a known contact in journey "winback"/);
		// A gate that stops everyone leaves nothing comparable: said plainly, not as "no decisions".
		const shut = new Engine({ store: own, policy: loadPolicy({ ...base, holdout: { journeys: { shut: 0.3 } }, journeys: { shut: { uplift: { model: 'cart-uplift', minUplift: 0.9 } } } }) });
		for (let i = 0; i < 5; i++) await shut.decide(trackEvent(`shut${i}@x.io`, 'Cart Abandoned', { traits: PERSUADABLE }), { journey: 'shut', target: { dryRun: true } });
		await expect(upliftTrainingTable(own, { journey: 'shut' })).rejects.toThrow(/All 5 decisions of journey "shut" were stopped by its uplift gate.*Lower journeys\.shut\.uplift/);
		await engine.close();
	});

	test('a contact messaged, then held out, is no row of either arm (its conversion cannot be told apart); merged ids too', async () => {
		const own = new SqliteStore(join(tempDir(), 'arms.db'));
		const dry = { journey: 'cart', target: { dryRun: true } } as const;
		const at = (minute: string) => () => new Date(`2026-06-01T10:${minute}:00Z`);
		// The holdout share is raised between the two engines: a contact can move from the messaged arm to the held-out one.
		const before = new Engine({ store: own, policy: loadPolicy(base), random: seededRandom(1), now: at('00') });
		const after = new Engine({ store: own, policy: loadPolicy({ ...base, holdout: { journeys: { cart: 0.5 } } }), random: seededRandom(1), now: at('01') });
		let switched = false;
		for (let i = 0; i < 40 && !switched; i++) {
			const sent = await before.decide(trackEvent(`switch${i}@x.io`, 'Cart Abandoned'), dry);
			expect(sent.reason).not.toBe('HOLDOUT');
			await before.recordOutcome({ decisionId: sent.decisionId, type: 'conversion' });
			switched = (await after.decide(trackEvent(`switch${i}@x.io`, 'Cart Abandoned', { properties: { visit: 2 } }), dry)).reason === 'HOLDOUT';
		}
		// Two ids of one person: the e-mail messaged and converted, the user id held out later; an event links them.
		let merged = false;
		for (let i = 0; i < 40 && !merged; i++) {
			const b = await before.decide({ type: 'track', name: 'Cart Abandoned', identities: { email: `m${i}@x.io` } }, dry);
			await before.recordOutcome({ decisionId: b.decisionId, type: 'conversion' });
			merged = (await after.decide({ type: 'track', name: 'Cart Abandoned', identities: { userId: `u${i}` } }, dry)).reason === 'HOLDOUT';
			if (merged) await after.decide({ type: 'track', name: 'Logged In', identities: { userId: `u${i}`, email: `m${i}@x.io` } }, { journey: 'login', target: { dryRun: true } });
		}
		expect([switched, merged]).toEqual([true, true]);
		const table = await upliftTrainingTable(own, { journey: 'cart' });
		const col = (name: string) => table.columns.indexOf(name);
		// Both people have decisions in both arms: neither is a row, so no message's conversion is the control arm's.
		expect(table.rows.filter((r) => r[col(TREATED_COLUMN)] === '0')).toEqual([]);
		expect(table.rows.length).toBeGreaterThan(0);
		await before.close();
		await after.close();
	});
});
