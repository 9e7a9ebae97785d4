/**
 * The package in a real n8n server, as an n8n admin sets it up: n8n installed from the npm registry, this
 * package packed and installed as a community package, the Nudge Engine credential and every template in
 * flows/n8n imported with n8n's CLI and activated, then signed Segment-spec events posted to the
 * production webhooks. Checked from the outside: the HTTP answers, n8n's execution list (its database),
 * Nudge's decision log (the store the credential names) and a local endpoint standing in for the
 * sending tool. The AI Agent template runs on chat messages to its production chat URL, its OpenAI
 * credential pointed at a local fake of the Chat Completions API (fakeOpenAi.ts) whose scripted model
 * calls Nudge's tools. On the embedded store a Webhook -> Nudge Model workflow trains from a File Path given in the
 * request, checking that the node reads files only where n8n lets nodes read them. Runs for each version in NUDGE_N8N_VERSIONS (default: 2.41.1 and 1.123.81) on the embedded
 * SQLite store, and for the first of them again in queue mode (a main and a worker) on Redis + PostgreSQL
 * (NUDGE_N8N_SPLIT=0: not).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Decision } from '../../engine/audit/schema';
import { Engine } from '../../engine/engine';
import { loadPolicy } from '../../engine/policy/load';
import { holdoutOf } from '../../engine/decide/holdout';
import { engagementDeltas } from '../../engine/decide/sendTime';
import { signatureHeaders } from '../../engine/events/signature';
import { openStore } from '../../engine/store/open';
import { PostgresStore } from '../../engine/store/postgres';
import { RedisStore } from '../../engine/store/redis';
import type { Store } from '../../engine/store/types';
import { tempDir, zoneAtLocalHour } from '../helpers/fixtures';
import { startReceiver } from '../helpers/receiver';
import { describeWithServer, runId, TEST_POSTGRES_URL, TEST_REDIS_URL } from '../helpers/services';
import { synthetic } from '../scoring/synthetic';
import { startFakeOpenAi, type ChatRequest, type ModelStep } from './fakeOpenAi';
import { describeWithN8n, installedVersion } from './n8nInstall';
import { freePort, N8nServer, packAsCommunityPackage } from './n8nServer';

const ROOT = join(__dirname, '..', '..');
const VERSIONS = (process.env.NUDGE_N8N_VERSIONS ?? '2.41.1,1.123.81').split(',').map((v) => v.trim()).filter(Boolean);
const SECRET = 'real-server-signing-secret';
const CREDENTIAL_ID = 'NudgeEngineCred1';
/** The agent template's chat model credential: OpenAI's, its Base URL at the local fake of the API. */
const OPENAI_CREDENTIAL = { id: 'OpenAiCred00001', name: 'OpenAI', apiKey: 'sk-real-server-test' };
const AGENT_ID = 'n8n-growth-agent';
/** The Review Verdict webhooks' Header Auth credential, as the admin sets it up after importing. */
const REVIEW_CREDENTIAL = { id: 'NudgeReviewTok01', name: 'Nudge Review Token', header: 'Authorization', value: 'Bearer real-server-reviewer-token' };
const POLICY = readFileSync(join(ROOT, 'flows/policies/journeys.json'), 'utf8');
const HOLDOUT = (JSON.parse(POLICY) as { holdout: Parameters<typeof holdoutOf>[0] }).holdout;
/** The shipped policy, with nurture's best-send-time wait held to a few seconds so a wait ends within the test. */
const BEST_TIME_WAIT_SECONDS = 4;
const SERVER_POLICY = (() => {
	const policy = JSON.parse(POLICY) as { journeys: { nurture: { sendTime: { waitForBestTime: boolean; maxWait: string } } } };
	policy.journeys.nurture.sendTime = { ...policy.journeys.nurture.sendTime, maxWait: `${BEST_TIME_WAIT_SECONDS}s` };
	return JSON.stringify(policy);
})();

interface Template {
	id: string;
	name: string;
	nodes: Array<{ name: string; type: string; webhookId?: string; parameters: Record<string, unknown>; credentials?: Record<string, { id?: string; name: string }> }>;
}
const TEMPLATES = readdirSync(join(ROOT, 'flows/n8n'))
	.filter((file) => file.endsWith('.json'))
	.map((file) => JSON.parse(readFileSync(join(ROOT, 'flows/n8n', file), 'utf8')) as Template);

/** The template whose Nudge Trigger starts `journey`, and that trigger's production webhook path. */
function template(journey: string): { id: string; path: string } {
	for (const t of TEMPLATES) {
		const trigger = t.nodes.find((n) => n.type === 'n8n-nodes-nudge.nudgeTrigger' && n.parameters.journey === journey);
		if (trigger) return { id: t.id, path: `/webhook/${trigger.webhookId}/events` };
	}
	throw new Error(`No template starts the journey ${journey}`);
}

/**
 * A workflow an admin builds to train a model from a file on the server: a Webhook (GET, the file's path in
 * `?file=`, answering with the last node's first item) into Nudge Model, Train from a CSV file at that path,
 * its errors returned as the item (On Error: continue). Imported with the templates on the embedded store.
 */
const FILE_MODEL_PATH = '/webhook/nudge-model-from-file';
const FILE_MODEL: Template = {
	id: 'NudgeModelFile01',
	name: 'Nudge — Train a model from a file',
	settings: { executionOrder: 'v1' },
	active: false,
	nodes: [
		{
			id: '0b7c1f0e-7f2a-4d55-9d51-3f0e8f3a1a01',
			name: 'Train Request',
			type: 'n8n-nodes-base.webhook',
			typeVersion: 2,
			position: [0, 0],
			webhookId: '0b7c1f0e-7f2a-4d55-9d51-3f0e8f3a1a02',
			parameters: { httpMethod: 'GET', path: FILE_MODEL_PATH.slice('/webhook/'.length), responseMode: 'lastNode', responseData: 'firstEntryJson', options: {} },
		},
		{
			id: '0b7c1f0e-7f2a-4d55-9d51-3f0e8f3a1a03',
			name: 'Train From File',
			type: 'n8n-nodes-nudge.nudgeModel',
			typeVersion: 1,
			position: [220, 0],
			onError: 'continueRegularOutput',
			parameters: { operation: 'train', modelName: 'from-file', dataSource: 'file', filePath: '={{ $json.query.file }}', target: 'Converted', exclude: 'Lead Id', trees: 20, activate: false },
			credentials: { nudgeEngineApi: { name: 'Nudge Engine' } },
		},
	],
	connections: { 'Train Request': { main: [[{ node: 'Train From File', type: 'main', index: 0 }]] } },
} as unknown as Template;

