import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy, loadPolicyFile, policyJsonSchema } from '../../engine/policy/load';
import { NudgeError } from '../../engine/errors';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/fixtures';

describe('policy', () => {
	test('the default policy validates and is versioned by content', () => {
		const a = loadPolicy();
		expect(a.version).toMatch(/^default@[0-9a-f]{12}$/);
		expect(loadPolicy(JSON.stringify(DEFAULT_POLICY)).version).toBe(a.version);
		expect(loadPolicy('').version).toBe(a.version);
		const changed = loadPolicy({ ...DEFAULT_POLICY, channelOrder: ['sms', 'email'] });
		expect(changed.version).not.toBe(a.version);
	});

	test('key order does not change the version', () => {
		const reordered = Object.fromEntries(Object.entries(DEFAULT_POLICY).reverse());
		expect(loadPolicy(reordered).version).toBe(loadPolicy(DEFAULT_POLICY).version);
	});

	test('defaults fill what a minimal policy leaves out', () => {
		const { policy } = loadPolicy({ channelOrder: ['email'] });
		expect(policy).toMatchObject({ name: 'default', timezone: 'UTC', caps: [], reservationTimeoutSeconds: 300, scoring: { tiers: { hot: 70, warm: 40 } } });
	});

	test.each([
		[{ ...DEFAULT_POLICY, caps: [{ id: 'x', scope: { kind: 'any' }, limit: 0, window: { kind: 'rolling', duration: '1d' } }] }, 'caps.0.limit: must be at least 1'],
		[{ ...DEFAULT_POLICY, caps: [{ id: 'x', scope: { kind: 'any' }, limit: 1, window: { kind: 'rolling', duration: '1 day' } }] }, 'caps.0.window.duration: must be a number followed by s, m, h, d or w'],
		[{ ...DEFAULT_POLICY, channelOrder: ['fax'] }, 'channelOrder.0: '],
		[{ ...DEFAULT_POLICY, channelOrder: [] }, 'channelOrder: must list at least one channel'],
		[{ ...DEFAULT_POLICY, scoring: { base: 0, rules: [], tiers: { hot: 30, warm: 50 } } }, 'scoring.tiers.hot: hot must be above warm'],
		[{ ...DEFAULT_POLICY, scoring: { rules: [{ id: 'r', label: 'L', field: 'traits.x', op: 'gte', points: 1 }] } }, 'scoring.rules.0.value: needs a value for this operator'],
		[{ ...DEFAULT_POLICY, surprise: true }, '(root): '],
	])('an invalid policy is rejected with the path of each error (%#)', (input, message) => {
		let caught: unknown;
		try {
			loadPolicy(input);
		} catch (error) {
			caught = error;
		}
		expect(caught).toBeInstanceOf(NudgeError);
		expect((caught as NudgeError).code).toBe('INVALID_POLICY');
		expect((caught as Error).message).toContain(message);
	});

	test.each([
		[{ quietHours: [{ id: 'q', start: '9pm', end: '08:00' }] }, 'quietHours.0.start: must be a time of day like "21:00"'],
		[{ quietHours: [{ id: 'q', start: '08:00', end: '08:00' }] }, 'quietHours.0.end: start and end must differ'],
		[{ caps: [{ id: 'c', scope: { kind: 'tag' }, limit: 1, window: { kind: 'rolling', duration: '1d' } }] }, 'caps.0.scope.tag: '],
		[{ caps: [{ id: 'c', scope: { kind: 'any' }, limit: 1, window: { kind: 'calendar', unit: 'fortnight' } }] }, 'caps.0.window.unit: '],
		[{ caps: [{ id: 'c', scope: { kind: 'any' }, limit: 1, window: { kind: 'calendar', unit: 'week', weekStartsOn: 0 } }] }, 'caps.0.window.weekStartsOn: '],
		[{ caps: [{ id: 'c', scope: { kind: 'any' }, limit: 1, window: { kind: 'rolling', duration: '1d' }, action: 'queue' }] }, 'caps.0.action: '],
		[{ negativeTriggers: [{ id: 't' }] }, 'negativeTriggers.0.events: give the events that start the pause'],
		[{ negativeTriggers: [{ id: 't', events: ['X'], timeout: 'soon' }] }, 'negativeTriggers.0.timeout: must be a number followed by'],
		[{ review: [{ id: 'r' }] }, 'review.0.when: give either `when` or `newVariant: true`'],
		[{ review: [{ id: 'r', newVariant: true, when: { field: 'x', op: 'exists' } }] }, 'review.0.when: give either'],
		[{ suppression: { emails: 'a@b.c' } }, 'suppression.emails: '],
	])('guardrail rules are validated with the path of each error (%#)', (extra, message) => {
		expect(() => loadPolicy({ ...DEFAULT_POLICY, ...extra })).toThrow(message);
	});

	test('duplicate cap rule ids and broken JSON are rejected', () => {
		const rule = { id: 'same', scope: { kind: 'any' }, limit: 1, window: { kind: 'rolling', duration: '1d' } };
		expect(() => loadPolicy({ ...DEFAULT_POLICY, caps: [rule, rule] })).toThrow(/caps: rule id "same" is used twice/);
		expect(() => loadPolicy('{"channelOrder": [')).toThrow(/Policy is not valid JSON/);
	});

	test('loads from a file, and a missing file is a clear error', () => {
		const path = join(tempDir(), 'policy.json');
		writeFileSync(path, JSON.stringify({ name: 'acme', channelOrder: ['email'] }));
		expect(loadPolicyFile(path).version).toMatch(/^acme@/);
		expect(() => loadPolicyFile(join(tempDir(), 'missing.json'))).toThrow(/Cannot read policy file/);
	});

	test('the JSON Schema describes the policy for editors', () => {
		const schema = policyJsonSchema() as { properties: Record<string, unknown>; required?: string[] };
		expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['channelOrder', 'caps', 'scoring', 'journeys']));
		expect(schema.required).toEqual(['channelOrder']);
	});

	test('the JSON Schema carries the bounds the loader enforces', () => {
		const { properties: p } = policyJsonSchema() as { properties: Record<string, Record<string, unknown> & { items?: Record<string, unknown> }> };
		expect(p.caps.maxItems).toBe(1000);
		expect((p.suppression.properties as Record<string, { maxItems: number }>).emails.maxItems).toBe(10_000);
		expect(p.journeys.maxProperties).toBe(1000);
		expect(p.dedupWindowHours).toMatchObject({ minimum: 1, maximum: 8760 });
		expect(p.reservationTimeoutSeconds).toMatchObject({ minimum: 1, maximum: 86_400 });
		expect(p.timezone.description).toMatch(/IANA time zone/);
		const timers = ((p.journeys.additionalProperties as { properties: Record<string, { items: { properties: Record<string, unknown> } }> }).properties.timers.items.properties);
		expect(timers.minutes).toMatchObject({ minimum: 0.01, maximum: 129_600 });
	});
});

