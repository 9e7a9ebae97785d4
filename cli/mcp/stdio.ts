/**
 * `nudge mcp` over stdin/stdout: the SDK's StdioServerTransport with its own line reading. The SDK's transport
 * reports a line that is not JSON (or not a JSON-RPC message) to onerror only, so the client waited for an answer
 * that never came, and a line over its 10 MB buffer closed the transport. Here each such line gets a JSON-RPC
 * error, as over HTTP (a line is limited as a request body is), one line goes to stderr, and reading goes on.
 */
import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { MAX_BODY_BYTES, rpcErrorBody } from './http';

const NEWLINE = 0x0a;

/** The request id of a line that parsed as JSON but is not a message, when it has a usable one. */
function idOf(value: unknown): string | number | null {
	const id = value && typeof value === 'object' ? (value as { id?: unknown }).id : undefined;
	return typeof id === 'string' || typeof id === 'number' ? id : null;
}

export class AnsweringStdioTransport extends StdioServerTransport {
	/** The current line's bytes so far; dropped once the line is over the limit. */
	private line: Buffer[] = [];
	private lineBytes = 0;
	private overLimit = false;

	constructor(
		stdin: Readable = process.stdin,
		private readonly out: Writable = process.stdout,
		/** As a request body over HTTP: a line is one message. */
		private readonly maxLineBytes = MAX_BODY_BYTES,
	) {
		super(stdin, out);
		// start() and close() add and remove this very listener; the SDK's line buffer is left unused.
		this._ondata = (chunk: Buffer) => this.read(chunk);
	}

	private read(chunk: Buffer): void {
		let from = 0;
		for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, from)) {
			this.append(chunk.subarray(from, end));
			this.endLine();
			from = end + 1;
		}
		this.append(chunk.subarray(from));
	}

	/** Keeps a piece of the current line, or, once the line is over the limit, answers once and drops the rest of it. */
	private append(piece: Buffer): void {
		if (this.overLimit || !piece.length) return;
		if (this.lineBytes + piece.length > this.maxLineBytes) {
			this.overLimit = true;
			this.line = [];
			this.lineBytes = 0;
			return this.refuse(-32600, `Request too large: a line may hold at most ${this.maxLineBytes} bytes`, null);
		}
		this.line.push(piece);
		this.lineBytes += piece.length;
	}

	private endLine(): void {
		const text = Buffer.concat(this.line).toString('utf8').replace(/\r$/, '');
		const skipped = this.overLimit;
		this.line = [];
		this.lineBytes = 0;
		this.overLimit = false;
		if (skipped || !text.trim()) return;
		let json: unknown;
		try {
			json = JSON.parse(text);
		} catch {
			return this.refuse(-32700, 'Parse error: the line is not JSON', null);
		}
		const message = JSONRPCMessageSchema.safeParse(json);
		if (!message.success) return this.refuse(-32600, 'Invalid Request: the line is not a JSON-RPC 2.0 message', idOf(json));
		try {
			this.onmessage?.(message.data);
		} catch (error) {
			this.onerror?.(error as Error);
		}
	}

	private refuse(code: number, message: string, id: string | number | null): void {
		process.stderr.write(`nudge mcp: ${message} (answered ${code})\n`);
		this.out.write(`${rpcErrorBody(code, message, id)}\n`);
	}
}
