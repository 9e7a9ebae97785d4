/**
 * A local stand-in for OpenAI's Chat Completions API (POST <base>/chat/completions, non-streaming), the
 * endpoint n8n's OpenAI Chat Model node (typeVersion 1.2, Chat Completions rather than the Responses API)
 * calls through LangChain's ChatOpenAI at the OpenAI credential's Base URL. It answers the way the
 * documented API does (https://platform.openai.com/docs/api-reference/chat/object), and only the model's
 * choice is scripted: `next(request)` returns either tool calls or a final text.
 *
 * A third-party SaaS API, so a test double is allowed; everything between it and Nudge is n8n's own.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The request body fields this fake reads (OpenAI's `ChatCompletionCreateParams`). */
export interface ChatRequest {
	model: string;
	stream?: boolean;
	messages: Array<{ role: string; content: string | null; tool_call_id?: string; tool_calls?: ToolCallMessage[] }>;
	tools?: Array<{ type: 'function'; function: { name: string; description?: string; parameters: JsonSchema } }>;
}

export interface JsonSchema {
	type?: string;
	properties?: Record<string, JsonSchema & { description?: string }>;
	required?: string[];
	additionalProperties?: boolean;
}

export interface ToolCallMessage {
	id: string;
	type: 'function';
	function: { name: string; arguments: string };
}

/** What the scripted model does next: call tools (name + arguments object), or answer the user. */
export type ModelStep = { toolCalls: Array<{ name: string; arguments: Record<string, unknown> }> } | { text: string };

const MAX_BODY = 4 * 1024 * 1024;
const SYSTEM_FINGERPRINT = 'fp_nudgefake';

const id = (prefix: string) => `${prefix}${randomBytes(12).toString('base64url')}`;

/** A rough token count (4 characters a token): usage must be present and plausible, not exact. */
const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

/** A `chat.completion` object, shaped like the API's for a tool-calling or a final answer. */
function completion(model: string, step: ModelStep, promptText: string) {
	const toolCalls: ToolCallMessage[] | undefined =
		'toolCalls' in step ? step.toolCalls.map((call) => ({ id: id('call_'), type: 'function', function: { name: call.name, arguments: JSON.stringify(call.arguments) } })) : undefined;
	const message = toolCalls
		? { role: 'assistant', content: null, tool_calls: toolCalls, refusal: null, annotations: [] }
		: { role: 'assistant', content: (step as { text: string }).text, refusal: null, annotations: [] };
	const prompt = tokens(promptText);
	const completionTokens = tokens(JSON.stringify(message));
	return {
		id: id('chatcmpl-'),
		object: 'chat.completion',
		created: Math.floor(Date.now() / 1000),
		model,
		choices: [{ index: 0, message, logprobs: null, finish_reason: toolCalls ? 'tool_calls' : 'stop' }],
		usage: {
			prompt_tokens: prompt,
			completion_tokens: completionTokens,
			total_tokens: prompt + completionTokens,
			prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
			completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
		},
		service_tier: 'default',
		system_fingerprint: SYSTEM_FINGERPRINT,
	};
}

/** The API's error envelope (`{ error: { message, type, param, code } }`). */
function apiError(message: string, type = 'invalid_request_error', code: string | null = null) {
	return { error: { message, type, param: null, code } };
}

/**
 * Starts the fake on a free loopback port. `apiKey` is the key the credential holds: a request without
 * `Authorization: Bearer <apiKey>` gets the API's 401. Every request is kept, in order, with its headers.
 */
export async function startFakeOpenAi(apiKey: string, next: (request: ChatRequest) => ModelStep) {
	const requests: Array<{ headers: IncomingHttpHeaders; body: ChatRequest }> = [];
	const server = createServer((req, res) => {
		const answer = (status: number, body: unknown) => {
			res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': id('req_') });
			res.end(JSON.stringify(body));
		};
		let size = 0;
		const chunks: Buffer[] = [];
		req.on('data', (chunk: Buffer) => {
			size += chunk.length;
			if (size <= MAX_BODY) chunks.push(chunk);
		});
		req.on('end', () => {
			if (req.headers.authorization !== `Bearer ${apiKey}`) return answer(401, apiError('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'));
			if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) return answer(404, apiError(`Unknown request URL: ${req.method} ${req.url}.`));
			if (size > MAX_BODY) return answer(413, apiError('Request too large.'));
			let body: ChatRequest;
			try {
				body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatRequest;
			} catch {
				return answer(400, apiError('We could not parse the JSON body of your request.'));
			}
			requests.push({ headers: req.headers, body });
			// n8n streams only when the Chat Trigger's response mode is streaming; this fake speaks the plain answer.
			if (body.stream) return answer(400, apiError('This fake answers non-streaming requests only (stream: true was sent).'));
			let step: ModelStep;
			try {
				step = next(body);
			} catch (error) {
				return answer(500, apiError(`The scripted model failed: ${(error as Error).message}`, 'server_error'));
			}
			answer(200, completion(body.model, step, JSON.stringify(body.messages)));
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		/** The credential's Base URL (the SDK appends /chat/completions). */
		baseUrl: `http://127.0.0.1:${port}/v1`,
		requests,
		close: () =>
			new Promise<void>((resolve) => {
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	};
}
