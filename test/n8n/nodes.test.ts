/** Each Nudge node inside n8n's WorkflowExecute: what it records and which output each item leaves by. */
import type { IDataObject } from 'n8n-workflow';
import { verifySignedRequest } from '../../engine/events/signature';
import { engagementDeltas } from '../../engine/decide/sendTime';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { anaEvent, benEvent, caraEvent, danEvent, fixture, SECRET, sendTargetForFile, trigger } from './fixtures';
import { connect, nudgeNode, runWorkflow, type WorkflowJson } from './harness';

const sending = sendTargetForFile();
const { target } = sending;

const decisionOf = (json: IDataObject) => json.decision as IDataObject;

/** Trigger → Score → Choose Channel → (channels) Frequency Cap → (Allowed) Send. */
function pipeline(): WorkflowJson {
	const nodes = [
		nudgeNode('Nudge Trigger', 'nudgeTrigger', { journey: 'nurture' }, { webhookId: 'b3c0f1d2-0000-4000-8000-000000000001' }),
		nudgeNode('Score Lead', 'nudgeScore'),
		nudgeNode('Choose Channel', 'nudgeChooseChannel'),
		nudgeNode('Frequency Cap', 'nudgeFrequencyCap'),
		nudgeNode('Send', 'nudgeSend', { url: sending.url, timeoutSeconds: 5, sign: true }),
	];
	return {
		nodes,
		connections: connect([
			['Nudge Trigger', 0, 'Score Lead'],
			['Score Lead', 0, 'Choose Channel'],
			['Choose Channel', 0, 'Frequency Cap'],
			['Choose Channel', 1, 'Frequency Cap'],
			['Choose Channel', 2, 'Frequency Cap'],
			['Frequency Cap', 0, 'Send'],
		]),
	};
}

describe('Nudge Score', () => {
	it('adds the policy score with its factors to the decision and keeps the item fields', async () => {
		const f = fixture();
		const wf = pipeline();
		const input = await trigger(f, wf, anaEvent('Pricing Viewed'));
		const result = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input, credentials: f.credentials });

		expect(result.error).toBeUndefined();
		const [scored] = result.output('Score Lead');
		const score = decisionOf(scored).score as IDataObject;
		// base 10 + pricing 20 + senior title 15 + company size 10
		expect(score.value).toBe(55);
		expect(score.tier).toBe('warm');
		expect((score.factors as IDataObject[]).map((factor) => factor.label)).toEqual(
			expect.arrayContaining(['Viewed the pricing page', 'Senior job title', 'Company size 50+']),
		);
		expect(scored.decisionId).toBe(decisionOf(scored).decisionId);
		expect((scored.event as IDataObject).name).toBe('Pricing Viewed');
		const stored = await f.engine.getDecision(scored.decisionId as string);
		expect(stored.score?.value).toBe(55);
	});

	it('opens a decision when the incoming item is a customer event (e.g. after an n8n Webhook)', async () => {
		const f = fixture();
		const wf: WorkflowJson = { nodes: [nudgeNode('Score Lead', 'nudgeScore', { options: { journey: 'winback' } })], connections: {} };
		const result = await runWorkflow({ workflow: wf, startNode: 'Score Lead', input: [[{ json: anaEvent('Webinar Signup') }]], credentials: f.credentials });

		const [scored] = result.output('Score Lead');
		expect(decisionOf(scored).journey).toBe('winback');
		expect((decisionOf(scored).score as IDataObject).value).toBe(35);
		expect(await f.engine.queryDecisions({ journey: 'winback' })).toHaveLength(1);
	});
});

