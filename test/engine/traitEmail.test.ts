/** The address Nudge mails a contact at is an identity wherever the sender put it: as `identities.email` or as `traits.email`. */
import { Engine } from '../../engine/engine';
import { normalizeEvent } from '../../engine/events/normalize';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { MemoryStore } from '../../engine/store/memory';

const NURTURE = { journey: 'nurture', target: { dryRun: true as const } };
const fromCrm = (userId: string, email: unknown) => ({ type: 'track', name: 'Demo Requested', identities: { userId }, traits: { email } });

describe('a contact whose address came as traits.email', () => {
	let store: MemoryStore;
	let engine: Engine;
	beforeEach(() => {
		store = new MemoryStore();
		engine = new Engine({ store, policy: loadPolicy(DEFAULT_POLICY) });
	});
	afterEach(() => engine.close());

	test('a suppressed address that comes back as traits.email (an event of a CRM sync) is never messaged', async () => {
		await engine.decide({ type: 'track', name: 'Demo Requested', identities: { email: 'gone@example.org' } }, NURTURE);
		await engine.eraseContact({ email: 'gone@example.org' }, { suppress: true });
		const back = await engine.decide(fromCrm('crm-2', 'Gone@Example.org'), NURTURE);
		expect(back).toMatchObject({ status: 'suppressed', reason: 'SUPPRESSION_LIST' });
	});

	test('it can be erased and exported by that address', async () => {
		const d = await engine.decide(fromCrm('u9', 'traitonly@example.org'), NURTURE);
		expect((await store.getProfile(d.contactId))?.email).toBe('traitonly@example.org');
		await expect(engine.contactRecord({ email: 'TraitOnly@example.org' })).resolves.toMatchObject({ contactId: d.contactId });
		expect(await engine.eraseContact({ email: 'traitonly@example.org' })).toMatchObject({ found: true });
		expect(await store.getProfile(d.contactId)).toBeUndefined();
	});

	test('two CRM records with one address are one contact, as two events with one email identity are', async () => {
		const a = await engine.decide(fromCrm('crm-1', 'same@example.org'), NURTURE);
		const b = await engine.decide(fromCrm('crm-2', 'same@example.org'), NURTURE);
		expect(b.contactId).toBe(a.contactId);
	});

	test('a trait that is no email address stays a trait: the event is taken, the contact has no address to be mailed at', async () => {
		const d = await engine.decide(fromCrm('u10', 'not an address'), NURTURE);
		const profile = await store.getProfile(d.contactId);
		expect(profile?.traits.email).toBe('not an address');
		expect(profile?.email).toBeUndefined();
	});
});

describe('a Segment event whose traits.email is not a valid address', () => {
	test('is taken in by its userId, the text kept as a trait, as a Nudge-format event is', () => {
		const nudge = normalizeEvent({ type: 'identify', identities: { userId: 'u1' }, traits: { email: 'jane@localhost' } });
		expect(nudge.identities).toEqual({ userId: 'u1' });
		for (const email of ['jane@localhost', 'Jane Doe <jane@example.com>', 'jane@example.com ']) {
			const segment = normalizeEvent({ type: 'identify', userId: 'u1', messageId: `m-${email}`, traits: { email } });
			expect(segment.identities).toEqual({ userId: 'u1' });
			expect(segment.traits?.email).toBe(email);
		}
	});
});
