/**
 * `nudge-send`: delivers a decision that passed Frequency Cap to a webhook, once per decision
 * (the decision id is the idempotency key). Outputs: sent, failed.
 */
import type { NodeAPI, Node } from 'node-red';
import { NudgeError } from '../../engine/errors';
import { decisionOf, decisionStatus, handleSteps, linkEngine, NudgeNodeDef } from './shared/adapter';

interface SendDef extends NudgeNodeDef {
	url?: string;
	/** Seconds per attempt. */
	timeout?: string | number;
	/** Sign each request with the engine's signing secret (X-Nudge-Signature). */
	sign?: boolean;
}

function settingsProblem(def: SendDef, signingSecret: string): NudgeError | undefined {
	const url = def.url?.trim() ?? '';
	let parsed: URL | undefined;
	try {
		parsed = new URL(url);
	} catch {
		parsed = undefined;
	}
	if (!parsed || !/^https?:$/.test(parsed.protocol)) {
		return new NudgeError('INVALID_INPUT', `The Send node needs a web address starting with http:// or https:// (got "${url}")`);
	}
	const timeout = Number(def.timeout ?? 10);
	if (!Number.isFinite(timeout) || timeout <= 0) {
		return new NudgeError('INVALID_INPUT', `Timeout must be a number of seconds above 0 (got "${def.timeout}")`);
	}
	if (def.sign && !signingSecret) {
		return new NudgeError('INVALID_INPUT', '"Sign requests" is on but the Nudge Engine has no signing secret: set one in the engine settings or turn signing off');
	}
	return undefined;
}

export = function (RED: NodeAPI) {
	function NudgeSend(this: Node, def: SendDef) {
		RED.nodes.createNode(this, def);
		const { signingSecret } = linkEngine(RED, def.engine);
		const target = {
			url: def.url?.trim() ?? '',
			timeoutMs: Number(def.timeout ?? 10) * 1000,
			...(def.sign ? { secret: signingSecret } : {}),
		};
		handleSteps(RED, this, def, {
			outputs: 2,
			settingsError: settingsProblem(def, signingSecret),
			run: async (engine, msg) => {
				const decision = await engine.send(await decisionOf(engine, msg), target);
				return { decision, output: decision.status === 'sent' ? 0 : 1, status: decisionStatus(decision, 'sending') };
			},
		});
	}
	RED.nodes.registerType('nudge-send', NudgeSend);
};
