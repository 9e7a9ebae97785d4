/**
 * The senders a Send node can pick, built one way for both platforms from the node's settings and
 * its provider credential.
 */
import { NudgeError } from '../errors';
import type { HubSpotAuthSettings } from './hubspot/auth';
import { HubSpotSender, type HubSpotAction } from './hubspot/send';
import { sharedSalesforceConnector, type SalesforceSettings } from './salesforce/auth';
import { SalesforceSender, type SalesforceAction } from './salesforce/send';
import { SegmentSender } from './segment/send';
import type { Sender } from '../deliver/provider';

export const PROVIDERS = ['webhook', 'segment', 'hubspot', 'salesforce'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export type ProviderSpec =
	| { provider: 'segment'; writeKey: string; host?: string; eventName?: string }
	| { provider: 'hubspot'; auth: HubSpotAuthSettings; action: HubSpotAction; ownerId?: string; emailId?: number; subject?: string }
	| { provider: 'salesforce'; settings: SalesforceSettings; action: SalesforceAction; campaignId?: string; memberStatus?: string; ownerId?: string; subject?: string };

/** A sender that may hold queued work (Segment); `close()` flushes it. */
export type ClosableSender = Sender & { close?: () => Promise<void> };

export function createSender(spec: ProviderSpec): ClosableSender {
	switch (spec.provider) {
		case 'segment':
			return new SegmentSender({ writeKey: spec.writeKey, host: spec.host || undefined, eventName: spec.eventName || undefined });
		case 'hubspot':
			return new HubSpotSender({
				auth: spec.auth,
				action: spec.action,
				ownerId: spec.ownerId || undefined,
				emailId: spec.emailId ? Number(spec.emailId) : undefined,
				subject: spec.subject || undefined,
			});
		case 'salesforce':
			return new SalesforceSender(sharedSalesforceConnector(spec.settings), {
				action: spec.action,
				campaignId: spec.campaignId || undefined,
				memberStatus: spec.memberStatus || undefined,
				ownerId: spec.ownerId || undefined,
				subject: spec.subject || undefined,
			});
		default:
			throw new NudgeError('INVALID_INPUT', `Provider "${String((spec as { provider: unknown }).provider)}" is not one of ${PROVIDERS.join(', ')}`);
	}
}
