/**
 * Each Nudge step node in a real Node-RED runtime: the message leaves by the right output, msg.decision
 * is the engine's updated decision (and the store agrees), and the status says what happened.
 */
import { closeAllEngines } from '../../engine/registry';
import {
	catchAll,
	credentials,
	engineNodeDef,
	engineOf,
	helper,
	lastStatus,
	nextCaught,
	nextMessage,
	nodeOf,
	NUDGE_NODES,
	quietFor,
	recordMessages,
	segmentEvent,
	TAB,
} from './_helpers';

const CHANNEL_OUTS = ['ch_email', 'ch_sms', 'ch_push', 'ch_in_app', 'ch_paid', 'ch_sales', 'ch_none'];

function flow(): Record<string, unknown>[] {
	const helpers = ['scored', ...CHANNEL_OUTS, 'allowed', 'delayed', 'capped', 'review', 'allowed_sms', 'capped_sms', 'logged', 'recorded', 'recorded_fixed', 'variant_email'];
	return [
		...catchAll(),
		engineNodeDef(),
		{ id: 'score', type: 'nudge-score', z: TAB, engine: 'eng1', wires: [['scored']] },
		{ id: 'choose', type: 'nudge-choose-channel', z: TAB, engine: 'eng1', wires: CHANNEL_OUTS.map((id) => [id]) },
		{ id: 'choose_variant', type: 'nudge-choose-channel', z: TAB, engine: 'eng1', variantSlot: 'subject', variants: 'Hello\nWelcome back', wires: [['variant_email']] },
		{ id: 'cap', type: 'nudge-frequency-cap', z: TAB, engine: 'eng1', channel: '', wires: [['allowed'], ['delayed'], ['capped'], ['review']] },
		{ id: 'cap_sms', type: 'nudge-frequency-cap', z: TAB, engine: 'eng1', channel: 'sms', wires: [['allowed_sms'], [], ['capped_sms'], []] },
		{ id: 'log', type: 'nudge-log-decision', z: TAB, engine: 'eng1', annotations: '{"campaign": "spring", "owner": "ops"}', wires: [['logged']] },
		{ id: 'outcome', type: 'nudge-record-outcome', z: TAB, engine: 'eng1', outcomeType: '', value: '', wires: [['recorded']] },
		{ id: 'outcome_fixed', type: 'nudge-record-outcome', z: TAB, engine: 'eng1', outcomeType: 'conversion', value: '49.9', wires: [['recorded_fixed']] },
		...helpers.map((id) => ({ id, type: 'helper', z: TAB })),
	];
}

const hot = () =>
	segmentEvent({
		event: 'Demo Requested',
		context: { traits: { email: 'dana@northwind.example', title: 'VP Marketing', employees: 420, consent: { email: 'opted_in' } } },
	});

beforeAll(() => helper.startServer());
afterAll(async () => {
	await helper.stopServer();
	await closeAllEngines();
});
beforeEach(async () => {
	await helper.load(NUDGE_NODES, flow(), credentials());
	// A fresh store per test: the previous test's engine was released and closed on unload.
	expect(await engineOf().queryDecisions({})).toEqual([]);
});
afterEach(async () => {
	// Every status a node showed fits under the node: a dot and fewer than 20 characters.
	for (const id of ['score', 'choose', 'cap', 'cap_sms', 'log', 'outcome', 'outcome_fixed']) {
		for (const call of nodeOf(id).status.getCalls()) {
			expect(['green', 'yellow', 'red', 'blue']).toContain(call.args[0].fill);
			expect(['dot', 'ring']).toContain(call.args[0].shape);
			expect((call.args[0].text ?? '').length).toBeLessThan(20);
		}
	}
	await helper.unload();
});

