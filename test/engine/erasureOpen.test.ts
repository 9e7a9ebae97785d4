/**
 * An erasure and what is still moving for the person: decisions not ended yet (a wait, a review, a send between
 * Frequency Cap and Send), outcomes that come after it, and every free text that can spell the person's values.
 */
import type { Decision } from '../../engine/audit/schema';
import type { Sender } from '../../engine/deliver/provider';
import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { MemoryStore } from '../../engine/store/memory';
import { contactHourKeys } from '../../engine/store/types';
import { found, memoryDump } from '../helpers/rawStores';

const NURTURE = { journey: 'nurture', target: { dryRun: true as const } };
const track = (email: string, extra: Record<string, unknown> = {}) => ({ type: 'track', name: 'Demo Requested', identities: { email }, ...extra });

let store: MemoryStore;
let engine: Engine;
function open(policy: Record<string, unknown> = {}, now?: () => Date) {
	store = new MemoryStore();
	engine = new Engine({ store, policy: loadPolicy({ ...DEFAULT_POLICY, ...policy }), ...(now ? { now } : {}) });
}
afterEach(() => engine?.close());

describe('an erasure scrubs every free text of the decisions it keeps', () => {
	test('an address in the event id written in another case than the stored (lower-cased) one', async () => {
		open();
		const d = await engine.decide(track('Zelda.Quinn@Example.org', { eventId: 'form-Zelda.Quinn@Example.org-1' }), NURTURE);
		await engine.eraseContact({ email: 'zelda.quinn@example.org' });
		const after = await store.getDecision(d.decisionId);
		expect(after?.event.eventId).toBe('form-[erased]-1');
		expect(found(JSON.stringify(after).toLowerCase(), ['zelda.quinn@example.org'])).toEqual([]);
	});

	test('the event name', async () => {
		open();
		const d = await engine.decide(track('zelda.quinn@example.org', { name: 'Referral from zelda.quinn@example.org' }), NURTURE);
		await engine.eraseContact({ email: 'zelda.quinn@example.org' });
		expect((await store.getDecision(d.decisionId))?.event.name).toBe('Referral from [erased]');
	});

	test("the uplift gate's factors (trait values in words) are dropped like the score's", async () => {
		open();
		const d = await engine.decide(track('zelda.quinn@example.org', { traits: { city: 'Aberystwyth' } }), NURTURE);
		const withUplift: Decision = {
			...(await store.getDecision(d.decisionId))!,
			uplift: { model: 'cart-uplift@v1', predicted: 0.06, fallback: false, threshold: 0.01, admitted: true, factors: [{ label: 'city = Aberystwyth raises the uplift', contribution: 3 }], note: 'Aberystwyth is far' },
		};
		await store.putDecision(withUplift);
		await engine.eraseContact({ email: 'zelda.quinn@example.org' });
		const after = (await store.getDecision(d.decisionId))!;
		expect(after.contactId).toMatch(/^erased_/);
		expect(after.uplift).toMatchObject({ factors: [], note: '[erased] is far', predicted: 0.06 });
	});

	test('an outcome arriving after the erasure starts no per-person send-time counts', async () => {
		open();
		const d = await engine.decide(track('zelda.quinn@example.org'), NURTURE);
		const receipt = await engine.eraseContact({ email: 'zelda.quinn@example.org' });
		await engine.recordOutcome({ decisionId: d.decisionId, type: 'open' });
		expect((await store.getDecision(d.decisionId))?.outcomes.map((o) => o.type)).toEqual(['open']);
		expect([...(await store.getArmStats(contactHourKeys(receipt.erasureId))).keys()]).toEqual([]);
	});
});

describe('an erasure ends the decisions still open', () => {
	test('a delayed decision ends suppressed CONTACT_ERASED in the log, not delayed for ever with no wait', async () => {
		open({ quietHours: [{ id: 'all-day', start: '00:00', end: '23:59' }] }, () => new Date('2026-06-01T12:00:00Z'));
		const d = await engine.decide(track('late@example.org'), NURTURE);
		expect(d.status).toBe('delayed');
		await engine.eraseContact({ email: 'late@example.org' });
		const after = await engine.getDecision(d.decisionId);
		expect(after).toMatchObject({ status: 'suppressed', reason: 'CONTACT_ERASED', loggedAt: expect.any(String) });
		expect(after.trail.at(-1)).toMatchObject({ stage: 'erase', status: 'suppressed' });
	});

	test('a decision allowed by Frequency Cap and sent after the erasure is refused at Send and logged suppressed', async () => {
		open();
		const { decision } = await engine.ingest(track('flow@example.org'), { journey: 'nurture' });
		await engine.chooseChannel(decision.decisionId);
		expect((await engine.checkCap(decision.decisionId)).guard?.allowed).toBe(true);
		await engine.eraseContact({ email: 'flow@example.org' });
		await expect(engine.send(decision.decisionId, { dryRun: true })).rejects.toMatchObject({ code: 'NOT_RESERVED', message: expect.stringMatching(/CONTACT_ERASED/) });
		expect(await engine.getDecision(decision.decisionId)).toMatchObject({ status: 'suppressed', reason: 'CONTACT_ERASED' });
	});

	test('a send under way when the erasure comes finishes first: its decision is logged sent, under the pseudonym', async () => {
		open();
		let erasing: Promise<unknown> | undefined;
		const sender: Sender = {
			provider: 'slow-esp',
			async attempt() {
				// The data request arrives while the provider is answering.
				erasing = engine.eraseContact({ email: 'race@example.org' });
				await new Promise((resolve) => setTimeout(resolve, 200));
				return { providerMessageId: 'esp-1' };
			},
		};
		const d = await engine.decide(track('race@example.org'), { journey: 'nurture', target: { sender } });
		expect(d.status).toBe('sent');
		await erasing;
		const stored = (await store.getDecision(d.decisionId))!;
		expect(stored).toMatchObject({ status: 'sent', contactId: expect.stringMatching(/^erased_/) });
		expect(await engine.queryDecisions({ contactId: d.contactId })).toEqual([]);
		expect(found(memoryDump(store), [d.contactId, 'race@example.org'])).toEqual([]);
	});
});
