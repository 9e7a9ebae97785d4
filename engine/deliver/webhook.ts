import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { NudgeError } from '../errors';
import { signatureHeaders } from '../events/signature';
import { MAX_ANSWER_BYTES } from './answer';
import { deliver, OutboundMessage, ProviderError, retryAfterMs, RetryPolicy, Sender, SendResult, WebhookPoster, WebhookTarget } from './provider';

export type { WebhookTarget } from './provider';

/**
 * undici, not axios: measured in one process against the same local receiver (bench/sink), axios made
 * about 4,200 requests/s and undici about 17,000, and the send is on every decision's path
 * (see docs/benchmarks.md). Keep-alive connections are pooled per origin. Loaded at the first send, not
 * when a node loads (bench/load).
 */
let dispatcher: Dispatcher | undefined;
function http(): Dispatcher {
	if (!dispatcher) {
		const { Agent } = require('undici') as typeof import('undici');
		dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 128 });
	}
	return dispatcher;
}

/** undici's codes for a request it refuses to write as given (nothing reaches the endpoint). */
const NOT_WRITTEN = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH']);
const DEFAULT_TIMEOUT_MS = 10_000;
/** Longer would hold a flow for as long; Node's timers also stop at 2^31 ms. */
const MAX_TIMEOUT_MS = 10 * 60_000;

/**
 * An attempt's time for the whole exchange: the target's, at most ten minutes. None, zero or not a number means the
 * default 10 s: "no limit" would let an endpoint that never finishes its answer hold the send for ever.
 */
export function attemptTimeoutMs(timeoutMs: number | undefined): number {
	return timeoutMs !== undefined && Number.isFinite(timeoutMs) && timeoutMs > 0 ? Math.min(timeoutMs, MAX_TIMEOUT_MS) : DEFAULT_TIMEOUT_MS;
}

/** The longest a webhook send with its default timeout can take under `retry`: every attempt timed out, every pause a Retry-After at its most. */
export function longestSendMs(retry: Pick<RetryPolicy, 'maxAttempts' | 'maxRetryAfterMs'>): number {
	return retry.maxAttempts * DEFAULT_TIMEOUT_MS + (retry.maxAttempts - 1) * retry.maxRetryAfterMs;
}

interface Answer {
	status: number;
	headers: IncomingHttpHeaders;
	/** The body's text, or undefined when it was longer than MAX_ANSWER_BYTES. */
	text: string | undefined;
}

/**
 * One POST through undici's dispatcher, its answer read up to MAX_ANSWER_BYTES, the exchange within `timeoutMs` once it
 * has a connection (undici's own timeouts are per wait: an endpoint sending a byte a second kept a send open for ever). A handler
 * instead of `request()`: no stream per answer (docs/benchmarks.md, bench/sendClient).
 */
function post(url: URL, body: string, headers: Record<string, string>, timeoutMs: number): Promise<Answer> {
	return new Promise((resolve, reject) => {
		let status = 0;
		let answer: IncomingHttpHeaders = {};
		const chunks: Buffer[] = [];
		let size = 0;
		let deadline: NodeJS.Timeout | undefined;
		let settled = false;
		const settle = (outcome: () => void) => {
			if (settled) return;
			settled = true;
			clearTimeout(deadline);
			outcome();
		};
		const handler: Dispatcher.DispatchHandler = {
			// From the moment the request has a connection: a wait for one in the pool is bounded by the other requests'
			// deadlines, and aborting a request that had not started would cost a connection opened only to be closed.
			onRequestStart(controller) {
				clearTimeout(deadline);
				deadline = setTimeout(() => {
					const error = new Error(`no complete answer within ${timeoutMs} ms`);
					settle(() => reject(error));
					controller.abort(error);
				}, timeoutMs);
			},
			onResponseStart(c, statusCode, responseHeaders) {
				status = statusCode;
				answer = responseHeaders;
			},
			onResponseData(c, chunk) {
				size += chunk.length;
				if (size <= MAX_ANSWER_BYTES) return void chunks.push(chunk);
				// Answered: the status and headers stand; the rest of the body is not waited for.
				settle(() => resolve({ status, headers: answer, text: undefined }));
				c.abort(new Error(`answer longer than ${MAX_ANSWER_BYTES} bytes`));
			},
			onResponseEnd() {
				settle(() => resolve({ status, headers: answer, text: Buffer.concat(chunks).toString('utf8') }));
			},
			// Also how undici refuses a request it will not write (an invalid header), before sending anything.
			onResponseError(c, error) {
				settle(() => reject(error));
			},
		};
		try {
			http().dispatch({ origin: url.origin, path: `${url.pathname}${url.search}`, method: 'POST', body, headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }, handler);
		} catch (error) {
			settle(() => reject(error));
		}
	});
}

