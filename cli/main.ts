/** The `nudge` commands (loaded by nudge.ts once the Node.js version is known to be recent enough). */
import { parseArgs } from 'node:util';
import { NudgeError, redactUrl } from '../engine/errors';
import { ACTIVATE_USAGE, IMPORT_USAGE, runActivate, runImport, runScore, runTrain, SCORE_USAGE, TRAIN_USAGE } from './models';
import { formatSummary, replay } from './replay';
import { LIFT_USAGE, runLift } from './lift';
import { UPLIFT_USAGE, runUplift } from './uplift';
import { CONSOLE_USAGE, runConsole } from './console';
import { ERASE_USAGE, runErase } from './erase';
import { RETENTION_USAGE, runRetentionCommand } from './retention';
import { EXPORT_USAGE, runExport } from './export';
import { EXPORT_CONTACT_USAGE, isContactExport, runExportContact } from './exportContact';
import { MCP_USAGE, runMcp } from './mcp';
import { openOutFile } from './outFile';
import { packageVersion } from './packageRoot';

const REPLAY_USAGE = `  replay --events FILE.jsonl [--journey nurture|cart-abandonment|churn-risk] [--policy FILE.json]
         [--store PATH] [--out FILE]
      Dry-runs a journey over past events (Nudge or Segment format, one JSON per line) on a fresh
      embedded store, each at its own time; the journey's inactivity timers fire in simulated time.
      Policy: flows/policies/journeys.json unless --policy is given. Once all is replayed, writes one
      JSON decision per line, with the outcomes later events recorded (lift --decisions reads it), to
      stdout or --out FILE (written whole or not at all; Ctrl+C leaves no partial file), and a summary on
      stderr. Nothing is sent. Lines are decided in file order: give them in time order (a line dated
      before one already decided sees that one's send). --store PATH keeps the replay's store: a new
      file, or one only replays used; a store Nudge decided in (a live one, even after a replay) is
      refused, so dry runs never mix into its log.
`;

/** Each command: its help text (also shown by `nudge <command> --help`) and what runs it. */
const COMMANDS: Record<string, { usage: string; run: (args: string[]) => Promise<number> }> = {
	replay: { usage: REPLAY_USAGE, run: runReplay },
	train: { usage: TRAIN_USAGE, run: runTrain },
	score: { usage: SCORE_USAGE, run: runScore },
	import: { usage: IMPORT_USAGE, run: runImport },
	activate: { usage: ACTIVATE_USAGE, run: (args) => runActivate(args, false) },
	rollback: { usage: ACTIVATE_USAGE, run: (args) => runActivate(args, true) },
	lift: { usage: LIFT_USAGE, run: runLift },
	uplift: { usage: UPLIFT_USAGE, run: runUplift },
	console: { usage: CONSOLE_USAGE, run: runConsole },
	erase: { usage: ERASE_USAGE, run: runErase },
	// With --contact or --email: one contact's record (right of access); without: the decision log.
	export: { usage: EXPORT_USAGE + EXPORT_CONTACT_USAGE, run: (args) => (isContactExport(args) ? runExportContact(args) : runExport(args)) },
	mcp: { usage: MCP_USAGE, run: runMcp },
	retention: { usage: RETENTION_USAGE, run: runRetentionCommand },
};

/** What --store means wherever it is given (replay's own says it keeps the replay's scratch store instead). */
const STORE_NOTE = `
--store STORE, in every command but replay: a SQLite file (~/.nudge/nudge.db when absent) or a store URL
      (redis://…, postgres://…, split:…; docs/deploy.md).
`;

const USAGE = `Usage: nudge <command> [options]    (nudge <command> --help, nudge --version)

Commands:
${[...new Set(Object.values(COMMANDS).map((c) => c.usage))].join('')}${STORE_NOTE}`;

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
	// Opened first: an --out that cannot be written stops the replay before it starts.
	const out = values.out ? await openOutFile(values.out, [values.events, values.store, values.policy]) : undefined;
	const write = (line: string) => (out ? out.stream.write(line) : process.stdout.write(line));
	const summary = await replay(
		{ events: values.events, journey: values.journey, policy: values.policy, store: values.store },
		(decision) => write(`${JSON.stringify(decision)}\n`),
	).catch(async (error) => {
		await out?.finish(false);
		throw error;
	});
	await out?.finish(true);
	process.stderr.write(formatSummary(summary));
	return summary.rejected.length ? 1 : 0;
}

function knownCommand(command: string) {
	if (!Object.prototype.hasOwnProperty.call(COMMANDS, command)) fail(`unknown command "${command}"\n\n${USAGE}`);
	return COMMANDS[command];
}

const isHelp = (arg: string) => arg === '--help' || arg === '-h';
const commandHelp = (usage: string) => `Usage:\n${usage.replace(/^ {2}(?=\S)/gm, '  nudge ')}${usage === REPLAY_USAGE ? '' : STORE_NOTE}`;

async function main(argv: string[]): Promise<number> {
	const [command, ...rest] = argv;
	if (command === '--version' || command === '-v' || command === 'version') {
		process.stdout.write(`${packageVersion()}\n`);
		return 0;
	}
	if (!command || isHelp(command) || (command === 'help' && !rest[0])) {
		process.stdout.write(USAGE);
		return command ? 0 : 2;
	}
	// `nudge help replay` is `nudge replay --help`; either names an unknown command as such.
	const known = knownCommand(command === 'help' ? rest[0] : command);
	if (command === 'help' || rest.some(isHelp)) {
		process.stdout.write(commandHelp(known.usage));
		return 0;
	}
	return known.run(rest);
}

main(process.argv.slice(2)).then(
	(code) => process.exit(code),
	// node:util parseArgs says what is wrong with the command line itself (an unknown option, a value that looks like one).
	(error) => fail(error instanceof NudgeError || String(error?.code).startsWith('ERR_PARSE_ARGS_') ? error.message : `unexpected error: ${error?.stack ?? error}`),
);
