import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { DEFAULT_JOURNEY, openItem } from '../../../engine/items';
import { nudgeEngineConnectionTest, runForEachItem } from '../shared/engine';

export class NudgeScore implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Nudge Score',
		name: 'nudgeScore',
		icon: { light: 'file:nudgeScore.svg', dark: 'file:nudgeScore.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: 'Score lead',
		description: 'Scores how ready a contact is to buy (0–100: hot, warm or cold) and lists what raised or lowered the score',
		defaults: { name: 'Score Lead' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: 'nudgeEngineApi', required: true, testedBy: 'nudgeEngineConnectionTest' }],
		properties: [
			{
				displayName:
					'Connect this node after a Nudge Trigger. The score uses the scoring rules of the policy in your Nudge Engine credential and is added to the decision as decision.score.',
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
							'Journey to start when an incoming item is a customer event rather than a Nudge decision (for example when this node follows an n8n Webhook)',
					},
				],
			},
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await runForEachItem(this, { outputs: 1, errorOutput: 0 }, async ({ engine, item, itemIndex }) => {
			const journey = this.getNodeParameter('options.journey', itemIndex, DEFAULT_JOURNEY);
			const decision = await engine.score(await openItem(engine, { item: item.json, journey }));
			return { decision, output: 0 };
		});
	}
}
