import fc from 'fast-check';
import { exactIsoTime, isoTime, parseTime } from '../../engine/util/isoTime';

/** What the built-ins say, a RangeError included: isoTime and parseTime must say the same. */
const nativeIso = (ms: number) => {
	try {
		return new Date(ms).toISOString();
	} catch (error) {
		return `${(error as Error).name}`;
	}
};
const ours = (ms: number) => {
	try {
		return isoTime(ms);
	} catch (error) {
		return `${(error as Error).name}`;
	}
};

/** Every time a Date can hold (±8.64e15 ms), and the four-digit years' edges. */
const anyTime = fc.oneof(
	fc.integer({ min: -8.64e15, max: 8.64e15 }),
	fc.integer({ min: -62_167_219_200_000 - 5, max: -62_167_219_200_000 + 5 }),
	fc.integer({ min: 253_402_300_799_999 - 5, max: 253_402_300_799_999 + 5 }),
	fc.integer({ min: Date.UTC(1999, 0, 1), max: Date.UTC(2101, 0, 1) }),
);

describe('ISO times without the built-ins', () => {
	test('isoTime writes what toISOString writes, for any time, and refuses what it refuses', () => {
		fc.assert(fc.property(anyTime, (ms) => expect(ours(ms)).toBe(nativeIso(ms))), { numRuns: 20_000 });
		for (const ms of [0, -0, 1.5, -1.5, 0.25, NaN, Infinity, -Infinity, 8.64e15, -8.64e15, 8.64e15 + 1, Date.UTC(2000, 1, 29), Date.UTC(1900, 1, 28, 23, 59, 59, 999)]) {
			expect(ours(ms)).toBe(nativeIso(ms));
		}
		// Twice in a row (the last time is remembered) and after another.
		expect([isoTime(1e12), isoTime(1e12), isoTime(2e12), isoTime(1e12)]).toEqual([1e12, 1e12, 2e12, 1e12].map(nativeIso));
	});

	test('parseTime reads what Date.parse reads: canonical texts, every other form, and texts that are not times', () => {
		const canonical = anyTime.map(nativeIso).filter((s) => !s.includes('Error'));
		fc.assert(fc.property(canonical, (text) => expect(parseTime(text)).toBe(Date.parse(text))), { numRuns: 10_000 });
		// Fields out of range, other forms, and noise: whatever the built-in makes of them.
		const field = (n: number) => fc.integer({ min: 0, max: 10 ** n - 1 }).map((v) => String(v).padStart(n, '0'));
		const loose = fc
			.tuple(field(4), field(2), field(2), field(2), field(2), field(2), field(3))
			.map(([y, mo, d, h, mi, s, ms]) => `${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`);
		fc.assert(fc.property(loose, (text) => expect(parseTime(text)).toBe(Date.parse(text))), { numRuns: 10_000 });
		fc.assert(fc.property(fc.string({ maxLength: 30 }), (text) => expect(parseTime(text)).toBe(Date.parse(text))), { numRuns: 5_000 });
		for (const text of ['2026-02-29T00:00:00.000Z', '2024-02-29T00:00:00.000Z', '2026-11-02T24:00:00.000Z', '2026-11-02T09:00:00Z', '2026-11-02', '2026-11-02T09:00:00.000+01:00', '+275760-09-13T00:00:00.000Z', '-000001-01-01T00:00:00.000Z', '2026-11-02t09:00:00.000z', '']) {
			expect(parseTime(text)).toBe(Date.parse(text));
		}
	});

	test('exactIsoTime: the time of a text that reads back unchanged, NaN for any other', () => {
		const exact = (text: string) => {
			const ms = Date.parse(text);
			return Number.isFinite(ms) && new Date(ms).toISOString() === text ? ms : NaN;
		};
		fc.assert(fc.property(anyTime.map(nativeIso).filter((s) => !s.includes('Error')), (text) => expect(exactIsoTime(text)).toBe(exact(text))), { numRuns: 10_000 });
		for (const text of ['2026-11-02T09:00:00.000Z', '2026-11-02T09:00:00Z', '2026-02-30T00:00:00.000Z', '2026-11-02T24:00:00.000Z', '+010000-01-01T00:00:00.000Z', '-000001-01-01T00:00:00.000Z', 'soon']) {
			expect(exactIsoTime(text)).toBe(exact(text));
		}
	});
});
