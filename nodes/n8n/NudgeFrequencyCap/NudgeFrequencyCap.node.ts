import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { capNotFromEvent, guardOptionsOf, openItem, routeGuard } from '../../../engine';
import { channelOptions } from '../shared/channelOptions';
import { nudgeEngineConnectionTest, runForEachItem } from '../shared/engine';
import { engineCredentials, mainConnections, notice, tagsOption } from '../shared/description';

// Not an AI-agent tool: its Record Review Verdict operation approves messages (approvals are never tools,
// DESIGN §12), and n8n returns only a tool's first output (Allowed). Agents ask Nudge Action for a verdict.
// eslint-disable-next-line @n8n/community-nodes/node-usable-as-tool
export class NudgeFrequencyCap implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Nudge Frequency Cap',
		name: 'nudgeFrequencyCap',
		icon: { light: 'file:nudgeFrequencyCap.svg', dark: 'file:nudgeFrequencyCap.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"] === "review" ? "Record review verdict" : "Check guardrails"}}',
		description:
			'Applies your policy’s guardrails — suppression list, consent, paused journeys, human review, quiet hours and frequency caps — before a message goes out',
		defaults: { name: 'Frequency Cap' },
		inputs: [NodeConnectionTypes.Main],
		outputs: mainConnections(4),
		outputNames: ['Allowed', 'Delayed', 'Blocked', 'Review'],
		credentials: engineCredentials(),
		properties: [
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'Check Guardrails', value: 'check', action: 'Check guardrails', description: 'Decide whether the message may go out now' },
					{ name: 'Record Review Verdict', value: 'review', action: 'Record a review verdict', description: 'Approve or reject a decision that waited for review' },
				],
				default: 'check',
			},
			notice('Allowed: a slot is held for the message — connect to Send. Delayed: the contact’s best send time (when the journey’s policy waits for it), quiet hours or a full cap; Nudge keeps the decision until retryAt — log it, and let a Nudge Due Trigger bring it back into this node when due. Blocked: not to be sent (the reason is in the decision) — connect to Log Decision. Review: a person must approve — notify them, then run this node with "Record Review Verdict".', { show: { operation: ['check'] } }),
			{
				displayName: 'Channel',
				name: 'channel',
				type: 'options',
				options: channelOptions('Channel Chosen by Choose Channel'),
				default: '',
				description: 'Which channel’s guardrails to check. Leave it on the chosen channel unless this branch always sends one way.',
				displayOptions: { show: { operation: ['check'] } },
			},
			{
				displayName: 'Message',
				name: 'message',
				type: 'collection',
				placeholder: 'Describe the Message',
				default: {},
				displayOptions: { show: { operation: ['check'] } },
				options: [
					{
						displayName: 'Category',
						name: 'category',
						type: 'string',
						default: '',
						placeholder: 'promotional',
						description: 'E.g. transactional, promotional. Your policy can exempt categories from caps and quiet hours.',
					},
					tagsOption('newsletter, webinar'),
					{
						displayName: 'Offer Value',
						name: 'offerValue',
						type: 'number',
						default: 0,
						description: 'Discount or offer size; your policy can send large offers to review',
					},
					{
						displayName: 'Content Variant',
						name: 'variant',
						type: 'string',
						default: '',
						description: 'Subject line or creative ID; your policy can send the first use of a new variant to review',
					},
				],
			},
			{
				displayName: 'Verdict',
				name: 'verdict',
				type: 'options',
				options: [
					{ name: 'Approve', value: 'approve' },
					{ name: 'Reject', value: 'reject' },
				],
				default: 'approve',
				displayOptions: { show: { operation: ['review'] } },
			},
			{
				displayName: 'Reviewer',
				name: 'reviewer',
				type: 'string',
				default: '',
				required: true,
				placeholder: 'name@company.com',
				description: 'Who decided; recorded in the decision log',
				displayOptions: { show: { operation: ['review'] } },
			},
			{
				displayName: 'Note',
				name: 'note',
				type: 'string',
				default: '',
				displayOptions: { show: { operation: ['review'] } },
			},
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await runForEachItem(this, { outputs: 4, errorOutput: 2 }, async ({ engine, item, itemIndex }) => {
			const operation = this.getNodeParameter('operation', itemIndex, 'check') as string;
			const channel = operation === 'review' ? '' : this.getNodeParameter('channel', itemIndex, '');
			const current = await openItem(engine, { item: item.json, notFromEvent: capNotFromEvent(operation === 'review', channel) });
			if (operation === 'review') {
				return routeGuard(await engine.resolveReview(current, {
					approve: this.getNodeParameter('verdict', itemIndex) === 'approve',
					reviewer: this.getNodeParameter('reviewer', itemIndex) as string,
					note: (this.getNodeParameter('note', itemIndex, '') as string) || undefined,
				}));
			}
			const message = this.getNodeParameter('message', itemIndex, {}) as IDataObject;
			return routeGuard(await engine.checkCap(current, guardOptionsOf({ ...message, channel })));
		});
	}
}
