import { Agent, request } from 'undici';
import { NudgeError } from '../errors';
import { signatureHeaders } from '../events/signature';

export interface WebhookTarget {
	url: string;
	/** Signs the body like the trigger expects (X-Nudge-Signature), so receivers can verify us. */
	secret?: string;
	timeoutMs?: number;
	maxAttempts?: number;
	headers?: Record<string, string>;
}

export interface SendResult {
	ok: boolean;
	attempts: number;
	httpStatus?: number;
	providerMessageId?: string;
	error?: string;
}

/**
 * undici, not axios: measured in one process against the same local receiver (bench/sink), axios made
 * about 4,200 requests/s and undici's request() about 17,000, and the send is on every decision's path
 * (see docs/benchmarks.md). Keep-alive connections are pooled per origin.
 */
const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 128 });

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

const retryable = (status: number) => status === 429 || status >= 500;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

/**
 * POSTs a JSON payload with an Idempotency-Key header. Retries 429/5xx and network errors with
 * exponential backoff; the caller guarantees one key is never sent twice once it succeeded.
 */
export async function postWebhook(target: WebhookTarget, payload: unknown, idempotencyKey: string): Promise<SendResult> {
	const body = JSON.stringify(payload);
	const maxAttempts = Math.max(1, target.maxAttempts ?? 3);
	let last: SendResult = { ok: false, attempts: 0 };
	for (let attempt = 1; attempt <= maxAttempts; attempt++) {
		try {
			const timeout = target.timeoutMs ?? 10_000;
			const res = await request(target.url, {
				method: 'POST',
				body,
				dispatcher,
				headersTimeout: timeout,
				bodyTimeout: timeout,
				headers: {
					'content-type': 'application/json',
					'idempotency-key': idempotencyKey,
					...(target.secret ? signatureHeaders(target.secret, body) : {}),
					...target.headers,
				},
			});
			const data = await bodyOf(res);
			if (res.statusCode >= 200 && res.statusCode < 300) {
				return { ok: true, attempts: attempt, httpStatus: res.statusCode, providerMessageId: messageIdFrom(res.headers['x-message-id'], data) };
			}
			last = { ok: false, attempts: attempt, httpStatus: res.statusCode, error: `the endpoint answered HTTP ${res.statusCode}` };
			if (!retryable(res.statusCode)) return last;
		} catch (error) {
			last = { ok: false, attempts: attempt, error: `could not reach ${new URL(target.url).host}: ${(error as Error).message}` };
		}
		if (attempt < maxAttempts) await pause(100 * 2 ** (attempt - 1));
	}
	return last;
}
