/**
 * The one bridge between n8n and the Nudge engine. Every Nudge node uses it to read the "Nudge Engine"
 * credential, get the shared engine, run the engine once per item, map the resulting decision onto the
 * node's outputs, and turn engine errors into NodeOperationErrors (or error items with "On Error →
 * Continue"). Nodes stay thin: they read their parameters and say which engine step to call.
 */
import type {
	ICredentialDataDecryptedObject,
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	IDataObject,
	IExecuteFunctions,
	INode,
	INodeCredentialTestResult,
	INodeExecutionData,
	INodeProperties,
	IPollFunctions,
	IWebhookFunctions,
} from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { checkEngineConfig, connectSalesforce, type Decision, type Engine, type EngineConfig, type FieldIssue, getEngine, hubspotAuthFrom, type HubSpotAuthSettings, type InactivityRule, NudgeError, parseInactivityRules, redactUrl, type SalesforceSettings, salesforceSettingsFrom } from '../../../engine';
import { isRecord } from '../../../engine/items';
import { isToolNode } from './tool';

/** The credential type every Nudge node uses. */
export const NUDGE_CREDENTIAL = 'nudgeEngineApi';

/** What the "Nudge Engine" credential holds, mapped for the engine. */
export interface NudgeSettings {
	config: EngineConfig;
	signingSecret: string;
}

export function settingsFromCredential(data: ICredentialDataDecryptedObject | undefined): NudgeSettings {
	const text = (value: unknown) => (typeof value === 'string' ? value.trim() : '');
	return {
		config: { store: text(data?.store) || undefined, policy: text(data?.policy) || undefined },
		signingSecret: typeof data?.signingSecret === 'string' ? data.signingSecret : '',
	};
}

export function isNudgeError(error: unknown): error is NudgeError {
	return (
		error instanceof NudgeError ||
		(error instanceof Error && error.name === 'NudgeError' && typeof (error as NudgeError).code === 'string')
	);
}

/** An error's message for n8n's editor and logs, any password in a quoted URL masked. */
function messageOf(error: unknown): string {
	return redactUrl(error instanceof Error ? error.message : String(error));
}

/** Reads the credential and returns the engine it configures (shared by every node naming the same settings). */
export async function loadEngine(
	context: Pick<IExecuteFunctions | IWebhookFunctions, 'getCredentials'>,
): Promise<{ engine: Engine; settings: NudgeSettings }> {
	let data: ICredentialDataDecryptedObject | undefined;
	let missing: string | undefined;
	try {
		data = await context.getCredentials<ICredentialDataDecryptedObject>(NUDGE_CREDENTIAL);
	} catch (error) {
		missing = messageOf(error);
	}
	if (missing !== undefined || !data) {
		throw new NudgeError(
			'INVALID_CONFIG',
			`No Nudge Engine credential is selected (${missing ?? 'it is empty'}). Open this node and choose a Nudge Engine credential: it tells Nudge which store and policy to use.`,
		);
	}
	const settings = settingsFromCredential(data);
	let engine: Engine | undefined;
	let problem: NudgeError | undefined;
	try {
		engine = getEngine(settings.config);
	} catch (error) {
		problem = isNudgeError(error)
			? new NudgeError(error.code, `Check the Nudge Engine credential. ${error.message}`, error.issues, error.httpStatus)
			: new NudgeError('INVALID_CONFIG', `Check the Nudge Engine credential: the engine could not start (${messageOf(error)})`);
	}
	if (!engine) throw problem;
	return { engine, settings };
}

function describeIssues(issues: FieldIssue[]): string | undefined {
	return issues.length ? issues.map((issue) => `${issue.path}: ${issue.message}`).join('\n') : undefined;
}

/** Any error → a NodeOperationError that keeps the engine's plain-language message and names the fields at fault. */
export function toNodeError(node: INode, error: unknown, itemIndex?: number): NodeOperationError {
	if (error instanceof NodeOperationError) {
		if (itemIndex !== undefined && error.context.itemIndex === undefined) error.context.itemIndex = itemIndex;
		return error;
	}
	if (isNudgeError(error)) {
		const nodeError = new NodeOperationError(node, error.message, { itemIndex, description: describeIssues(error.issues) });
		nodeError.context.nudgeCode = error.code;
		if (error.issues.length) nodeError.context.issues = error.issues.map((issue) => ({ ...issue }));
		return nodeError;
	}
	// The original error (and its stack) when its message holds no credential; else only the masked message.
	const masked = messageOf(error);
	return new NodeOperationError(node, error instanceof Error && error.message === masked ? error : masked, { itemIndex });
}

/**
 * What a tool answers an agent: the decision's id, contact, status and why, plus the step's extra fields.
 * Not the incoming item: in tool mode that is the model's arguments (and, in n8n 2.x, the chat input).
 */
