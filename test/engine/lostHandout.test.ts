/**
 * The n8n Poll Trigger's hand-out records (engine/events/unfinished.ts recordHandout / lostHandout) read back when they
 * are not what a check wrote: not an object, too many ids, older than events are acted on.
 */
import { type HandoutMark, lostHandout, MAX_HANDOUT, recordHandout } from '../../engine/events/unfinished';
import { MemoryStore } from '../../engine/store/memory';
import { withEngine } from '../helpers/erasure';

const NODE = 'wf-1/poll-node';

describe('a Poll Trigger check n8n drops', () => {
	test('a record that is not an object (a corrupt or hand-edited cursor) does not fail every check', async () => {
		await withEngine(new MemoryStore(), async (engine) => {
			const kept: HandoutMark = { instance: 'instance-1', token: 'kept' };
			await engine.store.setCursor(`handout:${NODE}:${kept.instance}`, 'null', undefined);
			await expect(lostHandout(engine, NODE, kept)).resolves.toEqual([]);
		});
	});

	test('a record holding more ids than any check records is not read whole (at most MAX_HANDOUT reads)', async () => {
		await withEngine(new MemoryStore(), async (engine) => {
			const kept: HandoutMark = { instance: 'instance-1', token: 'kept' };
			const ids = Array.from({ length: 50_000 }, (_, n) => `d_missing_${n}`);
			await engine.store.setCursor(`handout:${NODE}:${kept.instance}`, JSON.stringify({ token: 'other', decisionIds: ids }), undefined);
			const reads = jest.spyOn(engine.store, 'getDecision');
			await lostHandout(engine, NODE, kept);
			expect(reads.mock.calls.length).toBeLessThanOrEqual(MAX_HANDOUT);
		});
	});

	test('a hand-out dropped longer ago than events are acted on (dedupWindowHours) is not handed out again', async () => {
		await withEngine(new MemoryStore(), async (engine) => {
			const { decision } = await engine.ingest({ type: 'track', name: 'Cart Abandoned', identities: { email: 'late@example.com' } }, { journey: 'cart' });
			const kept: HandoutMark = { instance: 'instance-1', token: 'kept' };
			const droppedAt = Date.now();
			await recordHandout(engine, NODE, { instance: kept.instance, token: 'dropped' }, [decision.decisionId], droppedAt);
			const window = engine.policy.dedupWindowHours * 3_600_000;
			expect((await lostHandout(engine, NODE, kept, droppedAt + window)).map((d) => d.decisionId)).toEqual([decision.decisionId]);
			expect(await lostHandout(engine, NODE, kept, droppedAt + window + 1)).toEqual([]);
		});
	});
});