describe('Nudge Choose Channel', () => {
	it('routes each contact to the output of their channel, and unreachable contacts to None', async () => {
		const f = fixture();
		const wf = pipeline();
		const input = await trigger(f, wf, [anaEvent(), benEvent(), caraEvent()]);
		const result = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input, credentials: f.credentials });

		const email = result.output('Choose Channel', 0);
		const sms = result.output('Choose Channel', 1);
		const none = result.output('Choose Channel', 6);
		expect(email.map((json) => (json.event as IDataObject).identities)).toEqual([{ email: 'ana@example.com' }]);
		expect(sms.map((json) => (json.event as IDataObject).identities)).toEqual([{ email: 'ben@example.com' }]);
		expect(none.map((json) => (json.event as IDataObject).identities)).toEqual([{ email: 'cara@example.com' }]);
		expect(decisionOf(sms[0]).channel).toBe('sms');
		expect(decisionOf(none[0])).toMatchObject({ status: 'suppressed', reason: 'NO_ELIGIBLE_CHANNEL' });
		expect((decisionOf(none[0]).candidates as IDataObject[]).map((c) => [c.channel, c.reason])).toEqual([
			['email', 'NO_CONSENT'],
			['sms', 'UNREACHABLE'],
			['push', 'UNREACHABLE'],
			['in_app', 'POLICY_BLOCKED'],
			['paid_audience', 'POLICY_BLOCKED'],
			['sales_task', 'POLICY_BLOCKED'],
			['wait', 'POLICY_BLOCKED'],
		]);
		for (const output of [3, 4, 5]) expect(result.output('Choose Channel', output)).toEqual([]);

		// Paired items point back at the trigger item each decision came from.
		const task = result.run.data.resultData.runData['Choose Channel'][0];
		expect(task.data!.main[1]![0].pairedItem).toEqual({ item: 1 });
		expect(task.data!.main[6]![0].pairedItem).toEqual({ item: 2 });
	});
});

describe('Nudge Frequency Cap', () => {
	it('lets the first email through; with email capped and no other channel, Frequency Cap blocks the second with the rule', async () => {
		const f = fixture();
		const wf = pipeline();
		const first = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input: await trigger(f, wf, anaEvent('Pricing Viewed')), credentials: f.credentials });
		expect(first.output('Frequency Cap', 0)).toHaveLength(1);
		expect(first.output('Send', 0)).toHaveLength(1);

		const second = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input: await trigger(f, wf, anaEvent('Demo Requested')), credentials: f.credentials });
		const [chosen] = second.output('Choose Channel', 0);
		// Choose Channel records the cap it saw; the guardrails stage gives the verdict.
		expect((decisionOf(chosen).candidates as IDataObject[])[0]).toMatchObject({ channel: 'email', eligible: true, ruleId: 'email-daily', detail: expect.stringMatching(/^capped: email-daily \(1 of 1 in the last 24h\); a slot frees at .*kept because every open channel is capped/) });
		const [blocked] = second.output('Frequency Cap', 2);
		expect(decisionOf(blocked)).toMatchObject({ status: 'suppressed', reason: 'FREQUENCY_CAP', ruleId: 'email-daily', channel: 'email' });
		expect(target.received).toHaveLength(1);
	});

	it('stays the authoritative check: two emails chosen together for one contact, the second goes to Blocked', async () => {
		const f = fixture();
		const wf = pipeline();
		// Choose Channel handles both items before Frequency Cap runs, so both see an open email slot.
		const run = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input: await trigger(f, wf, [anaEvent('Pricing Viewed'), anaEvent('Demo Requested')]), credentials: f.credentials });
		expect(run.output('Choose Channel', 0)).toHaveLength(2);
		expect(run.output('Frequency Cap', 0)).toHaveLength(1);
		const [blocked] = run.output('Frequency Cap', 2);
		expect(decisionOf(blocked)).toMatchObject({ status: 'suppressed', reason: 'FREQUENCY_CAP', ruleId: 'email-daily', channel: 'email' });
		expect(run.output('Send', 0)).toHaveLength(1);
	});

	it('checks the caps of the channel set on the node when one is chosen there', async () => {
		const f = fixture();
		const wf: WorkflowJson = {
			nodes: [
				nudgeNode('Nudge Trigger', 'nudgeTrigger', { journey: 'nurture' }, { webhookId: 'b3c0f1d2-0000-4000-8000-000000000002' }),
				nudgeNode('SMS Cap', 'nudgeFrequencyCap', { channel: 'sms' }),
			],
			connections: connect([['Nudge Trigger', 0, 'SMS Cap']]),
		};
		const result = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input: await trigger(f, wf, benEvent()), credentials: f.credentials });
		const [allowed] = result.output('SMS Cap', 0);
		expect(decisionOf(allowed).channel).toBe('sms');
		expect(((decisionOf(allowed).guard as IDataObject).checks as IDataObject[]).map((c) => [c.ruleId, c.passed])).toEqual([
			['suppression-list', true],
			['consent:sms', true],
			['all-weekly', true],
		]);
	});
});

