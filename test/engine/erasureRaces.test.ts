/**
 * Data rights against what runs beside them (docs/privacy.md): an erasure landing inside a journey's send, an
 * outcome's counts, a Segment alias, a retried delivery; and what an erasure leaves (learner keys, the trail, nested
 * traits, agents' marks and request hashes). A race is made repeatable by running the erasure from inside a store call
 * of the other operation: what another worker, or another flow of this process, does when it lands in that window.
 */
import { parseActionRequest, requestHash } from '../../engine/agents/request';
import type { Decision } from '../../engine/audit/schema';
import type { Engine } from '../../engine/engine';
import { sendClaim } from '../../engine/usecases/send';
import { applyInactivityRules } from '../../engine/events/timers';
import { contentHash } from '../../engine/ids';
import { MemoryStore } from '../../engine/store/memory';
import { PostgresStore } from '../../engine/store/postgres';
import { RedisStore } from '../../engine/store/redis';
import { splitStore, type SplitStore } from '../../engine/store/split';
import type { Store } from '../../engine/store/types';
import { contactHourKeys } from '../../engine/store/types';
import { beforeFirstCall, countingSender, withEngine } from '../helpers/erasure';
import { found, forEveryBackend, memoryDump, postgresBackend, redisBackend, splitBackend, type Backend } from '../helpers/rawStores';
import { describeWithServer, TEST_POSTGRES_URL, TEST_REDIS_URL } from '../helpers/services';

const EMAIL = 'zelda.quinn@example.org';
const NURTURE = { journey: 'nurture', target: { dryRun: true as const } };


/** Every new content variant waits for a reviewer; nothing else stops a message. */
const REVIEW_POLICY = { caps: [], holdout: { globalShare: 0, journeys: {} }, review: [{ id: 'new-variant', newVariant: true }] };

