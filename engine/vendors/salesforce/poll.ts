/**
 * Salesforce polling on `SystemModstamp` with a (SystemModstamp, Id) cursor, in one SOQL query
 * (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select.htm):
 *   WHERE (SystemModstamp > :at OR (SystemModstamp = :at AND Id > :id)) AND SystemModstamp < :until
 *   ORDER BY SystemModstamp, Id LIMIT :n
 * Salesforce orders ties by Id, so a page boundary inside a tie loses nothing and repeats nothing;
 * `until` (now − settle window) keeps late-committing transactions ahead of the cursor.
 */
import type { Connection } from 'jsforce';
import { NudgeError } from '../../errors';
import { checkApiBudget } from './auth';
import type { PollCursor, PolledRecord, PollPage, PollSource } from '../../events/poll';
import { isoTime, parseTime } from '../../util/isoTime';

export type SalesforcePollObject = 'Lead' | 'Contact';

const FIELDS: Record<SalesforcePollObject, string[]> = {
	Lead: ['Email', 'FirstName', 'LastName', 'Company', 'Status', 'LeadSource', 'Phone', 'OwnerId'],
	Contact: ['Email', 'FirstName', 'LastName', 'AccountId', 'Phone', 'MobilePhone', 'OwnerId'],
};

/** SOQL datetime literal (seconds; SystemModstamp has no finer precision). */
export function soqlDateTime(ms: number): string {
	return isoTime(Math.floor(ms / 1000) * 1000).replace('.000Z', 'Z');
}

/** The one query of a poll; the cursor id is checked so nothing but an Id reaches the SOQL text. */
export function pollQuery(object: SalesforcePollObject, after: PollCursor, until: number, limit: number): string {
	if (after.id && !/^[A-Za-z0-9]{15,18}$/.test(after.id)) throw new NudgeError('INVALID_INPUT', `Stored Salesforce cursor id "${after.id}" is not a record Id`);
	return `SELECT Id, SystemModstamp, ${FIELDS[object].join(', ')} FROM ${object} WHERE ${newerThan(after)} AND SystemModstamp < ${soqlDateTime(until)} ORDER BY SystemModstamp ASC, Id ASC LIMIT ${limit}`;
}

/**
 * The records after the cursor as pollOnce's isAfter reads them, exactly, for stamps in whole seconds: soqlDateTime
 * floors the cursor to its second, and a record of that second is before a cursor inside it (a first poll's, one ms
 * before a whole second). Returned, such records filled the page and were dropped, so the cursor never moved.
 */
function newerThan(after: PollCursor): string {
	const at = soqlDateTime(after.at);
	if (after.at % 1000 !== 0) return `SystemModstamp > ${at}`;
	// On a whole second: an id orders the ties; no id (a first cursor) comes before every record of that second.
	return after.id ? `(SystemModstamp > ${at} OR (SystemModstamp = ${at} AND Id > '${after.id}'))` : `SystemModstamp >= ${at}`;
}

export class SalesforcePollSource implements PollSource {
	readonly source = 'salesforce' as const;
	readonly cursorName: string;

	constructor(
		private readonly connect: () => Promise<Connection>,
		private readonly object: SalesforcePollObject,
		/** Share of the daily API limit above which polling pauses (default 0.9). */
		private readonly apiShare = 0.9,
	) {
		if (!FIELDS[object]) throw new NudgeError('INVALID_INPUT', `Salesforce object "${object}" is not one of ${Object.keys(FIELDS).join(', ')}`);
		this.cursorName = `salesforce:${object}`;
	}

	async fetch(after: PollCursor, until: number, limit: number): Promise<PollPage> {
		const conn = await this.connect();
		checkApiBudget(conn, this.apiShare);
		let result: { records: Record<string, unknown>[] };
		try {
			// Salesforce may answer a query in batches smaller than its LIMIT ("the returned batch can include fewer records
			// than the limit … based on the size and complexity of records queried", REST API, Query): the rest is behind
			// nextRecordsUrl, read here up to the LIMIT, or a check would take only the first batch.
			result = await conn.query(pollQuery(this.object, after, until, limit), { autoFetch: true, maxFetch: limit });
		} catch (error) {
			const e = error as { errorCode?: string; message?: string };
			throw new NudgeError('STORE_ERROR', `Salesforce query failed (${e.errorCode ?? 'error'}): ${e.message ?? String(error)}`, [], 503);
		}
		const records: PolledRecord[] = result.records.map((raw) => ({ id: String(raw.Id), modifiedAt: parseTime(String(raw.SystemModstamp).replace(/\+0000$/, 'Z')), raw }));
		return { records, more: records.length >= limit };
	}

	toEvent(record: PolledRecord): Record<string, unknown> {
		const r = record.raw;
		const email = typeof r.Email === 'string' && r.Email.includes('@') ? r.Email : undefined;
		const traits: Record<string, unknown> = {};
		for (const field of FIELDS[this.object]) if (r[field] !== null && r[field] !== undefined) traits[field.charAt(0).toLowerCase() + field.slice(1)] = r[field];
		const phone = r.MobilePhone ?? r.Phone;
		if (typeof phone === 'string' && phone) traits.phone = phone;
		return {
			type: 'identify',
			name: `${this.object} Changed`,
			occurredAt: isoTime(record.modifiedAt),
			identities: { salesforceId: record.id, ...(email ? { email } : {}) },
			traits,
			properties: { objectType: this.object, objectId: record.id },
		};
	}
}
