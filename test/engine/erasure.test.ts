import { engagementDeltas } from '../../engine/decide/sendTime';
import { Engine } from '../../engine/engine';
import { NudgeError } from '../../engine/errors';
import { applyInactivityRules } from '../../engine/events/timers';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { erasureReceiptKey } from '../../engine/privacy/erase';
import { MemoryStore } from '../../engine/store/memory';
import { PostgresStore } from '../../engine/store/postgres';
import { RedisStore } from '../../engine/store/redis';
import { readSendHours } from '../../engine/store/sendHours';
import { splitStore } from '../../engine/store/split';
import type { Store } from '../../engine/store/types';
import { Backend, found, localBackends, postgresBackend, postgresStore, redisBackend, redisStore, splitBackend } from '../helpers/rawStores';
import { describeWithServer, TEST_POSTGRES_URL, TEST_REDIS_URL } from '../helpers/services';


const EMAIL = 'zelda.quinn@example.org';
const person = { name: 'Zelda Quinn', phone: '+44 7700 900461', company: 'Quinnworks Ltd', city: 'Aberystwyth' };
const USER_ID = 'zq-user-8841';
/** Their browser, seen before they gave their email: a contact of its own until the two are linked (merged). */
const ANON = 'anon-zq-77';
const MESSAGE = 'Zelda, your Quinnworks trial ends Friday';
/** Every piece of the person's data the flows below store somewhere; none may be left after erasure. */
const NEEDLES = [EMAIL, 'zelda', 'Zelda', 'Quinn', '7700 900461', USER_ID, ANON, 'Quinnworks', 'Aberystwyth', 'trial ends Friday'];

const policy = () => loadPolicy({ ...DEFAULT_POLICY, holdout: { salt: 'erasure', globalShare: 0.3, journeys: {} } });

const event = (name: string, email: string, extra: Record<string, unknown> = {}) => ({ type: 'track', name, identities: { email, userId: email === EMAIL ? USER_ID : `u-${email}` }, traits: email === EMAIL ? person : {}, ...extra });

/**
 * The person and a few others go through the journeys: sends, a cap hit, holdouts, outcomes (conversion and an open,
 * which counts their engagement hour), a review note, annotations with the message text, a pending inactivity timer.
 */
