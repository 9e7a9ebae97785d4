/**
 * The glue every Nudge Node-RED node shares, so each node stays a thin adapter over one engine step:
 * - which engine a node uses (its `nudge-engine` config node) and why it cannot, when it cannot;
 * - which decision a message is about;
 * - how a result becomes outputs + a status, and how an error becomes a red status + done(err).
 * No business rule lives here: the engine decides, this module only routes and reports.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import type { Decision, Engine, GuardOptions, ReasonCode } from '../../../engine';
import { decisionIdOf as refId, isRecord, messageOptionsOf, nodeSettingsFirst, NudgeError, type NudgeErrorCode, type NotFromEvent, openItem } from '../../../engine/items';

/** The node type of the config node; every flow node names one in its `engine` property. */
export const ENGINE_NODE_TYPE = 'nudge-engine';

export interface NudgeEngineCredentials {
	signingSecret?: string;
	/** Where the engine keeps its data (a credential: it may hold a database password). */
	storeUrl?: string;
}

/** What the `nudge-engine` config node exposes to flow nodes at runtime. */
export interface NudgeEngineNode extends Node<NudgeEngineCredentials> {
	/** The shared engine; undefined when the configuration is invalid. */
	engine?: Engine;
	/** Why the configuration is unusable (bad policy, bad store URL…), in words a marketer can act on. */
	configError?: NudgeError;
}

/** Properties every flow node has in its editor definition. */
export interface NudgeNodeDef extends NodeDef {
	engine?: string;
}

export type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;
export type Done = (err?: Error) => void;

/** The engine a node works with, or the error that explains why it has none. */
export interface EngineLink {
	engine?: Engine;
	error?: NudgeError;
	/** The config node's signing secret ('' when none is set). */
	signingSecret: string;
}

/** Looks up the node's config node: the engine it holds, or an actionable reason it cannot be used. */
export function linkEngine(RED: NodeAPI, engineNodeId: string | undefined): EngineLink {
	const config = engineNodeId ? (RED.nodes.getNode(engineNodeId) as NudgeEngineNode | null) : null;
	if (!config || config.type !== ENGINE_NODE_TYPE) {
		return {
			signingSecret: '',
			error: new NudgeError(
				'INVALID_CONFIG',
				'No Nudge engine is selected: open this node, pick a Nudge Engine (or add one with the pencil button) and deploy',
				[],
				503,
			),
		};
	}
	const signingSecret = config.credentials?.signingSecret ?? '';
	if (config.configError || !config.engine) {
		const why = config.configError?.message ?? 'it did not start';
		return {
			signingSecret,
			error: new NudgeError(
				'INVALID_CONFIG',
				`The Nudge engine "${config.name || config.id}" cannot be used: ${why}. Fix it in the Nudge Engine settings and deploy again`,
				config.configError?.issues ?? [],
				503,
			),
		};
	}
	return { engine: config.engine, signingSecret };
}

/** Wraps anything thrown into a NudgeError, keeping NudgeErrors as they are. */
export function asNudgeError(error: unknown, code: NudgeErrorCode = 'INVALID_INPUT'): NudgeError {
	if (error instanceof NudgeError) return error;
	const message = error instanceof Error ? error.message : String(error);
	return new NudgeError(code, `Nudge could not process this message: ${message}`, [], 500);
}

// ---------------------------------------------------------------------------------------------
// Status: a dot and a short text (under 20 characters) that a marketer reads at a glance.

const REASON_LABELS: Record<ReasonCode, string> = {
	FREQUENCY_CAP: 'capped',
	QUIET_HOURS: 'quiet hours',
	NO_CONSENT: 'no consent',
	UNREACHABLE: 'unreachable',
	NEGATIVE_TRIGGER: 'paused',
	HOLDOUT: 'holdout',
	REVIEW_REQUIRED: 'needs review',
	DUPLICATE_EVENT: 'duplicate',
	POLICY_BLOCKED: 'policy blocked',
	NO_ELIGIBLE_CHANNEL: 'no channel',
	SEND_FAILED: 'send failed',
	SUPPRESSION_LIST: 'suppressed list',
	REVIEW_REJECTED: 'review rejected',
	WAIT_CHOSEN: 'waiting',
	BEST_SEND_TIME: 'best time',
	NOT_A_TRIGGER: 'no message',
	AGENTS_DISABLED: 'agents off',
	AGENT_KILL_SWITCH: 'kill switch',
	AGENT_BLOCKED: 'agent blocked',
	BLAST_RADIUS: 'blast radius',
	APPROVAL_INVALID: 'approval invalid',
	APPROVAL_EXPIRED: 'approval expired',
	APPROVAL_MISMATCH: 'approval mismatch',
	LOW_UPLIFT: 'low uplift',
	STOPPED_BY_ERROR: 'stopped by error',
	CONTACT_ERASED: 'contact erased',
	EVENT_TOO_OLD: 'event too old',
};

