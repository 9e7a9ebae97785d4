/**
 * Runs Nudge's n8n nodes inside n8n's real execution engine (n8n-core's WorkflowExecute), in process,
 * following the recipe in research/n8n.md §3: node types keyed "n8n-nodes-nudge.<name>", a credentials
 * helper serving fixture credentials, lifecycle hooks that resolve when the run ends. A webhook trigger is
 * pass-through inside WorkflowExecute, so `callWebhook` runs its `webhook()` through n8n-core's
 * WebhookContext with a real request/response pair, and `runWorkflow` is then fed `workflowData[0]`, as
 * n8n's webhook service does.
 */
import './quiet';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecutionLifecycleHooks, WebhookContext, WorkflowExecute } from 'n8n-core';
import type {
	ICredentialDataDecryptedObject,
	ICredentials,
	IConnections,
	IDataObject,
	IHttpRequestOptions,
	INode,
	INodeCredentialsDetails,
	INodeExecutionData,
	INodeProperties,
	INodeType,
	INodeTypes,
	IRun,
	IWebhookData,
	IWebhookResponseData,
	IWorkflowBase,
	IWorkflowExecuteAdditionalData,
	WorkflowExecuteMode,
} from 'n8n-workflow';
import { createRunExecutionData, ICredentialsHelper, NodeHelpers, Workflow } from 'n8n-workflow';
import { NudgeAction } from '../../nodes/n8n/NudgeAction/NudgeAction.node';
import { NudgeChooseChannel } from '../../nodes/n8n/NudgeChooseChannel/NudgeChooseChannel.node';
import { NudgeFrequencyCap } from '../../nodes/n8n/NudgeFrequencyCap/NudgeFrequencyCap.node';
import { NudgeLogDecision } from '../../nodes/n8n/NudgeLogDecision/NudgeLogDecision.node';
import { NudgeModel } from '../../nodes/n8n/NudgeModel/NudgeModel.node';
import { NudgeContactData } from '../../nodes/n8n/NudgeContactData/NudgeContactData.node';
import { NudgeRecordOutcome } from '../../nodes/n8n/NudgeRecordOutcome/NudgeRecordOutcome.node';
import { NudgeScore } from '../../nodes/n8n/NudgeScore/NudgeScore.node';
import { NudgeSend } from '../../nodes/n8n/NudgeSend/NudgeSend.node';
import { NudgeTrigger } from '../../nodes/n8n/NudgeTrigger/NudgeTrigger.node';
import { NudgePollTrigger } from '../../nodes/n8n/NudgePollTrigger/NudgePollTrigger.node';
import { NudgeDueTrigger } from '../../nodes/n8n/NudgeDueTrigger/NudgeDueTrigger.node';
import { signatureHeaders } from '../../engine/events/signature';

export const PACKAGE = 'n8n-nodes-nudge';
export const type = (name: string) => `${PACKAGE}.${name}`;

const NUDGE_NODES: INodeType[] = [
	new NudgeTrigger(),
	new NudgeScore(),
	new NudgeChooseChannel(),
	new NudgeFrequencyCap(),
	new NudgeSend(),
	new NudgeLogDecision(),
	new NudgeRecordOutcome(),
	new NudgeModel(),
	new NudgeContactData(),
	new NudgePollTrigger(),
	new NudgeDueTrigger(),
	new NudgeAction(),
];

/** n8n's own core nodes the templates use (Switch, Wait, HTTP Request, Webhook, Set, Sticky Note), from n8n-nodes-base. */
function n8nCoreNode(file: string, exportName: string): INodeType {
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const Type = (require(`n8n-nodes-base/dist/nodes/${file}`) as Record<string, new () => INodeType>)[exportName];
	return new Type();
}

