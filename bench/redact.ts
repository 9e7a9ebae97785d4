import { isPiiKey, redactText, redactValue } from '../engine/audit/redact';
import { redactLinks, redactUrl } from '../engine/errors';
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

/** The store-URL masking of every error message before its scheme search started only where a run starts. */
const OLD_URL_WITH_USER = /\b([a-z][a-z0-9+.-]*:\/{0,3}(?:(?![a-z][a-z0-9+.-]*:\/)[^\s:@/?#"'`<>])*:)((?:(?![a-z][a-z0-9+.-]*:\/)[^\r\n])*)/gi;
const OLD_SECRET_PARAM = /([?&;](?:[a-z0-9_.-]*(?:password|passwd|pwd|pass|secret|token|key|auth|signature|sig)[a-z0-9_.-]*)=)[^&;#\s"'`<>]*/gi;
const oldRedactUrl = (text: string) =>
	text
		.replace(OLD_URL_WITH_USER, (whole, user: string, rest: string) => {
			const info = /^.*@(?=[\w[%])/.exec(rest)?.[0];
			return info ? `${user}***${rest.slice(info.length - 1)}` : whole;
		})
		.replace(OLD_SECRET_PARAM, '$1***');

/** Error messages that quote long text: each of about `n` characters. */
const URL_INPUTS: [string, (n: number) => string][] = [
	['a.a.a… (one run of scheme characters)', (n) => 'a.'.repeat(n / 2)],
	['scheme and a long password, no @', (n) => `x://u:${'a'.repeat(n)}`],
	['b:ccc… (a scheme, then a run)', (n) => `b:${'c'.repeat(n)}`],
	['?passwordpassword… (no =)', (n) => `?${'password'.repeat(n / 8)}`],
	['store URLs with passwords, repeated', (n) => 'split:hot=redis://u:p@h:6379;log=postgres://a:"b c@d/db?password=x '.repeat(n / 64)],
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
	print(`bench/redact: redactUrl (every error message) on text an error may quote; baseline = its pattern before, at ${fmt(BASELINE_CHARS, 0)} characters`);
	print('  input                                  old @base   new @base  old/new   new @1 MB');
	for (const [label, make] of URL_INPUTS) {
		const small = make(BASELINE_CHARS);
		if (redactUrl(small) !== oldRedactUrl(small)) throw new Error(`bench/redact: the URL masking differs on "${label}"`);
		const old = millis(() => oldRedactUrl(small), 1);
		const ours = millis(() => redactUrl(small));
		const big = millis(() => redactUrl(make(MB)));
		print(`  ${label.padEnd(38)} ${fmt(old).padStart(8)} ms ${fmt(ours).padStart(8)} ms ${fmt(old / ours, old / ours < 10 ? 2 : 0).padStart(8)} ${fmt(big).padStart(8)} ms`);
	}
	// Links in shown text (redactLinks): shapes that would make a parameter or password search go back over the link.
	const links: [string, (n: number) => string][] = [
		['a link, then "?a" repeated', (n) => `https://a.example.com/?${'?a'.repeat(n / 2)}`],
		['a link, then "&a" repeated', (n) => `https://a.example.com/?${'&a'.repeat(n / 2)}`],
		['a link, then "@" repeated (user info)', (n) => `https://u:${'@'.repeat(n)}`],
		['"\\/\\/" repeated (escaped slashes)', (n) => '\\/'.repeat(n / 2)],
		['a link wrapping an encoded one, "%3Fa%3D" repeated', (n) => `https://a.example.com/c?u=https%3A%2F%2Fb${'%3Fa%3D'.repeat(n / 7)}`],
	];
	print('bench/redact: redactLinks (every string a reader is shown) on hostile links: time at 20k characters and at 1 MB (linear: about 50 times as long)');
	for (const [label, make] of links) print(`  ${label.padEnd(38)} ${fmt(millis(() => redactLinks(make(BASELINE_CHARS)))).padStart(8)} ms ${fmt(millis(() => redactLinks(make(MB)))).padStart(8)} ms`);
	const key = 'aname'.repeat(MB / 5);
	print(`  isPiiKey on a 1 MB key: ${fmt(millis(() => isPiiKey(key)))} ms; redactValue of { [1 MB key]: 1 MB text }: ${fmt(millis(() => redactValue({ [key]: 'x'.repeat(MB) })))} ms`);
}

if (require.main === module) {
	benchRedact().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
