import { exportJsonl, iterateDecisions } from '../../engine/audit/export';
import { MemoryStore } from '../../engine/store/memory';
import { decision } from '../helpers/fixtures';

describe('decision log export', () => {
	test('pages through every matching decision in creation order and writes JSONL', async () => {
		const store = new MemoryStore();
		for (let i = 0; i < 25; i++) {
			await store.putDecision(decision(`d${String(i).padStart(2, '0')}`, { createdAt: `2026-11-01T00:00:${String(i).padStart(2, '0')}.000Z`, journey: i % 2 ? 'a' : 'b' }));
		}
		const seen: string[] = [];
		for await (const d of iterateDecisions(store, { journey: 'a' }, 4)) seen.push(d.decisionId);
		expect(seen).toEqual(Array.from({ length: 12 }, (_, k) => `d${String(2 * k + 1).padStart(2, '0')}`));
		const lines: string[] = [];
		expect(await exportJsonl(store, {}, (l) => lines.push(l))).toBe(25);
		expect(lines.every((l) => l.endsWith('\n'))).toBe(true);
		expect(JSON.parse(lines[24]).decisionId).toBe('d24');
	});
});
