/**
 * How much of a provider's HTTP answer Nudge reads: what it needs (a message id, an error, a token) is in the
 * headers or a small body. Read whole, one endless 200 took 4 GB and failed a send the endpoint had accepted
 * (docs/benchmarks.md, bench/sendClient).
 */
export const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * A fetch answer's text, up to `maxBytes` (undefined past it: the rest is not read and the body is cancelled).
 * The caller's abort signal still bounds the time the read takes.
 */
export async function readAnswer(response: Response, maxBytes = MAX_ANSWER_BYTES): Promise<string | undefined> {
	if (!response.body) return '';
	const reader = response.body.getReader();
	const chunks: Uint8Array[] = [];
	let size = 0;
	for (;;) {
		const { done, value } = await reader.read();
		if (done) return Buffer.concat(chunks).toString('utf8');
		size += value.byteLength;
		if (size > maxBytes) {
			await reader.cancel().catch(() => undefined);
			return undefined;
		}
		chunks.push(value);
	}
}