describe('Nudge Send', () => {
	it('posts a signed message once, and a retry of the same decision does not post again', async () => {
		const f = fixture();
		const wf = pipeline();
		const input = await trigger(f, wf, anaEvent());
		const result = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input, credentials: f.credentials });

		const [sent] = result.output('Send', 0);
		expect(decisionOf(sent)).toMatchObject({ status: 'sent', channel: 'email' });
		expect((decisionOf(sent).delivery as IDataObject).httpStatus).toBe(200);
		expect(target.received).toHaveLength(1);
		const [request] = target.received;
		expect(request.body).toMatchObject({ decisionId: sent.decisionId, channel: 'email', contact: { email: 'ana@example.com' } });
		expect(request.headers['idempotency-key']).toBe(sent.decisionId);
		expect(() => verifySignedRequest(SECRET, request.rawBody, request.headers as Record<string, unknown>)).not.toThrow();

		// The same items again (a retried execution): still Sent, nothing posted twice.
		const retry = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input, credentials: f.credentials });
		expect(retry.output('Send', 0).map((json) => json.decisionId)).toEqual([sent.decisionId]);
		expect(target.received).toHaveLength(1);
	});

	it('routes a refused message to Failed and frees the contact’s cap slot', async () => {
		const f = fixture();
		const wf = pipeline();
		target.answer = (body) => ((body.contact as IDataObject).email === 'dan@example.com' ? 400 : 200);
		const failed = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input: await trigger(f, wf, danEvent()), credentials: f.credentials });
		const [item] = failed.output('Send', 1);
		expect(decisionOf(item)).toMatchObject({ status: 'failed', reason: 'SEND_FAILED' });
		expect(failed.output('Send', 0)).toEqual([]);

		// The slot was released, so the next email for dan is allowed (1 email a day).
		target.answer = () => 200;
		const next = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input: await trigger(f, wf, danEvent()), credentials: f.credentials });
		expect(next.output('Send', 0)).toHaveLength(1);
	});

	it('posts unsigned when signing is off', async () => {
		const f = fixture({ signingSecret: SECRET });
		const wf = pipeline();
		wf.nodes.find((node) => node.name === 'Send')!.parameters.sign = false;
		await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input: await trigger(f, wf, anaEvent()), credentials: f.credentials });
		expect(target.received).toHaveLength(1);
		expect(target.received[0].headers['x-nudge-signature']).toBeUndefined();
	});
});

describe('Nudge Log Decision', () => {
	it('finalises the decision with the annotations', async () => {
		const f = fixture();
		const wf: WorkflowJson = {
			nodes: [
				nudgeNode('Nudge Trigger', 'nudgeTrigger', { journey: 'nurture' }, { webhookId: 'b3c0f1d2-0000-4000-8000-000000000003' }),
				nudgeNode('Choose Channel', 'nudgeChooseChannel'),
				nudgeNode('Log Decision', 'nudgeLogDecision', { annotations: '{"campaign": "spring", "reviewer": "ana"}' }),
			],
			connections: connect([
				['Nudge Trigger', 0, 'Choose Channel'],
				['Choose Channel', 6, 'Log Decision'],
			]),
		};
		const result = await runWorkflow({ workflow: wf, startNode: 'Nudge Trigger', input: await trigger(f, wf, caraEvent()), credentials: f.credentials });
		const [logged] = result.output('Log Decision');
		expect(decisionOf(logged).annotations).toEqual({ campaign: 'spring', reviewer: 'ana' });
		const stored = await f.engine.getDecision(logged.decisionId as string);
		expect(stored.loggedAt).toBeDefined();
		expect(stored.reason).toBe('NO_ELIGIBLE_CHANNEL');
		expect(stored.trail.map((step) => step.stage)).toEqual(['ingest', 'choose', 'log']);
	});
});