/** Loaded on first use: the Wait node pulls in n8n's form helpers, which only journeys.test.ts prepares for. */
const N8N_CORE_FILES: Record<string, [string, string]> = {
	'n8n-nodes-base.stickyNote': ['StickyNote/StickyNote.node.js', 'StickyNote'],
	'n8n-nodes-base.switch': ['Switch/Switch.node.js', 'Switch'],
	'n8n-nodes-base.wait': ['Wait/Wait.node.js', 'Wait'],
	'n8n-nodes-base.httpRequest': ['HttpRequest/HttpRequest.node.js', 'HttpRequest'],
	'n8n-nodes-base.webhook': ['Webhook/Webhook.node.js', 'Webhook'],
	'n8n-nodes-base.set': ['Set/Set.node.js', 'Set'],
};

const TYPES = new Map<string, INodeType>(NUDGE_NODES.map((node): [string, INodeType] => [type(node.description.name), node]));

/** Adds a node type under its full type name (e.g. a tool variant, or a test double). */
export function registerNodeType(fullType: string, node: INodeType): void {
	TYPES.set(fullType, node);
}

export const nodeTypes: INodeTypes = {
	getByName(nodeType: string) {
		return byType(nodeType);
	},
	getByNameAndVersion(nodeType: string, version?: number) {
		return NodeHelpers.getVersionedNodeType(byType(nodeType), version);
	},
	getKnownTypes() {
		return {};
	},
};

function byType(nodeType: string): INodeType {
	const core = N8N_CORE_FILES[nodeType];
	if (core && !TYPES.has(nodeType)) TYPES.set(nodeType, n8nCoreNode(...core));
	const found = TYPES.get(nodeType);
	if (!found) throw new TypeError(`Unrecognized node type: ${nodeType}`);
	return found;
}

/** Serves fixture credentials by type; everything else n8n might ask of it is a stub. */
class FixtureCredentialsHelper extends ICredentialsHelper {
	constructor(private readonly fixtures: Record<string, ICredentialDataDecryptedObject>) {
		super();
	}

	getParentTypes(): string[] {
		return [];
	}

	isCredentialUsableByNode(): boolean {
		return true;
	}

	async authenticate(_credentials: ICredentialDataDecryptedObject, _typeName: string, requestOptions: IHttpRequestOptions): Promise<IHttpRequestOptions> {
		return requestOptions;
	}

	async preAuthentication(): Promise<ICredentialDataDecryptedObject | undefined> {
		return undefined;
	}

	async runPreAuthentication(): Promise<ICredentialDataDecryptedObject | undefined> {
		return undefined;
	}

	async getCredentials(): Promise<ICredentials> {
		throw new TypeError('getCredentials is not available in tests');
	}

	async getDecrypted(_additionalData: IWorkflowExecuteAdditionalData, _nodeCredentials: INodeCredentialsDetails, credentialType: string): Promise<ICredentialDataDecryptedObject> {
		const data = this.fixtures[credentialType];
		if (!data) throw new TypeError(`No fixture credentials for ${credentialType}`);
		return { ...data };
	}

	async updateCredentials(): Promise<void> {}

	async updateCredentialsOauthTokenData(): Promise<void> {}

	getCredentialsProperties(): INodeProperties[] {
		return [];
	}
}

export function additionalData(credentials: Record<string, ICredentialDataDecryptedObject>): IWorkflowExecuteAdditionalData {
	const base = 'http://localhost:5678';
	return {
		credentialsHelper: new FixtureCredentialsHelper(credentials),
		executeWorkflow: async () => {
			throw new TypeError('Sub-workflows are not available in tests');
		},
		startRunnerTask: async () => {
			throw new TypeError('The task runner is not available in tests');
		},
		getRunExecutionData: async () => undefined,
		getRuntimeCredential: async () => undefined,
		currentNodeExecutionIndex: 0,
		variables: {},
		logAiEvent: () => {},
		restApiUrl: `${base}/rest`,
		instanceBaseUrl: `${base}/`,
		webhookBaseUrl: `${base}/webhook`,
		webhookWaitingBaseUrl: `${base}/webhook-waiting`,
		webhookTestBaseUrl: `${base}/webhook-test`,
		formBaseUrl: `${base}/form`,
		formWaitingBaseUrl: `${base}/form-waiting`,
		formTestBaseUrl: `${base}/form-test`,
		mcpBaseUrl: `${base}/mcp`,
		mcpTestBaseUrl: `${base}/mcp-test`,
	} as unknown as IWorkflowExecuteAdditionalData;
}

