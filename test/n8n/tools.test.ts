/**
 * Nudge's AI-agent tools through n8n's own tool path (n8n-core getInputConnectionData → createNodeAsTool):
 * the input schema n8n derives from the `$fromAI()` defaults, calls with the model's arguments, and calls
 * with missing or extra arguments.
 */
import type { IDataObject } from 'n8n-workflow';
import { NodeHelpers } from 'n8n-workflow';
import { NudgeRecordOutcome } from '../../nodes/n8n/NudgeRecordOutcome/NudgeRecordOutcome.node';
import { closeAllEngines } from '../../engine/registry';
import { anaEvent, fixture } from './fixtures';
import { runAgent, schemaKeys, toolNode, toolVariant } from './toolHarness';

afterAll(async () => {
	await closeAllEngines();
});

describe('Nudge Record Outcome as a tool', () => {
	it('asks the model for the decision, the outcome and its value, and records it once', async () => {
		const f = fixture();
		const { decision } = await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		await f.engine.chooseChannel(decision);
		const run = await runAgent({
			tools: [toolNode(new NudgeRecordOutcome(), 'Record Outcome')],
			calls: [
				{ tool: 'Record_Outcome', args: { decisionId: decision.decisionId, outcome: 'revenue', value: 120 } },
				{ tool: 'Record_Outcome', args: { decisionId: decision.decisionId, outcome: 'revenue', value: 120 } },
			],
			credentials: f.credentials,
		});

		expect(run.tools.map((t) => t.name)).toEqual(['Record_Outcome']);
		expect(schemaKeys(run.tools[0].schema)).toEqual({ all: ['decisionId', 'outcome', 'value'], required: ['decisionId', 'outcome'] });
		expect(run.tools[0].description).toMatch(/Records what happened after a message/);
		expect(run.results[0].result).toEqual([{ decisionId: decision.decisionId, contactId: decision.contactId, status: 'pending', duplicate: false, explanation: expect.any(String) }]);
		expect((run.results[1].result as IDataObject[])[0].duplicate).toBe(true);
		const stored = await f.engine.getDecision(decision.decisionId);
		expect(stored.outcomes.map((o) => [o.type, o.value])).toEqual([['revenue', 120]]);
	});

	it('tells the model which argument is missing, and what a wrong one should be; nothing is recorded', async () => {
		const f = fixture();
		const { decision } = await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const run = await runAgent({
			tools: [toolNode(new NudgeRecordOutcome(), 'Record Outcome')],
			calls: [
				{ tool: 'Record_Outcome', args: { outcome: 'click' } },
				{ tool: 'Record_Outcome', args: { decisionId: decision.decisionId, outcome: 'liked it' } },
				{ tool: 'Record_Outcome', args: { decisionId: 'd_nope', outcome: 'click' } },
				{ tool: 'Record_Outcome', args: { decisionId: decision.decisionId, outcome: 'click', channel: 'sms', sendNow: true } },
			],
			credentials: f.credentials,
		});

		// Missing: n8n's schema refuses the call before the node runs, naming the argument.
		expect(run.results[0].error).toMatch(/decisionId/);
		expect(run.results[0].error).toMatch(/Required/);
		expect((run.results[1].result as IDataObject[])[0]).toMatchObject({ error: expect.stringMatching(/"liked it" is not one Nudge records; use one of click, complaint, conversion/) });
		expect((run.results[2].result as IDataObject[])[0]).toMatchObject({ error: expect.stringMatching(/d_nope is not in this engine's decision log/), details: { code: 'UNKNOWN_DECISION' } });
		// Extra arguments are not part of the tool: n8n's schema drops them, and the call does only what it declares.
		expect((run.results[3].result as IDataObject[])[0]).toMatchObject({ decisionId: decision.decisionId, duplicate: false });
		const stored = await f.engine.getDecision(decision.decisionId);
		expect(stored.outcomes.map((o) => o.type)).toEqual(['click']);
	});

	it('keeps the regular node reading the incoming item: no tool parameter appears outside tool mode', () => {
		const base = new NudgeRecordOutcome();
		const regular = NodeHelpers.getNodeParameters(base.description.properties, {}, true, false, null, base.description) as IDataObject;
		expect(regular).toMatchObject({ matchBy: 'decisionId', decisionId: '={{ $json.decisionId }}', outcomeType: 'click' });
		expect(JSON.stringify(regular)).not.toMatch(/\$fromAI/);
		const tool = toolVariant(base);
		const asTool = NodeHelpers.getNodeParameters(tool.description.properties, {}, true, false, null, tool.description) as IDataObject;
		expect(asTool.decisionId).toMatch(/^=\{\{ \$fromAI\('decisionId'/);
		expect(asTool.outcomeType).toMatch(/^=\{\{ \$fromAI\('outcome'/);
	});
});
