import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { type ClosableSender, createSender, type HubSpotAction, openItem, type ProviderName, routeSend, type SalesforceAction, SEND_NOT_FROM_EVENT } from '../../../engine';
import {
	hubspotAuth,
	hubspotAuthenticationProperty,
	nudgeEngineConnectionTest,
	nudgeSalesforceConnectionTest,
	runForEachItem,
	salesforceSettings,
	vendorCredential,
} from '../shared/engine';
import { webhookProperties, webhookTarget } from '../shared/webhookTarget';
import { mainConnections, notice } from '../shared/description';

const webhookOnly = { show: { provider: ['webhook'] } };
const hubspotOnly = { show: { provider: ['hubspot'] } };

/** The message category set on the node, if any (see the policy's `sendWithoutCapCheck`). */
function categoryOf(context: IExecuteFunctions, itemIndex: number): { category?: string } {
	const category = String(context.getNodeParameter('category', itemIndex, '') ?? '').trim();
	return category ? { category } : {};
}

// Sending is never an AI-agent tool: an agent asks Nudge Action, which applies every guardrail and sends only on
// allow (DESIGN §12). As a tool n8n would also return only this node's first output.
// eslint-disable-next-line @n8n/community-nodes/node-usable-as-tool
export class NudgeSend implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Nudge Send',
		name: 'nudgeSend',
		icon: { light: 'file:nudgeSend.svg', dark: 'file:nudgeSend.dark.svg' },
		group: ['output'],
		version: 1,
		subtitle: '={{$parameter["provider"] === "webhook" ? "Post to " + $parameter["url"] : "Send via " + $parameter["provider"]}}',
		description:
			'Delivers the message by posting the decision to your sending tool’s webhook, once per decision even when the workflow is retried',
		defaults: { name: 'Send' },
		inputs: [NodeConnectionTypes.Main],
		outputs: mainConnections(2),
		outputNames: ['Sent', 'Failed'],
		// Written out where the Engine and Salesforce credentials are first used: n8n's community lint finds a
		// credential's connection test (testedBy) only in a literal credentials array, and an older one fails on a spread.
		credentials: [
			{ name: 'nudgeEngineApi', required: true, testedBy: 'nudgeEngineConnectionTest' },
			{ name: 'nudgeSegmentApi', required: true, displayOptions: { show: { provider: ['segment'] } } },
			{ name: 'nudgeHubSpotApi', required: true, displayOptions: { show: { provider: ['hubspot'], authentication: ['privateApp'] } } },
			{ name: 'nudgeHubSpotOAuth2Api', required: true, displayOptions: { show: { provider: ['hubspot'], authentication: ['oAuth2'] } } },
			{ name: 'nudgeSalesforceApi', required: true, testedBy: 'nudgeSalesforceConnectionTest', displayOptions: { show: { provider: ['salesforce'] } } },
		],
		properties: [
			notice('Only contacts that passed Nudge Frequency Cap (its Allowed output) can be sent. A failed delivery frees the contact’s cap slot again.'),
			{
				displayName: 'Provider',
				name: 'provider',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'Webhook', value: 'webhook', description: 'Post the decision as JSON to any web address (your email/SMS tool, an n8n Webhook…)' },
					{ name: 'Segment', value: 'segment', description: 'Track a “Nudge Message Requested” event so your Segment destinations (Braze, Twilio, ads) deliver it' },
					{ name: 'HubSpot', value: 'hubspot', description: 'Create a task for the owner, a note on the record, or send a HubSpot email' },
					{ name: 'Salesforce', value: 'salesforce', description: 'Create a task for the owner, or add the lead or contact to a campaign' },
				],
				default: 'webhook',
			},
			hubspotAuthenticationProperty(hubspotOnly.show),
			{
				displayName: 'Message Category',
				name: 'category',
				type: 'string',
				default: '',
				placeholder: 'transactional',
				description:
					'Optional. A message of a category your policy lists in sendWithoutCapCheck (e.g. a receipt marked transactional) may be sent without passing Frequency Cap; consent is still checked. A message Frequency Cap allowed keeps the category it was checked under.',
			},
			{
				displayName: 'Salesforce Action',
				name: 'salesforceAction',
				type: 'options',
				noDataExpression: true,
				displayOptions: { show: { provider: ['salesforce'] } },
				options: [
					{ name: 'Task for the Owner', value: 'task', description: 'A task on the lead or contact for its owner' },
					{ name: 'Add to Campaign', value: 'campaign', description: 'Add the lead or contact to a campaign as a campaign member' },
				],
				default: 'task',
			},
			{
				displayName: 'Campaign ID',
				name: 'campaignId',
				type: 'string',
				default: '',
				placeholder: '701…',
				displayOptions: { show: { provider: ['salesforce'], salesforceAction: ['campaign'] } },
				description: 'The campaign’s ID (starts with 701; it is in the campaign’s address in Salesforce)',
			},
			{
				displayName: 'Member Status',
				name: 'memberStatus',
				type: 'string',
				default: '',
				placeholder: 'Sent',
				displayOptions: { show: { provider: ['salesforce'], salesforceAction: ['campaign'] } },
				description: 'Campaign member status to set; leave empty for the campaign’s default',
			},
			{
				displayName: 'HubSpot Action',
				name: 'hubspotAction',
				type: 'options',
				noDataExpression: true,
				displayOptions: hubspotOnly,
				options: [
					{ name: 'Task for the Owner', value: 'task', description: 'A to-do for the contact’s (or deal’s) owner, e.g. to call a hot lead' },
					{ name: 'Note on the Record', value: 'note', description: 'A note on the contact’s or deal’s timeline saying what Nudge decided' },
					{ name: 'Send Email', value: 'email', description: 'Send a transactional email you built in HubSpot (single send)' },
				],
				default: 'task',
			},
			{
				displayName: 'Email ID',
				name: 'emailId',
				type: 'number',
				default: 0,
				displayOptions: { show: { provider: ['hubspot'], hubspotAction: ['email'] } },
				description: 'ID of the transactional email in HubSpot (the number in the email’s address in HubSpot)',
			},
			{
				displayName: 'Subject',
				name: 'subject',
				type: 'string',
				default: 'Nudge: follow up ({{name}})',
				displayOptions: { show: { provider: ['hubspot', 'salesforce'], hubspotAction: ['task', 'note'], salesforceAction: ['task'] } },
				description: 'Task subject or note heading; {{name}} becomes the name of the event that started the journey',
			},
			{
				displayName: 'Owner ID',
				name: 'ownerId',
				type: 'string',
				default: '',
				displayOptions: { show: { provider: ['hubspot', 'salesforce'], hubspotAction: ['task'], salesforceAction: ['task'] } },
				description: 'Owner (HubSpot owner ID or Salesforce user ID) to assign the task to; leave empty to use the record’s own owner',
			},
			...webhookProperties(webhookOnly),
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest, nudgeSalesforceConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const provider = this.getNodeParameter('provider', 0, 'webhook') as ProviderName;
		let sender: ClosableSender | undefined;
		if (provider !== 'webhook') {
			try {
				return await runForEachItem(this, { outputs: 2, errorOutput: 1 }, async ({ engine, item, itemIndex }) => {
					sender ??= await providerSender(this, provider);
					return routeSend(await engine.send(await openItem(engine, { item: item.json, notFromEvent: SEND_NOT_FROM_EVENT }), { sender }, categoryOf(this, itemIndex)));
				});
			} finally {
				// Segment queues events: flush them before the execution ends.
				await sender?.close?.();
			}
		}
		return await runForEachItem(this, { outputs: 2, errorOutput: 1 }, async ({ engine, settings, item, itemIndex }) => {
			const target = webhookTarget(this, settings, itemIndex);
			const decision = await engine.send(await openItem(engine, { item: item.json, notFromEvent: SEND_NOT_FROM_EVENT }), target, categoryOf(this, itemIndex));
			return routeSend(decision);
		});
	}
}

