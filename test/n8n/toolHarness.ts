/**
 * Runs Nudge nodes as AI-agent tools the way n8n does, in process: the `<name>Tool` variant of the node
 * type, connected by an `ai_tool` connection to an agent node; the agent asks n8n-core for its tools
 * (`getInputConnectionData`, which builds each tool with n8n-core's own `createNodeAsTool`: the input
 * schema from the `$fromAI()` placeholders, the node's execute() in a SupplyDataContext per call) and
 * invokes them with the arguments a model would give. Only the agent (which picks the calls) is a test
 * double; everything between it and the node is n8n's.
 */
import './quiet';
import type { StructuredTool } from '@langchain/core/tools';
import { z } from 'zod';
import type { ICredentialDataDecryptedObject, IDataObject, IExecuteFunctions, INode, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { deepCopy, NodeConnectionTypes } from 'n8n-workflow';
import { nudgeNode, registerNodeType, runWorkflow, type, type WorkflowJson } from './harness';

/**
 * The tool variant n8n derives from a `usableAsTool` node (n8n cli node-types.ts `getByNameAndVersion` +
 * tool-generation `convertNodeToAiTool`): same class and execute(), description renamed `<name>Tool`, no
 * inputs, one `ai_tool` output and a Tool Description parameter.
 */
export function toolVariant(base: INodeType): INodeType {
	if (!base.description.usableAsTool) throw new TypeError(`${base.description.name} is not usable as a tool`);
	const description = deepCopy(base.description) as INodeTypeDescription;
	description.name += 'Tool';
	description.displayName += ' Tool';
	description.inputs = [];
	description.outputs = [NodeConnectionTypes.AiTool];
	delete description.usableAsTool;
	description.properties = [
		{ displayName: 'Description', name: 'toolDescription', type: 'string', default: base.description.description, required: true },
		...description.properties,
	];
	return Object.create(base, { description: { value: description } }) as INodeType;
}

/** One tool call the test agent makes: the tool's name and the model's arguments. */
export interface ToolCall {
	tool: string;
	args: unknown;
}

/** What the agent saw: each tool's name, description and input schema, and each call's answer or error. */
export interface AgentRun {
	tools: Array<{ name: string; description: string; schema: z.ZodTypeAny }>;
	results: Array<{ tool: string; result?: unknown; error?: string }>;
}

let lastRun: AgentRun | undefined;

/** The agent double: reads the calls from its input item and makes them, one after another or all at once. */
// eslint-disable-next-line @n8n/community-nodes/node-usable-as-tool -- a test double of the AI Agent, not a node of the package
class TestAgent implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Test Agent',
		name: 'testAgent',
		group: ['transform'],
		version: 1,
		description: 'Calls its connected tools with the arguments in its input item',
		defaults: { name: 'Agent' },
		inputs: [NodeConnectionTypes.Main, { type: NodeConnectionTypes.AiTool, displayName: 'Tools' }],
		outputs: [NodeConnectionTypes.Main],
		properties: [],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const tools = ((await this.getInputConnectionData(NodeConnectionTypes.AiTool, 0)) ?? []) as StructuredTool[];
		const run: AgentRun = { tools: tools.map((t) => ({ name: t.name, description: t.description, schema: t.schema as z.ZodTypeAny })), results: [] };
		const input = this.getInputData()[0]?.json ?? {};
		const call = async ({ tool, args }: ToolCall) => {
			const found = tools.find((t) => t.name === tool);
			if (!found) throw new TypeError(`No tool named ${tool} (have ${tools.map((t) => t.name).join(', ')})`);
			try {
				const answer = await found.invoke(args as Record<string, unknown>);
				return { tool, result: typeof answer === 'string' ? JSON.parse(answer) : answer };
			} catch (error) {
				return { tool, error: error instanceof Error ? error.message : String(error) };
			}
		};
		const calls = (input.calls ?? []) as unknown as ToolCall[];
		// A model may ask for several tool calls at once; agents run them concurrently.
		if (input.parallel) run.results.push(...(await Promise.all(calls.map(call))));
		else for (const c of calls) run.results.push(await call(c));
		lastRun = run;
		return [[{ json: { done: run.results.length } }]];
	}
}

const AGENT_TYPE = 'test.testAgent';
registerNodeType(AGENT_TYPE, new TestAgent());

/** Makes `n8n-nodes-nudge.<name>Tool` known to the harness's node types. */
function register(base: INodeType): string {
	const name = `${base.description.name}Tool`;
	registerNodeType(type(name), toolVariant(base));
	return name;
}

/** A tool node (the variant of `base`) named `nodeName`, with parameters as a user set them (defaults fill the rest). */
export function toolNode(base: INodeType, nodeName: string, parameters: IDataObject = {}, extra: Partial<INode> = {}): INode {
	return nudgeNode(nodeName, register(base), parameters, extra);
}

/** Runs an agent with these tool nodes connected and makes `calls`; returns what the agent saw. */
export async function runAgent(options: { tools: INode[]; calls: ToolCall[]; parallel?: boolean; credentials: Record<string, ICredentialDataDecryptedObject> }): Promise<AgentRun> {
	const agent: INode = { id: 'agent', name: 'Agent', type: AGENT_TYPE, typeVersion: 1, position: [0, 0], parameters: {} };
	const workflow: WorkflowJson = {
		nodes: [agent, ...options.tools],
		connections: Object.fromEntries(options.tools.map((tool) => [tool.name, { ai_tool: [[{ node: 'Agent', type: 'ai_tool', index: 0 }]] }])),
	};
	lastRun = undefined;
	const result = await runWorkflow({ workflow, startNode: 'Agent', input: [[{ json: { calls: options.calls, parallel: !!options.parallel } as unknown as IDataObject }]], credentials: options.credentials });
	if (result.error) throw result.error;
	if (!lastRun) throw new TypeError('The agent did not run');
	return lastRun;
}

/** The argument names of a tool's schema, and which the model must give. */
export function schemaKeys(schema: z.ZodTypeAny): { all: string[]; required: string[] } {
	const shape = (schema as z.AnyZodObject).shape as Record<string, z.ZodTypeAny>;
	const all = Object.keys(shape).sort();
	return { all, required: all.filter((key) => !shape[key].isOptional()) };
}
