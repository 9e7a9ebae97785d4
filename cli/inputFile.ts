import { statSync } from 'node:fs';
import { NudgeError } from '../engine/errors';

/**
 * Refuses an input file (--events, --decisions…) that is not there or is a folder, before any work starts: read
 * later, either would stop the command with a system error (ENOENT, EISDIR) instead of a message naming the option.
 */
export function requireInputFile(option: string, what: string, file: string): void {
	const stat = statSync(file, { throwIfNoEntry: false });
	if (!stat) throw new NudgeError('INVALID_INPUT', `${what} not found: ${file} (check ${option})`);
	if (stat.isDirectory()) throw new NudgeError('INVALID_INPUT', `${option} ${file} is a folder, not a file: give the file in it`);
}
