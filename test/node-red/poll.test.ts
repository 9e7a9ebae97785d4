/**
 * `nudge-poll` in a real Node-RED runtime against HubSpot's CRM search (nock, answering like
 * https://developers.hubspot.com/docs/api/crm/search): one message per changed contact, none on a re-check.
 */
import nock from 'nock';
import { closeAllEngines } from '../../engine/registry';
import { catchAll, credentials, engineNodeDef, helper, lastStatus, nodeOf, quietFor, recordMessages, TAB, waitUntil, withHttpCapture } from './_helpers';

const ACCESS = 'hubspot-access-value-poll';

beforeAll(() => helper.startServer());
afterAll(async () => {
	await helper.stopServer();
	await closeAllEngines();
});
afterEach(async () => {
	nock.cleanAll();
	await helper.unload();
});

function flow(poll: Record<string, unknown> = {}) {
	return [
		...catchAll(),
		engineNodeDef(),
		{ id: 'hs1', type: 'nudge-hubspot', name: 'HubSpot' },
		{ id: 'poll', type: 'nudge-poll', z: TAB, engine: 'eng1', source: 'hubspot', hubspot: 'hs1', object: 'contacts', journey: 'nurture', interval: 3600, settle: 60, wires: [['out']], ...poll },
		{ id: 'out', type: 'helper', z: TAB },
	];
}

describe('nudge-poll, HubSpot contacts', () => {
	it('sends one message per changed contact and none when checked again', async () => {
		const modified = new Date(Date.now() - 5 * 60_000).toISOString();
		const contact = (id: string, email: string) => ({ id, properties: { hs_object_id: id, email, hs_lastmodifieddate: modified }, createdAt: modified, updatedAt: modified, archived: false });
		const scope = nock('https://api.hubapi.com', { reqheaders: { authorization: `Bearer ${ACCESS}` } })
			.post('/crm/v3/objects/contacts/search')
			.times(2)
			.reply(200, { total: 2, results: [contact('901', 'ann@example.com'), contact('902', 'bo@example.com')] });
		await helper.load(withHttpCapture(), flow(), { ...credentials(), hs1: { accessToken: ACCESS, clientSecret: '' } });
		const { out } = recordMessages(['out']);
		const { engine } = nodeOf('eng1') as unknown as { engine: import('../../engine/engine').Engine };
		await engine.store.setCursor('hubspot:contacts', JSON.stringify({ at: Date.now() - 3_600_000, id: '' }), undefined);
		nodeOf('poll').receive({});
		// Node-RED delivers sent messages asynchronously: the status can say "2 new" before they arrive.
		await waitUntil(() => lastStatus('poll')?.text === '2 new' && out.length === 2, 'the first check and its two messages');
		expect(out.map((m) => (m.payload as { identities: unknown }).identities)).toEqual([
			{ hubspotId: '901', email: 'ann@example.com' },
			{ hubspotId: '902', email: 'bo@example.com' },
		]);
		expect(lastStatus('poll')).toEqual({ fill: 'green', shape: 'dot', text: '2 new' });
		nodeOf('poll').receive({});
		await waitUntil(() => lastStatus('poll')?.text === '0 new', 'the second check');
		// Long enough for a message the second check might have sent to arrive.
		await quietFor(100);
		expect(out).toHaveLength(2);
		scope.done();
	});

	it('inactivity timers: a contact that changed and then went quiet fires its timer event once', async () => {
		const modified = new Date(Date.now() - 5 * 60_000).toISOString();
		nock('https://api.hubapi.com')
			.post('/crm/v3/objects/contacts/search')
			.times(2)
			.reply(200, { total: 1, results: [{ id: '903', properties: { hs_object_id: '903', email: 'cal@example.com', hs_lastmodifieddate: modified }, createdAt: modified, updatedAt: modified, archived: false }] });
		const timers = JSON.stringify([{ start: 'Contact Changed', cancel: ['Deal Created'], minutes: 1, fire: 'Contact Went Quiet' }]);
		await helper.load(withHttpCapture(), flow({ timers }), { ...credentials(), hs1: { accessToken: ACCESS, clientSecret: '' } });
		const { out } = recordMessages(['out']);
		const { engine } = nodeOf('eng1') as unknown as { engine: import('../../engine/engine').Engine };
		await engine.store.setCursor('hubspot:contacts', JSON.stringify({ at: Date.now() - 3_600_000, id: '' }), undefined);
		nodeOf('poll').receive({});
		await waitUntil(() => out.length === 2, 'the change and its timer');
		expect(out.map((m) => (m.payload as { name: string }).name)).toEqual(['Contact Changed', 'Contact Went Quiet']);
		nodeOf('poll').receive({});
		await waitUntil(() => lastStatus('poll')?.text === '0 new', 'the second check');
		expect(out).toHaveLength(2);
	});

	it('refuses timers that are not valid and says why', async () => {
		await helper.load(withHttpCapture(), flow({ timers: '[{"start": "Contact Changed"}]' }), { ...credentials(), hs1: { accessToken: ACCESS, clientSecret: '' } });
		expect(lastStatus('poll')).toMatchObject({ fill: 'red' });
		expect(String(nodeOf('poll').error.getCalls().at(-1)?.args[0])).toMatch(/Inactivity timer settings are not valid: 0\.cancel/);
	});

	it('refuses timers that would start the policy’s timers of its journey in a cycle', async () => {
		const policy = JSON.stringify({ channelOrder: ['email'], journeys: { nurture: { timers: [{ start: 'Contact Went Quiet', cancel: ['Deal Created'], minutes: 60, fire: 'Contact Changed' }] } } });
		const timers = JSON.stringify([{ start: 'Contact Changed', cancel: ['Deal Created'], minutes: 1, fire: 'Contact Went Quiet' }]);
		await helper.load(withHttpCapture(), [...flow({ timers }).filter((n) => n.type !== 'nudge-engine'), engineNodeDef({ policy })], { ...credentials(), hs1: { accessToken: ACCESS, clientSecret: '' } });
		expect(lastStatus('poll')).toMatchObject({ fill: 'red' });
		expect(String(nodeOf('poll').error.getCalls().at(-1)?.args[0])).toContain(
			"Inactivity timer settings are not valid: (root): with the policy's journeys.nurture.timers, timers form a cycle: Contact Changed → Contact Went Quiet → Contact Changed",
		);
	});

	it('refuses a "Read behind" that is not a number at deploy, like "Check every" (it would read no change yet say "0 new")', async () => {
		await helper.load(withHttpCapture(), flow({ settle: '1 min' }), { ...credentials(), hs1: { accessToken: ACCESS, clientSecret: '' } });
		expect(lastStatus('poll')).toEqual({ fill: 'red', shape: 'dot', text: 'invalid input' });
		expect(String(nodeOf('poll').error.getCalls().at(-1)?.args[0])).toBe('Read behind must be a number of seconds, 0 or more (got "1 min")');
	});

	it('shows a red status and names the problem when the HubSpot config has no token', async () => {
		await helper.load(withHttpCapture(), flow(), { ...credentials(), hs1: { accessToken: '', clientSecret: '' } });
		expect(lastStatus('poll')).toMatchObject({ fill: 'red' });
		expect(String(nodeOf('poll').error.getCalls().at(-1)?.args[0])).toMatch(/no private app access token/);
	});
});
