/** nudge-contact-data in a real Node-RED runtime: exports a contact's record and erases the contact. */
import { closeAllEngines } from '../../engine/registry';
import { catchAll, credentials, engineNodeDef, engineOf, helper, lastStatus, nextCaught, nextMessage, nodeOf, NUDGE_NODES, TAB } from './_helpers';

const flow = () => [
	...catchAll(),
	engineNodeDef(),
	{ id: 'export_node', type: 'nudge-contact-data', z: TAB, engine: 'eng1', operation: 'export', wires: [['out']] },
	{ id: 'erase_node', type: 'nudge-contact-data', z: TAB, engine: 'eng1', operation: 'erase', suppress: true, wires: [['out']] },
	{ id: 'out', type: 'helper', z: TAB },
];

beforeAll(() => helper.startServer());
afterAll(async () => {
	await helper.stopServer();
	await closeAllEngines();
});
beforeEach(() => helper.load(NUDGE_NODES, flow(), credentials()));
afterEach(() => helper.unload());

async function result(id: string, payload: unknown) {
	const out = nextMessage('out');
	nodeOf(id).receive({ payload });
	return (await out).payload as Record<string, unknown>;
}

describe('nudge-contact-data', () => {
	it('exports the record, erases the contact (suppressed), and a later event from them is never sent', async () => {
		const engine = engineOf();
		const first = await engine.decide({ type: 'track', name: 'Demo Requested', identities: { email: 'mo@example.com' }, traits: { name: 'Mo Lane' } }, { journey: 'nurture', target: { dryRun: true } });
		const record = await result('export_node', { email: 'mo@example.com' });
		expect(record).toMatchObject({ contactId: first.contactId, profile: { traits: { name: 'Mo Lane' } }, decisions: [{ decisionId: first.decisionId }] });
		expect(lastStatus('export_node')).toEqual({ fill: 'green', shape: 'dot', text: '1 decisions' });

		const receipt = await result('erase_node', { contactId: first.contactId });
		expect(receipt).toMatchObject({ found: true, suppressed: true, counts: { profiles: 1, decisions: 1 } });
		expect((await engine.getDecision(first.decisionId)).contactId).toBe(receipt.erasureId);
		const again = await engine.decide({ type: 'track', name: 'Pricing Viewed', identities: { email: 'mo@example.com' } }, { journey: 'nurture', target: { dryRun: true } });
		expect(again).toMatchObject({ status: 'suppressed', reason: 'SUPPRESSION_LIST' });
	});

	it('a request an http in node got as text (text/plain JSON) erases the person it names', async () => {
		const first = await engineOf().decide({ type: 'track', name: 'Demo Requested', identities: { email: 'text@example.com' } }, { journey: 'nurture', target: { dryRun: true } });
		const receipt = await result('erase_node', JSON.stringify({ email: 'text@example.com' }));
		expect(receipt).toMatchObject({ found: true, counts: { decisions: 1 } });
		expect((await engineOf().getDecision(first.decisionId)).contactId).toBe(receipt.erasureId);
	});

	it('a bare text that is not an email address (a contact id) is refused with what to send, not answered as an erasure', async () => {
		const first = await engineOf().decide({ type: 'track', name: 'Demo Requested', identities: { email: 'bare@example.com' } }, { journey: 'nurture', target: { dryRun: true } });
		const caught = nextCaught();
		nodeOf('erase_node').receive({ payload: first.contactId });
		expect((await caught).message).toMatch(/Cannot erase the contact: email: is not an email address \(to name the contact by its id, give contactId\)/);
		expect((await engineOf().getDecision(first.decisionId)).contactId).toBe(first.contactId);
	});

	it('an erasure that found nobody (a suppression kept) is shown as such, not as done', async () => {
		const receipt = await result('erase_node', { email: 'never-seen@example.com' });
		expect(receipt).toMatchObject({ found: false, suppressed: true });
		expect(lastStatus('erase_node')).toEqual({ fill: 'yellow', shape: 'dot', text: 'no one; suppressed' });
	});

	it('a message naming no contact is caught with what to send', async () => {
		const caught = nextCaught();
		nodeOf('erase_node').receive({ payload: { name: 'Mo' } });
		expect((await caught).message).toMatch(/Cannot erase the contact: .*name the contact by its contact id or by its email address/);
	});
});
