import { isPiiKey, redactText, redactValue } from '../engine/audit/redact';
import { fmt, print } from './stats';

/**
 * Console redaction on adversarial text: the one-pass email scanner against the regular expression it
 * replaced (same masking), at a size the old pattern can finish (its time grows with the square of the
 * input) and at 1 MB, where only the new one runs.
 */
const OLD_EMAIL = /[A-Z0-9._%+-]+@[A-Z0-9.-]+\.[A-Z]{2,}/gi;
const PHONE = /(?<![\w-])(?:\+\d[\d\s().-]{6,17}\d|\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4})(?![\w-])/g;
const oldRedactText = (text: string) => text.replace(OLD_EMAIL, '[email redacted]').replace(PHONE, '[phone redacted]');

const BASELINE_CHARS = Number(process.env.BENCH_REDACT_BASELINE_CHARS ?? 20_000);
const MB = 1 << 20;

/** Each input of about `n` characters. */
const INPUTS: [string, (n: number) => string][] = [
	['name run, @, domain with no dot', (n) => `${'x'.repeat(n / 2)}@${'a'.repeat(n / 2)}`],
	['address characters, no @', (n) => 'x'.repeat(n)],
	['a@ repeated', (n) => 'a@'.repeat(n / 2)],
	['one long address', (n) => `${'x'.repeat(n / 2)}@${'ab.'.repeat(n / 6)}com`],
	['phone-like digits and +', (n) => ' +1 (2'.repeat(n / 6)],
];

function millis(run: () => unknown, repeat = 3): number {
	let best = Infinity;
	for (let i = 0; i < repeat; i++) {
		const started = performance.now();
		run();
		best = Math.min(best, performance.now() - started);
	}
	return best;
}

export async function benchRedact(): Promise<void> {
	print(`bench/redact: redactText on adversarial text; baseline = the old email pattern at ${fmt(BASELINE_CHARS, 0)} characters (best of 3)`);
	print('  input                              old @base   new @base  old/new   new @1 MB');
	for (const [label, make] of INPUTS) {
		const small = make(BASELINE_CHARS);
		const large = make(MB);
		if (redactText(small) !== oldRedactText(small)) throw new Error(`bench/redact: the masking differs on "${label}"`);
		const old = millis(() => oldRedactText(small), 1);
		const ours = millis(() => redactText(small));
		const big = millis(() => redactText(large));
		print(`  ${label.padEnd(34)} ${fmt(old).padStart(8)} ms ${fmt(ours).padStart(8)} ms ${fmt(old / ours, old / ours < 10 ? 2 : 0).padStart(8)} ${fmt(big).padStart(8)} ms`);
	}
	const key = 'aname'.repeat(MB / 5);
	print(`  isPiiKey on a 1 MB key: ${fmt(millis(() => isPiiKey(key)))} ms; redactValue of { [1 MB key]: 1 MB text }: ${fmt(millis(() => redactValue({ [key]: 'x'.repeat(MB) })))} ms`);
}

if (require.main === module) {
	benchRedact().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
