import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { NudgeError } from '../../engine/errors';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { tempDir } from '../helpers/fixtures';

const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'dist/cli/nudge.js');
const D = DEFAULT_POLICY as unknown as Record<string, unknown>;
const cap = (extra: Record<string, unknown> = {}) => ({ id: 'c', scope: { kind: 'any' }, limit: 1, window: { kind: 'rolling', duration: '1d' }, ...extra });
const nested = (depth: number, leaf: unknown = 1) => {
	let value = leaf;
	for (let i = 0; i < depth; i++) value = [value];
	return value;
};
/** JSON text nested `depth` lists deep (JSON.stringify itself would overflow the stack). */
const deepText = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
const timer = (start: string, fire: string) => ({ start, cancel: ['Order Completed'], minutes: 30, fire });

/** Hostile policies as JSON text (so `__proto__` is an own key, as a file would give it) and the field each error must name. */
const HOSTILE: [string, string, string][] = [
	['wrong type for a list', JSON.stringify({ ...D, caps: { id: 'c' } }), 'caps: '],
	['wrong type for a number', JSON.stringify({ ...D, caps: [cap({ limit: '3' })] }), 'caps.0.limit: '],
	['wrong type for the time zone', JSON.stringify({ ...D, timezone: 42 }), 'timezone: '],
	['a list, not a policy', '[]', '(root): '],
	['null, not a policy', 'null', '(root): '],
	['a huge list of rules', JSON.stringify({ ...D, caps: Array.from({ length: 1001 }, (_, i) => cap({ id: `c${i}` })) }), 'caps: must have at most 1000 entries'],
	['a huge suppression list', JSON.stringify({ ...D, suppression: { emails: Array.from({ length: 10_001 }, (_, i) => `a${i}@example.com`) } }), 'suppression.emails: must have at most 10000 entries'],
	['a huge number of journeys', JSON.stringify({ ...D, journeys: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`j${i}`, {}])) }), 'journeys: must have at most 1000 entries'],
	['deep nesting in a free-form value', JSON.stringify({ ...D, scoring: { rules: [{ id: 'r', label: 'L', field: 'traits.x', op: 'in', value: '<deep>', points: 1 }] } }).replace('"<deep>"', deepText(100_000)), 'scoring.rules.0.value.0.0'],
	['deep nesting where a string belongs', JSON.stringify({ ...D, name: '<deep>' }).replace('"<deep>"', deepText(5_000)), 'name.0.0'],
	['__proto__ at the top', `{"channelOrder":["email"],"__proto__":{"polluted":true}}`, '__proto__: "__proto__" is not allowed as a name'],
	['__proto__ as a journey', `{"channelOrder":["email"],"journeys":{"__proto__":{"polluted":true}}}`, 'journeys.__proto__: "__proto__" is not allowed'],
	['__proto__ as a holdout journey', `{"channelOrder":["email"],"holdout":{"journeys":{"__proto__":0.5}}}`, 'holdout.journeys.__proto__: '],
	['__proto__ as a channel', `{"channelOrder":["email"],"channels":{"__proto__":{"enabled":false}}}`, 'channels.__proto__: '],
	['__proto__ inside a condition value', `{"channelOrder":["email"],"review":[{"id":"r","when":{"field":"x","op":"eq","value":{"__proto__":{"polluted":true}}}}]}`, 'review.0.when.value.__proto__: '],
	['an unknown field', JSON.stringify({ ...D, caps: [cap({ limt: 2 })] }), 'caps.0: Unrecognized key: "limt"'],
	['an unknown field in a timer', JSON.stringify({ ...D, journeys: { cart: { timers: [{ ...timer('A', 'B'), minute: 5 }] } } }), 'journeys.cart.timers.0: Unrecognized key: "minute"'],
	['an empty name', JSON.stringify({ ...D, name: '' }), 'name: '],
	['an empty time zone', JSON.stringify({ ...D, timezone: '' }), 'timezone: "" is not a time zone'],
	['an empty rule id', JSON.stringify({ ...D, caps: [cap({ id: '' })] }), 'caps.0.id: '],
	['a mistyped time zone', JSON.stringify({ ...D, timezone: 'Europe/Berln' }), 'timezone: "Europe/Berln" is not a time zone; did you mean "Europe/Berlin"?'],
	['a zero window', JSON.stringify({ ...D, caps: [cap({ window: { kind: 'rolling', duration: '0s' } })] }), 'caps.0.window.duration: must be from "1s" to "3650d"'],
	['an endless window', JSON.stringify({ ...D, caps: [cap({ window: { kind: 'rolling', duration: '99999999999999999999d' } })] }), 'caps.0.window.duration: must be from "1s" to "3650d"'],
	['a number too large to be one', '{"channelOrder":["email"],"dedupWindowHours":1e999}', 'dedupWindowHours: '],
	['a negative limit', JSON.stringify({ ...D, caps: [cap({ limit: -1 })] }), 'caps.0.limit: must be at least 1'],
	['a negative timeout', JSON.stringify({ ...D, reservationTimeoutSeconds: -5 }), 'reservationTimeoutSeconds: must be from 1 to 86400 seconds'],
	['a negative share', JSON.stringify({ ...D, holdout: { globalShare: -0.1 } }), 'holdout.globalShare: '],
	['timers that start each other', JSON.stringify({ ...D, journeys: { cart: { timers: [timer('Ping', 'Pong'), timer('Pong', 'Ping')] } } }), 'journeys.cart.timers: timers form a cycle: Ping → Pong → Ping'],
];

