import type {
	IDataObject,
	IHookFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
	IWebhookFunctions,
	IWebhookResponseData,
} from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { receiveSignedEvents } from '../../../engine/events/receive';
import { loadEngine, nudgeEngineConnectionTest } from '../shared/engine';

export class NudgeTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Nudge Trigger',
		name: 'nudgeTrigger',
		icon: { light: 'file:nudgeTrigger.svg', dark: 'file:nudgeTrigger.dark.svg' },
		group: ['trigger'],
		version: 1,
		subtitle: '={{"Journey: " + $parameter["journey"]}}',
		description:
			'Starts a journey when your CRM, CDP or app sends a signed customer event (Nudge or Segment format), one decision per new event',
		defaults: { name: 'Nudge Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: 'nudgeEngineApi', required: true, testedBy: 'nudgeEngineConnectionTest' }],
		webhooks: [
			{
				name: 'default',
				httpMethod: 'POST',
				responseMode: 'onReceived',
				path: 'events',
			},
		],
		properties: [
			{
				displayName:
					'Send events to the URL above as JSON (one event, or an array of events) and sign each request with the signing secret of your Nudge Engine credential: header X-Nudge-Timestamp (Unix seconds) and X-Nudge-Signature = "v1=" + hex HMAC-SHA256 of "timestamp.body". Unsigned, altered or older than 5 minutes requests are refused.',
				name: 'notice',
				type: 'notice',
				default: '',
			},
			{
				displayName: 'Journey',
				name: 'journey',
				type: 'string',
				default: 'nurture',
				required: true,
				description: 'Journey these events start. Your policy can give each journey its own channels.',
			},
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest } };

	// Nothing to register with a remote service: the sender is configured with the webhook URL by hand.
	webhookMethods = {
		default: {
			async checkExists(this: IHookFunctions): Promise<boolean> {
				return true;
			},
			async create(this: IHookFunctions): Promise<boolean> {
				return true;
			},
			async delete(this: IHookFunctions): Promise<boolean> {
				return true;
			},
		},
	};

	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		const req = this.getRequestObject();
		const res = this.getResponseObject();
		let loaded: Awaited<ReturnType<typeof loadEngine>>;
		try {
			loaded = await loadEngine(this);
		} catch (error) {
			// The sender cannot fix this, but it retries: nothing is lost while the credential is fixed.
			res.status(503).json({ error: (error as Error).message });
			return { noWebhookResponse: true };
		}
		const journey = (this.getNodeParameter('journey', 'nurture') as string).trim() || 'nurture';
		const answer = await receiveSignedEvents(
			loaded.engine,
			{ rawBody: req.rawBody, headers: req.headers as Record<string, unknown> },
			{ secret: loaded.settings.signingSecret, journey },
		);
		const items: INodeExecutionData[] = answer.accepted.map(({ decision, event }) => ({
			json: {
				decisionId: decision.decisionId,
				contactId: decision.contactId,
				decision: decision as unknown as IDataObject,
				event: event as unknown as IDataObject,
			},
		}));
		const workflowData = items.length ? [items] : undefined;
		if (answer.status === 200) return workflowData ? { workflowData, webhookResponse: answer.body } : { webhookResponse: answer.body };
		res.status(answer.status).json(answer.body);
		return { noWebhookResponse: true };
	}
}