describe('nudge-score', () => {
	it('opens a decision from an event in msg.payload, scores it and shows the tier', async () => {
		const out = nextMessage('scored');
		nodeOf('score').receive({ payload: hot() });
		const msg = await out;
		const decision = msg.decision as { decisionId: string; score: { value: number; tier: string; factors: { label: string }[] }; journey: string };
		expect(decision.score).toMatchObject({ value: 75, tier: 'hot' });
		expect(decision.score.factors.map((f) => f.label)).toEqual(expect.arrayContaining(['Requested a demo', 'Senior job title', 'Company size 50+']));
		expect(decision.journey).toBe('nurture');
		expect(lastStatus('score')).toEqual({ fill: 'green', shape: 'dot', text: 'hot 75' });
		const stored = await engineOf().store.getDecision(decision.decisionId);
		expect(stored?.score?.value).toBe(75);
	});

	it('takes an event given as JSON text in msg.payload', async () => {
		const out = nextMessage('scored');
		nodeOf('score').receive({ payload: JSON.stringify(hot()) });
		expect(((await out).decision as { score: { tier: string } }).score.tier).toBe('hot');
		expect(await engineOf().queryDecisions({})).toHaveLength(1);
	});

	it('scores the decision a trigger attached, keeping the rest of the message', async () => {
		const { decision } = await engineOf().ingest(segmentEvent(), { journey: 'nurture' });
		const out = nextMessage('scored');
		nodeOf('score').receive({ decision, payload: 'untouched', topic: decision.contactId });
		const msg = await out;
		expect((msg.decision as { decisionId: string }).decisionId).toBe(decision.decisionId);
		expect(msg.payload).toBe('untouched');
		expect(msg.topic).toBe(decision.contactId);
		expect(lastStatus('score')?.text).toBe('warm 55');
	});
});

describe('nudge-choose-channel', () => {
	const route = async (event: Record<string, unknown>) => {
		const { decision } = await engineOf().ingest(event, { journey: 'nurture' });
		const seen = recordMessages(CHANNEL_OUTS);
		nodeOf('choose').receive({ decision });
		await new Promise<void>((resolve) => {
			const check = () => (Object.values(seen).some((m) => m.length) ? resolve() : setTimeout(check, 5));
			check();
		});
		await quietFor(50);
		const hits = Object.entries(seen).filter(([, m]) => m.length);
		expect(hits).toHaveLength(1);
		const [output, [msg]] = hits[0];
		return { output, decision: msg.decision as { status: string; channel?: string; reason?: string; candidates: unknown[] } };
	};

	it('sends an emailable contact out of the email output', async () => {
		const { output, decision } = await route(segmentEvent());
		expect(output).toBe('ch_email');
		expect(decision).toMatchObject({ status: 'pending', channel: 'email' });
		expect(lastStatus('choose')).toEqual({ fill: 'green', shape: 'dot', text: 'email' });
	});

	it('uses SMS for a contact who opted out of email but into SMS', async () => {
		const { output, decision } = await route(
			segmentEvent({ type: 'identify', event: undefined, traits: { email: 'maya@fernhill.example', phone: '+14155550123', consent: { email: 'opted_out', sms: 'opted_in' } }, context: {} }),
		);
		expect(output).toBe('ch_sms');
		expect(decision.channel).toBe('sms');
	});

	it('leaves out a channel already at its cap: a second message today goes by SMS, email marked capped', async () => {
		const traits = { email: 'ivy@fernhill.example', phone: '+14155550199', consent: { email: 'opted_in', sms: 'opted_in' } };
		const contact = (messageId: string) => segmentEvent({ type: 'identify', event: undefined, userId: 'u-ivy', messageId, traits, context: {} });
		const engine = engineOf();
		const first = await engine.chooseChannel((await engine.ingest(contact('ivy-1'), { journey: 'nurture' })).decision);
		expect((await engine.checkCap(first)).guard?.allowed).toBe(true);
		const { output, decision } = await route(contact('ivy-2'));
		expect(output).toBe('ch_sms');
		expect(decision).toMatchObject({ status: 'pending', channel: 'sms' });
		expect(decision.candidates[0]).toMatchObject({ channel: 'email', eligible: false, reason: 'FREQUENCY_CAP', ruleId: 'email-daily', detail: expect.stringMatching(/^capped: email-daily/) });
	});

	it('picks a content variant when the node has a slot and variants', async () => {
		const { decision } = await engineOf().ingest(segmentEvent(), { journey: 'nurture' });
		const out = nextMessage('variant_email');
		nodeOf('choose_variant').receive({ decision });
		const msg = await out;
		expect(msg.decision).toMatchObject({ channel: 'email', message: { variant: 'Hello' }, variantChoice: { slot: 'subject', variant: 'Hello' } });
	});

	it('sends a holdout contact to "none / holdout", logged as HOLDOUT with its bucket', async () => {
		const engine = engineOf();
		engine.setPolicy({ ...engine.policy, holdout: { salt: 'test', globalShare: 1, journeys: {} } });
		const { output, decision } = await route(segmentEvent());
		expect(output).toBe('ch_none');
		expect(decision).toMatchObject({ status: 'suppressed', reason: 'HOLDOUT', choice: { method: 'holdout', holdout: { group: 'global' } } });
		expect(lastStatus('choose')).toEqual({ fill: 'yellow', shape: 'dot', text: 'holdout' });
	});

	it('sends a contact who opted out of everything to "none", suppressed with NO_CONSENT', async () => {
		const { output, decision } = await route(
			segmentEvent({
				type: 'identify',
				event: undefined,
				traits: { email: 'tom@quarry.example', phone: '+447700900123', pushToken: 'fcm-1', consent: { email: 'opted_out', sms: 'opted_out', push: 'opted_out' } },
				context: {},
			}),
		);
		expect(output).toBe('ch_none');
		expect(decision).toMatchObject({ status: 'suppressed', reason: 'NO_CONSENT' });
		expect(decision.channel).toBeUndefined();
		expect(lastStatus('choose')).toEqual({ fill: 'yellow', shape: 'dot', text: 'no consent' });
	});

	it('sends an unreachable contact (no email, no phone) to "none"', async () => {
		const { output, decision } = await route(segmentEvent({ userId: undefined, anonymousId: 'anon-1', context: {} }));
		expect(output).toBe('ch_none');
		expect(decision.reason).toBe('UNREACHABLE');
		expect(lastStatus('choose')?.text).toBe('unreachable');
	});

	it('sends a duplicate-event decision (already suppressed) to "none" unchanged', async () => {
		const event = segmentEvent();
		await engineOf().ingest(event, { journey: 'nurture' });
		const { output, decision } = await route(event);
		expect(output).toBe('ch_none');
		expect(decision).toMatchObject({ status: 'suppressed', reason: 'DUPLICATE_EVENT' });
		expect(lastStatus('choose')?.text).toBe('duplicate');
	});
});

