import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { type ActionVerdict, CHANNELS, verdictOf } from '../../../engine';
import { channelOptions } from '../shared/channelOptions';
import { nudgeEngineConnectionTest, runItems } from '../shared/engine';
import { agentIdProperty, CONTACT_FOR_MODEL, fixedAgentId, fromAI, isToolNode, withToolTwin } from '../shared/tool';
import { webhookProperties, webhookTarget } from '../shared/webhookTarget';
import { engineCredentials, notice, optionsCollection, tagsOption } from '../shared/description';

const sendsOnAllow = { show: { onAllow: ['webhook'] } };

/** A request field the agent gives: the regular node maps it from the incoming item's same-named field, the tool asks the model. */
function requestField(
	name: string,
	label: string,
	kind: 'string' | 'number',
	field: { forModel: string; help: string; required?: boolean; fallback?: string | number },
): INodeProperties[] {
	return withToolTwin(
		{ displayName: label, name, type: kind, required: field.required, description: field.help, default: `={{ $json.${name} }}` },
		{ default: fromAI(name, field.forModel, kind, field.fallback) },
	);
}

const text = (value: unknown) => (typeof value === 'string' ? value.trim() : value === undefined || value === null ? '' : String(value));

// An agent's governed action: it may be an AI-agent tool because the engine, not the agent, decides (DESIGN §12).
export class NudgeAction implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Nudge Action',
		name: 'nudgeAction',
		icon: { light: 'file:nudgeAction.svg', dark: 'file:nudgeAction.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{"Agent " + $parameter["agentId"]}}',
		description:
			'Asks Nudge whether an AI agent may message a contact now: consent, suppression, caps, quiet hours, holdouts, approvals and the agent’s blast radius all apply. Answers allow, defer (with retryAt), needs_approval or deny, with the reason; can send on allow.',
		defaults: { name: 'Nudge Action' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: engineCredentials(),
		properties: [
			notice('Connect this node to an AI Agent as a tool (or after any node whose items describe an action). The agent proposes; Nudge decides with your policy and logs every verdict with the agent ID. Approving a request is never done here: a person approves it (Frequency Cap → Record Review Verdict, or the console).'),
			agentIdProperty('Who is asking, as your policy names it (agents.blocked, agents.known, blast radius rules). Set here, never by the model, so an agent cannot pose as another.'),
			...requestField('contact', 'Contact', 'string', {
				forModel: `${CONTACT_FOR_MODEL} (the person to message)`,
				help: 'The contact’s Nudge contact ID or email address (an object of identities also works in an expression)',
				required: true,
			}),
			...withToolTwin(
				{
					displayName: 'Channel',
					name: 'channel',
					type: 'options',
					options: channelOptions('Let Nudge Choose'),
					default: '',
					description: 'The channel to send by, or let Nudge choose the best one the contact agreed to',
				},
				{
					type: 'string',
					options: undefined,
					default: fromAI('channel', `The channel: ${CHANNELS.join(', ')}; or choose to let Nudge pick the best one the contact agreed to`, 'string', 'choose'),
					description: 'The channel; by default the agent says (or lets Nudge choose)',
				},
			),
			...requestField('subject', 'Subject', 'string', {
				forModel: 'The subject or title of the message (empty for SMS)',
				help: 'Subject or title of the message',
				fallback: '',
			}),
			...requestField('text', 'Message Text', 'string', {
				forModel: 'The full text of the message that would be sent',
				help: 'The message as it would be sent; an approval is bound to exactly this text',
				fallback: '',
			}),
			...requestField('offerValue', 'Offer Value', 'number', {
				forModel: 'The discount or offer in the message (e.g. 15 for 15% off); 0 when there is none',
				help: 'Discount or offer size; your policy can ask a person to approve large offers',
				fallback: 0,
			}),
			...requestField('idempotencyKey', 'Idempotency Key', 'string', {
				forModel: 'A key naming this one action, e.g. winback-ana-2026-12. Repeat the same key (with the same content) to retry or to ask again after a defer or an approval; never reuse it for another action',
				help: 'One action per key: the same key twice is answered with the first verdict and sends at most once',
				required: true,
			}),
			...requestField('approvalId', 'Approval ID', 'string', {
				forModel: 'Only when asking again after a person approved: the approvalId Nudge returned; otherwise empty',
				help: 'The approval ID of an approved request, presented with the same request',
				fallback: '',
			}),
			{
				displayName: 'On Allow',
				name: 'onAllow',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'Answer Only', value: 'answer', description: 'Return the verdict; the workflow sends (e.g. Nudge Send or your own step)' },
					{ name: 'Send to a Webhook', value: 'webhook', description: 'Send the message right away when the verdict is allow, once per action' },
				],
				default: 'answer',
			},
			...webhookProperties(sendsOnAllow),
			optionsCollection([
				{
					displayName: 'Category',
					name: 'category',
					type: 'string',
					default: '',
					placeholder: 'promotional',
					description: 'Message category for caps, quiet hours and exemptions. Set here, not by the model, so an agent cannot claim a promotion is transactional.',
				},
				{
					displayName: 'Dry Run',
					name: 'dryRun',
					type: 'boolean',
					default: false,
					description: 'Whether to only answer what would happen: nothing is reserved, logged or sent',
				},
				{
					displayName: 'Journey',
					name: 'journey',
					type: 'string',
					default: '',
					placeholder: 'agent',
					description: 'The journey whose caps, holdout and review rules apply; empty for the policy’s agents.journey',
				},
				tagsOption('winback, offer'),
			]),
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const agentId = fixedAgentId(this, 'the policy’s blocks, approvals and blast radius are per agent, so the model must not choose it');
		const tool = isToolNode(this);
		const onAllow = this.getNodeParameter('onAllow', 0, 'answer') as string;
		return await runItems(this, { outputs: 1, errorOutput: 0, unhandled: 'requests would get no answer' }, async ({ engine, settings, item, itemIndex }) => {
			const param = (name: string) => this.getNodeParameter(name, itemIndex, '') as unknown;
			const options = this.getNodeParameter('options', itemIndex, {}) as IDataObject;
			const tags = text(options.tags).split(',').map((t) => t.trim()).filter(Boolean);
			const offerValue = param('offerValue');
			const message = Object.fromEntries(
				Object.entries({
					category: text(options.category),
					tags: tags.length ? tags : '',
					subject: text(param('subject')),
					text: text(param('text')),
					// 0 means no offer; anything else (even a wrong value) goes to the engine, which explains it.
					offerValue: offerValue === 0 || offerValue === '' || offerValue === undefined ? '' : offerValue,
				}).filter(([, v]) => v !== ''),
			);
			const contact = param('contact');
			const request = {
				agentId: text(agentId),
				idempotencyKey: text(param('idempotencyKey')),
				contact: typeof contact === 'object' && contact !== null ? contact : text(contact),
				channel: text(param('channel')) || 'choose',
				message,
				dryRun: options.dryRun === true,
				...(text(options.journey) ? { journey: text(options.journey) } : {}),
				...(text(param('approvalId')) ? { approvalId: text(param('approvalId')) } : {}),
			};
			let verdict: ActionVerdict = await engine.requestAction(request);
			let sent: boolean | undefined;
			if (onAllow === 'webhook' && verdict.verdict === 'allow' && !verdict.dryRun) {
				const decision = await engine.sendAction(verdict.decisionId, webhookTarget(this, settings, itemIndex));
				verdict = { ...verdictOf(decision, { duplicate: verdict.duplicate }), agentId: verdict.agentId };
				sent = decision.status === 'sent';
			}
			const answer: IDataObject = { ...(verdict as unknown as IDataObject), ...(sent === undefined ? {} : { sent }) };
			return { json: tool ? answer : { ...item.json, ...answer }, output: 0 };
		});
	}
}
