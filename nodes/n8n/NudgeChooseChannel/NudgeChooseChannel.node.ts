import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { chooseChannelStep, DEFAULT_JOURNEY, openItem } from '../../../engine';
import { nudgeEngineConnectionTest, runForEachItem } from '../shared/engine';
import { engineCredentials, journeyOption, mainConnections, notice, optionsCollection } from '../shared/description';

// Not an AI-agent tool: n8n returns only a tool's first output (Email), and its job is routing a journey's
// items. An agent lets Nudge choose with Nudge Action's channel "choose" (dry run to preview) (DESIGN §12).
// eslint-disable-next-line @n8n/community-nodes/node-usable-as-tool
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
		inputs: [NodeConnectionTypes.Main],
		outputs: mainConnections(7),
		outputNames: ['Email', 'SMS', 'Push', 'In-App', 'Paid Audience', 'Sales Task', 'None / Holdout'],
		credentials: engineCredentials(),
		properties: [
			notice('Each contact leaves through the output of the channel chosen for them: among the channels they can be reached on, have agreed to and are not already at a frequency cap for, the one expected to work best, learned from outcomes (Record Outcome). "None / Holdout" receives every contact that must not be messaged now (no consent, no address, in a holdout group, below the journey’s uplift gate, or waiting is best; when every channel is capped the contact goes on to Frequency Cap, which blocks or delays it): connect it to Log Decision so the reason is recorded.'),
			optionsCollection([
				journeyOption('Journey to start when an incoming item is a customer event rather than a Nudge decision. The journey decides which channels may be used.'),
				{
					displayName: 'Content Slot',
					name: 'variantSlot',
					type: 'string',
					default: '',
					placeholder: 'cart-subject',
					description:
						'Name of a piece of content to test, e.g. the subject line. With variants below, Nudge also picks the variant expected to work best (in decision.message.variant) and promotes a clear winner.',
				},
				{
					displayName: 'Variants',
					name: 'variants',
					type: 'string',
					typeOptions: { rows: 3 },
					default: '',
					placeholder: 'Your cart misses you\nStill thinking it over?',
					description: 'The variants of the content slot, one per line (or separated by commas)',
				},
			]),
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await runForEachItem(this, { outputs: 7, errorOutput: 6 }, async ({ engine, item, itemIndex }) => {
			const journey = this.getNodeParameter('options.journey', itemIndex, DEFAULT_JOURNEY);
			const slot = this.getNodeParameter('options.variantSlot', itemIndex, '') as string;
			const variants = this.getNodeParameter('options.variants', itemIndex, '') as string;
			// An item leaving by a channel carries the best time to send as `sendAt`; Frequency Cap waits for it when the journey's policy says so.
			return await chooseChannelStep(engine, await openItem(engine, { item: item.json, journey }), { slot, variants });
		});
	}
}
