import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { capOutput, isChannel, nudgeEngineConnectionTest, runForEachItem } from '../shared/engine';

export class NudgeFrequencyCap implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Nudge Frequency Cap',
		name: 'nudgeFrequencyCap',
		icon: { light: 'file:nudgeFrequencyCap.svg', dark: 'file:nudgeFrequencyCap.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["channel"] ? "Cap " + $parameter["channel"] : "Cap chosen channel"}}',
		description:
			'Stops a contact from getting too many messages: holds a slot within your policy’s frequency caps, or sends the item to Capped',
		defaults: { name: 'Frequency Cap' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Allowed', 'Capped'],
		credentials: [{ name: 'nudgeEngineApi', required: true, testedBy: 'nudgeEngineConnectionTest' }],
		properties: [
			{
				displayName:
					'Allowed contacts have a slot held for them until Nudge Send delivers the message (or the slot frees after the policy’s timeout). Capped contacts have had enough messages: connect Capped to Log Decision.',
				name: 'notice',
				type: 'notice',
				default: '',
			},
			{
				displayName: 'Channel',
				name: 'channel',
				type: 'options',
				options: [
					{ name: 'Channel Chosen by Choose Channel', value: '' },
					{ name: 'Email', value: 'email' },
					{ name: 'In-App', value: 'in_app' },
					{ name: 'Paid Audience', value: 'paid_audience' },
					{ name: 'Push', value: 'push' },
					{ name: 'Sales Task', value: 'sales_task' },
					{ name: 'SMS', value: 'sms' },
				],
				default: '',
				description: 'Which channel’s caps to check. Leave it on the chosen channel unless this branch always sends one way.',
			},
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await runForEachItem(this, { outputs: 2, errorOutput: 1 }, async ({ engine, item, itemIndex }) => {
			const channel = this.getNodeParameter('channel', itemIndex, '') as string;
			const decision = await engine.checkCap(await engine.open(item.json), isChannel(channel) ? channel : undefined);
			return { decision, output: capOutput(decision) };
		});
	}
}
