/** The polling sources a Poll Trigger can pick, built one way for both platforms. */
import { NudgeError } from '../errors';
import type { HubSpotAuthSettings } from './hubspot/auth';
import { HubSpotPollSource, type HubSpotPollObject } from './hubspot/poll';
import { sharedSalesforceConnector, type SalesforceSettings } from './salesforce/auth';
import { SalesforcePollSource, type SalesforcePollObject } from './salesforce/poll';
import type { PollSource } from '../events/poll';

export type PollSourceSpec =
	| { source: 'hubspot'; auth: HubSpotAuthSettings; object: HubSpotPollObject }
	| { source: 'salesforce'; settings: SalesforceSettings; object: SalesforcePollObject; apiShare?: number };

export function createPollSource(spec: PollSourceSpec): PollSource {
	if (spec.source === 'hubspot') {
		if (spec.object !== 'contacts' && spec.object !== 'deals') throw new NudgeError('INVALID_INPUT', `HubSpot object "${String(spec.object)}" is not one of contacts, deals`);
		return new HubSpotPollSource({ auth: spec.auth, object: spec.object });
	}
	if (spec.source === 'salesforce') return new SalesforcePollSource(sharedSalesforceConnector(spec.settings), spec.object, spec.apiShare);
	throw new NudgeError('INVALID_INPUT', `Poll source "${String((spec as { source: unknown }).source)}" is not one of hubspot, salesforce`);
}
