/**
 * `nudge-action`: an agent's (or any flow's) proposed message → Nudge's verdict (engine/agents). The request
 * is msg.payload; who is asking is the node's Agent ID, never the message's. One output per verdict.
 */
import type { Node, NodeAPI, NodeMessageInFlow } from 'node-red';
import { NudgeError, VERDICTS } from '../../engine/items';
import { Done, errorStatus, fail, linkEngine, NudgeNodeDef, runMessage, Send, shortText } from './shared/adapter';

interface ActionDef extends NudgeNodeDef {
	agentId?: string;
	journey?: string;
	dryRun?: boolean;
}

const COLOURS = { allow: 'green', defer: 'yellow', needs_approval: 'blue', deny: 'red' } as const;

/**
 * The request in msg.payload, with the node's agent id and settings. The payload (often a model's output) may not
 * name another agent, nor another journey: a journey's caps, holdout and review rules are the node's choice.
 */
function requestOf(msg: NodeMessageInFlow, def: ActionDef): Record<string, unknown> {
	const p = msg.payload;
	if (!p || typeof p !== 'object' || Array.isArray(p)) {
		throw new NudgeError('INVALID_INPUT', 'msg.payload must be the action request: { contact, idempotencyKey, channel, message: { subject, text, offerValue… } }');
	}
	const { agentId, dryRun, journey, ...request } = p as Record<string, unknown>;
	if (agentId !== undefined && agentId !== def.agentId) {
		throw new NudgeError('INVALID_INPUT', `msg.payload.agentId "${String(agentId)}" is not this node's Agent ID: an agent acts under the id set on the node`);
	}
	const nodeJourney = def.journey?.trim() || undefined;
	if (journey !== undefined && journey !== nodeJourney) {
		const where = nodeJourney ? `the node's journey "${nodeJourney}"` : 'the policy’s agents.journey (the node sets none)';
		throw new NudgeError('INVALID_INPUT', `msg.payload.journey "${String(journey).slice(0, 128)}" is not ${where}: an agent acts in the journey set on the node`);
	}
	// A message may ask for a dry run, never turn off the node's.
	return { ...request, agentId: def.agentId, dryRun: !!def.dryRun || dryRun === true, ...(nodeJourney ? { journey: nodeJourney } : {}) };
}

export = function (RED: NodeAPI) {
	function NudgeAction(this: Node, def: ActionDef) {
		RED.nodes.createNode(this, def);
		const link = linkEngine(RED, def.engine);
		const error = link.error ?? (def.agentId?.trim() ? undefined : new NudgeError('INVALID_CONFIG', 'Set the Agent ID: the policy’s blocks, approvals and blast radius are per agent'));
		if (error) {
			this.status(errorStatus(error));
			this.error(error.message);
		}
		this.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
			if (!link.engine || error) return fail(this, msg, done, error);
			const engine = link.engine;
			runMessage(this, engine, msg, done, () => engine.requestAction(requestOf(msg, def)), (verdict) => {
				msg.payload = verdict;
				this.status({ fill: COLOURS[verdict.verdict], shape: 'dot', text: shortText(`${verdict.dryRun ? 'dry run: ' : ''}${verdict.verdict}`) });
				send(VERDICTS.map((kind) => (kind === verdict.verdict ? msg : null)));
			});
		});
	}
	RED.nodes.registerType('nudge-action', NudgeAction);
};
