import { newId } from '../../engine/ids';

describe('newId', () => {
	test('time first, then 80 random bits in hex; distinct across many ids and pool refills; later ids sort later', async () => {
		const ids = Array.from({ length: 5_000 }, () => newId('r'));
		for (const id of ids) expect(id).toMatch(/^r_[0-9a-z]{9}[0-9a-f]{20}$/);
		expect(new Set(ids).size).toBe(ids.length);
		// The random parts differ too (not only the ids): the pool is refilled, never reused.
		expect(new Set(ids.map((id) => id.slice(-20))).size).toBe(ids.length);
		const before = newId('d');
		await new Promise((resolve) => setTimeout(resolve, 5));
		expect(newId('d') > before).toBe(true);
		const t0 = Date.now();
		const ms = parseInt(newId('d').slice(2, 11), 36);
		expect(ms).toBeGreaterThanOrEqual(t0);
		expect(ms).toBeLessThanOrEqual(Date.now());
	});
});
