import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import { type Outcome, outcomeReference, outcomeTime } from '../../../engine';
import { channelOptions } from '../shared/channelOptions';
import { nudgeEngineConnectionTest, runForEachItem } from '../shared/engine';
import { agentIdProperty, fixedAgentId, fromAI, isToolNode, NOT_TOOL, TOOL_ONLY, withToolTwin } from '../shared/tool';
import { engineCredentials } from '../shared/description';

const WITH_VALUE = ['conversion', 'revenue'];
const OUTCOME_TYPES = ['click', 'complaint', 'conversion', 'open', 'revenue', 'unsubscribe'];

export class NudgeRecordOutcome implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Nudge Record Outcome',
		name: 'nudgeRecordOutcome',
		icon: { light: 'file:nudgeRecordOutcome.svg', dark: 'file:nudgeRecordOutcome.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{"Record " + $parameter["outcomeType"]}}',
		description:
			'Records what happened after a message (open, click, conversion, revenue, unsubscribe…) against the decision that caused it, once',
		defaults: { name: 'Record Outcome' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: engineCredentials(),
		properties: [
			agentIdProperty(
				'The agent whose actions this tool records outcomes of: the Agent ID of its Nudge Action tool. An outcome trains the channel learner, counts in lift and may opt a contact out, so outcomes of other decisions (journeys’, other agents’) are refused. Set here, never by the model.',
				{ displayOptions: TOOL_ONLY },
			),
			{
				displayName: 'Match Outcome By',
				name: 'matchBy',
				type: 'options',
				options: [
					{ name: 'Decision ID', value: 'decisionId', description: 'The decision ID Nudge Send posted with the message' },
					{ name: 'Message ID', value: 'messageId', description: 'Your sending tool’s ID for the message (recorded when Nudge sent it)' },
					{
						name: 'Contact (and Channel)',
						value: 'contact',
						description: 'The contact’s latest decision within the policy’s attribution window (default 7 days)',
					},
				],
				default: 'decisionId',
				description: 'How to find the decision this outcome belongs to',
			},
			...withToolTwin(
				{
					displayName: 'Decision ID',
					name: 'decisionId',
					type: 'string',
					required: true,
					displayOptions: { show: { matchBy: ['decisionId'] } },
					default: '={{ $json.decisionId }}',
					description:
						'The decision the outcome belongs to. Nudge Send posts it to your sending tool; map it back from the tool’s event (open, click…).',
				},
				{
					default: fromAI('decisionId', 'The decisionId Nudge returned for the message (Nudge Action gives it with every verdict), e.g. d_8f2c', 'string'),
					description: 'The decision the outcome belongs to; by default the agent gives it',
				},
			),
			...withToolTwin(
				{
					displayName: 'Message ID',
					name: 'messageId',
					type: 'string',
					required: true,
					displayOptions: { show: { matchBy: ['messageId'] } },
					default: '={{ $json.messageId }}',
					description: 'The provider’s message ID from the tool’s event (open, click…)',
				},
				{
					default: fromAI('messageId', 'The sending tool’s ID of the message the outcome is about', 'string'),
					description: 'The provider’s message ID; by default the agent gives it',
				},
			),
			...withToolTwin(
				{
					displayName: 'Contact ID',
					name: 'contactId',
					type: 'string',
					required: true,
					displayOptions: { show: { matchBy: ['contact'] } },
					default: '={{ $json.contactId }}',
					description: 'The Nudge contact ID (in every decision, as contactId)',
				},
				{
					default: fromAI('contactId', 'The Nudge contactId of the contact; their latest message is matched', 'string'),
					description: 'The Nudge contact ID; by default the agent gives it',
				},
			),
			{
				displayName: 'Channel',
				name: 'channel',
				type: 'options',
				displayOptions: { show: { matchBy: ['contact'] } },
				options: channelOptions('Any Channel'),
				default: '',
				description: 'Only a decision that chose this channel; "Any Channel" also matches holdout decisions',
			},
			...withToolTwin(
				{
					displayName: 'Outcome',
					name: 'outcomeType',
					type: 'options',
					options: [
						{ name: 'Click', value: 'click', description: 'The contact clicked the message' },
						{ name: 'Complaint', value: 'complaint', description: 'Marked as spam; the contact is opted out of the channel' },
						{ name: 'Conversion', value: 'conversion', description: 'The contact did what the journey aimed for' },
						{ name: 'Open', value: 'open', description: 'The contact opened the message' },
						{ name: 'Revenue', value: 'revenue', description: 'The contact bought something; enter the amount' },
						{ name: 'Unsubscribe', value: 'unsubscribe', description: 'The contact unsubscribed; they are opted out of the channel' },
					],
					default: 'click',
					description: 'What happened',
				},
				{
					type: 'string',
					options: undefined,
					default: fromAI('outcome', `What happened, one of: ${OUTCOME_TYPES.join(', ')}`, 'string'),
					description: `What happened (${OUTCOME_TYPES.join(', ')}); by default the agent says. Set a fixed value to let the agent record only that outcome.`,
				},
			),
			...withToolTwin(
				{
					displayName: 'Value',
					name: 'value',
					type: 'number',
					default: 0,
					description: 'Amount or value of the outcome, e.g. the order total for revenue',
					displayOptions: { show: { outcomeType: WITH_VALUE } },
				},
				{
					// Tool mode: Outcome is the model's answer, so Value is always offered.
					default: fromAI('value', 'The order total for a revenue or conversion outcome; 0 for other outcomes', 'number', 0),
					description: 'Amount of a revenue or conversion outcome; by default the agent gives it',
					displayOptions: TOOL_ONLY,
				},
			),
			{
				displayName: 'Occurred At',
				name: 'at',
				type: 'string',
				default: '',
				placeholder: 'e.g. {{ $json.decision.event.occurredAt }}',
				description:
					'When the outcome happened (ISO 8601, e.g. 2026-05-01T10:00:00Z). Map the event’s own time: an open or click that reaches the flow late is then counted in its attribution window and teaches the best send time the hour it happened. Empty: now.',
				displayOptions: NOT_TOOL,
			},
			{
				displayName: 'Outcome ID',
				name: 'outcomeId',
				type: 'string',
				default: '',
				description:
					'ID of this outcome in the tool that reported it (e.g. the click event ID). The same ID is only counted once. Leave empty to count each outcome type once per decision.',
			},
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		// As a tool, an agent records outcomes only of its own actions.
		const agentId = isToolNode(this) ? fixedAgentId(this, 'the model must not choose whose actions it records outcomes of') : undefined;
		return await runForEachItem(this, { outputs: 1, errorOutput: 0, unhandled: 'outcomes would not be recorded' }, async ({ engine, itemIndex }) => {
			const matchBy = this.getNodeParameter('matchBy', itemIndex, 'decisionId') as 'decisionId' | 'messageId' | 'contact';
			const text = (name: string) => String(this.getNodeParameter(name, itemIndex, '') ?? '').trim();
			const key = { decisionId: 'decisionId', messageId: 'messageId', contact: 'contactId' }[matchBy];
			const reference = outcomeReference({ [key]: text(key), channel: matchBy === 'contact' ? text('channel') : '' });
			if (!reference) {
				const hint = {
					decisionId: 'Decision ID is empty: map it from the incoming item, e.g. {{ $json.decisionId }} (Nudge Send includes it in every message it posts)',
					messageId: 'Message ID is empty: map the sending tool’s message ID from the incoming item, e.g. {{ $json.messageId }}',
					contact: 'Contact ID is empty: map it from the incoming item, e.g. {{ $json.contactId }}',
				}[matchBy];
				throw new NodeOperationError(this.getNode(), hint, { itemIndex });
			}
			const type = this.getNodeParameter('outcomeType', itemIndex) as Outcome['type'];
			if (!OUTCOME_TYPES.includes(type)) {
				throw new NodeOperationError(this.getNode(), `Outcome "${String(type)}" is not one Nudge records; use one of ${OUTCOME_TYPES.join(', ')}`, { itemIndex });
			}
			const outcomeId = String(this.getNodeParameter('outcomeId', itemIndex, '') ?? '').trim();
			const at = outcomeTime(this.getNodeParameter('at', itemIndex, ''), 'Occurred At');
			// A number field is never empty: a conversion's 0 means no value was given (as on Node-RED); revenue's 0 is an amount.
			const given = WITH_VALUE.includes(type) ? (this.getNodeParameter('value', itemIndex, 0) as number) : undefined;
			const value = type === 'conversion' && given === 0 ? undefined : given;
			const { decision, duplicate } = await engine.recordOutcome({
				...reference,
				type,
				...(outcomeId ? { outcomeId } : {}),
				...(at ? { at } : {}),
				...(value !== undefined ? { value } : {}),
				...(agentId !== undefined ? { agentId } : {}),
			});
			return { decision, output: 0, extra: { duplicate } };
		});
	}
}
