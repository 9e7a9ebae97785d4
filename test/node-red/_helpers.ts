/**
 * Shared set-up for the Node-RED tests: the test helper on a real Node-RED runtime, the Nudge node
 * modules (TypeScript sources), a capture of RED.httpNode for webhook tests, and small waiting tools.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Express } from 'express';
import type { Node, NodeAPI, NodeMessage, NodeStatus } from 'node-red';
import type { Engine } from '../../engine/engine';
import { signatureHeaders } from '../../engine/events/signature';
import nudgeEngine from '../../nodes/node-red/nudge-engine';
import nudgeTrigger from '../../nodes/node-red/nudge-trigger';
import nudgeScore from '../../nodes/node-red/nudge-score';
import nudgeChooseChannel from '../../nodes/node-red/nudge-choose-channel';
import nudgeFrequencyCap from '../../nodes/node-red/nudge-frequency-cap';
import nudgeSend from '../../nodes/node-red/nudge-send';
import nudgeLogDecision from '../../nodes/node-red/nudge-log-decision';
import nudgeRecordOutcome from '../../nodes/node-red/nudge-record-outcome';
import nudgeModel from '../../nodes/node-red/nudge-model';
import nudgeContactData from '../../nodes/node-red/nudge-contact-data';
import nudgeAction from '../../nodes/node-red/nudge-action';
import nudgeSegment from '../../nodes/node-red/nudge-segment';
import nudgeHubSpot from '../../nodes/node-red/nudge-hubspot';
import nudgeSalesforce from '../../nodes/node-red/nudge-salesforce';
import nudgePoll from '../../nodes/node-red/nudge-poll';
import nudgeDue from '../../nodes/node-red/nudge-due';
import type { NudgeEngineNode } from '../../nodes/node-red/shared/adapter';

type NodeInit = (RED: NodeAPI) => void;

export interface TestHelper {
	init(nodeRedPath: string, settings?: Record<string, unknown>): void;
	startServer(): Promise<void>;
	stopServer(): Promise<void>;
	load(nodes: NodeInit | NodeInit[], flow: object[], credentials?: Record<string, object>): Promise<void>;
	unload(): Promise<void>;
	/** Deploys new flows into the loaded runtime; `nodes` restarts only the nodes that changed, as the editor's default deploy. */
	setFlows(flow: object[], type: 'full' | 'flows' | 'nodes', credentials?: Record<string, object>): Promise<void>;
	getNode(id: string): (Node & SpiedNode) | null;
	settings(settings: Record<string, unknown>): void;
}