/** The provider's sender, from the node's settings and the provider credential. */
async function providerSender(context: IExecuteFunctions, provider: Exclude<ProviderName, 'webhook'>): Promise<ClosableSender> {
	const text = (name: string) => String(context.getNodeParameter(name, 0, '') ?? '');
	if (provider === 'salesforce') {
		return createSender({
			provider,
			settings: await salesforceSettings(context),
			action: context.getNodeParameter('salesforceAction', 0, 'task') as SalesforceAction,
			campaignId: text('campaignId').trim(),
			memberStatus: text('memberStatus').trim(),
			ownerId: text('ownerId').trim(),
			subject: text('subject'),
		});
	}
	if (provider === 'segment') {
		const credential = await vendorCredential(context, provider);
		return createSender({ provider, writeKey: credential.writeKey ?? '', host: credential.host });
	}
	return createSender({
		provider,
		auth: await hubspotAuth(context, context.getNodeParameter('authentication', 0, 'privateApp')),
		action: context.getNodeParameter('hubspotAction', 0, 'task') as HubSpotAction,
		emailId: context.getNodeParameter('emailId', 0, 0) as number,
		ownerId: context.getNodeParameter('ownerId', 0, '') as string,
		subject: context.getNodeParameter('subject', 0, '') as string,
	});
}