describe('Nudge Record Outcome', () => {
	function outcomeWorkflow(parameters: IDataObject): WorkflowJson {
		return { nodes: [nudgeNode('Record Outcome', 'nudgeRecordOutcome', parameters)], connections: {} };
	}

	it('records an outcome once and flags the repeat as a duplicate', async () => {
		const f = fixture();
		const { decision } = await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const wf = outcomeWorkflow({ decisionId: '={{ $json.decisionId }}', outcomeType: 'click', outcomeId: '={{ $json.clickId }}' });
		const click = { json: { decisionId: decision.decisionId, clickId: 'click-1' } };

		const first = await runWorkflow({ workflow: wf, startNode: 'Record Outcome', input: [[click]], credentials: f.credentials });
		expect(first.output('Record Outcome')[0]).toMatchObject({ duplicate: false, decisionId: decision.decisionId, clickId: 'click-1' });
		const again = await runWorkflow({ workflow: wf, startNode: 'Record Outcome', input: [[click]], credentials: f.credentials });
		expect(again.output('Record Outcome')[0].duplicate).toBe(true);
		const stored = await f.engine.getDecision(decision.decisionId);
		expect(stored.outcomes).toEqual([expect.objectContaining({ outcomeId: 'click-1', type: 'click' })]);
	});

	it('records revenue with its value, and an unsubscribe opts the contact out of the channel', async () => {
		const f = fixture();
		const { decision } = await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		await f.engine.chooseChannel(decision);
		const item = [[{ json: { decisionId: decision.decisionId } }]];

		await runWorkflow({ workflow: outcomeWorkflow({ outcomeType: 'revenue', value: 249.5 }), startNode: 'Record Outcome', input: item, credentials: f.credentials });
		await runWorkflow({ workflow: outcomeWorkflow({ outcomeType: 'unsubscribe' }), startNode: 'Record Outcome', input: item, credentials: f.credentials });

		const stored = await f.engine.getDecision(decision.decisionId);
		expect(stored.outcomes.map((outcome) => [outcome.type, outcome.value])).toEqual([
			['revenue', 249.5],
			['unsubscribe', undefined],
		]);
		expect((await f.engine.getProfile(decision.contactId))?.consent.email).toBe('opted_out');
	});

	it('matches by message ID or by contact and channel; a duplicate teaches the learner nothing', async () => {
		const f = fixture();
		const engine = f.engine;
		const { decision } = await engine.ingest(anaEvent(), { journey: 'nurture' });
		await engine.checkCap(await engine.chooseChannel(decision));
		await engine.send(decision, { sender: { provider: 'fake', attempt: async () => ({ providerMessageId: 'pm-9' }) } });
		const run = (parameters: IDataObject, json: IDataObject) =>
			runWorkflow({ workflow: outcomeWorkflow(parameters), startNode: 'Record Outcome', input: [[{ json }]], credentials: f.credentials });

		const byMessage = await run({ matchBy: 'messageId', outcomeType: 'click' }, { messageId: 'pm-9' });
		expect(byMessage.output('Record Outcome')[0]).toMatchObject({ duplicate: false, decisionId: decision.decisionId });
		const byContact = { matchBy: 'contact', contactId: '={{ $json.contact }}', channel: 'email', outcomeType: 'conversion' };
		expect((await run(byContact, { contact: decision.contactId })).output('Record Outcome')[0].duplicate).toBe(false);
		expect((await run(byContact, { contact: decision.contactId })).output('Record Outcome')[0].duplicate).toBe(true);
		expect((await engine.store.getArmStats(['global#email'])).get('global#email')).toMatchObject({ trials: 1, successes: 1 });
		expect((await run({ matchBy: 'messageId', outcomeType: 'click' }, { messageId: '' })).error?.message).toMatch(/Message ID is empty/);
	});

	it('records the outcome at the time mapped to Occurred At, and refuses a time it cannot read', async () => {
		const f = fixture();
		const { decision } = await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		await new Promise((resolve) => setTimeout(resolve, 100));
		// After the decision and well before now, what an empty Occurred At records.
		const openedAt = new Date(Date.now() - 50).toISOString();
		const run = (json: IDataObject) =>
			runWorkflow({ workflow: outcomeWorkflow({ outcomeType: 'open', at: '={{ $json.openedAt }}' }), startNode: 'Record Outcome', input: [[{ json }]], credentials: f.credentials });

		expect((await run({ decisionId: decision.decisionId, openedAt })).output('Record Outcome')[0].duplicate).toBe(false);
		expect((await f.engine.getDecision(decision.decisionId)).outcomes.map((o) => [o.type, o.at])).toEqual([['open', openedAt]]);
		// Seconds since 1970 from a sending tool's event: which unit it is, is the flow's to say.
		const seconds = await run({ decisionId: decision.decisionId, openedAt: Math.floor(Date.now() / 1000) });
		expect(seconds.error?.message).toMatch(/^Occurred At must be a date-time such as "2026-05-01T10:00:00Z" or a Date \(got the number \d+: seconds or milliseconds\?\)$/);
		// Text that is no time, however long, is quoted cut short.
		const text = await run({ decisionId: decision.decisionId, openedAt: `yesterday ${'x'.repeat(100_000)}` });
		expect(text.error?.message).toBe(`Outcome time "yesterday ${'x'.repeat(70)}"… is not a date-time with its time zone (use ISO 8601, e.g. 2026-05-01T10:00:00Z, or an offset such as +02:00)`);
		// Without its time zone it would be read in the server's: refused, as an event's time is.
		expect((await run({ decisionId: decision.decisionId, openedAt: openedAt.replace('Z', '') })).error?.message).toMatch(/^Outcome time ".*" is not a date-time with its time zone/);
		const future = await run({ decisionId: decision.decisionId, openedAt: new Date(Date.now() + 86_400_000).toISOString() });
		expect(future.error?.message).toMatch(/^Outcome time .* is in the future/);
		expect((await f.engine.getDecision(decision.decisionId)).outcomes).toHaveLength(1);
	});
});

