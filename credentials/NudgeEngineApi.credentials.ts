import type { Icon, ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * Where Nudge keeps its data and which rules it follows. Every Nudge node that selects the same
 * credential shares one engine: the same contacts, caps and decision log.
 *
 * There is no remote service to call, so the credential is tested by the Nudge nodes
 * (`testedBy: 'nudgeEngineConnectionTest'`): the test validates the policy and opens the store.
 */
export class NudgeEngineApi implements ICredentialType {
	name = 'nudgeEngineApi';

	displayName = 'Nudge Engine API';

	icon: Icon = { light: 'file:nudge.svg', dark: 'file:nudge.dark.svg' };

	documentationUrl = 'https://github.com/nudge-oss/n8n-nodes-nudge#readme';

	properties: INodeProperties[] = [
		{
			displayName: 'Store',
			name: 'store',
			type: 'string',
			default: 'sqlite:~/.nudge/nudge.db',
			placeholder: 'sqlite:~/.nudge/nudge.db',
			description:
				'Where Nudge keeps contacts, frequency caps and the decision log. Use sqlite:&lt;file path&gt; for a file on the n8n server (created on first use; ~ is the home folder), or memory: for a throwaway store that is emptied when n8n restarts. In queue mode (several workers) every process must share one store: redis://host:6379, postgres://user@host:5432/db, or split:hot=redis://…;log=postgres://… (Redis for caps and profiles, PostgreSQL for the decision log). See docs/deploy.md.',
		},
		{
			displayName: 'Policy',
			name: 'policy',
			type: 'string',
			typeOptions: { rows: 10 },
			default: '',
			placeholder: '{ "channelOrder": ["email", "sms"], "caps": [] }',
			description:
				'Your rules as JSON: channel order, consent, frequency caps, scoring. Leave empty to use the default policy (email first, at most one email a day and three messages a week per contact).',
		},
		{
			displayName: 'Signing Secret',
			name: 'signingSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				'Shared secret for signed requests. Nudge Trigger rejects events that are not signed with it, and Nudge Send signs the messages it posts with it so the receiver can check they came from you.',
		},
	];
}