export function toolAnswer(decision: Decision, extra: IDataObject = {}): IDataObject {
	const { decisionId, contactId, status, reason, explanation } = decision;
	return { decisionId, contactId, status, ...(reason ? { reason } : {}), ...(explanation ? { explanation } : {}), ...extra };
}

/** The json every Nudge node emits: the incoming item plus the decision, so expressions can read it. */
export function decisionJson(input: IDataObject, decision: Decision, extra: IDataObject = {}): IDataObject {
	return {
		...input,
		decisionId: decision.decisionId,
		contactId: decision.contactId,
		decision: decision as unknown as IDataObject,
		...extra,
	};
}

export interface StepResult {
	decision: Decision;
	/** Index of the output the item goes to. */
	output: number;
	/** Extra fields for the output item (e.g. `duplicate`). */
	extra?: Record<string, unknown>;
}

export interface StepInput {
	engine: Engine;
	settings: NudgeSettings;
	item: INodeExecutionData;
	itemIndex: number;
}

/** What one item's step produced: the json to emit and the output it leaves by. */
export interface ItemResult {
	json: IDataObject;
	output: number;
}

/** How a step node's items leave it. */
export interface ItemShape {
	outputs: number;
	/** The output an item that failed leaves by with "On Error → Continue (regular output)". */
	errorOutput: number;
	/** What becomes of the items after the first if Execute Once were let run (default: their decisions left undecided). */
	unhandled?: string;
	/** Log Decision: takes the error item of an earlier node (it logs the decision as it stands, the error kept on the item). */
	logsErrorItems?: boolean;
}

/**
 * The error an item is, when it is the error item of a Nudge node passed on by "On Error → Continue" (either
 * output: n8n adds the input item's fields, its decisionId too, to the error output's item): its message and the
 * node that failed (older error items do not name it). Undefined for any other item.
 */
export function nudgeErrorOf(json: IDataObject): { error: string; node?: string; nodeType?: string } | undefined {
	const { error, details } = json;
	if (typeof error !== 'string' || !isRecord(details) || typeof details.code !== 'string') return undefined;
	return { error, ...(typeof details.node === 'string' ? { node: details.node } : {}), ...(typeof details.nodeType === 'string' ? { nodeType: details.nodeType } : {}) };
}

/**
 * Why a step node will not take this item: Execute Once is on (n8n hands the node only its first item, the others
 * would be left with no trace), or the item is an earlier node's error item (it still carries the decision that
 * failed there, which must not go on as if that step had been done; Log Decision takes it). Tools are not refused:
 * their items are an agent's arguments, one call at a time.
 */
function refusal(context: IExecuteFunctions, shape: ItemShape, item: INodeExecutionData, itemIndex: number): NodeOperationError | undefined {
	const node = context.getNode();
	if (node.executeOnce === true) {
		return new NodeOperationError(
			node,
			`Execute Once is on in this node's Settings: n8n hands it only the first item, and the other items' ${shape.unhandled ?? 'decisions would be left undecided'}. Turn Execute Once off: Nudge nodes work on every item, one at a time`,
			{ itemIndex },
		);
	}
	const failed = shape.logsErrorItems ? undefined : nudgeErrorOf(item.json);
	// A node of the kind that failed takes the item: a retry branch (its error output wired into the same step again)
	// skips nothing.
	if (!failed || failed.nodeType === node.type) return undefined;
	const why = failed.error.length > 300 ? `${failed.error.slice(0, 300)}…` : failed.error;
	return new NodeOperationError(
		node,
		`This item is the error of an earlier node (${failed.node ? `${failed.node}: ` : ''}${why}), passed on by On Error → Continue: it is not a decision to go on with. Route it to Log Decision, or fix the error`,
		{ itemIndex },
	);
}

/**
 * Runs a step per input item, in order (caps are checked one contact at a time). A failing item throws a
 * NodeOperationError naming the item, or — with "On Error → Continue" — becomes an error item on
 * `errorOutput`: the input item's fields with `error` and `details` ({code, issues, node, nodeType}), which later Nudge nodes
 * refuse to go on with (Log Decision logs it). A tool emits everything on its first output (the only one n8n hands
 * back to the agent), errors included as `{error, details}`, so the agent can read them and correct its call.
 */
