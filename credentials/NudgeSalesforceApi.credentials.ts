import type { Icon, ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * Salesforce, for Nudge: a connected app's OAuth 2.0 settings, by refresh token or JWT bearer.
 * Nudge signs in with jsforce and renews expired sessions itself. There is no single request that tests
 * both flows, so the nodes test it (`testedBy: 'nudgeSalesforceConnectionTest'`): it signs in.
 */
export class NudgeSalesforceApi implements ICredentialType {
	name = 'nudgeSalesforceApi';

	displayName = 'Nudge Salesforce API';

	icon: Icon = { light: 'file:nudge.svg', dark: 'file:nudge.dark.svg' };

	documentationUrl = 'https://github.com/nudge-oss/n8n-nodes-nudge/blob/main/docs/integrations.md#salesforce';

	properties: INodeProperties[] = [
		{
			displayName: 'Sign In With',
			name: 'auth',
			type: 'options',
			options: [
				{ name: 'Refresh Token', value: 'refresh', description: 'A refresh token issued to your connected app (web server or user-agent flow)' },
				{ name: 'JWT Bearer', value: 'jwt', description: 'A connected app with a certificate, signing in as an integration user' },
			],
			default: 'refresh',
		},
		{
			displayName: 'Login URL',
			name: 'loginUrl',
			type: 'string',
			default: 'https://login.salesforce.com',
			description: 'https://login.salesforce.com for production, https://test.salesforce.com for a sandbox, or your My Domain login URL',
		},
		{
			displayName: 'Consumer Key',
			name: 'clientId',
			type: 'string',
			default: '',
			description: 'The connected app’s consumer key (client ID)',
		},
		{
			displayName: 'Consumer Secret',
			name: 'clientSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			displayOptions: { show: { auth: ['refresh'] } },
		},
		{
			displayName: 'Refresh Token',
			name: 'refreshToken',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			displayOptions: { show: { auth: ['refresh'] } },
		},
		{
			displayName: 'User Name',
			name: 'username',
			type: 'string',
			default: '',
			placeholder: 'integration@acme.com',
			displayOptions: { show: { auth: ['jwt'] } },
			description: 'The Salesforce user Nudge acts as (pre-authorised for the connected app)',
		},
		{
			displayName: 'Private Key',
			name: 'privateKey',
			type: 'string',
			typeOptions: { password: true, rows: 6 },
			default: '',
			displayOptions: { show: { auth: ['jwt'] } },
			description: 'PEM private key whose certificate is uploaded to the connected app',
		},
	];
}
