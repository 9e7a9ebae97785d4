import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { jsonObjectOf, openItem } from '../../../engine';
import { nudgeEngineConnectionTest, runForEachItem } from '../shared/engine';
import { engineCredentials, notice } from '../shared/description';

// Not an AI-agent tool: it finalises journey decisions in the audit log; an agent's actions are logged by
// Nudge Action itself (DESIGN §12).
// eslint-disable-next-line @n8n/community-nodes/node-usable-as-tool
export class NudgeLogDecision implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Nudge Log Decision',
		name: 'nudgeLogDecision',
		icon: { light: 'file:nudgeLogDecision.svg', dark: 'file:nudgeLogDecision.dark.svg' },
		group: ['output'],
		version: 1,
		subtitle: 'Finalise in the decision log',
		description:
			'Closes the decision in Nudge’s decision log (what was done or not done for the contact, and why), with your own notes',
		defaults: { name: 'Log Decision' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: engineCredentials(),
		properties: [
			notice('Connect every end of your journey here — sent, capped, failed and "None" — so each decision is finalised with its reason.'),
			{
				displayName: 'Annotations',
				name: 'annotations',
				type: 'json',
				default: '{}',
				description:
					'Notes to keep with the decision, as a JSON object, e.g. {"campaign": "spring-webinar", "reviewer": "ana"}',
			},
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await runForEachItem(this, { outputs: 1, errorOutput: 0, logsErrorItems: true }, async ({ engine, item, itemIndex }) => {
			const annotations = jsonObjectOf(this.getNodeParameter('annotations', itemIndex, '{}'), 'Annotations');
			const decision = await engine.logDecision(await openItem(engine, { item: item.json }), annotations);
			return { decision, output: 0 };
		});
	}
}