export interface WorkflowJson {
	name?: string;
	nodes: INode[];
	connections: IConnections;
}

let nodeCounter = 0;

/** An INode for a Nudge node type; credentials default to the fixture "Nudge Engine" credential. */
export function nudgeNode(name: string, nodeName: string, parameters: IDataObject = {}, extra: Partial<INode> = {}): INode {
	return {
		id: `node-${++nodeCounter}`,
		name,
		type: type(nodeName),
		typeVersion: 1,
		position: [nodeCounter * 200, 0],
		parameters: parameters as INode['parameters'],
		credentials: { nudgeEngineApi: { id: '1', name: 'Nudge Engine' } },
		...extra,
	};
}

/** Connections for a straight chain, or explicit `[from, output, to]` edges. */
export function connect(edges: Array<[string, number, string]>): IConnections {
	const connections: IConnections = {};
	for (const [from, output, to] of edges) {
		const main = (connections[from] ??= { main: [] }).main;
		while (main.length <= output) main.push([]);
		main[output]!.push({ node: to, type: 'main', index: 0 });
	}
	return connections;
}

/** `staticData`: the workflow's static data as n8n's database holds it (an activation builds the workflow with it). */
export function buildWorkflow(json: WorkflowJson, staticData: IDataObject = {}): Workflow {
	return new Workflow({
		id: 'wf-test',
		name: json.name ?? 'test',
		nodes: json.nodes,
		connections: json.connections,
		active: false,
		nodeTypes,
		settings: { executionOrder: 'v1' },
		staticData,
	});
}

export interface RunResult {
	run: IRun;
	/** Names of the nodes in the order they ran. */
	order: string[];
	/** json of the items a node emitted on one output (first run of the node). */
	output(nodeName: string, outputIndex?: number): IDataObject[];
	/** The error that stopped the run, if any. */
	error: IRun['data']['resultData']['error'];
}

export async function runWorkflow(options: {
	workflow: WorkflowJson;
	startNode: string;
	/** Items for the start node; one array per input (as a webhook's workflowData). */
	input: INodeExecutionData[][];
	credentials: Record<string, ICredentialDataDecryptedObject>;
	mode?: WorkflowExecuteMode;
}): Promise<RunResult> {
	const mode = options.mode ?? 'manual';
	const workflow = buildWorkflow(options.workflow);
	const startNode = workflow.getNode(options.startNode);
	if (!startNode) throw new TypeError(`No node named ${options.startNode}`);
	const order: string[] = [];
	const workflowData: IWorkflowBase = {
		id: workflow.id,
		name: workflow.name ?? 'test',
		nodes: options.workflow.nodes,
		connections: options.workflow.connections,
		active: false,
		activeVersionId: null,
		isArchived: false,
		settings: { executionOrder: 'v1' },
		createdAt: new Date(),
		updatedAt: new Date(),
	} as IWorkflowBase;
	const hooks = new ExecutionLifecycleHooks(mode, `exec-${++nodeCounter}`, workflowData);
	let finish!: (run: IRun) => void;
	const finished = new Promise<IRun>((resolve) => (finish = resolve));
	hooks.addHandler('nodeExecuteAfter', (nodeName: string) => {
		order.push(nodeName);
	});
	hooks.addHandler('workflowExecuteAfter', (run: IRun) => finish(run));
	const runData = createRunExecutionData({
		executionData: { nodeExecutionStack: [{ node: startNode, data: { main: options.input }, source: null }] },
	});
	const execution = new WorkflowExecute({ ...additionalData(options.credentials), hooks }, mode, runData);
	await execution.processRunExecutionData(workflow);
	const run = await finished;
	return {
		run,
		order,
		error: run.data.resultData.error,
		output(nodeName: string, outputIndex = 0) {
			const task = run.data.resultData.runData[nodeName]?.[0];
			return (task?.data?.main?.[outputIndex] ?? []).map((item) => item.json);
		},
	};
}

