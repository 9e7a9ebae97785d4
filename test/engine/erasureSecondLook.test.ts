/**
 * Erasures racing what else reaches the store, a second look (docs/privacy.md): Decisions Due, a split flow's
 * Frequency Cap, an inactivity timer taken just before; what the learner's keys and the link masking keep; where an
 * erased person's duplicate is logged; retention's erasure. Races are made repeatable by running the erasure from inside
 * a store call of the other operation, as test/engine/erasureRaces does.
 */
import { Engine } from '../../engine/engine';
import { applyInactivityRules, fireDueTimers } from '../../engine/events/timers';
import type { PolicyInput } from '../../engine/policy/schema';
import { MemoryStore } from '../../engine/store/memory';
import { redactLinks } from '../../engine/errors';
import { isCredentialName } from '../../engine/util/credentialNames';
import { contentHash } from '../../engine/ids';
import type { Store } from '../../engine/store/types';
import { beforeFirstCall, countingSender, withEngine as withEngineAt } from '../helpers/erasure';
import { found, forEveryBackend, memoryDump, type Backend } from '../helpers/rawStores';

const EMAIL = 'wren.okafor@example.org';

/** The engine's clock starts at noon on 2 March 2026 (the tests move it). */
const withEngine = (store: Store, run: (engine: Engine, clock: { at: string }) => Promise<void>, policy: Partial<PolicyInput> = {}, at = '2026-03-02T12:00:00Z') => withEngineAt(store, run, policy, at);
const NIGHT = { quietHours: [{ id: 'night', start: '21:00', end: '08:00', action: 'delay' as const }] };

forEveryBackend('datarights2', (backend: Backend) => {
	/*
	 * A delayed decision brought back by Decisions Due while its contact is erased: the erasure holds the send key of every
	 * open decision (delayed and in review too), so the due decision's cap check reserves nothing and answers the erased
	 * row; nothing is sent or written back under the contact's id.
	 */
	test(`${backend.name}: Decisions Due racing an erasure sends nothing and writes nothing back under the erased id`, async () => {
		const store = backend.open();
		await withEngine(
			store,
			async (engine, clock) => {
				const { profile } = await engine.ingest({ type: 'identify', identities: { email: EMAIL }, traits: { consent: { email: 'opted_in' } } });
				const sender = countingSender();
				const d = await engine.decide({ type: 'track', name: 'Demo Requested', identities: { email: EMAIL } }, { journey: 'nurture', target: { sender } });
				expect(d.status).toBe('delayed');
				clock.at = '2026-03-03T09:00:00Z';
				const erasure = beforeFirstCall(store, ['reserveCapAndClaim'], () => engine.eraseContact({ email: EMAIL }, { suppress: true }));
				const due = await engine.decideDue(d.decisionId, { sender }).catch((e: Error) => e);
				expect(erasure.ran()).toBe(true);
				expect(sender.attempts).toBe(0);
				const stored = await store.getDecision(d.decisionId);
				expect({ status: stored?.status, reason: stored?.reason }).toEqual({ status: 'suppressed', reason: 'CONTACT_ERASED' });
				expect(found(await backend.dump(store), [profile!.contactId, EMAIL])).toEqual([]);
				void due;
			},
			{ ...NIGHT },
			'2026-03-02T22:00:00Z',
		);
	});
	/*
	 * A split flow's Frequency Cap node reaching the store as the contact is erased: it looks at the send key with the
	 * reservation, finds it held, reserves nothing and answers the erased row instead of writing its copy back.
	 */
	test(`${backend.name}: a split flow's Frequency Cap racing an erasure writes nothing back under the erased id`, async () => {
		const store = backend.open();
		await withEngine(store, async (engine) => {
			const { profile } = await engine.ingest({ type: 'identify', identities: { email: EMAIL }, traits: { consent: { email: 'opted_in' } } });
			const { decision } = await engine.ingest({ type: 'track', name: 'Demo Requested', identities: { email: EMAIL } }, { journey: 'nurture' });
			const chosen = await engine.chooseChannel(decision.decisionId);
			expect(chosen.status).toBe('pending');
			// The erasure lands as the cap check reaches the store, whichever call reserves.
			const erasure = beforeFirstCall(store, ['reserveCap', 'reserveCapAndClaim'], () => engine.eraseContact({ email: EMAIL }, { suppress: true }));
			await engine.checkCap(decision.decisionId).catch(() => undefined);
			expect(erasure.ran()).toBe(true);
			const stored = await store.getDecision(decision.decisionId);
			expect({ status: stored?.status, reason: stored?.reason, erased: stored?.contactId.startsWith('erased_') }).toEqual({ status: 'suppressed', reason: 'CONTACT_ERASED', erased: true });
			expect(found(await backend.dump(store), [profile!.contactId, EMAIL])).toEqual([]);
		});
	});
	/*
	 * An inactivity timer taken by a worker just before its contact's erasure: its firing finds the contact gone and
	 * takes nothing in (the fired event would make a new contact of the erased id).
	 */
	test(`${backend.name}: an inactivity timer fired while its contact is erased does not recreate the contact`, async () => {
		const store = backend.open();
		await withEngine(store, async (engine) => {
			const contactId = 'wo-crm-5521';
			const rules = [{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' }];
			const cart = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { contactId, email: EMAIL } }, { journey: 'cart' });
			await applyInactivityRules(engine, [cart], rules);
			const take = store.takeDueTimers.bind(store);
			store.takeDueTimers = async (...args: Parameters<typeof take>) => {
				const taken = await take(...args);
				if (taken.length) await engine.eraseContact({ contactId });
				return taken;
			};
			const fired = await fireDueTimers(engine, Date.parse('2026-03-02T12:31:00Z'), 100, rules);
			await fired.acknowledge();
			await store.sync();
			expect(fired.failed).toEqual([]);
			await expect(engine.contactRecord({ contactId })).rejects.toMatchObject({ code: 'UNKNOWN_CONTACT' });
			expect(found(await backend.dump(store), [contactId])).toEqual([]);
		});
	});
});

