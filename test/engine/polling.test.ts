/**
 * Polling triggers: HubSpot CRM search with a (timestamp, id) cursor kept in the store. nock stands in
 * for POST /crm/v3/objects/{contacts,deals}/search and behaves as documented
 * (https://developers.hubspot.com/docs/api/crm/search): filterGroups with GTE/LT/EQ/GT on
 * hs_lastmodifieddate (epoch ms) and hs_object_id, one sort property, pages of `limit` with
 * paging.next.after (an offset into the live results) — and, like the real index, no order among records
 * sharing a timestamp and a lag before a write becomes searchable.
 */
import { startEndlessAnswer } from '../helpers/receiver';
import nock from 'nock';
import type { Engine } from '../../engine/engine';
import { HubSpotPollSource } from '../../engine/vendors/hubspot/poll';
import { pollOnce } from '../../engine/events/poll';
import { createEngine } from '../../engine/registry';

const T0 = Date.parse('2026-11-21T09:00:00.000Z');

interface FakeRecord {
	id: string;
	modifiedAt: number;
	/** When the search index starts returning it. */
	visibleAt: number;
	email?: string;
}

/** A HubSpot search index: answers the documented request shape from a list of records. */
function fakeHubSpot(records: FakeRecord[], clock: { now: number }, afterRequest: (n: number) => void = () => undefined) {
	const requests: Record<string, unknown>[] = [];
	const scope = nock('https://api.hubapi.com')
		.persist()
		.post(/\/crm\/v3\/objects\/(contacts|deals)\/search/)
		.reply(200, (_uri, body) => {
			const req = body as { filterGroups: { filters: { propertyName: string; operator: string; value: string }[] }[]; sorts: { propertyName: string }[]; limit: number; after?: string };
			requests.push(req);
			const value = (r: FakeRecord, name: string) => (name === 'hs_object_id' ? Number(r.id) : r.modifiedAt);
			const ops: Record<string, (a: number, b: number) => boolean> = { GTE: (a, b) => a >= b, GT: (a, b) => a > b, LT: (a, b) => a < b, EQ: (a, b) => a === b };
			const matches = records.filter((r) => r.visibleAt <= clock.now && req.filterGroups.some((g) => g.filters.every((f) => ops[f.operator](value(r, f.propertyName), Number(f.value)))));
			const sortBy = req.sorts[0].propertyName;
			// Ties in reverse id order: the index promises no order among equal sort keys.
			matches.sort((a, b) => value(a, sortBy) - value(b, sortBy) || Number(b.id) - Number(a.id));
			const offset = Number(req.after ?? 0);
			const page = matches.slice(offset, offset + req.limit);
			const answer = {
				total: matches.length,
				results: page.map((r) => ({
					id: r.id,
					properties: { hs_object_id: r.id, email: r.email ?? `c${r.id}@example.com`, lifecyclestage: 'lead', hs_lastmodifieddate: new Date(r.modifiedAt).toISOString() },
					createdAt: new Date(T0 - 86_400_000).toISOString(),
					updatedAt: new Date(r.modifiedAt).toISOString(),
					archived: false,
				})),
				...(offset + req.limit < matches.length ? { paging: { next: { after: String(offset + req.limit), link: '' } } } : {}),
			};
			// The account changes after this answer and before the next request.
			afterRequest(requests.length);
			return answer;
		});
	return { scope, requests };
}

let engine: Engine;
beforeEach(() => {
	engine = createEngine({ store: 'memory:' });
});
afterEach(async () => {
	nock.cleanAll();
	await engine.close();
});
// The net stays open for the test files run after this one in the same worker (nock's switch is process-wide).
afterAll(() => nock.enableNetConnect());

const source = (maxPages = 5) => new HubSpotPollSource({ auth: { auth: 'privateApp', accessToken: 'test-access-value' }, object: 'contacts', maxPages });

async function pollUntilQuiet(clock: { now: number }, src: HubSpotPollSource, settleMs: number, limit = 500) {
	const seen: string[] = [];
	for (let i = 0; i < 20; i++) {
		const result = await pollOnce(engine, src, { journey: 'nurture', since: new Date(T0), settleMs, limit, now: () => clock.now });
		seen.push(...result.accepted.map((r) => String(r.event.properties.objectId)));
		if (!result.more) break;
	}
	return seen;
}