async function history(engine: Engine): Promise<string[]> {
	const anonymous = await engine.decide({ type: 'track', name: 'Pricing Viewed', identities: { anonymousId: ANON } }, { journey: 'nurture', target: { dryRun: true } });
	let contactId = '';
	for (const [i, email] of [EMAIL, 'ann@example.net', 'bob@example.net', 'cy@example.net', 'di@example.net', 'ed@example.net'].entries()) {
		const first = await engine.decide(event('Demo Requested', email), { journey: 'nurture', target: { dryRun: true } });
		await engine.decide(event('Pricing Viewed', email), { journey: 'nurture', target: { dryRun: true } });
		if (i % 2 === 0) await engine.recordOutcome({ decisionId: first.decisionId, type: 'conversion', value: 90 });
		await engine.recordOutcome({ decisionId: first.decisionId, type: 'open' });
		await engine.logDecision(first.decisionId, { subject: email === EMAIL ? MESSAGE : 'Hello', reviewerNote: `checked ${email}` });
		if (email === EMAIL) contactId = first.contactId;
	}
	// This event links the browser to the email: the two contacts become one.
	const cart = await engine.ingest({ ...event('Cart Updated', EMAIL), identities: { email: EMAIL, anonymousId: ANON } }, { journey: 'cart' });
	await applyInactivityRules(engine, [cart], [{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' }]);
	await engine.store.sync();
	return [contactId, anonymous.contactId];
}

async function counts(engine: Engine) {
	return { lift: await engine.lift(), byStatus: await engine.store.countDecisions({}, ['journey', 'status', 'reason', 'channel', 'group', 'converted']) };
}

const withRedis = describeWithServer('Redis', TEST_REDIS_URL);
const withPostgres = describeWithServer('PostgreSQL', TEST_POSTGRES_URL);

function describeErasure(backend: Backend): void {
	test(`${backend.name}: no byte of the person's data remains, the counts and lift are unchanged (an open decision ended), and the person stays suppressed`, async () => {
		const store = backend.open();
		const engine = new Engine({ store, policy: policy() });
		const ids = await history(engine);
		const needles = [...NEEDLES, ...ids];
		// The search finds what it looks for: every needle is there before.
		expect(found(await backend.dump(store), needles)).toEqual(needles);
		const before = await counts(engine);
		// Sends, holdouts and conversions to count.
		expect(before.byStatus.filter((row) => row.key[1] === 'sent').length).toBeGreaterThan(0);
		expect(before.lift.some((row) => row.holdout.n > 0 && row.treated.n > 0)).toBe(true);
		const theirs = (await engine.contactRecord({ email: EMAIL })).decisions.length;
		expect(theirs).toBe((await engine.queryDecisions({ contactId: ids[0] })).length + (await engine.queryDecisions({ contactId: ids[1] })).length);

		const receipt = await engine.eraseContact({ email: EMAIL.toUpperCase() }, { suppress: true });

		// Identities: the email, the user id, the browser's anonymous id, and the merged browser contact's id.
		expect(receipt).toMatchObject({ found: true, suppressed: true, counts: { profiles: 1, identities: 4, timers: 1, decisions: theirs } });
		expect(found(await backend.dump(store), needles)).toEqual([]);
		// The same counts, but for the cart decision still open: the erasure ended it, suppressed CONTACT_ERASED.
		expect(before.byStatus.filter((row) => row.key[1] === 'pending').map((row) => [row.key[0], row.n])).toEqual([['cart', 1]]);
		const ended = before.byStatus.map((row) => (row.key[1] === 'pending' ? { ...row, key: [row.key[0], 'suppressed', 'CONTACT_ERASED', ...row.key.slice(3)] } : row));
		const after = await counts(engine);
		// Lift's decisions, conversions and estimates are unchanged. Its contact counts (and so its intervals) may fall
		// by one: the person's two contact ids (the browser merged into them) are one pseudonym now, one person.
		const byDecision = (rows: typeof before.lift) => rows.map(({ journey, arm, absolute, relative, treated, holdout }) => ({
			journey,
			arm,
			estimates: [absolute?.estimate, relative?.estimate],
			treated: { n: treated.n, conversions: treated.conversions, rate: treated.rate },
			holdout: { n: holdout.n, conversions: holdout.conversions, rate: holdout.rate },
		}));
		expect(byDecision(after.lift)).toEqual(byDecision(before.lift));
		for (const [i, row] of after.lift.entries()) {
			for (const arm of ['treated', 'holdout'] as const) {
				expect(before.lift[i][arm].contacts! - row[arm].contacts!).toBeGreaterThanOrEqual(0);
				expect(before.lift[i][arm].contacts! - row[arm].contacts!).toBeLessThanOrEqual(1);
			}
		}
		expect(after.byStatus).toEqual(expect.arrayContaining(ended));
		expect(after.byStatus).toHaveLength(ended.length);
		expect(await engine.queryDecisions({ contactId: receipt.erasureId })).toHaveLength(theirs);
		expect(JSON.parse((await store.getCursor(erasureReceiptKey(receipt.erasureId)))!)).toEqual(receipt);
		await expect(engine.contactRecord({ email: EMAIL })).rejects.toThrow(`No contact has the email address ${EMAIL}`);

		// They come back: a fresh contact, never contacted, and the suppression is logged.
		const again = await engine.decide(event('Webinar Joined', EMAIL), { journey: 'nurture', target: { dryRun: true } });
		expect(ids).not.toContain(again.contactId);
		expect(again).toMatchObject({ status: 'suppressed', reason: 'SUPPRESSION_LIST' });
		await engine.close();
	});
}

/**
 * A worker on a shared store sees another process's suppressions. Started before that process's first erasure with
 * suppression, it has no salt: on Redis the step that locks and reads the profile reads the salt and, once it is
 * known, the records of the event's identities; on PostgreSQL the check after that step asks for them.
 */
function describeSharedSuppression(name: string, twins: () => [Store, Store]): void {
	test(`${name}: a worker sees another process's suppression, before and after it knows the salt`, async () => {
		const [workerStore, adminStore] = twins();
		const worker = new Engine({ store: workerStore, policy: policy() });
		const admin = new Engine({ store: adminStore, policy: policy() });
		const run = (email: string) => worker.decide(event('Demo Requested', email), { journey: 'nurture', target: { dryRun: true } });
		expect((await run('early@example.net')).reason).not.toBe('SUPPRESSION_LIST');
		for (const email of ['gone1@example.net', 'gone2@example.net']) await admin.eraseContact({ email }, { suppress: true });
		// The first read finds the salt; the next has it and reads the records with the locks.
		expect(await run('gone1@example.net')).toMatchObject({ status: 'suppressed', reason: 'SUPPRESSION_LIST' });
		expect(await run('gone2@example.net')).toMatchObject({ status: 'suppressed', reason: 'SUPPRESSION_LIST' });
		expect((await run('fresh@example.net')).reason).not.toBe('SUPPRESSION_LIST');
		// A known contact's new identity is checked too.
		const known = await worker.decide(event('Demo Requested', 'fresh@example.net', { identities: { email: 'fresh@example.net', userId: 'u-fresh' } }), { journey: 'nurture', target: { dryRun: true } });
		await admin.decide(event('Demo Requested', 'later@example.net', { identities: { email: 'later@example.net', userId: 'u-later' } }), { journey: 'nurture', target: { dryRun: true } });
		await admin.eraseContact({ email: 'later@example.net' }, { suppress: true });
		const linked = await worker.decide(event('Demo Requested', 'fresh@example.net', { identities: { email: 'fresh@example.net', userId: 'u-later' } }), { journey: 'nurture', target: { dryRun: true } });
		expect(linked).toMatchObject({ contactId: known.contactId, status: 'suppressed', reason: 'SUPPRESSION_LIST' });
		await worker.close();
		await admin.close();
	});
}

describe('erasing a contact', () => {
	for (const backend of localBackends()) describeErasure(backend);

	withRedis('on Redis (every key and value, by SCAN)', () => {
		describeErasure(redisBackend('nudgeerase'));
		describeSharedSuppression('redis', () => {
			const store = redisStore('nudgesuppress');
			return [store, new RedisStore(TEST_REDIS_URL, { prefix: store.prefix })];
		});
	});
	withPostgres('on PostgreSQL (every row of every table, as text)', () => {
		describeErasure(postgresBackend('nudgeerase'));
		test('a contact id or email address with a NUL character or half a surrogate pair is refused as invalid input, naming the field', async () => {
			const engine = new Engine({ store: postgresStore('contactnul'), policy: policy() });
			try {
				for (const [ref, field] of [
					[{ contactId: 'c_\u0000x' }, 'contactId'],
					[{ email: 'a\u0000@example.org' }, 'email'],
					[{ contactId: 'c_\ud800x' }, 'contactId'],
				] as const) {
					for (const request of [() => engine.contactRecord(ref), () => engine.eraseContact(ref, { suppress: true })]) {
						const error = await request().catch((e: unknown) => e);
						expect(error).toBeInstanceOf(NudgeError);
						expect(error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(new RegExp(`^Cannot (export|erase) the contact: ${field}: (contains a NUL character|is not valid Unicode text)`)) });
					}
				}
			} finally {
				await engine.close();
			}
		});
		describeSharedSuppression('postgres', () => {
			const store = postgresStore('nudgesuppress');
			return [store, new PostgresStore(TEST_POSTGRES_URL, { schema: store.schema })];
		});
		withRedis('and split', () => {
			describeErasure(splitBackend('nudgeerase'));
			describeSharedSuppression('split redis+postgres', () => {
				const [hot, log] = [redisStore('nudgesuppress'), postgresStore('nudgesuppress')];
				return [splitStore(hot, log), splitStore(new RedisStore(TEST_REDIS_URL, { prefix: hot.prefix }), new PostgresStore(TEST_POSTGRES_URL, { schema: log.schema }))];
			});
		});
	});

	test('without suppression, a later event from the person starts a fresh contact that can be contacted', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policy() });
		const [contactId] = await history(engine);
		const receipt = await engine.eraseContact({ email: EMAIL });
		expect(receipt).toMatchObject({ found: true, suppressed: false });
		const again = await engine.ingest(event('Webinar Joined', EMAIL), { journey: 'nurture' });
		expect(again.decision.contactId).not.toBe(contactId);
		expect((await engine.store.getProfile(again.decision.contactId))?.doNotContact).toBeUndefined();
		await engine.close();
	});

	test('an unknown contact or a malformed request is refused with what to do, and changes nothing', async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policy() });
		await expect(engine.eraseContact({ email: 'nobody@example.org' })).rejects.toThrow('No contact has the email address nobody@example.org: nothing to erase. To keep this address from being contacted if it ever comes, erase with suppression on.');
		await expect(engine.eraseContact({ contactId: 'c_missing' })).rejects.toThrow('No contact has the id c_missing: nothing was erased');
		await expect(engine.eraseContact({})).rejects.toThrow('Cannot erase the contact: (root): name the contact by its contact id or by its email address (one of them)');
		await expect(engine.eraseContact({ contactId: 'c1', email: 'a@x.io' })).rejects.toBeInstanceOf(NudgeError);
		// An unknown address can still be suppressed ahead: the person is then never contacted.
		expect(await engine.eraseContact({ email: 'Later@Example.org' }, { suppress: true })).toMatchObject({ found: false, suppressed: true });
		expect(await engine.decide(event('Demo Requested', 'later@example.org'), { journey: 'nurture', target: { dryRun: true } })).toMatchObject({ reason: 'SUPPRESSION_LIST' });
		await engine.close();
	});
});