/** The test helper replaces these Node methods with sinon spies. */
export interface SpiedNode {
	status: ((status: NodeStatus) => void) & { lastCall?: { args: [NodeStatus] }; getCalls(): Array<{ args: [NodeStatus]; thisValue: unknown }> };
	error: ((...args: unknown[]) => void) & { getCalls(): Array<{ args: unknown[] }> };
	warn: ((...args: unknown[]) => void) & { getCalls(): Array<{ args: unknown[] }> };
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const helper = require('node-red-node-test-helper') as TestHelper;
helper.init(require.resolve('node-red'));

export const ENGINE_ID = 'eng1';
/** A signing secret made up per test run. */
export const SECRET = randomBytes(16).toString('hex');
export const TAB = 'tab1';

export const NUDGE_NODES: NodeInit[] = [
	nudgeEngine,
	nudgeTrigger,
	nudgeScore,
	nudgeChooseChannel,
	nudgeFrequencyCap,
	nudgeSend,
	nudgeLogDecision,
	nudgeRecordOutcome,
	nudgeModel,
	nudgeContactData,
	nudgeAction,
	nudgeSegment,
	nudgeHubSpot,
	nudgeSalesforce,
	nudgePoll,
	nudgeDue,
];

let capturedHttpNode: Express | undefined;

/** Node modules to load, with a first one that remembers RED.httpNode (a fresh express app per load). */
export function withHttpCapture(nodes: NodeInit[] = NUDGE_NODES, mount?: (httpNode: Express) => void): NodeInit[] {
	const capture: NodeInit = (RED) => {
		capturedHttpNode = RED.httpNode;
		mount?.(RED.httpNode);
	};
	return [capture, ...nodes];
}

export function httpNode(): Express {
	if (!capturedHttpNode) throw new Error('RED.httpNode was not captured: load with withHttpCapture()');
	return capturedHttpNode;
}

/** Core Node-RED node modules by file (for whole example flows). */
export function coreNode(file: string): NodeInit {
	const nodesDir = path.dirname(require.resolve('@node-red/nodes/package.json', { paths: [path.dirname(require.resolve('node-red'))] }));
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	return require(path.join(nodesDir, 'core', file)) as NodeInit;
}

export function engineNodeDef(extra: Record<string, unknown> = {}): Record<string, unknown> {
	return { id: ENGINE_ID, type: 'nudge-engine', name: 'test engine', store: 'memory:', policy: '', ...extra };
}

export function credentials(secret = SECRET): Record<string, object> {
	return { [ENGINE_ID]: { signingSecret: secret } };
}

/** The engine held by the config node of the loaded flow. */
export function engineOf(id = ENGINE_ID): Engine {
	const node = helper.getNode(id) as unknown as NudgeEngineNode | null;
	if (!node?.engine) throw new Error(`config node ${id} holds no engine`);
	return node.engine;
}

export function nodeOf(id: string): Node & SpiedNode {
	const node = helper.getNode(id);
	if (!node) throw new Error(`node ${id} is not loaded (a missing node type stops the whole flow)`);
	return node;
}

export function lastStatus(id: string): NodeStatus | undefined {
	return nodeOf(id).status.lastCall?.args[0];
}

type Waiter = (msg: NodeMessage & Record<string, unknown>) => void;
const waitersOf = new WeakMap<Node, Set<Waiter>>();

/**
 * Resolves with the next message a helper node receives. One listener per node serves every waiter: a listener that
 * removes itself while Node-RED calls the node's listeners (node.once) makes Node-RED skip the next one and fail the
 * message with "Cannot read properties of undefined (reading 'call')" (runtime/lib/nodes/Node.js, _emitInput).
 */
export function nextMessage(id: string, timeoutMs = 5000): Promise<NodeMessage & Record<string, unknown>> {
	const node = nodeOf(id);
	let waiters = waitersOf.get(node);
	if (!waiters) {
		const all = new Set<Waiter>();
		waitersOf.set(node, (waiters = all));
		node.on('input', (msg: NodeMessage & Record<string, unknown>) => {
			const now = [...all];
			all.clear();
			for (const waiter of now) waiter(msg);
		});
	}
	const mine = waiters;
	return new Promise((resolve, reject) => {
		const waiter: Waiter = (msg) => {
			clearTimeout(timer);
			resolve(msg);
		};
		const timer = setTimeout(() => {
			mine.delete(waiter);
			reject(new Error(`no message reached ${id} within ${timeoutMs} ms`));
		}, timeoutMs);
		mine.add(waiter);
	});
}

/** Records every message reaching the given helper nodes. */
export function recordMessages(ids: string[]): Record<string, Array<NodeMessage & Record<string, unknown>>> {
	const seen: Record<string, Array<NodeMessage & Record<string, unknown>>> = {};
	for (const id of ids) {
		seen[id] = [];
		nodeOf(id).on('input', (msg: NodeMessage & Record<string, unknown>) => seen[id].push(msg));
	}
	return seen;
}

export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
	const until = Date.now() + timeoutMs;
	while (Date.now() < until) {
		if (await check()) return;
		await new Promise((r) => setTimeout(r, 10));
	}
	throw new Error(`timed out waiting for ${what}`);
}

/** Messages that reached no output within a short while. */
export async function quietFor(ms = 150): Promise<void> {
	await new Promise((r) => setTimeout(r, ms));
}

/** A catch node for the whole tab, wired to a helper node, so done(err) can be observed like a user would. */
export function catchAll(target = 'caught'): Record<string, unknown>[] {
	return [
		{ id: TAB, type: 'tab', label: 'test' },
		{ id: 'catch1', type: 'catch', z: TAB, scope: null, uncaught: false, wires: [[target]] },
		{ id: target, type: 'helper', z: TAB },
	];
}

/** The next error a catch node reports: { message, sourceId }. */
export async function nextCaught(id = 'caught'): Promise<{ message: string; source: string }> {
	const msg = await nextMessage(id);
	const error = msg.error as { message: string; source: { id: string } };
	return { message: error.message, source: error.source.id };
}

let counter = 0;
/** A Segment-spec event; each call gets a fresh messageId unless one is given. */
export function segmentEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
	counter++;
	return {
		type: 'track',
		event: 'Pricing Viewed',
		messageId: `msg-test-${process.pid}-${Date.now()}-${counter}`,
		userId: `u-${counter}`,
		properties: { path: '/pricing' },
		context: { traits: { email: `person${counter}@example.com`, title: 'Director of Growth', employees: 120 } },
		timestamp: new Date().toISOString(),
		...overrides,
	};
}

export function signed(body: string, secret = SECRET, at = new Date()): Record<string, string> {
	return { 'content-type': 'application/json', ...signatureHeaders(secret, body, at) };
}

/**
 * node-red-node-test-helper 0.3.6 registers its built-in core modules (catch, status, complete) once per
 * node of that type, so a second Catch node fails with "catch already registered": once per load is enough.
 */
export function registerCoreModulesOncePerLoad(): void {
	const modules = (helper as unknown as { _nodeModules: Record<string, (red: unknown) => unknown> })._nodeModules;
	for (const [type, register] of Object.entries(modules)) {
		let loadedInto: unknown;
		modules[type] = (red: unknown) => {
			if (loadedInto === red) return undefined;
			loadedInto = red;
			return register(red);
		};
	}
}
