import { join } from 'node:path';
import { composeStore, type Placement } from '../../engine/store/compose';
import { MemoryStore } from '../../engine/store/memory';
import { splitStore } from '../../engine/store/split';
import { SqliteStore } from '../../engine/store/sqlite';
import { decision, profile, tempDir } from '../helpers/fixtures';
import { describeStoreContract } from './storeContract';

// The split placement over two embedded backends: the whole contract holds across a composition.
describeStoreContract('composed memory (hot) + sqlite (log)', () => splitStore(new MemoryStore(), new SqliteStore(join(tempDir(), 'log.db'))));
// Every role on a part of its own: each folded step runs its plain methods over the composed store, to the same contract.
describeStoreContract('composed, each role apart', () => apart().store);

/** Each placed role on its own part, so a test sees where every call went. */
function apart() {
	const parts = { people: new MemoryStore(), keys: new MemoryStore(), ledger: new MemoryStore(), log: new MemoryStore(), rest: new MemoryStore() };
	const placement: Placement<typeof parts> = { profiles: 'people', claims: 'keys', caps: 'ledger', decisions: 'log', models: 'log', cursors: 'rest', timers: 'rest', learnerStats: 'rest' };
	return { parts, store: composeStore(parts, placement) };
}

describe('composeStore', () => {
	test('each role goes to the part it is placed on; the kind names every part', async () => {
		const { parts, store } = apart();
		expect(store.kind).toBe('memory+memory+memory+memory+memory');
		expect(store.parts).toBe(parts);
		await store.saveProfile(profile('c1'), ['email:a@x.io'], []);
		await store.putDecision(decision('d1', { contactId: 'c1' }));
		expect(await store.claimKey('k', 1000, 0)).toBe(true);
		await store.reserveCap({ reservationId: 'r1', contactId: 'c1', channel: 'email', journey: 'nurture', tags: [], at: 0, expiresAt: 1000 }, []);
		await store.addArmStats([{ key: 'ctx|email', delta: { trials: 1 } }]);
		expect(await parts.people.getProfile('c1')).toBeDefined();
		expect(await parts.log.getDecision('d1')).toBeDefined();
		expect(await parts.keys.keyHeldUntil('k', 0)).toBe(1000);
		expect(await parts.ledger.settleCap('r1', 'commit')).toBe(true);
		expect((await parts.rest.getArmStats(['ctx|email'])).get('ctx|email')?.trials).toBe(1);
		for (const other of [parts.keys, parts.ledger, parts.log, parts.rest]) expect(await other.getProfile('c1')).toBeUndefined();
		expect(await parts.people.getDecision('d1')).toBeUndefined();
	});

	test('named records run over the composed primitives: records on the cursors part, old claims read on the claims part', async () => {
		const { parts, store } = apart();
		expect(await store.promoteVariant('slot', 'B')).toBe(true);
		expect(await parts.rest.variantWinner('slot')).toBe('B');
		await parts.keys.holdKey('variant-approved:old', 100 * 365 * 86_400_000, Date.now());
		expect(await store.isVariantApproved('old')).toBe(true);
		expect(await parts.rest.isVariantApproved('old')).toBe(false);
	});

	test('a folded step goes to the part keeping every role it touches, else runs its plain methods across the parts', async () => {
		const parts = { hot: new MemoryStore(), ledger: new MemoryStore(), log: new MemoryStore() };
		// Spied before composing: the composed store binds each part's methods once.
		const onHot = jest.spyOn(parts.hot, 'claimKeyUnlessMarked');
		const onLedger = jest.spyOn(parts.ledger, 'settleCapAndCount');
		const capAndClaim = [jest.spyOn(parts.hot, 'reserveCapAndClaim'), jest.spyOn(parts.ledger, 'reserveCapAndClaim')];
		const store = composeStore(parts, { profiles: 'hot', claims: 'hot', caps: 'ledger', cursors: 'hot', timers: 'hot', learnerStats: 'ledger', decisions: 'log', models: 'log' });
		expect(await store.claimKeyUnlessMarked('lease', 1000, 0, 'mark', 0)).toBe('claimed');
		expect(onHot).toHaveBeenCalledTimes(1);
		// Caps and learner counts on one part: the step is that part's.
		await store.reserveCap({ reservationId: 'r1', contactId: 'c1', channel: 'email', journey: 'j', tags: [], at: 0, expiresAt: 1000 }, []);
		expect(await store.settleCapAndCount('r1', 'commit', [{ key: 'ctx#email', delta: { trials: 1 } }])).toBe(true);
		expect(onLedger).toHaveBeenCalledTimes(1);
		expect((await parts.ledger.getArmStats(['ctx#email'])).get('ctx#email')?.trials).toBe(1);
		// Caps and claims apart: neither part's own step; the slot on the ledger's part, the key on the claims' part.
		const verdict = await store.reserveCapAndClaim({ reservationId: 'r2', contactId: 'c1', channel: 'email', journey: 'j', tags: [], at: 0, expiresAt: 1000 }, [], { key: 'send:d1', ttlMs: 500 });
		expect(verdict).toMatchObject({ ok: true, claimed: true });
		for (const step of capAndClaim) expect(step).not.toHaveBeenCalled();
		expect(await parts.hot.keyHeldUntil('send:d1', 0)).toBe(500);
		expect(await parts.ledger.settleCap('r2', 'release')).toBe(true);
	});

	test('the cap commit with the learner count, composed across parts, writes through the learner part so its SQLite copy stays exact', async () => {
		const counts = new SqliteStore(join(tempDir(), 'counts.db'));
		const parts = { hot: new MemoryStore(), counts };
		const store = composeStore(parts, { profiles: 'hot', claims: 'hot', caps: 'hot', cursors: 'hot', timers: 'hot', learnerStats: 'counts', decisions: 'hot', models: 'hot' });
		// Read first: the copy knows the key (no row yet), so a write around addArmStats would leave it stale.
		expect((await store.getArmStats(['ctx#email'])).size).toBe(0);
		await store.reserveCap({ reservationId: 'r1', contactId: 'c1', channel: 'email', journey: 'j', tags: [], at: 0, expiresAt: 1000 }, []);
		expect(await store.settleCapAndCount('r1', 'commit', [{ key: 'ctx#email', delta: { trials: 1 } }])).toBe(true);
		expect((await store.getArmStats(['ctx#email'])).get('ctx#email')?.trials).toBe(1);
		await counts.close();
	});

	test('erasure asks every part and adds the counts; pruning goes to the part keeping the ledger or the claims', async () => {
		const { parts, store } = apart();
		await store.saveProfile(profile('c1'), ['email:a@x.io'], []);
		await store.putDecision(decision('d1', { contactId: 'c1' }));
		await store.reserveCap({ reservationId: 'r1', contactId: 'c1', channel: 'email', journey: 'nurture', tags: [], at: 0, expiresAt: 1000 }, []);
		const counts = await store.eraseContact({ contactId: 'c1', identityKeys: ['email:a@x.io'], claimKeys: [], armKeys: [], pseudonymise: (d) => ({ ...d, contactId: 'erased_1' }) });
		expect(counts).toEqual({ profiles: 1, identities: 1, capEntries: 1, timers: 0, decisions: 1 });
		expect((await parts.log.getDecision('d1'))?.contactId).toBe('erased_1');

		await store.claimKey('old', 10, 0);
		await parts.people.claimKey('elsewhere', 10, 0);
		expect(await store.pruneExpired('claims', 1000, false)).toBe(1);
		expect(await parts.keys.keyHeldUntil('old', 0)).toBeUndefined();
		expect(await parts.people.keyHeldUntil('elsewhere', 0)).toBe(10);
	});
});
