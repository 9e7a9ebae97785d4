/**
 * `nudge due` in a real Node-RED runtime: one message per due decision of its journey (a check on each input
 * and on its interval), none for a decision not yet due or of another journey; a setting out of range is a
 * red status and an error naming it.
 */
import { waitTimer } from '../../engine/guard/waits';
import { RETENTION_REPORT_KEY } from '../../engine/privacy/retention';
import { closeAllEngines } from '../../engine/registry';
import { credentials, engineNodeDef, engineOf, helper, lastStatus, nodeOf, quietFor, recordMessages, segmentEvent, TAB, waitUntil, withHttpCapture } from './_helpers';

beforeAll(() => helper.startServer());
afterAll(async () => {
	await helper.stopServer();
	await closeAllEngines();
});
afterEach(() => helper.unload());

function flow(due: Record<string, unknown> = {}) {
	return [
		engineNodeDef(),
		{ id: 'due', type: 'nudge-due', z: TAB, engine: 'eng1', journey: 'nurture', interval: 3600, wires: [['out']], ...due },
		{ id: 'out', type: 'helper', z: TAB },
	];
}

/** A decision of `journey` delayed until `dueAt`. */
async function waiting(journey: string, dueAt: number) {
	const engine = engineOf();
	const { decision } = await engine.ingest(segmentEvent(), { journey });
	await engine.store.putDecision({ ...decision, status: 'delayed' });
	await engine.store.scheduleTimer(waitTimer(decision, dueAt));
	return decision;
}

describe('nudge-due', () => {
	it('sends each due decision of its journey once, as its own message', async () => {
		await helper.load(withHttpCapture(), flow(), credentials());
		const { out } = recordMessages(['out']);
		const due = [await waiting('nurture', Date.now() - 1000), await waiting('nurture', Date.now() - 500)];
		await waiting('nurture', Date.now() + 3_600_000);
		await waiting('cart-abandonment', Date.now() - 1000);
		nodeOf('due').receive({ payload: 'check' });
		await waitUntil(() => out.length === 2, 'the two due decisions');
		expect(out.map((m) => (m.decision as { decisionId: string }).decisionId)).toEqual(due.map((d) => d.decisionId));
		expect(out.every((m) => (m.decision as { status: string }).status === 'delayed')).toBe(true);
		nodeOf('due').receive({ payload: 'check' });
		await quietFor(300);
		expect(out).toHaveLength(2);
		expect(lastStatus('due')?.text).toBe('2 due');
	});

	it('the engine config node runs the store\'s retention job when due: a decision past retention.decisions goes, the report is kept', async () => {
		await helper.load(withHttpCapture(), flow(), credentials());
		const engine = engineOf();
		const { decision } = await engine.ingest(segmentEvent(), { journey: 'nurture' });
		const old = { ...decision, decisionId: `${decision.decisionId}old`, createdAt: new Date(Date.now() - 500 * 86_400_000).toISOString() };
		await engine.store.putDecision(old);
		await engine.store.sync();
		await waitUntil(async () => !(await engine.store.getDecision(old.decisionId)), 'the retention job', 8000);
		expect(await engine.store.getDecision(decision.decisionId)).toBeDefined();
		expect(JSON.parse((await engine.store.getCursor(RETENTION_REPORT_KEY))!)).toMatchObject({ dryRun: false, counts: { decisions: 1 } });
	});

	it.each([0, 'soon', 7200])('refuses Check every = %j with a red status naming the setting', async (interval) => {
		await helper.load(withHttpCapture(), flow({ interval }), credentials());
		expect(lastStatus('due')?.fill).toBe('red');
		expect(nodeOf('due').error.getCalls()[0].args[0]).toMatch(/Check every must be from 0\.05 to 3600 seconds/);
	});
});