describe('nudge-frequency-cap', () => {
	it('lets the first email through and caps the second one for the same contact the same day', async () => {
		const engine = engineOf();
		const traits = { email: 'ava@parcel.example' };
		const first = await engine.chooseChannel((await engine.ingest(segmentEvent({ userId: 'u-ava', context: { traits } }), { journey: 'nurture' })).decision);
		const second = await engine.chooseChannel((await engine.ingest(segmentEvent({ userId: 'u-ava', context: { traits } }), { journey: 'nurture' })).decision);

		const allowed = nextMessage('allowed');
		nodeOf('cap').receive({ decision: first });
		const a = (await allowed).decision as { status: string; guard: { allowed: boolean; reservationId?: string } };
		expect(a.status).toBe('pending');
		expect(a.guard.allowed).toBe(true);
		expect(a.guard.reservationId).toBeTruthy();
		expect(lastStatus('cap')).toEqual({ fill: 'green', shape: 'dot', text: 'allowed email' });

		const capped = nextMessage('capped');
		nodeOf('cap').receive({ decision: second });
		const c = (await capped).decision as { status: string; reason: string; ruleId: string; explanation: string };
		expect(c).toMatchObject({ status: 'suppressed', reason: 'FREQUENCY_CAP', ruleId: 'email-daily' });
		expect(c.explanation).toMatch(/email-daily reached: 1 of 1/);
		expect(lastStatus('cap')).toEqual({ fill: 'yellow', shape: 'dot', text: 'capped' });
		expect((await engine.store.getDecision((second as { decisionId: string }).decisionId))?.reason).toBe('FREQUENCY_CAP');
	});

	it('checks the channel set on the node instead of the chosen one', async () => {
		const texter = { email: 'sms@example.com', phone: '+15550100', consent: { sms: 'opted_in' } };
		const { decision } = await engineOf().ingest(segmentEvent({ context: { traits: texter } }), { journey: 'nurture' });
		const allowed = nextMessage('allowed_sms');
		nodeOf('cap_sms').receive({ decision });
		const d = (await allowed).decision as { channel: string; guard: { checks: { ruleId: string }[] } };
		expect(d.channel).toBe('sms');
		expect(d.guard.checks.map((c) => c.ruleId)).toEqual(['suppression-list', 'consent:sms', 'all-weekly']);
		// The same check for a contact without a phone number is blocked: the guardrails re-check reachability.
		const { decision: noPhone } = await engineOf().ingest(segmentEvent(), { journey: 'nurture' });
		const blocked = nextMessage('capped_sms');
		nodeOf('cap_sms').receive({ decision: noPhone });
		expect(((await blocked).decision as { reason: string }).reason).toBe('UNREACHABLE');
	});

	it('fails a decision without a channel, saying to put Choose Channel first', async () => {
		const { decision } = await engineOf().ingest(segmentEvent(), { journey: 'nurture' });
		const caught = nextCaught();
		nodeOf('cap').receive({ decision });
		expect((await caught).message).toMatch(/has no channel yet: put Choose Channel before Frequency Cap/);
		expect(lastStatus('cap')).toEqual({ fill: 'red', shape: 'dot', text: 'invalid input' });
	});
});

