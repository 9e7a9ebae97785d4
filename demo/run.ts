/**
 * `npm start`: Nudge's three journeys (nurture, cart abandonment, churn risk) running together in a real
 * Node-RED 5, fed by simulated customers.
 *
 * Starts an embedded Node-RED (editor included) on http://127.0.0.1:1880 (PORT overrides), deploys every
 * journey flow in flows/node-red with the engine on a fresh SQLite file (~/.nudge/demo.db) and a signing
 * secret it makes up, and plays the simulator's scenario (demo/simulator.ts): each contact's events are
 * posted as signed Segment-spec webhooks to their journey's Nudge Trigger at 1 scenario minute per
 * NUDGE_DEMO_MS_PER_MINUTE ms (100), stamped with the moment they are posted. What contacts do after a
 * message reaches them (opens, clicks, orders, redemptions) is posted the same way. It prints one line
 * per decision as the decision log finalises it, a running summary, and a final summary by journey, by
 * outcome and by reason, then keeps running until Ctrl-C so you can explore the flows.
 * `--once` (or NUDGE_DEMO_ONCE=1) stops after the summary. NUDGE_SIGNING_SECRET sets the secret,
 * NUDGE_REVIEW_TOKEN the reviewers' token the review endpoints ask for (made up when unset; the demo's
 * reviewers send it as Authorization: Bearer),
 * NUDGE_DEMO_SEED the scenario (42), NUDGE_DEMO_CONTACTS the contacts per journey (20).
 * The flows in ~/.nudge/node-red are rewritten at every start, so the demo always begins from the examples.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Express } from 'express';
import { packageRoot } from '../cli/packageRoot';
import type { Decision } from '../engine/audit/schema';
import type { Engine } from '../engine/engine';
import { signatureHeaders } from '../engine/events/signature';
import { acquireEngine } from '../engine/registry';
import { type DemoFlows, type FlowNode, loadJourneyFlows, MAX_WAIT_SETTING, prepareForDemo } from './flows';
import { buildScenario, describeScenario, JOURNEY_IDS, responsesTo, reviewOf, type JourneyId, type Scenario, type SimEvent, type Verdict } from './simulator';
import { outcomeOf, runningLine, summaryLines, tally } from './summary';

interface NodeRedRuntime {
	init(server: Server, settings: Record<string, unknown>): void;
	start(): Promise<void>;
	stop(): Promise<void>;
	readonly httpAdmin: Express;
	readonly httpNode: Express;
	readonly events: NodeJS.EventEmitter;
}

/** The longest wait (timer, best send time) the demo plays out, in scenario minutes: a day's wait comes after 90. */
const MAX_WAIT_MINUTES = 90;

const write = (line = '') => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Node-RED and the express it ships with (resolved through Node-RED, which depends on it). */
function loadNodeRed(): { RED: NodeRedRuntime; express: () => Express } {
	const redPath = require.resolve('node-red');
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const RED = require(redPath) as NodeRedRuntime;
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const express = require(require.resolve('express', { paths: [dirname(redPath)] })) as () => Express;
	return { RED, express };
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
	seed?: number;
	perJourney?: number;
	/** Real milliseconds per scenario minute. */
	msPerMinute?: number;
}

export interface EmbeddedNodeRed {
	base: string;
	stop(): Promise<void>;
}

/**
 * A Node-RED 5 with its editor on 127.0.0.1:<port> (0: any free port), running `nodes` from a fresh user folder, with
 * Nudge's nodes loaded from the package (the same way an installed package's are).
 */
export async function startEmbeddedNodeRed(root: string, userDir: string, port: number, nodes: FlowNode[], credentials: Record<string, unknown>): Promise<EmbeddedNodeRed> {
	mkdirSync(userDir, { recursive: true });
	const flowFile = join(userDir, 'flows.json');
	writeFileSync(flowFile, JSON.stringify(nodes, null, 2));
	writeFileSync(join(userDir, 'flows_cred.json'), JSON.stringify(credentials, null, 2));
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
		uiPort: port,
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
		server.listen(port, '127.0.0.1', () => ok());
	});
	const started = waitForFlows(RED);
	await RED.start();
	await started;
	return {
		base: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
		stop: async () => {
			await RED.stop();
			await new Promise<void>((ok) => server.close(() => ok()));
		},
	};
}

