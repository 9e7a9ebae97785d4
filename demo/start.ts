/**
 * `npm start`: Nudge's nurture journey running in a real Node-RED 5, fed with sample contacts.
 *
 * Starts an embedded Node-RED (editor included) on http://127.0.0.1:1880 (PORT overrides), deploys the
 * nurture example flow with the engine on a fresh SQLite file (~/.nudge/demo.db) and a signing secret it
 * makes up, posts the sample events in flows/samples/nurture.jsonl as signed webhooks to the Nudge Trigger,
 * prints one line per decision and a summary, then keeps running until Ctrl-C so you can explore the flow.
 * `--once` (or NUDGE_DEMO_ONCE=1) stops after the summary. NUDGE_SIGNING_SECRET sets the secret instead.
 * The flow in ~/.nudge/node-red is rewritten at every start, so the demo always begins from the example.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Express } from 'express';
import type { Decision } from '../engine/audit/schema';
import type { Engine } from '../engine/engine';
import { signatureHeaders } from '../engine/events/signature';
import { acquireEngine } from '../engine/registry';

interface NodeRedRuntime {
	init(server: Server, settings: Record<string, unknown>): void;
	start(): Promise<void>;
	stop(): Promise<void>;
	readonly httpAdmin: Express;
	readonly httpNode: Express;
	readonly events: NodeJS.EventEmitter;
}

interface FlowNode {
	id: string;
	type: string;
	[key: string]: unknown;
}

const write = (line = '') => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The package root: the nearest folder above this file whose package.json is Nudge's. */
function packageRoot(): string {
	let dir = __dirname;
	for (;;) {
		const file = join(dir, 'package.json');
		if (existsSync(file) && JSON.parse(readFileSync(file, 'utf8')).name === 'n8n-nodes-nudge' && existsSync(join(dir, 'flows'))) return dir;
		const parent = dirname(dir);
		if (parent === dir) throw new Error('Cannot find the n8n-nodes-nudge package folder');
		dir = parent;
	}
}

/** Node-RED and the express it ships with (resolved through Node-RED, which depends on it). */
function loadNodeRed(): { RED: NodeRedRuntime; express: () => Express } {
	const redPath = require.resolve('node-red');
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const RED = require(redPath) as NodeRedRuntime;
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const express = require(require.resolve('express', { paths: [dirname(redPath)] })) as () => Express;
	return { RED, express };
}

function contactLabel(engine: Engine, decision: Decision): Promise<string> {
	return engine.getProfile(decision.contactId).then((p) => {
		if (!p) return decision.contactId;
		return p.email ?? (p.identities.userId?.[0] ? `user ${p.identities.userId[0]}` : undefined) ?? (p.identities.anonymousId?.[0] ? `visitor ${p.identities.anonymousId[0]}` : decision.contactId);
	});
}

function outcomeOf(decision: Decision): string {
	if (decision.status === 'sent') {
		const score = decision.score ? `  (score ${decision.score.value}, ${decision.score.tier})` : '';
		return `${decision.channel}${score}`;
	}
	if (decision.status === 'failed') return `SEND_FAILED  ${decision.delivery?.error ?? ''}`;
	const rule = decision.ruleId ? `  (${decision.ruleId})` : '';
	return `${decision.reason ?? 'suppressed'}${rule}`;
}

async function waitForLogged(engine: Engine, decisionId: string, timeoutMs = 15_000): Promise<Decision | undefined> {
	const until = Date.now() + timeoutMs;
	while (Date.now() < until) {
		const decision = await engine.store.getDecision(decisionId);
		if (decision?.loggedAt) return decision;
		await sleep(15);
	}
	return engine.store.getDecision(decisionId);
}

function waitForFlows(RED: NodeRedRuntime, timeoutMs = 30_000): Promise<void> {
	return new Promise((resolvePromise, reject) => {
		const timer = setTimeout(() => reject(new Error('Node-RED did not start the flow within 30 s')), timeoutMs);
		const onStarted = () => {
			clearTimeout(timer);
			RED.events.off('runtime-event', onRuntime);
			resolvePromise();
		};
		const onRuntime = (event: { id?: string; payload?: { error?: string; types?: string[] } }) => {
			if (event.id === 'runtime-state' && event.payload?.error) {
				clearTimeout(timer);
				RED.events.off('flows:started', onStarted);
				const detail = event.payload.types ? `: missing node types ${event.payload.types.join(', ')} (run npm run build)` : '';
				reject(new Error(`Node-RED could not start the flow (${event.payload.error})${detail}`));
			}
		};
		RED.events.once('flows:started', onStarted);
		RED.events.on('runtime-event', onRuntime);
	});
}

