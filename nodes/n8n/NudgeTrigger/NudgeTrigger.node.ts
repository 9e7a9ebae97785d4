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
import { applyInactivityRules, DEFAULT_JOURNEY, journeyOf, NOT_CONFIGURED_ANSWER, receiveSignedEvents, redactUrl, timerFailureText, type WebhookSource } from '../../../engine';
import {
	hubspotAuthenticationProperty,
	hubspotVendor,
	INACTIVITY_TIMERS_PROPERTY,
	inactivityRules,
	loadEngine,
	nudgeEngineConnectionTest,
	timerNodeOf,
	vendorSecret,
} from '../shared/engine';
import { engineCredentials, hubspotCredentials, journeyParameter, notice } from '../shared/description';

const hubspotOnly = { source: ['hubspot'] };

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
		credentials: engineCredentials(
			{ name: 'nudgeSegmentApi', required: true, displayOptions: { show: { source: ['segment'] } } },
			...hubspotCredentials({ source: ['hubspot'] }),
		),
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
				displayName: 'Source',
				name: 'source',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'Nudge or Your App (Signed JSON)', value: 'nudge', description: 'Events in Nudge or Segment format, signed with the Nudge Engine signing secret' },
					{ name: 'Segment (Webhooks Destination)', value: 'segment', description: 'Segment’s Webhooks (Actions) destination, signed with its shared secret (X-Signature or X-Segment-Signature)' },
					{ name: 'HubSpot (App Webhooks)', value: 'hubspot', description: 'A HubSpot app’s webhook subscriptions, signed with the app’s client secret (signature v3)' },
				],
				default: 'nudge',
				description: 'Who sends events to this trigger; decides how requests are verified and read',
			},
			hubspotAuthenticationProperty(hubspotOnly),
			notice('In Segment, add a Webhooks (Actions) destination with the URL above, and set the same shared secret there and in the Nudge Segment credential. Identify, track, page, group and alias calls are accepted. To batch, turn on the destination’s Use X-Segment-Signature Header (it signs the whole batch); with X-Signature, Segment signs only a batch’s first event, so a batch is refused.', { show: { source: ['segment'] } }, 'segmentNotice'),
			notice('In your HubSpot app’s Webhooks settings, set the target URL to the URL above and subscribe to contact and deal events. Requests are checked with the app’s client secret: from the Nudge HubSpot API credential (private app token) or the Nudge HubSpot OAuth2 API credential (OAuth2 app).', { show: { source: ['hubspot'] } }, 'hubspotNotice'),
			notice('Send events to the URL above as JSON (one event, or an array of events) and sign each request with the signing secret of your Nudge Engine credential: header X-Nudge-Timestamp (Unix seconds) and X-Nudge-Signature = "v1=" + hex HMAC-SHA256 of "timestamp.body". Unsigned, altered or older than 5 minutes requests are refused.', { show: { source: ['nudge'] } }),
			journeyParameter('Journey these events start. Your policy can give each journey its own channels.'),
			INACTIVITY_TIMERS_PROPERTY,
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
		let rules: ReturnType<typeof inactivityRules>;
		try {
			rules = inactivityRules(this);
			loaded = await loadEngine(this);
		} catch (error) {
			// The sender cannot fix this, but it retries: nothing is lost while the credential is fixed. The caller
			// is not authenticated yet, so the reason (which names the store and policy) goes to n8n's log only.
			this.logger.error(`Nudge Trigger "${this.getNode().name}" cannot take in events: ${redactUrl((error as Error).message)}`);
			res.status(NOT_CONFIGURED_ANSWER.status).json(NOT_CONFIGURED_ANSWER.body);
			return { noWebhookResponse: true };
		}
		const journey = journeyOf(this.getNodeParameter('journey', DEFAULT_JOURNEY));
		const source = this.getNodeParameter('source', 'nudge') as WebhookSource;
		const vendor = source === 'hubspot' ? hubspotVendor(this.getNodeParameter('authentication', 'privateApp')) : source;
		const secret = vendor === 'nudge' ? loaded.settings.signingSecret : await vendorSecret(this, vendor);
		// HubSpot signs the URL it called: n8n's public webhook URL, the trailing slash if it called one (n8n drops it to
		// find the webhook, LiveWebhooks.findWebhook, so `…/events/` reaches this trigger too), and the query string.
		const called = req.originalUrl ?? '';
		const queryAt = called.includes('?') ? called.indexOf('?') : called.length;
		const webhookUrl = this.getNodeWebhookUrl('default') ?? '';
		const slash = called.slice(0, queryAt).endsWith('/') && !webhookUrl.endsWith('/') ? '/' : '';
		const answer = await receiveSignedEvents(
			loaded.engine,
			{ rawBody: req.rawBody, headers: req.headers as Record<string, unknown>, method: req.method, url: `${webhookUrl}${slash}${called.slice(queryAt)}` },
			{ secret, journey, source },
		);
		for (const failure of await applyInactivityRules(loaded.engine, answer.accepted, rules, timerNodeOf(this))) this.logger.error(`Nudge Trigger "${this.getNode().name}": ${timerFailureText(failure)}`);
		for (const { index, error } of answer.refused ?? []) this.logger.warn(`Nudge Trigger "${this.getNode().name}": event ${index} of a ${source} batch was refused (the others were taken in): ${error}`);
		const items: INodeExecutionData[] = answer.accepted.map(({ decision, event }) => ({
			json: {
				decisionId: decision.decisionId,
				contactId: decision.contactId,
				decision: decision as unknown as IDataObject,
				event: event as unknown as IDataObject,
			},
		}));
		// The trigger writes every answer itself. With items to run and responseMode 'onReceived', n8n (1.x and
		// 2.x) ignores webhookResponse and answers with the webhook's responseData, which defaults to the literal
		// text 'firstEntryJson'; noWebhookResponse tells it the answer is sent and it still runs workflowData.
		res.status(answer.status).json(answer.body);
		return answer.status === 200 && items.length ? { workflowData: [items], noWebhookResponse: true } : { noWebhookResponse: true };
	}
}
