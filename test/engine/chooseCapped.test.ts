/**
 * "Not capped" as a channel-eligibility condition at Choose Channel: a channel already at one of its cap
 * rules (channel, any, tag and journey scopes; exemptions respected) is ineligible with reason
 * FREQUENCY_CAP, the rule and when it frees, so the learner picks among the others. The look is read-only
 * (one store call for every rule); Frequency Cap's check-and-reserve stays the authoritative check.
 */
import { Engine } from '../../engine/engine';
import { cappedChannels } from '../../engine/guard/frequencyCap';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import type { PolicyInput } from '../../engine/policy/schema';
import { MemoryStore } from '../../engine/store/memory';

const HOUR = 3_600_000;
const reachable = { phone: '+15550001111', consent: { email: 'opted_in', sms: 'opted_in' } };

function engineWith(extra: Partial<PolicyInput> = {}, store = new MemoryStore()) {
	return new Engine({ store, policy: loadPolicy({ ...DEFAULT_POLICY, ...extra }), clock: 'event' });
}

/** Ingest → choose → cap → send (dry run) for one event of the same contact. */
async function run(engine: Engine, occurredAt: string, email = 'ana@example.com') {
	const { decision } = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email }, traits: reachable, occurredAt }, { journey: 'nurture' });
	const chosen = await engine.chooseChannel(decision);
	if (chosen.status !== 'pending') return chosen;
	const guarded = await engine.checkCap(chosen);
	return guarded.guard?.allowed ? engine.send(guarded, { dryRun: true }) : guarded;
}

describe('Choose Channel leaves out capped channels', () => {
	test('an email already sent today: email is ineligible (capped: email-daily, frees in 24 h) and SMS is chosen', async () => {
		const engine = engineWith();
		const first = await run(engine, '2026-11-02T09:00:00Z');
		expect(first).toMatchObject({ status: 'sent', channel: 'email' });
		const second = await run(engine, '2026-11-02T15:00:00Z');
		expect(second).toMatchObject({ status: 'sent', channel: 'sms' });
		expect(second.candidates!.find((c) => c.channel === 'email')).toMatchObject({
			eligible: false,
			reason: 'FREQUENCY_CAP',
			ruleId: 'email-daily',
			freesAt: '2026-11-03T09:00:00.001Z',
			detail: 'capped: email-daily (1 of 1 in the last 24h); a slot frees at 2026-11-03T09:00:00.001Z',
		});
		expect(second.candidates!.find((c) => c.channel === 'sms')).toMatchObject({ eligible: true });
		// A day later email is a candidate again (which of the two the learner picks is its own choice).
		const third = await run(engine, '2026-11-03T09:30:00Z');
		expect(third.status).toBe('sent');
		expect(third.candidates!.find((c) => c.channel === 'email')).toMatchObject({ eligible: true });
	});

	test('an any-channel rule at its limit takes every channel: they stay eligible and Frequency Cap blocks with the rule', async () => {
		const engine = engineWith();
		const times = ['2026-11-02T09:00:00Z', '2026-11-02T10:00:00Z', '2026-11-03T10:00:00Z'];
		for (const t of times) expect((await run(engine, t)).status).toBe('sent');
		const fourth = await run(engine, '2026-11-04T12:00:00Z');
		// The guardrails stage gives the verdict, so a paused journey or a review would come first.
		expect(fourth).toMatchObject({ status: 'suppressed', reason: 'FREQUENCY_CAP', ruleId: 'all-weekly', guard: { allowed: false } });
		for (const c of fourth.candidates!.filter((x) => ['email', 'sms'].includes(x.channel))) {
			expect(c).toMatchObject({ eligible: true, ruleId: 'all-weekly', freesAt: '2026-11-09T09:00:00.001Z', detail: expect.stringMatching(/kept because every open channel is capped/) });
		}
		// Other contacts are unaffected.
		const other = await run(engine, '2026-11-04T12:00:00Z', 'bo@example.com');
		expect(other.status).toBe('sent');
		expect(other.candidates!.filter((c) => c.eligible).map((c) => c.channel)).toEqual(['email', 'sms']);
	});

	test('a cap that delays keeps its channel when it is the only one, so Frequency Cap still delays to the free slot', async () => {
		const engine = engineWith({
			journeys: { nurture: { channels: ['email'] } },
			caps: [{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: 1, window: { kind: 'rolling', duration: '24h' }, action: 'delay' }],
		});
		expect((await run(engine, '2026-11-02T09:00:00Z')).status).toBe('sent');
		const second = await run(engine, '2026-11-02T15:00:00Z');
		expect(second).toMatchObject({ status: 'delayed', reason: 'FREQUENCY_CAP', guard: { retryAt: '2026-11-03T09:00:00.001Z' } });
		expect(second.candidates![0]).toMatchObject({ channel: 'email', eligible: true, ruleId: 'email-daily', detail: expect.stringMatching(/^capped: email-daily .*kept because every open channel is capped/) });
	});

	test('one read-only store call for all the rules of all the channels; nothing reserved', async () => {
		const store = new MemoryStore();
		const engine = engineWith({}, store);
		await run(engine, '2026-11-02T09:00:00Z');
		const peek = jest.spyOn(store, 'peekCap');
		const reserve = jest.spyOn(store, 'reserveCap');
		const { decision } = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' }, traits: reachable, occurredAt: '2026-11-02T15:00:00Z' }, { journey: 'nurture' });
		await engine.chooseChannel(decision);
		expect(peek).toHaveBeenCalledTimes(1);
		// email-daily and all-weekly: each rule once, though all-weekly applies to both email and SMS.
		expect(peek.mock.calls[0][1].map((c) => c.ruleId).sort()).toEqual(['all-weekly', 'email-daily']);
		expect(reserve).not.toHaveBeenCalled();
	});

	test('a policy without caps never asks the store', async () => {
		const store = new MemoryStore();
		const engine = engineWith({ caps: [] }, store);
		const peek = jest.spyOn(store, 'peekCap');
		expect(await run(engine, '2026-11-02T09:00:00Z')).toMatchObject({ status: 'sent', channel: 'email' });
		expect(peek).not.toHaveBeenCalled();
	});
});