/**
 * A user name and password in the address (https://user:pass@host/hook) as the Basic authorization they stand for:
 * the request goes to the origin, which has no user info, so they would be dropped without a word (and the endpoint
 * answer 401). A header set on the node wins.
 */
function basicAuthOf(url: URL): Record<string, string> {
	if (!url.username && !url.password) return {};
	// A "%" not followed by two hex digits stays as typed (the URL parser keeps it so).
	const decoded = (text: string) => {
		try {
			return decodeURIComponent(text);
		} catch {
			return text;
		}
	};
	return { authorization: `Basic ${Buffer.from(`${decoded(url.username)}:${decoded(url.password)}`).toString('base64')}` };
}

/** Headers with their names in lower case: of two spellings of one name, the later wins. */
function lowerCased(headers: Record<string, string> = {}): Record<string, string> {
	return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

/** A typo in the address fails before anything is reserved, claimed or posted. */
export function checkWebhookUrl(url: string): void {
	let protocol = '';
	try {
		protocol = new URL(url).protocol;
	} catch {
		protocol = '';
	}
	if (protocol !== 'http:' && protocol !== 'https:') {
		throw new NudgeError('INVALID_INPUT', `Webhook URL "${url}" is not a web address: enter a full URL starting with https:// (or http://)`);
	}
}

function messageIdFrom(header: string | string[] | undefined, text: string | undefined, contentType: string | string[] | undefined): string | undefined {
	if (typeof header === 'string') return header;
	if (!text || !String(contentType ?? '').includes('json')) return undefined;
	let data: unknown;
	try {
		data = JSON.parse(text);
	} catch {
		return undefined;
	}
	if (data && typeof data === 'object') {
		const body = data as Record<string, unknown>;
		for (const key of ['messageId', 'id']) if (typeof body[key] === 'string') return body[key] as string;
	}
	return undefined;
}

/** The generic webhook sender: one signed POST per attempt, with an Idempotency-Key header. */
export class WebhookSender implements Sender {
	readonly provider = 'webhook';

	constructor(private readonly target: WebhookTarget) {}

	check(): void {
		checkWebhookUrl(this.target.url);
	}

	async attempt(payload: OutboundMessage | unknown, idempotencyKey: string): Promise<{ providerMessageId?: string; httpStatus: number }> {
		const body = JSON.stringify(payload);
		const url = new URL(this.target.url);
		let answer: Answer;
		try {
			answer = await post(
				url,
				body,
				// One spelling per header (a node's `Authorization` replaces the URL's, not beside it: undici would send both).
				lowerCased({ 'content-type': 'application/json', 'idempotency-key': idempotencyKey, ...basicAuthOf(url), ...(this.target.secret ? signatureHeaders(this.target.secret, body) : {}), ...lowerCased(this.target.headers) }),
				attemptTimeoutMs(this.target.timeoutMs),
			);
		} catch (error) {
			// undici refuses a request it cannot write as given (a header value holding a line break, `expect`, a wrong
			// `content-length`): nothing was sent, and trying again changes nothing.
			if (NOT_WRITTEN.has(String((error as { code?: string }).code))) throw new ProviderError(`the request was not sent: ${(error as Error).message}`, { retryable: false });
			throw new ProviderError(`could not reach ${url.host}: ${(error as Error).message}`);
		}
		if (answer.status >= 200 && answer.status < 300) {
			return { httpStatus: answer.status, providerMessageId: messageIdFrom(answer.headers['x-message-id'], answer.text, answer.headers['content-type']) };
		}
		throw new ProviderError(`the endpoint answered HTTP ${answer.status}`, { status: answer.status, retryAfterMs: retryAfterMs(answer.headers['retry-after']) });
	}
}

/**
 * POSTs a JSON payload with an Idempotency-Key header. Retries 429/5xx and network errors with
 * exponential backoff; the caller guarantees one key is never sent twice once it succeeded.
 */
export async function postWebhook(target: WebhookTarget, payload: unknown, idempotencyKey: string, retry: Partial<RetryPolicy> = {}): Promise<SendResult> {
	const result = await deliver(new WebhookSender(target), payload as OutboundMessage, idempotencyKey, { maxAttempts: target.maxAttempts ?? 3, ...retry });
	// The webhook's own failures read as before, without the provider prefix.
	return result.error ? { ...result, error: result.error.replace(/^webhook: /, '') } : result;
}

/** The webhook port the engine's use cases are given (EngineContext.webhook). */
export const webhookPoster: WebhookPoster = { check: checkWebhookUrl, post: postWebhook };