describe('the contact an erasure or an export names', () => {
	const withTwo = async () => {
		const engine = new Engine({ store: new MemoryStore(), policy: policy() });
		await engine.ingest({ type: 'identify', identities: { contactId: 'x', email: 'xavier@example.com' } });
		await engine.ingest({ type: 'identify', identities: { contactId: ' x', email: 'other@example.com' } });
		return engine;
	};

	test('a contact id is exact: erasing " x" erases that contact, never contact "x"', async () => {
		const engine = await withTwo();
		expect((await engine.getProfile(' x'))?.email).toBe('other@example.com');
		await engine.eraseContact({ contactId: ' x' });
		expect((await engine.getProfile('x'))?.email).toBe('xavier@example.com');
		expect(await engine.getProfile(' x')).toBeUndefined();
	});

	test('a contact id is exact: the export of " x" holds that contact\'s data, not contact "x"\'s', async () => {
		const engine = await withTwo();
		const record = await engine.contactRecord({ contactId: ' x' });
		expect(record.contactId).toBe(' x');
		expect(JSON.stringify(record)).not.toContain('xavier@example.com');
	});

	test('erasing the contact whose id is "*" leaves the population\'s send-time counts alone', async () => {
		const store = new MemoryStore();
		const engine = new Engine({ store, policy: policy() });
		await engine.ingest({ type: 'identify', identities: { contactId: 'c_other' } });
		await store.addArmStats(engagementDeltas('c_other', new Date('2026-01-01T09:00:00Z'), 'UTC'));
		expect((await readSendHours(store, 'c_other')).population[9]).toBe(1);
		await engine.ingest({ type: 'identify', identities: { contactId: '*' } });
		await engine.eraseContact({ contactId: '*' });
		expect((await readSendHours(store, 'c_other')).population[9]).toBe(1);
	});
});
