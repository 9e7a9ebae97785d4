/**
 * The Frequency Cap node's four outputs inside n8n's WorkflowExecute: Allowed, Delayed (with retryAt),
 * Blocked and Review, and the review verdict operation that resumes or ends a decision.
 */
import type { IDataObject } from 'n8n-workflow';
import { closeAllEngines } from '../../engine/registry';
import { anaEvent, fixture, SendTarget } from './fixtures';
import { connect, nudgeNode, runWorkflow, WorkflowJson } from './harness';
import './quiet';

afterAll(closeAllEngines);

const POLICY = JSON.stringify({
	channelOrder: ['email'],
	channels: { email: { unknownConsent: 'allow' } },
	caps: [{ id: 'one-a-day', scope: { kind: 'any' }, limit: 1, window: { kind: 'rolling', duration: '24h' }, action: 'delay', exemptions: [{ category: 'transactional' }] }],
	suppression: { domains: ['competitor.example'] },
	review: [{ id: 'big-discount', when: { field: 'message.offerValue', op: 'gte', value: 30 } }],
});

const decisionOf = (json: IDataObject) => json.decision as IDataObject;

function guardFlow(message: IDataObject = {}): WorkflowJson {
	return {
		nodes: [nudgeNode('Choose Channel', 'nudgeChooseChannel'), nudgeNode('Frequency Cap', 'nudgeFrequencyCap', { operation: 'check', channel: '', message })],
		connections: connect([['Choose Channel', 0, 'Frequency Cap']]),
	};
}

const run = (f: ReturnType<typeof fixture>, workflow: WorkflowJson, items: IDataObject[], startNode = 'Choose Channel') =>
	runWorkflow({ workflow, startNode, input: [items.map((json) => ({ json }))], credentials: f.credentials });

