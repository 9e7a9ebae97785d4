/**
 * The Nudge Poll Trigger's hand-out record (59a9e2f, abd181b) as n8n runs the node: a record in the store that is
 * not the object the node writes must not stop every later check of the workflow.
 */
import { PollContext } from 'n8n-core';
import type { IDataObject, INodeType, Workflow } from 'n8n-workflow';
import { closeAllEngines } from '../../engine/registry';
import { fixture } from './fixtures';
import { additionalData, buildWorkflow, nodeTypes, nudgeNode } from './harness';

afterAll(async () => {
	await closeAllEngines();
});

const timersWorkflow = (staticData?: IDataObject) => buildWorkflow({ nodes: [nudgeNode('Timers', 'nudgePollTrigger', { source: 'timers' }, { id: 'timers-node' })], connections: {} }, staticData);
const check = (f: ReturnType<typeof fixture>, workflow: Workflow) => {
	const node = Object.values(workflow.nodes)[0];
	return (nodeTypes.getByNameAndVersion(node.type, 1) as INodeType).poll!.call(new PollContext(workflow, node, additionalData(f.credentials), 'trigger', 'activate'));
};

describe('Nudge Poll Trigger, a corrupt hand-out record', () => {
	it('a record that reads as JSON null does not fail every check of the workflow (unparsable JSON does not)', async () => {
		const f = fixture();
		// The workflow's static data as n8n keeps it after a check it took (abd181b: by node id, in the workflow's own).
		const workflow = timersWorkflow({ global: { nudgeHandouts: { 'timers-node': { instance: 'inst-1', token: 'tok-1' } } } });
		// The record of that instance in the store, damaged (a restore, a hand edit, another tool writing cursors).
		await f.engine.store.setCursor('handout:wf-test/timers-node:inst-1', 'not json', undefined);
		expect(await check(f, workflow)).toBeNull();
		expect(await f.engine.store.setCursor('handout:wf-test/timers-node:inst-1', 'null', 'not json')).toBe(true);
		// Nothing is due: the check has nothing to hand out, and must not throw at every poll from now on.
		await expect(check(f, workflow)).resolves.toBeNull();
		await expect(check(f, workflow)).resolves.toBeNull();
	});
});
