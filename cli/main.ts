/** The `nudge` commands (loaded by nudge.ts once the Node.js version is known to be recent enough). */
import { createWriteStream, WriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { NudgeError } from '../engine/errors';
import { redactUrl } from '../engine/store/connection';
import { MODEL_USAGE, runActivate, runImport, runScore, runTrain } from './models';
import { formatSummary, replay } from './replay';
import { LIFT_USAGE, runLift } from './lift';
import { CONSOLE_USAGE, runConsole } from './console';

const USAGE = `Usage: nudge <command> [options]

Commands:
  replay --events FILE.jsonl [--journey nurture|cart-abandonment|churn-risk] [--policy FILE.json]
         [--store PATH] [--out FILE]
      Dry-runs a journey over past events (Nudge or Segment format, one JSON per line) on a fresh
      embedded store, each at its own time; the journey's inactivity timers fire in simulated time.
      Policy: flows/policies/journeys.json unless --policy is given. Writes one JSON decision per
      line (stdout by default) and a summary on stderr. Nothing is sent.
${MODEL_USAGE}${LIFT_USAGE}${CONSOLE_USAGE}`;

function fail(message: string): never {
	process.stderr.write(`nudge: ${redactUrl(message)}\n`);
	process.exit(2);
}

async function runReplay(args: string[]): Promise<number> {
	const { values } = parseArgs({
		args,
		options: {
			events: { type: 'string' },
			journey: { type: 'string', default: 'nurture' },
			policy: { type: 'string' },
			store: { type: 'string' },
			out: { type: 'string' },
		},
		strict: true,
	});
	if (!values.events) fail(`replay needs --events FILE.jsonl\n\n${USAGE}`);
	let out: WriteStream | undefined;
	if (values.out) out = createWriteStream(values.out);
	const write = (line: string) => (out ? out.write(line) : process.stdout.write(line));
	const summary = await replay(
		{ events: values.events, journey: values.journey, policy: values.policy, store: values.store },
		(decision) => write(`${JSON.stringify(decision)}\n`),
	);
	if (out) await new Promise<void>((resolve, reject) => out!.end((err?: Error | null) => (err ? reject(err) : resolve())));
	process.stderr.write(formatSummary(summary));
	return summary.rejected.length ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
	const [command, ...rest] = argv;
	if (!command || command === '--help' || command === 'help') {
		process.stdout.write(USAGE);
		return command ? 0 : 2;
	}
	if (command === 'replay') return runReplay(rest);
	if (command === 'lift') return runLift(rest);
	if (command === 'console') return runConsole(rest);
	if (command === 'train') return runTrain(rest);
	if (command === 'score') return runScore(rest);
	if (command === 'import') return runImport(rest);
	if (command === 'activate' || command === 'rollback') return runActivate(rest, command === 'rollback');
	fail(`unknown command "${command}"\n\n${USAGE}`);
}

main(process.argv.slice(2)).then(
	(code) => process.exit(code),
	(error) => fail(error instanceof NudgeError || error?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? error.message : `unexpected error: ${error?.stack ?? error}`),
);