describe('cappedChannels: which rules apply to a channel', () => {
	const policy = loadPolicy({
		...DEFAULT_POLICY,
		caps: [
			{ id: 'promo-weekly', scope: { kind: 'tag', tag: 'promo' }, limit: 1, window: { kind: 'rolling', duration: '7d' } },
			{ id: 'cart-daily', scope: { kind: 'journey', journey: 'cart' }, limit: 1, window: { kind: 'calendar', unit: 'day' } },
			{ id: 'sms-daily', scope: { kind: 'channel', channel: 'sms' }, limit: 1, window: { kind: 'rolling', duration: '24h' }, exemptions: [{ category: 'transactional' }] },
		],
	}).policy;
	const now = Date.parse('2026-11-02T12:00:00Z');

	async function storeWith(entries: { channel: string; journey: string; tags: string[] }[]) {
		const store = new MemoryStore();
		let i = 0;
		for (const e of entries) {
			const id = `r${++i}`;
			await store.reserveCap({ reservationId: id, contactId: 'c1', ...e, at: now - HOUR, expiresAt: now + HOUR }, []);
			await store.settleCap(id, 'commit');
		}
		return store;
	}

	test('tag scope: only a message carrying the tag is capped', async () => {
		const store = await storeWith([{ channel: 'email', journey: 'nurture', tags: ['promo'] }]);
		const untagged = await cappedChannels(store, policy, 'c1', ['email', 'sms'], { journey: 'nurture', tags: [] }, now, 'UTC');
		expect([...untagged.keys()]).toEqual([]);
		const promo = await cappedChannels(store, policy, 'c1', ['email', 'sms'], { journey: 'nurture', tags: ['promo'] }, now, 'UTC');
		expect([...promo.keys()]).toEqual(['email', 'sms']);
		expect(promo.get('sms')).toMatchObject({ rule: { id: 'promo-weekly' }, count: 1, freesAt: now - HOUR + 7 * 24 * HOUR + 1 });
	});

	test('journey scope: every channel of that journey, until the calendar day resets', async () => {
		const store = await storeWith([{ channel: 'sms', journey: 'cart', tags: [] }]);
		expect([...(await cappedChannels(store, policy, 'c1', ['email', 'push'], { journey: 'nurture', tags: [] }, now, 'UTC')).keys()]).toEqual([]);
		const cart = await cappedChannels(store, policy, 'c1', ['email', 'push'], { journey: 'cart', tags: [] }, now, 'UTC');
		expect(cart.get('email')).toMatchObject({ rule: { id: 'cart-daily' }, freesAt: Date.parse('2026-11-03T00:00:00Z') });
	});

	test('an exempt category is not capped by the rule it is exempt from', async () => {
		const store = await storeWith([{ channel: 'sms', journey: 'nurture', tags: [] }]);
		expect((await cappedChannels(store, policy, 'c1', ['sms'], { journey: 'nurture', tags: [] }, now, 'UTC')).get('sms')?.rule.id).toBe('sms-daily');
		expect((await cappedChannels(store, policy, 'c1', ['sms'], { journey: 'nurture', category: 'transactional', tags: [] }, now, 'UTC')).size).toBe(0);
	});
});
