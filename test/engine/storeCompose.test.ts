import { join } from 'node:path';
import { composeStore, type Placement } from '../../engine/store/compose';
import { MemoryStore } from '../../engine/store/memory';
import { splitStore } from '../../engine/store/split';
import { SqliteStore } from '../../engine/store/sqlite';
import { decision, profile, tempDir } from '../helpers/fixtures';
import { describeStoreContract } from './storeContract';

// The split placement over two embedded backends: the whole contract holds across a composition.
describeStoreContract('composed memory (hot) + sqlite (log)', () => splitStore(new MemoryStore(), new SqliteStore(join(tempDir(), 'log.db'))));

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
