/**
 * Nudge Due Trigger, run by n8n-core's TriggerContext: each due decision of its journey is an execution of
 * its own, the regular check is on n8n's side of the node (an interval it clears on close), and settings
 * a marketer can get wrong are refused with the field and the limit.
 */
import { TriggerContext } from 'n8n-core';
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';
import { waitTimer } from '../../engine/guard/waits';
import { RETENTION_REPORT_KEY } from '../../engine/privacy/retention';
import { closeAllEngines } from '../../engine/registry';
import { anaEvent, benEvent, fixture } from './fixtures';
import { additionalData, buildWorkflow, nodeTypes, nudgeNode } from './harness';

afterAll(() => closeAllEngines());

async function start(parameters: IDataObject, f = fixture(), mode: 'trigger' | 'manual' = 'trigger') {
	const node = nudgeNode('Decisions Due', 'nudgeDueTrigger', parameters);
	const workflow = buildWorkflow({ nodes: [node], connections: {} });
	const executions: INodeExecutionData[][][] = [];
	const context = new TriggerContext(workflow, node, additionalData(f.credentials), mode, 'activate', (data) => executions.push(data));
	const response = await nodeTypes.getByNameAndVersion(node.type, node.typeVersion).trigger!.call(context);
	return { f, executions, response: response! };
}

describe('Nudge Due Trigger', () => {
	it('starts one execution per due decision of its journey, on its interval, and stops on close', async () => {
		const f = fixture();
		// Two decisions of the journey and one of another, made to wait until a moment ago.
		const [a, b] = await Promise.all([f.engine.ingest(anaEvent(), { journey: 'nurture' }), f.engine.ingest(benEvent(), { journey: 'nurture' })]);
		const other = await f.engine.ingest(anaEvent(), { journey: 'winback' });
		for (const { decision } of [a, b, other]) {
			await f.engine.store.putDecision({ ...decision, status: 'delayed' });
			await f.engine.store.scheduleTimer(waitTimer(decision, Date.now() - 1000));
		}
		const { executions, response } = await start({ journey: 'nurture', intervalSeconds: 1 }, f);
		try {
			const deadline = Date.now() + 5000;
			while (executions.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
			expect(executions.map((e) => e.length)).toEqual([1, 1]);
			expect(executions.map((e) => e[0][0].json.decisionId).sort()).toEqual([a.decision.decisionId, b.decision.decisionId].sort());
			expect(executions[0][0][0].json.decision).toMatchObject({ status: 'delayed', journey: 'nurture' });
		} finally {
			await response.closeFunction!();
		}
		// Closed: nothing more is taken (the other journey's decision waits for its own trigger).
		await new Promise((r) => setTimeout(r, 1300));
		expect(executions).toHaveLength(2);
		expect((await f.engine.store.takeDueTimers(Date.now(), 10, 60_000, 'wait:winback')).map((t) => t.body)).toEqual([waitTimer(other.decision, 0).body]);
	});

	it('runs the store\'s retention job in the background when due: a decision past retention.decisions goes, the report is kept', async () => {
		const f = fixture();
		const { decision } = await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const old = { ...decision, decisionId: `${decision.decisionId}old`, createdAt: new Date(Date.now() - 500 * 86_400_000).toISOString() };
		await f.engine.store.putDecision(old);
		const { response } = await start({ journey: 'nurture', intervalSeconds: 1 }, f);
		try {
			const deadline = Date.now() + 5000;
			while ((await f.engine.store.getDecision(old.decisionId)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
			expect(await f.engine.store.getDecision(old.decisionId)).toBeUndefined();
			expect(await f.engine.store.getDecision(decision.decisionId)).toBeDefined();
			expect(JSON.parse((await f.engine.store.getCursor(RETENTION_REPORT_KEY))!)).toMatchObject({ dryRun: false, counts: { decisions: 1 } });
		} finally {
			await response.closeFunction!();
		}
	});

	it.each([
		[{ journey: ' ', intervalSeconds: 30 }, /Journey is empty: enter the journey set on this workflow’s Nudge Trigger/],
		[{ journey: 'nurture', intervalSeconds: 0 }, /Check Every \(Seconds\) must be from 1 to 3600, not 0/],
		[{ journey: 'nurture', intervalSeconds: 86_400 }, /Check Every \(Seconds\) must be from 1 to 3600, not 86400/],
	])('refuses %j with a message naming the setting', async (parameters, message) => {
		await expect(start(parameters)).rejects.toThrow(message);
	});
});
