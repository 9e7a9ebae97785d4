/**
 * The journeys' Node-RED flows as the demo deploys them: all of flows/node-red/<journey>.json in one
 * runtime, unchanged except for the settings each flow exposes for this purpose — the engine's store
 * and signing secret (its credentials), the Send nodes' address (the demo's own port), how often the trigger checks its
 * timers and for due decisions, the policy's inactivity-timer waits, shortened so a cart is abandoned within
 * the run, and the longest wait for a contact's best send time (the policy's `journeys.<id>.sendTime.maxWait`),
 * held to the same compressed clock.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JOURNEY_IDS, type JourneyId } from './simulator';

export interface FlowNode {
	id: string;
	type: string;
	[key: string]: unknown;
}

export interface DemoFlows {
	nodes: FlowNode[];
	/**
	 * Journeys whose flow exists: the path their trigger listens on (POST /nudge/<path>) and, when the
	 * flow has one, the HTTP endpoint on the same tab that takes review verdicts (…/review).
	 */
	journeys: Map<JourneyId, { path: string; file: string; reviewUrl?: string }>;
	/** The engine config nodes (usually one, shared by every flow). */
	engines: FlowNode[];
	/** Each inactivity timer as the flow has it and as the demo runs it. */
	timers: Array<{ journey: string; start: string; fire: string; minutes: number; demoMinutes: number }>;
}

export interface DemoFlowSettings {
	store: string;
	/** Origin the demo's Node-RED listens on, e.g. http://127.0.0.1:1880. */
	origin: string;
	/** Real milliseconds per scenario minute: the timers' waits are scaled by it. */
	msPerMinute: number;
	/**
	 * Longest wait the demo lets a timer or a best-send-time wait keep, in scenario minutes (a 24-hour
	 * second touch comes sooner, a message due at 09:00 tomorrow goes within the run).
	 */
	maxWaitMinutes: number;
	/** Seconds between the triggers' checks for timers that ran out, and the due nodes' checks for waits that ended. */
	timerCheckSeconds: number;
}

interface TimerRule {
	start: string;
	fire: string;
	minutes: number;
}

/** Loads every journey flow that exists; a node id repeated across files (the shared engine) is kept once. */
export function loadJourneyFlows(root: string): DemoFlows {
	const nodes: FlowNode[] = [];
	const seen = new Set<string>();
	const journeys: DemoFlows['journeys'] = new Map();
	for (const journey of JOURNEY_IDS) {
		const file = join(root, 'flows', 'node-red', `${journey}.json`);
		if (!existsSync(file)) continue;
		const flow = JSON.parse(readFileSync(file, 'utf8')) as FlowNode[];
		for (const node of flow) {
			if (seen.has(node.id) || (node.type === 'global-config' && nodes.some((n) => n.type === 'global-config'))) continue;
			seen.add(node.id);
			nodes.push(node);
		}
		const trigger = flow.find((n) => n.type === 'nudge-trigger' && String(n.journey || 'nurture') === journey);
		if (!trigger) throw new Error(`flows/node-red/${journey}.json has no Nudge Trigger for the ${journey} journey`);
		const review = flow.find((n) => n.type === 'http in' && n.z === trigger.z && n.method === 'post' && /\/review$/.test(String(n.url)));
		journeys.set(journey, { path: String(trigger.path || 'events'), file: `flows/node-red/${journey}.json`, ...(review ? { reviewUrl: String(review.url) } : {}) });
	}
	if (!journeys.size) throw new Error(`No journey flow found in ${join(root, 'flows', 'node-red')}`);
	const engines = nodes.filter((n) => n.type === 'nudge-engine');
	if (!engines.length) throw new Error('The journey flows have no nudge-engine config node');
	return { nodes, journeys, engines, timers: [] };
}

/** Rewrites the exposed settings in place (see the file comment); returns the credentials file's content. */
export function prepareForDemo(flows: DemoFlows, settings: DemoFlowSettings, secret: string): Record<string, { signingSecret: string; storeUrl: string }> {
	const credentials: Record<string, { signingSecret: string; storeUrl: string }> = {};
	for (const engine of flows.engines) {
		credentials[engine.id] = { signingSecret: secret, storeUrl: settings.store };
		if (typeof engine.policy === 'string' && engine.policy.trim()) engine.policy = JSON.stringify(shortenWaits(JSON.parse(engine.policy), settings, flows.timers), null, 2);
	}
	for (const node of flows.nodes) {
		if (node.type === 'nudge-send' && typeof node.url === 'string') node.url = onDemoOrigin(node.url, settings.origin);
		if (node.type === 'nudge-due') node.interval = settings.timerCheckSeconds;
		if (node.type === 'nudge-trigger') {
			node.timerCheck = settings.timerCheckSeconds;
			if (typeof node.timers === 'string' && node.timers.trim()) {
				node.timers = JSON.stringify((JSON.parse(node.timers) as TimerRule[]).map((rule) => shorten(rule, String(node.journey || 'nurture'), settings, flows.timers)));
			}
		}
	}
	return credentials;
}

/** A Send address on this machine's default Node-RED port moves to the port the demo listens on. */
function onDemoOrigin(url: string, origin: string): string {
	try {
		const u = new URL(url);
		if (!['127.0.0.1', 'localhost'].includes(u.hostname)) return url;
		return `${origin}${u.pathname}${u.search}`;
	} catch {
		return url;
	}
}

/** The policy's path to the longest best-send-time wait, as the demo prints it. */
export const MAX_WAIT_SETTING = 'journeys.<id>.sendTime.maxWait';

type JourneyWaits = { timers?: TimerRule[]; sendTime?: { waitForBestTime?: boolean; maxWait?: string } };

/** The inactivity timers on the demo's clock, and each best-send-time wait held to the demo's longest wait. */
function shortenWaits(policy: { journeys?: Record<string, JourneyWaits> }, settings: DemoFlowSettings, log: DemoFlows['timers']) {
	// Whole seconds (the policy's durations have no fractions), at least one.
	const maxWait = `${Math.max(1, Math.round((settings.maxWaitMinutes * settings.msPerMinute) / 1000))}s`;
	for (const [journey, config] of Object.entries(policy.journeys ?? {})) {
		if (Array.isArray(config.timers)) config.timers = config.timers.map((rule) => shorten(rule, journey, settings, log));
		if (config.sendTime?.waitForBestTime) config.sendTime = { ...config.sendTime, maxWait };
	}
	return policy;
}

function shorten(rule: TimerRule, journey: string, settings: DemoFlowSettings, log: DemoFlows['timers']): TimerRule {
	const scenarioMinutes = Math.min(rule.minutes, settings.maxWaitMinutes);
	const demoMinutes = Math.max(0.01, Math.round(((scenarioMinutes * settings.msPerMinute) / 60_000) * 1000) / 1000);
	log.push({ journey, start: rule.start, fire: rule.fire, minutes: rule.minutes, demoMinutes });
	return { ...rule, minutes: demoMinutes };
}
