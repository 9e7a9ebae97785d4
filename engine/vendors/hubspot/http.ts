/**
 * The HTTP layer Nudge gives `@hubspot/api-client`. The library's own (lib/src/services/http/Transport.js) calls
 * fetch with no abort signal and reads whole bodies, so an answer that never ended held a send or a poll open for
 * ever and grew in memory. This one bounds each exchange in time and reads at most MAX_ANSWER_BYTES, like the webhook
 * sender and the token renewal (a search page, 100 records, may be longer: its caller sets its own bound). The library has no option for it: `basePath`, `httpAgent` and `middleware` only, and
 * the generated APIs ignore a per-call `httpApi` (they send with `this.configuration.httpApi`), so it is set on the
 * API object's configuration (withBoundedHttp), checked so that a library that changes shape fails loudly.
 */
import { MAX_ANSWER_BYTES, readAnswer } from '../../deliver/answer';

/** One HubSpot call, from sending the request to the answer's last byte. */
export const HUBSPOT_TIMEOUT_MS = 15_000;

/**
 * HubSpot answered with `code` but its body was not read: longer than MAX_ANSWER_BYTES, or not finished in time.
 * Shaped like the library's ApiException (`code`), so a status is handled the same either way (401 renews the token).
 */
export class HubSpotAnswerUnread extends Error {
	constructor(
		readonly code: number,
		/** Longer than the bound (else: not finished in time). */
		readonly tooLong: boolean,
		reason: string,
	) {
		super(`HubSpot answered HTTP ${code} but ${reason}, so it was not read`);
	}
}

/** How long one exchange may take and how much of an answer is read. */
export interface HubSpotHttpBounds {
	timeoutMs: number;
	maxBytes: number;
}

/** A send's answer holds an id or an error: 64 KB, like every provider's. */
export const SEND_BOUNDS: HubSpotHttpBounds = { timeoutMs: HUBSPOT_TIMEOUT_MS, maxBytes: MAX_ANSWER_BYTES };

/** What the library's request context offers (each API module declares its own class, so structurally). */
interface RequestLike {
	getUrl(): string;
	getHttpMethod(): string;
	getHeaders(): Record<string, string>;
	getBody(): unknown;
}

/** What the library's response processors read: status, headers, body, and the two helpers they call. */
interface ResponseLike {
	httpStatusCode: number;
	headers: Record<string, string>;
	body: { text(): Promise<string>; binary(): Promise<Buffer> };
	getBodyAsFile(): Promise<{ data: Buffer; name: string }>;
	getBodyAsAny(): Promise<string | Buffer | undefined>;
}

function requestBody(body: unknown): string | undefined {
	if (body === undefined || typeof body === 'string') return body;
	if (body instanceof URLSearchParams) return body.toString();
	// Nudge's calls send JSON; file uploads (form-data) are not among them.
	throw new Error('HubSpot request body of this kind is not supported');
}

function answerFor(status: number, headers: Record<string, string>, text: string): ResponseLike {
	const body = { text: async () => text, binary: async () => Buffer.from(text, 'utf8') };
	return {
		httpStatusCode: status,
		headers,
		body,
		getBodyAsFile: async () => ({ data: await body.binary(), name: '' }),
		getBodyAsAny: async () => text,
	};
}

/** One exchange with HubSpot within `bounds`. */
async function exchange(request: RequestLike, { timeoutMs, maxBytes }: HubSpotHttpBounds): Promise<ResponseLike> {
	const response = await fetch(request.getUrl(), {
		method: request.getHttpMethod(),
		headers: request.getHeaders(),
		body: requestBody(request.getBody()),
		signal: AbortSignal.timeout(timeoutMs),
	});
	const headers: Record<string, string> = {};
	response.headers.forEach((value, name) => (headers[name] = value));
	const text = await readAnswer(response, maxBytes).catch((error: Error) => {
		throw new HubSpotAnswerUnread(response.status, false, `its answer did not finish within ${timeoutMs} ms (${error.message})`);
	});
	if (text === undefined) throw new HubSpotAnswerUnread(response.status, true, `its answer was longer than ${maxBytes} bytes`);
	// The library parses a body by its Content-Type and fails on one it cannot read (none, octet-stream, HTML called
	// JSON: a proxy's page) before it looks at the status. A 2xx so answered was accepted but not read; an error keeps
	// its status, with the text as its body (a 401 still renews the token, a 429 keeps its Retry-After).
	if (!readableJson(headers['content-type'], text)) {
		if (response.status >= 200 && response.status < 300) throw new HubSpotAnswerUnread(response.status, false, 'its answer was not JSON');
		headers['content-type'] = 'text/plain';
	}
	return answerFor(response.status, headers, text);
}

function readableJson(contentType: string | undefined, text: string): boolean {
	if (!contentType || !/\bjson\b/i.test(contentType)) return false;
	try {
		JSON.parse(text);
		return true;
	} catch {
		return false;
	}
}

/** The library's HttpLibrary: `send` answers with its Observable stub, of which the APIs call only toPromise(). */
function boundedHttpLibrary(bounds: HubSpotHttpBounds) {
	return { send: (request: RequestLike) => ({ toPromise: () => exchange(request, bounds) }) };
}

/**
 * `api` (one of the library's API objects: `client.crm.contacts.searchApi`…) answering through the bounded layer.
 * Its configuration is shared by its module's other APIs, which is as wanted.
 */
export function withBoundedHttp<A>(api: A, bounds: HubSpotHttpBounds): A {
	const configuration = (api as { api?: { configuration?: Record<string, unknown> } } | undefined)?.api?.configuration;
	if (!configuration || typeof configuration !== 'object' || !('httpApi' in configuration)) {
		throw new Error('@hubspot/api-client no longer keeps its HTTP layer where Nudge bounds it (api.configuration.httpApi): check engine/vendors/hubspot/http.ts against the new version');
	}
	configuration.httpApi = boundedHttpLibrary(bounds);
	return api;
}
