import { rmSync, type WriteStream } from 'node:fs';
import { lstat, open, readlink, realpath, rename, rm, stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { dirname, resolve } from 'node:path';
import { NudgeError } from '../engine/errors';
import { sqliteFilesOf } from '../engine/store/open';

/** An --out file being written: `finish(true)` puts it under its name, `finish(false)` discards it. */
export interface OutFile {
	stream: WriteStream;
	finish(ok: boolean): Promise<void>;
}

const cannotWrite = (file: string, error: NodeJS.ErrnoException) => new NudgeError('INVALID_INPUT', `--out ${file}: cannot write there (${error.code ?? error.message})`);
const isDirectory = (file: string) => stat(file).then((s) => s.isDirectory(), () => false);

/**
 * A path as the file system resolves it (symbolic links followed), or as given when nothing is there yet; a link whose
 * file is not there yet names that file.
 */
async function realPath(file: string): Promise<string> {
	const real = await realpath(file).catch(() => undefined);
	if (real) return real;
	const link = await lstat(file).then((s) => s.isSymbolicLink(), () => false);
	return link ? resolve(dirname(file), await readlink(file)) : resolve(file);
}

/**
 * Opens an --out file before any work starts, so a place that cannot be written is an error at once. It is
 * written beside its name (FILE.partial) and renamed into place once complete: a run that fails leaves the
 * file of the last run as it was. A symbolic link is written through (the file it names is replaced), and an --out
 * that is one of the command's own files (`inputs`: its --store, its --data) is refused: renamed over it, the model or
 * the export would replace the database.
 */
export async function openOutFile(file: string, inputs: (string | undefined)[] = []): Promise<OutFile> {
	// A directory would only refuse the rename, once the work is done: refused now.
	if (await isDirectory(file)) throw cannotWrite(file, Object.assign(new Error('a directory'), { code: 'EISDIR' }));
	const target = await realPath(file);
	for (const input of inputs) {
		// A store setting names its SQLite files (split stores' parts, any case of scheme); --data, --events and --policy
		// are plain paths, which name themselves.
		for (const own of input === undefined ? [] : sqliteFilesOf(input)) {
			if ((await realPath(own)) === target) throw new NudgeError('INVALID_INPUT', `--out ${file} is a file the command reads or keeps its data in (${input}): write the output somewhere else`);
		}
	}
	const partial = `${target}.partial`;
	const handle = await open(partial, 'w').catch((error: NodeJS.ErrnoException) => {
		throw cannotWrite(file, error);
	});
	const stream = handle.createWriteStream();
	// A write that fails later (disk full) is reported by finish, not as an unhandled 'error' event.
	let failure: NodeJS.ErrnoException | undefined;
	stream.on('error', (error) => (failure ??= error));
	// Ctrl+C or a stop (SIGTERM) mid-write would leave FILE.partial, personal data included, until the next run:
	// removed first, then the process ends as the signal would have ended it (exit code 128 + its number).
	const interrupted = (signal: NodeJS.Signals) => {
		rmSync(partial, { force: true });
		process.exit(128 + osConstants.signals[signal]);
	};
	const signals = ['SIGINT', 'SIGTERM'] as const;
	for (const signal of signals) process.once(signal, interrupted);
	return {
		stream,
		finish: async (ok) => {
			try {
				await new Promise<void>((resolve) => stream.end(() => resolve()));
				if (ok && !failure) {
					failure = await rename(partial, target).then(() => undefined, (error: NodeJS.ErrnoException) => error);
					if (!failure) return;
				}
				await rm(partial, { force: true });
				if (failure) throw cannotWrite(file, failure);
			} finally {
				for (const signal of signals) process.off(signal, interrupted);
			}
		},
	};
}

/**
 * Trains and stores with the model file written to --out first (opened before the work starts, written before
 * anything is stored, renamed into place after): an --out that cannot be written changes nothing in the store.
 */
export async function withModelOut<T>(file: string | undefined, inputs: (string | undefined)[], run: (beforeStore?: (body: string) => Promise<void>) => Promise<T>): Promise<T> {
	if (!file) return run();
	const out = await openOutFile(file, inputs);
	const write = (body: string) => new Promise<void>((resolve, reject) => out.stream.write(body, (error) => (error ? reject(cannotWrite(file, error)) : resolve())));
	let result: T;
	try {
		result = await run(write);
	} catch (error) {
		await out.finish(false).catch(() => undefined);
		throw error;
	}
	await out.finish(true);
	return result;
}
