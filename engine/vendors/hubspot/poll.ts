/**
 * HubSpot polling with a private app's token or an OAuth2 app's, for accounts without webhooks: the CRM search API
 * (https://developers.hubspot.com/docs/api/crm/search) on `hs_lastmodifieddate`, ascending, read
 * through pages of 100. The search API sorts by one property only, so records sharing a timestamp
 * come back in no set order: the page is re-sorted by (timestamp, id), and when a poll stops early the
 * records at its last timestamp are left whole for the next poll (or, when a single timestamp fills
 * the poll, read in id order with `hs_object_id`).
 */
import { NudgeError } from '../../errors';
import { HubSpotApi, HubSpotAuthError, hubspotTokens, type HubSpotAuthSettings } from './auth';
import { hubspotIdentity } from './normalise';
import { byCursorOrder, isAfter, PollCursor, PolledRecord, PollPage, PollSource } from '../../events/poll';
import { isoTime, parseTime } from '../../util/isoTime';

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
		this.api = new HubSpotApi(hubspotTokens(settings.auth), settings.basePath);
	}

	private async search(filters: Filter[], sortBy: string, after?: string): Promise<SearchResponse> {
		const request = {
			filterGroups: [{ filters: filters as never }],
			sorts: [{ propertyName: sortBy, direction: 'ASCENDING' } as never],
			properties: PROPERTIES[this.settings.object],
			limit: 100,
			...(after ? { after } : {}),
		};
		try {
			return (await this.api.call((client) => (this.settings.object === 'contacts' ? client.crm.contacts.searchApi : client.crm.deals.searchApi).doSearch(request))) as unknown as SearchResponse;
		} catch (error) {
			if (error instanceof HubSpotAuthError) throw error;
			const e = error as { code?: number; body?: { message?: string; category?: string } };
			throw new NudgeError('STORE_ERROR', `HubSpot search failed${e.code ? ` (HTTP ${e.code})` : ''}: ${e.body?.message ?? (error as Error).message}`, [], 503);
		}
	}

	private record(result: SearchResult): PolledRecord {
		return { id: String(result.id), modifiedAt: modifiedAt(result), raw: result as unknown as Record<string, unknown> };
	}

	/** `strict` reads only timestamps after `after.at` (used once the records at `after.at` are all taken). */
	async fetch(after: PollCursor, until: number, limit: number, strict = false): Promise<PollPage> {
		const maxPages = Math.max(1, Math.min(this.settings.maxPages ?? 5, Math.ceil(limit / 100)));
		const range: Filter[] = [
			{ propertyName: 'hs_lastmodifieddate', operator: strict ? 'GT' : 'GTE', value: String(after.at) },
			{ propertyName: 'hs_lastmodifieddate', operator: 'LT', value: String(until) },
		];
		const fetched: PolledRecord[] = [];
		let next: string | undefined;
		let pages = 0;
		do {
			const response = await this.search(range, 'hs_lastmodifieddate', next);
			fetched.push(...response.results.map((r) => this.record(r)));
			next = response.paging?.next?.after;
			pages++;
		} while (next && pages < maxPages);
		let records = fetched.filter((r) => isAfter(r, after)).sort(byCursorOrder);
		if (!next) return { records, more: false };
		// Stopped early: the last timestamp may continue on the next page, in any id order.
		const last = records.length ? records[records.length - 1].modifiedAt : after.at;
		const before = records.filter((r) => r.modifiedAt < last);
		if (before.length) return { records: before, more: true };
		// One timestamp fills the whole poll: read it in id order instead.
		const tie: Filter[] = [
			{ propertyName: 'hs_lastmodifieddate', operator: 'EQ', value: String(last) },
			...(after.at === last && after.id ? [{ propertyName: 'hs_object_id', operator: 'GT', value: after.id }] : []),
		];
		const response = await this.search(tie, 'hs_object_id');
		records = response.results.map((r) => this.record(r)).filter((r) => isAfter(r, after)).sort(byCursorOrder);
		if (response.paging?.next) return { records, more: true };
		// Every record at this timestamp is taken: go on with the later ones.
		const lastTie = records.length ? records[records.length - 1].id : after.at === last ? after.id : '';
		const rest = await this.fetch({ at: last, id: lastTie }, until, limit, true);
		return { records: [...records, ...rest.records], more: rest.more };
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
		if (props.hs_timezone) traits.timezone = props.hs_timezone;
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