describe('time zones, durations and timers are checked when the policy loads', () => {
	const cap = (duration: string) => ({ id: 'c', scope: { kind: 'any' }, limit: 1, window: { kind: 'rolling', duration } });
	const timers = (...pairs: [string, string][]) => ({ journeys: { cart: { timers: pairs.map(([start, fire]) => ({ start, cancel: ['Order Completed'], minutes: 30, fire })) } } });

	test('a mistyped time zone is refused with the closest valid one', () => {
		expect(() => loadPolicy({ ...DEFAULT_POLICY, timezone: 'Europe/Berln' })).toThrow('timezone: "Europe/Berln" is not a time zone; did you mean "Europe/Berlin"?');
		expect(() => loadPolicy({ ...DEFAULT_POLICY, timezone: 'Amerika/New_York' })).toThrow('did you mean "America/New_York"?');
		expect(() => loadPolicy({ ...DEFAULT_POLICY, timezone: 'UTX' })).toThrow('did you mean "UTC"?');
		expect(() => loadPolicy({ ...DEFAULT_POLICY, timezone: '+03:00' })).toThrow('timezone: "+03:00" is not a time zone');
		for (const zone of ['UTC', 'Europe/Berlin', 'US/Eastern', 'Asia/Calcutta']) expect(loadPolicy({ ...DEFAULT_POLICY, timezone: zone }).policy.timezone).toBe(zone);
	});

	test.each([
		[{ caps: [cap('0s')] }, 'caps.0.window.duration: must be from "1s" to "3650d" (10 years)'],
		[{ caps: [cap('0d')] }, 'caps.0.window.duration: must be from "1s" to "3650d" (10 years)'],
		[{ caps: [cap('3651d')] }, 'caps.0.window.duration: must be from "1s" to "3650d" (10 years)'],
		[{ caps: [cap('99999999999999999999d')] }, 'caps.0.window.duration: must be from "1s" to "3650d" (10 years)'],
		[{ negativeTriggers: [{ id: 't', events: ['Order Completed'], timeout: '0m' }] }, 'negativeTriggers.0.timeout: must be from "1s" to "3650d"'],
		[{ reservationTimeoutSeconds: 86_401 }, 'reservationTimeoutSeconds: must be from 1 to 86400 seconds (1 day)'],
		[{ dedupWindowHours: 0.5 }, 'dedupWindowHours: must be from 1 to 8760 hours (1 year)'],
		[{ dedupWindowHours: 1e300 }, 'dedupWindowHours: must be from 1 to 8760 hours (1 year)'],
		[{ dedupWindowHours: Infinity }, 'dedupWindowHours: must be a finite number'],
		[{ learner: { attributionWindowHours: 1e9 } }, 'learner.attributionWindowHours: must be from 1 to 8760 hours (1 year)'],
		[{ journeys: { cart: { timers: [{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 0.001, fire: 'Cart Abandoned' }] } } }, 'journeys.cart.timers.0.minutes: must be from 0.01 to 129600 minutes (90 days)'],
		[{ retention: { decisions: '29d' } }, 'retention.decisions: must be from "30d" to "3650d" (10 years)'],
		[{ retention: { decisions: '3651d' } }, 'retention.decisions: must be from "30d" to "3650d" (10 years)'],
		[{ retention: { decisions: '400 days' } }, 'retention.decisions: must be a number followed by s, m, h, d or w'],
		[{ retention: { inactiveProfiles: '4w' } }, 'retention.inactiveProfiles: must be from "30d" to "3650d" (10 years)'],
		[{ retention: { every: '30m' } }, 'retention.every: must be from "1h" to "7d"'],
		[{ retention: { every: '8d' } }, 'retention.every: must be from "1h" to "7d"'],
		[{ retention: { keepForever: true } }, 'retention: Unrecognized key'],
	])('every duration is bounded, and the error gives the range (%#)', (extra, message) => {
		expect(() => loadPolicy({ ...DEFAULT_POLICY, ...extra })).toThrow(message);
	});

	test('the bounds themselves are accepted', () => {
		const { policy } = loadPolicy({ ...DEFAULT_POLICY, caps: [cap('1s'), { ...cap('3650d'), id: 'd' }], reservationTimeoutSeconds: 86_400, dedupWindowHours: 8760 });
		expect(policy.caps.map((c) => c.window)).toEqual([
			{ kind: 'rolling', duration: '1s' },
			{ kind: 'rolling', duration: '3650d' },
		]);
	});

	test('retention keeps decisions at least as long as outcomes attach to them; its defaults and bounds load', () => {
		expect(() => loadPolicy({ ...DEFAULT_POLICY, learner: { attributionWindowHours: 8760 }, retention: { decisions: '300d' } })).toThrow(
			'retention.decisions: must be at least learner.attributionWindowHours (8760 hours), or outcomes would find no decision to attach to',
		);
		expect(loadPolicy({ ...DEFAULT_POLICY, learner: { attributionWindowHours: 8760 }, retention: { decisions: '365d' } }).policy.retention.decisions).toBe('365d');
		expect(loadPolicy().policy.retention).toEqual({ decisions: '400d', inactiveProfiles: '1095d', auto: true, every: '1d' });
		expect(loadPolicy({ ...DEFAULT_POLICY, retention: { decisions: '30d', inactiveProfiles: '3650d', auto: false, every: '7d' } }).policy.retention).toEqual({ decisions: '30d', inactiveProfiles: '3650d', auto: false, every: '7d' });
	});

	test.each([
		[timers(['Ping', 'Pong'], ['Pong', 'Ping']), 'journeys.cart.timers: timers form a cycle: Ping → Pong → Ping'],
		[timers(['A', 'B'], ['B', 'C'], ['C', 'a']), 'journeys.cart.timers: timers form a cycle: A → B → C → a'],
		[timers(['Cart Updated', 'Cart Abandoned'], ['Pricing Viewed', 'pricing viewed']), 'journeys.cart.timers: timers form a cycle: Pricing Viewed → pricing viewed'],
	])('timers that start each other are refused, naming the cycle (%#)', (extra, message) => {
		expect(() => loadPolicy({ ...DEFAULT_POLICY, ...extra })).toThrow(message);
	});

	test('a chain of timers that ends is accepted', () => {
		const { policy } = loadPolicy({ ...DEFAULT_POLICY, ...timers(['Cart Updated', 'Cart Abandoned'], ['Cart Abandoned', 'Cart Abandoned Twice'], ['Checkout Started', 'Cart Abandoned']) });
		expect(policy.journeys.cart.timers.map((t) => t.fire)).toEqual(['Cart Abandoned', 'Cart Abandoned Twice', 'Cart Abandoned']);
	});
});

describe('documented example policies', () => {
	const dir = join(__dirname, '../../docs/examples');
	test.each(readdirSync(dir).filter((f) => f.endsWith('.json')))('%s validates', (file) => {
		expect(loadPolicyFile(join(dir, file)).version).toMatch(/@[0-9a-f]{12}$/);
	});
});
