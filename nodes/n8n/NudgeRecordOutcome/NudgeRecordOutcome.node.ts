import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import type { Outcome } from '../../../engine/audit/schema';
import { nudgeEngineConnectionTest, runForEachItem } from '../shared/engine';

const WITH_VALUE = ['conversion', 'revenue'];

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
		credentials: [{ name: 'nudgeEngineApi', required: true, testedBy: 'nudgeEngineConnectionTest' }],
		properties: [
			{
				displayName: 'Decision ID',
				name: 'decisionId',
				type: 'string',
				required: true,
				default: '={{ $json.decisionId }}',
				description:
					'The decision the outcome belongs to. Nudge Send posts it to your sending tool; map it back from the tool’s event (open, click…).',
			},
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
				displayName: 'Value',
				name: 'value',
				type: 'number',
				default: 0,
				description: 'Amount or value of the outcome, e.g. the order total for revenue',
				displayOptions: { show: { outcomeType: WITH_VALUE } },
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
		return await runForEachItem(this, { outputs: 1, errorOutput: 0 }, async ({ engine, itemIndex }) => {
			const decisionId = String(this.getNodeParameter('decisionId', itemIndex, '') ?? '').trim();
			if (!decisionId) {
				throw new NodeOperationError(
					this.getNode(),
					'Decision ID is empty: map it from the incoming item, e.g. {{ $json.decisionId }} (Nudge Send includes it in every message it posts)',
					{ itemIndex },
				);
			}
			const type = this.getNodeParameter('outcomeType', itemIndex) as Outcome['type'];
			const outcomeId = String(this.getNodeParameter('outcomeId', itemIndex, '') ?? '').trim();
			const value = WITH_VALUE.includes(type) ? (this.getNodeParameter('value', itemIndex, 0) as number) : undefined;
			const { decision, duplicate } = await engine.recordOutcome({
				decisionId,
				type,
				...(outcomeId ? { outcomeId } : {}),
				...(value !== undefined ? { value } : {}),
			});
			return { decision, output: 0, extra: { duplicate } };
		});
	}
}