describe('Nudge Frequency Cap: the four outputs', () => {
	it('Allowed, then Delayed with retryAt for the same contact; Blocked for a suppressed domain', async () => {
		const f = fixture({ policy: POLICY });
		const first = await run(f, guardFlow(), [anaEvent()]);
		expect(first.output('Frequency Cap', 0)).toHaveLength(1);
		const second = await run(f, guardFlow(), [anaEvent('Webinar Viewed'), { type: 'track', name: 'Pricing Viewed', identities: { email: 'spy@competitor.example' } }]);
		const [delayed] = second.output('Frequency Cap', 1);
		expect(decisionOf(delayed)).toMatchObject({ status: 'delayed', reason: 'FREQUENCY_CAP', ruleId: 'one-a-day' });
		expect(delayed.retryAt).toBe((decisionOf(delayed).guard as IDataObject).retryAt);
		expect(Date.parse(String(delayed.retryAt)) - Date.now()).toBeGreaterThan(23 * 3_600_000);
		const [blocked] = second.output('Frequency Cap', 2);
		expect(decisionOf(blocked)).toMatchObject({ status: 'suppressed', reason: 'SUPPRESSION_LIST' });
	});

	it('a transactional message is exempt from the cap', async () => {
		const f = fixture({ policy: POLICY });
		await run(f, guardFlow(), [anaEvent()]);
		const receipt = await run(f, guardFlow({ category: 'transactional' }), [anaEvent('Order Completed')]);
		expect(receipt.output('Frequency Cap', 0)).toHaveLength(1);
	});

	it('Review for a large offer; the verdict operation approves (to Allowed) or rejects (to Blocked), recording the reviewer', async () => {
		const f = fixture({ policy: POLICY });
		const checked = await run(f, guardFlow({ offerValue: 40, tags: 'promo, winter' }), [anaEvent(), { type: 'track', name: 'Pricing Viewed', identities: { email: 'bo@example.com' } }]);
		const inReview = checked.output('Frequency Cap', 3);
		expect(inReview).toHaveLength(2);
		expect(decisionOf(inReview[0])).toMatchObject({ status: 'review', reason: 'REVIEW_REQUIRED', message: { offerValue: 40, tags: ['promo', 'winter'] } });
		const verdict = (v: string) => ({
			nodes: [nudgeNode('Review', 'nudgeFrequencyCap', { operation: 'review', verdict: v, reviewer: 'maria@agency.example', note: 'checked margin' })],
			connections: {},
		});
		const approved = await run(f, verdict('approve'), [inReview[0]], 'Review');
		const [allowed] = approved.output('Review', 0);
		expect(decisionOf(allowed)).toMatchObject({ status: 'pending', guard: { outcome: 'allowed' }, review: { verdict: 'approved', reviewer: 'maria@agency.example' } });
		const rejected = await run(f, verdict('reject'), [inReview[1]], 'Review');
		expect(decisionOf(rejected.output('Review', 2)[0])).toMatchObject({ status: 'suppressed', reason: 'REVIEW_REJECTED' });
	});

	describe('the same verdict again: approve clicked twice, Retry On Fail, an execution retried', () => {
		const reviewNode = (extra: Parameters<typeof nudgeNode>[3] = {}) => nudgeNode('Review', 'nudgeFrequencyCap', { operation: 'review', verdict: 'approve', reviewer: 'maria@agency.example' }, extra);
		const inReview = async (f: ReturnType<typeof fixture>) => {
			const [item] = (await run(f, guardFlow({ offerValue: 40 }), [anaEvent()])).output('Frequency Cap', 3);
			return item;
		};

		it('twice in one batch: both items leave by Allowed, one slot held', async () => {
			const f = fixture({ policy: POLICY });
			const item = await inReview(f);
			const result = await run(f, { nodes: [reviewNode()], connections: {} }, [item, item], 'Review');
			expect(result.run.status).toBe('success');
			const allowed = result.output('Review', 0).map(decisionOf);
			expect(allowed).toHaveLength(2);
			expect((allowed[1].guard as IDataObject).reservationId).toBe((allowed[0].guard as IDataObject).reservationId);
		});

		it('Retry On Fail with a later item failing: the error names that item, not the approved first one', async () => {
			const f = fixture({ policy: POLICY });
			const item = await inReview(f);
			const result = await run(f, { nodes: [reviewNode({ retryOnFail: true, maxTries: 2, waitBetweenTries: 0 })], connections: {} }, [item, { decisionId: 'd_doesnotexist' }], 'Review');
			expect(result.run.status).toBe('error');
			const error = result.run.data.resultData.runData.Review[0].error as unknown as { message: string; context: { itemIndex: number } };
			expect(error.message).toMatch(/not in this engine's decision log/);
			expect(error.context.itemIndex).toBe(1);
		});

		it('On Error → Continue and the verdict item run again: Allowed again, nothing on Blocked', async () => {
			const f = fixture({ policy: POLICY });
			const item = await inReview(f);
			const flow = { nodes: [reviewNode({ onError: 'continueRegularOutput' })], connections: {} };
			expect((await run(f, flow, [item], 'Review')).output('Review', 0)).toHaveLength(1);
			const again = await run(f, flow, [item], 'Review');
			expect(again.output('Review', 2)).toEqual([]);
			expect(again.output('Review', 0).map(decisionOf)).toMatchObject([{ status: 'pending', review: { verdict: 'approved' } }]);
		});
	});

	it('a verdict for a decision that is not in review is an actionable error', async () => {
		const f = fixture({ policy: POLICY });
		const [allowed] = (await run(f, guardFlow(), [anaEvent()])).output('Frequency Cap', 0);
		const result = await run(f, { nodes: [nudgeNode('Review', 'nudgeFrequencyCap', { operation: 'review', verdict: 'approve', reviewer: 'x' })], connections: {} }, [allowed], 'Review');
		expect(result.run.status).toBe('error');
		expect(String(result.run.data.resultData.error?.message)).toMatch(/is not waiting for review \(it is pending\)/);
	});
});

describe('Nudge Send: a message category the policy lets through without a cap slot', () => {
	const receiver = new SendTarget();
	let url = '';
	beforeAll(async () => {
		url = await receiver.start();
	});
	afterAll(() => receiver.stop());

	const receipts = JSON.stringify({ channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } }, sendWithoutCapCheck: ['transactional'] });
	const sendFlow = (category: string): WorkflowJson => ({
		nodes: [nudgeNode('Choose Channel', 'nudgeChooseChannel'), nudgeNode('Send', 'nudgeSend', { provider: 'webhook', url, sign: false, category })],
		connections: connect([['Choose Channel', 0, 'Send']]),
	});

	it('sends a transactional receipt straight after Choose Channel; refuses the same without the category', async () => {
		const f = fixture({ policy: receipts });
		const sent = await run(f, sendFlow('transactional'), [anaEvent('Order Completed')]);
		expect(decisionOf(sent.output('Send', 0)[0])).toMatchObject({ status: 'sent', message: { category: 'transactional' } });
		expect(receiver.received).toHaveLength(1);
		const refused = await run(f, sendFlow(''), [anaEvent('Order Shipped')]);
		expect(refused.run.status).toBe('error');
		expect(String(refused.run.data.resultData.error?.message)).toMatch(/has not passed Frequency Cap/);
		expect(receiver.received).toHaveLength(1);
	});
});
