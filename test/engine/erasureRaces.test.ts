/**
 * Data rights against what runs beside them (docs/privacy.md): an erasure landing inside a journey's send, an
 * outcome's counts, a Segment alias, a retried delivery; and what an erasure leaves (learner keys, the trail, nested
 * traits, agents' marks and request hashes). A race is made repeatable by running the erasure from inside a store call
 * of the other operation: what another worker, or another flow of this process, does when it lands in that window.
 */
import { parseActionRequest, requestHash } from '../../engine/agents/request';
import { applyInactivityRules } from '../../engine/events/timers';
import { contentHash } from '../../engine/ids';
import { MemoryStore } from '../../engine/store/memory';
import { contactHourKeys } from '../../engine/store/types';
import { beforeFirstCall, countingSender, withEngine } from '../helpers/erasure';
import { found, forEveryBackend, memoryDump, postgresBackend, type Backend } from '../helpers/rawStores';
import { describeWithServer, TEST_POSTGRES_URL } from '../helpers/services';

const EMAIL = 'zelda.quinn@example.org';
const NURTURE = { journey: 'nurture', target: { dryRun: true as const } };


forEveryBackend('datarights', (backend: Backend) => {
	/*
	 * An erasure with suppression landing while a one-call journey (engine.decide, the Nudge node's one-call mode) is
	 * between Choose Channel and Frequency Cap: the erasure claims the send key of every open decision of the person, so
	 * the journey's cap check finds the key held, reserves nothing and answers the erased row; nothing is sent
	 * and nothing is written back under the contact's id.
	 */
	test(`${backend.name}: an erasure with suppression between Choose Channel and Frequency Cap of a one-call journey stops its send`, async () => {
		const store = backend.open();
		await withEngine(store, async (engine) => {
			const { profile } = await engine.ingest({ type: 'identify', identities: { email: EMAIL }, traits: { consent: { email: 'opted_in' } } });
			const erasure = beforeFirstCall(store, ['reserveCapAndClaim'], () => engine.eraseContact({ email: EMAIL }, { suppress: true }));
			const sender = countingSender();
			const d = await engine.decide({ type: 'track', name: 'Demo Requested', identities: { email: EMAIL } }, { journey: 'nurture', target: { sender } });
			expect(erasure.ran()).toBe(true);
			expect({ attempts: sender.attempts, status: d.status, reason: d.reason }).toEqual({ attempts: 0, status: 'suppressed', reason: 'CONTACT_ERASED' });
			expect(d.contactId).toMatch(/^erased_/);
			expect(found(await backend.dump(store), [profile!.contactId, EMAIL])).toEqual([]);
		});
	});

	/*
	 * An open recorded while the person is erased: the send-time counts go by the decision as stored after the outcome
	 * was added, so none start again under the id the erasure removed.
	 */
	test(`${backend.name}: an outcome racing an erasure starts no send-time counts under the erased contact id`, async () => {
		const store = backend.open();
		await withEngine(store, async (engine) => {
			const d = await engine.decide({ type: 'track', name: 'Demo Requested', identities: { email: EMAIL } }, NURTURE);
			expect(d.status).toBe('sent');
			const addOutcome = store.addOutcome.bind(store);
			store.addOutcome = async (...args: Parameters<typeof addOutcome>) => {
				await engine.eraseContact({ email: EMAIL });
				return addOutcome(...args);
			};
			await engine.recordOutcome({ decisionId: d.decisionId, type: 'open' });
			expect([...(await store.getArmStats(contactHourKeys(d.contactId))).keys()]).toEqual([]);
		});
	});

	/*
	 * The channel learner's counts are shared and outlive an erasure: an address in the event's name (or the segment
	 * trait's value) is masked out of the key they are counted under.
	 */
	test(`${backend.name}: no learner count is left keyed by the person's values after an erasure`, async () => {
		const store = backend.open();
		await withEngine(store, async (engine) => {
			const d = await engine.decide({ type: 'track', name: `Referral from ${EMAIL}`, identities: { email: EMAIL } }, NURTURE);
			await engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion', value: 3 });
			await engine.eraseContact({ email: EMAIL });
			await store.sync();
			expect(found(await backend.dump(store), [EMAIL])).toEqual([]);
		});
	});

	/*
	 * A Segment alias whose previousId is a suppressed user id gives that id to a contact: it is checked against the
	 * suppression list like the event's own identities, so the person's later events are suppressed.
	 */
	test(`${backend.name}: a Segment alias naming a suppressed user id makes a do-not-contact contact`, async () => {
		const store = backend.open();
		await withEngine(store, async (engine) => {
			await engine.ingest({ type: 'identify', userId: 'zq-user-8841', traits: { email: EMAIL, consent: { email: 'opted_in' } } }, { source: 'segment' });
			await engine.eraseContact({ email: EMAIL }, { suppress: true });
			await engine.ingest({ type: 'alias', userId: 'zq-new-1', previousId: 'zq-user-8841' }, { source: 'segment' });
			const d = await engine.decide({ type: 'track', userId: 'zq-user-8841', event: 'Demo Requested', traits: { email: 'zq@elsewhere.example', consent: { email: 'opted_in' } } }, NURTURE);
			expect({ status: d.status, reason: d.reason }).toEqual({ status: 'suppressed', reason: 'SUPPRESSION_LIST' });
		});
	});
});

