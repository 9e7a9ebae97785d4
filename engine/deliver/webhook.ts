import type { Dispatcher, request } from 'undici';
import { NudgeError } from '../errors';
import { signatureHeaders } from '../events/signature';
import { deliver, OutboundMessage, ProviderError, retryAfterMs, RetryPolicy, Sender, SendResult, WebhookPoster, WebhookTarget } from './provider';

export type { WebhookTarget } from './provider';

/**
 * undici, not axios: measured in one process against the same local receiver (bench/sink), axios made
 * about 4,200 requests/s and undici's request() about 17,000, and the send is on every decision's path
 * (see docs/benchmarks.md). Keep-alive connections are pooled per origin. Loaded at the first send, not
 * when a node loads (bench/load).
 */
let undici: { request: typeof request; dispatcher: Dispatcher } | undefined;
function http() {
	if (!undici) {
		const { Agent, request } = require('undici') as typeof import('undici');
		undici = { request, dispatcher: new Agent({ keepAliveTimeout: 30_000, connections: 128 }) };
	}
	return undici;
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

function messageIdFrom(header: string | string[] | undefined, data: unknown): string | undefined {
	if (typeof header === 'string') return header;
	if (data && typeof data === 'object') {
		const body = data as Record<string, unknown>;
		for (const key of ['messageId', 'id']) if (typeof body[key] === 'string') return body[key] as string;
	}
	return undefined;
}

async function bodyOf(res: Awaited<ReturnType<typeof request>>): Promise<unknown> {
	const text = await res.body.text();
	if (!text || !String(res.headers['content-type'] ?? '').includes('json')) return undefined;
	try {
		return JSON.parse(text);
	} catch {
		return undefined;
	}
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
		const timeout = this.target.timeoutMs ?? 10_000;
		let res: Awaited<ReturnType<typeof request>>;
		try {
			const { request, dispatcher } = http();
			res = await request(this.target.url, {
				method: 'POST',
				body,
				dispatcher,
				headersTimeout: timeout,
				bodyTimeout: timeout,
				headers: {
					'content-type': 'application/json',
					'idempotency-key': idempotencyKey,
					...(this.target.secret ? signatureHeaders(this.target.secret, body) : {}),
					...this.target.headers,
				},
			});
		} catch (error) {
			throw new ProviderError(`could not reach ${new URL(this.target.url).host}: ${(error as Error).message}`);
		}
		const data = await bodyOf(res);
		if (res.statusCode >= 200 && res.statusCode < 300) {
			return { httpStatus: res.statusCode, providerMessageId: messageIdFrom(res.headers['x-message-id'], data) };
		}
		throw new ProviderError(`the endpoint answered HTTP ${res.statusCode}`, { status: res.statusCode, retryAfterMs: retryAfterMs(res.headers['retry-after']) });
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