const ERROR_LABELS: Record<NudgeErrorCode, string> = {
	INVALID_EVENT: 'invalid event',
	INVALID_POLICY: 'invalid policy',
	INVALID_INPUT: 'invalid input',
	INVALID_CONFIG: 'engine not set up',
	UNKNOWN_CONTACT: 'unknown contact',
	UNKNOWN_DECISION: 'unknown decision',
	BAD_SIGNATURE: 'bad signature',
	NOT_RESERVED: 'not cap-checked',
	CONFLICT: 'already sending',
	STORE_ERROR: 'store error',
};

export const MAX_STATUS_LENGTH = 19;

export function shortText(text: string): string {
	return text.length <= MAX_STATUS_LENGTH ? text : `${text.slice(0, MAX_STATUS_LENGTH - 1)}…`;
}

export function reasonLabel(reason: ReasonCode | undefined): string {
	return reason ? REASON_LABELS[reason] : 'suppressed';
}

/**
 * The status for a decision after a step: green while it goes on (with the step's own text) or once
 * sent, a yellow ring while delayed, blue while waiting for review, yellow when suppressed (with the
 * reason), red when its send failed.
 */
export function decisionStatus(decision: Decision, pendingText: string): NodeStatus {
	switch (decision.status) {
		case 'pending':
			return { fill: 'green', shape: 'dot', text: shortText(pendingText) };
		case 'sent':
			return { fill: 'green', shape: 'dot', text: shortText(decision.channel ? `sent ${decision.channel}` : 'sent') };
		case 'failed':
			return { fill: 'red', shape: 'dot', text: 'send failed' };
		case 'delayed':
			return { fill: 'yellow', shape: 'ring', text: shortText(`delayed: ${reasonLabel(decision.reason)}`) };
		case 'review':
			return { fill: 'blue', shape: 'dot', text: 'needs review' };
		default:
			return { fill: 'yellow', shape: 'dot', text: shortText(reasonLabel(decision.reason)) };
	}
}

export function errorStatus(error: NudgeError): NodeStatus {
	const text = error.code === 'INVALID_CONFIG' && /No Nudge engine is selected/.test(error.message) ? 'no engine' : ERROR_LABELS[error.code];
	return { fill: 'red', shape: 'dot', text: shortText(text ?? 'error') };
}

/**
 * Reports a failed message: red status, and done(err) so Catch nodes see the actionable message.
 * Node-RED shows `err.toString()` as msg.error.message, so the error reads as its message alone
 * (no "NudgeError:" prefix); code and issues stay on the error object for the log.
 */
export function fail(node: Node, msg: NodeMessage, done: Done, error: unknown): void {
	const nudgeError = asNudgeError(error);
	node.status(errorStatus(nudgeError));
	try {
		done(nudgeError);
	} catch {
		// Node-RED copies the message for each Catch node and cannot copy one nested too deep (RangeError) or one with
		// a getter that throws: the Catch nodes get the error with the message's id and decision instead of nothing.
		const id = readSafely(msg, '_msgid');
		const report = { _msgid: typeof id === 'string' ? id : undefined };
		const decision = readSafely(msg, 'decision');
		try {
			node.error(nudgeError, decision === undefined ? report : { ...report, decision });
		} catch {
			// The decision cannot be copied either (a Proxy, a getter of its own): the message's id alone.
			node.error(nudgeError, report);
		}
	}
}

/** A message property, or undefined when reading it throws (a getter or a Proxy a flow put there). */
function readSafely(msg: NodeMessage, key: string): unknown {
	try {
		return (msg as Record<string, unknown>)[key];
	} catch {
		return undefined;
	}
}

// ---------------------------------------------------------------------------------------------
// Messages ↔ decisions

const warnedFields = new WeakMap<Node, Set<string>>();

/**
 * The message options a node acts on: its own settings, with msg.message filling what it leaves blank
 * (nodeSettingsFirst). A msg.message field the node's settings overrode is warned about once per node and field.
 */
export function messageOptions(node: Node, settings: GuardOptions, fromMessage: unknown): GuardOptions {
	const { options, ignored } = nodeSettingsFirst(settings, messageOptionsOf(fromMessage));
	let warned = warnedFields.get(node);
	if (!warned) warnedFields.set(node, (warned = new Set()));
	for (const field of ignored.filter((f) => !warned.has(f))) {
		warned.add(field);
		node.warn(`msg.message.${field} is ignored: this node sets ${field} itself (${JSON.stringify(settings[field as keyof GuardOptions])}). Clear the node's ${field} to take it from each message`);
	}
	return options;
}

