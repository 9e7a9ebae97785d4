import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy, loadPolicyFile, policyJsonSchema } from '../../engine/policy/load';
import { NudgeError } from '../../engine/errors';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { holds } from '../../engine/policy/conditions';
import { timeZoneOf } from '../../engine/policy/timeZone';
import { zoneFallbackNote, zoneFor } from '../../engine/guard/windows';
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
		expect(() => loadPolicyFile(join(tempDir(), 'missing.json'))).toThrow(/^Cannot read policy file .*missing\.json: there is no such file$/);
		expect(() => loadPolicyFile(tempDir())).toThrow(/^Cannot read policy file .*: it is a folder: name the policy's JSON file$/);
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

describe('a policy file as a marketer edits it', () => {
	const base = () => JSON.parse(JSON.stringify(DEFAULT_POLICY)) as Record<string, unknown>;
	const refused = (input: unknown, message: RegExp) => expect(() => loadPolicy(input)).toThrow(message);

	test('an empty policy file (a deploy that truncated it) is refused, not replaced by the default policy', () => {
		const file = join(tempDir(), 'policy.json');
		writeFileSync(file, JSON.stringify({ ...base(), name: 'acme', suppression: { emails: ['ceo@rival.com'] } }));
		expect(loadPolicyFile(file).policy.suppression.emails).toEqual(['ceo@rival.com']);
		for (const empty of ['', '  \n', '\uFEFF']) {
			writeFileSync(file, empty);
			expect(() => loadPolicyFile(file)).toThrow(/Policy file .*policy\.json is empty: write the policy's JSON into it/);
		}
	});

	test('a file saved with a byte order mark (Windows editors) loads like the same file without it', () => {
		const file = join(tempDir(), 'policy.json');
		writeFileSync(file, `\uFEFF${JSON.stringify({ ...base(), name: 'acme' })}`);
		expect(loadPolicyFile(file)).toEqual(loadPolicy({ ...base(), name: 'acme' }));
	});

	test('a key given twice in one place (a second "caps" block pasted below the first) is refused with its path', () => {
		const cap = '{"id":"daily","scope":{"kind":"any"},"limit":1,"window":{"kind":"rolling","duration":"24h"}}';
		refused(`{"name":"acme","channelOrder":["email"],"caps":[${cap}],"caps":[]}`, /Policy is not valid: caps: is given twice in the same place/);
		refused(`{"channelOrder":["email"],"caps":[{"id":"a","id":"b","scope":{"kind":"any"},"limit":1,"window":{"kind":"rolling","duration":"24h"}}]}`, /caps\.0\.id: is given twice/);
		// The same key in two objects is not a repeat.
		expect(loadPolicy(`{"channelOrder":["email"],"caps":[${cap},${cap.replace('daily', 'weekly')}]}`).policy.caps.map((c) => c.id)).toEqual(['daily', 'weekly']);
	});

	test.each([
		['a review rule with no value', { review: [{ id: 'big-offers', when: { field: 'message.offerValue', op: 'gte' } }] }, /review\.0\.when\.value: needs a value for this operator/],
		['a pause whose condition has no value', { negativeTriggers: [{ id: 'churned', where: [{ field: 'traits.churned', op: 'eq' }] }] }, /negativeTriggers\.0\.where\.0\.value: needs a value/],
		['a number compared with text that is no number', { review: [{ id: 'big-offers', when: { field: 'message.offerValue', op: 'gte', value: '50%' } }] }, /review\.0\.when\.value: compares as a number: give a number, e.g. 50 \(not "50%"\)/],
		['a scoring rule compared with a word', { scoring: { rules: [{ id: 'big', label: 'Big company', field: 'traits.employees', op: 'gte', value: 'fifty', points: 10 }] } }, /scoring\.rules\.0\.value: compares as a number/],
		['`in` with one text instead of a list', { scoring: { rules: [{ id: 'vp', label: 'VP', field: 'traits.title', op: 'in', value: 'VP', points: 30 }] } }, /scoring\.rules\.0\.value: needs a list of values/],
		['`contains` with a number', { agents: { approval: [{ id: 'x', when: { field: 'traits.title', op: 'contains', value: 5 } }] } }, /agents\.approval\.0\.when\.value: needs the text to look for/],
		['`in` with an empty text among its values (every text contains "")', { review: [{ id: 'vip', when: { field: 'traits.plan', op: 'in', value: ['enterprise', ''] } }] }, /review\.0\.when\.value: has an empty text "" among its values, which every text contains: remove it/],
		['`in` with more values than a list may hold', { review: [{ id: 'titles', when: { field: 'traits.title', op: 'in', value: Array.from({ length: 200_000 }, (_, i) => `title-${i}`) } }] }, /review\.0\.when\.value: must have at most 1000 values \(to never message a long list of addresses, domains or ids, use suppression\)/],
		['a pause whose starting event also clears it (it would never pause)', { negativeTriggers: [{ id: 'ticket', events: ['Ticket Updated'], clearedBy: ['ticket updated', 'Ticket Closed'] }] }, /negativeTriggers\.0\.clearedBy: trigger ticket: "Ticket Updated" is both in events and in clearedBy/],
		['a pause on the profile reading the event (which it never sees)', { negativeTriggers: [{ id: 'complaint', where: [{ field: 'event.name', op: 'eq', value: 'Complaint Filed' }] }] }, /negativeTriggers\.0\.where: trigger complaint: event\.name is read only on the event that starts a pause: name that event in `events`/],
		['a cap exempting one category twice (counted in one, not in the other)', { caps: [{ id: 'email-daily', scope: { kind: 'channel', channel: 'email' }, limit: 1, window: { kind: 'rolling', duration: '24h' }, exemptions: [{ category: 'transactional', countsTowardCap: true }, { category: 'transactional' }] }] }, /caps\.0\.exemptions: category "transactional" is listed twice in cap email-daily's exemptions: keep one/],
		['a blank suppression entry', { suppression: { emails: ['ana@example.com', '  '] } }, /suppression\.emails\.1: is blank: remove it/],
	])('a rule that would load and never hold (or hold for everyone, or say two things) is refused: %s', (_what, change, message) => {
		refused({ ...base(), ...change }, message);
	});

	test('a number given as text ("30") still compares as a number', () => {
		expect(loadPolicy({ ...base(), review: [{ id: 'big-offers', when: { field: 'message.offerValue', op: 'gte', value: '30' } }] }).policy.review).toHaveLength(1);
	});

	test('a comparison on a trait the contact does not have does not hold; a counter never triggered is 0', () => {
		const contact = { traits: {}, counters: {} };
		expect(holds({ field: 'traits.nps', op: 'lte', value: 6 }, contact)).toBe(false);
		expect(holds({ field: 'traits.accountValue', op: 'lt', value: 1000 }, contact)).toBe(false);
		expect(holds({ field: 'counters.Email Opened', op: 'lt', value: 1 }, contact)).toBe(true);
		expect(holds({ field: 'traits.nps', op: 'lte', value: 6 }, { traits: { nps: 4 } })).toBe(true);
	});

	test('a field the contact does not have is missing even when every object has it (constructor, __proto__, toString)', () => {
		expect(holds({ field: 'traits.constructor', op: 'exists' }, { traits: {} })).toBe(false);
		expect(holds({ field: 'traits.__proto__', op: 'exists' }, { traits: {} })).toBe(false);
		expect(holds({ field: 'counters.toString', op: 'lte', value: 0 }, { counters: {} })).toBe(true);
		expect(holds({ field: 'traits.constructor', op: 'eq', value: 'Acme' }, { traits: { constructor: 'Acme' } })).toBe(true);
	});

	test('`in` matches a number sent as text, as `eq` does; texts still match by containing one of the values', () => {
		expect(holds({ field: 'traits.employees', op: 'eq', value: 50 }, { traits: { employees: '50' } })).toBe(true);
		expect(holds({ field: 'traits.employees', op: 'in', value: [50, 100] }, { traits: { employees: '50' } })).toBe(true);
		expect(holds({ field: 'traits.employees', op: 'in', value: ['50', '100'] }, { traits: { employees: 100 } })).toBe(true);
		expect(holds({ field: 'traits.employees', op: 'in', value: [50, 100] }, { traits: { employees: '75' } })).toBe(false);
		expect(holds({ field: 'traits.title', op: 'in', value: ['VP', 'Director'] }, { traits: { title: 'vp sales' } })).toBe(true);
	});

	test('suppression entries pasted with spaces around them are kept without the spaces', () => {
		expect(loadPolicy({ ...base(), suppression: { emails: [' ana@example.com '], domains: ['\tcompetitor.io'], userIds: ['u-1 '] } }).policy.suppression).toEqual({ emails: ['ana@example.com'], domains: ['competitor.io'], userIds: ['u-1'] });
	});

	test.each([
		['negativeTriggers', [{ id: 'hold', events: ['Ticket Opened'], clearedBy: ['Ticket Closed'] }, { id: 'hold', events: ['Subscription Cancelled'] }]],
		['review', [{ id: 'r', newVariant: true }, { id: 'r', when: { field: 'message.offerValue', op: 'gte', value: 30 } }]],
		['quietHours', [{ id: 'night', start: '21:00', end: '08:00' }, { id: 'night', start: '12:00', end: '13:00' }]],
	])('two rules of %s sharing an id (which keys pauses and ledgers) are refused', (list, rules) => {
		refused({ ...base(), [list]: rules }, new RegExp(`${list}: rule id "\\w+" is used twice`));
	});

	test('two agent blast radius rules sharing an id (one ledger for both) are refused, and two journeys\' scoring rules', () => {
		refused({ ...base(), agents: { blastRadius: [{ id: 'agent-limit', count: 'actions', limit: 3, window: '1h' }, { id: 'agent-limit', count: 'contacts', limit: 100, window: '1d' }] } }, /agents\.blastRadius: rule id "agent-limit" is used twice/);
		const rule = { id: 'vp', label: 'VP', field: 'traits.title', op: 'in', value: ['VP'], points: 30 };
		refused({ ...base(), journeys: { nurture: { scoring: { rules: [rule, rule] } } } }, /journeys\.nurture\.scoring\.rules: rule id "vp" is used twice/);
	});
});

describe('contacts\' time zones', () => {
	test('a zone in any spelling is the zone in its own spelling; a name that is no zone is none', () => {
		expect(['europe/berlin', 'Europe/Berlin', 'EUROPE/BERLIN'].map(timeZoneOf)).toEqual(['Europe/Berlin', 'Europe/Berlin', 'Europe/Berlin']);
		expect([timeZoneOf('Etc/UTC'), timeZoneOf('Asia/Kolkata'), timeZoneOf('US/Eastern')]).toEqual(['Etc/UTC', 'Asia/Kolkata', 'US/Eastern']);
		// A name all in lower case (HubSpot's hs_timezone), not seen in another spelling before, is spelled as the runtime
		// spells its zone ("US/Eastern" above keeps its own spelling, and so does "us/eastern" after it: one per name).
		expect([timeZoneOf('europe/berlin'), timeZoneOf('us/pacific'), timeZoneOf('us/eastern')]).toEqual(['Europe/Berlin', 'America/Los_Angeles', 'US/Eastern']);
		expect([timeZoneOf('Mars/Olympus'), timeZoneOf('+03:00'), timeZoneOf(`Europe/${'x'.repeat(100)}`)]).toEqual([undefined, undefined, undefined]);
		expect(zoneFor('europe/berlin', 'UTC')).toBe('Europe/Berlin');
		expect(zoneFallbackNote('US/Eastern', zoneFor('US/Eastern', 'UTC'))).toBeUndefined();
		expect(zoneFallbackNote('Mars/Olympus', 'UTC')).toMatch(/"Mars\/Olympus" is not a time zone, so the policy's UTC applies/);
	});

	test('names sent as contacts\' zones are not kept for good: memory stays bounded however many distinct names arrive', () => {
		const script = `
			const { isTimeZone } = require(${JSON.stringify(join(__dirname, '../../dist/engine/policy/timeZone.js'))});
			const { zoneFor } = require(${JSON.stringify(join(__dirname, '../../dist/engine/guard/windows.js'))});
			isTimeZone('Europe/Berlin'); global.gc();
			const before = process.memoryUsage().heapUsed;
			const pad = 'x'.repeat(40);
			for (let i = 0; i < 40000; i++) { isTimeZone('Zone/' + i + pad); zoneFor('Zone/' + i + pad, 'UTC'); }
			// Spellings of one real zone: each a valid name.
			for (let i = 0; i < 4096; i++) zoneFor('europe/berlin'.split('').map((c, j) => (i >> (j % 12)) & 1 ? c.toUpperCase() : c).join(''), 'UTC');
			global.gc();
			process.stdout.write(String(process.memoryUsage().heapUsed - before));`;
		const run = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' });
		expect(run.stderr).toBe('');
		// 40,000 names kept would be over 10 MB; the bounded lookup keeps at most 2,000.
		expect(Number(run.stdout)).toBeLessThan(3 * 1024 * 1024);
	});
});

describe('time zone spellings, whatever was looked up before', () => {
	type Zones = typeof import('../../engine/policy/timeZone');
	type HubSpot = typeof import('../../engine/vendors/hubspot/normalise');
	const fresh = (): { zones: Zones; hubspot: HubSpot } => {
		let out!: { zones: Zones; hubspot: HubSpot };
		// Fresh modules: their caches of names looked up start empty.
		jest.isolateModules(() => {
			/* eslint-disable @typescript-eslint/no-require-imports */
			out = { zones: require('../../engine/policy/timeZone'), hubspot: require('../../engine/vendors/hubspot/normalise') };
			/* eslint-enable @typescript-eslint/no-require-imports */
		});
		return out;
	};

	test('an alias keeps its name ("Asia/Kolkata") even after HubSpot named it in lower case', () => {
		const alone = fresh().zones.timeZoneOf('Asia/Kolkata');
		const { zones } = fresh();
		zones.timeZoneOf('asia/kolkata');
		expect(zones.timeZoneOf('Asia/Kolkata')).toBe(alone);
	});

	test('HubSpot\'s "us_slash_eastern" is America/New_York even after a contact stated "US/Eastern"', () => {
		const alone = fresh().hubspot.hubspotTimeZone('us_slash_eastern');
		expect(alone).toBe('America/New_York');
		const { zones, hubspot } = fresh();
		zones.timeZoneOf('US/Eastern');
		expect(hubspot.hubspotTimeZone('us_slash_eastern')).toBe(alone);
	});
});
