/**
 * A review verdict given again (Retry On Fail, an execution retried, a double click): an approval whose check after it
 * never completed is completed, two approvals at once both answer the allowed decision, and an approval holds for the
 * message the reviewer saw whatever order its tags come in.
 */
import { Engine } from '../../engine/engine';
import { guardOutput } from '../../engine/items/outputs';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import type { PolicyInput } from '../../engine/policy/schema';
import { MemoryStore } from '../../engine/store/memory';

const REVIEW: PolicyInput['review'] = [{ id: 'big-discount', when: { field: 'message.offerValue', op: 'gte', value: 30 } }];

function engineWith(extra: Partial<PolicyInput> = {}): Engine {
	return new Engine({ store: new MemoryStore(), policy: loadPolicy({ ...DEFAULT_POLICY, review: REVIEW, sendWithoutCapCheck: ['transactional'], ...extra }), clock: 'event' });
}

/** Ingest → choose → guard at a 40 % offer (over the review threshold): the decision waits for review. */
async function inReview(engine: Engine, email = 'ana@example.com', options: Parameters<Engine['checkCap']>[1] = { offerValue: 40, category: 'promotional' }) {
	const { decision } = await engine.ingest(
		{ type: 'track', name: 'Pricing Viewed', identities: { email }, traits: { consent: { email: 'opted_in' } }, occurredAt: '2026-11-02T10:00:00Z' },
		{ journey: 'nurture' },
	);
	const checked = await engine.checkCap(await engine.chooseChannel(decision), options);
	expect(checked).toMatchObject({ status: 'review', ruleId: 'big-discount' });
	return checked;
}

describe('an approval given again', () => {
	test('an approval retried after its cap check failed finishes that check: allowed with a slot, not left pending and unchecked on Blocked', async () => {
		const engine = engineWith();
		const d = await inReview(engine);
		const store = engine.store as MemoryStore;
		const spy = jest.spyOn(store, 'reserveCapAndClaim').mockRejectedValueOnce(new Error('SQLITE_BUSY: database is locked'));
		// The first approval is written, then its guardrail check fails (Retry On Fail / an execution retried follows).
		await expect(engine.resolveReview(d, { approve: true, reviewer: 'maria@agency.example' })).rejects.toThrow(/SQLITE_BUSY/);
		spy.mockRestore();
		expect(await engine.getDecision(d.decisionId)).toMatchObject({ status: 'pending', review: { verdict: 'approved' }, guard: { outcome: 'review', allowed: false } });
		const retried = await engine.resolveReview(d, { approve: true, reviewer: 'maria@agency.example' });
		// The retry completes the approved decision's check (allowed, a slot held), as the first would have.
		expect(guardOutput(retried)).toBe('allowed');
		expect(retried.guard).toMatchObject({ outcome: 'allowed', reservationId: expect.any(String) });
	});

	test('a decision approved whose check never ran keeps the category it was reviewed under: Send\'s "transactional" does not send it past the caps', async () => {
		const engine = engineWith();
		const d = await inReview(engine);
		const spy = jest.spyOn(engine.store as MemoryStore, 'reserveCapAndClaim').mockRejectedValueOnce(new Error('SQLITE_BUSY: database is locked'));
		await expect(engine.resolveReview(d, { approve: true, reviewer: 'maria@agency.example' })).rejects.toThrow(/SQLITE_BUSY/);
		spy.mockRestore();
		// Frequency Cap checked it (promotional, held for review): Send's category is for a message no cap checked.
		const stored = await engine.getDecision(d.decisionId);
		expect(stored.guard).toBeDefined();
		expect(stored).toMatchObject({ status: 'pending', guard: { outcome: 'review', allowed: false }, review: { verdict: 'approved' }, message: { category: 'promotional' } });
		const sent = await engine.send(stored, { dryRun: true }, { category: 'transactional' }).catch((error: Error) => error);
		// Refused NOT_RESERVED (no slot), the category it was checked under kept.
		expect(sent).toMatchObject({ code: 'NOT_RESERVED' });
		expect((await engine.getDecision(d.decisionId)).message).toMatchObject({ category: 'promotional' });
	});

	test('two approvals at once (a double click, two executions): both answer the allowed decision, neither leaves it on Blocked', async () => {
		const engine = engineWith();
		const d = await inReview(engine);
		const store = engine.store as MemoryStore;
		const original = store.reserveCapAndClaim.bind(store);
		// The first approval's cap check is slow (a busy store); the second approval arrives meanwhile.
		let secondDone!: () => void;
		const secondSettled = new Promise<void>((resolve) => (secondDone = resolve));
		// Held until the second approval has answered (or 1 s, should the second wait for the first).
		const spy = jest.spyOn(store, 'reserveCapAndClaim').mockImplementationOnce(async (...args) => {
			await Promise.race([secondSettled, new Promise((resolve) => setTimeout(resolve, 1000))]);
			return original(...args);
		});
		const first = engine.resolveReview(d, { approve: true, reviewer: 'maria@agency.example' });
		await new Promise((resolve) => setTimeout(resolve, 50));
		const second = engine.resolveReview(d, { approve: true, reviewer: 'sam@agency.example' }).finally(() => secondDone());
		const [a, b] = await Promise.all([first, second]);
		spy.mockRestore();
		expect(guardOutput(a)).toBe('allowed');
		expect(guardOutput(b)).toBe('allowed');
	});

	test('an approval re-checked with the same tags in another order is the message the reviewer saw: not sent to review again', async () => {
		const engine = engineWith();
		const d = await inReview(engine, 'bo@example.com', { offerValue: 40, category: 'promotional', tags: ['spring', 'sale'] });
		const approved = await engine.resolveReview(d, { approve: true, reviewer: 'maria@agency.example' });
		expect(guardOutput(approved)).toBe('allowed');
		// Checked again past its reservation (a Due Trigger, a retried execution) with the tags built in another order.
		const again = await engine.checkCap(approved, { offerValue: 40, category: 'promotional', tags: ['sale', 'spring'] });
		expect(again.status).not.toBe('review');
	});
});
