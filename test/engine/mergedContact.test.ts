import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { Backend, forEveryBackend } from '../helpers/rawStores';

/**
 * A contact merged into another (an event linked their identities) lives on in the survivor: an event, an outcome, an
 * export or an erasure that names the merged-away contact id reaches the surviving contact, never a new empty one.
 */
// No caps: the contact's consent alone decides whether it is messaged.
const policy = () =>
	loadPolicy({ ...DEFAULT_POLICY, caps: [], holdout: { salt: 'merged', globalShare: 0, journeys: {} }, journeys: { nurture: { channels: ['email'], outcomes: { 'Email Opened': { type: 'open' } } } } });
/** Two emails a day to a contact, which each of two contacts reaches alone. */
const cappedPolicy = () =>
	loadPolicy({
		...DEFAULT_POLICY,
		caps: [{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: 2, window: { kind: 'rolling', duration: '24h' } }],
		holdout: { salt: 'merged', globalShare: 0, journeys: {} },
		journeys: { nurture: { channels: ['email'] } },
	});
const dry = { journey: 'nurture', target: { dryRun: true } } as const;
/** Event times a few hours back, an hour apart (a trigger event older than the de-duplication window starts nothing). */
const START = Math.floor(Date.now() / 1000) * 1000 - 12 * 3_600_000;
const day = (d: number) => new Date(START + d * 3_600_000).toISOString();
const track = (name: string, identities: Record<string, string>, d: number, extra: Record<string, unknown> = {}) => ({ type: 'track', name, identities, occurredAt: day(d), ...extra });

/** The older contact A (a user id) and B (an email, opted out of email), then an event linking them: B merges into A. */
async function merged(engine: Engine): Promise<{ a: string; b: string; sentToB: string }> {
	const a = (await engine.ingest(track('Signed Up', { userId: 'u-a' }, 1), { journey: 'nurture' })).decision.contactId;
	const sentToB = await engine.decide(track('Demo Requested', { email: 'b@x.io' }, 2), dry);
	expect(sentToB.status).toBe('sent');
	const b = sentToB.contactId;
	await engine.ingest(track('Unsubscribed', { email: 'b@x.io' }, 3), { journey: 'nurture' });
	const link = await engine.ingest(track('Logged In', { userId: 'u-a', email: 'b@x.io' }, 4), { journey: 'nurture' });
	expect(link.decision.contactId).toBe(a);
	expect(await engine.store.getProfile(b)).toBeUndefined();
	return { a, b, sentToB: sentToB.decisionId };
}


