/** A node step reads its decision from the store once: the object the engine just handed out is taken as it is, that turn only. */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Engine } from '../../engine/engine';
import { chooseChannelStep, openItem } from '../../engine/items';
import { MemoryStore } from '../../engine/store/memory';

const event = { eventId: 'e-1', type: 'track', name: 'Pricing Viewed', identities: { email: 'ada@example.com' }, traits: { consent: { email: 'opted_in' } } };

async function setup() {
	const store = new MemoryStore();
	const engine = new Engine({ store });
	const { decision } = await engine.ingest(event, { journey: 'nurture' });
	const reads = jest.spyOn(store, 'getDecision');
	return { store, engine, id: decision.decisionId, reads };
}

describe('a step reads its decision once', () => {
	test('open then score: one read', async () => {
		const { engine, id, reads } = await setup();
		const scored = await engine.score(await openItem(engine, { item: { decisionId: id } }));
		expect(scored.score).toBeDefined();
		expect(reads).toHaveBeenCalledTimes(1);
		expect((await engine.getDecision(id)).score).toEqual(scored.score);
	});

	test('Choose Channel then its content variant: one read', async () => {
		const { engine, id, reads } = await setup();
		const routed = await chooseChannelStep(engine, await openItem(engine, { item: { decisionId: id } }), { slot: 'subject', variants: 'A\nB' });
		expect(routed.decision.variantChoice?.slot).toBe('subject');
		expect(reads).toHaveBeenCalledTimes(1);
	});

	test('a copy of the decision, or the same object after the event loop turned, is read again', async () => {
		const { engine, id, reads } = await setup();
		const opened = await engine.getDecision(id);
		await engine.score(JSON.parse(JSON.stringify(opened)));
		expect(reads).toHaveBeenCalledTimes(2);
		const held = await engine.getDecision(id);
		await nextTurn();
		// Meanwhile the store moved on: the held object is stale, and the step must not use it.
		await engine.logDecision(id, { campaign: 'spring' });
		const scored = await engine.score(held);
		expect(scored.loggedAt).toBeDefined();
		expect(scored.annotations).toEqual({ campaign: 'spring' });
	});

	test('the object is taken once: a second step on it reads again', async () => {
		const { engine, id, reads } = await setup();
		const opened = await engine.getDecision(id);
		await engine.score(opened);
		expect(reads).toHaveBeenCalledTimes(1);
		await engine.logDecision(opened);
		expect(reads).toHaveBeenCalledTimes(1);
	});

	test('a decision handed out by another store is read from this one', async () => {
		const { engine, id } = await setup();
		const other = new Engine({ store: new MemoryStore() });
		const theirs = await engine.getDecision(id);
		await expect(other.score(theirs)).rejects.toThrow(/not in this engine's decision log/);
	});
});