/** The agent template's Chat Trigger: its production chat URL. */
const CHAT_PATH = (() => {
	const trigger = TEMPLATES.flatMap((t) => t.nodes).find((n) => n.type === '@n8n/n8n-nodes-langchain.chatTrigger');
	if (!trigger) throw new Error('No template has a Chat Trigger');
	return `/webhook/${trigger.webhookId}/chat`;
})();

/**
 * A template node as this test imports it: HTTP steps to the local endpoint, Decisions Due every second,
 * the chat made public (n8n answers 404 on a chat's production URL until it is) and the chat model on
 * the OpenAI credential, as a user sets them up after importing.
 */
function forThisTest(node: Template['nodes'][number], sinkUrl: string): Template['nodes'][number] {
	if (typeof node.parameters.url === 'string') return { ...node, parameters: { ...node.parameters, url: sinkUrl } };
	if (node.type === 'n8n-nodes-nudge.nudgeDueTrigger') return { ...node, parameters: { ...node.parameters, intervalSeconds: 1 } };
	if (node.type === '@n8n/n8n-nodes-langchain.chatTrigger') return { ...node, parameters: { ...node.parameters, public: true } };
	if (node.type === '@n8n/n8n-nodes-langchain.lmChatOpenAi') return { ...node, credentials: { openAiApi: { name: OPENAI_CREDENTIAL.name } } };
	return node;
}

// Packed and installed once, copied into each server's user folder.
const packWork = tempDir('nudge-n8n-pack-');
let packed: Promise<string> | undefined;
afterAll(() => rmSync(packWork, { recursive: true, force: true }));

