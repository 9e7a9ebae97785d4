/**
 * One interface for every sender (generic webhook, Segment, HubSpot…) and the one delivery loop they
 * all share: per-provider rate limiting, retries with exponential backoff and full jitter on 429/5xx
 * and network errors, Retry-After honoured, a max-attempts policy, and a failure that carries the
 * provider's own error after the last attempt. Senders make exactly one attempt each time they are
 * called; nothing else in Nudge retries.
 */

/** What a sender is asked to deliver: the decision's message, built by the engine's send stage. */
export interface OutboundMessage {
	decisionId: string;
	journey: string;
	channel?: string;
	contact: {
		contactId: string;
		email?: string;
		phone?: string;
		traits: Record<string, unknown>;
		identities?: Partial<Record<string, string[]>>;
	};
	score?: unknown;
	event: { eventId: string; source: string; type: string; name?: string; occurredAt: string };
	policyVersion: string;
}

export interface SendResult {
	ok: boolean;
	attempts: number;
	httpStatus?: number;
	providerMessageId?: string;
	error?: string;
}

/** A failed attempt. `retryable` attempts are tried again; `retryAfterMs` comes from the provider's Retry-After. */
export class ProviderError extends Error {
	readonly status?: number;
	readonly retryable: boolean;
	readonly retryAfterMs?: number;

	constructor(message: string, options: { status?: number; retryable?: boolean; retryAfterMs?: number } = {}) {
		super(message);
		this.name = 'ProviderError';
		this.status = options.status;
		this.retryable = options.retryable ?? (options.status === undefined || isRetryableStatus(options.status));
		this.retryAfterMs = options.retryAfterMs;
	}
}

export const isRetryableStatus = (status: number) => status === 429 || status >= 500;

/** Retry-After as seconds or an HTTP date → milliseconds from now (undefined when absent or unreadable). */
export function retryAfterMs(value: unknown, now = Date.now()): number | undefined {
	const text = Array.isArray(value) ? value[0] : value;
	if (typeof text !== 'string' && typeof text !== 'number') return undefined;
	const seconds = Number(text);
	if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
	const date = Date.parse(String(text));
	return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

export interface Sender {
	/** Recorded in the decision's delivery, e.g. `webhook`, `segment`, `hubspot:task`. */
	readonly provider: string;
	/** The rate limiter this sender shares with every other sender of the same account. */
	readonly limiter?: RateLimiter;
	/** Checks settings before anything is reserved or claimed (throws NudgeError). */
	check?(): void;
	/** One attempt. Resolves with the provider's message id; throws ProviderError (or any error = network). */
	attempt(message: OutboundMessage, idempotencyKey: string, attempt: number): Promise<{ providerMessageId?: string; httpStatus?: number }>;
}

/** A plain webhook: one signed JSON POST per attempt (deliver/webhook posts it). */
export interface WebhookTarget {
	url: string;
	/** Signs the body like the trigger expects (X-Nudge-Signature), so receivers can verify us. */
	secret?: string;
	timeoutMs?: number;
	maxAttempts?: number;
	headers?: Record<string, string>;
}

/**
 * How the use cases post a plain webhook target without naming the edge that does it: the façade gives
 * them deliver/webhook's (EngineContext.webhook).
 */
export interface WebhookPoster {
	/** Throws NudgeError for an address that is not http(s), before anything is reserved or claimed. */
	check(url: string): void;
	/** Posts with retries; never throws for a failed delivery. */
	post(target: WebhookTarget, payload: unknown, idempotencyKey: string): Promise<SendResult>;
}

export interface RetryPolicy {
	maxAttempts: number;
	/** First backoff; doubles each attempt, capped at maxDelayMs, with full jitter. */
	baseDelayMs: number;
	maxDelayMs: number;
	/** A Retry-After longer than this fails the send instead of holding the flow. */
	maxRetryAfterMs: number;
	sleep: (ms: number) => Promise<void>;
	random: () => number;
}

export const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export const DEFAULT_RETRY: RetryPolicy = {
	maxAttempts: 3,
	baseDelayMs: 200,
	maxDelayMs: 10_000,
	maxRetryAfterMs: 60_000,
	sleep: realSleep,
	random: Math.random,
};

/** The pause before attempt `attempt + 1`: Retry-After when the provider gave one, else backoff with full jitter. */
export function backoffMs(policy: RetryPolicy, attempt: number, error: ProviderError | undefined): number {
	if (error?.retryAfterMs !== undefined) return error.retryAfterMs;
	const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
	return Math.round(policy.random() * ceiling);
}

/**
 * A token bucket: `perSecond` sends on average, bursts up to `burst`. Shared per provider account so
 * concurrent flows together stay under the provider's limit.
 */
export class RateLimiter {
	private tokens: number;
	private last: number;
	private queue: Promise<void> = Promise.resolve();

	constructor(
		readonly perSecond: number,
		readonly burst = Math.max(1, Math.ceil(perSecond)),
		private readonly clock: { now: () => number; sleep: (ms: number) => Promise<void> } = { now: Date.now, sleep: realSleep },
	) {
		this.tokens = burst;
		this.last = clock.now();
	}

	/** Resolves when a send may go; callers queue in order. */
	acquire(): Promise<void> {
		const turn = this.queue.then(async () => {
			for (;;) {
				const now = this.clock.now();
				this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
				this.last = now;
				if (this.tokens >= 1) {
					this.tokens -= 1;
					return;
				}
				await this.clock.sleep(Math.ceil(((1 - this.tokens) / this.perSecond) * 1000));
			}
		});
		this.queue = turn.catch(() => undefined);
		return turn;
	}
}

const limiters = new Map<string, RateLimiter>();

/** The process-wide limiter for one provider account (key such as `hubspot:<token hash>`). */
export function sharedLimiter(key: string, perSecond: number, burst?: number): RateLimiter {
	let limiter = limiters.get(key);
	if (!limiter) limiters.set(key, (limiter = new RateLimiter(perSecond, burst)));
	return limiter;
}

function describe(error: unknown): ProviderError {
	if (error instanceof ProviderError) return error;
	return new ProviderError(`network error: ${error instanceof Error ? error.message : String(error)}`);
}

/**
 * Delivers one message through a sender: waits for the provider's rate limiter, tries up to
 * `maxAttempts` times, and returns what happened. Never throws for a provider failure.
 */
export async function deliver(sender: Sender, message: OutboundMessage, idempotencyKey: string, policy: Partial<RetryPolicy> = {}): Promise<SendResult> {
	const p: RetryPolicy = { ...DEFAULT_RETRY, ...policy };
	const maxAttempts = Math.max(1, Math.floor(p.maxAttempts));
	let last: SendResult = { ok: false, attempts: 0 };
	for (let attempt = 1; attempt <= maxAttempts; attempt++) {
		await sender.limiter?.acquire();
		let error: ProviderError;
		try {
			const sent = await sender.attempt(message, idempotencyKey, attempt);
			return { ok: true, attempts: attempt, ...sent };
		} catch (thrown) {
			error = describe(thrown);
		}
		last = {
			ok: false,
			attempts: attempt,
			...(error.status !== undefined ? { httpStatus: error.status } : {}),
			error: `${sender.provider}: ${error.message}`,
		};
		if (!error.retryable || attempt === maxAttempts) return last;
		const wait = backoffMs(p, attempt, error);
		if (wait > p.maxRetryAfterMs) {
			return { ...last, error: `${last.error} (asked to retry after ${Math.ceil(wait / 1000)} s, longer than Nudge waits)` };
		}
		await p.sleep(wait);
	}
	return last;
}
