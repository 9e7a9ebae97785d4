/**
 * One n8n worker process of test/n8n/twoProcess.test.ts: loads the nurture template, and for each event
 * it is given runs the Nudge Trigger's webhook and then the workflow in n8n-core's WorkflowExecute, as a
 * queue-mode process does, on the shared store named in the credential. Started with test/helpers/tsChild.js.
 * parent → config ; worker → ready ; parent → go ; worker → done (with what each delivery got back).
 */
import { readFileSync } from 'node:fs';
import type { IDataObject } from 'n8n-workflow';
import { closeAllEngines } from '../../engine/registry';
import { callWebhook, runWorkflow, signed, type WorkflowJson } from './harness';

export interface TwoProcessConfig {
	template: string;
	store: string;
	policy: string;
	secret: string;
	sinkUrl: string;
	events: IDataObject[];
	/** Executions in flight at once (n8n worker concurrency). */
	concurrency: number;
}

export interface Delivery {
	eventId: string;
	/** The trigger's HTTP answer to the sender. */
	status: number;
	body: unknown;
	/** How the execution ended ("success", "error"…), when the trigger started one. */
	run?: string;
	error?: string;
}

export type TwoProcessMessage = { type: 'ready' } | { type: 'done'; deliveries: Delivery[] } | { type: 'fatal'; error: string };

async function work(config: TwoProcessConfig): Promise<Delivery[]> {
	const workflow = JSON.parse(readFileSync(config.template, 'utf8')) as WorkflowJson;
	const triggerNode = workflow.nodes.find((node) => node.type === 'n8n-nodes-nudge.nudgeTrigger');
	if (!triggerNode) throw new Error(`${config.template} has no Nudge Trigger`);
	for (const node of workflow.nodes) if (node.type === 'n8n-nodes-nudge.nudgeSend') node.parameters.url = config.sinkUrl;
	const credentials = { nudgeEngineApi: { store: config.store, policy: config.policy, signingSecret: config.secret } };
	process.send!({ type: 'ready' } satisfies TwoProcessMessage);
	await new Promise<void>((resolve) => process.once('message', () => resolve()));

	const deliveries: Delivery[] = [];
	let next = 0;
	await Promise.all(
		Array.from({ length: config.concurrency }, async () => {
			while (next < config.events.length) {
				const event = config.events[next++];
				const rawBody = JSON.stringify(event);
				const call = await callWebhook({ workflow, nodeName: triggerNode.name, rawBody, headers: signed(config.secret, rawBody), credentials });
				const delivery: Delivery = { eventId: String(event.eventId), status: call.status, body: call.body };
				if (call.result.workflowData) {
					const result = await runWorkflow({ workflow, startNode: triggerNode.name, input: call.result.workflowData, credentials, mode: 'webhook' });
					delivery.run = result.run.status;
					if (result.error) delivery.error = result.error.message;
				}
				deliveries.push(delivery);
			}
		}),
	);
	await closeAllEngines();
	return deliveries;
}

process.once('message', (config: TwoProcessConfig) => {
	work(config).then(
		(deliveries) => process.send!({ type: 'done', deliveries } satisfies TwoProcessMessage, () => process.exit(0)),
		(error: Error) => process.send!({ type: 'fatal', error: String(error.stack ?? error) } satisfies TwoProcessMessage, () => process.exit(1)),
	);
});