export async function runItems(
	context: IExecuteFunctions,
	shape: ItemShape,
	step: (input: StepInput) => Promise<ItemResult>,
): Promise<INodeExecutionData[][]> {
	const items = context.getInputData();
	const outputs: INodeExecutionData[][] = Array.from({ length: shape.outputs }, () => []);
	const tool = isToolNode(context);
	let loaded: { engine: Engine; settings: NudgeSettings } | undefined;
	let loadError: unknown;
	try {
		loaded = await loadEngine(context);
	} catch (error) {
		loadError = error;
	}
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		const item = items[itemIndex];
		try {
			const refused = tool ? undefined : refusal(context, shape, item, itemIndex);
			if (refused) throw refused;
			if (!loaded) throw loadError;
			const result = await step({ ...loaded, item, itemIndex });
			outputs[tool ? 0 : result.output].push({ json: result.json, pairedItem: { item: itemIndex } });
		} catch (error) {
			const nodeError = toNodeError(context.getNode(), error, itemIndex);
			if (!tool && !context.continueOnFail()) throw nodeError;
			// Only "error", "message" and "details" keys let n8n move the item to the error output (it then adds
			// the input item's fields back); otherwise the item keeps its fields on this node's fallback output.
			const errorJson: IDataObject = {
				error: nodeError.message,
				details: {
					code: typeof nodeError.context.nudgeCode === 'string' ? nodeError.context.nudgeCode : 'NODE_ERROR',
					issues: Array.isArray(nodeError.context.issues) ? nodeError.context.issues : [],
					node: context.getNode().name,
					nodeType: context.getNode().type,
				},
			};
			const bare = tool || context.getNode().onError === 'continueErrorOutput';
			outputs[tool ? 0 : shape.errorOutput].push({
				json: bare ? errorJson : { ...item.json, ...errorJson },
				pairedItem: { item: itemIndex },
			});
		}
	}
	return outputs;
}

/** `runItems` for a step that returns a decision: emits the decision (a tool's answer: its summary). */
export async function runForEachItem(
	context: IExecuteFunctions,
	shape: ItemShape,
	step: (input: StepInput) => Promise<StepResult>,
): Promise<INodeExecutionData[][]> {
	const tool = isToolNode(context);
	return runItems(context, shape, async (input) => {
		const { decision, output, extra } = await step(input);
		return { json: tool ? toolAnswer(decision, extra as IDataObject | undefined) : decisionJson(input.item.json, decision, extra as IDataObject | undefined), output };
	});
}

/**
 * Credential test ("Test" button on the Nudge Engine API credential): validates the policy and opens
 * the store, without touching the shared engines that running workflows use.
 */
export async function nudgeEngineConnectionTest(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	const settings = settingsFromCredential(credential.data);
	let version = '';
	try {
		version = (await checkEngineConfig(settings.config)).policyVersion;
	} catch (error) {
		return { status: 'Error', message: messageOf(error) };
	}
	const secretNote = settings.signingSecret
		? ''
		: ' No signing secret is set: Nudge Trigger will refuse every event until you add one.';
	return { status: 'OK', message: `Policy ${version} is valid and the store opened.${secretNote}` };
}

/* ---------------------------------------------------------------------------------------------------
 * Vendor credentials (Segment, HubSpot): secrets for triggers and settings for Send's providers.
 * ------------------------------------------------------------------------------------------------- */

const VENDOR_CREDENTIALS = {
	segment: { type: 'nudgeSegmentApi', secret: 'sharedSecret' },
	hubspot: { type: 'nudgeHubSpotApi', secret: 'clientSecret' },
	// An OAuth2 app's client secret is also the key of its webhook signatures.
	hubspotOAuth2: { type: 'nudgeHubSpotOAuth2Api', secret: 'clientSecret' },
	salesforce: { type: 'nudgeSalesforceApi', secret: '' },
} as const;
type Vendor = keyof typeof VENDOR_CREDENTIALS;
type CredentialContext = Pick<IExecuteFunctions | IWebhookFunctions | IPollFunctions, 'getCredentials'>;

/** The vendor credential as n8n decrypted it; an unselected credential reads as empty. */
async function rawVendorCredential(context: CredentialContext, vendor: Vendor): Promise<ICredentialDataDecryptedObject> {
	try {
		return (await context.getCredentials<ICredentialDataDecryptedObject>(VENDOR_CREDENTIALS[vendor].type)) ?? {};
	} catch {
		return {};
	}
}

/** The vendor credential's fields as text ('' for missing ones). */
export async function vendorCredential(context: CredentialContext, vendor: Vendor): Promise<Record<string, string>> {
	const data = await rawVendorCredential(context, vendor);
	return Object.fromEntries(Object.entries(data).map(([key, value]) => [key, typeof value === 'string' ? value : String(value ?? '')]));
}

/** The secret a trigger checks a vendor's signature with: Segment's shared secret, HubSpot's client secret. */
export async function vendorSecret(context: CredentialContext, vendor: Vendor): Promise<string> {
	return (await vendorCredential(context, vendor))[VENDOR_CREDENTIALS[vendor].secret] ?? '';
}