export interface DemoOptions {
	port: number;
	once: boolean;
	home?: string;
}

export async function runDemo(options: DemoOptions): Promise<number> {
	const root = packageRoot();
	const home = options.home ?? homedir();
	const nudgeDir = join(home, '.nudge');
	const userDir = join(nudgeDir, 'node-red');
	const dbPath = join(nudgeDir, 'demo.db');
	mkdirSync(userDir, { recursive: true });
	for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) rmSync(f, { force: true });

	const secret = process.env.NUDGE_SIGNING_SECRET || randomBytes(24).toString('hex');
	const base = `http://127.0.0.1:${options.port}`;
	const flow = JSON.parse(readFileSync(join(root, 'flows', 'node-red', 'nurture.json'), 'utf8')) as FlowNode[];
	const engineNode = flow.find((n) => n.type === 'nudge-engine');
	const trigger = flow.find((n) => n.type === 'nudge-trigger');
	if (!engineNode || !trigger) throw new Error('flows/node-red/nurture.json has no nudge-engine or nudge-trigger node');
	engineNode.store = `sqlite:${dbPath}`;
	for (const n of flow) if (n.type === 'nudge-send') n.url = `${base}/demo/inbox`;
	const flowFile = join(userDir, 'flows.json');
	writeFileSync(flowFile, JSON.stringify(flow, null, 2));
	writeFileSync(join(userDir, 'flows_cred.json'), JSON.stringify({ [engineNode.id]: { signingSecret: secret } }, null, 2));

	const { RED, express } = loadNodeRed();
	const app = express();
	const server = createServer(app);
	const settings = {
		userDir,
		flowFile,
		nodesDir: [root],
		credentialSecret: false,
		httpAdminRoot: '/',
		httpNodeRoot: '/',
		uiHost: '127.0.0.1',
		uiPort: options.port,
		editorTheme: { tours: false, projects: { enabled: false } },
		telemetry: { enabled: false },
		diagnostics: { enabled: false },
		externalModules: { palette: { allowInstall: false } },
		logging: { console: { level: 'error', metrics: false, audit: false } },
		contextStorage: { default: { module: 'memory' } },
	};
	RED.init(server, settings);
	// The same mount order as the standalone `node-red` command: the editor's JSON body parser runs
	// first, so the Nudge Trigger's raw-body capture is exercised exactly as in a real install.
	app.use(settings.httpAdminRoot, RED.httpAdmin);
	app.use(settings.httpNodeRoot, RED.httpNode);
	await new Promise<void>((ok, ko) => {
		server.once('error', ko);
		server.listen(options.port, '127.0.0.1', () => ok());
	});
	const started = waitForFlows(RED);
	await RED.start();
	await started;

	const { engine, release } = acquireEngine({ store: engineNode.store as string, policy: (engineNode.policy as string) ?? '' });
	let stopped = false;
	const stop = async () => {
		if (stopped) return;
		stopped = true;
		await release();
		await RED.stop();
		await new Promise<void>((ok) => server.close(() => ok()));
	};

	try {
		const lines = readFileSync(join(root, 'flows', 'samples', 'nurture.jsonl'), 'utf8').split('\n').filter((l) => l.trim());
		write(`Nudge demo: the nurture journey in Node-RED, decision log in ${dbPath}`);
		write(`Posting ${lines.length} sample events (flows/samples/nurture.jsonl) to ${base}/nudge/${String(trigger.path || 'events')}, signed\n`);
		let n = 0;
		let problems = 0;
		let hotSent: Decision | undefined;
		for (const line of lines) {
			const body = JSON.stringify(JSON.parse(line));
			const event = JSON.parse(line) as { event?: string; type: string; messageId?: string };
			const what = event.event ?? event.type;
			const res = await fetch(`${base}/nudge/${String(trigger.path || 'events')}`, {
				method: 'POST',
				headers: { 'content-type': 'application/json', ...signatureHeaders(secret, body) },
				body,
			});
			const answer = (await res.json()) as { accepted?: number; duplicates?: number; decisionIds?: string[]; error?: string };
			if (res.status !== 200) {
				problems++;
				write(`${String(++n).padStart(3)}. ${'(refused)'.padEnd(36)} ${what.padEnd(22)} HTTP ${res.status}: ${answer.error}`);
				continue;
			}
			if (answer.duplicates) {
				write(`${String(++n).padStart(3)}. ${`event ${event.messageId}`.padEnd(36)} ${what.padEnd(22)} ${'suppressed'.padEnd(11)} DUPLICATE_EVENT  (retried delivery, ignored)`);
			}
			for (const id of answer.decisionIds ?? []) {
				const decision = await waitForLogged(engine, id);
				if (!decision?.loggedAt) problems++;
				if (!decision) continue;
				if (decision.status === 'sent' && decision.score?.tier === 'hot' && !hotSent) hotSent = decision;
				const who = await contactLabel(engine, decision);
				const status = decision.loggedAt ? decision.status : `${decision.status}?`;
				write(`${String(++n).padStart(3)}. ${who.padEnd(36)} ${what.padEnd(22)} ${status.padEnd(11)} ${outcomeOf(decision)}`);
			}
		}

		if (hotSent) {
			write('\nOutcomes reported back for the hottest lead:');
			for (const outcome of [
				{ type: 'click' },
				{ type: 'conversion', value: 12000 },
				{ type: 'click' },
			]) {
				const res = await fetch(`${base}/demo/outcome`, {
					method: 'POST',
					headers: { 'content-type': 'application/json' },
					body: JSON.stringify({ decisionId: hotSent.decisionId, ...outcome }),
				});
				const answer = (await res.json()) as { duplicate?: boolean; outcomes?: number; error?: string };
				const result = res.status !== 200 ? `refused: ${answer.error}` : answer.duplicate ? 'already recorded, not counted twice' : `recorded (${answer.outcomes} on the decision)`;
				write(`  ${outcome.type.padEnd(11)} ${result}`);
			}
		}

		const all = await engine.queryDecisions({ limit: 10_000 });
		const byStatus = new Map<string, number>();
		const byDetail = new Map<string, Map<string, number>>();
		for (const d of all) {
			byStatus.set(d.status, (byStatus.get(d.status) ?? 0) + 1);
			const key = d.status === 'sent' ? (d.channel ?? '?') : (d.reason ?? '?');
			const detail = byDetail.get(d.status) ?? new Map<string, number>();
			detail.set(key, (detail.get(key) ?? 0) + 1);
			byDetail.set(d.status, detail);
		}
		const finalised = all.filter((d) => d.loggedAt).length;
		const duplicates = all.filter((d) => d.reason === 'DUPLICATE_EVENT').length;
		write(`\nSummary: ${lines.length} events, ${all.length} decisions, ${finalised} finalised in the decision log (${duplicates} retried delivery answered by the trigger)`);
		for (const status of ['sent', 'suppressed', 'failed', 'pending']) {
			const count = byStatus.get(status) ?? 0;
			if (!count && status === 'pending') continue;
			const detail = [...(byDetail.get(status) ?? new Map<string, number>()).entries()]
				.sort((a, b) => b[1] - a[1])
				.map(([k, v]) => `${k} ${v}`)
				.join(', ');
			write(`  ${status.padEnd(11)} ${String(count).padStart(3)}${detail ? `  (${detail})` : ''}`);
		}
		if (problems) write(`  ${problems} event(s) were refused or not finalised: see the lines above`);
		write(`\nNode-RED editor: ${base}/  (the "Nudge: nurture journey" tab)`);
		write(`Decision log: ${dbPath}`);
		if (options.once) return problems ? 1 : 0;
		write(`Send your own events: POST ${base}/nudge/events signed with NUDGE_SIGNING_SECRET=${secret}`);
		write('Press Ctrl-C to stop.');
		await new Promise<void>((ok) => {
			process.once('SIGINT', ok);
			process.once('SIGTERM', ok);
		});
		write('\nStopping…');
		return 0;
	} finally {
		await stop();
	}
}

if (require.main === module) {
	const once = process.argv.includes('--once') || ['1', 'true', 'yes'].includes(String(process.env.NUDGE_DEMO_ONCE ?? '').toLowerCase());
	const port = Number(process.env.PORT || 1880);
	runDemo({ port, once }).then(
		(code) => process.exit(code),
		(error: Error) => {
			process.stderr.write(`Nudge demo failed: ${error.message}\n`);
			process.exit(1);
		},
	);
}
