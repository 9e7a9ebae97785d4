/**
 * Merged contacts at their limits: a contact with tens of thousands of merged ids, the timers of a contact many visitors
 * were merged into, several ids in one decision query, and a merge that does not save.
 */
import { Engine } from '../../engine/engine';
import { applyInactivityRules, parseInactivityRules } from '../../engine/events/timers';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import type { PolicyInput } from '../../engine/policy/schema';
import { profileIdentityKeys } from '../../engine/profiles/profiles';
import { Backend, forEveryBackend, localBackends, postgresBackend, redisBackend } from '../helpers/rawStores';
import { describeWithServer, TEST_POSTGRES_URL, TEST_REDIS_URL } from '../helpers/services';

const base: PolicyInput = {
	...DEFAULT_POLICY,
	caps: [],
	holdout: { salt: 'merged', globalShare: 0, journeys: {} },
	journeys: { nurture: { channels: ['email'], outcomes: { 'Email Opened': { type: 'open' } } }, cart: { channels: ['email'] } },
};
const withRedis = describeWithServer('Redis', TEST_REDIS_URL);
const withPostgres = describeWithServer('PostgreSQL', TEST_POSTGRES_URL);

describe('a contact with many merged ids', () => {
	for (const backend of localBackends()) {
		test(`${backend.name}: an outcome event of a contact with 33,000 merged ids is attributed (past SQLite's 32,766 variables a statement)`, async () => {
			const engine = new Engine({ store: backend.open(), policy: loadPolicy(base), clock: 'event' });
			await engine.ingest({ type: 'identify', identities: { userId: 'u-a', email: 'a@x.io' }, traits: { consent: { email: 'opted_in' } }, occurredAt: '2026-03-01T10:00:00Z' }, { journey: 'nurture' });
			const sent = await engine.decide({ type: 'track', name: 'Demo Requested', identities: { userId: 'u-a' }, occurredAt: '2026-03-01T10:01:00Z' }, { journey: 'nurture', target: { dryRun: true } });
			expect(sent.status).toBe('sent');
			const profile = (await engine.store.getProfile(sent.contactId))!;
			profile.mergedFrom = Array.from({ length: 33_000 }, (_, i) => `visitor-${i}`);
			await engine.store.saveProfile(profile, profileIdentityKeys(profile), []);
			let outcome: unknown;
			try {
				outcome = (await engine.ingest({ type: 'track', name: 'Email Opened', identities: { userId: 'u-a' }, occurredAt: '2026-03-01T10:02:00Z' }, { journey: 'nurture' })).decision.outcomeFor?.type;
			} catch (error) {
				outcome = (error as Error).message;
			}
			expect(outcome).toBe('open');
			await engine.close();
		}, 120_000);
	}
});

describe('timers of a merged contact: hot-path cost', () => {
	const rules = parseInactivityRules([{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' }]);
	test('memory: a cart update of a contact 40 visitors merged into cancels no more timers than one of a contact alone', async () => {
		const cancels = async (merged: number) => {
			const engine = new Engine({ store: localBackends()[0].open(), policy: loadPolicy(base), clock: 'event' });
			let t = 0;
			const at = () => new Date(Date.parse('2026-03-01T10:00:00Z') + t++ * 1000).toISOString();
			await engine.ingest({ type: 'identify', identities: { userId: 'u-a' }, occurredAt: at() }, { journey: 'cart' });
			for (let i = 0; i < merged; i++) {
				await engine.ingest({ type: 'page', name: 'Pricing Viewed', identities: { anonymousId: `anon-${i}` }, occurredAt: at() }, { journey: 'cart' });
				await engine.ingest({ type: 'identify', identities: { userId: 'u-a', anonymousId: `anon-${i}` }, occurredAt: at() }, { journey: 'cart' });
			}
			const first = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { userId: 'u-a' }, occurredAt: at() }, { journey: 'cart' });
			await applyInactivityRules(engine, [first], rules);
			// The second cart update of the same contact: the merged ids' timers were cancelled a moment ago.
			const spy = jest.spyOn(engine.store, 'cancelTimer');
			const again = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { userId: 'u-a' }, occurredAt: at() }, { journey: 'cart' });
			await applyInactivityRules(engine, [again], rules);
			const n = spy.mock.calls.length;
			await engine.close();
			return n;
		};
		const alone = await cancels(0);
		expect(await cancels(40)).toBeLessThanOrEqual(alone + 1);
	});
});

