/**
 * The nudge-frequency-cap node's four outputs in a real Node-RED runtime, and the review verdict
 * operation fed by msg.review.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeAllEngines } from '../../engine/registry';
import { catchAll, credentials, engineNodeDef, engineOf, helper, lastStatus, nextCaught, nextMessage, nodeOf, NUDGE_NODES, recordMessages, segmentEvent, TAB } from './_helpers';

const POLICY = JSON.stringify({
	channelOrder: ['email'],
	channels: { email: { unknownConsent: 'allow' } },
	caps: [{ id: 'one-a-day', scope: { kind: 'any' }, limit: 1, window: { kind: 'rolling', duration: '24h' }, action: 'delay' }],
	negativeTriggers: [{ id: 'open-ticket', events: ['Ticket Opened'], clearedBy: ['Ticket Closed'] }],
	review: [{ id: 'big-discount', when: { field: 'message.offerValue', op: 'gte', value: 30 } }],
});

const RECEIPTS = JSON.stringify({ channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } }, sendWithoutCapCheck: ['transactional'] });
let posts = 0;
const receiver = createServer((req, res) => {
	req.resume();
	req.on('end', () => {
		posts++;
		res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
	});
});
let receiverUrl = '';

function flow(policy = POLICY) {
	const outs = ['allowed', 'delayed', 'blocked', 'review'];
	return [
		...catchAll(),
		engineNodeDef({ policy }),
		{ id: 'receipt', type: 'nudge-send', z: TAB, engine: 'eng1', provider: 'webhook', url: receiverUrl, timeout: 5, sign: false, category: 'transactional', wires: [['sent'], ['failed']] },
		{ id: 'cap', type: 'nudge-frequency-cap', z: TAB, engine: 'eng1', operation: 'check', channel: '', wires: outs.map((o) => [o]) },
		{ id: 'verdict', type: 'nudge-frequency-cap', z: TAB, engine: 'eng1', operation: 'review', wires: outs.map((o) => [`v_${o}`]) },
		// A Frequency Cap node and a Send node a flow sets for a 50 % promotion.
		{ id: 'promoCap', type: 'nudge-frequency-cap', z: TAB, engine: 'eng1', operation: 'check', channel: '', offerValue: '50', category: 'promo', wires: outs.map((o) => [o]) },
		{ id: 'promoSend', type: 'nudge-send', z: TAB, engine: 'eng1', provider: 'webhook', url: receiverUrl, timeout: 5, sign: false, category: 'promo', wires: [['sent'], ['failed']] },
		...[...outs, ...outs.map((o) => `v_${o}`), 'sent', 'failed'].map((id) => ({ id, type: 'helper', z: TAB })),
	];
}

beforeAll(async () => {
	await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
	receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/receipts`;
	await helper.startServer();
});
afterAll(async () => {
	await helper.stopServer();
	await closeAllEngines();
	receiver.closeAllConnections();
	await new Promise<void>((resolve) => receiver.close(() => resolve()));
});
beforeEach(() => helper.load(NUDGE_NODES, flow(expect.getState().currentTestName?.includes('receipt') ? RECEIPTS : POLICY), credentials()));
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

	it('an approval sent as text ("true", as HTML forms and query strings send it) approves; "false" rejects', async () => {
		const review = nextMessage('review');
		nodeOf('cap').receive({ decision: await chosen('form@example.com'), message: { offerValue: 45 } });
		const approved = nextMessage('v_allowed');
		nodeOf('verdict').receive({ decision: (await review).decision, review: { approve: 'true', reviewer: 'lee@agency.example' } });
		expect((await approved).decision).toMatchObject({ review: { verdict: 'approved' }, guard: { outcome: 'allowed' } });

		const again = nextMessage('review');
		nodeOf('cap').receive({ decision: await chosen('form2@example.com'), message: { offerValue: 45 } });
		const rejected = nextMessage('v_blocked');
		nodeOf('verdict').receive({ decision: (await again).decision, review: { approve: 'false', reviewer: 'lee@agency.example' } });
		expect((await rejected).decision).toMatchObject({ status: 'suppressed', reason: 'REVIEW_REJECTED' });
	});

	it('a verdict that is neither true nor false ("yes") is refused naming msg.review.approve; the decision stays in review', async () => {
		const review = nextMessage('review');
		nodeOf('cap').receive({ decision: await chosen('yes@example.com'), message: { offerValue: 45 } });
		const { decision } = await review;
		const caught = nextCaught();
		nodeOf('verdict').receive({ decision, review: { approve: 'yes', reviewer: 'lee@agency.example' } });
		expect((await caught).message).toMatch(/msg\.review\.approve must be true \(approve\) or false \(reject\) \(got "yes"\)/);
		expect((await engineOf().getDecision((decision as { decisionId: string }).decisionId)).status).toBe('review');
	});
});

describe('nudge-frequency-cap: msg.message is checked like the node’s own settings', () => {
	it.each([
		['text it cannot read as a number', '50%', /msg\.message: Offer value must be a number \(got "50%"\)/],
		['an infinite number', Infinity, /msg\.message: Offer value must be a number \(got "Infinity"\)/],
	])('an offer value that is %s is refused, never allowed past the review rule', async (_label, offerValue, error) => {
		const seen = recordMessages(['allowed', 'review']);
		const caught = nextCaught();
		nodeOf('cap').receive({ decision: await chosen(`offer-${String(offerValue).length}@example.com`), message: { offerValue } });
		expect((await caught).message).toMatch(error);
		expect(seen.allowed.length + seen.review.length).toBe(0);
	});

	it('tags given as text are refused with an error that says to send a list', async () => {
		const caught = nextCaught();
		nodeOf('cap').receive({ decision: await chosen('tags@example.com'), message: { tags: 'promo' } });
		expect((await caught).message).toMatch(/msg\.message\.tags must be a list of text such as \["spring", "sale"\] \(got "promo"\)/);
	});

	it('tags given as a list are used', async () => {
		const allowed = nextMessage('allowed');
		nodeOf('cap').receive({ decision: await chosen('list@example.com'), message: { tags: ['spring', 'sale'] } });
		expect((await allowed).decision).toMatchObject({ message: { tags: ['spring', 'sale'] } });
	});
});

describe('the node’s own settings win over msg.message: a message cannot turn a guardrail off', () => {
	const warnings = (id: string) => nodeOf(id).warn.getCalls().map((call) => String(call.args[0])).filter((line) => line.startsWith('msg.message'));

	it('a node set to a 50 % offer sends the decision to review whatever msg.message.offerValue says, and warns once', async () => {
		for (const email of ['low1@example.com', 'low2@example.com']) {
			const review = nextMessage('review');
			nodeOf('promoCap').receive({ decision: await chosen(email), message: { offerValue: 5, category: 'transactional' } });
			expect((await review).decision).toMatchObject({ status: 'review', ruleId: 'big-discount', message: { offerValue: 50, category: 'promo' } });
		}
		expect(warnings('promoCap')).toEqual([
			'msg.message.category is ignored: this node sets category itself ("promo"). Clear the node\'s category to take it from each message',
			'msg.message.offerValue is ignored: this node sets offerValue itself (50). Clear the node\'s offerValue to take it from each message',
		]);
		// What the node leaves blank, the message still says.
		const review = nextMessage('review');
		nodeOf('promoCap').receive({ decision: await chosen('tagged@example.com'), message: { tags: ['spring'] } });
		expect((await review).decision).toMatchObject({ message: { offerValue: 50, category: 'promo', tags: ['spring'] } });
	});

	it('an approval is of the message the reviewer saw: checked again with a larger offer, the decision goes back to review', async () => {
		const review = nextMessage('review');
		nodeOf('cap').receive({ decision: await chosen('approved30@example.com'), message: { offerValue: 30 } });
		const approved = nextMessage('v_allowed');
		nodeOf('verdict').receive({ decision: (await review).decision, review: { approve: true, reviewer: 'lee@agency.example' } });
		const { decision } = await approved;
		// The same message checked again (a retried execution) stays approved; a 95 % offer was never reviewed.
		const same = nextMessage('allowed');
		nodeOf('cap').receive({ decision, message: { offerValue: 30 } });
		expect((await same).decision).toMatchObject({ status: 'pending', guard: { outcome: 'allowed' } });
		const again = nextMessage('review');
		nodeOf('cap').receive({ decision, message: { offerValue: 95 } });
		expect((await again).decision).toMatchObject({ status: 'review', ruleId: 'big-discount', message: { offerValue: 95 } });
		expect((await engineOf().getDecision((decision as { decisionId: string }).decisionId)).review).not.toHaveProperty('verdict');
	});
});

describe('nudge-send: category', () => {
	it('a transactional receipt goes out without a Frequency Cap slot when the policy allows it', async () => {
		const before = posts;
		const sent = nextMessage('sent');
		nodeOf('receipt').receive({ decision: await chosen('fay@example.com', 'Order Completed') });
		expect((await sent).decision).toMatchObject({ status: 'sent', message: { category: 'transactional' } });
		expect(posts).toBe(before + 1);
	});

	it('a Send node set to "promo" does not send a decision that never passed Frequency Cap as a receipt, whatever msg.message.category says', async () => {
		const before = posts;
		const caught = nextCaught();
		nodeOf('promoSend').receive({ decision: await chosen('promo-send@example.com'), message: { category: 'transactional' } });
		expect((await caught).message).toMatch(/has not passed Frequency Cap/);
		expect(posts).toBe(before);
		expect(nodeOf('promoSend').warn.getCalls().map((call) => String(call.args[0])).filter((line) => line.startsWith('msg.message'))).toEqual(['msg.message.category is ignored: this node sets category itself ("promo"). Clear the node\'s category to take it from each message']);
	});
});
