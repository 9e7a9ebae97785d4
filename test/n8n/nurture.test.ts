/**
 * The "Nudge — Lead nurture" template (flows/n8n/nurture.json) run end to end: signed webhook → Nudge
 * Trigger → Score → Choose Channel → Frequency Cap → Send → Log Decision, inside WorkflowExecute, with the
 * Send step posting to a real local endpoint. The assertions read the engine's decision log.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IDataObject } from 'n8n-workflow';
import type { Decision } from '../../engine/audit/schema';
import { verifySignedRequest } from '../../engine/events/signature';
import { closeAllEngines } from '../../engine/registry';
import { anaEvent, benEvent, caraEvent, danEvent, fixture, SECRET, SendTarget, trigger, type Fixture } from './fixtures';
import { callWebhook, runWorkflow, signed, type WorkflowJson } from './harness';

const TEMPLATE = join(__dirname, '../../flows/n8n/nurture.json');

const target = new SendTarget();
let url = '';

beforeAll(async () => {
	url = await target.start();
	target.answer = (body) => ((body.contact as IDataObject).email === 'dan@example.com' ? 400 : 200);
});

afterAll(async () => {
	await target.stop();
	await closeAllEngines();
});

/** The template as n8n would import it, with Send pointed at the local endpoint. */
function template(): WorkflowJson & IDataObject {
	const json = JSON.parse(readFileSync(TEMPLATE, 'utf8')) as WorkflowJson & IDataObject;
	json.nodes.find((node) => node.type === 'n8n-nodes-nudge.nudgeSend')!.parameters.url = url;
	return json;
}

/** Decisions in the log, by the email of their contact. */
async function logByEmail(f: Fixture): Promise<Record<string, Decision[]>> {
	const byEmail: Record<string, Decision[]> = {};
	for (const decision of await f.engine.queryDecisions({ journey: 'nurture' })) {
		const email = (await f.engine.getProfile(decision.contactId))?.email ?? '?';
		(byEmail[email] ??= []).push(decision);
	}
	return byEmail;
}

