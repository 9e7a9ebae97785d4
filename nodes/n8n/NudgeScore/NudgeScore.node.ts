import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import { ActionRequestSchema, AGENT_LIMITS, DEFAULT_JOURNEY, journeyOf, openItem, resolveActionContact } from '../../../engine';
import { nudgeEngineConnectionTest, runForEachItem, runItems } from '../shared/engine';
import { CONTACT_FOR_MODEL, fromAI, isToolNode, NOT_TOOL, TOOL_ONLY } from '../shared/tool';
import { engineCredentials, journeyOption, notice, optionsCollection } from '../shared/description';

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
		credentials: engineCredentials(),
		properties: [
			notice('Connect this node after a Nudge Trigger. The score uses the scoring rules of the policy in your Nudge Engine credential and is added to the decision as decision.score.', NOT_TOOL),
			{
				displayName: 'Contact',
				name: 'contact',
				type: 'string',
				required: true,
				default: fromAI('contact', `${CONTACT_FOR_MODEL} (whose readiness to buy to score)`, 'string'),
				description: 'Whose score the agent reads: a known contact’s Nudge contact ID or email address. Reading a score changes nothing.',
				displayOptions: TOOL_ONLY,
			},
			optionsCollection([
				journeyOption('Journey to start when an incoming item is a customer event rather than a Nudge decision (for example when this node follows an n8n Webhook)'),
			]),
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		if (isToolNode(this)) {
			// An agent reads a known contact's score: no event is taken in and no decision is opened.
			return await runItems(this, { outputs: 1, errorOutput: 0 }, async ({ engine, itemIndex }) => {
				const journey = journeyOf(this.getNodeParameter('options.journey', itemIndex, DEFAULT_JOURNEY));
				const contact = ActionRequestSchema.shape.contact.safeParse(String(this.getNodeParameter('contact', itemIndex, '') ?? '').trim());
				if (!contact.success) {
					throw new NodeOperationError(this.getNode(), `Name the contact by their Nudge contactId or email address (1 to ${AGENT_LIMITS.identity} characters)`, { itemIndex });
				}
				const profile = await resolveActionContact(engine.store, contact.data);
				const { value, tier, factors, note } = await engine.scoreProfile(profile, journey);
				return { json: { contactId: profile.contactId, score: { value, tier, factors, ...(note ? { note } : {}) } }, output: 0 };
			});
		}
		return await runForEachItem(this, { outputs: 1, errorOutput: 0 }, async ({ engine, item, itemIndex }) => {
			const journey = this.getNodeParameter('options.journey', itemIndex, DEFAULT_JOURNEY);
			const decision = await engine.score(await openItem(engine, { item: item.json, journey }));
			return { decision, output: 0 };
		});
	}
}
