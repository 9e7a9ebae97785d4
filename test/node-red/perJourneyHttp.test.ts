/**
 * An event is taken in once per journey (e5bf75e), proven in a real Node-RED runtime over HTTP: one nudge-engine
 * config node on a SQLite store in the test's folder, and Nudge Triggers on their own paths for the prebuilt journeys
 * nurture and churn-risk. The same signed event (one event id) posted to both triggers opens a decision in each
 * journey; a repeat at either is answered as a duplicate and logged DUPLICATE_EVENT in that journey; the contact's
 * profile counts the event once. Deliveries raced over real sockets (parallel POSTs of one event id, to one trigger
 * and to both) take it in once per journey; journeys named like Object.prototype's keys, or whose name and an event id
 * could spell another pair's key, are kept apart. The test reads the same SQLite file with the engine's store.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Decision } from '../../engine/audit/schema';
import { signatureHeaders } from '../../engine/events/signature';
import { TAKEN_IN_KEPT } from '../../engine/profiles/profiles';
import { SqliteStore } from '../../engine/store/sqlite';
import { builtIsFresh, NodeRedRuntime, startNodeRed } from '../helpers/nodeRedRuntime';
import { SECRET, segmentEvent } from './_helpers';

const maybe = builtIsFresh(['nodes/node-red/shared/webhook.ts', 'nodes/node-red/nudge-trigger.ts', 'nodes/node-red/nudge-engine.ts', 'engine/events/eventClaim.ts', 'engine/usecases/ingest.ts', 'engine/profiles/profiles.ts', 'engine/registry.ts'])
	? describe
	: describe.skip;

const TAB = 'tab1';
/** Trigger path → journey. The prebuilt two, and journeys an author may name oddly. */
const TRIGGERS: Record<string, string> = {
	'journeys/nurture': 'nurture',
	'journeys/churn-risk': 'churn-risk',
	'odd/proto': '__proto__',
	'odd/constructor': 'constructor',
	'odd/a': 'a',
	'odd/a-colon-b': 'a:b',
	'odd/unicode': 'nürture 🚀 / «x»',
};
const JOURNEYS = ['nurture', 'churn-risk'] as const;
const pathOf = (journey: string) => Object.keys(TRIGGERS).find((p) => TRIGGERS[p] === journey)!;

interface Answer {
	status: number;
	body: { accepted?: number; duplicates?: number; decisionIds?: string[]; error?: string };
}

/** The runtime and a connection of the test's own to its SQLite store (the runtime's writes are read through it). */
let red: NodeRedRuntime;
let store: SqliteStore;