describe('Nudge Choose Channel holdout', () => {
	it('sends a holdout contact out of "None / Holdout", logged as HOLDOUT', async () => {
		const f = fixture({ policy: JSON.stringify({ ...DEFAULT_POLICY, holdout: { globalShare: 1 } }) });
		const { decision } = await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const result = await runWorkflow({
			workflow: { nodes: [nudgeNode('Choose Channel', 'nudgeChooseChannel')], connections: {} },
			startNode: 'Choose Channel',
			input: [[{ json: { decision } as unknown as IDataObject }]],
			credentials: f.credentials,
		});
		expect(result.output('Choose Channel', 0)).toEqual([]);
		expect(decisionOf(result.output('Choose Channel', 6)[0])).toMatchObject({ status: 'suppressed', reason: 'HOLDOUT', choice: { method: 'holdout' } });
	});

	it('picks a content variant when a slot and variants are set', async () => {
		const f = fixture();
		const { decision } = await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const result = await runWorkflow({
			workflow: { nodes: [nudgeNode('Choose Channel', 'nudgeChooseChannel', { options: { variantSlot: 'subject', variants: 'Hello\nWelcome back' } })], connections: {} },
			startNode: 'Choose Channel',
			input: [[{ json: { decision } as unknown as IDataObject }]],
			credentials: f.credentials,
		});
		const chosen = decisionOf(result.output('Choose Channel', 0)[0]);
		expect(chosen.variantChoice).toMatchObject({ slot: 'subject', variant: 'Hello', method: 'default_order' });
		expect((chosen.message as IDataObject).variant).toBe('Hello');
		expect(((chosen.variantChoice as IDataObject).estimates as IDataObject[]).map((e) => e.variant)).toEqual(['Hello', 'Welcome back']);
	});

	it('adds sendAt, the best time to send, once contacts have engaged', async () => {
		const f = fixture();
		// An hour well away from now: the current hour counts as now (sendAt would be this moment, not the hour's start).
		const hour = (new Date().getUTCHours() + 6) % 24;
		const hh = String(hour).padStart(2, '0');
		await f.engine.store.addArmStats(engagementDeltas('someone-else', new Date(`2026-10-01T${hh}:10:00Z`), 'UTC'));
		const { decision } = await f.engine.ingest(anaEvent(), { journey: 'nurture' });
		const result = await runWorkflow({
			workflow: { nodes: [nudgeNode('Choose Channel', 'nudgeChooseChannel')], connections: {} },
			startNode: 'Choose Channel',
			input: [[{ json: { decision } as unknown as IDataObject }]],
			credentials: f.credentials,
		});
		const [email] = result.output('Choose Channel', 0);
		expect(email.sendAt).toMatch(new RegExp(`T${hh}:00:00\\.000Z$`));
		expect(decisionOf(email).sendTime).toMatchObject({ hour, basis: 'population', sendAt: email.sendAt });
	});
});
