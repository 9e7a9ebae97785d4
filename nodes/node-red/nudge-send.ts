/**
 * `nudge-send`: delivers a decision that passed Frequency Cap to a webhook, once per decision
 * (the decision id is the idempotency key). Outputs: sent, failed.
 */
import type { NodeAPI, Node, NodeMessage } from 'node-red';
import { checkWebhookUrl, type ClosableSender, createSender, type HubSpotAction, NudgeError, routeSend, type SalesforceAction } from '../../engine';
import { decisionOf, decisionStatus, handleSteps, linkEngine, messageOptions, NudgeNodeDef } from './shared/adapter';
import { guardOptionsOf, SEND_NOT_FROM_EVENT } from '../../engine/items';
import { hubspotAuthOf, salesforceSettingsOf, vendorConfig, vendorField } from './shared/vendors';

interface SendDef extends NudgeNodeDef {
	url?: string;
	/** Seconds per attempt. */
	timeout?: string | number;
	/** Sign each request with the engine's signing secret (X-Nudge-Signature). */
	sign?: boolean;
	/** e.g. "transactional": sent without a Frequency Cap slot when the policy's sendWithoutCapCheck lists it. */
	category?: string;
	/** webhook (default), segment, hubspot or salesforce. */
	provider?: 'webhook' | 'segment' | 'hubspot' | 'salesforce';
	segment?: string;
	hubspot?: string;
	salesforce?: string;
	hubspotAction?: HubSpotAction;
	salesforceAction?: SalesforceAction;
	campaignId?: string;
	memberStatus?: string;
	emailId?: string | number;
	ownerId?: string;
	subject?: string;
}

/** The provider's sender, built from the node's settings and its Segment / HubSpot config node. */
function providerSender(RED: NodeAPI, def: SendDef): ClosableSender {
	if (def.provider === 'segment') {
		const host = (vendorConfig(RED, def.segment) as { host?: string } | undefined)?.host;
		return createSender({ provider: 'segment', writeKey: vendorField(RED, def.segment, 'writeKey'), host });
	}
	if (def.provider === 'salesforce') {
		return createSender({ provider: 'salesforce', settings: salesforceSettingsOf(RED, def.salesforce), action: def.salesforceAction ?? 'task', campaignId: def.campaignId?.trim(), memberStatus: def.memberStatus?.trim(), ownerId: def.ownerId?.trim(), subject: def.subject });
	}
	return createSender({ provider: 'hubspot', auth: hubspotAuthOf(RED, def.hubspot), action: def.hubspotAction ?? 'task', emailId: Number(def.emailId) || undefined, ownerId: def.ownerId, subject: def.subject });
}

function settingsProblem(def: SendDef, signingSecret: string): NudgeError | undefined {
	try {
		checkWebhookUrl(def.url?.trim() ?? '');
	} catch (error) {
		return error as NudgeError;
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

/** The message category: the node's setting, else msg.message.category (messageOptions; the rest of msg.message is not Send's). */
function categoryOf(node: Node, def: SendDef, msg: NodeMessage): { category?: string } {
	const fromMsg = (msg.message as { category?: unknown } | undefined)?.category;
	const { category } = messageOptions(node, guardOptionsOf({ category: def.category }), { category: typeof fromMsg === 'string' ? fromMsg : undefined });
	return category ? { category } : {};
}

export = function (RED: NodeAPI) {
	function NudgeSend(this: Node, def: SendDef) {
		RED.nodes.createNode(this, def);
		const { signingSecret } = linkEngine(RED, def.engine);
		if (def.provider === 'segment' || def.provider === 'hubspot' || def.provider === 'salesforce') {
			const sender = providerSender(RED, def);
			let problem: NudgeError | undefined;
			try {
				sender.check?.();
			} catch (error) {
				problem = error as NudgeError;
			}
			handleSteps(RED, this, def, {
				outputs: 2,
				settingsError: problem,
				run: async (engine, msg) => {
					const decision = await engine.send(await decisionOf(engine, msg, SEND_NOT_FROM_EVENT), { sender }, categoryOf(this, def, msg));
					return { ...routeSend(decision), status: decisionStatus(decision, 'sending') };
				},
			});
			// Segment queues events: flush them when the flow stops.
			this.on('close', (_removed: boolean, done: () => void) => void (sender.close?.() ?? Promise.resolve()).then(() => done(), () => done()));
			return;
		}
		const target = {
			url: def.url?.trim() ?? '',
			timeoutMs: Number(def.timeout ?? 10) * 1000,
			...(def.sign ? { secret: signingSecret } : {}),
		};
		handleSteps(RED, this, def, {
			outputs: 2,
			settingsError: settingsProblem(def, signingSecret),
			run: async (engine, msg) => {
				const decision = await engine.send(await decisionOf(engine, msg, SEND_NOT_FROM_EVENT), target, categoryOf(this, def, msg));
				return { ...routeSend(decision), status: decisionStatus(decision, 'sending') };
			},
		});
	}
	RED.nodes.registerType('nudge-send', NudgeSend);
};
