/**
 * The decisions a trigger's flow had not finished when it stopped (engine/events/unfinished.ts), on every backend:
 * only those still pending are kept, two instances of one flow keep theirs side by side, and one taker takes them.
 */
import { keepUnfinished, takeUnfinished } from '../../engine/events/unfinished';
import { withEngine } from '../helpers/erasure';
import { forEveryBackend, type Backend } from '../helpers/rawStores';

const dry = { journey: 'nurture', target: { dryRun: true as const } };
const event = (n: number) => ({ type: 'track', name: 'Demo Requested', identities: { email: `unfinished${n}@example.com` } });

forEveryBackend('unfinished', (backend: Backend) => {
	test(`${backend.name}: keeps the pending decisions of a stopped flow, and hands them out once`, async () => {
		await withEngine(backend.open(), async (engine) => {
			const open = await Promise.all([1, 2, 3].map(async (n) => (await engine.ingest(event(n), { journey: 'nurture' })).decision));
			const sent = await engine.decide(event(4), dry);
			expect(sent.status).toBe('sent');
			// Two instances of the flow on one store stop, each with its own decisions in flight (and one already finished).
			expect(await keepUnfinished(engine, 'nurture', 'node-a', [open[0].decisionId, sent.decisionId])).toBe(1);
			expect(await keepUnfinished(engine, 'nurture', 'node-a', [open[1].decisionId])).toBe(2);
			expect(await keepUnfinished(engine, 'nurture', 'node-b', [open[2].decisionId])).toBe(1);
			// One finished after it was kept (the old flow's last step landed): not handed out again.
			expect((await engine.send(await engine.checkCap(await engine.chooseChannel(await engine.score(open[1].decisionId))), dry.target)).status).toBe('sent');
			const [first, second] = await Promise.all([takeUnfinished(engine, 'nurture', 'node-a'), takeUnfinished(engine, 'nurture', 'node-a')]);
			const taken = [...first, ...second].map((d) => d.decisionId);
			expect(taken).toEqual([open[0].decisionId]);
			expect((await takeUnfinished(engine, 'nurture', 'node-b')).map((d) => d.decisionId)).toEqual([open[2].decisionId]);
			expect(await takeUnfinished(engine, 'nurture', 'node-b')).toEqual([]);
			expect(await takeUnfinished(engine, 'cart', 'node-a')).toEqual([]);
		});
	});
});
