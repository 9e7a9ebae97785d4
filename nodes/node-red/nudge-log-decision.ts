/** `nudge-log-decision`: finalises a decision in the decision log, with optional annotations. */
import type { NodeAPI, Node } from 'node-red';
import { isRecord, jsonObjectOf, type NudgeError } from '../../engine/items';
import { decisionOf, decisionStatus, handleSteps, NudgeNodeDef } from './shared/adapter';

interface LogDecisionDef extends NudgeNodeDef {
	/** JSON object text, e.g. {"campaign": "spring"}; empty = none. */
	annotations?: string;
}

function parseAnnotations(text: string | undefined): { annotations: Record<string, unknown>; error?: NudgeError } {
	try {
		return { annotations: jsonObjectOf(text, 'Annotations') };
	} catch (error) {
		return { annotations: {}, error: error as NudgeError };
	}
}

export = function (RED: NodeAPI) {
	function NudgeLogDecision(this: Node, def: LogDecisionDef) {
		RED.nodes.createNode(this, def);
		const { annotations, error } = parseAnnotations(def.annotations);
		handleSteps(RED, this, def, {
			outputs: 1,
			settingsError: error,
			run: async (engine, msg) => {
				const fromMsg = isRecord(msg.annotations) ? msg.annotations : {};
				const decision = await engine.logDecision(await decisionOf(engine, msg), { ...annotations, ...fromMsg });
				return { decision, output: 0, status: decisionStatus(decision, 'logged: pending') };
			},
		});
	}
	RED.nodes.registerType('nudge-log-decision', NudgeLogDecision);
};