describe('HubSpot polling (CRM search on hs_lastmodifieddate)', () => {
	test('maps contacts into identify events and profiles, and sends the documented search request', async () => {
		const clock = { now: T0 + 10 * 60_000 };
		const { requests } = fakeHubSpot([{ id: '101', modifiedAt: T0 + 1000, visibleAt: T0 + 1000, email: 'Pat@Example.com' }], clock);
		const result = await pollOnce(engine, source(), { journey: 'nurture', since: new Date(T0), now: () => clock.now });
		expect(result.accepted).toHaveLength(1);
		expect(result.accepted[0].event).toMatchObject({ source: 'hubspot', type: 'identify', name: 'Contact Changed', eventId: `hubspot:contacts:101:${T0 + 1000}`, identities: { hubspotId: '101', email: 'pat@example.com' } });
		expect(await engine.getProfile(result.accepted[0].decision.contactId)).toMatchObject({ email: 'pat@example.com', lifecycle: 'lead' });
		expect(requests[0]).toMatchObject({
			filterGroups: [{ filters: [{ propertyName: 'hs_lastmodifieddate', operator: 'GTE', value: String(T0 - 1) }, { propertyName: 'hs_lastmodifieddate', operator: 'LT', value: String(clock.now - 60_000) }] }],
			sorts: [{ propertyName: 'hs_lastmodifieddate', direction: 'ASCENDING' }],
			limit: 100,
		});
		expect(JSON.parse((await engine.store.getCursor('hubspot:contacts@nurture'))!)).toEqual({ at: T0 + 1000, id: '101' });
	});

	test('ties: 250 contacts sharing one timestamp, read 100 per poll, each taken exactly once', async () => {
		const clock = { now: T0 + 10 * 60_000 };
		const records: FakeRecord[] = [{ id: '1', modifiedAt: T0 + 500, visibleAt: T0 }];
		for (let i = 0; i < 250; i++) records.push({ id: String(1000 + ((i * 37) % 250)), modifiedAt: T0 + 1000, visibleAt: T0 });
		records.push({ id: '7', modifiedAt: T0 + 2000, visibleAt: T0 });
		fakeHubSpot(records, clock);
		const seen = await pollUntilQuiet(clock, source(1), 60_000, 100);
		expect(seen).toHaveLength(252);
		expect(new Set(seen).size).toBe(252);
		expect(seen[0]).toBe('1');
		expect(seen[seen.length - 1]).toBe('7');
		// Nothing more on a later poll.
		expect((await pollOnce(engine, source(1), { journey: 'nurture', now: () => clock.now })).accepted).toEqual([]);
	});

	test('late writes: a record that becomes searchable 30 s after its timestamp is not skipped (settle window)', async () => {
		const clock = { now: T0 + 120_000 };
		const records: FakeRecord[] = [
			{ id: '201', modifiedAt: T0 + 10_000, visibleAt: T0 + 10_000 },
			// Written at T0+100 s but only searchable at T0+130 s (after the first poll).
			{ id: '202', modifiedAt: T0 + 100_000, visibleAt: T0 + 130_000 },
			{ id: '203', modifiedAt: T0 + 110_000, visibleAt: T0 + 110_000 },
		];
		fakeHubSpot(records, clock);
		expect(await pollUntilQuiet(clock, source(), 60_000)).toEqual(['201']);
		clock.now = T0 + 200_000;
		expect(await pollUntilQuiet(clock, source(), 60_000)).toEqual(['202', '203']);
	});

	test('without the settle window the same late write would be skipped (the test can fail)', async () => {
		const clock = { now: T0 + 120_000 };
		fakeHubSpot(
			[
				{ id: '202', modifiedAt: T0 + 100_000, visibleAt: T0 + 130_000 },
				{ id: '203', modifiedAt: T0 + 110_000, visibleAt: T0 + 110_000 },
			],
			clock,
		);
		expect(await pollUntilQuiet(clock, source(), 0)).toEqual(['203']);
		clock.now = T0 + 200_000;
		expect(await pollUntilQuiet(clock, source(), 0)).toEqual([]);
	});

	test('a repeated poll after a crash before the cursor moved ingests nothing twice', async () => {
		const clock = { now: T0 + 10 * 60_000 };
		fakeHubSpot([{ id: '301', modifiedAt: T0 + 1000, visibleAt: T0 }, { id: '302', modifiedAt: T0 + 1000, visibleAt: T0 }], clock);
		const first = await pollOnce(engine, source(), { journey: 'nurture', since: new Date(T0), now: () => clock.now });
		expect(first.accepted).toHaveLength(2);
		// Simulate the crash: put the cursor back where it was.
		const cursor = await engine.store.getCursor('hubspot:contacts@nurture');
		await engine.store.setCursor('hubspot:contacts@nurture', JSON.stringify({ at: T0 - 1, id: '' }), cursor);
		const again = await pollOnce(engine, source(), { journey: 'nurture', now: () => clock.now });
		expect(again).toMatchObject({ accepted: [], duplicates: 2 });
	});

	test('two journeys polling the same object each take in every change, the contact counting it once; a journey polling for the first time starts where the object\'s polls reached (on an upgraded store, the one cursor per object of earlier versions)', async () => {
		const clock = { now: T0 + 10 * 60_000 };
		fakeHubSpot([{ id: '501', modifiedAt: T0 + 1000, visibleAt: T0 }, { id: '502', modifiedAt: T0 + 2000, visibleAt: T0 }, { id: '503', modifiedAt: T0 + 3000, visibleAt: T0 + 11 * 60_000 }], clock);
		// An earlier version's cursor (one per object) had taken 501 already.
		await engine.store.setCursor('hubspot:contacts', JSON.stringify({ at: T0 + 1000, id: '501' }), undefined);
		const taken = (journey: string) => pollOnce(engine, source(), { journey, now: () => clock.now }).then((r) => r.accepted.map((a) => `${a.decision.journey}:${a.event.properties.objectId}`));
		expect(await taken('nurture')).toEqual(['nurture:502']);
		// Its first poll starts where nurture's reached: 502 was taken by that journey's poll (an earlier version's
		// second journey got nothing at all from the shared cursor).
		expect(await taken('churn-risk')).toEqual([]);
		clock.now = T0 + 12 * 60_000;
		expect(await taken('nurture')).toEqual(['nurture:503']);
		expect(await taken('churn-risk')).toEqual(['churn-risk:503']);
		expect(await taken('churn-risk')).toEqual([]);
		const contact = (await engine.store.resolveIdentities(['hubspotId:503'])).get('hubspotId:503')!;
		expect((await engine.getProfile(contact))!.counters['Contact Changed']).toBe(1);
		expect(JSON.parse((await engine.store.getCursor('hubspot:contacts@churn-risk'))!)).toEqual({ at: T0 + 3000, id: '503' });
		// A journey whose poll trigger comes later starts where the journeys' polls reached, not at the earlier cursor.
		expect(await taken('win-back')).toEqual([]);
		expect(JSON.parse((await engine.store.getCursor('hubspot:contacts@win-back'))!)).toEqual({ at: T0 + 3000, id: '503' });
	});

	test('a contact edited while a poll pages through the search does not make a later contact be skipped', async () => {
		// Between page 1 and page 2 a salesperson edits contact 1010: its new time is after the poll's window, so an
		// offset (after=100) into the live results would start one contact late and never return 1101.
		const clock = { now: T0 + 20 * 60_000 };
		const records: FakeRecord[] = Array.from({ length: 150 }, (_, i) => ({ id: String(1001 + i), modifiedAt: T0 + (i + 1) * 1000, visibleAt: T0 }));
		const { requests } = fakeHubSpot(records, clock, (n) => {
			if (n === 1) records[9].modifiedAt = clock.now;
		});
		const first = await pollOnce(engine, source(), { journey: 'nurture', since: new Date(T0), now: () => clock.now });
		const seen = first.accepted.map((r) => String(r.event.properties.objectId));
		expect(seen).toContain('1010');
		expect(seen).toContain('1101');
		expect(seen).toHaveLength(150);
		// Each page searches again from the last record taken; none uses an offset.
		expect(requests.every((r) => r.after === undefined)).toBe(true);
		// After the settle window the edited contact's new version is read too.
		clock.now += 5 * 60_000;
		const later = await pollOnce(engine, source(), { journey: 'nurture', now: () => clock.now });
		expect(later.accepted.map((r) => String(r.event.properties.objectId))).toEqual(['1010']);
	});

	test('a search answer that never ends fails the poll within the bound and leaves the cursor where it was', async () => {
		const endless = await startEndlessAnswer(200, '{"total":1,"results":[{"id":"901","properties":{"firstname":"', 'B'.repeat(256 * 1024), 5);
		nock.enableNetConnect('127.0.0.1');
		try {
			const src = new HubSpotPollSource({ auth: { auth: 'privateApp', accessToken: 'test-access-value' }, object: 'contacts', basePath: endless.url });
			await expect(pollOnce(engine, src, { journey: 'nurture', since: new Date(T0) })).rejects.toThrow(/HubSpot search failed \(HTTP 200\): .*longer than 1048576 bytes/);
			// Asked again with 10 records, then 1, before giving up.
			expect(endless.requests()).toBe(3);
			expect(await engine.store.getCursor('hubspot:contacts@nurture')).toBeUndefined();
		} finally {
			nock.disableNetConnect();
			await endless.close();
		}
	});

	test('a search that ignores its filters (always the same page, always "more") fails the poll after a few pages instead of asking for ever', async () => {
		let asked = 0;
		nock('https://api.hubapi.com')
			.persist()
			.post('/crm/v3/objects/contacts/search')
			.reply(200, () => {
				asked++;
				// The same record, before the cursor, with a next page every time (a proxy or sandbox answering one canned page);
				// after 200 requests the page says it is the last so that a poll without a bound ends too.
				return {
					total: 1,
					results: [{ id: '101', properties: { hs_object_id: '101', email: 'c101@example.com', hs_lastmodifieddate: new Date(T0 - 5000).toISOString() }, createdAt: new Date(T0 - 86_400_000).toISOString(), updatedAt: new Date(T0 - 5000).toISOString(), archived: false }],
					...(asked < 200 ? { paging: { next: { after: String(asked), link: '' } } } : {}),
				};
			});
		await expect(pollOnce(engine, source(), { journey: 'nurture', since: new Date(T0) })).rejects.toThrow(/HubSpot search answered 5 pages in a row with no record after .*does not seem to apply the poll's filters/);
		expect(asked).toBeLessThanOrEqual(6);
		expect(await engine.store.getCursor('hubspot:contacts@nurture')).toBeUndefined();
	});

	test('a later page refused with 429 keeps what the earlier pages took: the cursor moves past them and the next check goes on from there', async () => {
		const clock = { now: T0 + 10 * 60_000 };
		const records: FakeRecord[] = Array.from({ length: 150 }, (_, i) => ({ id: String(300 + i), modifiedAt: T0 + 1000 + i, visibleAt: T0 }));
		// The second search of the first check (the first from a time, GT) is over HubSpot's per-second search limit, once.
		nock('https://api.hubapi.com')
			.post('/crm/v3/objects/contacts/search', (body: { filterGroups: { filters: { operator: string }[] }[] }) => body.filterGroups[0].filters[0].operator === 'GT')
			.reply(429, { status: 'error', message: 'You have reached your secondly limit.', errorType: 'RATE_LIMIT', correlationId: 'c-2', policyName: 'SECONDLY' });
		const { requests } = fakeHubSpot(records, clock);
		const once = await pollOnce(engine, source(), { journey: 'nurture', since: new Date(T0), now: () => clock.now });
		expect(once.more).toBe(true);
		expect(once.accepted.map((r) => String(r.event.properties.objectId))).toEqual(records.slice(0, 99).map((r) => r.id));
		expect(JSON.parse((await engine.store.getCursor('hubspot:contacts@nurture'))!)).toEqual({ at: T0 + 1098, id: '398' });
		const next = await pollOnce(engine, source(), { journey: 'nurture', now: () => clock.now });
		expect(next.accepted.map((r) => String(r.event.properties.objectId))).toEqual(records.slice(99).map((r) => r.id));
		expect(requests).toHaveLength(2);
	});

	test('a HubSpot error fails the poll with the reason and leaves the cursor where it was', async () => {
		nock('https://api.hubapi.com')
			.post('/crm/v3/objects/contacts/search')
			.reply(429, { status: 'error', message: 'You have reached your ten_secondly_rolling limit.', errorType: 'RATE_LIMIT', correlationId: 'c-1', policyName: 'TEN_SECONDLY_ROLLING' });
		await expect(pollOnce(engine, source(), { journey: 'nurture', since: new Date(T0) })).rejects.toThrow(/HubSpot search failed \(HTTP 429\): You have reached your ten_secondly_rolling limit/);
		expect(await engine.store.getCursor('hubspot:contacts@nurture')).toBeUndefined();
	});
});

describe('HubSpot polled contacts', () => {
	test('hs_timezone in HubSpot\'s form ("america_slash_los_angeles") becomes the IANA zone; a value Nudge cannot name is left out', () => {
		const event = (hs_timezone: string) =>
			source().toEvent({ id: '601', modifiedAt: T0, raw: { id: '601', properties: { email: 'la@example.com', hs_timezone, hs_lastmodifieddate: new Date(T0).toISOString() } } });
		expect((event('america_slash_los_angeles').traits as Record<string, unknown>).timezone).toBe('America/Los_Angeles');
		expect((event('Europe/Berlin').traits as Record<string, unknown>).timezone).toBe('Europe/Berlin');
		expect((event('mars_slash_olympus_mons').traits as Record<string, unknown>).timezone).toBeUndefined();
	});
});