describeWithServer('PostgreSQL', TEST_POSTGRES_URL)('on PostgreSQL', () => {
	const backend = postgresBackend('datarights_pg');
	/*
	 * PostgreSQL finds a contact's timers by the id as JSON writes it: an id holding a quote (escaped in the body) is
	 * found and its timer erased, as on every other backend.
	 */
	test('postgres: erasing a contact whose id holds a quote deletes its timer', async () => {
		const store = backend.open();
		await withEngine(store, async (engine) => {
			const contactId = 'zq"crm-77';
			const cart = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { contactId } }, { journey: 'cart' });
			await applyInactivityRules(engine, [cart], [{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' }]);
			const receipt = await engine.eraseContact({ contactId });
			expect(receipt.counts.timers).toBe(1);
			expect(found(await backend.dump(store), ['crm-77'])).toEqual([]);
		});
	});
});

describe('pseudonymisation and what an erasure leaves (the memory store: no backend differs here)', () => {
	/*
	 * A repeated outcome leaves `outcome ignored: duplicate <id>` in the trail; an order id built from the address loses
	 * it with the erasure, as every other free text of the decision does.
	 */
	test("an erasure scrubs the person's values out of the decision trail (a duplicate outcome's id)", async () => {
		const store = new MemoryStore();
		await withEngine(store, async (engine) => {
			const d = await engine.decide({ type: 'track', name: 'Demo Requested', identities: { email: EMAIL } }, NURTURE);
			await engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion', outcomeId: `order-${EMAIL}` });
			await engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion', outcomeId: `order-${EMAIL}` });
			await engine.eraseContact({ email: EMAIL });
			expect(found(JSON.stringify(await store.getDecision(d.decisionId)), [EMAIL])).toEqual([]);
			expect(found(memoryDump(store), [EMAIL])).toEqual([]);
		});
	});

	/*
	 * Traits nest (Segment's address.city, company.name): their texts at any depth are cut out of the event's name and id.
	 */
	test("an erasure scrubs nested trait values (Segment's address.city, company.name) out of the event's name and id", async () => {
		const store = new MemoryStore();
		await withEngine(store, async (engine) => {
			const traits = { address: { city: 'Aberystwyth' }, company: { name: 'Quinnworks Ltd' } };
			const d = await engine.decide({ type: 'track', eventId: 'visit-Aberystwyth-1', name: 'Visit from Quinnworks Ltd', identities: { email: EMAIL }, traits }, NURTURE);
			await engine.eraseContact({ email: EMAIL });
			const after = (await store.getDecision(d.decisionId))!;
			expect(found(JSON.stringify(after.event), ['Aberystwyth', 'Quinnworks'])).toEqual([]);
		});
	});

	/*
	 * A retried delivery of an erased person's event is a duplicate (the erasure holds its mark), logged under no id of
	 * theirs and without the event's name: the erasure is not undone by its own duplicate.
	 */
	test("a retried delivery of an erased person's event writes none of their data back into the log", async () => {
		const store = new MemoryStore();
		await withEngine(store, async (engine) => {
			const event = { type: 'track', eventId: 'evt-1', name: `Referral from ${EMAIL}`, identities: { contactId: 'zq-crm-1', email: EMAIL } };
			await engine.ingest(event, { journey: 'nurture' });
			await engine.eraseContact({ contactId: 'zq-crm-1' });
			expect(found(memoryDump(store), ['zq-crm-1', EMAIL])).toEqual([]);
			const again = await engine.ingest(event, { journey: 'nurture' });
			expect(again.duplicate).toBe(true);
			expect(found(memoryDump(store), ['zq-crm-1', EMAIL])).toEqual([]);
			await expect(engine.contactRecord({ contactId: 'zq-crm-1' })).rejects.toMatchObject({ code: 'UNKNOWN_CONTACT' });
		});
	});

	/*
	 * The erasure holds the mark of every event of the person in the de-duplication window in every journey, however
	 * many: a page of 100 decisions held the oldest only, and the newest delivered to another journey's trigger (a
	 * destination per journey) made a new contact of the erased data.
	 */
	test("a person with more decisions than one page in the window has each of their events held", async () => {
		const store = new MemoryStore();
		await withEngine(store, async (engine) => {
			const event = (n: number) => ({ type: 'track', eventId: `page-${n}`, name: 'Page Viewed', identities: { email: EMAIL } });
			for (let n = 0; n < 130; n++) await engine.ingest(event(n), { journey: 'nurture' });
			await engine.eraseContact({ email: EMAIL });
			const retried = await engine.ingest(event(129), { journey: 'churn-risk' });
			expect(retried.duplicate).toBe(true);
			await expect(engine.contactRecord({ email: EMAIL })).rejects.toMatchObject({ code: 'UNKNOWN_CONTACT' });
		});
	});

	/*
	 * An agent's `contacts` blast radius rule marks a touched contact by a hash of its id, which anyone holding the id
	 * recomputes: the erasure deletes the marks of the agents that acted on the person.
	 */
	test("an erasure leaves no agent blast-radius mark derived from the person's contact id", async () => {
		const store = new MemoryStore();
		await withEngine(
			store,
			async (engine) => {
				const { profile } = await engine.ingest({ type: 'identify', identities: { email: EMAIL }, traits: { consent: { email: 'opted_in' } } });
				const verdict = await engine.requestAction({ agentId: 'growth-bot', idempotencyKey: 'k1', contact: EMAIL, channel: 'email', message: { category: 'promotional', text: 'Hello Zelda', subject: 'Hi' } });
				expect(verdict.verdict).toBe('allow');
				await engine.eraseContact({ email: EMAIL });
				expect(found(memoryDump(store), [contentHash(profile!.contactId, 24)])).toEqual([]);
			},
			{ agents: { blastRadius: [{ id: 'ten-people', count: 'contacts', limit: 10, window: '7d' }] } },
		);
	});

	/*
	 * An agent decision's request hash is of the contact id and the message: the pseudonymised decision keeps none, so
	 * the erased id and the template cannot link it back.
	 */
	test("a pseudonymised agent decision cannot be linked back to the erased contact id by its request hash", async () => {
		const store = new MemoryStore();
		await withEngine(store, async (engine) => {
			const { profile } = await engine.ingest({ type: 'identify', identities: { email: EMAIL }, traits: { consent: { email: 'opted_in' } } });
			const request = { agentId: 'growth-bot', idempotencyKey: 'k1', contact: EMAIL, channel: 'email' as const, message: { category: 'promotional', text: 'Hello, 10% off this week', subject: 'Savings' } };
			const verdict = await engine.requestAction(request);
			await engine.eraseContact({ email: EMAIL });
			const after = (await store.getDecision(verdict.decisionId))!;
			expect(after.contactId).toMatch(/^erased_/);
			expect(after.agent?.requestHash).not.toBe(requestHash(parseActionRequest(request), profile!.contactId, after.journey));
		});
	});
});
