/**
 * HubSpot polling with a private app's token or an OAuth2 app's, for accounts without webhooks: the CRM search API
 * (https://developers.hubspot.com/docs/api/crm/search) on `hs_lastmodifieddate`, ascending, in pages of 100.
 * Pages are read by time, not offset: each page is a new search from the last record taken. The search's `after` is
 * an offset into live results, so a record edited between two pages shifted the rest and one was never read; a
 * search from a time also stays far under HubSpot's 10,000 results per query. The search sorts by one property only,
 * so records sharing a timestamp come back in no set order: a page is re-sorted by (timestamp, id), the records at
 * its last timestamp are left for the next page, and when a single timestamp fills a page it is read in id order
 * (`hs_object_id` GT the last id taken). Records already taken are dropped (the cursor's (time, id) order).
 */
import { NudgeError } from '../../errors';
import { HubSpotApi, HubSpotAuthError, hubspotTokens, type HubSpotAuthSettings } from './auth';
import { HUBSPOT_TIMEOUT_MS, HubSpotAnswerUnread } from './http';
import { hubspotIdentity, hubspotTimeZone } from './normalise';
import { byCursorOrder, isAfter, PollCursor, PolledRecord, PollPage, PollSource } from '../../events/poll';
import { inIsoYears, isoTime, parseTime } from '../../util/isoTime';

export type HubSpotPollObject = 'contacts' | 'deals';

const PROPERTIES: Record<HubSpotPollObject, string[]> = {
	contacts: ['email', 'firstname', 'lastname', 'phone', 'mobilephone', 'lifecyclestage', 'hs_timezone', 'hubspot_owner_id', 'hs_lastmodifieddate'],
	deals: ['dealname', 'dealstage', 'amount', 'pipeline', 'closedate', 'hubspot_owner_id', 'hs_lastmodifieddate'],
};

interface SearchResult {
	id: string;
	properties: Record<string, string | null>;
	updatedAt?: Date | string;
}

interface SearchResponse {
	results: SearchResult[];
	paging?: { next?: { after: string } };
}

type Filter = { propertyName: string; operator: string; value: string };

/**
 * Where the next page starts: `from` the cursor's timestamp (records at it may remain), `later` than it (all records
 * at it are taken), or within it (`tie`: ids after the cursor's).
 */
interface PageStart {
	cursor: PollCursor;
	mode: 'from' | 'later' | 'tie';
}

interface Step {
	records: PolledRecord[];
	next?: PageStart;
}

/**
 * A page of 100 records is about 70 KB (more than a send's 64 KB); 1 MB leaves room for long values, and a page
 * longer than that is asked again with fewer records.
 */
const SEARCH_BOUNDS = { timeoutMs: HUBSPOT_TIMEOUT_MS, maxBytes: 1024 * 1024 };

/** Records per page: HubSpot's most, then fewer when a page is too long to read. */
const PAGE_SIZES = [100, 10, 1];

/**
 * Steps in a row that may take no record while the search says more follow: past a timestamp already taken ('from'),
 * into its ties ('tie'), then after it ('later') is at most three on a search that applies its filters.
 */
const MAX_IDLE_STEPS = 4;

const cursorOf = (record: PolledRecord): PollCursor => ({ at: record.modifiedAt, id: record.id });

/** A failed search as the poll reports it (the cursor does not move); token failures keep their own message. */
function searchError(error: unknown): Error {
	if (error instanceof HubSpotAuthError) return error;
	const e = error as { code?: number; body?: { message?: string; category?: string } };
	return new NudgeError('STORE_ERROR', `HubSpot search failed${e.code ? ` (HTTP ${e.code})` : ''}: ${e.body?.message ?? (error as Error).message}`, [], 503);
}

export interface HubSpotPollSettings {
	auth: HubSpotAuthSettings;
	object: HubSpotPollObject;
	basePath?: string;
	/** Pages of 100 read per poll (default 5). */
	maxPages?: number;
}

function modifiedAt(result: SearchResult): number {
	const text = result.properties.hs_lastmodifieddate ?? (result.updatedAt ? String(result.updatedAt instanceof Date ? isoTime(result.updatedAt.getTime()) : result.updatedAt) : '');
	const ms = parseTime(text ?? '');
	return Number.isFinite(ms) ? ms : Number(text);
}

export class HubSpotPollSource implements PollSource {
	readonly source = 'hubspot' as const;
	readonly cursorName: string;
	private readonly api: HubSpotApi;

	constructor(private readonly settings: HubSpotPollSettings) {
		this.cursorName = `hubspot:${settings.object}`;
		this.api = new HubSpotApi(hubspotTokens(settings.auth), settings.basePath, SEARCH_BOUNDS);
	}

	private async search(filters: Filter[], sortBy: string, limit: number): Promise<SearchResponse> {
		const request = {
			filterGroups: [{ filters: filters as never }],
			sorts: [{ propertyName: sortBy, direction: 'ASCENDING' } as never],
			properties: PROPERTIES[this.settings.object],
			limit,
		};
		return (await this.api.call(
			(client) => (this.settings.object === 'contacts' ? client.crm.contacts.searchApi : client.crm.deals.searchApi),
			(api) => api.doSearch(request),
		)) as unknown as SearchResponse;
	}

	/** One page; a page too long to read (records with very long values) is asked again with fewer records. */
	private async page(filters: Filter[], sortBy: string): Promise<SearchResponse> {
		for (let i = 0; ; i++) {
			try {
				return await this.search(filters, sortBy, PAGE_SIZES[i]);
			} catch (error) {
				if (error instanceof HubSpotAnswerUnread && error.tooLong && i < PAGE_SIZES.length - 1) continue;
				throw searchError(error);
			}
		}
	}

