import type { Readable } from 'node:stream';

/** One line of a file: its text, or why it was not read. */
export type Line = { text: string; error?: undefined } | { text?: undefined; error: string };

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The lines of a stream, each at most `maxBytes` long. A longer line is skipped as its bytes arrive (never
 * held whole: node:readline would build a 50 MB line in memory) and reported; so is a line that is not UTF-8.
 */
export async function* boundedLines(input: Readable, maxBytes: number): AsyncGenerator<Line> {
	let parts: Buffer[] = [];
	let size = 0;
	const finish = (): Line => {
		const bytes = size > maxBytes ? undefined : Buffer.concat(parts, size);
		const length = size;
		parts = [];
		size = 0;
		if (!bytes) return { error: `The line is ${length.toLocaleString('en-US')} bytes long; the limit is ${maxBytes.toLocaleString('en-US')}` };
		try {
			return { text: UTF8.decode(bytes).replace(/\r$/, '') };
		} catch {
			return { error: 'The line is not UTF-8 text' };
		}
	};
	const take = (piece: Buffer) => {
		size += piece.length;
		if (size <= maxBytes) parts.push(piece);
		else parts = [];
	};
	for await (const chunk of input as AsyncIterable<Buffer>) {
		let from = 0;
		for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, from)) {
			take(chunk.subarray(from, newline));
			from = newline + 1;
			yield finish();
		}
		take(chunk.subarray(from));
	}
	if (size) yield finish();
}
