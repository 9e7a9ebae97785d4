import fc from 'fast-check';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { DecisionConsole, evaluationOf, HOLDOUT_GROUP, parseConsoleParams, PROFILE_ONLY } from '../../engine/audit/queries';
import { formatLift, NO_HOLDOUT } from '../../engine/decide/lift';
import { redactText, redactValue, shownTraits } from '../../engine/audit/redact';
import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { NudgeError } from '../../engine/errors';
import { auc } from '../../engine/scoring/evaluate';
import { MemoryStore } from '../../engine/store/memory';
import { SqliteStore } from '../../engine/store/sqlite';
import type { Store } from '../../engine/store/types';
import { knownDecisions, LATE_CONVERSION } from '../helpers/consoleDecisions';
import { decision, profile, tempDir } from '../helpers/fixtures';

const backends: [string, () => Store][] = [
	['memory', () => new MemoryStore()],
	['sqlite', () => new SqliteStore(join(tempDir(), 'console.db'))],
];

describe.each(backends)('decision console queries on the %s store', (_name, open) => {
	let engine: Engine;
	let dc: DecisionConsole;
	beforeEach(async () => {
		const store = open();
		for (const d of knownDecisions()) await store.putDecision(d);
		await store.addOutcome(LATE_CONVERSION.decisionId, LATE_CONVERSION.outcome);
		await store.saveModelVersion('lead', '2026-11-19T00:00:00.000Z', { evaluation: { auc: 0.81, rows: 1200 } }, '{}');
		await store.activateModelVersion({ name: 'lead', version: 1, action: 'activate', at: '2026-11-19T00:00:01.000Z' });
		engine = new Engine({ store });
		dc = new DecisionConsole(engine);
	});
	afterEach(async () => {
		await engine.close();
	});

	test('totals and the per-journey funnel are the hand-counted numbers', async () => {
		const policyVersions = (n: number) => [{ version: 'default@test', n }];
		// d3 is a holdout decision (logged suppressed, reason HOLDOUT): the control group, counted apart from suppressions.
		expect(await dc.totals({})).toEqual({ total: 7, byStatus: { delayed: 1, pending: 1, sent: 2, suppressed: 2 }, profileOnly: 0, holdout: 1, policyVersions: policyVersions(7) });
		expect(await dc.totals({ journey: 'cart' })).toEqual({ total: 3, byStatus: { pending: 1, sent: 1, suppressed: 1 }, profileOnly: 0, holdout: 0, policyVersions: policyVersions(3) });
		const funnel = await dc.funnel({});
		expect(funnel.map((j) => [j.journey, j.stages.map((s) => s.n)])).toEqual([
			['cart', [3, 2, 1, 1, 1, 0]],
			['nurture', [4, 4, 3, 1, 1, 1]],
		]);
		expect(funnel[0].stages.map((s) => s.stage)).toEqual(['received', 'scored', 'channel chosen', 'passed guardrails', 'sent', 'converted']);
	});

	test('suppressions by reason per hour, channel mix and cap hits', async () => {
		expect(await dc.suppressions({})).toEqual({
			bucket: 'hour',
			buckets: ['2026-11-20T08', '2026-11-21T10'],
			series: [
				{ reason: 'FREQUENCY_CAP', counts: [1, 0] },
				{ reason: 'NO_CONSENT', counts: [0, 1] },
			],
			total: 2,
			profileOnly: 0,
			holdout: 1,
		});
		expect(await dc.channelMix({})).toEqual([
			{ channel: 'none', byStatus: { pending: 1, suppressed: 1, [HOLDOUT_GROUP]: 1 }, total: 3 },
			{ channel: 'email', byStatus: { delayed: 1, sent: 1, suppressed: 1 }, total: 3 },
			{ channel: 'sms', byStatus: { sent: 1 }, total: 1 },
		]);
		expect(await dc.capHits({})).toEqual([
			{ rule: 'any-weekly', byStatus: { delayed: 1 }, total: 1 },
			{ rule: 'email-daily', byStatus: { suppressed: 1 }, total: 1 },
		]);
		expect(await dc.capHits({ status: 'delayed' })).toEqual([{ rule: 'any-weekly', byStatus: { delayed: 1 }, total: 1 }]);
	});

	test('a range longer than three days is bucketed by day', async () => {
		await engine.store.putDecision(decision('late', { createdAt: '2026-11-28T00:00:00.000Z', status: 'suppressed', reason: 'QUIET_HOURS' }));
		const s = await dc.suppressions({});
		expect(s.bucket).toBe('day');
		expect(s.buckets).toEqual(['2026-11-20', '2026-11-21', '2026-11-28']);
		expect(s.series.find((x) => x.reason === 'FREQUENCY_CAP')?.counts).toEqual([1, 0, 0]);
		expect(s.series.find((x) => x.reason === 'QUIET_HOURS')?.counts).toEqual([0, 0, 1]);
	});

	test('model evaluation: ROC, AUC and calibration from the log, and the version history', async () => {
		const { evaluations, history } = await dc.models({});
		const lead = evaluations.find((e) => e.model === 'lead@v1')!;
		// Converted: 0.82, 0.55, 0.40; not: 0.40, 0.10. Pairs ranked right: 5 of 6, the 0.40 tie counts ½.
		expect(lead).toMatchObject({ n: 5, positives: 3 });
		expect(lead.auc).toBeCloseTo(11 / 12, 12);
		expect(lead.auc).toBeCloseTo(auc([0.82, 0.4, 0.55, 0.1, 0.4], [1, 1, 1, 0, 0]), 12);
		expect(lead.roc.map((p) => [p.threshold, p.fpr, p.tpr])).toEqual([
			[1.01, 0, 0],
			[0.82, 0, 1 / 3],
			[0.55, 0, 2 / 3],
			[0.4, 0.5, 1],
			[0.1, 1, 1],
		]);
		expect(lead.calibration.map((b) => [b.from, b.count, b.observedRate])).toEqual([
			[0.1, 1, 0],
			[0.4, 2, 0.5],
			[0.5, 1, 1],
			[0.8, 1, 1],
		]);
		expect(lead.calibration[1].meanPredicted).toBeCloseTo(0.405, 12);
		const rules = evaluations.find((e) => e.model.startsWith('rules:'))!;
		expect(rules).toMatchObject({ n: 1, positives: 0 });
		expect(rules.auc).toBeUndefined();
		expect(history).toEqual([
			{
				name: 'lead',
				versions: [{ name: 'lead', version: 1, createdAt: '2026-11-19T00:00:00.000Z', active: true, auc: 0.81, rows: 1200 }],
				activations: [{ name: 'lead', version: 1, action: 'activate', at: '2026-11-19T00:00:01.000Z' }],
			},
		]);
	});

	test('lift from grouped counts equals the engine lift over the whole log, with the hand-counted groups', async () => {
		const rows = await dc.lift({});
		expect(rows).toEqual(await engine.lift({}));
		const nurture = rows.find((r) => r.journey === 'nurture' && r.arm === 'all')!;
		// Two treated contacts, one with two decisions alike: the intervals count the decisions as 3 (effectiveN).
		expect(nurture.treated).toEqual({ n: 3, conversions: 2, rate: 2 / 3, contacts: 2, effectiveN: 3 });
		expect(nurture.holdout).toEqual({ n: 1, conversions: 1, rate: 1, contacts: 1, effectiveN: 1 });
		// Treated decisions that sent nothing count in `all` (intention to treat) but are no arm of their own.
		expect(rows.map((r) => `${r.journey}/${r.arm}`)).toEqual(['cart/all', 'cart/sms', 'nurture/all', 'nurture/email']);
		expect(await dc.lift({ journey: 'cart' })).toEqual(await engine.lift({ journey: 'cart' }));
	});

	test('a journey without holdout decisions says so instead of a bare n/a', async () => {
		const cart = (await dc.lift({ journey: 'cart' })).find((r) => r.arm === 'all')!;
		expect(cart).toMatchObject({ unavailable: NO_HOLDOUT, significant: false });
		expect(cart.absolute).toBeUndefined();
		expect(cart.warning).toMatch(/^no holdout in this journey's policy: nothing to compare with \(set holdout\.journeys\.cart or holdout\.globalShare/);
		const text = formatLift(await dc.lift({}));
		expect(text).toContain("cart\tall\t0.00% (0/2)\t0.00% (0/0)\tn/a (no holdout in this journey's policy)\tn/a (no holdout in this journey's policy)\tWARNING: no holdout");
		expect(text).not.toMatch(/a group is empty/);
	});

	test('events that only updated the profile are counted apart from suppressions: totals, suppressions, channel mix, lift', async () => {
		await engine.store.putDecision(decision('po1', { createdAt: '2026-11-20T08:10:00.000Z', status: 'suppressed', reason: 'NOT_A_TRIGGER', policyVersion: 'journeys@2' }));
		await engine.store.putDecision(decision('po2', { createdAt: '2026-11-20T08:20:00.000Z', status: 'suppressed', reason: 'NOT_A_TRIGGER', policyVersion: 'journeys@2' }));
		const totals = await dc.totals({});
		expect(totals).toEqual({
			total: 9,
			byStatus: { delayed: 1, pending: 1, sent: 2, suppressed: 2 },
			profileOnly: 2,
			holdout: 1,
			policyVersions: [
				{ version: 'default@test', n: 7 },
				{ version: 'journeys@2', n: 2 },
			],
		});
		const s = await dc.suppressions({});
		expect([s.total, s.profileOnly, s.holdout, s.series.map((x) => x.reason)]).toEqual([2, 2, 1, ['FREQUENCY_CAP', 'NO_CONSENT']]);
		expect((await dc.channelMix({}))[0]).toEqual({ channel: 'none', byStatus: { pending: 1, suppressed: 1, [PROFILE_ONLY]: 2, [HOLDOUT_GROUP]: 1 }, total: 5 });
		const lift = await dc.lift({});
		expect(lift).toEqual(await engine.lift({}));
		expect(lift.find((r) => r.journey === 'nurture' && r.arm === 'all')!.profileOnly).toBe(2);
		expect(formatLift(lift)).toContain('Events that only updated the profile (not triggers: no message, not part of lift): nurture 2.');
	});

	test('the stream pages newest first with a cursor, with no gaps or repeats', async () => {
		const first = await dc.stream({}, { limit: 3 });
		expect(first.rows.map((r) => r.decisionId)).toEqual(['d7', 'd6', 'd5']);
		const { page } = parseConsoleParams({ cursor: first.next, limit: '3' });
		const second = await dc.stream({}, page);
		expect(second.rows.map((r) => r.decisionId)).toEqual(['d4', 'd3', 'd2']);
		const third = await dc.stream({}, parseConsoleParams({ cursor: second.next, limit: '3' }).page);
		expect(third.rows.map((r) => r.decisionId)).toEqual(['d1']);
		expect(third.next).toBeUndefined();
		const exact = await dc.stream({ journey: 'cart' }, { limit: 3 });
		expect(exact.rows).toHaveLength(3);
		expect(exact.next).toBeUndefined();
	});

	test('one decision in full, with the contact features and PII redacted unless revealed', async () => {
		await engine.store.saveProfile(
			profile('c1', {
				email: 'dana.whitfield@northwind.example',
				traits: { name: 'Dana Whitfield', email: 'dana.whitfield@northwind.example', phone: '+1 415 555 0100', company: 'Northwind', employees: 420, address: { street: '1 Main St' } },
				counters: { 'Pricing Viewed': 2, 'Email Opened': 3 },
				lifecycle: 'lead',
			}),
			['email:dana.whitfield@northwind.example'],
			[],
		);
		const d1 = (await engine.store.getDecision('d1'))!;
		await engine.store.putDecision({ ...d1, explanation: 'sent to dana.whitfield@northwind.example by email', annotations: { owner: { name: 'Sam Lee' }, note: 'call +44 20 7946 0958' } });
		const shown = await dc.decision('d1');
		expect(shown.features).toEqual({ 'Pricing Viewed': 2, 'Email Opened': 3, name: '[redacted]', email: '[redacted]', phone: '[redacted]', company: 'Northwind', employees: 420, address: '[redacted]', lifecycle: 'lead' });
		expect(shown.decision.explanation).toBe('sent to [email redacted] by email');
		expect(shown.decision.annotations).toEqual({ owner: { name: '[redacted]' }, note: 'call [phone redacted]' });
		expect(shown.decision.score).toEqual(d1.score);
		expect(shown.decision.event).toEqual(d1.event);
		expect(JSON.stringify(shown)).not.toMatch(/dana|Whitfield|555 0100|Sam Lee|7946/i);

		const revealed = await new DecisionConsole(engine, { revealPii: true }).decision('d1');
		expect(revealed.features).toMatchObject({ name: 'Dana Whitfield', phone: '+1 415 555 0100' });
		expect(revealed.decision.explanation).toBe('sent to dana.whitfield@northwind.example by email');
		await expect(dc.decision('nope')).rejects.toMatchObject({ code: 'UNKNOWN_DECISION', httpStatus: 404 });
		await expect(dc.decision('d\u0000x')).rejects.toMatchObject({ code: 'INVALID_INPUT', httpStatus: 400, message: expect.stringMatching(/^The decision id contains a NUL character/) });
	});
});

describe('decision console: personal data in keys and credentials', () => {
	const newEngine = () => new Engine({ store: new MemoryStore(), policy: loadPolicy(DEFAULT_POLICY) });
	const NURTURE = { journey: 'nurture', target: { dryRun: true as const } };

	test('an email address used as a key (an annotation, an event counter) is redacted too', async () => {
		const engine = newEngine();
		const d = await engine.decide({ type: 'track', name: 'Invited jane.doe@example.com', identities: { email: 'jane.doe@example.com' } }, NURTURE);
		await engine.logDecision(d.decisionId, { 'sent to jane.doe@example.com': true });
		const { decision, features } = await new DecisionConsole(engine).decision(d.decisionId);
		expect(Object.keys(decision.annotations)).toEqual(['sent to [email redacted]']);
		expect(features).toHaveProperty(['Invited [email redacted]'], 1);
		expect(JSON.stringify({ decision, features })).not.toContain('jane.doe@example.com');
		await engine.close();
	});

	test('phone numbers in national formats (UK 020 7946 0958, FR 06 12 34 56 78) are redacted in annotations', async () => {
		const engine = newEngine();
		const d = await engine.decide({ type: 'track', name: 'Demo Requested', identities: { email: 'caller@example.com' } }, NURTURE);
		await engine.logDecision(d.decisionId, { note: 'asked for a call on 020 7946 0958', backup: 'or 06 12 34 56 78' });
		const shown = (await new DecisionConsole(engine).decision(d.decisionId)).decision.annotations;
		expect(shown).toEqual({ note: 'asked for a call on [phone redacted]', backup: 'or [phone redacted]' });
		await engine.close();
	});

	test('credentials kept in traits or annotations are hidden, also with personal data revealed', async () => {
		const engine = newEngine();
		const traits = { plan: 'pro', firstName: 'Ana', passwordResetToken: 'prt-7f3a9c', apiKey: 'ak-51d0e2' };
		const d = await engine.decide({ type: 'track', name: 'Demo Requested', identities: { email: 'ana@example.com' }, traits }, NURTURE);
		await engine.logDecision(d.decisionId, { webhook: { status: 200, accessToken: 'at-9b8c7d' } });
		for (const revealPii of [false, true]) {
			const shown = await new DecisionConsole(engine, { revealPii }).decision(d.decisionId);
			expect(shown.features).toMatchObject({ plan: 'pro', firstName: revealPii ? 'Ana' : '[redacted]', passwordResetToken: '[redacted]', apiKey: '[redacted]' });
			expect(shown.decision.annotations).toEqual({ webhook: { status: 200, accessToken: '[redacted]' } });
		}
		await engine.close();
	});
});

describe('console filters from a query string', () => {
	test('valid filters become a store filter and a page', () => {
		expect(parseConsoleParams({ journey: 'nurture', channel: 'email', reason: 'FREQUENCY_CAP', status: 'suppressed', contact: 'c1', from: '2026-11-20', to: '2026-11-21T12:00:00+01:00', limit: '10' })).toEqual({
			filter: { journey: 'nurture', channel: 'email', reason: 'FREQUENCY_CAP', status: 'suppressed', contactId: 'c1', from: '2026-11-20T00:00:00.000Z', to: '2026-11-21T11:00:00.000Z' },
			page: { limit: 10, before: undefined },
		});
		expect(parseConsoleParams({ journey: '', token: 'x', engine: 'e1' })).toEqual({ filter: {}, page: { limit: 50, before: undefined } });
		// The ends of the accepted range.
		expect(parseConsoleParams({ from: '1970-01-01', to: '9999-12-31T23:59:59.999Z' }).filter).toEqual({ from: '1970-01-01T00:00:00.000Z', to: '9999-12-31T23:59:59.999Z' });
	});

	test.each([
		[{ reason: 'TOO_MANY' }, /^Bad filter: reason: reason must be one of FREQUENCY_CAP, QUIET_HOURS/],
		[{ channel: 'fax' }, /channel must be one of email, sms, push/],
		[{ status: 'done' }, /status must be one of pending, delayed/],
		[{ from: 'yesterday' }, /from must be a date or date-time, e\.g\. 2026-11-20 .*not "yesterday"/],
		[{ from: '2026-11-21', to: '2026-11-20' }, /from \(2026-11-21T00:00:00\.000Z\) must be before to/],
		[{ to: '275760-01-01' }, /^Bad filter: to: to must be a date or date-time, e\.g\. 2026-11-20 or 2026-11-20T08:00:00Z, between 1970-01-01 and 9999-12-31, not "275760-01-01"$/],
		[{ from: '2026-01-01', to: '275760-01-01' }, /^Bad filter: to: to must be a date .* between 1970-01-01 and 9999-12-31, not "275760-01-01"$/],
		[{ from: '2026-02-30' }, /^Bad filter: from: from must be a date .* not "2026-02-30"$/],
		[{ from: '1969-12-31' }, /^Bad filter: from: from must be a date .* between 1970-01-01 and 9999-12-31, not "1969-12-31"$/],
		[{ to: '9999-12-31T23:00:00-05:00' }, /^Bad filter: to: to must be a date .* not "9999-12-31T23:00:00-05:00"$/],
		[{ from: 'Jan 1 2026' }, /^Bad filter: from: from must be a date .* not "Jan 1 2026"$/],
		[{ limit: '0' }, /limit must be at least 1/],
		[{ limit: '10000' }, /limit must be at most 500/],
		[{ limit: 'ten' }, /limit must be a number/],
		[{ cursor: 'bm9wZQ' }, /cursor is not a page cursor from this console/],
		[{ reasons: 'FREQUENCY_CAP' }, /^Unknown filter "reasons": the filters are journey, channel, reason, status, contact, from, to/],
		[{ journey: 'nurture\u0000' }, /^Bad filter: journey: contains a NUL character/],
		[{ contact: 'c\u0000x' }, /^Bad filter: contact: contains a NUL character/],
		[{ contact: 'c\ud800x' }, /^Bad filter: contact: is not valid Unicode text/],
		[{ cursor: Buffer.from('2026-11-20T08:00:00.000Z|d\u0000x').toString('base64url') }, /cursor is not a page cursor from this console/],
	])('%j is refused with a clear message', (params, message) => {
		const parse = () => parseConsoleParams(params);
		expect(parse).toThrow(NudgeError);
		expect(parse).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', httpStatus: 400, message: expect.stringMatching(message) }));
	});
});

describe('redaction', () => {
	test('emails and phone numbers in text are masked; dates, times and ids are not', () => {
		expect(redactText('mail a.b+c@x-y.example or call (415) 555-0100 / +49 30 1234567')).toBe('mail [email redacted] or call [phone redacted] / [phone redacted]');
		const kept = '2026-11-20T08:07:00.000Z d_0mwqfrsdb222524e980e24b5a965b bucket 4711 count 3 / 12 score 82';
		expect(redactText(kept)).toBe(kept);
	});

	test('emails are masked exactly as the pattern /[A-Z0-9._%+-]+@[A-Z0-9.-]+\\.[A-Z]{2,}/gi masks them', () => {
		const pattern = /[A-Z0-9._%+-]+@[A-Z0-9.-]+\.[A-Z]{2,}/gi;
		// Pieces that make addresses likely (digits are left out so phone masking never applies).
		const piece = fc.constantFrom('a', 'Zb', '.', '.co', '-', '_', '%', '+', '@', '@', ' ', 'é', ',');
		const text = fc.array(piece, { maxLength: 24 }).map((pieces) => pieces.join(''));
		fc.assert(
			fc.property(text, (t) => {
				expect(redactText(t)).toBe(t.replace(pattern, '[email redacted]'));
			}),
			{ numRuns: 1000 },
		);
	});

	test('adversarial text (long runs of address characters, many @) is still masked correctly', () => {
		const run = 'x'.repeat(40_000);
		expect(redactText(`${run}@${'a'.repeat(40_000)}`)).toBe(`${run}@${'a'.repeat(40_000)}`);
		expect(redactText(`${run}@${'a'.repeat(40_000)}.com!`)).toBe('[email redacted]!');
		expect(redactText(`${run}@${'ab.'.repeat(20_000)}x`)).toBe('[email redacted].x');
		expect(redactText('a@'.repeat(500_000))).toBe('a@'.repeat(500_000));
		expect(redactText('a@b.co '.repeat(100_000))).toBe('[email redacted] '.repeat(100_000));
		expect(redactText(`${'1-'.repeat(300_000)} call +49 30 1234567`)).toBe(`${'1-'.repeat(300_000)} call [phone redacted]`);
	});

	test('national phone numbers (UK, FR, DE) are masked in free text; dates, times, amounts, counts and ids are not', () => {
		const numbers = ['020 7946 0958', '(020) 7946 0958', '07700 900123', '07700900123', '0161 496 0000', '06 12 34 56 78', '01.23.45.67.89', '06-12345678', '030 1234567', '0044 20 7946 0958'];
		for (const n of numbers) expect(redactText(`call ${n}, or not`)).toBe('call [phone redacted], or not');
		const kept = [
			'2026-11-20T08:07:00.000Z',
			'2026-11-20 08:07',
			'01.02.2026 9:00 0900 1000',
			'20.11.2026 08:00–09:00',
			'd_0mwqfrsdb222524e980e24b5a965b d_agent_0123456789 erased_0a1b2c3d',
			'€1,234.56 $0.99 0,50 € 1 234 567,89 0.123456789',
			'count 3 / 12, 0 of 12 sent, score 082, order 0012345, bucket 0 1 2 3 4 5 6 7 8 9',
			'version 0.12.3 from 10.0.0.1 and 192.168.0.100',
		];
		for (const text of kept) expect(redactText(text)).toBe(text);
		// Bounded work per starting point: long runs of what a national number is made of stay fast.
		const started = Date.now();
		for (const run of ['00 '.repeat(300_000), '0'.repeat(600_000), '(0'.repeat(300_000), '0.'.repeat(300_000)]) redactText(run);
		expect(Date.now() - started).toBeLessThan(2_000);
	});

	test('an email address or phone number used as a key is masked as in a value; keys that mask alike are all kept', () => {
		expect(redactValue({ 'sent to ana@example.com': true, 'Called 020 7946 0958': 2, plan: 'pro' }, false)).toEqual({ 'sent to [email redacted]': true, 'Called [phone redacted]': 2, plan: 'pro' });
		expect(redactValue({ 'a@example.com': 1, 'b@example.com': 2, nested: { 'c@example.com': { 'd@example.com': 3 } } })).toEqual({
			'[email redacted]': 1,
			'[email redacted] (2)': 2,
			nested: { '[email redacted]': { '[email redacted]': 3 } },
		});
	});

	test('credentials under their keys go entirely, also where personal data is revealed; look-alike keys stay', () => {
		const traits = {
			name: 'Ann Lee',
			plan: 'pro',
			passwordResetToken: 'prt-1',
			apiKey: 'ak-1',
			APIKey: 'ak-2',
			'x-api-key': 'ak-3',
			access_token: 'at-1',
			password: 'pw-1',
			client_secret: 'cs-1',
			sessionId: 'sid-1',
			integrations: [{ crm: { authToken: 'auth-1' } }],
			author: 'Kim',
			sessionCount: 4,
		};
		const masked = { passwordResetToken: '[redacted]', apiKey: '[redacted]', APIKey: '[redacted]', 'x-api-key': '[redacted]', access_token: '[redacted]', password: '[redacted]', client_secret: '[redacted]', sessionId: '[redacted]', integrations: [{ crm: { authToken: '[redacted]' } }] };
		expect(shownTraits(traits, true)).toEqual({ ...traits, ...masked });
		expect(shownTraits(traits, false)).toEqual({ ...traits, ...masked, name: '[redacted]' });
		expect(redactValue(traits)).toEqual(shownTraits(traits, false));
	});

	test('values under personal keys go entirely; other keys keep their values', () => {
		expect(redactValue({ firstName: 'Ann', last_name: 'Lee', city: 'Oslo', plan: 'pro', title: 'CTO', contacts: [{ phone: '1' }], empty: '' })).toEqual({
			firstName: '[redacted]',
			last_name: '[redacted]',
			city: '[redacted]',
			plan: 'pro',
			title: 'CTO',
			contacts: [{ phone: '[redacted]' }],
			empty: '',
		});
		expect(redactValue({ name: 'Demo Requested' }, false)).toEqual({ name: 'Demo Requested' });
	});

	test('evaluationOf without both outcomes has no AUC but still a curve', () => {
		const e = evaluationOf('m', [{ key: ['m', 30, false], n: 2 }]);
		expect(e).toMatchObject({ n: 2, positives: 0, roc: [{ fpr: 0, tpr: 0 }, { threshold: 0.3, fpr: 1, tpr: 0 }] });
		expect(e.auc).toBeUndefined();
	});
});

describe('the SQLite store keeps the console facts in step with its decisions table', () => {
	test('a file written before the console gets its facts on open, and decisions deleted by SQL take their facts with them', async () => {
		const file = join(tempDir(), 'old.db');
		const store = new SqliteStore(file);
		for (const d of knownDecisions()) await store.putDecision(d);
		await store.close();
		const db = new DatabaseSync(file);
		db.exec('DELETE FROM decision_facts');
		db.close();
		const reopened = new SqliteStore(file);
		expect(await reopened.countDecisions({}, ['journey'])).toEqual([
			{ key: ['cart'], n: 3 },
			{ key: ['nurture'], n: 4 },
		]);
		await reopened.close();
		const retention = new DatabaseSync(file);
		retention.exec(`DELETE FROM decisions WHERE created_at < '2026-11-21'`);
		retention.close();
		const after = new SqliteStore(file);
		expect(await after.countDecisions({}, ['journey'])).toEqual([
			{ key: ['cart'], n: 3 },
			{ key: ['nurture'], n: 1 },
		]);
		expect((await after.listDecisionSummaries({}, { limit: 10 })).map((r) => r.decisionId)).toEqual(['d7', 'd6', 'd5', 'd4']);
		await after.close();
	});

	test('a file whose facts predate the policy version column gets it filled from the decisions on open', async () => {
		const file = join(tempDir(), 'facts-v1.db');
		const store = new SqliteStore(file);
		for (const d of knownDecisions()) await store.putDecision({ ...d, policyVersion: d.journey === 'cart' ? 'journeys@1' : 'journeys@2' });
		await store.close();
		const db = new DatabaseSync(file);
		db.exec('DROP INDEX decision_facts_by_policy; ALTER TABLE decision_facts DROP COLUMN policy_version');
		db.close();
		const reopened = new SqliteStore(file);
		expect(await reopened.countDecisions({}, ['policyVersion'])).toEqual([
			{ key: ['journeys@1'], n: 3 },
			{ key: ['journeys@2'], n: 4 },
		]);
		await reopened.close();
	});
});