async function waitFor(done: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!(await done()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
}

/**
 * The scripted chat model: on the user's message it makes the tool calls the test planned; once it has
 * the tools' answers, it replies with them word for word (so the chat's reply shows what the model saw).
 */
let plannedCalls: Array<{ name: string; arguments: Record<string, unknown> }> = [];
function agentModel(request: ChatRequest): ModelStep {
	if (request.messages[request.messages.length - 1]?.role !== 'tool') return { toolCalls: plannedCalls };
	return { text: `Nudge answered: ${request.messages.filter((m) => m.role === 'tool').map((m) => m.content).join('\n')}` };
}

/** What a tool answered the model, as n8n handed it over: the JSON of the node's output items. */
function toolAnswer(content: string | null): Record<string, unknown> {
	const parsed = JSON.parse(content ?? 'null') as unknown;
	return (Array.isArray(parsed) ? parsed[0] : parsed) as Record<string, unknown>;
}

let seq = 0;
/** A user id whose contact is not in the journey's holdout (so a message is due), unique per run. */
function treatedUser(journey: string, label: string): string {
	for (;;) {
		const userId = `${label}-${process.pid}-${++seq}`;
		if (!holdoutOf(HOLDOUT, userId, journey)) return userId;
	}
}

function track(userId: string, event: string, traits: Record<string, unknown>, properties: Record<string, unknown> = {}) {
	return { type: 'track', messageId: `${userId}-${event}-${++seq}`, userId, event, properties, timestamp: new Date().toISOString(), context: { traits } };
}

/**
 * Where the credential keeps Nudge's state: the embedded default (SQLite in n8n's home) with every version, one
 * n8n process; and Redis + PostgreSQL (a `split:` URL) with the first, in n8n's queue mode (a main process and a
 * worker, n8n's own database on PostgreSQL and its queue on Redis: deploy.md), unless NUDGE_N8N_SPLIT=0.
 */
type StoreKind = 'sqlite' | 'split';
const RUNS: { version: string; kind: StoreKind }[] = [
	...VERSIONS.map((version) => ({ version, kind: 'sqlite' as const })),
	...(VERSIONS.length && process.env.NUDGE_N8N_SPLIT !== '0' ? [{ version: VERSIONS[0], kind: 'split' as const }] : []),
];

/** The store's URL for one run (a key prefix and schema of its own on the shared servers) and how to drop it after. */
function storeFor(kind: StoreKind, home: string): { url: string; drop(): Promise<void> } {
	if (kind === 'sqlite') return { url: `sqlite:${join(home, 'nudge.db')}`, drop: async () => undefined };
	const prefix = `${runId('nudgen8n')}:`;
	const schema = runId('nudgen8n');
	return {
		url: `split:hot=${TEST_REDIS_URL}?prefix=${prefix};log=${TEST_POSTGRES_URL}?schema=${schema}`,
		async drop() {
			const hot = new RedisStore(TEST_REDIS_URL, { prefix });
			const log = new PostgresStore(TEST_POSTGRES_URL, { schema });
			await Promise.all([hot.dropAll(), log.dropAll()]);
			await Promise.all([hot.close(), log.close()]);
		},
	};
}

/** `describe` on the store's servers: a split run needs Redis and PostgreSQL (skipped loudly without them, failed under CI). */
function describeOn(kind: StoreKind, body: () => void): void {
	if (kind === 'sqlite') return describe('on SQLite (the embedded default)', body);
	describeWithServer('Redis', TEST_REDIS_URL)('in queue mode (a main and a worker) on Redis', () =>
		describeWithServer('PostgreSQL', TEST_POSTGRES_URL)('and PostgreSQL (split:hot=redis…;log=postgres…)', body),
	);
}

for (const { version, kind } of RUNS) {
	describeWithN8n(version, (install) => describeOn(kind, () => {
		let server: N8nServer;
		let sink: Awaited<ReturnType<typeof startReceiver>>;
		let store: Store;
		let stored: ReturnType<typeof storeFor> | undefined;
		let model: Awaited<ReturnType<typeof startFakeOpenAi>>;
		// On the embedded store, also the workflow training a model from a file (FILE_MODEL).
		const imported = kind === 'sqlite' ? [...TEMPLATES, FILE_MODEL] : TEMPLATES;

		beforeAll(async () => {
			expect(installedVersion(install)).toBe(version);
			packed ??= packAsCommunityPackage(packWork);
			sink = await startReceiver([200]);
			// The split store's run is n8n's queue mode, the deployment it is for (deploy.md): a main and a worker.
			const queue = kind === 'split' ? { postgresUrl: TEST_POSTGRES_URL, redisUrl: TEST_REDIS_URL, name: runId('n8nq'), workerBrokerPort: await freePort() } : undefined;
			server = new N8nServer(install, await freePort(), await freePort(), queue);
			await server.prepare();
			server.addNodes(await packed);
			stored = storeFor(kind, server.home);
			const storeUrl = stored.url;
			store = openStore(storeUrl);

			const credentials = join(server.home, 'credentials.json');
			model = await startFakeOpenAi(OPENAI_CREDENTIAL.apiKey, agentModel);
			writeFileSync(
				credentials,
				JSON.stringify([
					{ id: CREDENTIAL_ID, name: 'Nudge Engine', type: 'nudgeEngineApi', data: { store: storeUrl, policy: SERVER_POLICY, signingSecret: SECRET } },
					{ id: OPENAI_CREDENTIAL.id, name: OPENAI_CREDENTIAL.name, type: 'openAiApi', data: { apiKey: OPENAI_CREDENTIAL.apiKey, url: model.baseUrl } },
					{ id: REVIEW_CREDENTIAL.id, name: REVIEW_CREDENTIAL.name, type: 'httpHeaderAuth', data: { name: REVIEW_CREDENTIAL.header, value: REVIEW_CREDENTIAL.value } },
				]),
			);
			await server.cli(['import:credentials', `--input=${credentials}`], /Successfully imported 3 credentials/);

			// The templates as shipped, their HTTP steps (Send, sales and review tasks) pointed at the local
			// endpoint and their Decisions Due checking every second (not every 30). One file holding all four
			// goes through the same single-file import as --input=<template>.
			const workflows = join(server.home, 'templates.json');
			const pointed = imported.map((t) => ({ ...t, nodes: t.nodes.map((n) => forThisTest(n, sink.url)) }));
			writeFileSync(workflows, JSON.stringify(pointed));
			await server.cli(['import:workflow', `--input=${workflows}`], new RegExp(`Successfully imported ${imported.length} workflows`));

			// 2.x publishes one workflow at a time; 1.x activates them all at once (publish:workflow does not exist there).
			if (server.major >= 2) for (const t of imported) await server.cli(['publish:workflow', `--id=${t.id}`], /Publishing workflow with ID/);
			else await server.cli(['update:workflow', '--all', '--active=true'], /Activating all workflows/);
			await server.start();
			for (const journey of ['nurture', 'cart-abandonment', 'churn-risk']) await server.waitForWebhook(template(journey).path);
			// The chat's GET (its page) answers once registered; a POST would start the agent.
			await server.waitForWebhook(CHAT_PATH, 'GET');
		}, 20 * 60_000);

		afterAll(async () => {
			await store?.close();
			await sink?.close();
			await model?.close();
			await server?.close();
			await stored?.drop();
		}, 60_000);

		/** Posts a body to a journey's production webhook, signed unless told otherwise. */
		async function post(journey: string, events: unknown, headers = (body: string) => signatureHeaders(SECRET, body)) {
			const body = JSON.stringify(events);
			const response = await fetch(`${server.url}${template(journey).path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers(body) }, body });
			const text = await response.text();
			let json: unknown = text;
			try {
				json = JSON.parse(text);
			} catch {
				// Kept as text: the assertion shows what n8n answered.
			}
			return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: json as { accepted: number; duplicates: number; decisionIds: string[] } };
		}

		it('imports the credential and every template with its id, on that credential, and activates them all', async () => {
			const rows = await server.query<{ id: string; active: number; nodes: string }>('SELECT id, CAST(active AS INTEGER) AS active, CAST(nodes AS TEXT) AS nodes FROM workflow_entity ORDER BY id');
			expect(rows.map((r) => r.id)).toEqual(imported.map((t) => t.id).sort());
			expect(rows.every((r) => r.active === 1)).toBe(true);
			for (const row of rows) {
				const nudgeNodes = (JSON.parse(row.nodes) as Template['nodes']).filter((n) => n.type.startsWith('n8n-nodes-nudge.'));
				expect(nudgeNodes.length).toBeGreaterThan(0);
				for (const node of nudgeNodes) expect([node.name, node.credentials?.nudgeEngineApi?.id]).toEqual([node.name, CREDENTIAL_ID]);
				// The Review Verdict webhooks are on the reviewers' Header Auth credential.
				for (const node of (JSON.parse(row.nodes) as Template['nodes']).filter((n) => n.name === 'Review Verdict')) {
					expect([row.id, node.parameters.authentication, node.credentials?.httpHeaderAuth?.id]).toEqual([row.id, 'headerAuth', REVIEW_CREDENTIAL.id]);
				}
			}
			// Every trigger (webhooks, Fire Timers' poll, the retrain schedule) started: n8n logs a failed activation.
			expect(server.log).not.toMatch(/Issue on initial workflow activation try|Activation of workflow .* did fail/);
		});

		it('offers the agent-safe nodes to the AI Agent as tools whose inputs come from the model, and no other Nudge node', async () => {
			// The node types n8n writes for its editor (served as /types/nodes.json): its own createAiTools derived the `<name>Tool` variants.
			const types = JSON.parse(readFileSync(join(server.userFolder, '.cache', 'n8n', 'public', 'types', 'nodes.json'), 'utf8')) as Array<{ name: string; properties: Array<{ name: string; default?: unknown; displayOptions?: unknown }> }>;
			const nudge = types.map((t) => t.name).filter((name) => name.startsWith('n8n-nodes-nudge.'));
			expect(nudge.filter((name) => name.endsWith('Tool')).sort()).toEqual(['n8n-nodes-nudge.nudgeActionTool', 'n8n-nodes-nudge.nudgeRecordOutcomeTool', 'n8n-nodes-nudge.nudgeScoreTool']);
			const action = types.find((t) => t.name === 'n8n-nodes-nudge.nudgeActionTool')!;
			const fromModel = action.properties.filter((p) => typeof p.default === 'string' && p.default.includes('$fromAI(')).map((p) => p.name);
			expect(fromModel.sort()).toEqual(['approvalId', 'channel', 'contact', 'idempotencyKey', 'offerValue', 'subject', 'text']);
			expect(action.properties.map((p) => p.name)).toContain('toolDescription');
			// The agent template is imported on the credential and active (its chat trigger started).
			const [agent] = await server.query<{ active: number }>("SELECT CAST(active AS INTEGER) AS active FROM workflow_entity WHERE id = 'NudgeAgentActs01'");
			expect(agent?.active).toBe(1);
		});

		it('answers each journey’s signed events with JSON accepted/duplicates/decisionIds, runs the workflow, decides and logs every event, and sends each message once', async () => {
			const day = zoneAtLocalHour(11);
			const hot = { email: 'dana@northwind.example', title: 'VP Marketing', employees: 420, timezone: day, consent: { email: 'opted_in' } };
			const optedOut = { email: 'tom@quarry.example', timezone: day, consent: { email: 'opted_out', sms: 'opted_out', push: 'opted_out' } };
			const requests = [
				{ journey: 'nurture', events: [track(treatedUser('nurture', 'dana'), 'Demo Requested', hot), track(treatedUser('nurture', 'tom'), 'Pricing Viewed', optedOut)] },
				{ journey: 'churn-risk', events: [track(treatedUser('churn-risk', 'ines'), 'Payment Failed', { email: 'ines@example.com', timezone: day, consent: { email: 'opted_in' } }, { amount: 49, currency: 'EUR', attempt: 1 })] },
				{ journey: 'cart-abandonment', events: [track(treatedUser('cart-abandonment', 'carl'), 'Cart Updated', { email: 'carl@example.com', timezone: day }, { cart_id: 'cart-1', value: 120, currency: 'USD' })] },
			];
			const before = (await server.executions()).length;
			const decisionIds: string[] = [];
			for (const { journey, events } of requests) {
				const answer = await post(journey, events);
				expect([journey, answer.status, answer.contentType]).toEqual([journey, 200, expect.stringMatching(/^application\/json/)]);
				expect(answer.body).toEqual({ accepted: events.length, duplicates: 0, decisionIds: events.map(() => expect.any(String)) });
				decisionIds.push(...answer.body.decisionIds);
			}

			// One execution per request, each run to its end.
			const runs = (await server.settledExecutions(before + requests.length)).slice(before);
			expect(runs.map((e) => [e.mode, e.status])).toEqual(requests.map(() => ['webhook', 'success']));
			expect(runs.map((e) => e.workflowId).sort()).toEqual(requests.map(({ journey }) => template(journey).id).sort());

			// Every event has its decision in the log, logged by the workflow's Log Decision step.
			const decisions = (await Promise.all(decisionIds.map((id) => store.getDecision(id)))) as Decision[];
			expect(decisions.map((d) => [d.journey, d.status, d.reason ?? null, d.channel ?? null, typeof d.loggedAt])).toEqual([
				['nurture', 'sent', null, 'sales_task', 'string'],
				['nurture', 'suppressed', 'NO_ELIGIBLE_CHANNEL', null, 'string'],
				['churn-risk', 'sent', null, 'email', 'string'],
				['cart-abandonment', 'suppressed', 'NOT_A_TRIGGER', null, 'string'],
			]);

			// The sending tool received each sent decision exactly once, and nothing else.
			const received = sink.received.map((r) => (JSON.parse(r.body) as { decisionId: string }).decisionId);
			expect(received.sort()).toEqual(decisions.filter((d) => d.status === 'sent').map((d) => d.decisionId).sort());
		});

		it('an event naming a contact id merged into another reaches that contact through the workflow, opted out where either was; no empty contact is made', async () => {
			const day = zoneAtLocalHour(11);
			const [userA, userB] = [treatedUser('nurture', 'merge-a'), treatedUser('nurture', 'merge-b')];
			// Each request runs the workflow to its end (its decision logged) before the next.
			const decide = async (events: unknown[]) => {
				const before = (await server.executions()).length;
				const { decisionIds } = (await post('nurture', events)).body as { decisionIds: string[] };
				await server.settledExecutions(before + 1);
				return decisionIds;
			};
			const [first] = await decide([track(userA, 'Pricing Viewed', { email: `${userA}@example.com`, timezone: day, consent: { email: 'opted_in' } })]);
			const [second] = await decide([track(userB, 'Pricing Viewed', { email: `${userB}@example.com`, timezone: day, consent: { email: 'opted_out', sms: 'opted_out', push: 'opted_out' } })]);
			const [a, b] = await Promise.all([first, second].map(async (id) => (await store.getDecision(id))!.contactId));
			expect(a).not.toBe(b);
			// One event carries both user ids' identities: B is merged into A (the older), its opt-outs win.
			await decide([{ ...track(userA, 'Logged In', {}), userId: userA, context: { traits: { email: `${userB}@example.com` } } }]);
			expect(await store.getProfile(b)).toBeUndefined();
			// An integrator that kept B's contact id sends Nudge's own format naming it.
			const [later] = await decide([{ type: 'track', name: 'Pricing Viewed', identities: { contactId: b } }]);
			const decision = (await store.getDecision(later))!;
			expect(decision.contactId).toBe(a);
			expect(await store.getProfile(b)).toBeUndefined();
			expect((await store.getProfile(a))!.consent).toMatchObject({ email: 'opted_out', sms: 'opted_out', push: 'opted_out' });
			// Opted out of every marketing channel: nothing reaches the person by one.
			expect(['email', 'sms', 'push']).not.toContain(decision.channel);
			expect(decision.loggedAt).toEqual(expect.any(String));
		});

		/**
		 * The executions n8n records while `act` runs, seen after a marker request that does start one: the
		 * trigger answers before n8n records the execution, so an unwanted one would be in the list by then.
		 */
		async function executionsDuring(act: () => Promise<void>) {
			const before = (await server.executions()).length;
			await act();
			const marker = await post('cart-abandonment', [track(treatedUser('cart-abandonment', 'marker'), 'Product Viewed', { email: 'marker@example.com' })]);
			expect(marker.body).toMatchObject({ accepted: 1 });
			await server.settledExecutions(before + 1);
			await new Promise((resolve) => setTimeout(resolve, 1000));
			return (await server.executions()).slice(before).filter((e) => e.workflowId !== template('cart-abandonment').id);
		}

		it('answers a retried delivery as duplicates without starting the workflow again', async () => {
			const events = [track(treatedUser('churn-risk', 'retry'), 'Usage Dropped', { email: 'retry@example.com', timezone: zoneAtLocalHour(11) }, { metric: 'logins', drop_pct: 60 })];
			const before = (await server.executions()).length;
			const first = await post('churn-risk', events);
			expect(first.body).toMatchObject({ accepted: 1, duplicates: 0 });
			await server.settledExecutions(before + 1);
			let retry: Awaited<ReturnType<typeof post>> | undefined;
			const started = await executionsDuring(async () => {
				retry = await post('churn-risk', events);
			});
			expect([retry!.status, retry!.contentType, retry!.body]).toEqual([200, expect.stringMatching(/^application\/json/), { accepted: 0, duplicates: 1, decisionIds: [] }]);
			expect(started).toEqual([]);
		});

		it('takes one event in once per journey: the same event id at two journeys’ triggers opens a decision in each, the profile counts it once, and a repeat at either is a duplicate that starts nothing', async () => {
			// Pricing Viewed is a trigger of nurture; churn-risk takes it in too (NOT_A_TRIGGER: it only updates the profile).
			let userId = treatedUser('nurture', 'both');
			while (holdoutOf(HOLDOUT, userId, 'churn-risk')) userId = treatedUser('nurture', 'both');
			const event = track(userId, 'Pricing Viewed', { email: `${userId}@example.com`, timezone: zoneAtLocalHour(11), consent: { email: 'opted_out', sms: 'opted_out', push: 'opted_out' } });
			const journeys = ['nurture', 'churn-risk'];
			const before = (await server.executions()).length;
			const decisionIds: string[] = [];
			for (const journey of journeys) {
				const answer = await post(journey, [event]);
				expect([journey, answer.status, answer.body]).toEqual([journey, 200, { accepted: 1, duplicates: 0, decisionIds: [expect.any(String)] }]);
				decisionIds.push(answer.body.decisionIds[0]);
			}
			expect(new Set(decisionIds).size).toBe(2);
			const runs = (await server.settledExecutions(before + 2)).slice(before);
			expect(runs.map((e) => [e.workflowId, e.mode, e.status])).toEqual(journeys.map((journey) => [template(journey).id, 'webhook', 'success']));

			// One decision per journey for the event, on one contact, and the contact's profile counted it once.
			const [nurture, churn] = (await Promise.all(decisionIds.map((id) => store.getDecision(id)))) as Decision[];
			expect([nurture, churn].map((d) => [d.journey, d.event.eventId, d.reason ?? null])).toEqual([
				['nurture', event.messageId, 'NO_ELIGIBLE_CHANNEL'],
				['churn-risk', event.messageId, 'NOT_A_TRIGGER'],
			]);
			expect(churn.contactId).toBe(nurture.contactId);
			const ofEvent = async () => (await store.queryDecisions({ contactId: nurture.contactId })).filter((d) => d.event.eventId === event.messageId);
			expect((await ofEvent()).map((d) => [d.journey, d.decisionId])).toEqual(journeys.map((journey, i) => [journey, decisionIds[i]]));
			expect((await store.getProfile(nurture.contactId))!.counters['Pricing Viewed']).toBe(1);

			// The same event again at each journey's trigger: a duplicate there, and no execution starts.
			const again: Array<Awaited<ReturnType<typeof post>>> = [];
			const started = await executionsDuring(async () => {
				for (const journey of journeys) again.push(await post(journey, [event]));
			});
			expect(again.map((a) => [a.status, a.body])).toEqual(journeys.map(() => [200, { accepted: 0, duplicates: 1, decisionIds: [] }]));
			expect(started).toEqual([]);
			// Each repeat is logged as a duplicate in its journey (a row not waited for before the answer: PostgreSQL commits it
			// with the next group); still one decision per journey took the event in.
			await waitFor(async () => (await ofEvent()).length === 4, 10_000);
			expect((await ofEvent()).map((d) => [d.journey, d.reason ?? null])).toEqual([
				['nurture', 'NO_ELIGIBLE_CHANNEL'],
				['churn-risk', 'NOT_A_TRIGGER'],
				['nurture', 'DUPLICATE_EVENT'],
				['churn-risk', 'DUPLICATE_EVENT'],
			]);
			expect((await store.getProfile(nurture.contactId))!.counters['Pricing Viewed']).toBe(1);
		});

		it('records a conversion that reaches the workflow late at the event’s own time: Record Conversion’s Occurred At, n8n evaluating {{ $json.decision.event.occurredAt }}, not the arrival', async () => {
			const nurture = template('nurture').id;
			const userId = treatedUser('nurture', 'late');
			const traits = { email: `${userId}@example.com`, timezone: zoneAtLocalHour(11), consent: { email: 'opted_in' } };
			const runOne = async (event: ReturnType<typeof track>) => {
				const before = (await server.executions()).length;
				const answer = await post('nurture', [event]);
				expect([answer.status, answer.body]).toEqual([200, { accepted: 1, duplicates: 0, decisionIds: [expect.any(String)] }]);
				const [run] = (await server.settledExecutions(before + 1)).slice(before);
				expect([run?.workflowId, run?.mode, run?.status]).toEqual([nurture, 'webhook', 'success']);
				return answer.body.decisionIds[0];
			};

			// The message: Pricing Viewed sends this opted-in lead an email.
			const messageId = await runOne(track(userId, 'Pricing Viewed', traits));
			await waitFor(async () => !!(await store.getDecision(messageId))?.loggedAt);
			const message = (await store.getDecision(messageId))!;
			expect(message).toMatchObject({ status: 'sent', channel: 'email', delivery: { status: 'sent', at: expect.any(String) }, outcomes: [] });

			// The lead converts a moment after the send, and the event reaches the workflow more than a second later (a sender's retry, a queue).
			const convertedAt = new Date(Date.parse(message.delivery!.at) + 1).toISOString();
			await new Promise((resolve) => setTimeout(resolve, 1500));
			const postedAt = Date.now();
			const conversionId = await runOne({ ...track(userId, 'Lead Converted', {}, { value: 24000 }), timestamp: convertedAt });
			await waitFor(async () => !!(await store.getDecision(conversionId))?.loggedAt && (await store.getDecision(messageId))!.outcomes.length > 0);
			const conversion = (await store.getDecision(conversionId))!;
			expect(conversion).toMatchObject({ reason: 'NOT_A_TRIGGER', event: { occurredAt: convertedAt }, outcomeFor: { decisionId: messageId, type: 'conversion', value: 24000 } });

			// Recorded on the message at the event's own time, with its value; not at arrival (at least 1.5 s later).
			const { outcomes } = (await store.getDecision(messageId))!;
			expect(outcomes).toEqual([{ outcomeId: conversion.outcomeFor!.outcomeId, type: 'conversion', channel: 'email', value: 24000, at: convertedAt }]);
			expect(postedAt - Date.parse(outcomes[0].at)).toBeGreaterThanOrEqual(1500);
		});

		it('refuses a request signed with another secret: 401 JSON naming the fix, nothing stored, no execution', async () => {
			const logged = (await store.queryDecisions({})).length;
			let answer: Awaited<ReturnType<typeof post>> | undefined;
			const started = await executionsDuring(async () => {
				answer = await post('churn-risk', [track('mallory', 'Payment Failed', { email: 'mallory@example.com' })], (body) => signatureHeaders('not-the-secret', body));
			});
			expect([answer!.status, answer!.contentType]).toEqual([401, expect.stringMatching(/^application\/json/)]);
			expect((answer!.body as unknown as { error: string }).error).toMatch(/signature/i);
			expect(started).toEqual([]);
			// Only the marker's decision was added; the refused contact is unknown.
			expect(await store.queryDecisions({})).toHaveLength(logged + 1);
			expect((await store.resolveIdentities(['email:mallory@example.com'])).size).toBe(0);
		});

		it('takes a review verdict only with the reviewers\' header: without it or with another token n8n answers 403, no execution starts and the high-value account stays waiting; with it the approved offer is sent', async () => {
			const { id: churn } = template('churn-risk');
			const reviewPath = `/webhook/${String(TEMPLATES.find((t) => t.id === churn)!.nodes.find((n) => n.name === 'Review Verdict')!.parameters.path)}`;
			const before = (await server.executions()).length;
			const answer = await post('churn-risk', [track(treatedUser('churn-risk', 'northwind'), 'Usage Dropped', { email: 'cfo@northwind.example', plan: 'annual', accountValue: 48000, timezone: zoneAtLocalHour(11), consent: { email: 'opted_in' } }, { metric: 'api_calls', drop_pct: 60 })]);
			const [decisionId] = answer.body.decisionIds;
			await server.settledExecutions(before + 1);
			await waitFor(async () => !!(await store.getDecision(decisionId))?.loggedAt);
			expect(await store.getDecision(decisionId)).toMatchObject({ status: 'review', ruleId: 'high-value-account' });

			const verdict = (headers: Record<string, string>) =>
				fetch(`${server.url}${reviewPath}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ decisionId, approve: true, reviewer: 'anyone' }) });
			const refused: number[] = [];
			const started = await executionsDuring(async () => {
				for (const headers of [{}, { [REVIEW_CREDENTIAL.header]: 'Bearer not-the-token' }] as Array<Record<string, string>>) {
					const res = await verdict(headers);
					await res.arrayBuffer();
					refused.push(res.status);
				}
			});
			expect(refused).toEqual([403, 403]);
			expect(started).toEqual([]);
			expect(await store.getDecision(decisionId)).toMatchObject({ status: 'review' });

			// The account manager's tool sends the header: Record Verdict, then Send.
			const runsBefore = (await server.executions()).length;
			const approved = await fetch(`${server.url}${reviewPath}`, { method: 'POST', headers: { 'content-type': 'application/json', [REVIEW_CREDENTIAL.header]: REVIEW_CREDENTIAL.value }, body: JSON.stringify({ decisionId, approve: true, reviewer: 'am@yourco.example' }) });
			await approved.arrayBuffer();
			expect(approved.status).toBe(200);
			const [run] = (await server.settledExecutions(runsBefore + 1)).slice(runsBefore);
			expect([run.workflowId, run.mode, run.status]).toEqual([churn, 'webhook', 'success']);
			await waitFor(async () => (await store.getDecision(decisionId))?.status === 'sent');
			expect(await store.getDecision(decisionId)).toMatchObject({ status: 'sent', review: { verdict: 'approved', reviewer: 'am@yourco.example' } });
		}, 120_000);

		/** Sends one chat message to the agent template's production chat URL, as n8n's chat widget does. */
		async function chat(chatInput: string) {
			const response = await fetch(`${server.url}${CHAT_PATH}`, {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({ action: 'sendMessage', sessionId: `session-${process.pid}-${++seq}`, chatInput }),
			});
			const text = await response.text();
			return { status: response.status, text };
		}

		/**
		 * One chat turn of the AI Agent in this server: the model calls `calls`, n8n runs the tools, and the
		 * model gets their answers. Returns the chat's reply, the model's two requests and the tools' answers.
		 */
		async function agentTurn(chatInput: string, calls: typeof plannedCalls) {
			plannedCalls = calls;
			const before = model.requests.length;
			const executionsBefore = (await server.executions()).length;
			const reply = await chat(chatInput);
			expect([reply.status, model.requests.length - before]).toEqual([200, 2]);
			const [ask, answered] = model.requests.slice(before).map((r) => r.body);
			// The model's tool calls went back to it with one answer each, matched by call id.
			const assistant = answered.messages.find((m) => m.role === 'assistant' && m.tool_calls?.length);
			const results = answered.messages.filter((m) => m.role === 'tool');
			expect(results.map((m) => m.tool_call_id)).toEqual(assistant!.tool_calls!.map((c) => c.id));
			expect(assistant!.tool_calls!.map((c) => [c.function.name, JSON.parse(c.function.arguments)])).toEqual(calls.map((c) => [c.name, c.arguments]));
			const [run] = (await server.settledExecutions(executionsBefore + 1)).slice(executionsBefore);
			expect([run?.workflowId, run?.mode, run?.status]).toEqual(['NudgeAgentActs01', 'webhook', 'success']);
			return { reply: (JSON.parse(reply.text) as { output: string }).output, ask, answers: results.map((m) => toolAnswer(m.content)) };
		}

		/** A contact Nudge knows (agents never create one), in the daytime of their time zone. */
		async function knownContact(label: string, consent: Record<string, string>): Promise<string> {
			const email = `${label}-${process.pid}-${++seq}@example.com`;
			const engine = new Engine({ store, policy: loadPolicy(SERVER_POLICY), ownsStore: false });
			await engine.ingest({ eventId: `${email}-identify`, type: 'identify', identities: { email }, traits: { timezone: zoneAtLocalHour(11), consent } });
			await engine.close();
			return email;
		}

		const sentFor = (decisionId: string) => sink.received.filter((r) => (JSON.parse(r.body) as { decisionId?: string }).decisionId === decisionId);

		it('runs the AI Agent template on a chat message: the model gets the tools n8n built from the $fromAI inputs, Request Action reaches the engine, the send goes out once, and a repeated key does not send again', async () => {
			const contact = await knownContact('agent-ana', { email: 'opted_in' });
			const call = { name: 'Request_Action', arguments: { contact, idempotencyKey: `winback-${contact}`, channel: 'email', subject: 'We miss you', text: 'Come back for 15% off.' } };
			const first = await agentTurn(`Offer ${contact} 15% off to come back, by email.`, [call]);

			// The request the model got: the template's instructions, the user's message and the three tools,
			// each with the JSON schema n8n built from the node's $fromAI() inputs.
			expect(first.ask.messages.map((m) => m.role)).toEqual(['system', 'user']);
			expect(first.ask.messages[0].content).toMatch(/only message someone through the Request Action tool/);
			expect(first.ask.model).toBe('gpt-4.1-mini');
			const tools = Object.fromEntries((first.ask.tools ?? []).map((t) => [t.function.name, t.function]));
			expect(Object.keys(tools).sort()).toEqual(['Record_Outcome', 'Request_Action', 'Score_Lead']);
			const schemaOf = (name: string) => ({ type: tools[name].parameters.type, all: Object.keys(tools[name].parameters.properties ?? {}).sort(), required: [...(tools[name].parameters.required ?? [])].sort() });
			expect(schemaOf('Request_Action')).toEqual({ type: 'object', all: ['approvalId', 'channel', 'contact', 'idempotencyKey', 'offerValue', 'subject', 'text'], required: ['contact', 'idempotencyKey'] });
			expect(schemaOf('Score_Lead')).toEqual({ type: 'object', all: ['contact'], required: ['contact'] });
			expect(schemaOf('Record_Outcome')).toEqual({ type: 'object', all: ['decisionId', 'outcome', 'value'], required: ['decisionId', 'outcome'] });
			expect(tools.Request_Action.parameters.properties!.offerValue.type).toBe('number');
			expect(tools.Request_Action.parameters.properties!.contact.description).toMatch(/contact/i);
			expect(tools.Request_Action.description).toMatch(/allow, defer \(with retryAt\), needs_approval or deny/);

			// The engine's verdict is what the model got back, and it is the decision in the log, sent once.
			const [verdict] = first.answers;
			expect(verdict).toMatchObject({ verdict: 'allow', sent: true, agentId: AGENT_ID, channel: 'email', dryRun: false, reasons: [], decisionId: expect.any(String) });
			const decisionId = verdict.decisionId as string;
			expect(await store.getDecision(decisionId)).toMatchObject({
				status: 'sent',
				channel: 'email',
				event: { source: 'agent' },
				agent: { agentId: AGENT_ID, idempotencyKey: call.arguments.idempotencyKey, requestedChannel: 'email', verdict: 'allow', reasons: [], content: { subject: 'We miss you', text: 'Come back for 15% off.' } },
			});
			expect(sentFor(decisionId)).toHaveLength(1);
			expect(first.reply).toContain(decisionId);

			// The model asks again with the same key: the first action's verdict, marked a repeat; nothing more is sent.
			const again = await agentTurn(`Did the offer to ${contact} go out? Ask again.`, [call]);
			expect(again.answers[0]).toMatchObject({ verdict: 'allow', decisionId, duplicate: true });
			expect(sentFor(decisionId)).toHaveLength(1);
			const logged = await store.queryDecisions({});
			expect(logged.filter((d) => d.agent?.idempotencyKey === call.arguments.idempotencyKey).map((d) => d.decisionId)).toEqual([decisionId]);
		}, 120_000);

		it('sends once when the model makes the same Request Action call twice in one turn', async () => {
			const contact = await knownContact('agent-bea', { email: 'opted_in' });
			const call = { name: 'Request_Action', arguments: { contact, idempotencyKey: `welcome-${contact}`, channel: 'email', text: 'Welcome back.' } };
			const turn = await agentTurn(`Welcome ${contact} back, by email.`, [call, call]);

			expect(turn.answers.map((a) => [a.verdict, a.sent, a.duplicate ?? false]).sort()).toEqual([
				['allow', true, false],
				['allow', true, true],
			]);
			const [decisionId] = new Set(turn.answers.map((a) => a.decisionId as string));
			expect(turn.answers.every((a) => a.decisionId === decisionId)).toBe(true);
			expect(sentFor(decisionId)).toHaveLength(1);
		}, 120_000);

		it('denies an opted-out contact’s request with NO_CONSENT, and the model sees the reason; nothing is sent', async () => {
			const contact = await knownContact('agent-omar', { email: 'opted_out' });
			const call = { name: 'Request_Action', arguments: { contact, idempotencyKey: `winback-${contact}`, channel: 'email', text: 'Come back for 15% off.' } };
			const sinkBefore = sink.received.length;
			const turn = await agentTurn(`Offer ${contact} 15% off to come back, by email.`, [call]);

			const [verdict] = turn.answers;
			expect(verdict).toMatchObject({ verdict: 'deny', reasons: ['NO_CONSENT'], agentId: AGENT_ID, explanation: expect.any(String), decisionId: expect.any(String) });
			expect(verdict.sent).toBeFalsy();
			expect(turn.reply).toContain('NO_CONSENT');
			expect(await store.getDecision(verdict.decisionId as string)).toMatchObject({
				status: 'suppressed',
				reason: 'NO_CONSENT',
				agent: { agentId: AGENT_ID, verdict: 'deny', reasons: ['NO_CONSENT'] },
			});
			expect(sink.received.length).toBe(sinkBefore);
		}, 120_000);

		it('a message delayed for its best send time ends its execution at once, comes back through the activated workflow\'s Decisions Due when due, and ends sent', async () => {
			// Someone engaged at 11:00 their time, so that is the best hour; for this lead it is 14:00, so the
			// best time is tomorrow and the wait is held to the policy's maxWait (a few seconds here).
			await store.addArmStats(engagementDeltas('someone', new Date(), zoneAtLocalHour(11)));
			await store.sync();
			const nurture = template('nurture').id;
			const before = (await server.executions()).length;
			const answer = await post('nurture', [track(treatedUser('nurture', 'lena'), 'Lead Created', { email: 'lena@oakline.example', timezone: zoneAtLocalHour(14) })]);
			expect([answer.status, answer.body.accepted]).toEqual([200, 1]);
			const [decisionId] = answer.body.decisionIds;
			const [webhookRun] = (await server.settledExecutions(before + 1)).slice(before);
			expect([webhookRun.workflowId, webhookRun.mode, webhookRun.status]).toEqual([nurture, 'webhook', 'success']);
			const waiting = (await store.getDecision(decisionId))!;
			expect(waiting).toMatchObject({ status: 'delayed', reason: 'BEST_SEND_TIME', ruleId: 'journeys.nurture.sendTime', sendTime: { hour: 11 }, loggedAt: expect.any(String) });
			expect(sink.received.some((r) => r.body.includes(decisionId))).toBe(false);

			// When the wait ends, Decisions Due (polling every second) emits it in an execution of its own: guardrails, Send, Log Sent.
			const deadline = Date.now() + 60_000;
			while ((await store.getDecision(decisionId))?.status !== 'sent' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
			const sent = (await store.getDecision(decisionId))!;
			expect(sent).toMatchObject({ status: 'sent', channel: 'email', delivery: { status: 'sent' } });
			expect(sent.guard!.checks.find((c) => c.kind === 'send_time')).toMatchObject({ passed: true });
			expect(sent.trail.filter((t) => t.stage === 'guard').map((t) => t.status)).toEqual(['delayed', 'pending']);
			expect(Date.parse(sent.delivery!.at) - Date.parse(waiting.guard!.retryAt!)).toBeGreaterThanOrEqual(0);
			await waitFor(async () => !!(await store.getDecision(decisionId))?.trail.some((t, i, all) => t.stage === 'log' && i === all.length - 1));
			const dueRuns = (await server.settledExecutions(before + 2)).slice(before + 1).filter((e) => e.workflowId === nurture);
			expect(dueRuns.map((e) => [e.mode, e.status])).toEqual([['trigger', 'success']]);
			// Sent once, and no execution is left waiting.
			expect(sink.received.filter((r) => r.body.includes(decisionId))).toHaveLength(1);
			expect((await server.executions()).filter((e) => e.status === 'waiting')).toEqual([]);
		}, 120_000);

		if (kind === 'sqlite') {
			it('Nudge Model reads a File Path only where n8n lets nodes read files: a CSV in n8n\'s own folder (next to its database) is refused, on 2.x one outside ~/.n8n-files too, and nothing is trained; one in an allowed folder trains version 1', async () => {
				const table = synthetic(300, 3);
				const csv = [table.columns.join(';'), ...table.rows.map((r) => r.join(';'))].join('\n');
				const place = (dir: string) => {
					mkdirSync(dir, { recursive: true });
					writeFileSync(join(dir, 'leads.csv'), csv);
					return join(dir, 'leads.csv');
				};
				// n8n's own folder (its database, its encryption key's config); 2.x's default allowed folder (~ is the server's home); anywhere else.
				const inN8nFolder = place(join(server.userFolder, '.n8n'));
				const inAllowed = place(join(server.home, '.n8n-files'));
				const outside = place(join(server.home, 'exports'));
				const train = async (file: string) => {
					const before = (await server.executions()).length;
					let response: Response;
					const deadline = Date.now() + 60_000;
					// Until n8n has registered the production webhook (it does so after the editor is up).
					while ((response = await fetch(`${server.url}${FILE_MODEL_PATH}?file=${encodeURIComponent(file)}`)).status === 404 && Date.now() < deadline) {
						await response.arrayBuffer();
						await new Promise((resolve) => setTimeout(resolve, 500));
					}
					const text = await response.text();
					const [run] = (await server.settledExecutions(before + 1)).slice(before);
					expect([run?.workflowId, run?.mode, run?.status]).toEqual([FILE_MODEL.id, 'webhook', 'success']);
					expect([file, response.status]).toEqual([file, 200]);
					return JSON.parse(text) as { error?: string; name?: string; version?: number };
				};
				const refusal = (path: string) => ({
					error: `n8n does not let nodes read ${path}: put the file in a folder N8N_RESTRICT_FILE_ACCESS_TO allows (n8n 2's default is ~/.n8n-files), not in n8n's own folder or a .git folder`,
				});

				expect(await train(inN8nFolder)).toEqual(refusal(inN8nFolder));
				if (server.major >= 2) expect(await train(outside)).toEqual(refusal(outside));
				// Nothing was trained by the refused runs: the first model saved is version 1.
				expect(await train(inAllowed)).toMatchObject({ name: 'from-file', version: 1, summary: { rows: 300 } });
				// n8n 1.x restricts nothing by default (N8N_RESTRICT_FILE_ACCESS_TO empty): the other folder is allowed too.
				if (server.major < 2) expect(await train(outside)).toMatchObject({ name: 'from-file', version: 2, summary: { rows: 300 } });
			}, 180_000);
		}

		if (kind === 'split') {
			it('ran every execution on the worker, not on the main process', async () => {
				const runs = await server.executions();
				expect(runs.length).toBeGreaterThan(10);
				const onWorker = new Set([...server.log.matchAll(/Worker finished execution (\d+) \(job/g)].map((m) => Number(m[1])));
				expect(runs.filter((run) => !onWorker.has(Number(run.id))).map((run) => [run.id, run.mode, run.status])).toEqual([]);
			});
		}
	}));
}
