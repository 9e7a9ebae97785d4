/**
 * The nudge-frequency-cap node's four outputs in a real Node-RED runtime, and the review verdict
 * operation fed by msg.review.
 */
import { closeAllEngines } from '../../engine/registry';
import { catchAll, credentials, engineNodeDef, engineOf, helper, lastStatus, nextCaught, nextMessage, nodeOf, NUDGE_NODES, segmentEvent, TAB } from './_helpers';

const POLICY = JSON.stringify({
	channelOrder: ['email'],
	channels: { email: { unknownConsent: 'allow' } },
	caps: [{ id: 'one-a-day', scope: { kind: 'any' }, limit: 1, window: { kind: 'rolling', duration: '24h' }, action: 'delay' }],
	negativeTriggers: [{ id: 'open-ticket', events: ['Ticket Opened'], clearedBy: ['Ticket Closed'] }],
	review: [{ id: 'big-discount', when: { field: 'message.offerValue', op: 'gte', value: 30 } }],
});

function flow() {
	const outs = ['allowed', 'delayed', 'blocked', 'review'];
	return [
		...catchAll(),
		engineNodeDef({ policy: POLICY }),
		{ id: 'cap', type: 'nudge-frequency-cap', z: TAB, engine: 'eng1', operation: 'check', channel: '', wires: outs.map((o) => [o]) },
		{ id: 'verdict', type: 'nudge-frequency-cap', z: TAB, engine: 'eng1', operation: 'review', wires: outs.map((o) => [`v_${o}`]) },
		...[...outs, ...outs.map((o) => `v_${o}`)].map((id) => ({ id, type: 'helper', z: TAB })),
	];
}

beforeAll(() => helper.startServer());
afterAll(async () => {
	await helper.stopServer();
	await closeAllEngines();
});
beforeEach(() => helper.load(NUDGE_NODES, flow(), credentials()));
afterEach(() => helper.unload());

async function chosen(email: string, name = 'Pricing Viewed') {
	const engine = engineOf();
	return engine.chooseChannel((await engine.ingest(segmentEvent({ event: name, context: { traits: { email } } }), { journey: 'nurture' })).decision);
}

describe('nudge-frequency-cap: four outputs', () => {
	it('allowed, then delayed with msg.retryAt; blocked while a ticket is open', async () => {
		const first = nextMessage('allowed');
		nodeOf('cap').receive({ decision: await chosen('ava@example.com') });
		expect(((await first).decision as { guard: { outcome: string } }).guard.outcome).toBe('allowed');
		const delayed = nextMessage('delayed');
		nodeOf('cap').receive({ decision: await chosen('ava@example.com', 'Webinar Viewed') });
		const d = await delayed;
		expect(d.decision).toMatchObject({ status: 'delayed', reason: 'FREQUENCY_CAP', ruleId: 'one-a-day' });
		expect(d.retryAt).toBe((d.decision as { guard: { retryAt: string } }).guard.retryAt);
		expect(lastStatus('cap')).toEqual({ fill: 'yellow', shape: 'ring', text: 'delayed: capped' });

		await engineOf().ingest(segmentEvent({ event: 'Ticket Opened', context: { traits: { email: 'bo@example.com' } } }));
		const blocked = nextMessage('blocked');
		nodeOf('cap').receive({ decision: await chosen('bo@example.com') });
		expect((await blocked).decision).toMatchObject({ status: 'suppressed', reason: 'NEGATIVE_TRIGGER', ruleId: 'open-ticket' });
	});

	it('review for a large offer (msg.message), then a verdict from msg.review resumes or ends it', async () => {
		const review = nextMessage('review');
		nodeOf('cap').receive({ decision: await chosen('cy@example.com'), message: { offerValue: 45 } });
		const r = await review;
		expect(r.decision).toMatchObject({ status: 'review', ruleId: 'big-discount' });
		expect(lastStatus('cap')).toEqual({ fill: 'blue', shape: 'dot', text: 'needs review' });

		const approved = nextMessage('v_allowed');
		nodeOf('verdict').receive({ decision: r.decision, review: { approve: true, reviewer: 'lee@agency.example' } });
		expect((await approved).decision).toMatchObject({ review: { verdict: 'approved', reviewer: 'lee@agency.example' }, guard: { outcome: 'allowed' } });

		const again = nextMessage('review');
		nodeOf('cap').receive({ decision: await chosen('dee@example.com'), message: { offerValue: 60 } });
		const rejected = nextMessage('v_blocked');
		nodeOf('verdict').receive({ decision: (await again).decision, review: { approve: false, reviewer: 'lee@agency.example', note: 'too generous' } });
		expect((await rejected).decision).toMatchObject({ status: 'suppressed', reason: 'REVIEW_REJECTED', review: { note: 'too generous' } });
	});

	it('a verdict without a reviewer fails with done(err) and a red status', async () => {
		const review = nextMessage('review');
		nodeOf('cap').receive({ decision: await chosen('eve@example.com'), message: { offerValue: 45 } });
		const caught = nextCaught();
		nodeOf('verdict').receive({ decision: (await review).decision, review: { approve: true } });
		expect((await caught).message).toMatch(/needs the reviewer’s name or email/);
		expect(lastStatus('verdict')).toEqual({ fill: 'red', shape: 'dot', text: 'invalid input' });
	});
});