/* ---------------------------------------------------------------------------------------------------
 * HubSpot: a private app's token or an OAuth2 app, chosen by the node's Authentication option.
 * ------------------------------------------------------------------------------------------------- */

export type HubSpotAuthentication = 'privateApp' | 'oAuth2';

/** The Authentication option of every node that talks to HubSpot, shown where `show` holds. */
export function hubspotAuthenticationProperty(show: Record<string, string[]>): INodeProperties {
	return {
		displayName: 'Authentication',
		name: 'authentication',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show },
		options: [
			{ name: 'Private App Token', value: 'privateApp', description: 'A private app’s access token (Nudge HubSpot API credential)' },
			{ name: 'OAuth2 App', value: 'oAuth2', description: 'Your HubSpot app, connected by signing in (Nudge HubSpot OAuth2 API credential)' },
		],
		default: 'privateApp',
	};
}

/** The vendor entry of the HubSpot credential the node's Authentication option picks. */
export function hubspotVendor(authentication: unknown): Vendor {
	return authentication === 'oAuth2' ? 'hubspotOAuth2' : 'hubspot';
}

/** The chosen HubSpot credential as the engine's access settings (n8n keeps the OAuth2 tokens in oauthTokenData). */
export async function hubspotAuth(context: CredentialContext, authentication: unknown): Promise<HubSpotAuthSettings> {
	const vendor = hubspotVendor(authentication);
	return hubspotAuthFrom(vendor === 'hubspotOAuth2' ? 'oauth2' : 'privateApp', await rawVendorCredential(context, vendor));
}

/** The Salesforce credential as jsforce sign-in settings. */
export async function salesforceSettings(context: Pick<IExecuteFunctions | IWebhookFunctions, 'getCredentials'>): Promise<SalesforceSettings> {
	return salesforceSettingsFrom(await vendorCredential(context, 'salesforce'));
}

/** Credential test for "Nudge Salesforce API": signs in, and says what Salesforce answered when it cannot. */
export async function nudgeSalesforceConnectionTest(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	const data = Object.fromEntries(Object.entries(credential.data ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : String(v ?? '')]));
	try {
		const conn = await connectSalesforce(salesforceSettingsFrom(data));
		return { status: 'OK', message: `Signed in to ${conn.instanceUrl}` };
	} catch (error) {
		return { status: 'Error', message: messageOf(error) };
	}
}

/* ---------------------------------------------------------------------------------------------------
 * Inactivity timers: one property for both triggers, read the same way.
 * ------------------------------------------------------------------------------------------------- */

export const INACTIVITY_TIMERS_PROPERTY: INodeProperties = {
	displayName: 'Inactivity Timers',
	name: 'inactivityTimers',
	type: 'fixedCollection',
	placeholder: 'Add Timer',
	typeOptions: { multipleValues: true },
	default: {},
	description:
		'Start a wait when an event arrives, and fire a new event if nothing cancels it in time (e.g. Cart Updated with no Order Completed within 30 minutes → Cart Abandoned). Timers are kept in the Nudge store; a Nudge Poll Trigger with Source "Inactivity Timers" fires them. The policy can give a journey its own timers too (e.g. journeys.cart-abandonment.timers).',
	options: [
		{
			displayName: 'Timer',
			name: 'timer',
			values: [
				{ displayName: 'When This Event Arrives', name: 'start', type: 'string', default: 'Cart Updated' },
				{ displayName: 'Unless One of These Follows (Comma-Separated)', name: 'cancel', type: 'string', default: 'Order Completed' },
				{ displayName: 'Within (Minutes)', name: 'minutes', type: 'number', typeOptions: { minValue: 1 }, default: 30 },
				{ displayName: 'Fire This Event', name: 'fire', type: 'string', default: 'Cart Abandoned' },
			],
		},
	],
};

/** The node's inactivity rules, validated by the engine. */
export function inactivityRules(context: Pick<IPollFunctions | IWebhookFunctions, 'getNodeParameter'>): InactivityRule[] {
	const value = context.getNodeParameter('inactivityTimers', {}) as { timer?: Array<{ start: string; cancel: string; minutes: number; fire: string }> };
	return parseInactivityRules(
		(value.timer ?? []).map((t) => ({ start: t.start, cancel: String(t.cancel ?? '').split(',').map((s) => s.trim()).filter(Boolean), minutes: Number(t.minutes), fire: t.fire })),
	);
}

/**
 * Which node sets or fires timers (engine TimerNode.node): its workflow's id with its own, since a template imported
 * twice gives two workflows the same node ids.
 */
export function timerNodeOf(context: Pick<IPollFunctions | IWebhookFunctions, 'getNode' | 'getWorkflow'>): string {
	return `${context.getWorkflow().id ?? ''}/${context.getNode().id}`;
}