/**
 * The decision a message is about: `msg.decision` when it is attached (a decision or its id); otherwise
 * the one `msg.payload` carries, or a new one for `msg.journey` when the payload is a customer event (an
 * object or JSON text), exactly as the Nudge Trigger would (engine/items, as in n8n), unless the node cannot go on with
 * one (`notFromEvent`).
 */
export function decisionOf(engine: Engine, msg: NodeMessage, notFromEvent?: NotFromEvent): Promise<Decision> {
	return openItem(engine, { item: msg.payload, decision: msg.decision, journey: msg.journey, notFromEvent });
}

/** The decision id a message names: msg.decision, msg.decisionId or msg.payload.decisionId. */
export function decisionIdOf(msg: NodeMessage): string | undefined {
	return [msg.decision, msg.decisionId, isRecord(msg.payload) ? msg.payload.decisionId : undefined].map(refId).find(Boolean);
}

// ---------------------------------------------------------------------------------------------
// The input handler every step node uses.

export interface StepResult {
	decision: Decision;
	/** Which output the message leaves by (0-based). */
	output: number;
	status: NodeStatus;
	/** Extra message properties to set, e.g. `duplicate`. */
	extra?: Record<string, unknown>;
}

export interface StepOptions {
	/** Number of outputs the node declares in its editor definition. */
	outputs: number;
	/**
	 * A problem with the node's own settings, found when it was deployed (e.g. annotations that are
	 * not JSON): every message fails with it.
	 */
	settingsError?: NudgeError;
	run: (engine: Engine, msg: NodeMessageInFlow) => Promise<StepResult>;
}

// ---------------------------------------------------------------------------------------------
// Running engine work from a node

/** Each node's runs in flight, which its close waits for. */
const nodeRuns = new WeakMap<Node, Set<Promise<void>>>();

/**
 * Tracks a node's run so a redeploy lets it finish: the node's close (Node-RED waits up to 15 s) and the
 * engine's release wait for it, so a send in flight is still recorded in the decision log. `run` must
 * handle its own errors; anything that still escapes is logged, never an unhandled rejection (which
 * would stop `node-red`).
 */
export function trackRun(node: Node, engine: Engine, run: Promise<unknown>): void {
	const runs = nodeRuns.get(node) ?? new Set<Promise<void>>();
	if (!nodeRuns.has(node)) {
		nodeRuns.set(node, runs);
		node.on('close', (_removed: boolean, done: () => void) => void Promise.allSettled([...runs]).then(() => done()));
	}
	const tracked = engine.track(run.then(() => undefined, (error: unknown) => node.error(`Nudge could not finish: ${error instanceof Error ? error.message : String(error)}`)));
	runs.add(tracked);
	void tracked.then(() => runs.delete(tracked));
}

/** Settles once the node's runs in flight now (trackRun) have: what a close waits for before it reads their results. */
export function runsInFlight(node: Node): Promise<void> {
	return Promise.allSettled([...(nodeRuns.get(node) ?? [])]).then(() => undefined);
}

/**
 * Runs a message's engine work, then `ok` with its result (outputs, status), then done(). Anything thrown,
 * by the engine or by `ok` (Node-RED failing to copy a deeply nested message for a second wire), becomes a
 * red status and done(err) instead: done runs exactly once.
 */
export function runMessage<T>(node: Node, engine: Engine, msg: NodeMessage, done: Done, work: () => Promise<T>, ok: (result: T) => void): void {
	trackRun(
		node,
		engine,
		Promise.resolve()
			.then(work)
			.then(ok)
			.then(
				() => done(),
				(error: unknown) => fail(node, msg, done, error),
			),
	);
}

/**
 * Wires a node to one engine step: finds the engine, shows a red status when it has none, and for
 * each message runs the step, sets `msg.decision`, sends on the chosen output, sets the status and
 * calls done(); any error becomes a red status and done(err).
 */
export function handleSteps(RED: NodeAPI, node: Node, def: NudgeNodeDef, options: StepOptions): void {
	const link = linkEngine(RED, def.engine);
	const problem = link.error ?? options.settingsError;
	if (problem) {
		node.status(errorStatus(problem));
		node.error(problem.message);
	}
	node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
		const engine = link.engine;
		if (problem || !engine) {
			fail(node, msg, done, problem);
			return;
		}
		runMessage(node, engine, msg, done, () => options.run(engine, msg), (result) => {
			msg.decision = result.decision;
			if (result.extra) Object.assign(msg, result.extra);
			const outputs: Array<NodeMessage | null> = new Array(options.outputs).fill(null);
			outputs[result.output] = msg;
			node.status(result.status);
			send(options.outputs === 1 ? msg : outputs);
		});
	});
}
