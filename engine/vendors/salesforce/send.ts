/**
 * Salesforce senders through `jsforce`: a Task for the record's owner
 * (https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm)
 * and a CampaignMember add
 * (https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_campaignmember.htm).
 * Adding someone who is already a member answers DUPLICATE_VALUE, which counts as done: a retry never
 * adds twice. API usage (Sforce-Limit-Info) above the configured share pauses sending.
 */
import type { Connection } from 'jsforce';
import { NudgeError } from '../../errors';
import { checkApiBudget } from './auth';
import { followUpLines, followUpSubject } from '../../deliver/followUp';
import { OutboundMessage, ProviderError, RateLimiter, Sender, sharedLimiter } from '../../deliver/provider';

export type SalesforceAction = 'task' | 'campaign';

export interface SalesforceSenderSettings {
	action: SalesforceAction;
	/** CampaignId (action `campaign`). */
	campaignId?: string;
	/** CampaignMember status, e.g. "Sent" (default: the campaign's default status). */
	memberStatus?: string;
	/** Task owner; default the record's OwnerId. */
	ownerId?: string;
	subject?: string;
	apiShare?: number;
}

/** Lead ids start 00Q, Contact ids 003 (https://help.salesforce.com/s/articleView?id=000385203). */
export function salesforceRecord(message: OutboundMessage): { kind: 'Lead' | 'Contact'; id: string } | undefined {
	for (const id of message.contact.identities?.salesforceId ?? []) {
		if (id.startsWith('00Q')) return { kind: 'Lead', id };
		if (id.startsWith('003')) return { kind: 'Contact', id };
	}
	return undefined;
}

/** Errors that say Salesforce may answer next time: it was busy, in maintenance, or was never reached. */
const TRANSIENT = /SERVER_UNAVAILABLE|UNABLE_TO_LOCK_ROW|ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|ENETDOWN|UND_ERR_\w+|^5\d\d$|^ERROR_HTTP_5\d\d$/;

/**
 * jsforce names an error by Salesforce's errorCode, by `ERROR_HTTP_<status>` for an answer that is not Salesforce's
 * JSON (a proxy's or a maintenance page), and a connection that failed is fetch's TypeError with the socket's code
 * in its cause: all of them read here, so a network error or a 5xx page is retried as the docs say.
 */
function providerError(error: unknown): ProviderError {
	const e = error as { errorCode?: string; name?: string; message?: string; cause?: { code?: string; message?: string } };
	const network = e.cause?.code ?? (e.name === 'TypeError' && /fetch failed/i.test(e.message ?? '') ? 'NETWORK_ERROR' : undefined);
	const code = e.errorCode ?? network ?? e.name ?? 'ERROR';
	const status = /^ERROR_HTTP_(\d{3})$/.exec(code)?.[1];
	const retryable = TRANSIENT.test(code) || code === 'NETWORK_ERROR';
	const text = network ? `could not reach Salesforce (${code}): ${e.cause?.message ?? e.message ?? String(error)}` : `Salesforce answered ${code}: ${e.message ?? String(error)}`;
	return new ProviderError(text, { retryable, ...(status ? { status: Number(status) } : {}) });
}

export class SalesforceSender implements Sender {
	readonly provider: string;
	readonly limiter: RateLimiter;

	constructor(
		private readonly connect: () => Promise<Connection>,
		private readonly settings: SalesforceSenderSettings,
		account = 'default',
	) {
		this.provider = `salesforce:${settings.action}`;
		// Concurrent API requests are limited per org (25 long-running); a steady 10/s is well within.
		this.limiter = sharedLimiter(`salesforce:${account}`, 10);
	}

	check(): void {
		if (this.settings.action === 'campaign' && !/^701[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$/.test(this.settings.campaignId ?? '')) {
			throw new NudgeError('INVALID_INPUT', 'Adding to a Salesforce campaign needs the Campaign ID (starts with 701, from the campaign’s address in Salesforce)');
		}
	}

	async attempt(message: OutboundMessage): Promise<{ providerMessageId?: string }> {
		const record = salesforceRecord(message);
		if (!record) {
			throw new ProviderError(`contact ${message.contact.contactId} has no Salesforce Lead or Contact id (start the journey from the Salesforce trigger, or add salesforceId to the contact)`, { retryable: false });
		}
		const conn = await this.connect();
		try {
			checkApiBudget(conn, this.settings.apiShare ?? 0.9);
		} catch (error) {
			// Waiting seconds would not help a 24-hour budget: fail now, with the reason.
			throw new ProviderError((error as Error).message, { status: 429, retryable: false });
		}
		try {
			if (this.settings.action === 'task') {
				const owner = this.settings.ownerId || message.contact.traits.ownerId;
				const result = await conn.sobject('Task').create({
					// Plain-text fields, sent as JSON values: nothing in them is read as markup or query text.
					Subject: followUpSubject(this.settings.subject, message),
					Description: followUpLines(message).join('\n'),
					WhoId: record.id,
					Status: 'Not Started',
					Priority: 'High',
					...(owner ? { OwnerId: String(owner) } : {}),
				});
				if (!result.success) throw Object.assign(new Error(JSON.stringify(result.errors)), { errorCode: 'CREATE_FAILED' });
				return { providerMessageId: result.id };
			}
			const member = { CampaignId: this.settings.campaignId, [`${record.kind}Id`]: record.id, ...(this.settings.memberStatus ? { Status: this.settings.memberStatus } : {}) };
			const result = await conn.sobject('CampaignMember').create(member);
			if (!result.success) throw Object.assign(new Error(JSON.stringify(result.errors)), { errorCode: 'CREATE_FAILED' });
			return { providerMessageId: result.id };
		} catch (error) {
			if ((error as { errorCode?: string }).errorCode === 'DUPLICATE_VALUE' && this.settings.action === 'campaign') {
				// Already a member (an earlier attempt got through): the outcome the send asked for.
				return { providerMessageId: `${this.settings.campaignId}:${record.id}` };
			}
			throw providerError(error);
		}
	}
}