	/** A page's records after `cursor`, in cursor order. */
	private taken(response: SearchResponse, cursor: PollCursor): PolledRecord[] {
		return response.results
			.map((result) => ({ id: String(result.id), modifiedAt: modifiedAt(result), raw: result as unknown as Record<string, unknown> }))
			.filter((r) => isAfter(r, cursor))
			.sort(byCursorOrder);
	}

	async fetch(after: PollCursor, until: number, limit: number): Promise<PollPage> {
		const maxPages = Math.max(1, Math.min(this.settings.maxPages ?? 5, Math.ceil(limit / 100)));
		const records: PolledRecord[] = [];
		let from: PageStart = { cursor: after, mode: 'from' };
		for (let pages = 0, idle = 0; pages < maxPages; ) {
			let step: Step;
			try {
				step = await this.step(from, until);
			} catch (error) {
				// A later page refused (HubSpot's search allows a few requests a second): keep what earlier pages took, so
				// the cursor moves past it and the next check goes on from there instead of reading the same pages again.
				if (records.length) return { records, more: true };
				throw error;
			}
			records.push(...step.records);
			if (!step.next) return { records, more: false };
			from = step.next;
			// A step that took nothing still moved `from` on (past a timestamp already taken); only reads that took records count.
			if (step.records.length) {
				pages++;
				idle = 0;
			} else if (++idle > MAX_IDLE_STEPS) {
				// A search that keeps promising more but answers only records already read ignores its filters: stop
				// (what was taken is kept and the cursor moves past it) rather than ask it for ever.
				if (records.length) return { records, more: true };
				throw new NudgeError('STORE_ERROR', `HubSpot search answered ${idle} pages in a row with no record after ${inIsoYears(from.cursor.at) ? isoTime(from.cursor.at) : from.cursor.at}${from.cursor.id ? ` (id ${from.cursor.id})` : ''} while saying more follow; it does not seem to apply the poll's filters (check the base URL or a proxy in between). The cursor stays where it was.`, [], 503);
			}
		}
		return { records, more: true };
	}

	/** The records after `from`, complete up to where the next step starts (`next`, none when all are read). */
	private async step(from: PageStart, until: number): Promise<Step> {
		if (from.mode === 'tie') return this.tieStep(from.cursor);
		const { cursor } = from;
		const response = await this.page(
			[
				{ propertyName: 'hs_lastmodifieddate', operator: from.mode === 'later' ? 'GT' : 'GTE', value: String(cursor.at) },
				{ propertyName: 'hs_lastmodifieddate', operator: 'LT', value: String(until) },
			],
			'hs_lastmodifieddate',
		);
		const records = this.taken(response, cursor);
		if (!response.paging?.next) return { records };
		// The page may end inside its last timestamp, whose other records come next in any order: leave them for the next page.
		const last = records.length ? records[records.length - 1].modifiedAt : cursor.at;
		const before = records.filter((r) => r.modifiedAt < last);
		// Every record at the timestamps before `last` is on this page: the next page starts after them.
		if (before.length) return { records: before, next: { cursor: cursorOf(before[before.length - 1]), mode: 'later' } };
		// One timestamp fills the page: read it in id order.
		return this.tieStep({ at: last, id: cursor.at === last ? cursor.id : '' });
	}

	/** Records at `cursor.at` with ids after `cursor.id`, in id order; then the later timestamps. */
	private async tieStep(cursor: PollCursor): Promise<Step> {
		const response = await this.page(
			[
				{ propertyName: 'hs_lastmodifieddate', operator: 'EQ', value: String(cursor.at) },
				...(cursor.id ? [{ propertyName: 'hs_object_id', operator: 'GT', value: cursor.id }] : []),
			],
			'hs_object_id',
		);
		const records = this.taken(response, cursor);
		const end = records.length ? cursorOf(records[records.length - 1]) : cursor;
		return { records, next: { cursor: end, mode: response.paging?.next ? 'tie' : 'later' } };
	}

	toEvent(record: PolledRecord): Record<string, unknown> {
		const props = (record.raw.properties ?? {}) as Record<string, string | null>;
		const traits: Record<string, unknown> = Object.fromEntries(Object.entries(props).filter(([k, v]) => v !== null && k !== 'hs_lastmodifieddate'));
		const occurredAt = isoTime(record.modifiedAt);
		if (this.settings.object === 'deals') {
			return {
				type: 'track',
				name: 'Deal Changed',
				occurredAt,
				identities: { hubspotId: hubspotIdentity('deal', record.id) },
				traits: props.hubspot_owner_id ? { hubspot_owner_id: props.hubspot_owner_id } : {},
				properties: { objectType: 'deal', objectId: record.id, ...traits },
			};
		}
		if (props.lifecyclestage) traits.lifecycle = props.lifecyclestage;
		const timezone = hubspotTimeZone(props.hs_timezone);
		if (timezone) traits.timezone = timezone;
		if (props.mobilephone || props.phone) traits.phone = props.mobilephone || props.phone;
		const email = props.email && props.email.includes('@') ? props.email : undefined;
		return {
			type: 'identify',
			name: 'Contact Changed',
			occurredAt,
			identities: { hubspotId: record.id, ...(email ? { email } : {}) },
			traits,
			properties: { objectType: 'contact', objectId: record.id },
		};
	}
}
