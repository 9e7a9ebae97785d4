/**
 * Posting a message to a webhook: the settings (address, timeout, signing) and the engine's send target
 * they make. Shared by Nudge Send and Nudge Action's "send on allow".
 */
import type { IDisplayOptions, IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import type { WebhookTarget } from '../../../engine';
import type { NudgeSettings } from './engine';

export function webhookProperties(displayOptions: IDisplayOptions): INodeProperties[] {
	return [
		{
			displayName: 'Webhook URL',
			name: 'url',
			type: 'string',
			required: true,
			default: '',
			placeholder: 'https://hooks.example.com/nudge',
			displayOptions,
			description:
				'Where to post each message: your email/SMS tool, a CRM workflow or an n8n Webhook. It receives the contact, channel, score and decision ID as JSON.',
		},
		{
			displayName: 'Timeout (Seconds)',
			name: 'timeoutSeconds',
			type: 'number',
			typeOptions: { minValue: 1 },
			default: 10,
			displayOptions,
			description: 'How long to wait for the webhook to answer before trying again (up to 3 attempts in all)',
		},
		{
			displayName: 'Sign With the Engine’s Signing Secret',
			name: 'sign',
			type: 'boolean',
			default: true,
			displayOptions,
			description:
				'Whether to sign each request with the signing secret of the Nudge Engine credential (X-Nudge-Signature header), so the receiver can check it came from you',
		},
	];
}

/** The webhook target the node's settings describe; signing needs the credential's signing secret. */
export function webhookTarget(context: IExecuteFunctions, settings: NudgeSettings, itemIndex: number): WebhookTarget {
	const url = String(context.getNodeParameter('url', itemIndex)).trim();
	const timeoutSeconds = context.getNodeParameter('timeoutSeconds', itemIndex, 10) as number;
	const sign = context.getNodeParameter('sign', itemIndex, true) as boolean;
	if (sign && !settings.signingSecret) {
		throw new NodeOperationError(
			context.getNode(),
			'Signing is on but the Nudge Engine credential has no signing secret: add one to the credential, or turn off "Sign With the Engine’s Signing Secret"',
			{ itemIndex },
		);
	}
	return { url, timeoutMs: Math.max(1, timeoutSeconds) * 1000, ...(sign ? { secret: settings.signingSecret } : {}) };
}
