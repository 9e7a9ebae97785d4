/**
 * `nudge-frequency-cap`: the guardrails step. Outputs: allowed (a cap slot is held), delayed (retry at
 * msg.retryAt), blocked (suppressed with a reason), review (a person must approve). With operation
 * "review" it records a reviewer's verdict on a decision that waited for review.
 */
import type { NodeAPI, Node } from 'node-red';
import type { GuardOptions } from '../../engine';
import { approvalOf, capNotFromEvent, guardOptionsOf, type NudgeError, routeGuard } from '../../engine/items';
import { decisionOf, decisionStatus, handleSteps, messageOptions, NudgeNodeDef } from './shared/adapter';

interface FrequencyCapDef extends NudgeNodeDef {
	operation?: 'check' | 'review';
	/** '' = the channel Choose Channel picked. */
	channel?: string;
	category?: string;
	tags?: string;
	offerValue?: string | number;
	variant?: string;
}

/** The node's message settings as guard options, or the problem with them (every message then fails with it). */
function messageSettings(def: FrequencyCapDef): { message: GuardOptions; problem?: NudgeError } {
	try {
		return { message: guardOptionsOf(def) };
	} catch (error) {
		return { message: {}, problem: error as NudgeError };
	}
}

export = function (RED: NodeAPI) {
	function NudgeFrequencyCap(this: Node, def: FrequencyCapDef) {
		RED.nodes.createNode(this, def);
		const { message, problem } = messageSettings(def);
		handleSteps(RED, this, def, {
			outputs: 4,
			settingsError: problem,
			run: async (engine, msg) => {
				const review = def.operation === 'review';
				const options = review ? {} : messageOptions(this, message, msg.message);
				const current = await decisionOf(engine, msg, capNotFromEvent(review, options.channel));
				// A review verdict comes with the message: msg.review = { approve, reviewer, note }.
				const verdict = msg.review as { approve?: unknown; reviewer?: unknown; note?: unknown } | undefined;
				const decision =
					def.operation === 'review'
						? await engine.resolveReview(current, {
								approve: approvalOf(verdict?.approve, 'msg.review.approve'),
								reviewer: typeof verdict?.reviewer === 'string' ? verdict.reviewer : '',
								note: typeof verdict?.note === 'string' ? verdict.note : undefined,
							})
						: await engine.checkCap(current, options);
				return { ...routeGuard(decision), status: decisionStatus(decision, `allowed ${decision.channel ?? ''}`.trim()) };
			},
		});
	}
	RED.nodes.registerType('nudge-frequency-cap', NudgeFrequencyCap);
};
