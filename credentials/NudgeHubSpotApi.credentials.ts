import type { IAuthenticateGeneric, Icon, ICredentialTestRequest, ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * HubSpot, for Nudge: a private app's access token (Nudge Send → HubSpot provider, polling) and,
 * for app webhooks, the app's client secret (Nudge Trigger with Source "HubSpot" checks the v3 signature).
 */
export class NudgeHubSpotApi implements ICredentialType {
	name = 'nudgeHubSpotApi';

	displayName = 'Nudge HubSpot API';

	icon: Icon = { light: 'file:nudge.svg', dark: 'file:nudge.dark.svg' };

	documentationUrl = 'https://github.com/nudge-oss/n8n-nodes-nudge/blob/main/docs/integrations.md#hubspot';

	properties: INodeProperties[] = [
		{
			displayName: 'Private App Access Token',
			name: 'accessToken',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description: 'HubSpot → Settings → Integrations → Private Apps → your app → Access token. Scopes: crm.objects.contacts.read/write, crm.objects.deals.read, and transactional-email to send emails.',
		},
		{
			displayName: 'App Client Secret',
			name: 'clientSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description: 'Client secret of the HubSpot app whose webhooks call Nudge Trigger (the app’s Auth tab). Only needed to receive HubSpot webhooks.',
		},
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: { headers: { Authorization: '=Bearer {{$credentials.accessToken}}' } },
	};

	test: ICredentialTestRequest = {
		request: { baseURL: 'https://api.hubapi.com', url: '/crm/v3/objects/contacts', qs: { limit: 1 } },
	};
}