/** What a decision line says after its outcome: the channel and score, or the reason and rule. */
function detailOf(d: Decision): string {
	const outcome = outcomeOf(d);
	if (outcome === 'sent') {
		const score = d.score ? `  (score ${d.score.value}, ${d.score.tier})` : '';
		const offer = d.message?.offerValue ? `  offer ${d.message.offerValue}% off` : '';
		return `${d.channel}${score}${offer}`;
	}
	if (outcome === 'failed') return `SEND_FAILED  ${d.delivery?.error ?? ''}`;
	const rule = d.ruleId ?? d.guard?.bindingRuleId;
	const until = outcome === 'delayed' && d.guard?.retryAt ? `  until ${d.guard.retryAt.slice(0, 16).replace('T', ' ')} UTC` : '';
	return `${d.reason ?? outcome}${rule ? `  (${rule})` : ''}${until}`;
}

/** A step of the demo that takes longer than any should fails with what it was doing, instead of hanging. */
function within<T>(promise: Promise<T>, what: string, ms = 30_000): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const late = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what} took more than ${ms / 1000} s`)), ms);
	});
	return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Waits in the store for the contact's best send time: the demo's clock brings it back within the run. */
const waitingForBestTime = (d: Decision) => d.status === 'delayed' && d.reason === 'BEST_SEND_TIME';

/** Settled for the demo: finalised in the log, or waiting by design (delayed past the run, in review). */
const settled = (d: Decision) => !waitingForBestTime(d) && (!!d.loggedAt || d.status === 'delayed' || d.status === 'review');

interface PlayResult {
	posted: number;
	refused: number;
	verdicts: number;
	skippedJourneys: string[];
}

/** Something the scenario does at a scenario minute: a contact's event, or a person's review verdict. */
type Action = { at: number; event: SimEvent } | { at: number; verdict: Verdict; decisionId: string; url: string; label: string };

/**
 * Plays the scenario against the running flows: posts each event when its scenario minute comes, prints
 * each decision once it settles (again when a review verdict moves it on), answers every sent message
 * with the contact's simulated responses and every review with a person's verdict. Ends once nothing is
 * left to do and no decision has moved for longer than any timer's wait.
 */
async function play(engine: Engine, scenario: Scenario, flows: DemoFlows, red: EmbeddedNodeRed, clock: { secret: string; reviewToken: string; msPerMinute: number }): Promise<PlayResult> {
	const { secret, reviewToken, msPerMinute } = clock;
	const base = red.base;
	const t0 = Date.now();
	const minuteNow = () => (Date.now() - t0) / msPerMinute;
	const queue: Action[] = scenario.events.filter((e) => flows.journeys.has(e.journey)).map((event) => ({ at: event.at, event }));
	const schedule = (actions: Action[]) => {
		queue.push(...actions);
		queue.sort((a, b) => a.at - b.at);
	};
	// Quiet for longer than any timer's wait (and a margin for a busy machine): nothing more is coming.
	const quietMs = Math.max(0, ...flows.timers.map((t) => t.demoMinutes * 60_000)) + 5_000;
	/** Decisions not printed yet, or printed while waiting for review: the outcome last printed. */
	const watching = new Map<string, string | undefined>();
	const labels = new Map<string, { label: string; userId?: string }>();
	const ranks = new Map<string, number>();
	const nextRank = (key: string) => {
		ranks.set(key, (ranks.get(key) ?? 0) + 1);
		return ranks.get(key)!;
	};
	/** Messages waiting for the contact's best send time (held to the demo's longest wait). */
	const bestTime = new Set<string>();
	let cursor: { createdAt: string; decisionId: string } | undefined;
	let lastChange = Date.now();
	let nextRunning = Date.now() + 3_000;
	let lastRunning = '';
	const result: PlayResult = { posted: 0, refused: 0, verdicts: 0, skippedJourneys: JOURNEY_IDS.filter((j) => !flows.journeys.has(j)) };
	let n = 0;

	const postJson = async (url: string, body: string, headers: Record<string, string> = {}) => {
		// A flow that never answers is reported as such rather than holding the demo forever.
		const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, signal: AbortSignal.timeout(20_000) });
		lastChange = Date.now();
		return { status: res.status, answer: (await res.json()) as { duplicates?: number; error?: string; status?: string } };
	};
	const postEvent = async (e: SimEvent, retry = false) => {
		const body = JSON.stringify({ ...e.call, timestamp: new Date().toISOString() });
		const { status, answer } = await postJson(`${base}/nudge/${flows.journeys.get(e.journey)!.path}`, body, signatureHeaders(secret, body));
		result.posted++;
		if (status !== 200) {
			result.refused++;
			write(`  (refused) ${e.journey} ${e.call.event ?? e.call.type} for ${e.contact.traits.email}: HTTP ${status} ${answer.error ?? ''}`);
		} else if (retry && answer.duplicates) {
			write(`  (the source retried ${e.call.messageId} ${e.call.event ?? e.call.type}: answered as a duplicate, nothing decided twice)`);
		}
	};
	const run = async (action: Action) => {
		if ('event' in action) {
			await postEvent(action.event);
			if (action.event.retried) await postEvent(action.event, true);
			return;
		}
		const { verdict } = action;
		const { status, answer } = await postJson(`${base}${action.url}`, JSON.stringify({ decisionId: action.decisionId, approve: verdict.approve, reviewer: verdict.reviewer, note: verdict.note }), { authorization: `Bearer ${reviewToken}` });
		result.verdicts++;
		if (status !== 200) result.refused++;
		write(`  (${verdict.reviewer} ${verdict.approve ? 'approved' : 'rejected'} the decision for ${action.label}${status === 200 ? '' : `: refused, HTTP ${status} ${answer.error ?? ''}`})`);
	};
	const who = async (contactId: string) => {
		let known = labels.get(contactId);
		if (!known) {
			const p = await engine.getProfile(contactId);
			known = { label: p?.email ?? p?.identities.userId?.[0] ?? contactId, userId: p?.identities.userId?.[0] };
			labels.set(contactId, known);
		}
		return known;
	};
	const show = async (d: Decision) => {
		const outcome = outcomeOf(d);
		const contact = await who(d.contactId);
		const what = d.event.name ?? d.event.type;
		const after = watching.get(d.decisionId) === 'review' ? '  (after review)' : '';
		write(`${String(++n).padStart(4)}. ${d.journey.padEnd(16)} ${contact.label.padEnd(36)} ${what.padEnd(20)} ${outcome.padEnd(10)} ${detailOf(d)}${after}`);
		// A sales task carries the handoff the salesperson reads.
		if (outcome === 'sent' && d.handoff) write(`${' '.repeat(6)}handoff: ${d.handoff.summary}`);
		if (outcome === 'sent' && d.channel && contact.userId) {
			schedule(responsesTo(scenario, { journey: d.journey, contactUserId: contact.userId, channel: d.channel, messageId: d.delivery?.providerMessageId, at: minuteNow(), ordinal: nextRank(`sent:${contact.userId}`) }).map((event) => ({ at: event.at, event })));
		}
		const reviewUrl = flows.journeys.get(d.journey as JourneyId)?.reviewUrl;
		if (outcome === 'review' && reviewUrl && contact.userId) {
			const verdict = reviewOf(scenario, d.journey, contact.userId, nextRank(`review:${contact.userId}`));
			schedule([{ at: minuteNow() + verdict.after, verdict, decisionId: d.decisionId, url: reviewUrl, label: contact.label }]);
		}
	};

	for (;;) {
		while (queue.length && queue[0].at <= minuteNow()) await within(run(queue.shift()!), 'posting to the flows');
		const fresh = await within(engine.queryDecisions({ after: cursor, limit: 1000 }), 'reading the decision log');
		if (fresh.length) cursor = { createdAt: fresh[fresh.length - 1].createdAt, decisionId: fresh[fresh.length - 1].decisionId };
		for (const d of fresh) watching.set(d.decisionId, undefined);
		for (const [id, printed] of [...watching]) {
			const d = fresh.find((x) => x.decisionId === id) ?? (await engine.store.getDecision(id));
			if (d && waitingForBestTime(d)) bestTime.add(id);
			else if (bestTime.delete(id)) lastChange = Date.now();
			if (!d || !settled(d) || outcomeOf(d) === printed) continue;
			lastChange = Date.now();
			await show(d);
			if (outcomeOf(d) === 'review' && flows.journeys.get(d.journey as JourneyId)?.reviewUrl) watching.set(id, 'review');
			else watching.delete(id);
		}
		if (Date.now() >= nextRunning) {
			const line = runningLine(tally(await engine.queryDecisions({ limit: 100_000 })));
			if (line !== lastRunning) write(`-- ${String(Math.round((Date.now() - t0) / 1000)).padStart(3)} s: ${line}`);
			lastRunning = line;
			nextRunning += 3_000;
		}
		if (!queue.length && !bestTime.size && Date.now() - lastChange > quietMs) break;
		await sleep(100);
	}
	return result;
}

export async function runDemo(options: DemoOptions): Promise<number> {
	const root = packageRoot();
	const home = options.home ?? homedir();
	const nudgeDir = join(home, '.nudge');
	const userDir = join(nudgeDir, 'node-red');
	const dbPath = join(nudgeDir, 'demo.db');
	mkdirSync(nudgeDir, { recursive: true });
	for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) rmSync(f, { force: true });

	const secret = process.env.NUDGE_SIGNING_SECRET || randomBytes(24).toString('hex');
	// The review endpoints take verdicts only with this token ($env('NUDGE_REVIEW_TOKEN') in the flows): Node-RED runs in this process.
	const reviewToken = process.env.NUDGE_REVIEW_TOKEN || randomBytes(24).toString('hex');
	process.env.NUDGE_REVIEW_TOKEN = reviewToken;
	const msPerMinute = options.msPerMinute ?? 100;
	const origin = `http://127.0.0.1:${options.port}`;
	const flows = loadJourneyFlows(root);
	const store = `sqlite:${dbPath}`;
	const credentials = prepareForDemo(flows, { store, origin, msPerMinute, maxWaitMinutes: MAX_WAIT_MINUTES, timerCheckSeconds: 0.25 }, secret);
	const red = await startEmbeddedNodeRed(root, userDir, options.port, flows.nodes, credentials);
	const { engine, release } = acquireEngine({ store, policy: (flows.engines[0].policy as string) ?? '' });
	let stopped = false;
	const stop = async () => {
		if (stopped) return;
		stopped = true;
		await release();
		await red.stop();
	};

	try {
		const scenario = buildScenario({ seed: options.seed, perJourney: options.perJourney, startedAt: new Date() });
		const journeys = [...flows.journeys.keys()];
		write(`Nudge demo: ${journeys.length === 1 ? `the ${journeys[0]} journey` : `the ${journeys.join(', ')} journeys`} in Node-RED, decision log in ${dbPath}`);
		write(`Simulated contacts (seed ${scenario.seed}), their events signed and posted to ${journeys.map((j) => `/nudge/${flows.journeys.get(j)!.path}`).join(', ')}:`);
		for (const line of describeScenario(scenario)) write(`  ${line}`);
		const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;
		write(`1 scenario minute = ${msPerMinute} ms. A wait for the best send time lasts at most ${seconds(MAX_WAIT_MINUTES * msPerMinute)} (policy ${MAX_WAIT_SETTING}).`);
		write(`${flows.timers.length ? `Timer waits for the demo: ${flows.timers.map((t) => `${t.start} → ${t.fire} ${t.minutes} min → ${seconds(t.demoMinutes * 60_000)}`).join('; ')}` : ''}\n`);

		const result = await play(engine, scenario, flows, red, { secret, reviewToken, msPerMinute });
		const all = await engine.queryDecisions({ limit: 100_000 });
		const t = tally(all);
		const unsettled = all.filter((d) => !settled(d)).length;
		write(`\nSummary: ${result.posted} events posted, ${result.verdicts} review verdicts, ${all.length} decisions, ${all.filter((d) => d.loggedAt).length} finalised in the decision log`);
		for (const line of summaryLines(t)) write(line);
		for (const j of result.skippedJourneys) write(`  (no flows/node-red/${j}.json: the ${j} contacts were not played)`);
		const problems = result.refused + unsettled;
		if (problems) write(`  ${result.refused} event(s) refused and ${unsettled} decision(s) not finalised: see the lines above`);
		write(`\nNode-RED editor: ${red.base}/  (one tab per journey)`);
		write(`Decision log: ${dbPath}`);
		if (options.once) return problems ? 1 : 0;
		write(`Send your own events: POST ${red.base}/nudge/<journey> signed with NUDGE_SIGNING_SECRET=${secret}`);
		write(`Review queue and verdicts: ${red.base}/demo/<journey>/review with the header Authorization: Bearer ${reviewToken} (NUDGE_REVIEW_TOKEN)`);
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

/** `npm start` (demo/start.ts): options from the command line and the environment, exit code when done. */
export function main(): void {
	const once = process.argv.includes('--once') || ['1', 'true', 'yes'].includes(String(process.env.NUDGE_DEMO_ONCE ?? '').toLowerCase());
	const port = Number(process.env.PORT || 1880);
	const number = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
	runDemo({ port, once, seed: number('NUDGE_DEMO_SEED'), perJourney: number('NUDGE_DEMO_CONTACTS'), msPerMinute: number('NUDGE_DEMO_MS_PER_MINUTE') }).then(
		(code) => process.exit(code),
		(error: Error) => {
			process.stderr.write(`Nudge demo failed: ${error.message}\n`);
			process.exit(1);
		},
	);
}