function duplicateIds(backend: Backend): void {
	test(`${backend.name}: queryDecisions with contactIds naming one id twice answers each decision once`, async () => {
		const engine = new Engine({ store: backend.open(), policy: loadPolicy(base) });
		const sent = await engine.decide({ type: 'identify', identities: { userId: 'u-dup' }, traits: { consent: { email: 'opted_in' } }, occurredAt: '2026-03-01T10:00:00Z' }, { journey: 'nurture', target: { dryRun: true } });
		const found = await engine.store.queryDecisions({ contactIds: [sent.contactId, sent.contactId] });
		expect(found.map((d) => d.decisionId)).toEqual([sent.decisionId]);
		await engine.close();
	});
}
describe('DecisionQuery.contactIds contract', () => {
	for (const backend of localBackends()) duplicateIds(backend);
	withRedis('on Redis', () => duplicateIds(redisBackend('nudgemergedlimits')));
	withPostgres('on PostgreSQL', () => duplicateIds(postgresBackend('nudgemergedlimits')));
});

/** Contact A (a user id) and contact B (an email) that had its two emails of the day under a daily cap of 2. */
async function twoEmailsForB(backend: Backend) {
	const policy = loadPolicy({
		...DEFAULT_POLICY,
		caps: [{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: 2, window: { kind: 'rolling', duration: '24h' } }],
		holdout: { salt: 'merged', globalShare: 0, journeys: {} },
		journeys: { nurture: { channels: ['email'] } },
	} as PolicyInput);
	const engine = new Engine({ store: backend.open(), policy, clock: 'event' });
	const ev = (name: string, identities: Record<string, string>, minute: number) => ({ type: 'track', name, identities, occurredAt: new Date(Date.parse('2026-03-03T10:00:00Z') + minute * 60_000).toISOString() });
	const dry = { journey: 'nurture', target: { dryRun: true } } as const;
	const a = (await engine.ingest(ev('Signed Up', { userId: 'u-a' }, 0), { journey: 'nurture' })).decision.contactId;
	expect((await engine.decide(ev('Demo Requested', { email: 'b@x.io' }, 1), dry)).status).toBe('sent');
	const b = (await engine.decide(ev('Demo Requested', { email: 'b@x.io' }, 2), dry)).contactId;
	expect((await engine.decide(ev('Demo Requested', { email: 'b@x.io' }, 3), dry)).reason).toBe('FREQUENCY_CAP');
	return { engine, ev, dry, a, b };
}

function failedMerge(backend: Backend): void {
	test(`${backend.name}: a merge whose profile save fails leaves the merged-away contact's caps counting (it is still its own contact)`, async () => {
		const { engine, ev, dry, a, b } = await twoEmailsForB(backend);
		// The linking event's profile save fails (a store error; the sender does not retry).
		const store = engine.store as unknown as Record<string, unknown>;
		const spies = ['saveProfileAndRelease', 'saveProfile'].filter((m) => typeof store[m] === 'function').map((m) => jest.spyOn(engine.store as never, m as never).mockImplementation((() => Promise.reject(new Error('store down'))) as never));
		await expect(engine.ingest(ev('Logged In', { userId: 'u-a', email: 'b@x.io' }, 4), { journey: 'nurture' })).rejects.toThrow();
		for (const spy of spies) spy.mockRestore();
		// Nothing merged: B is still its own contact, and it had its two emails of the day.
		expect(await engine.store.getProfile(b)).toBeDefined();
		const again = await engine.decide(ev('Demo Requested', { email: 'b@x.io' }, 5), dry);
		expect(again.contactId).toBe(b);
		expect(again.contactId).not.toBe(a);
		expect({ status: again.status, reason: again.reason }).toEqual({ status: 'suppressed', reason: 'FREQUENCY_CAP' });
		await engine.close();
	});
}
describe('a merge that does not save', () => {
	// Local stores save through saveProfileAndRelease; on Redis/PostgreSQL the save is carried by a later step (not stubbed here).
	for (const backend of localBackends()) failedMerge(backend);
});

function failedLedgerMove(backend: Backend): void {
	test(`${backend.name}: a merge saved whose cap ledger move fails moves it at the survivor's next event (its sends still count)`, async () => {
		const { engine, ev, dry, a } = await twoEmailsForB(backend);
		// The linking event's merge is saved, and the move of B's ledger fails once (the caps store blinked).
		const move = jest.spyOn(engine.store, 'moveCapLedger').mockImplementationOnce(() => Promise.reject(new Error('caps store down')));
		await engine.ingest(ev('Logged In', { userId: 'u-a', email: 'b@x.io' }, 4), { journey: 'nurture' }).catch(() => undefined);
		expect(move).toHaveBeenCalled();
		move.mockRestore();
		// One person now, who had two emails today: the third is capped.
		const again = await engine.decide(ev('Demo Requested', { email: 'b@x.io' }, 5), dry);
		expect(again.contactId).toBe(a);
		expect({ status: again.status, reason: again.reason }).toEqual({ status: 'suppressed', reason: 'FREQUENCY_CAP' });
		// The moves are done: the profile no longer names ledgers to move.
		expect((await engine.store.getProfile(a))?.capLedgerFrom).toBeUndefined();
		await engine.close();
	});
}
describe('a merge whose cap ledger move fails', () => {
	forEveryBackend('nudgeledgermove', failedLedgerMove);
});
