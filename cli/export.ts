import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { EXPORT_FORMATS, ExportFormat, exportDecisions } from '../engine/audit/export';
import type { DecisionQuery } from '../engine/audit/schema';
import { parseConsoleParams } from '../engine/audit/queries';
import { NudgeError } from '../engine/errors';
import { DEFAULT_STORE_URL } from '../engine/store/open';
import { openOutFile } from './outFile';
import { withStore } from './storeFile';

export const EXPORT_USAGE = `  export [--store STORE] [--format jsonl|csv] [--out FILE] [--redact] [--journey NAME]
         [--reason CODE] [--status STATUS] [--from ISO] [--to ISO]
      The decision log, oldest first: jsonl (each decision as the log holds it, one JSON per line) or csv
      (flat columns a spreadsheet opens: decisionId, createdAt, journey, contactId, eventName, status,
      reason, ruleId, channel, score, tier, holdout, policyVersion, deliveryStatus, providerMessageId…;
      lists and objects as JSON in a cell). The filters are the console's (from inclusive, to exclusive).
      Writes to stdout unless --out FILE (written whole or not at all). It holds what the log holds,
      personal data included: --redact masks it as the console does. Reads the log a page at a time, so
      memory stays small whatever its size.
`;

/** The log export's options; all but --store are refused with --contact / --email (exportContact.ts). */
export const OPTIONS = {
	store: { type: 'string' },
	format: { type: 'string', default: 'jsonl' },
	out: { type: 'string' },
	redact: { type: 'boolean', default: false },
	journey: { type: 'string' },
	reason: { type: 'string' },
	status: { type: 'string' },
	from: { type: 'string' },
	to: { type: 'string' },
} as const;

const parseExportArgs = (args: string[]) => parseArgs({ args, options: OPTIONS, strict: true }).values;
type ExportValues = ReturnType<typeof parseExportArgs>;

export async function runExport(args: string[]): Promise<number> {
	return exportDecisionLog(parseExportArgs(args));
}

/** Where an export goes: stdout, or a file written beside its name and renamed into place once complete. */
interface Output {
	write(chunk: string): Promise<void> | void;
	/** Completes the output (the file appears under its name); `ok` false discards a partial file. */
	finish(ok: boolean): Promise<void>;
}

/** The reader of stdout went away (`nudge export | head`): not a failure of the export. */
class OutputClosed extends Error {}

async function outputTo(file: string | undefined, store: string): Promise<Output> {
	if (!file) {
		let closed = false;
		process.stdout.once('error', (error: NodeJS.ErrnoException) => {
			if (error.code !== 'EPIPE') throw error;
			closed = true;
			process.stdout.emit('drain');
		});
		return {
			write: async (chunk) => {
				if (!closed && !process.stdout.write(chunk)) await once(process.stdout, 'drain');
				if (closed) throw new OutputClosed();
			},
			finish: async () => undefined,
		};
	}
	const { stream, finish } = await openOutFile(file, [store]);
	return { write: (chunk) => (stream.write(chunk) ? undefined : once(stream, 'drain').then(() => undefined)), finish };
}

/** The decision log export (`nudge export` without a mode): filters validated as the console's, then streamed. */
async function exportDecisionLog(values: ExportValues): Promise<number> {
	const format = values.format as ExportFormat;
	if (!EXPORT_FORMATS.includes(format)) throw new NudgeError('INVALID_INPUT', `--format must be ${EXPORT_FORMATS.join(' or ')}, not "${values.format}"`);
	const { filter } = parseConsoleParams({ journey: values.journey, reason: values.reason, status: values.status, from: values.from, to: values.to });
	const query: DecisionQuery = { journey: filter.journey, reason: filter.reason, status: filter.status, from: filter.from, to: filter.to };
	const n = await withStore(values.store, async (store) => {
		const out = await outputTo(values.out, values.store ?? DEFAULT_STORE_URL);
		try {
			const written = await exportDecisions(store, query, { format, redact: values.redact }, out.write);
			await out.finish(true);
			return written;
		} catch (error) {
			await out.finish(false);
			if (error instanceof OutputClosed) return undefined;
			throw error;
		}
	}, { existing: true });
	if (n === undefined) {
		process.stderr.write('nudge export: stopped: the reader closed the output\n');
		return 0;
	}
	process.stderr.write(`nudge export: ${n} decision(s)${values.out ? ` written to ${values.out}` : ''}${values.redact ? ', personal data redacted' : ''}\n`);
	return 0;
}
