import { seededRandom } from '../../engine/decide/sampling';
import { Engine } from '../../engine/engine';
import { loadPolicy } from '../../engine/policy/load';
import { modelOperation } from '../../engine/scoring/registry';
import { OUTCOME_EVENT_SKIPPED, OUTCOME_LABEL, outcomeTrainingTable, upliftTrainingTable } from '../../engine/scoring/outcomes';
import { MemoryStore } from '../../engine/store/memory';

/** Training rows built from the decision log and its recorded outcomes (engine/scoring/outcomes.ts). */

const dry = (journey: string) => ({ journey, target: { dryRun: true as const } });
const base = { channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } } };

describe('training rows from recorded outcomes', () => {
	test("a journey's own outcome event is not a feature: its counter is the label itself", async () => {
		const store = new MemoryStore();
		const policy = loadPolicy({ ...base, holdout: { journeys: { cart: 0.3 } }, journeys: { cart: { triggers: ['Cart Abandoned'], outcomes: { 'Order Completed': { type: 'conversion' } } } } });
		const engine = new Engine({ store, policy, random: seededRandom(1) });
		for (let i = 0; i < 30; i++) {
			const email = `c${i}@x.io`;
			await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { email }, traits: { plan: i % 2 ? 'pro' : 'free' } }, dry('cart'));
			// The order is the conversion of the cart message (policy journeys.cart.outcomes), and a counter on the profile.
			if (i % 3 === 0) await engine.decide({ type: 'track', name: 'Order Completed', identities: { email } }, dry('cart'));
		}
		const propensity = await outcomeTrainingTable(store);
		const uplift = await upliftTrainingTable(store, { journey: 'cart' });
		await engine.close();
		for (const table of [propensity, uplift]) {
			expect(table.columns).not.toContain('Order Completed');
			expect(table.columns).toEqual(expect.arrayContaining(['Cart Abandoned', 'plan', OUTCOME_LABEL]));
			expect(table.skipped).toEqual([{ name: 'Order Completed', reason: OUTCOME_EVENT_SKIPPED }]);
		}
		expect(propensity.rows.filter((r) => r[propensity.columns.indexOf(OUTCOME_LABEL)] === '1')).toHaveLength(10);
	});

	test('outcome events the policy names are left out even when the log attributed none, and a model lists them as not used', async () => {
		const store = new MemoryStore();
		const policy = loadPolicy({ ...base, holdout: { globalShare: 0, journeys: {} }, journeys: { cart: { triggers: ['Cart Abandoned'], outcomes: { 'Email Clicked': { type: 'click' } } } } });
		const engine = new Engine({ store, policy, random: seededRandom(1) });
		for (let i = 0; i < 40; i++) {
			const email = `c${i}@x.io`;
			// A click reported in another journey: counted on the profile, never an outcome of a cart message in the log.
			if (i % 2) await engine.decide({ type: 'track', name: 'Email Clicked', identities: { email } }, dry('nurture'));
			const d = await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { email }, traits: { visits: i % 7 } }, dry('cart'));
			if (i % 4 === 0) await engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion' });
		}
		const logOnly = await outcomeTrainingTable(store, { journey: 'cart' });
		expect(logOnly.columns).toContain('Email Clicked');
		const trained = await modelOperation(store, { operation: 'retrain', name: 'lead', outcomes: { journey: 'cart' }, options: { trees: 3, minLeaf: 1 } }, engine.policy);
		await engine.close();
		expect(trained.summary).toBeDefined();
		const withPolicy = await outcomeTrainingTable(store, { journey: 'cart', outcomeEvents: ['email clicked'] });
		expect(withPolicy.columns).not.toContain('Email Clicked');
		expect(withPolicy.skipped).toEqual([{ name: 'Email Clicked', reason: OUTCOME_EVENT_SKIPPED }]);
		const version = await store.getModelVersion('lead', 1);
		expect(JSON.parse(version!.body).spec.skipped).toEqual(expect.arrayContaining([{ name: 'Email Clicked', reason: OUTCOME_EVENT_SKIPPED }]));
	});

	test('a contact merged into another keeps its conversion: the person is one row, labelled converted', async () => {
		const store = new MemoryStore();
		const now = () => new Date('2026-06-01T10:05:00Z');
		const engine = new Engine({ store, policy: loadPolicy({ ...base, holdout: { globalShare: 0, journeys: {} }, journeys: { cart: { triggers: ['Cart Abandoned'] } } }), random: seededRandom(1), now });
		// A (a user id) is the older contact; B (an email) converts; then an event links them and B merges into A.
		const a = await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { userId: 'u-a' }, occurredAt: '2026-06-01T10:00:00Z' }, dry('cart'));
		const b = await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { email: 'b@x.io' }, occurredAt: '2026-06-01T10:01:00Z' }, dry('cart'));
		await engine.recordOutcome({ decisionId: b.decisionId, type: 'conversion' });
		const link = await engine.decide({ type: 'track', name: 'Logged In', identities: { userId: 'u-a', email: 'b@x.io' }, occurredAt: '2026-06-01T10:02:00Z' }, dry('cart'));
		expect(link.contactId).toBe(a.contactId);
		const table = await outcomeTrainingTable(store);
		const uplift = await upliftTrainingTable(store, { journey: 'cart' });
		await engine.close();
		const label = table.columns.indexOf(OUTCOME_LABEL);
		expect(table.rows.map((r) => r[label])).toEqual(['1']);
		expect(uplift.rows.map((r) => [r[uplift.columns.indexOf('treated')], r[uplift.columns.indexOf(OUTCOME_LABEL)]])).toEqual([['1', '1']]);
	});
});
