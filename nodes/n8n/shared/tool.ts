/**
 * Tool mode of a Nudge node: the `<name>Tool` variant n8n derives from a node with `usableAsTool` for the
 * AI Agent. n8n builds the tool's input schema only from the `$fromAI()` placeholders in the node's
 * parameters (n8n-core create-node-as-tool `getSchema`), so a tool reads its inputs from parameters that
 * exist only in tool mode (display option `@tool`, which n8n evaluates as "the type name ends in Tool"),
 * never from the incoming item: in n8n 2.x the item also carries the chat input and the tool call id.
 */
import type { IDisplayOptions, IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

/** Show a parameter only on the tool variant / only on the regular node. */
export const TOOL_ONLY: IDisplayOptions = { show: { '@tool': [true] } };
export const NOT_TOOL: IDisplayOptions = { hide: { '@tool': [true] } };

export type FromAIType = 'string' | 'number' | 'boolean' | 'json';

const quoted = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * A parameter default of `={{ $fromAI(key, description, type[, fallback]) }}`. Without a fallback the model
 * must supply the argument (n8n marks every key required); with one it may leave it out.
 */
export function fromAI(key: string, description: string, type: FromAIType, fallback?: string | number | boolean): string {
	const args = [quoted(key), quoted(description), quoted(type)];
	if (fallback !== undefined) args.push(typeof fallback === 'string' ? quoted(fallback) : String(fallback));
	return `={{ $fromAI(${args.join(', ')}) }}`;
}

/** Whether this execution is the tool variant (its parameters are the tool's inputs). */
export function isToolNode(context: Pick<IExecuteFunctions, 'getNode'>): boolean {
	return context.getNode().type.endsWith('Tool');
}

/** How every Nudge tool asks the model for a contact (one wording, so tools read alike to the model). */
export const CONTACT_FOR_MODEL = 'The contact: their Nudge contactId or email address';

/**
 * A parameter as the regular node has it (hidden on the tool variant), and its twin with the same name on
 * the tool variant, whose default asks the model (`fromAI`). execute() reads both the same way.
 * The twin keeps the regular one's display conditions unless `tool.displayOptions` replaces them.
 */
export function withToolTwin(regular: INodeProperties, tool: Partial<INodeProperties> & { default: string }): INodeProperties[] {
	const shown = regular.displayOptions ?? {};
	return [
		{ ...regular, displayOptions: { ...shown, hide: { ...shown.hide, ...NOT_TOOL.hide } } },
		{ ...regular, ...tool, displayOptions: tool.displayOptions ?? { ...shown, show: { ...shown.show, ...TOOL_ONLY.show } } },
	];
}

/**
 * The Agent ID setting: the name the policy knows an agent by, set by the operator. `description` says what it
 * governs on this node.
 */
export function agentIdProperty(description: string, extra: Partial<INodeProperties> = {}): INodeProperties {
	return { displayName: 'Agent ID', name: 'agentId', type: 'string', required: true, noDataExpression: true, default: 'n8n-agent', description, ...extra };
}

/**
 * The node's Agent ID as set, refusing an expression: with one (let alone `$fromAI`) the model could choose who it
 * is. `why` ends the error: what choosing would let it do.
 */
export function fixedAgentId(context: Pick<IExecuteFunctions, 'getNode'>, why: string): string {
	const agentId = context.getNode().parameters.agentId ?? 'n8n-agent';
	if (typeof agentId !== 'string' || agentId.startsWith('=')) {
		throw new NodeOperationError(context.getNode(), `Agent ID must be a fixed name, not an expression: ${why}`);
	}
	return agentId.trim();
}
