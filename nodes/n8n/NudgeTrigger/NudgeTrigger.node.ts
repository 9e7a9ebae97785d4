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
import type { IngestResult } from '../../../engine/engine';
import { normalizeEvent } from '../../../engine/events/normalize';
import { verifySignedRequest } from '../../../engine/events/signature';
import { isNudgeError, loadEngine, nudgeEngineConnectionTest } from '../shared/engine';

interface Rejection {
	status: number;
	body: IDataObject;
}

function messageOf(error: unknown): string {
	return error instanceof Error ? error.message : String(error);
}

/** Parses the signed raw body: one event (object) or a batch (array). */
function eventsOf(rawBody: Buffer): { events: unknown[]; batch: boolean } | Rejection {
	let body: unknown;
	try {
		body = JSON.parse(rawBody.toString('utf8'));
	} catch (error) {
		return { status: 400, body: { error: `The request body is not valid JSON (${messageOf(error)}); nothing was stored` } };
	}
	const batch = Array.isArray(body);
	const events: unknown[] = Array.isArray(body) ? body : [body];
	if (events.length === 0) {
		return { status: 400, body: { error: 'The batch is empty: send one event, or a JSON array of events' } };
	}
	return { events, batch };
}

/** Every event is checked before any is stored, so a batch is taken in whole or not at all. */
function validate(events: unknown[], batch: boolean): Rejection | undefined {
	const invalid: IDataObject[] = [];
	events.forEach((event, index) => {
		if (!event || typeof event !== 'object' || Array.isArray(event)) {
			// The body is already parsed JSON; a string here would otherwise be parsed a second time.
			invalid.push({ index, error: `Event must be a JSON object, not ${Array.isArray(event) ? 'an array' : typeof event}`, issues: [] });
			return;
		}
		try {
			normalizeEvent(event);
		} catch (error) {
			invalid.push({
				index,
				error: messageOf(error),
				issues: isNudgeError(error) ? error.issues.map((issue) => ({ ...issue })) : [],
			});
		}
	});
	if (!invalid.length) return undefined;
	const first = invalid[0];
	const where = batch
		? `Event ${first.index as number} of the batch (counting from 0) is not valid: ${first.error as string}`
		: `The event is not valid: ${first.error as string}`;
	const more = invalid.length > 1 ? ` (${invalid.length} events are invalid)` : '';
	return { status: 400, body: { error: `${where}${more}. Nothing was stored.`, invalid } };
}

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
		const answer = (rejection: Rejection, workflowData?: INodeExecutionData[][]): IWebhookResponseData => {
			res.status(rejection.status).json(rejection.body);
			return workflowData ? { noWebhookResponse: true, workflowData } : { noWebhookResponse: true };
		};

		let loaded: Awaited<ReturnType<typeof loadEngine>>;
		try {
			loaded = await loadEngine(this);
		} catch (error) {
			// The sender cannot fix this, but it will retry later: nothing is lost while the credential is fixed.
			return answer({ status: 500, body: { error: messageOf(error) } });
		}
		const { engine, settings } = loaded;

		try {
			verifySignedRequest(settings.signingSecret, req.rawBody, req.headers as Record<string, unknown>);
		} catch (error) {
			return answer({ status: isNudgeError(error) ? error.httpStatus : 401, body: { error: messageOf(error) } });
		}

		const parsed = eventsOf(req.rawBody);
		if ('status' in parsed) return answer(parsed);
		const { events, batch } = parsed;
		const invalid = validate(events, batch);
		if (invalid) return answer(invalid);

		const journey = (this.getNodeParameter('journey', 'nurture') as string).trim() || 'nurture';
		const items: INodeExecutionData[] = [];
		const decisionIds: string[] = [];
		let duplicates = 0;
		let failure: unknown;
		for (const raw of events) {
			let result: IngestResult;
			try {
				result = await engine.ingest(raw, { journey });
			} catch (error) {
				failure = error;
				break;
			}
			if (result.duplicate) {
				duplicates++;
				continue;
			}
			decisionIds.push(result.decision.decisionId);
			items.push({
				json: {
					decisionId: result.decision.decisionId,
					contactId: result.decision.contactId,
					decision: result.decision as unknown as IDataObject,
					event: result.event as unknown as IDataObject,
				},
			});
		}
		const summary: IDataObject = { accepted: items.length, duplicates, decisionIds };
		const workflowData = items.length ? [items] : undefined;
		if (failure !== undefined) {
			// Events before the failure are stored and run; a retry of the request skips them as duplicates.
			const status = isNudgeError(failure) ? failure.httpStatus : 500;
			return answer({ status, body: { error: `${messageOf(failure)}. Retry the request to deliver the rest.`, ...summary } }, workflowData);
		}
		return workflowData ? { workflowData, webhookResponse: summary } : { webhookResponse: summary };
	}
}
