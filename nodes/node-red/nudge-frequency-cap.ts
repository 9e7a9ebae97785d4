/**
 * `nudge-frequency-cap`: the guardrails step. Outputs: allowed (a cap slot is held), delayed (retry at
 * msg.retryAt), blocked (suppressed with a reason), review (a person must approve). With operation
 * "review" it records a reviewer's verdict on a decision that waited for review.
 */
import type { NodeAPI, Node } from 'node-red';
import { Channel, CHANNELS } from '../../engine/channels';
import { NudgeError } from '../../engine/errors';
import { GUARD_OUTPUTS, guardOutput } from '../../engine/guard/outputs';
import { decisionOf, decisionStatus, handleSteps, NudgeNodeDef } from './shared/adapter';

interface FrequencyCapDef extends NudgeNodeDef {
	operation?: 'check' | 'review';
	/** '' = the channel Choose Channel picked. */
	channel?: string;
	category?: string;
	tags?: string;
	offerValue?: string | number;
	variant?: string;
}

function settingsProblem(def: FrequencyCapDef): NudgeError | undefined {
	const override = def.channel?.trim();
	if (override && !(CHANNELS as readonly string[]).includes(override)) {
		return new NudgeError('INVALID_INPUT', `Channel "${override}" is not a Nudge channel; pick one of ${CHANNELS.join(', ')} or leave it empty`);
	}
	if (def.offerValue !== undefined && def.offerValue !== '' && !Number.isFinite(Number(def.offerValue))) {
		return new NudgeError('INVALID_INPUT', `Offer value must be a number (got "${def.offerValue}")`);
	}
	return undefined;
}

export = function (RED: NodeAPI) {
	function NudgeFrequencyCap(this: Node, def: FrequencyCapDef) {
		RED.nodes.createNode(this, def);
		const channel = (def.channel?.trim() || undefined) as Channel | undefined;
		const tags = (def.tags ?? '').split(',').map((t) => t.trim()).filter(Boolean);
		const message = {
			...(channel ? { channel } : {}),
			...(def.category?.trim() ? { category: def.category.trim() } : {}),
			...(tags.length ? { tags } : {}),
			...(def.offerValue !== undefined && def.offerValue !== '' ? { offerValue: Number(def.offerValue) } : {}),
			...(def.variant?.trim() ? { variant: def.variant.trim() } : {}),
		};
		handleSteps(RED, this, def, {
			outputs: 4,
			settingsError: settingsProblem(def),
			run: async (engine, msg) => {
				const current = await decisionOf(engine, msg);
				// A review verdict comes with the message: msg.review = { approve, reviewer, note }.
				const verdict = msg.review as { approve?: unknown; reviewer?: unknown; note?: unknown } | undefined;
				const decision =
					def.operation === 'review'
						? await engine.resolveReview(current, {
								approve: verdict?.approve === true,
								reviewer: typeof verdict?.reviewer === 'string' ? verdict.reviewer : '',
								note: typeof verdict?.note === 'string' ? verdict.note : undefined,
							})
						: await engine.checkCap(current, { ...message, ...(msg.message as object | undefined) });
				const output = guardOutput(decision);
				return {
					decision,
					output: GUARD_OUTPUTS.indexOf(output),
					status: decisionStatus(decision, `allowed ${decision.channel ?? ''}`.trim()),
					extra: decision.guard?.retryAt ? { retryAt: decision.guard.retryAt } : {},
				};
			},
		});
	}
	RED.nodes.registerType('nudge-frequency-cap', NudgeFrequencyCap);
};