describe('nudge-log-decision', () => {
	it('finalises the decision with the node annotations plus msg.annotations', async () => {
		const engine = engineOf();
		const event = segmentEvent({ userId: 'u-log', context: { traits: { email: 'log@example.com' } } });
		const chosen = await engine.chooseChannel((await engine.ingest(event, { journey: 'nurture' })).decision);
		await engine.checkCap(chosen);
		const again = await engine.chooseChannel((await engine.ingest(segmentEvent({ userId: 'u-log', context: { traits: { email: 'log@example.com' } } }), { journey: 'nurture' })).decision);
		const capped = await engine.checkCap(again);
		expect(capped.status).toBe('suppressed');

		const out = nextMessage('logged');
		nodeOf('log').receive({ decision: capped, annotations: { reviewer: 'kim' } });
		const d = (await out).decision as { loggedAt?: string; annotations: Record<string, unknown>; trail: { stage: string }[] };
		expect(d.loggedAt).toBeTruthy();
		expect(d.annotations).toEqual({ campaign: 'spring', owner: 'ops', reviewer: 'kim' });
		// The email slot is taken and no other channel is open, so Frequency Cap gives the verdict.
		expect(capped.reason).toBe('FREQUENCY_CAP');
		expect(d.trail.map((t) => t.stage)).toEqual(['ingest', 'choose', 'guard', 'log']);
		expect(lastStatus('log')).toEqual({ fill: 'yellow', shape: 'dot', text: 'capped' });
		const stored = await engine.store.getDecision(capped.decisionId);
		expect(stored?.loggedAt).toBe(d.loggedAt);
		expect(stored?.annotations.reviewer).toBe('kim');
	});
});