describe('what is masked and what an erasure leaves (the memory store and pure functions: no backend differs here)', () => {
	/*
	 * A link in the event's name is masked whole out of the learner's context key (its query may name the person, here
	 * percent-encoded), and the erasure scrubs the person's values as a link writes them too.
	 */
	test("a link in the event's name is masked out of the learner's context key", async () => {
		const store = new MemoryStore();
		await withEngine(store, async (engine) => {
			const name = 'Clicked https://shop.example/r?ref=wren.okafor%40example.org';
			const d = await engine.decide({ type: 'track', name, identities: { email: EMAIL } }, { journey: 'nurture', target: { dryRun: true } });
			expect(d.choice?.context).toBeDefined();
			expect(d.choice!.context).not.toContain('shop.example');
			await engine.eraseContact({ email: EMAIL });
			expect(found(memoryDump(store), ['wren.okafor'])).toEqual([]);
		});
	});

	/*
	 * A webinar's `session=` and a login widget's `auth_mode=` are ordinary parameters of a link: shown, though a trait
	 * named `session` or `auth_header` is masked.
	 */
	test("ordinary marketing-link parameters (session=, auth_mode=) are not masked as credentials", () => {
		const link = 'https://events.example.com/register?session=keynote-2&auth_mode=popup&utm_source=newsletter';
		expect(redactLinks(link)).toBe(link);
		expect(['session', 'auth_header', 'auth'].filter(isCredentialName)).toEqual(['session', 'auth_header', 'auth']);
	});

	/*
	 * Credential parameters by their common short names: a session's `sid=`, a signed `SAMLResponse=`, an `hmac=`, a CAS
	 * `ticket=`.
	 */
	test("a link's session id, SAML response, HMAC and CAS ticket are masked", () => {
		const link = 'https://app.example.com/sso?sid=s-4411&SAMLResponse=PHNhbWxwOlJlc3BvbnNl&hmac=9f2c1a&ticket=ST-1-abc&plan=pro';
		expect(redactLinks(link)).toBe('https://app.example.com/sso?sid=***&SAMLResponse=***&hmac=***&ticket=***&plan=pro');
	});
	/*
	 * An erased person's duplicate event is logged under a pseudonym no event names, not `unknown`, which a real
	 * contact may be called: it is in nobody's record.
	 */
	test("an erased person's duplicate event is not attributed to a real contact whose id is 'unknown'", async () => {
		const store = new MemoryStore();
		await withEngine(store, async (engine) => {
			await engine.ingest({ type: 'identify', identities: { contactId: 'unknown' }, traits: { plan: 'visitor' } });
			const event = { type: 'track', eventId: 'evt-wo-77', name: 'Demo Requested', identities: { email: EMAIL } };
			await engine.ingest(event, { journey: 'nurture' });
			await engine.eraseContact({ email: EMAIL });
			const again = await engine.ingest(event, { journey: 'nurture' });
			expect(again.duplicate).toBe(true);
			const record = await engine.contactRecord({ contactId: 'unknown' });
			expect(record.decisions.map((d) => d.event.eventId)).not.toContain('evt-wo-77');
		});
	});
	/*
	 * Retention erases an inactive contact as `nudge erase` does, the agents' blast radius marks of them included (an
	 * agent acting on a contact does not make it seen).
	 */
	test("retention's erasure of an inactive contact deletes the agents' blast-radius marks of them", async () => {
		const store = new MemoryStore();
		await withEngine(
			store,
			async (engine, clock) => {
				const { profile } = await engine.ingest({ type: 'identify', identities: { email: EMAIL }, traits: { consent: { email: 'opted_in' } } });
				clock.at = '2026-04-11T12:00:00Z';
				const verdict = await engine.requestAction({ agentId: 'growth-bot', idempotencyKey: 'k1', contact: EMAIL, channel: 'email', message: { category: 'promotional', text: 'Hello', subject: 'Hi' } });
				expect(verdict.verdict).toBe('allow');
				const mark = contentHash(profile!.contactId, 24);
				expect(found(memoryDump(store), [mark])).toEqual([mark]);
				clock.at = '2026-04-12T12:00:00Z';
				const report = await engine.runRetention();
				expect(report.counts.profiles).toBe(1);
				expect(found(memoryDump(store), [profile!.contactId, mark])).toEqual([]);
			},
			{ agents: { blastRadius: [{ id: 'people-90d', count: 'contacts', limit: 1000, window: '90d' }] }, retention: { decisions: '400d', inactiveProfiles: '30d', auto: false, every: '1d' } } as Partial<PolicyInput>,
		);
	});
});
