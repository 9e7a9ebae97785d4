/** Nudge Contact Data inside n8n's WorkflowExecute: export a contact's record, erase it, and an item naming none. */
import type { IDataObject } from 'n8n-workflow';
import { closeAllEngines } from '../../engine/registry';
import { fixture } from './fixtures';
import { nudgeNode, runWorkflow, type WorkflowJson } from './harness';

afterAll(closeAllEngines);

async function run(f: ReturnType<typeof fixture>, parameters: IDataObject, input: IDataObject[], extra = {}) {
	const wf: WorkflowJson = { nodes: [nudgeNode('Contact Data', 'nudgeContactData', parameters, extra)], connections: {} };
	return runWorkflow({ workflow: wf, startNode: 'Contact Data', input: [input.map((json) => ({ json }))], credentials: f.credentials });
}

describe('Nudge Contact Data', () => {
	it('exports each item’s contact by email, then erases one by contact id: its decisions stay, under a pseudonym', async () => {
		const f = fixture();
		const ids: string[] = [];
		for (const email of ['ivy@example.com', 'jo@example.com']) {
			ids.push((await f.engine.decide({ type: 'track', name: 'Demo Requested', identities: { email } }, { journey: 'nurture', target: { dryRun: true } })).contactId);
		}
		const exported = await run(f, { operation: 'export' }, [{ email: 'ivy@example.com' }, { email: 'jo@example.com' }]);
		expect(exported.error).toBeUndefined();
		expect(exported.output('Contact Data').map((r) => [r.contactId, (r.profile as IDataObject).email, (r.decisions as unknown[]).length])).toEqual([
			[ids[0], 'ivy@example.com', 1],
			[ids[1], 'jo@example.com', 1],
		]);

		const erased = await run(f, { operation: 'erase', findBy: 'contactId' }, [{ contactId: ids[0] }]);
		const [receipt] = erased.output('Contact Data');
		expect(receipt).toMatchObject({ found: true, suppressed: false, counts: { profiles: 1, decisions: 1 } });
		expect(await f.engine.store.getProfile(ids[0])).toBeUndefined();
		expect(await f.engine.queryDecisions({ contactId: String(receipt.erasureId) })).toHaveLength(1);
		expect((await f.engine.store.getProfile(ids[1]))?.email).toBe('jo@example.com');
	});

	it('an item without the contact fails with what to map; with Continue On Fail it becomes an error item', async () => {
		const f = fixture();
		const failed = await run(f, { operation: 'erase' }, [{ name: 'Ivy' }]);
		expect(failed.error?.message).toMatch(/Cannot erase the contact: email: give an email address/);
		const continued = await run(f, { operation: 'export' }, [{ email: 'nobody@example.com' }], { onError: 'continueRegularOutput' });
		expect(continued.output('Contact Data')).toEqual([{ error: 'No contact has the email address nobody@example.com' }]);
	});
});
