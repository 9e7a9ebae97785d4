/** Guardrails and data rights where a second check, a merge, an account or a concurrent request meets a contact. */
import { Engine } from '../../engine/engine';
import { takeDueDecisions, WAIT_RETRY_MS } from '../../engine/guard/waits';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import type { PolicyInput } from '../../engine/policy/schema';
import { MemoryStore } from '../../engine/store/memory';
import { profileIdentityKeys } from '../../engine/profiles/profiles';

const T0 = Date.parse('2026-11-03T10:00:00Z');
const emailDaily: PolicyInput['caps'] = [{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: 1, window: { kind: 'rolling', duration: '24h' } }];
const ana = (name: string, eventId: string) => ({ type: 'track', name, eventId, identities: { email: 'ana@example.com' }, traits: { consent: { email: 'opted_in' } } });

describe('Frequency Cap checking an allowed decision again', () => {
	let now: number;
	let engine: Engine;
	beforeEach(() => {
		now = T0;
		engine = new Engine({ store: new MemoryStore(), policy: loadPolicy({ ...DEFAULT_POLICY, caps: emailDaily } as PolicyInput), now: () => new Date(now) });
	});
	afterEach(() => engine.close());

	test('a second Frequency Cap check of an allowed decision whose cap reservation expired checks the caps again (no second email under a 1-a-day cap)', async () => {
		const a = await engine.chooseChannel((await engine.ingest(ana('Pricing Viewed', 'e-a'), { journey: 'nurture' })).decision);
		expect(await engine.checkCap(a)).toMatchObject({ status: 'pending', guard: { allowed: true } });
		// A's flow stalls (or fails) between Frequency Cap and Send past reservationTimeoutSeconds: its slot is free again.
		now = T0 + 6 * 60_000;
		const b = await engine.chooseChannel((await engine.ingest(ana('Demo Requested', 'e-b'), { journey: 'nurture' })).decision);
		expect(await engine.send(await engine.checkCap(b), { dryRun: true })).toMatchObject({ status: 'sent' });
		// A is checked again (a retried execution, its wait handing it out again): the day's one email is gone.
		const again = await engine.checkCap({ decisionId: a.decisionId });
		expect(again.guard?.allowed).toBe(false);
	});
});

describe('a handed-out delayed decision comes out again when its flow failed', () => {
	const night = { id: 'night', start: '21:00', end: '08:00', action: 'delay' as const };
	const NIGHT = Date.parse('2026-11-02T22:30:00Z');
	const MORNING = Date.parse('2026-11-03T07:00:00Z');

	test('a decision whose flow failed between Frequency Cap and Send (allowed, never sent) comes out again after WAIT_RETRY_MS', async () => {
		let now = NIGHT;
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy({ ...DEFAULT_POLICY, holdout: { globalShare: 0, journeys: {} }, quietHours: [night] } as PolicyInput), now: () => new Date(now) });
		const { decision } = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' }, traits: { timezone: 'Europe/Berlin', consent: { email: 'opted_in' } } }, { journey: 'nurture' });
		expect(await engine.checkCap(await engine.chooseChannel(decision))).toMatchObject({ status: 'delayed' });
		now = MORNING;
		const [due] = (await takeDueDecisions(engine, 'nurture', MORNING)).decisions;
		// Its execution passes Frequency Cap, then dies before Send (the n8n worker is lost, the store is down at Send).
		expect(await engine.checkCap(due)).toMatchObject({ status: 'pending', guard: { allowed: true } });
		now = MORNING + WAIT_RETRY_MS;
		const again = await takeDueDecisions(engine, 'nurture', MORNING + WAIT_RETRY_MS);
		await again.acknowledge();
		// Nothing else will ever bring it back: the message is lost while the log says it is under way.
		expect(again.decisions.map((d) => d.decisionId)).toEqual([decision.decisionId]);
		await engine.close();
	});
});

describe('holdout arms', () => {
	test('a contact saved before holdoutKey existed keeps its arm when its next event brings its first user id', async () => {
		const policy = loadPolicy({ channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } }, holdout: { salt: 's', globalShare: 0.5, journeys: {} } });
		const store = new MemoryStore();
		const engine = new Engine({ store, policy });
		const cart = { journey: 'cart', target: { dryRun: true as const } };
		const switched: string[] = [];
		for (let i = 0; i < 20; i++) {
			const first = await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { email: `legacy${i}@x.io` } }, cart);
			// The profile as the previous release saved it: no holdoutKey (its arm was drawn from the contact id).
			const profile = (await store.getProfile(first.contactId))!;
			delete profile.holdoutKey;
			await store.saveProfile(profile, profileIdentityKeys(profile), []);
			const again = await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { email: `legacy${i}@x.io`, userId: `legacy-user-${i}` } }, cart);
			expect(again.contactId).toBe(first.contactId);
			if ((first.reason === 'HOLDOUT') !== (again.reason === 'HOLDOUT')) switched.push(first.contactId);
		}
		await engine.close();
		// Sanity: with a 50% share, contact ids and user ids disagree on about half of these people.
		expect(switched).toEqual([]);
	});
});

