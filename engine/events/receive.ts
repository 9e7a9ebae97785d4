import type { Engine, IngestResult } from '../engine';
import { NudgeError } from '../errors';
import type { CustomerEvent } from './schema';
import { verifySignedRequest } from './signature';
import { ingestHubSpotBatch } from '../vendors/hubspot/receive';
import { verifyHubSpotRequest } from '../vendors/hubspot/signature';
import { verifySegmentRequest } from '../vendors/segment/signature';
import { isRecord } from '../util/isRecord';

/** Largest request body a trigger accepts (a batch of events). */
export const MAX_WEBHOOK_BYTES = 5 * 1024 * 1024;

/** Bytes that are not UTF-8 are refused rather than read as U+FFFD (which would store "M\uFFFDller" for a Latin-1 "Müller"). */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export interface SignedRequest {
	rawBody: Buffer | string | undefined;
	headers: Record<string, unknown>;
	method?: string;
	/** The full URI the sender called (HubSpot signs it). */
	url?: string;
}

/** Who posts to a trigger, which decides how the request is signed and how its events read. */
export const WEBHOOK_SOURCES = ['nudge', 'segment', 'hubspot'] as const;
export type WebhookSource = (typeof WEBHOOK_SOURCES)[number];

/** One signature check per source: Nudge's own (X-Nudge-Signature), Segment's X-Signature, HubSpot's v3. */
const VERIFIERS: Record<WebhookSource, (secret: string, request: SignedRequest) => void> = {
	nudge: (secret, request) => verifySignedRequest(secret, request.rawBody, request.headers),
	segment: (secret, request) => verifySegmentRequest(secret, request.rawBody, request.headers),
	hubspot: (secret, request) => verifyHubSpotRequest(secret, request),
};

/** Events of a `nudge` source are read as Nudge or Segment format by their shape. */
const EVENT_SOURCE: Record<WebhookSource, CustomerEvent['source'] | undefined> = { nudge: undefined, segment: 'segment', hubspot: 'hubspot' };

export interface WebhookAnswer {
	/** HTTP status for the sender: 200, 400 malformed (nothing stored), 401 bad signature, 413, 5xx retry. */
	status: number;
	body: Record<string, unknown>;
	/** New events, each with its opened decision (duplicates are answered, not returned). */
	accepted: IngestResult[];
	/** Events of a HubSpot batch refused one by one (the rest taken in): the trigger says so in its log. */
	refused?: { index: number; error: string }[];
	/** Refused before the signature was checked or as it failed: anyone can send these, so a trigger logs them sparingly. */
	unauthenticated?: true;
}


function isBatchEnvelope(body: unknown): body is { batch: unknown[] } {
	return isRecord(body) && Array.isArray(body.batch) && !('type' in body);
}

/** One event, an array of events, or Segment's batch envelope `{ "batch": [...] }`. */
export function eventsInBody(body: unknown): unknown[] {
	if (Array.isArray(body)) return body;
	return isBatchEnvelope(body) ? body.batch : [body];
}

/**
 * The answer to any caller while the engine cannot be created or opened: nothing about the
 * configuration (store URL, policy) reaches a caller whose signature could not even be checked; the
 * detail goes to the server log.
 */
export const NOT_CONFIGURED_ANSWER = { status: 503, body: { error: 'Nudge is not configured correctly; see the server log' } } as const;

/**
 * Everything a trigger does with a signed webhook request, for both platforms: verify the signature on
 * the raw bytes, parse one event or a batch, validate all of it before storing anything, ingest each
 * event, and say what happened in an answer the sender can act on.
 */
export async function receiveSignedEvents(
	engine: Engine,
	request: SignedRequest,
	options: { secret: string; journey: string; source?: WebhookSource },
): Promise<WebhookAnswer> {
	const source = options.source ?? 'nudge';
	const refuse = (status: number, body: Record<string, unknown>): WebhookAnswer => ({ status, body, accepted: [] });
	const refuseUnsigned = (status: number, body: Record<string, unknown>): WebhookAnswer => ({ ...refuse(status, body), unauthenticated: true });
	const size = request.rawBody === undefined ? 0 : Buffer.byteLength(request.rawBody);
	if (size > MAX_WEBHOOK_BYTES) {
		return refuseUnsigned(413, { error: `The request is ${size} bytes; the limit is ${MAX_WEBHOOK_BYTES}. Send smaller batches.` });
	}
	try {
		VERIFIERS[source](options.secret, request);
	} catch (error) {
		return refuseUnsigned((error as NudgeError).httpStatus ?? 401, { error: (error as Error).message });
	}
	let text: string;
	try {
		text = typeof request.rawBody === 'string' ? request.rawBody : UTF8.decode(request.rawBody ?? Buffer.alloc(0));
	} catch {
		return refuse(400, { error: 'The request body is not UTF-8 text (JSON must be sent as UTF-8); nothing was stored' });
	}
	let body: unknown;
	try {
		body = JSON.parse(text);
	} catch (error) {
		return refuse(400, { error: `The request body is not valid JSON (${(error as Error).message}); nothing was stored` });
	}
	const events = eventsInBody(body);
	let results: IngestResult[];
	let refused: { index: number; error: string }[] = [];
	let erased: number | undefined;
	try {
		// HubSpot never delivers a refused request again: one record it allows and Nudge does not (a property over the
		// event limits) would lose the other 99 of its batch. Its valid events are taken in, the others named. Segment
		// and Nudge's own format retry, so theirs is refused whole (fix it and the retry goes through). A HubSpot privacy
		// deletion erases its contact (vendors/hubspot/receive.ts): the answer counts them, naming no one.
		if (source === 'hubspot') {
			const taken = await ingestHubSpotBatch(engine, events, options.journey);
			results = taken.results;
			refused = taken.invalid.map(({ index, error }) => ({ index, error }));
			erased = taken.erased;
		} else {
			results = await engine.ingestBatch(events, { journey: options.journey, source: EVENT_SOURCE[source], batch: Array.isArray(body) || isBatchEnvelope(body) });
		}
	} catch (error) {
		if (error instanceof NudgeError && error.httpStatus < 500) {
			return refuse(error.httpStatus, { error: error.message, issues: error.issues, ...error.details });
		}
		// Store trouble: ask the sender to retry; events stored before the failure come back as duplicates.
		const message = error instanceof Error ? error.message : String(error);
		return refuse(503, { error: `${message}. Retry the request: events already stored are recognised as duplicates.` });
	}
	const accepted = results.filter((r) => !r.duplicate);
	return {
		status: 200,
		body: { accepted: accepted.length, duplicates: results.length - accepted.length, decisionIds: accepted.map((r) => r.decision.decisionId), ...(erased !== undefined ? { erased } : {}), ...(refused.length ? { refused } : {}) },
		accepted,
		...(refused.length ? { refused } : {}),
	};
}