function describeMerged(backend: Backend): void {
	const engineOn = () => new Engine({ store: backend.open(), policy: policy() });

	test(`${backend.name}: an event naming a merged-away contact id updates the contact it was merged into, which stays opted out`, async () => {
		const engine = engineOn();
		const { a, b } = await merged(engine);
		// The integrator kept B's id, and sends the address as a trait: a new contact under B's id could be emailed.
		const later = await engine.decide(track('Demo Requested', { contactId: b }, 5, { traits: { email: 'b@x.io' } }), dry);
		expect(later.contactId).toBe(a);
		expect(later.status).not.toBe('sent');
		expect(later.reason).toBe('NO_CONSENT');
		expect(await engine.store.getProfile(b)).toBeUndefined();
		expect(await engine.getProfile(a)).toMatchObject({ consent: { email: 'opted_out' }, counters: { 'Demo Requested': 2 }, mergedFrom: [b] });
		expect((await engine.getProfile(b))?.contactId).toBe(a);
		await engine.close();
	});

	test(`${backend.name}: a chain of merges (B into A, then A into an older Z): B's and A's ids both reach Z`, async () => {
		const engine = engineOn();
		const z = (await engine.ingest(track('Signed Up', { userId: 'u-z' }, 0), { journey: 'nurture' })).decision.contactId;
		const { a, b } = await merged(engine);
		expect((await engine.ingest(track('Logged In', { userId: 'u-z', email: 'b@x.io' }, 5), { journey: 'nurture' })).decision.contactId).toBe(z);
		for (const id of [b, a]) expect((await engine.ingest(track('Page Viewed', { contactId: id }, 6), { journey: 'nurture' })).decision.contactId).toBe(z);
		expect(await engine.store.getProfile(a)).toBeUndefined();
		expect(await engine.store.getProfile(b)).toBeUndefined();
		expect(await engine.getProfile(z)).toMatchObject({ consent: { email: 'opted_out' }, counters: { 'Page Viewed': 2 } });
		await engine.close();
	});

	test(`${backend.name}: a merge and an event naming the merged contact's id, delivered at once, end on one contact`, async () => {
		const engine = engineOn();
		for (let round = 0; round < 8; round++) {
			const a = (await engine.ingest(track('Signed Up', { userId: `u-a${round}` }, 1), { journey: 'nurture' })).decision.contactId;
			const b = (await engine.ingest(track('Unsubscribed', { email: `b${round}@x.io` }, 2), { journey: 'nurture' })).decision.contactId;
			await Promise.all([
				engine.ingest(track('Logged In', { userId: `u-a${round}`, email: `b${round}@x.io` }, 3), { journey: 'nurture' }),
				engine.ingest(track('Page Viewed', { contactId: b }, 3, { traits: { email: `b${round}@x.io` } }), { journey: 'nurture' }),
			]);
			expect(await engine.store.getProfile(b)).toBeUndefined();
			expect(await engine.getProfile(a)).toMatchObject({ consent: { email: 'opted_out' }, counters: { 'Logged In': 1, 'Page Viewed': 1 } });
		}
		await engine.close();
	});

	test(`${backend.name}: outcomes of a message sent before the merge: an unsubscribe opts the surviving contact out, an open by its id or an event is the message's`, async () => {
		const engine = engineOn();
		const { a, b, sentToB } = await merged(engine);
		await engine.ingest(track('Subscribed', { contactId: a }, 5), { journey: 'nurture' });
		expect((await engine.getProfile(a))?.consent.email).toBe('opted_in');
		await engine.recordOutcome({ decisionId: sentToB, type: 'unsubscribe' });
		expect((await engine.getProfile(a))?.consent.email).toBe('opted_out');
		expect(await engine.store.getProfile(b)).toBeUndefined();
		const opened = await engine.recordOutcome({ contactId: a, type: 'open', outcomeId: 'open-1' });
		expect(opened.decision.decisionId).toBe(sentToB);
		// Opened after the message went out (this engine's clock is the wall's): an open dated before it is of no message since.
		const event = await engine.ingest({ ...track('Email Opened', { userId: 'u-a' }, 6), occurredAt: new Date().toISOString() }, { journey: 'nurture' });
		expect(event.decision.outcomeFor?.decisionId).toBe(sentToB);
		await engine.close();
	});

	test(`${backend.name}: the surviving contact's frequency caps count what was sent to the contact merged into it`, async () => {
		const engine = new Engine({ store: backend.open(), policy: cappedPolicy() });
		const a = (await engine.decide(track('Demo Requested', { userId: 'u-a', email: 'a@x.io' }, 1), dry)).contactId;
		const toB = await engine.decide(track('Demo Requested', { email: 'b@x.io' }, 2), dry);
		expect(toB.status).toBe('sent');
		// Each got one of its two emails of the day; an event then links them: B's counts under A's cap.
		expect((await engine.ingest(track('Logged In', { userId: 'u-a', email: 'b@x.io' }, 3), { journey: 'nurture' })).decision.contactId).toBe(a);
		for (const identities of [{ userId: 'u-a' }, { email: 'b@x.io' }, { contactId: toB.contactId }] as Record<string, string>[]) {
			const again = await engine.decide(track('Demo Requested', identities, 4), dry);
			expect(again).toMatchObject({ contactId: a, status: 'suppressed', reason: 'FREQUENCY_CAP' });
			expect(again.guard?.checks.find((c) => c.ruleId === 'email-daily')).toMatchObject({ passed: false, count: 2, limit: 2 });
		}
		await engine.close();
	});

	test(`${backend.name}: export and erasure by a merged-away contact id reach the surviving contact`, async () => {
		const engine = engineOn();
		const { a, b, sentToB } = await merged(engine);
		const record = await engine.contactRecord({ contactId: b });
		expect(record.contactId).toBe(a);
		expect(record.profile).toMatchObject({ contactId: a, consent: { email: 'opted_out' } });
		expect(record.decisions.map((d) => d.decisionId)).toContain(sentToB);
		const receipt = await engine.eraseContact({ contactId: b });
		expect(receipt.counts.profiles).toBe(1);
		expect(await engine.store.getProfile(a)).toBeUndefined();
		// Erased: the email and the user id start a contact of their own again, and so does the old id.
		const again = await engine.ingest(track('Page Viewed', { email: 'b@x.io' }, 7), { journey: 'nurture' });
		expect([a, b]).not.toContain(again.decision.contactId);
		await engine.close();
	});
}

describe('a merged-away contact id', () => {
	forEveryBackend('nudgemerged', describeMerged);
});
