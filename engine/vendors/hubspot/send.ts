/**
 * HubSpot senders through `@hubspot/api-client`, with a private app's token or an OAuth2 app's
 * (renewed on expiry, ./auth.ts):
 * - `task`: a task for the record's owner (sales escalation), associated with the contact or deal
 *   (https://developers.hubspot.com/docs/api/crm/tasks);
 * - `note`: a note on the contact's or deal's timeline (https://developers.hubspot.com/docs/api/crm/notes);
 * - `email`: a marketing single-send of a transactional email built in HubSpot
 *   (https://developers.hubspot.com/docs/api/marketing/transactional-emails#single-send-api); its
 *   `sendId` is the decision id, and HubSpot sends at most one email per sendId.
 * The library's own retries are off (numberOfApiCallRetries 0): Nudge's delivery loop retries.
 */
import type { Client } from '@hubspot/api-client';
import { NudgeError } from '../../errors';
import { checkHubSpotAuth, HubSpotApi, hubspotAccountKey, HubSpotAuthError, hubspotTokens, type HubSpotAuthSettings } from './auth';
import { HubSpotAnswerUnread } from './http';
import { escapeHtml, followUpLines, followUpSubject } from '../../deliver/followUp';
import { OutboundMessage, ProviderError, RateLimiter, retryAfterMs, Sender, sharedLimiter } from '../../deliver/provider';
import { isoTime } from '../../util/isoTime';

export const HUBSPOT_ACTIONS = ['task', 'note', 'email'] as const;
export type HubSpotAction = (typeof HUBSPOT_ACTIONS)[number];

export interface HubSpotSettings {
	auth: HubSpotAuthSettings;
	action: HubSpotAction;
	/** Task owner; defaults to the record's `hubspot_owner_id` trait. */
	ownerId?: string;
	/** The transactional email's id (action `email`). */
	emailId?: number;
	/** Task subject / note heading; `{{name}}` is replaced by the trigger event's name. */
	subject?: string;
	/** Test servers (nock) or a proxy. */
	basePath?: string;
}

/** HUBSPOT_DEFINED association type ids (https://developers.hubspot.com/docs/api/crm/associations/v4#association-type-id-values). */
const ASSOCIATION_TYPES: Record<'task' | 'note', Record<'contact' | 'deal', number>> = {
	task: { contact: 204, deal: 216 },
	note: { contact: 202, deal: 214 },
};

/** The HubSpot record a message is about: a contact id, or `deal:<id>` records made from deal events. */
export function hubspotRecord(message: OutboundMessage): { type: 'contact' | 'deal'; id: string } | undefined {
	for (const id of message.contact.identities?.hubspotId ?? []) {
		if (/^\d+$/.test(id)) return { type: 'contact', id };
		const deal = /^deal:(\d+)$/.exec(id);
		if (deal) return { type: 'deal', id: deal[1] };
	}
	return undefined;
}

interface ApiError {
	code?: number;
	body?: unknown;
	headers?: Record<string, unknown>;
	message?: string;
}

/** sendResult values of an email sent, or sent already under this sendId (IDEMPOTENT_IGNORE). */
const SENT_RESULTS = new Set(['SENT', 'QUEUED', 'IDEMPOTENT_IGNORE']);

/** HubSpot's error body `{status, message, correlationId, category}` → one line, never the token. */
function providerError(error: unknown): ProviderError {
	if (error instanceof HubSpotAuthError) return new ProviderError(error.message, { status: error.status, retryable: error.retryable });
	const e = error as ApiError;
	if (typeof e?.code !== 'number') return new ProviderError(`could not reach HubSpot: ${e?.message ?? String(error)}`);
	const body = (typeof e.body === 'string' ? safeJson(e.body) : e.body) as Record<string, unknown> | undefined;
	const detail = [body?.category ?? body?.errorType, body?.message].filter(Boolean).join(': ');
	const correlation = body?.correlationId ? ` (correlationId ${String(body.correlationId)})` : '';
	return new ProviderError(`HubSpot answered HTTP ${e.code}${detail ? ` ${detail}` : ''}${correlation}`, {
		status: e.code,
		retryAfterMs: retryAfterMs(e.headers?.['retry-after']),
	});
}

/**
 * HubSpot accepted the request (2xx) but its answer was not read (longer than 64 KB, or not finished in time) or
 * could not be parsed (cut off, rewritten by a proxy: the client parses 2xx bodies only, so a SyntaxError is one): it
 * counts as sent, with no message id. A retry would create the task or note again.
 */
function acceptedUnread(error: unknown): boolean {
	return (error instanceof HubSpotAnswerUnread && error.code >= 200 && error.code < 300) || error instanceof SyntaxError;
}

function safeJson(text: string): unknown {
	try {
		return JSON.parse(text);
	} catch {
		return { message: text.slice(0, 300) };
	}
}

