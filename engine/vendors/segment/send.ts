/**
 * Segment sender: `track` of a "Nudge Message Requested" event carrying the decision, through
 * `@segment/analytics-node`, so downstream destinations (Braze, Twilio, ad audiences) deliver it.
 * The decision id is the event's messageId, which Segment de-duplicates on
 * (https://segment.com/docs/connections/spec/common/#messageid), so a retry never sends twice.
 *
 * analytics-node batches and retries on its own; here each attempt is one request (flushAt 1,
 * maxRetries 0) and its HTTP answer is surfaced, so Nudge's one delivery loop decides on retries.
 */
import { createHash } from 'node:crypto';
import type { Analytics, HTTPClient, HTTPClientRequest, HTTPResponse } from '@segment/analytics-node';
import { NudgeError } from '../../errors';
import { readAnswer } from '../../deliver/answer';
import { OutboundMessage, ProviderError, RateLimiter, retryAfterMs, Sender, sharedLimiter } from '../../deliver/provider';

export const SEGMENT_EVENT_NAME = 'Nudge Message Requested';

export interface SegmentSettings {
	writeKey: string;
	/** Default https://api.segment.io; https://events.eu1.segmentapis.com for the EU workspace. */
	host?: string;
	eventName?: string;
	timeoutMs?: number;
}

/** Hands each HTTP answer back to the attempt that made it (keyed by the messageIds in the batch). */
class AnsweringClient implements HTTPClient {
	readonly answers = new Map<string, HTTPResponse & { body?: string }>();

	async makeRequest(options: HTTPClientRequest): Promise<HTTPResponse> {
		const controller = new AbortController();
		const timer = setTimeout(() => controller.abort(), options.httpRequestTimeout);
		let response: Response;
		let body: string;
		try {
			response = await fetch(options.url, { method: options.method, headers: options.headers, body: options.body, signal: controller.signal });
			// The timeout covers the answer's body too, and at most MAX_ANSWER_BYTES of it is read (deliver/answer.ts).
			body = (await readAnswer(response).catch(() => '')) ?? '';
		} finally {
			clearTimeout(timer);
		}
		const answer = { status: response.status, statusText: response.statusText, headers: Object.fromEntries(response.headers as unknown as Iterable<[string, string]>), body };
		const ids = (JSON.parse(options.body) as { batch?: { messageId?: string }[] }).batch?.map((e) => e.messageId) ?? [];
		for (const id of ids) if (id) this.answers.set(id, answer);
		// Anything but success ends analytics-node's own handling at once (maxRetries 0): Nudge retries.
		if (response.status < 200 || response.status >= 300) throw new ProviderError(`Segment answered HTTP ${response.status}`, { status: response.status });
		return answer;
	}
}

const fingerprint = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

export class SegmentSender implements Sender {
	readonly provider = 'segment';
	readonly limiter: RateLimiter;
	private readonly client = new AnsweringClient();
	private analytics?: Analytics;

	constructor(private readonly settings: SegmentSettings) {
		// Segment's HTTP API takes about 500 requests/s per source; stay well under it.
		this.limiter = sharedLimiter(`segment:${fingerprint(settings.writeKey ?? '')}`, 100);
	}

	check(): void {
		if (!this.settings.writeKey?.trim()) {
			throw new NudgeError('INVALID_CONFIG', 'The Segment credential has no write key: copy it from your Segment source’s Settings → API Keys');
		}
	}

	private client_(): Analytics {
		// Loaded on first use, not when a node loads: a node that never uses it does not pay for it (docs/benchmarks.md, bench/load).
		const { Analytics } = require('@segment/analytics-node') as typeof import('@segment/analytics-node');
		this.analytics ??= new Analytics({
			writeKey: this.settings.writeKey,
			host: this.settings.host,
			flushAt: 1,
			maxRetries: 0,
			httpRequestTimeout: this.settings.timeoutMs ?? 10_000,
			httpClient: this.client,
		});
		return this.analytics;
	}

	/** Who the event is about, in Segment's terms: the userId Segment knows, else the anonymousId, else Nudge's contact id. */
	static identify(message: OutboundMessage): { userId: string } | { anonymousId: string } {
		const ids = message.contact.identities ?? {};
		const userId = ids.userId?.[0];
		if (userId) return { userId };
		const anonymousId = ids.anonymousId?.[0];
		return anonymousId ? { anonymousId } : { userId: message.contact.contactId };
	}

	attempt(message: OutboundMessage, idempotencyKey: string): Promise<{ providerMessageId: string; httpStatus?: number }> {
		const analytics = this.client_();
		return new Promise((resolve, reject) => {
			analytics.track(
				{
					...SegmentSender.identify(message),
					messageId: idempotencyKey,
					event: this.settings.eventName || SEGMENT_EVENT_NAME,
					timestamp: new Date(),
					properties: {
						decisionId: message.decisionId,
						journey: message.journey,
						channel: message.channel,
						nudgeContactId: message.contact.contactId,
						email: message.contact.email,
						phone: message.contact.phone,
						score: message.score,
						triggerEvent: message.event,
						policyVersion: message.policyVersion,
					},
					context: { traits: { ...(message.contact.email ? { email: message.contact.email } : {}) } },
				},
				(error) => {
					const answer = this.client.answers.get(idempotencyKey);
					this.client.answers.delete(idempotencyKey);
					if (!error) return resolve({ providerMessageId: idempotencyKey, httpStatus: answer?.status });
					if (!answer) return reject(error instanceof ProviderError ? error : new ProviderError(String((error as Error)?.message ?? error)));
					const detail = answer.body ? `: ${answer.body.slice(0, 300)}` : '';
					reject(new ProviderError(`Segment answered HTTP ${answer.status}${detail}`, { status: answer.status, retryAfterMs: retryAfterMs((answer.headers as Record<string, unknown>)?.['retry-after']) }));
				},
			);
		});
	}

	/** Sends anything still queued and stops (call on shutdown / node close). */
	async close(): Promise<void> {
		await this.analytics?.closeAndFlush({ timeout: 10_000 });
		this.analytics = undefined;
	}
}
