import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import { nudgeEngineConnectionTest, runForEachItem, sendOutput } from '../shared/engine';

export class NudgeSend implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Nudge Send',
		name: 'nudgeSend',
		icon: { light: 'file:nudgeSend.svg', dark: 'file:nudgeSend.dark.svg' },
		group: ['output'],
		version: 1,
		subtitle: '={{"Post to " + $parameter["url"]}}',
		description:
			'Delivers the message by posting the decision to your sending tool’s webhook, once per decision even when the workflow is retried',
		defaults: { name: 'Send' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Sent', 'Failed'],
		credentials: [{ name: 'nudgeEngineApi', required: true, testedBy: 'nudgeEngineConnectionTest' }],
		properties: [
			{
				displayName:
					'Only contacts that passed Nudge Frequency Cap (its Allowed output) can be sent. A failed delivery frees the contact’s cap slot again.',
				name: 'notice',
				type: 'notice',
				default: '',
			},
			{
				displayName: 'Webhook URL',
				name: 'url',
				type: 'string',
				required: true,
				default: '',
				placeholder: 'https://hooks.example.com/nudge',
				description:
					'Where to post each message: your email/SMS tool, a CRM workflow or an n8n Webhook. It receives the contact, channel, score and decision ID as JSON.',
			},
			{
				displayName: 'Timeout (Seconds)',
				name: 'timeoutSeconds',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 10,
				description: 'How long to wait for the webhook to answer before trying again (up to 3 attempts in all)',
			},
			{
				displayName: 'Sign With the Engine’s Signing Secret',
				name: 'sign',
				type: 'boolean',
				default: true,
				description:
					'Whether to sign each request with the signing secret of the Nudge Engine credential (X-Nudge-Signature header), so the receiver can check it came from you',
			},
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await runForEachItem(this, { outputs: 2, errorOutput: 1 }, async ({ engine, settings, item, itemIndex }) => {
			const url = String(this.getNodeParameter('url', itemIndex)).trim();
			const timeoutSeconds = this.getNodeParameter('timeoutSeconds', itemIndex, 10) as number;
			const sign = this.getNodeParameter('sign', itemIndex, true) as boolean;
			if (sign && !settings.signingSecret) {
				throw new NodeOperationError(
					this.getNode(),
					'Signing is on but the Nudge Engine credential has no signing secret: add one to the credential, or turn off "Sign With the Engine’s Signing Secret"',
					{ itemIndex },
				);
			}
			const decision = await engine.send(await engine.open(item.json), {
				url,
				timeoutMs: Math.max(1, timeoutSeconds) * 1000,
				...(sign ? { secret: settings.signingSecret } : {}),
			});
			return { decision, output: sendOutput(decision) };
		});
	}
}
