/**
 * docs/mcp.md shows a request_action call and the answer it gets: sent as written to `nudge mcp`'s tool, the
 * request must be accepted, and a contact who opted out of email must get the answer the page shows.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createMcpServer } from '../../cli/mcp/tools';
import { Engine } from '../../engine/engine';
import { MemoryStore } from '../../engine/store/memory';

const DOC = readFileSync(path.join(__dirname, '..', '..', 'docs', 'mcp.md'), 'utf8');
/** The ```json blocks of the page, parsed. */
const blocks = [...DOC.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]) as Record<string, unknown>);
const REQUEST = blocks.find((b) => 'idempotencyKey' in b)!;
const ANSWER = blocks.find((b) => 'verdict' in b)!;

describe('docs/mcp.md: request_action as the page shows it', () => {
	let engine: Engine;
	let client: Client;
	beforeEach(async () => {
		engine = new Engine({ store: new MemoryStore() });
		const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
		await createMcpServer(engine).connect(serverSide);
		client = new Client({ name: 'docs', version: '1.0.0' });
		await client.connect(clientSide);
	});
	afterEach(async () => {
		await client.close();
		await engine.close();
	});

	it('the page shows a request and an answer', () => {
		expect(REQUEST).toMatchObject({ contact: expect.any(String), channel: expect.any(String) });
		expect(ANSWER).toMatchObject({ verdict: expect.any(String), decisionId: expect.stringMatching(/^d_agent_/) });
	});

	it('the request is accepted, and a contact who opted out of email gets the answer shown', async () => {
		await engine.ingest({ type: 'identify', identities: { email: REQUEST.contact as string }, traits: { consent: { email: 'opted_out' } } });
		const result = (await client.callTool({ name: 'request_action', arguments: REQUEST })) as CallToolResult;
		expect(result.isError).toBeFalsy();
		expect(result.structuredContent).toEqual({ ...ANSWER, decisionId: expect.stringMatching(/^d_agent_[0-9a-f]+$/) });
	});
});