describe('nudge-record-outcome', () => {
	it('records an outcome once and flags the repeat as a duplicate', async () => {
		const { decision } = await engineOf().ingest(segmentEvent(), { journey: 'nurture' });
		const first = nextMessage('recorded');
		nodeOf('outcome').receive({ payload: { decisionId: decision.decisionId, type: 'click' } });
		const m1 = await first;
		expect(m1.duplicate).toBe(false);
		expect((m1.decision as { outcomes: { type: string }[] }).outcomes.map((o) => o.type)).toEqual(['click']);
		expect(lastStatus('outcome')).toEqual({ fill: 'green', shape: 'dot', text: 'click recorded' });

		const second = nextMessage('recorded');
		nodeOf('outcome').receive({ payload: { decisionId: decision.decisionId, type: 'click' } });
		const m2 = await second;
		expect(m2.duplicate).toBe(true);
		expect((m2.decision as { outcomes: unknown[] }).outcomes).toHaveLength(1);
		expect(lastStatus('outcome')).toEqual({ fill: 'yellow', shape: 'dot', text: 'duplicate click' });
	});

	it('matches by provider message id, or by contact and channel, and teaches the learner once', async () => {
		const engine = engineOf();
		const { decision } = await engine.ingest(segmentEvent(), { journey: 'nurture' });
		await engine.checkCap(await engine.chooseChannel(decision));
		const sender = { provider: 'fake', attempt: async () => ({ providerMessageId: 'pm-77' }) };
		const sent = await engine.send(decision, { sender });
		expect(sent.delivery?.providerMessageId).toBe('pm-77');

		const byMessage = nextMessage('recorded');
		nodeOf('outcome').receive({ payload: { messageId: 'pm-77', type: 'click' } });
		expect(((await byMessage).decision as { decisionId: string }).decisionId).toBe(decision.decisionId);

		const byContact = nextMessage('recorded');
		nodeOf('outcome').receive({ payload: { contactId: decision.contactId, channel: 'email', type: 'conversion' } });
		const msg = await byContact;
		expect((msg.decision as { outcomes: { type: string }[] }).outcomes.map((o) => o.type)).toEqual(['click', 'conversion']);
		const again = nextMessage('recorded');
		nodeOf('outcome').receive({ payload: { contactId: decision.contactId, channel: 'email', type: 'conversion' } });
		expect((await again).duplicate).toBe(true);
		const stats = await engine.store.getArmStats(['global#email']);
		expect(stats.get('global#email')).toMatchObject({ trials: 1, successes: 1 });

		const caught = nextCaught();
		nodeOf('outcome').receive({ payload: { contactId: decision.contactId, channel: 'fax', type: 'click' } });
		expect((await caught).message).toMatch(/Channel "fax" is not one of email, sms/);
	});

	it('takes order ids as shops send them (JSON numbers: two orders are two conversions) and an amount as text; a blank amount is none', async () => {
		const { decision } = await engineOf().ingest(segmentEvent(), { journey: 'nurture' });
		const send = async (payload: Record<string, unknown>) => {
			const out = nextMessage('recorded');
			nodeOf('outcome').receive({ payload: { decisionId: decision.decisionId, ...payload } });
			return out;
		};
		expect((await send({ type: 'conversion', value: 10, outcomeId: 1001 })).duplicate).toBe(false);
		expect((await send({ type: 'conversion', value: ' 20.50 ', outcomeId: 1002 })).duplicate).toBe(false);
		expect((await send({ type: 'conversion', value: 99, outcomeId: 1002 })).duplicate).toBe(true);
		expect((await send({ type: 'conversion', value: '   ', outcomeId: '1003' })).duplicate).toBe(false);
		const outcomes = (await engineOf().getDecision(decision.decisionId)).outcomes;
		expect(outcomes.map((o) => [o.outcomeId, o.value])).toEqual([['1001', 10], ['1002', 20.5], ['1003', undefined]]);
		// Revenue needs its amount: a blank one is refused, never taken as 0.
		const caught = nextCaught();
		nodeOf('outcome').receive({ payload: { decisionId: decision.decisionId, type: 'revenue', value: '  ', outcomeId: 1004 } });
		expect((await caught).message).toMatch(/A revenue outcome needs its amount as a number of 0 or more; got nothing/);
	});

	it('uses the type and value set on the node, and msg.decisionId', async () => {
		const { decision } = await engineOf().ingest(segmentEvent(), { journey: 'nurture' });
		const out = nextMessage('recorded_fixed');
		nodeOf('outcome_fixed').receive({ decisionId: decision.decisionId, payload: { type: 'click' } });
		const msg = await out;
		expect((msg.decision as { outcomes: unknown[] }).outcomes).toEqual([expect.objectContaining({ type: 'conversion', value: 49.9 })]);
	});

	it('fails a message that names no decision, and an unknown decision', async () => {
		let caught = nextCaught();
		nodeOf('outcome').receive({ payload: { type: 'click' } });
		expect((await caught).message).toMatch(/names no decision: put the decision id in msg.decisionId or msg.payload.decisionId/);
		expect(lastStatus('outcome')).toEqual({ fill: 'red', shape: 'dot', text: 'invalid input' });

		caught = nextCaught();
		nodeOf('outcome').receive({ payload: { decisionId: 'd_nope', type: 'click' } });
		expect((await caught).message).toMatch(/Decision d_nope is not in this engine's decision log/);
		expect(lastStatus('outcome')).toEqual({ fill: 'red', shape: 'dot', text: 'unknown decision' });

		caught = nextCaught();
		const { decision } = await engineOf().ingest(segmentEvent(), { journey: 'nurture' });
		nodeOf('outcome').receive({ payload: { decisionId: decision.decisionId, type: 'bought-a-boat' } });
		expect((await caught).message).toMatch(/Outcome is not valid: type/);
		expect((await engineOf().store.getDecision(decision.decisionId))?.outcomes).toEqual([]);
	});

	it('a value that is not a finite number fails saying so, and records nothing', async () => {
		const { decision } = await engineOf().ingest(segmentEvent(), { journey: 'nurture' });
		const caught = nextCaught();
		nodeOf('outcome').receive({ decisionId: decision.decisionId, payload: { type: 'conversion', value: 'Infinity' } });
		expect((await caught).message).toBe('Outcome is not valid: value: must be a finite number (got Infinity)');
		expect((await engineOf().store.getDecision(decision.decisionId))?.outcomes).toEqual([]);
	});

	it('an outcome time given as a Date is recorded at that time; a time that is neither text nor a Date is refused', async () => {
		const { decision } = await engineOf().ingest(segmentEvent(), { journey: 'nurture' });
		await quietFor(100);
		// After the decision, and well before now (what a dropped time would be recorded at).
		const at = new Date(Date.now() - 50);
		const out = nextMessage('recorded');
		nodeOf('outcome').receive({ decisionId: decision.decisionId, payload: { type: 'click', at } });
		expect(((await out).decision as { outcomes: { at: string }[] }).outcomes.map((o) => o.at)).toEqual([at.toISOString()]);

		const caught = nextCaught();
		nodeOf('outcome').receive({ decisionId: decision.decisionId, payload: { type: 'open', at: at.getTime() } });
		expect((await caught).message).toMatch(/msg\.payload\.at must be a date-time such as "2026-05-01T10:00:00Z" or a Date \(got the number \d+: seconds or milliseconds\?\)/);
	});
});