describe('flows/n8n/nurture.json', () => {
	it('is an importable n8n workflow that uses the package’s node types', () => {
		const json = template();
		expect(json.name).toBe('Nudge — Lead nurture');
		expect(json.id).toBeUndefined();
		expect(json.settings).toEqual({ executionOrder: 'v1' });
		const nudgeNodes = json.nodes.filter((node) => node.type.startsWith('n8n-nodes-nudge.'));
		expect(new Set(nudgeNodes.map((node) => node.type))).toEqual(
			new Set(['nudgeTrigger', 'nudgeScore', 'nudgeChooseChannel', 'nudgeFrequencyCap', 'nudgeSend', 'nudgeLogDecision'].map((name) => `n8n-nodes-nudge.${name}`)),
		);
		for (const node of nudgeNodes) expect(node.credentials).toEqual({ nudgeEngineApi: { name: 'Nudge Engine' } });
		const trigger = json.nodes.find((node) => node.type === 'n8n-nodes-nudge.nudgeTrigger')!;
		expect(trigger.webhookId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
		const note = json.nodes.find((node) => node.type === 'n8n-nodes-base.stickyNote');
		expect(String(note?.parameters.content)).toMatch(/Frequency Cap/);
		// Every way out of the journey that does not send ends in a Log Decision node.
		const logNodes = new Set(json.nodes.filter((node) => node.type === 'n8n-nodes-nudge.nudgeLogDecision').map((node) => node.name));
		const targetOf = (from: string, output: number) => json.connections[from].main[output]!.map((edge) => edge.node);
		expect(logNodes.has(targetOf('Choose Channel', 6)[0])).toBe(true);
		for (const output of [1, 2, 3]) expect(logNodes.has(targetOf('Frequency Cap', output)[0])).toBe(true);
		expect(logNodes.has(targetOf('Send', 0)[0])).toBe(true);
		expect(logNodes.has(targetOf('Send', 1)[0])).toBe(true);
	});

	it('runs the journey for scripted contacts and leaves a complete, explained decision log', async () => {
		const f = fixture();
		const wf = template();
		const anaFirst = anaEvent('Pricing Viewed', 'crm-ana-1');
		const events = [anaFirst, benEvent('crm-ben-1'), caraEvent('crm-cara-1'), anaEvent('Demo Requested', 'crm-ana-2'), danEvent('crm-dan-1')];
		const input = await trigger(f, wf, events);
		expect(input[0]).toHaveLength(5);

		const result = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input, credentials: f.credentials, mode: 'webhook' });
		expect(result.error).toBeUndefined();
		expect(result.run.status).toBe('success');
		expect(new Set(result.order)).toEqual(new Set(['Nudge Trigger', 'Score Lead', 'Choose Channel', 'Frequency Cap', 'Send', 'Log Decision', 'Log Suppressed']));

		// A retried delivery of the first event is dropped by the trigger and starts nothing.
		const retryBody = JSON.stringify(anaFirst);
		const retry = await callWebhook({ workflow: wf, nodeName: 'Nudge Trigger', rawBody: retryBody, headers: signed(SECRET, retryBody), credentials: f.credentials });
		expect(retry.body).toEqual({ accepted: 0, duplicates: 1, decisionIds: [] });

		const log = await logByEmail(f);
		const [anaSent, anaCapped, anaDuplicate] = log['ana@example.com'];
		expect(anaSent).toMatchObject({ status: 'sent', channel: 'email', annotations: { template: 'nurture', result: 'sent' } });
		// Both of ana's events were taken in before scoring, so both decisions score the same profile:
		// base 10 + demo 40 + pricing 20 + senior title 15 + company size 10.
		expect(anaSent.score).toMatchObject({ value: 95, tier: 'hot' });
		expect(anaSent.score!.factors.map((factor) => factor.label)).toContain('Requested a demo');
		expect(anaSent.trail.map((step) => step.stage)).toEqual(['ingest', 'score', 'choose', 'guard', 'send', 'log']);
		expect(anaCapped).toMatchObject({ status: 'suppressed', reason: 'FREQUENCY_CAP', ruleId: 'email-daily', annotations: { result: 'not sent' } });
		expect(anaCapped.score).toMatchObject({ value: 95, tier: 'hot' });
		expect(anaDuplicate).toMatchObject({ status: 'suppressed', reason: 'DUPLICATE_EVENT' });
		// No flow sees a retried delivery, so the engine finalises it when it answers the trigger.
		expect(anaDuplicate.loggedAt).toBeDefined();

		expect(log['ben@example.com']).toEqual([expect.objectContaining({ status: 'sent', channel: 'sms' })]);
		expect(log['cara@example.com']).toEqual([expect.objectContaining({ status: 'suppressed', reason: 'NO_ELIGIBLE_CHANNEL' })]);
		expect(log['dan@example.com']).toEqual([
			expect.objectContaining({ status: 'failed', reason: 'SEND_FAILED', delivery: expect.objectContaining({ httpStatus: 400 }) }),
		]);

		// Every decision the journey made was finalised by a Log Decision node, sent or not.
		const made = Object.values(log).flat().filter((decision) => decision.reason !== 'DUPLICATE_EVENT');
		expect(made).toHaveLength(5);
		expect(made.filter((decision) => !decision.loggedAt)).toEqual([]);

		// The sending tool got exactly the messages that were allowed, each signed with the credential's secret.
		expect(target.received.map((request) => (request.body.contact as IDataObject).email).sort()).toEqual(['ana@example.com', 'ben@example.com', 'dan@example.com']);
		for (const request of target.received) {
			expect(() => verifySignedRequest(SECRET, request.rawBody, request.headers as Record<string, unknown>)).not.toThrow();
		}
	});
});