/** Posts the event (or a batch), signed, to the trigger on `triggerPath`. */
const postTo = async (triggerPath: string, event: Record<string, unknown> | Array<Record<string, unknown>>): Promise<Answer> => {
	const body = JSON.stringify(event);
	const res = await fetch(`${red.origin}/nudge/${triggerPath}`, { method: 'POST', headers: { 'content-type': 'application/json', ...signatureHeaders(SECRET, body) }, body });
	return { status: res.status, body: (await res.json()) as Answer['body'] };
};
/** Posts to the trigger of the journey (TRIGGERS). */
const post = (journey: string, event: Record<string, unknown> | Array<Record<string, unknown>>) => postTo(pathOf(journey), event);
const emailOf = (event: Record<string, unknown>) => (event.context as { traits: { email: string } }).traits.email;
/** The contact the event's email resolves to in the store. */
const contactOf = async (event: Record<string, unknown>) => (await store.resolveIdentities([`email:${emailOf(event)}`])).get(`email:${emailOf(event)}`);
/** Every decision the log holds for the event (its contact's, with its event id), oldest first. */
const decisionsOf = async (event: Record<string, unknown>): Promise<Decision[]> => {
	const contactId = await contactOf(event);
	return contactId ? (await store.queryDecisions({ contactId, limit: 1000 })).filter((d) => d.event.eventId === event.messageId) : [];
};
/** [journey, taken in or DUPLICATE_EVENT] a decision, sorted: decisions made in the same millisecond have no order. */
const rows = (decisions: Decision[]) => decisions.map((d) => [d.journey, d.reason === 'DUPLICATE_EVENT' ? 'DUPLICATE_EVENT' : 'taken in']).sort((a, b) => `${a}`.localeCompare(`${b}`));
/** How many times the event's contact's profile counted the event name. */
const countOf = async (event: Record<string, unknown>, name = 'Pricing Viewed'): Promise<number | undefined> => {
	const contactId = await contactOf(event);
	return contactId ? (await store.getProfile(contactId))?.counters[name] : undefined;
};
/** Duplicates' rows are logged after the answer: wait (10 s at most) until the log holds `count` rows for the event. */
const settled = async (event: Record<string, unknown>, count: number) => {
	const until = Date.now() + 10_000;
	while ((await decisionsOf(event)).length < count && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
	return decisionsOf(event);
};
/** The lines Node-RED logged as errors (the harness logs errors only). */
const errorsLogged = () => red.output().split('\n').filter((line) => /\[error\]/.test(line));
/** An answer of a raced delivery: taken in, a duplicate, or (a delivery that waited 5 s for another) 503 "retry". */
const kind = (a: Answer) =>
	a.status === 200 && a.body.accepted === 1 && a.body.duplicates === 0 && a.body.decisionIds?.length === 1
		? 'accepted'
		: a.status === 200 && a.body.accepted === 0 && a.body.duplicates === 1
			? 'duplicate'
			: a.status === 503
				? 'retry'
				: `unexpected ${a.status} ${JSON.stringify(a.body)}`;

maybe('one event, two journeys: Nudge Triggers over real HTTP in a Node-RED runtime on a SQLite store', () => {
	beforeAll(async () => {
		const userDir = mkdtempSync(path.join(tmpdir(), 'nudge-nr-per-journey-'));
		const db = path.join(userDir, 'nudge.db');
		const flows = [
			{ id: TAB, type: 'tab', label: 'per journey' },
			{ id: 'eng1', type: 'nudge-engine', name: 'test engine', policy: '' },
			...Object.entries(TRIGGERS).map(([p, journey], i) => ({ id: `trigger${i}`, type: 'nudge-trigger', z: TAB, engine: 'eng1', path: p, journey, wires: [[]] })),
		];
		red = await startNodeRed({ userDir, flows, credentials: { eng1: { signingSecret: SECRET, storeUrl: `sqlite:${db}` } } });
		store = new SqliteStore(db);
	}, 60_000);

	afterAll(async () => {
		await red?.stop();
		await store?.close();
	});

	test('one signed event at nurture’s and churn-risk’s triggers is taken in by each with its own decision; a repeat at each is a duplicate logged DUPLICATE_EVENT in that journey; the profile counts the event once', async () => {
		const event = segmentEvent();
		const eventId = event.messageId as string;
		const decisionIds: string[] = [];
		for (const journey of JOURNEYS) {
			const answer = await post(journey, event);
			expect([journey, answer.status, answer.body]).toEqual([journey, 200, { accepted: 1, duplicates: 0, decisionIds: [expect.any(String)] }]);
			decisionIds.push(answer.body.decisionIds![0]);
		}
		expect(new Set(decisionIds).size).toBe(2);

		// One decision per journey for the event, on one contact, and the contact's profile counted the event once.
		const [nurture, churn] = (await Promise.all(decisionIds.map((id) => store.getDecision(id)))) as Decision[];
		expect([nurture, churn].map((d) => [d.journey, d.event.eventId, d.reason === 'DUPLICATE_EVENT'])).toEqual([
			['nurture', eventId, false],
			['churn-risk', eventId, false],
		]);
		expect(churn.contactId).toBe(nurture.contactId);
		expect(rows(await decisionsOf(event))).toEqual(rows([nurture, churn]));
		expect(await countOf(event)).toBe(1);

		// The same event again at each journey's trigger: a duplicate there, logged in that journey.
		for (const journey of JOURNEYS) {
			const again = await post(journey, event);
			expect([journey, again.status, again.body]).toEqual([journey, 200, { accepted: 0, duplicates: 1, decisionIds: [] }]);
		}
		const logged = await settled(event, 4);
		expect(rows(logged)).toEqual([
			['churn-risk', 'DUPLICATE_EVENT'],
			['churn-risk', 'taken in'],
			['nurture', 'DUPLICATE_EVENT'],
			['nurture', 'taken in'],
		]);
		for (const d of logged.filter((d) => d.reason === 'DUPLICATE_EVENT')) expect([d.status, d.explanation, d.contactId]).toEqual(['suppressed', `event ${eventId} was already taken in by journey ${d.journey}`, nurture.contactId]);
		expect(await countOf(event)).toBe(1);
	});

	test('one event id posted 20 times at once to one trigger is taken in once; the others are duplicates (or asked to retry), and the profile counts it once', async () => {
		const event = segmentEvent();
		const answers = await Promise.all(Array.from({ length: 20 }, () => post('nurture', event)));
		const kinds = answers.map(kind);
		expect(kinds.filter((k) => k === 'accepted')).toHaveLength(1);
		expect(kinds.filter((k) => k !== 'accepted' && k !== 'duplicate' && k !== 'retry')).toEqual([]);
		process.stdout.write(`20 parallel POSTs to one trigger: ${kinds.filter((k) => k === 'duplicate').length} duplicates, ${kinds.filter((k) => k === 'retry').length} asked to retry\n`);
		const logged = await settled(event, 1 + kinds.filter((k) => k === 'duplicate').length);
		expect(logged.filter((d) => d.reason !== 'DUPLICATE_EVENT').map((d) => [d.journey, d.decisionId])).toEqual([['nurture', answers[kinds.indexOf('accepted')].body.decisionIds![0]]]);
		expect(logged.every((d) => d.journey === 'nurture')).toBe(true);
		expect(await countOf(event)).toBe(1);
		// A retry after the race is a duplicate.
		expect(kind(await post('nurture', event))).toBe('duplicate');
		expect(red.alive()).toBe(true);
	});

	test('one event id posted 20 times at once to each of the two triggers (interleaved) is taken in once per journey, and counted once', async () => {
		const event = segmentEvent();
		const order = Array.from({ length: 40 }, (_, i) => JOURNEYS[i % 2]);
		const answers = await Promise.all(order.map((journey) => post(journey, event)));
		const kinds = answers.map(kind);
		expect(kinds.filter((k) => k !== 'accepted' && k !== 'duplicate' && k !== 'retry')).toEqual([]);
		expect(order.filter((_, i) => kinds[i] === 'accepted').sort()).toEqual(['churn-risk', 'nurture']);
		const logged = await settled(event, 2 + kinds.filter((k) => k === 'duplicate').length);
		expect(
			logged
				.filter((d) => d.reason !== 'DUPLICATE_EVENT')
				.map((d) => d.journey)
				.sort(),
		).toEqual(['churn-risk', 'nurture']);
		expect(await countOf(event)).toBe(1);
		for (const journey of JOURNEYS) expect([journey, kind(await post(journey, event))]).toEqual([journey, 'duplicate']);
	});

	test('6 events of one contact, each posted twice to each trigger, all at once: each taken in once per journey, and counted once', async () => {
		const first = segmentEvent();
		// Fewer than the profile remembers (TAKEN_IN_KEPT, checked below): past that a second journey's late delivery is counted again, by design.
		const events = Array.from({ length: 6 }, () => segmentEvent({ userId: first.userId, context: first.context }));
		const calls = events.flatMap((event) => [...JOURNEYS, ...JOURNEYS].map((journey) => ({ journey, event })));
		const kinds = (await Promise.all(calls.map(({ journey, event }) => post(journey, event)))).map(kind);
		expect(kinds.filter((k) => k !== 'accepted' && k !== 'duplicate' && k !== 'retry')).toEqual([]);
		const taken = calls.filter((_, i) => kinds[i] === 'accepted').map(({ journey, event }) => `${journey} ${String(event.messageId)}`);
		expect(taken.sort()).toEqual(events.flatMap((event) => JOURNEYS.map((journey) => `${journey} ${String(event.messageId)}`)).sort());
		expect(await countOf(first)).toBe(events.length);
		expect(events.length).toBeLessThan(TAKEN_IN_KEPT);
	});

	test('one event id posted at once by 20 different people to one trigger: one taken in, the others duplicates that make no contact', async () => {
		const messageId = segmentEvent().messageId;
		const events = Array.from({ length: 20 }, () => segmentEvent({ messageId }));
		const kinds = (await Promise.all(events.map((event) => post('churn-risk', event)))).map(kind);
		expect(kinds.filter((k) => k === 'accepted')).toHaveLength(1);
		expect(kinds.filter((k) => k !== 'accepted' && k !== 'duplicate' && k !== 'retry')).toEqual([]);
		const contacts = await Promise.all(events.map(contactOf));
		expect(contacts.filter((c) => c !== undefined)).toHaveLength(1);
		expect(contacts.findIndex((c) => c !== undefined)).toBe(kinds.indexOf('accepted'));
	});

	test('a batch naming the same event twice takes it in once in the journey', async () => {
		const event = segmentEvent();
		const answer = await post('churn-risk', [event, event]);
		expect([answer.status, answer.body]).toEqual([200, { accepted: 1, duplicates: 1, decisionIds: [expect.any(String)] }]);
		expect(kind(await post('nurture', event))).toBe('accepted');
		expect(await countOf(event)).toBe(1);
	});

	test('journeys named like Object.prototype’s keys (__proto__, constructor), a journey and event id that could spell another pair’s key (a + "b:x" / a:b + "x"), and a unicode name: each takes the event in once, apart from the others', async () => {
		const odd = ['__proto__', 'constructor', 'a', 'a:b', 'nürture 🚀 / «x»'];
		const event = segmentEvent();
		for (const journey of odd) expect([journey, kind(await post(journey, event))]).toEqual([journey, 'accepted']);
		for (const journey of odd) expect([journey, kind(await post(journey, event))]).toEqual([journey, 'duplicate']);
		const logged = await settled(event, 2 * odd.length);
		expect(
			logged
				.filter((d) => d.reason !== 'DUPLICATE_EVENT')
				.map((d) => d.journey)
				.sort(),
		).toEqual([...odd].sort());
		expect(await countOf(event)).toBe(1);

		// Event "b:<id>" at journey a and event "<id>" at journey a:b are different pairs: both taken in.
		const id = `x-${process.pid}-${Date.now()}`;
		expect(kind(await post('a', segmentEvent({ messageId: `b:${id}` })))).toBe('accepted');
		expect(kind(await post('a:b', segmentEvent({ messageId: id })))).toBe('accepted');
		expect(red.alive()).toBe(true);
	});

	test('after it all the runtime still serves, and the store reopened after Node-RED stops holds one taken-in decision per journey and event', async () => {
		expect(red.alive()).toBe(true);
		expect((await fetch(`${red.origin}/flows`)).status).toBe(200);
		// Node-RED logs errors only (the harness's level): no node reported one.
		expect(errorsLogged()).toEqual([]);
		const all = await store.queryDecisions({ limit: 10_000 });
		await red.stop();
		await store.close();
		store = new SqliteStore(path.join(red.userDir, 'nudge.db'));
		const reopened = await store.queryDecisions({ limit: 10_000 });
		expect(reopened.length).toBeGreaterThanOrEqual(all.length);
		const takenIn = reopened.filter((d) => d.reason !== 'DUPLICATE_EVENT').map((d) => `${d.journey}\n${d.event.eventId}`);
		expect(takenIn.length).toBeGreaterThan(0);
		expect(new Set(takenIn).size).toBe(takenIn.length);
	});
});

/**
 * Two Nudge Engine config nodes naming one SQLite file two ways (sqlite:<file> and the plain path, which the docs say
 * means the same): one connection to the file. With a connection each, a write through one waited, the runtime's only
 * thread blocked, for the other's write lock, held until that thread was free again: 5 s frozen, then 503 "database is
 * locked", again and again under a burst.
 */
maybe('one event, two journeys, two config nodes naming one SQLite file two ways: Nudge Triggers over real HTTP', () => {
	beforeAll(async () => {
		const userDir = mkdtempSync(path.join(tmpdir(), 'nudge-nr-per-journey-'));
		const db = path.join(userDir, 'nudge.db');
		const trigger = (id: string, engine: string, triggerPath: string, journey: string) => ({ id, type: 'nudge-trigger', z: TAB, engine, path: triggerPath, journey, wires: [[]] });
		const flows = [
			{ id: TAB, type: 'tab', label: 'two config nodes' },
			{ id: 'eng1', type: 'nudge-engine', name: 'first', policy: '' },
			{ id: 'eng2', type: 'nudge-engine', name: 'second', policy: '' },
			trigger('t1', 'eng1', 'a/nurture', 'nurture'),
			trigger('t2', 'eng2', 'b/nurture', 'nurture'),
			trigger('t3', 'eng2', 'b/churn-risk', 'churn-risk'),
		];
		red = await startNodeRed({ userDir, flows, credentials: { eng1: { signingSecret: SECRET, storeUrl: `sqlite:${db}` }, eng2: { signingSecret: SECRET, storeUrl: db } } });
		store = new SqliteStore(db);
	}, 60_000);

	afterAll(async () => {
		await red?.stop();
		await store?.close();
	});

	/** The answers to the calls, all posted at once. A blocked write shows as a 503 "database is locked" (after 5 s). */
	const burst = async (calls: Array<{ triggerPath: string; event: Record<string, unknown> }>) => {
		const answers = await Promise.all(calls.map(({ triggerPath, event }) => postTo(triggerPath, event)));
		return { kinds: answers.map(kind), answers };
	};

	test('one event id posted 20 times at once to nurture through each config node and 20 times to churn-risk: taken in once per journey, counted once, no request refused or held up', async () => {
		const event = segmentEvent();
		const calls = Array.from({ length: 60 }, (_, i) => ({ triggerPath: ['a/nurture', 'b/nurture', 'b/churn-risk'][i % 3], event }));
		const { kinds, answers } = await burst(calls);
		expect(answers.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.body.error}`)).toEqual([]);
		expect(kinds.filter((k) => k !== 'accepted' && k !== 'duplicate')).toEqual([]);
		const accepted = calls.filter((_, i) => kinds[i] === 'accepted').map((c) => c.triggerPath.replace(/^[ab]\//, ''));
		expect(accepted.sort()).toEqual(['churn-risk', 'nurture']);
		const logged = await settled(event, 60);
		expect(rows(logged.filter((d) => d.reason !== 'DUPLICATE_EVENT'))).toEqual([
			['churn-risk', 'taken in'],
			['nurture', 'taken in'],
		]);
		expect(await countOf(event)).toBe(1);
	});

	test('6 events of one contact, each posted at once to nurture through both config nodes and to churn-risk: each taken in once per journey, counted once (no profile update lost), and no node logged an error', async () => {
		const first = segmentEvent();
		const events = Array.from({ length: 6 }, () => segmentEvent({ userId: first.userId, context: first.context }));
		const calls = events.flatMap((event) => ['a/nurture', 'b/churn-risk', 'b/nurture'].map((triggerPath) => ({ triggerPath, event })));
		const { kinds, answers } = await burst(calls);
		expect(answers.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.body.error}`)).toEqual([]);
		const taken = calls.filter((_, i) => kinds[i] === 'accepted').map(({ triggerPath, event }) => `${triggerPath.replace(/^[ab]\//, '')} ${String(event.messageId)}`);
		expect(taken.sort()).toEqual(events.flatMap((event) => JOURNEYS.map((journey) => `${journey} ${String(event.messageId)}`)).sort());
		expect(await countOf(first)).toBe(events.length);
		expect(red.alive()).toBe(true);
		expect(errorsLogged()).toEqual([]);
	});
});
