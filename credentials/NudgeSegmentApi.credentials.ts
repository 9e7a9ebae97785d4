import type { IAuthenticateGeneric, Icon, ICredentialTestRequest, ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * Segment, for Nudge: the source's write key (Nudge Send → Segment provider) and the shared secret of
 * the Webhooks (Actions) destination (Nudge Trigger with Source "Segment" checks X-Signature or X-Segment-Signature with it).
 */
export class NudgeSegmentApi implements ICredentialType {
	name = 'nudgeSegmentApi';

	displayName = 'Nudge Segment API';

	icon: Icon = { light: 'file:nudge.svg', dark: 'file:nudge.dark.svg' };

	documentationUrl = 'https://github.com/nudge-oss/n8n-nodes-nudge/blob/main/docs/integrations.md#segment';

	properties: INodeProperties[] = [
		{
			displayName: 'Write Key',
			name: 'writeKey',
			type: 'string',
			default: '',
			description: 'Write key of the Segment source Nudge sends to (Segment → Connections → Sources → your source → Settings → API Keys). Needed to send through Segment.',
		},
		{
			displayName: 'Shared Secret',
			name: 'sharedSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description: 'The shared secret set in the Webhooks (Actions) destination’s settings. Needed to receive events from Segment: unsigned or wrongly signed requests are refused.',
		},
		{
			displayName: 'Region',
			name: 'host',
			type: 'options',
			options: [
				{ name: 'US (api.segment.io)', value: 'https://api.segment.io' },
				{ name: 'EU (events.eu1.segmentapis.com)', value: 'https://events.eu1.segmentapis.com' },
			],
			default: 'https://api.segment.io',
			description: 'Where your Segment workspace lives',
		},
	];

	// Segment's HTTP API takes the write key as the Basic-auth user name with an empty password.
	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: { auth: { username: '={{$credentials.writeKey}}', password: '' } },
	};

	// An empty batch is accepted and stores nothing: it checks the host answers and the key is accepted.
	test: ICredentialTestRequest = {
		request: { baseURL: '={{$credentials.host}}', url: '/v1/batch', method: 'POST', body: { batch: [] } },
	};
}
