import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import axios, { AxiosInstance } from 'axios';
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

const client: AxiosInstance = axios.create({
	httpAgent: new HttpAgent({ keepAlive: true }),
	httpsAgent: new HttpsAgent({ keepAlive: true }),
	validateStatus: () => true,
	maxRedirects: 0,
});

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

function messageIdFrom(headers: Record<string, unknown>, data: unknown): string | undefined {
	const header = headers['x-message-id'];
	if (typeof header === 'string') return header;
	if (data && typeof data === 'object') {
		const body = data as Record<string, unknown>;
		for (const key of ['messageId', 'id']) if (typeof body[key] === 'string') return body[key] as string;
	}
	return undefined;
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
			const res = await client.post(target.url, body, {
				timeout: target.timeoutMs ?? 10_000,
				headers: {
					'content-type': 'application/json',
					'idempotency-key': idempotencyKey,
					...(target.secret ? signatureHeaders(target.secret, body) : {}),
					...target.headers,
				},
			});
			if (res.status >= 200 && res.status < 300) {
				return { ok: true, attempts: attempt, httpStatus: res.status, providerMessageId: messageIdFrom(res.headers, res.data) };
			}
			last = { ok: false, attempts: attempt, httpStatus: res.status, error: `the endpoint answered HTTP ${res.status}` };
			if (!retryable(res.status)) return last;
		} catch (error) {
			last = { ok: false, attempts: attempt, error: `could not reach ${new URL(target.url).host}: ${(error as Error).message}` };
		}
		if (attempt < maxAttempts) await pause(100 * 2 ** (attempt - 1));
	}
	return last;
}