function refusal(input: unknown): NudgeError {
	try {
		loadPolicy(input);
	} catch (error) {
		return error as NudgeError;
	}
	throw new Error('the policy was accepted');
}

describe('hostile policies', () => {
	afterEach(() => expect(({} as Record<string, unknown>).polluted).toBeUndefined());

	test.each(HOSTILE)('the loader refuses %s, naming the field', (_, text, field) => {
		const error = refusal(text);
		expect(error).toBeInstanceOf(NudgeError);
		expect(error.code).toBe('INVALID_POLICY');
		expect(error.message).toContain(field);
		expect(error.issues.length).toBeGreaterThan(0);
	});

	test.each([
		['NaN', { ...D, caps: [cap({ limit: NaN })] }, 'caps.0.limit: must be a finite number'],
		['Infinity', { ...D, scoring: { base: Infinity } }, 'scoring.base: must be a finite number'],
		['-Infinity', { ...D, learner: { poolStrength: -Infinity } }, 'learner.poolStrength: must be a finite number'],
	])('objects from code: %s is refused, naming the field', (_, input, message) => {
		expect(refusal(input).message).toContain(message);
	});

	/** Every path into the default policy, down to its leaves (the whole policy replaced is in the table above). */
	const paths: string[][] = [];
	const walk = (value: unknown, path: string[]) => {
		if (path.length) paths.push(path);
		if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
	};
	walk(DEFAULT_POLICY, []);
	const setAt = (root: unknown, path: string[], value: unknown): unknown => {
		if (!path.length) return value;
		const copy = (Array.isArray(root) ? [...root] : { ...(root as object) }) as Record<string, unknown>;
		copy[path[0]] = setAt(copy[path[0]], path.slice(1), value);
		return copy;
	};
	const hostileValue = fc.oneof(
		fc.constantFrom(NaN, Infinity, -Infinity, -1, 0, 1e308, '', ' ', '0s', '99999999999999999999d', 'Mars/Olympus', null, [], {}, true),
		fc.constant(JSON.parse('{"__proto__":{"polluted":true}}')),
		// Printed as nested(depth) should it fail: printing the list itself would overflow the stack.
		fc.integer({ min: 2, max: 20_000 }).map((depth) => Object.assign(nested(depth) as unknown[], { [fc.toStringMethod]: () => `nested(${depth})` })),
		fc.anything(),
	);

	test('any field of a valid policy set to a hostile value: accepted, or refused naming that field; never a crash', () => {
		fc.assert(
			fc.property(fc.constantFrom(...paths), hostileValue, (path, value) => {
				let error: unknown;
				try {
					loadPolicy(setAt(DEFAULT_POLICY, path, value));
				} catch (caught) {
					error = caught;
				}
				expect(({} as Record<string, unknown>).polluted).toBeUndefined();
				if (error === undefined) return;
				expect(error).toBeInstanceOf(NudgeError);
				const { code, issues } = error as NudgeError;
				expect(code).toBe('INVALID_POLICY');
				expect(issues.length).toBeGreaterThan(0);
				// The error is about that field, or the rule or list it is in.
				for (const issue of issues) expect(issue.path.startsWith(path[0])).toBe(true);
			}),
			{ numRuns: 500 },
		);
	});
});

describe('nudge replay --policy FILE with a hostile policy (the built CLI)', () => {
	beforeAll(() => {
		if (!existsSync(CLI)) throw new Error('dist/cli/nudge.js is missing: run `npm run build` first (npm test does)');
	});

	test('each is refused with the field named, nothing crashes and no scratch store is left behind', () => {
		const dir = tempDir();
		const scratch = tempDir();
		const events = join(dir, 'events.jsonl');
		writeFileSync(events, `${JSON.stringify({ type: 'track', event: 'Ping', userId: 'u-1', messageId: 'm-1', timestamp: '2026-03-01T09:00:00Z' })}\n`);
		// One of each kind (a CLI start takes seconds on a shared machine); the loader cases above cover every one.
		const kinds = ['timers that start each other', 'a mistyped time zone', 'an endless window', '__proto__ as a journey', 'deep nesting in a free-form value', 'a huge list of rules'];
		for (const [name, text, field] of HOSTILE.filter(([name]) => kinds.includes(name))) {
			const policy = join(dir, 'policy.json');
			writeFileSync(policy, text);
			const result = spawnSync(process.execPath, [CLI, 'replay', '--events', events, '--policy', policy], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, TMPDIR: scratch } });
			expect({ name, status: result.status, stdout: result.stdout }).toEqual({ name, status: 2, stdout: '' });
			expect(result.stderr).toContain(`nudge: Policy is not valid: `);
			expect(result.stderr).toContain(field);
			expect(result.stderr).not.toContain('unexpected error');
		}
		expect(readdirSync(scratch)).toEqual([]);
	});
});
