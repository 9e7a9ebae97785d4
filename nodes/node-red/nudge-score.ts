/** `nudge-score`: scores the contact behind a decision (score 0–100, tier, the factors that count). */
import type { NodeAPI, Node } from 'node-red';
import { decisionOf, decisionStatus, handleSteps, NudgeNodeDef } from './shared/adapter';

export = function (RED: NodeAPI) {
	function NudgeScore(this: Node, def: NudgeNodeDef) {
		RED.nodes.createNode(this, def);
		handleSteps(RED, this, def, {
			outputs: 1,
			run: async (engine, msg) => {
				const decision = await engine.score(await decisionOf(engine, msg));
				const text = decision.score ? `${decision.score.tier} ${decision.score.value}` : 'scored';
				return { decision, output: 0, status: decisionStatus(decision, text) };
			},
		});
	}
	RED.nodes.registerType('nudge-score', NudgeScore);
};