/** A decision of the person's, sent to review by its new variant. */
async function inReview(engine: Engine): Promise<Decision> {
	await engine.ingest({ type: 'identify', identities: { email: EMAIL }, traits: { consent: { email: 'opted_in' } } });
	const { decision } = await engine.ingest({ type: 'track', name: 'Demo Requested', identities: { email: EMAIL } }, { journey: 'nurture' });
	const held = await engine.checkCap(await engine.chooseChannel(decision), { variant: 'B' });
	expect(held.status).toBe('review');
	return held;
}

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
	 * A reviewer's verdict landing as the contact is erased: the verdict is written while the decision's send key is
	 * held, which the erasure holds for every open decision before it pseudonymises them. With the erasure first, the
	 * verdict answers the erased row and writes nothing back under the person's id (it used to write the decision it
	 * had read, id and all, over the pseudonymised one).
	 */
	for (const approve of [true, false]) {
		test(`${backend.name}: a review ${approve ? 'approved' : 'rejected'} as its contact is erased writes nothing back under the person's id`, async () => {
			const store = backend.open();
			await withEngine(store, async (engine) => {
				const held = await inReview(engine);
				const erasure = beforeFirstCall(store, ['claimKey', 'putDecision'], () => engine.eraseContact({ email: EMAIL }));
				const after = await engine.resolveReview(held.decisionId, { approve, reviewer: 'mia@shop.example' });
				expect(erasure.ran()).toBe(true);
				expect({ status: after.status, reason: after.reason }).toEqual({ status: 'suppressed', reason: 'CONTACT_ERASED' });
				expect(found(await backend.dump(store), [held.contactId, EMAIL])).toEqual([]);
			}, REVIEW_POLICY);
		});
	}

	/*
	 * With the verdict first, the erasure waits for its write and then holds the send key of the approved decision (it
	 * used to wait the whole SEND_UNDER_WAY_WAIT_MS for the decision to end, leaving the key to the Send that follows an
	 * approval): the Send after it sends nothing.
	 */
	test(`${backend.name}: an erasure started while a review is approved holds the approved decision's send key`, async () => {
		const store = backend.open();
		await withEngine(store, async (engine) => {
			const held = await inReview(engine);
			let erasing: Promise<unknown> | undefined;
			beforeFirstCall(store, ['putDecision'], async () => {
				erasing = engine.eraseContact({ email: EMAIL });
			});
			const verdict = await engine.resolveReview(held.decisionId, { approve: true, reviewer: 'mia@shop.example' }).catch((error: Error) => error);
			await erasing;
			// The approval went on to its cap check, or found the key held by the erasure by then: never sent, either way.
			if (verdict instanceof Error) expect(verdict.message).toMatch(/its contact is being erased/);
			else expect(verdict.status).toBe('pending');
			expect(await store.keyHeldUntil(sendClaim(held.decisionId).key, Date.now())).toBeGreaterThan(Date.now() + 3_600_000);
			const sender = countingSender();
			await expect(engine.send(held.decisionId, { sender })).rejects.toThrow(/CONTACT_ERASED/);
			expect(sender.attempts).toBe(0);
			expect(found(await backend.dump(store), [held.contactId, EMAIL])).toEqual([]);
		}, REVIEW_POLICY);
	});

	/*
	 * An approver's verdict on an agent's action as its contact is erased: written under the action's send key like a
	 * reviewer's, so the action answers the erased row and its approval is not written back under the person's id.
	 */
	test(`${backend.name}: an agent's action approved as its contact is erased writes nothing back under the person's id`, async () => {
		const store = backend.open();
		await withEngine(
			store,
			async (engine) => {
				const { profile } = await engine.ingest({ type: 'identify', identities: { email: EMAIL }, traits: { consent: { email: 'opted_in' } } });
				const held = await engine.requestAction({ agentId: 'growth-bot', idempotencyKey: 'k1', contact: EMAIL, channel: 'email', message: { category: 'promotional', offerValue: 30, text: '30% off', subject: 'Hi' } });
				expect(held.verdict).toBe('needs_approval');
				// Past the action's own lease (a claimed key too): as the approver's verdict is about to be written.
				const erasure = beforeFirstCall(store, ['claimKey', 'putDecision'], () => engine.eraseContact({ email: EMAIL }), (method, args) => method === 'putDecision' || String(args[0]).startsWith('send:'));
				const verdict = await engine.decideApproval(held.approvalId!, { approver: 'mia@shop.example', approve: true });
				expect(erasure.ran()).toBe(true);
				expect(verdict).toMatchObject({ verdict: 'deny', reasons: ['CONTACT_ERASED'] });
				expect(found(await backend.dump(store), [profile!.contactId, EMAIL])).toEqual([]);
			},
			{ agents: { blastRadius: [], approval: [{ id: 'big-offers', when: { field: 'message.offerValue', op: 'gt', value: 20 } }] } },
		);
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

/** A second connection to the same data: another worker's. */
function secondConnection(store: Store): Store {
	if (store instanceof RedisStore) return new RedisStore(TEST_REDIS_URL, { prefix: store.prefix });
	if (store instanceof PostgresStore) return new PostgresStore(TEST_POSTGRES_URL, { schema: store.schema, maxConnections: 4 });
	const { hot, log } = (store as SplitStore<RedisStore, PostgresStore>).parts;
	return splitStore(secondConnection(hot) as RedisStore, secondConnection(log) as PostgresStore);
}

function sharedBackends(run: (backend: Backend) => void): void {
	describeWithServer('Redis', TEST_REDIS_URL)('on Redis', () => run(redisBackend('datarights_two')));
	describeWithServer('PostgreSQL', TEST_POSTGRES_URL)('on PostgreSQL', () => {
		run(postgresBackend('datarights_two'));
		describeWithServer('Redis', TEST_REDIS_URL)('and split', () => run(splitBackend('datarights_two')));
	});
}

sharedBackends((backend) => {
	/*
	 * Another worker takes in an event of the person after the erasure listed their open decisions (their send keys were
	 * not held then) and before it erased them; its one-call journey reaches Frequency Cap after the erasure. The
	 * erasure holds the send keys of the decisions opened meanwhile too (under the person's locks, which new events
	 * wait on), so the journey sends nothing and answers the erased row.
	 */
	test(`${backend.name}: a decision another worker opened while the erasure ran sends nothing after it, and nothing is written back`, async () => {
		const store = backend.open();
		const other = secondConnection(store);
		await withEngine(other, async (worker) => {
			await withEngine(store, async (engine) => {
				await engine.ingest({ type: 'identify', identities: { email: EMAIL }, traits: { consent: { email: 'opted_in' } } });
				const sender = countingSender();
				let reachedCap!: () => void;
				const atCap = new Promise<void>((resolve) => (reachedCap = resolve));
				let erased!: () => void;
				const done = new Promise<void>((resolve) => (erased = resolve));
				// The worker's journey waits at its cap check until the erasure has ended.
				beforeFirstCall(other, ['reserveCapAndClaim'], async () => {
					reachedCap();
					await done;
				});
				let journey: Promise<Decision> | undefined;
				let profileReads = 0;
				// Past the erasure's listing of open decisions (its second read of the profile, before it locks): the event comes.
				beforeFirstCall(store, ['getProfile'], async () => {
					journey = worker.decide({ type: 'track', name: 'Demo Requested', identities: { email: EMAIL } }, { journey: 'nurture', target: { sender } });
					await atCap;
				}, () => ++profileReads === 2);
				await engine.eraseContact({ email: EMAIL });
				erased();
				const d = await journey!;
				expect({ attempts: sender.attempts, status: d.status, reason: d.reason }).toEqual({ attempts: 0, status: 'suppressed', reason: 'CONTACT_ERASED' });
				await other.sync();
				expect(found(await backend.dump(store), [EMAIL])).toEqual([]);
			});
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

describe('two reviewers answering at once (the memory store: no backend differs here)', () => {
	test('the second is told what the first made of the decision, not that it is being sent or erased', async () => {
		await withEngine(new MemoryStore(), async (engine) => {
			const held = await inReview(engine);
			const answers = await Promise.allSettled([
				engine.resolveReview(held.decisionId, { approve: true, reviewer: 'mia@shop.example' }),
				engine.resolveReview(held.decisionId, { approve: false, reviewer: 'tom@shop.example' }),
			]);
			const refused = answers.filter((a): a is PromiseRejectedResult => a.status === 'rejected').map((a) => (a.reason as Error).message);
			expect(refused).toEqual([`Decision ${held.decisionId} is not waiting for review (it is pending, approved by mia@shop.example)`]);
		}, REVIEW_POLICY);
	});
});

describe('an erasure that fails gives back every send key it held (the memory store: no backend differs here)', () => {
	/*
	 * The erasure's second pass (under the locks: decisions opened since it began) holds a key, then the store fails on
	 * its next page. The contact is kept and its decisions go on (docs/privacy.md): that key too is given back.
	 */
	test("a failure in the second pass over the person's open decisions leaves their send keys free", async () => {
		const store = new MemoryStore() as Store;
		const query = store.queryDecisions.bind(store);
		let failing = false;
		const calls: Record<string, number> = {};
		// The first pass does not see the decision (another worker opens it just after), the second does and holds its key.
		(store as { queryDecisions: Store['queryDecisions'] }).queryDecisions = async (q) => {
			if (failing && q.contactIds && q.status) {
				const n = (calls[q.status] = (calls[q.status] ?? 0) + 1);
				if (q.status === 'pending' && n === 1) return [];
				if (q.status === 'delayed' && n === 2) throw new Error('connection reset');
			}
			return query(q);
		};
		await withEngine(store, async (engine) => {
			await engine.ingest({ type: 'identify', identities: { email: EMAIL }, traits: { consent: { email: 'opted_in' } } });
			const { decision } = await engine.ingest({ type: 'track', name: 'Demo Requested', identities: { email: EMAIL } }, { journey: 'nurture' });
			failing = true;
			await expect(engine.eraseContact({ email: EMAIL }, { suppress: true })).rejects.toThrow('connection reset');
			failing = false;
			expect(calls).toMatchObject({ pending: 2, delayed: 2 });
			const { key, ttlMs } = sendClaim(decision.decisionId);
			expect(await store.claimKey(key, ttlMs, Date.now())).toBe(true);
		});
	});
});