describe('time zones', () => {
	test('a merge never keeps the survivor\'s invalid zone over the other contact\'s real one', async () => {
		const store = new MemoryStore();
		const engine = new Engine({ store, policy: loadPolicy(DEFAULT_POLICY) });
		const older = await engine.ingest({ type: 'identify', identities: { email: 'tz@example.org' }, traits: { timezone: 'GMT+2' } });
		await engine.ingest({ type: 'identify', identities: { userId: 'tz-user' }, traits: { timezone: 'Europe/Berlin' } });
		const merged = await engine.ingest({ type: 'track', name: 'Login', identities: { email: 'tz@example.org', userId: 'tz-user' } });
		expect(merged.profile!.contactId).toBe(older.profile!.contactId);
		expect((await store.getProfile(older.profile!.contactId))?.timezone).toBe('Europe/Berlin');
		await engine.close();
	});
});

describe('a Segment group call', () => {
	test('a Segment group call\'s account email is not the person\'s identity: two colleagues stay two contacts, neither mailed at the account address', async () => {
		const store = new MemoryStore();
		const engine = new Engine({ store, policy: loadPolicy(DEFAULT_POLICY) });
		const group = (userId: string, messageId: string) => ({ type: 'group', messageId, userId, groupId: 'acme', traits: { name: 'Acme Inc', email: 'billing@acme.example' }, timestamp: '2026-05-04T10:00:00.000Z' });
		const a = await engine.ingest(group('user-a', 'm-1'), { source: 'segment' });
		const b = await engine.ingest(group('user-b', 'm-2'), { source: 'segment' });
		expect(b.profile!.contactId).not.toBe(a.profile!.contactId);
		expect((await store.getProfile(a.profile!.contactId))?.email).toBeUndefined();
		await engine.close();
	});
});

describe('agent approvals', () => {
	test('a journey reviewer approving variant B does not approve whatever an agent sends under the label B', async () => {
		const AT = new Date('2026-05-04T10:00:00.000Z');
		const engine = new Engine({ store: new MemoryStore(), policy: loadPolicy({ ...DEFAULT_POLICY, caps: [], holdout: { globalShare: 0, journeys: {} }, review: [{ id: 'new-variant', newVariant: true }], agents: { blastRadius: [] } } as PolicyInput), now: () => AT });
		await engine.ingest({ type: 'identify', identities: { email: 'ana@example.com' }, traits: { consent: { email: 'opted_in' } } });
		await engine.ingest({ type: 'identify', identities: { email: 'bo@example.com' }, traits: { consent: { email: 'opted_in' } } });
		// The journey's variant B (the flow's reviewed template) goes to review and is approved.
		const { decision } = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' } }, { journey: 'nurture' });
		expect(await engine.checkCap(await engine.chooseChannel(decision), { variant: 'B' })).toMatchObject({ status: 'review' });
		await engine.resolveReview(decision, { approve: true, reviewer: 'mia@shop.example' });
		// An agent writes its own text under the free label B: nobody has seen it.
		const verdict = await engine.requestAction({ agentId: 'growth-bot', idempotencyKey: 'k-b', contact: 'bo@example.com', channel: 'email', message: { variant: 'B', text: '90% OFF EVERYTHING, today only' } });
		expect(verdict).toMatchObject({ verdict: 'needs_approval', rule: 'new-variant' });
		await engine.close();
	});
});

describe('erasure stops sends under way', () => {
	/** Starts `hook` (the erasure) right after the cap check claimed the send's key, and lets it run a moment before the send goes on. */
	class HookStore extends MemoryStore {
		hook?: () => Promise<unknown>;
		started?: Promise<unknown>;
		override async reserveCapAndClaim(...args: Parameters<MemoryStore['reserveCapAndClaim']>) {
			const result = await super.reserveCapAndClaim(...args);
			const hook = this.hook;
			this.hook = undefined;
			if (hook) {
				this.started = hook();
				await new Promise((resolve) => setTimeout(resolve, 50));
			}
			return result;
		}
	}

	test('an erasure between the one-call journey\'s cap check and its send waits for the send: the log keeps no decision under the person\'s id', async () => {
		const store = new HookStore();
		const engine = new Engine({ store, policy: loadPolicy({ ...DEFAULT_POLICY, holdout: { globalShare: 0, journeys: {} } } as PolicyInput) });
		const { profile } = await engine.ingest({ type: 'identify', identities: { email: 'ana@example.com' }, traits: { consent: { email: 'opted_in' } } });
		// The person's erasure request arrives while engine.decide is between Frequency Cap (its send key claimed with the slot) and Send.
		store.hook = () => engine.eraseContact({ email: 'ana@example.com' });
		const decided = await engine.decide({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' } }, { journey: 'nurture', target: { dryRun: true } });
		expect(store.hook).toBeUndefined();
		await store.started;
		// The send under way ends first (the erasure waits for it), then the erasure takes its decision too.
		expect(decided.status).toBe('sent');
		expect(await engine.getDecision(decided.decisionId)).toMatchObject({ status: 'sent', contactId: expect.stringMatching(/^erased_/) });
		expect(await engine.queryDecisions({ contactId: profile!.contactId })).toEqual([]);
		await engine.close();
	});
});
