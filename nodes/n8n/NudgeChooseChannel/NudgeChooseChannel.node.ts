import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { channelOutput, nudgeEngineConnectionTest, runForEachItem } from '../shared/engine';

export class NudgeChooseChannel implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Nudge Choose Channel',
		name: 'nudgeChooseChannel',
		icon: { light: 'file:nudgeChooseChannel.svg', dark: 'file:nudgeChooseChannel.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: 'Next best channel',
		description:
			'Picks the best channel the contact can be reached on and has agreed to, following your policy, and sends the item out of that channel’s output',
		defaults: { name: 'Choose Channel' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [
			NodeConnectionTypes.Main,
			NodeConnectionTypes.Main,
			NodeConnectionTypes.Main,
			NodeConnectionTypes.Main,
			NodeConnectionTypes.Main,
			NodeConnectionTypes.Main,
			NodeConnectionTypes.Main,
		],
		outputNames: ['Email', 'SMS', 'Push', 'In-App', 'Paid Audience', 'Sales Task', 'None'],
		credentials: [{ name: 'nudgeEngineApi', required: true, testedBy: 'nudgeEngineConnectionTest' }],
		properties: [
			{
				displayName:
					'Each contact leaves through the output of the channel chosen for them. "None" receives every contact that must not be messaged now (no consent, no address, holdout…): connect it to Log Decision so the reason is recorded.',
				name: 'notice',
				type: 'notice',
				default: '',
			},
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add Option',
				default: {},
				options: [
					{
						displayName: 'Journey',
						name: 'journey',
						type: 'string',
						default: 'nurture',
						description:
							'Journey to start when an incoming item is a customer event rather than a Nudge decision. The journey decides which channels may be used.',
					},
				],
			},
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await runForEachItem(this, { outputs: 7, errorOutput: 6 }, async ({ engine, item, itemIndex }) => {
			const journey = this.getNodeParameter('options.journey', itemIndex, 'nurture') as string;
			const decision = await engine.chooseChannel(await engine.open(item.json, journey));
			return { decision, output: channelOutput(decision) };
		});
	}
}