export class HubSpotSender implements Sender {
	readonly provider: string;
	readonly limiter: RateLimiter;
	private client?: HubSpotApi;

	constructor(private readonly settings: HubSpotSettings) {
		this.provider = `hubspot:${settings.action}`;
		// Apps may make 100 requests per 10 seconds (110 on Pro/Enterprise); stay under it.
		this.limiter = sharedLimiter(`hubspot:${hubspotAccountKey(settings.auth)}`, 9, 10);
	}

	check(): void {
		checkHubSpotAuth(this.settings.auth);
		if (!HUBSPOT_ACTIONS.includes(this.settings.action)) {
			throw new NudgeError('INVALID_INPUT', `HubSpot action "${String(this.settings.action)}" is not one of ${HUBSPOT_ACTIONS.join(', ')}`);
		}
		if (this.settings.action === 'email' && !(Number(this.settings.emailId) > 0)) {
			throw new NudgeError('INVALID_INPUT', 'Sending a HubSpot email needs the email’s ID: open the transactional email in HubSpot and copy the number from its address');
		}
	}

	private api(): HubSpotApi {
		this.client ??= new HubSpotApi(hubspotTokens(this.settings.auth), this.settings.basePath);
		return this.client;
	}

	/** An HTML body (note, task): the engine's own markup around escaped text. */
	private htmlBody(message: OutboundMessage): string {
		return followUpLines(message).map(escapeHtml).join('<br>');
	}

	async attempt(message: OutboundMessage, idempotencyKey: string): Promise<{ providerMessageId?: string }> {
		const { action } = this.settings;
		if (action === 'email') return this.sendEmail(message, idempotencyKey);
		const record = hubspotRecord(message);
		if (!record) {
			throw new ProviderError(`contact ${message.contact.contactId} has no HubSpot record id, so there is nothing to attach the ${action} to (start the journey from a HubSpot trigger, or add hubspotId to the contact)`, { retryable: false });
		}
		const associations = [
			{ to: { id: record.id }, types: [{ associationCategory: 'HUBSPOT_DEFINED' as never, associationTypeId: ASSOCIATION_TYPES[action][record.type] }] },
		];
		const properties: Record<string, string> = { hs_timestamp: isoTime(Date.now()) };
		if (action === 'task') {
			const owner = this.settings.ownerId || message.contact.traits.hubspot_owner_id;
			Object.assign(properties, {
				hs_task_subject: followUpSubject(this.settings.subject, message),
				hs_task_body: this.htmlBody(message),
				hs_task_status: 'NOT_STARTED',
				hs_task_priority: 'HIGH',
				hs_task_type: 'TODO',
				...(owner ? { hubspot_owner_id: String(owner) } : {}),
			});
		} else {
			properties.hs_note_body = `<strong>${escapeHtml(followUpSubject(this.settings.subject, message))}</strong><br>${this.htmlBody(message)}`;
		}
		try {
			const created = await this.api().call(
				(client) => (action === 'task' ? client.crm.objects.tasks.basicApi : client.crm.objects.notes.basicApi),
				(api) => api.create({ properties, associations }),
			);
			return { providerMessageId: created.id };
		} catch (error) {
			if (acceptedUnread(error)) return {};
			throw providerError(error);
		}
	}

	private async sendEmail(message: OutboundMessage, sendId: string): Promise<{ providerMessageId?: string }> {
		if (!message.contact.email) {
			throw new ProviderError(`contact ${message.contact.contactId} has no email address`, { retryable: false });
		}
		let status: Awaited<ReturnType<Client['marketing']['transactional']['singleSendApi']['sendEmail']>>;
		try {
			status = await this.api().call(
				(client) => client.marketing.transactional.singleSendApi,
				(api) =>
					api.sendEmail({
						emailId: Number(this.settings.emailId),
						message: { to: message.contact.email!, sendId },
						customProperties: { nudgeDecisionId: message.decisionId, journey: message.journey },
					}),
			);
		} catch (error) {
			if (acceptedUnread(error)) return {};
			throw providerError(error);
		}
		// The request's state (status) is not its outcome (sendResult): a COMPLETE or CANCELED request whose sendResult is
		// PREVIOUSLY_BOUNCED, BLOCKED_DOMAIN, PREVIOUSLY_UNSUBSCRIBED_PORTAL… sent nothing.
		const result = status.sendResult === undefined || status.sendResult === null ? undefined : String(status.sendResult);
		if (String(status.status) === 'CANCELED' || (result !== undefined && !SENT_RESULTS.has(result))) {
			throw new ProviderError(`HubSpot did not send the email: ${result ?? `status ${String(status.status)}`}${status.statusId ? ` (statusId ${status.statusId})` : ''}`, { retryable: false });
		}
		return { providerMessageId: status.statusId ?? sendId };
	}
}
