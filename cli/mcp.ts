import { parseArgs } from 'node:util';
import { DEFAULT_RETRY } from '../engine/deliver/provider';
import { checkWebhookUrl, longestSendMs } from '../engine/deliver/webhook';
import type { SendTarget } from '../engine/engine';
import { NudgeError } from '../engine/errors';
import { createEngine } from '../engine/registry';
import { createExistingEngine } from './storeFile';

export const MCP_USAGE = `  mcp [--store STORE] [--policy FILE.json] [--agent-id ID] [--webhook URL [--webhook-secret S]] [--reveal-pii]
      [--http [--port 4281] [--host 127.0.0.1] [--token TOKEN] [--public-host NAME]]
      A Model Context Protocol server, so an AI agent (Claude Desktop, any MCP client) acts through Nudge's
      guardrails. Tools: lookup_contact, score_contact, request_action, record_outcome, explain_decision;
      no approval or admin tool. The agent acts as --agent-id (default "mcp"), never an id it picks.
      Speaks over stdin/stdout unless --http is given; then streamable HTTP at /mcp, on 127.0.0.1 only
      unless --host says otherwise, where a bearer token is required (--token or NUDGE_MCP_TOKEN, at
      least 16 characters). With --webhook, an allowed action is sent there at once
      (signed with --webhook-secret); without it, an allowed action holds its cap slot for a flow to send.
      Personal data is redacted in what the tools return unless --reveal-pii is given. A --store SQLite file
      must exist; without --store, ~/.nudge/nudge.db is made on first use. See docs/mcp.md.
`;

export async function runMcp(args: string[]): Promise<number> {
	const { values } = parseArgs({
		args,
		options: {
			store: { type: 'string' },
			policy: { type: 'string' },
			webhook: { type: 'string' },
			'webhook-secret': { type: 'string' },
			'reveal-pii': { type: 'boolean', default: false },
			'agent-id': { type: 'string' },
			http: { type: 'boolean', default: false },
			port: { type: 'string', default: '4281' },
			host: { type: 'string', default: '127.0.0.1' },
			token: { type: 'string' },
			'public-host': { type: 'string', multiple: true },
		},
		strict: true,
	});
	const port = Number(values.port);
	if (!Number.isInteger(port) || port < 0 || port > 65535) throw new NudgeError('INVALID_INPUT', `--port must be a port number (0–65535), not "${values.port}"`);
	if (values.webhook) checkWebhookUrl(values.webhook);
	const send: SendTarget | undefined = values.webhook ? { url: values.webhook, ...(values['webhook-secret'] ? { secret: values['webhook-secret'] } : {}) } : undefined;
	const token = values.token ?? process.env.NUDGE_MCP_TOKEN;
	// The SDK is loaded here only: nothing else in Nudge (nodes, other commands) pays for it.
	const { checkHttpOptions, startMcpHttp } = await import('./mcp/http');
	const httpOptions = { port, host: values.host, token, publicHosts: values['public-host'] };
	if (values.http) checkHttpOptions(httpOptions);
	const { createMcpServer, mcpAgentId } = await import('./mcp/tools');
	const tools = { send, revealPii: values['reveal-pii'], agentId: values['agent-id'] };
	mcpAgentId(tools);
	// A --store that names no file, PostgreSQL schema or Redis prefix with data is a typo (its empty log would deny every
	// contact for want of consent); the default store is made on first use, as the nodes make it.
	const config = { store: values.store, policyFile: values.policy };
	const engine = values.store ? await createExistingEngine(config) : createEngine(config);
	const stopped = new Promise<void>((resolve) => {
		process.once('SIGINT', resolve);
		process.once('SIGTERM', resolve);
	});
	try {
		if (values.http) {
			const running = await startMcpHttp(() => createMcpServer(engine, tools), httpOptions);
			process.stderr.write(`Nudge MCP server on ${engine.store.kind} store: ${running.url}${token ? ' (bearer token required)' : ''}\nPress Ctrl+C to stop.\n`);
			await stopped;
			await running.close();
		} else {
			const { AnsweringStdioTransport } = await import('./mcp/stdio');
			const transport = new AnsweringStdioTransport();
			const closed = new Promise<void>((resolve) => (transport.onclose = resolve));
			process.stdin.once('end', () => void transport.close());
			await createMcpServer(engine, tools).connect(transport);
			process.stderr.write(`Nudge MCP server on ${engine.store.kind} store, over stdio\n`);
			await Promise.race([closed, stopped]);
		}
	} finally {
		// Tool calls under way finish, however long their send may take with its retries (a second Ctrl+C stops at once).
		await engine.close(longestSendMs(DEFAULT_RETRY));
	}
	return 0;
}
