/**
 * The send key with the cap check, a third look (docs/privacy.md): PostgreSQL's cap check in two store steps, an
 * erasure that fails half-way, a Frequency Cap asked again while its send is under way, a link's auth_code.
 */
import { Engine } from '../../engine/engine';
import type { PolicyInput } from '../../engine/policy/schema';
import { MemoryStore } from '../../engine/store/memory';
import { redactLinks } from '../../engine/errors';
import { isCredentialParam } from '../../engine/util/credentialNames';
import { sendClaim } from '../../engine/usecases/send';
import type { Store } from '../../engine/store/types';
import { beforeFirstCall, withEngine as withEngineAt } from '../helpers/erasure';
import { found, postgresBackend, type Backend } from '../helpers/rawStores';

const EMAIL = 'ines.vantongeren@example.org';
const withEngine = (store: Store, run: (engine: Engine, clock: { at: string }) => Promise<void>, policy: Partial<PolicyInput> = {}, at = '2026-03-02T12:00:00Z') => withEngineAt(store, run, policy, at);

/**
 * The backends whose reserveCapAndClaim is the folded default (engine/store/folded.ts), two store steps: PostgreSQL.
 * Redis (one script), memory and SQLite (one step each) let nothing land between the look at the key and the slot.
 */
const foldedBackends: Backend[] = [postgresBackend('capkey3')];

describe('the send key with the cap check', () => {
	for (const backend of foldedBackends) {
		/*
		 * An erasure landing between the cap check's look at the send key and its reservation: the key is looked at again
		 * after, the slot given back, and the erased row answered; nothing is written back under the contact's id.
		 */
		test(`${backend.name}: a Frequency Cap whose reservation lands just after an erasure's key claim writes nothing back`, async () => {
			const store = backend.open();
			await withEngine(store, async (engine) => {
				const { profile } = await engine.ingest({ type: 'identify', identities: { email: EMAIL }, traits: { consent: { email: 'opted_in' } } });
				const { decision } = await engine.ingest({ type: 'track', name: 'Demo Requested', identities: { email: EMAIL } }, { journey: 'nurture' });
				await engine.chooseChannel(decision.decisionId);
				// The erasure lands after the folded step looked at the key, as it reserves.
				const erasure = beforeFirstCall(store, ['reserveCap'], () => engine.eraseContact({ email: EMAIL }, { suppress: true }));
				await engine.checkCap(decision.decisionId).catch(() => undefined);
				expect(erasure.ran()).toBe(true);
				const stored = await store.getDecision(decision.decisionId);
				expect({ status: stored?.status, reason: stored?.reason, erased: stored?.contactId.startsWith('erased_') }).toEqual({ status: 'suppressed', reason: 'CONTACT_ERASED', erased: true });
				expect(found(await backend.dump(store), [profile!.contactId])).toEqual([]);
			});
		});
	}

	/*
	 * An erasure that fails half-way gives back the send keys it held: the contact is kept, and its decision is checked
	 * as before (allowed), not refused as being sent.
	 */
	test('an erasure that failed half-way does not leave the contact’s open decisions refused with 409 for a day', async () => {
		const store = new MemoryStore();
		await withEngine(store, async (engine) => {
			await engine.ingest({ type: 'identify', identities: { email: EMAIL }, traits: { consent: { email: 'opted_in' } } });
			const { decision } = await engine.ingest({ type: 'track', name: 'Demo Requested', identities: { email: EMAIL } }, { journey: 'nurture' });
			await engine.chooseChannel(decision.decisionId);
			const erase = store.eraseContact.bind(store);
			let failOnce = true;
			store.eraseContact = async (...args: Parameters<typeof erase>) => {
				if (failOnce) {
					failOnce = false;
					throw new Error('connection reset');
				}
				return erase(...args);
			};
			await expect(engine.eraseContact({ email: EMAIL }, { suppress: false })).rejects.toThrow('connection reset');
			// The contact and its decision are as they were: the erasure did not happen.
			expect((await store.getDecision(decision.decisionId))?.status).toBe('pending');
			const checked = await engine.checkCap(decision.decisionId).catch((e: Error) => e);
			expect(checked instanceof Error ? checked.message : checked.status).toBe('pending');
		});
	});

	/*
	 * A Frequency Cap asked again (another category) while the decision's send is under way keeps the slot with the
	 * message being sent: the contact's next email the same day is stopped by email-daily.
	 */
	test('a Frequency Cap asked again while its Send is under way keeps the slot with the message being sent', async () => {
		const store = new MemoryStore();
		await withEngine(store, async (engine) => {
			await engine.ingest({ type: 'identify', identities: { email: EMAIL }, traits: { consent: { email: 'opted_in' } } });
			const first = (await engine.ingest({ type: 'track', name: 'Demo Requested', identities: { email: EMAIL } }, { journey: 'nurture' })).decision;
			await engine.chooseChannel(first.decisionId);
			expect((await engine.checkCap(first.decisionId, { channel: 'email' })).guard?.allowed).toBe(true);
			// The Send node has claimed the key and is waiting for the provider.
			const { key, ttlMs } = sendClaim(first.decisionId);
			expect(await store.claimKey(key, ttlMs, Date.parse('2026-03-02T12:00:00Z'))).toBe(true);
			// A retried execution asks with the message's category this time.
			await engine.checkCap(first.decisionId, { channel: 'email', category: 'newsletter' }).catch(() => undefined);
			const second = (await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: EMAIL } }, { journey: 'nurture' })).decision;
			await engine.chooseChannel(second.decisionId);
			const capped = await engine.checkCap(second.decisionId, { channel: 'email' });
			expect({ status: capped.status, rule: capped.ruleId }).toEqual({ status: 'suppressed', rule: 'email-daily' });
		});
	});

	/*
	 * A payment or sign-in callback's auth_code= (also auth_hash, auth_sig) is a credential parameter; auth_mode= is not.
	 */
	test('a link’s auth_code= is still masked', () => {
		expect(['auth_code', 'auth_hash', 'auth_sig', 'auth_mode'].filter(isCredentialParam)).toEqual(['auth_code', 'auth_hash', 'auth_sig']);
		expect(redactLinks('https://pay.example.com/callback?auth_code=6f1e9a0c2b7d&state=checkout')).not.toContain('6f1e9a0c2b7d');
	});
});