/** A response object with the parts of express.Response that webhook() uses. */
export class FakeResponse {
	statusCode = 200;
	body: unknown;
	headersSent = false;

	status(code: number): this {
		this.statusCode = code;
		return this;
	}

	json(body: unknown): this {
		this.body = body;
		this.headersSent = true;
		return this;
	}

	send(body: unknown): this {
		return this.json(body);
	}

	end(): this {
		this.headersSent = true;
		return this;
	}
}

export interface WebhookCall {
	/** What the node returned to n8n's webhook service. */
	result: IWebhookResponseData;
	/** The HTTP answer the sender gets: the node's own (noWebhookResponse) or n8n's from webhookResponse. */
	status: number;
	body: unknown;
}

/** Calls the trigger's webhook() the way n8n's webhook service does, with a raw body and headers. */
export async function callWebhook(options: {
	workflow: WorkflowJson;
	nodeName: string;
	rawBody: string | Buffer | undefined;
	headers?: Record<string, string>;
	credentials: Record<string, ICredentialDataDecryptedObject>;
}): Promise<WebhookCall> {
	const workflow = buildWorkflow(options.workflow);
	const node = workflow.getNode(options.nodeName);
	if (!node) throw new TypeError(`No node named ${options.nodeName}`);
	const description = nodeTypes.getByNameAndVersion(node.type, node.typeVersion).description.webhooks![0];
	const data = additionalData(options.credentials);
	const rawBody = options.rawBody === undefined ? undefined : Buffer.from(options.rawBody);
	let body: unknown = {};
	try {
		body = rawBody ? JSON.parse(rawBody.toString('utf8')) : {};
	} catch {
		body = {};
	}
	const headers = Object.fromEntries(Object.entries({ 'content-type': 'application/json', ...options.headers }).map(([k, v]) => [k.toLowerCase(), v]));
	const response = new FakeResponse();
	data.httpRequest = { method: 'POST', originalUrl: `/webhook/${node.webhookId}/events`, url: `/webhook/${node.webhookId}/events`, headers, body, rawBody, params: {}, query: {} } as unknown as IWorkflowExecuteAdditionalData['httpRequest'];
	data.httpResponse = response as unknown as IWorkflowExecuteAdditionalData['httpResponse'];
	const webhookData: IWebhookData = {
		httpMethod: 'POST',
		node: node.name,
		path: String(description.path),
		webhookDescription: description,
		workflowId: workflow.id,
		workflowExecuteAdditionalData: data,
		webhookId: node.webhookId,
	};
	const context = new WebhookContext(workflow, node, data, 'webhook', webhookData, [], null);
	const nodeType = nodeTypes.getByNameAndVersion(node.type, node.typeVersion);
	const result = await nodeType.webhook!.call(context);
	if (result.noWebhookResponse) return { result, status: response.statusCode, body: response.body };
	// Otherwise n8n answers for the node (packages/cli webhook-helpers executeWebhook, the same in 1.x and 2.x):
	// with nothing to run, webhookResponse or a default message; with items and responseMode 'onReceived', the
	// webhook's responseData, whose default is the literal text 'firstEntryJson' (webhookResponse is ignored).
	if (!result.workflowData) return { result, status: 200, body: result.webhookResponse ?? { message: 'Webhook call received' } };
	return { result, status: 200, body: description.responseData ?? 'firstEntryJson' };
}

/** Signs a body like a sender configured with the credential's signing secret. */
export function signed(secret: string, body: string, at = new Date()): Record<string, string> {
	return signatureHeaders(secret, body, at);
}

/** A fresh SQLite store path in its own temporary folder. */
export function freshStore(): string {
	return `sqlite:${join(mkdtempSync(join(tmpdir(), 'nudge-n8n-store-')), 'nudge.db')}`;
}
