import type { Icon, ICredentialTestRequest, ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * The scopes Nudge's HubSpot features use: read contacts and deals (webhook mapping, polling), write
 * contacts (tasks and notes are created on the contact's record), and send transactional single-send
 * emails. `oauth` is required of every HubSpot OAuth app.
 */
const SCOPES = ['oauth', 'crm.objects.contacts.read', 'crm.objects.contacts.write', 'crm.objects.deals.read', 'transactional-email'];

/**
 * HubSpot through an OAuth2 app (authorization code grant), for Nudge: n8n runs the sign-in and keeps
 * the tokens; Nudge renews the short-lived access token with the refresh token. The app's client secret
 * is also the key HubSpot signs its webhooks with (signature v3), so Nudge Trigger reuses it.
 */
export class NudgeHubSpotOAuth2Api implements ICredentialType {
	name = 'nudgeHubSpotOAuth2Api';

	extends = ['oAuth2Api'];

	displayName = 'Nudge HubSpot OAuth2 API';

	icon: Icon = { light: 'file:nudge.svg', dark: 'file:nudge.dark.svg' };

	documentationUrl = 'https://github.com/nudge-oss/n8n-nodes-nudge/blob/main/docs/integrations.md#hubspot';

	properties: INodeProperties[] = [
		{ displayName: 'Grant Type', name: 'grantType', type: 'hidden', default: 'authorizationCode' },
		{ displayName: 'Authorization URL', name: 'authUrl', type: 'hidden', default: 'https://app.hubspot.com/oauth/authorize', required: true },
		{ displayName: 'Access Token URL', name: 'accessTokenUrl', type: 'hidden', default: 'https://api.hubapi.com/oauth/v1/token', required: true },
		{ displayName: 'Scope', name: 'scope', type: 'hidden', default: SCOPES.join(' ') },
		{ displayName: 'Auth URI Query Parameters', name: 'authQueryParameters', type: 'hidden', default: '' },
		// HubSpot's token endpoint takes client_id and client_secret in the form body.
		{ displayName: 'Authentication', name: 'authentication', type: 'hidden', default: 'body' },
		{
			displayName:
				'Create the app in your HubSpot developer account (Auth tab: copy the Client ID and Client secret, add n8n’s OAuth Redirect URL shown above, and tick the scopes oauth, crm.objects.contacts.read, crm.objects.contacts.write, crm.objects.deals.read, transactional-email). The same client secret checks the app’s webhook signatures.',
			name: 'notice',
			type: 'notice',
			default: '',
		},
	];

	test: ICredentialTestRequest = {
		request: { baseURL: 'https://api.hubapi.com', url: '/crm/v3/objects/contacts', qs: { limit: 1 } },
	};
}
