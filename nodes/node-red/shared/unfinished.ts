/**
 * A Node-RED trigger's decisions whose message a deploy (or a stop of the runtime) dropped before the flow was done
 * with it: handed to the flow again once the flows have started (engine/events/unfinished.ts keeps them in the store
 * when the trigger itself stops). Each message handed out is followed with Node-RED's message hooks: which nodes hold
 * it (delivered to them, preDeliver, and not yet done with it, onComplete). When the flows stop (`flows:stopping`
 * says which nodes: all of them, the modified nodes, or the modified flows' nodes), a message every holder of which
 * stops is lost; one still held by a node that keeps running is not (it is not run twice). A message no node holds any
 * more is finished, whatever its decision's status (Score, then a CRM update, leaves it pending): not run again.
 * A decision handed out after the flows began to stop (an event answered, a timer fired, while the deploy ran) is not
 * sent into the stopping flow, which would drop it: it is held, and handed out once the flows have started, or kept
 * with the others when this node stops (its close waits up to CLOSE_WAIT_MS for the work in flight that may still hand
 * some out, and keeps for the next start what slower work hands out later).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Node, NodeAPI } from 'node-red';
import { type Decision, type Engine, type IngestResult, keepUnfinished, MAX_UNFINISHED, stillPending, takeUnfinished } from '../../../engine';

/** How long after it was handed out a message still held is followed (a delay node's wait, a slow API). */
const IN_FLOW_MS = 3_600_000;
/** Messages followed at once, the most recent: a busy trigger hands out many an hour. */
const MAX_FOLLOWED = 10_000;
/** The longest a trigger holds what it hands out while the flows restart: past it, they are not starting (it runs on). */
const MAX_HOLD_MS = 30_000;
/** How long a closing trigger waits for its work in flight: less than Node-RED's wait for a closing node (15 s). */
const CLOSE_WAIT_MS = 10_000;

type HookEvent = { msg?: { _msgid?: string }; destination?: { id?: string }; node?: { id?: string } };
/** Node-RED's message hooks (RED.hooks, Node-RED 2 and later), as far as they are used here. */
interface MessageHooks {
	add(name: string, hook: (event: HookEvent) => void): void;
	remove(name: string): void;
}
/** Node-RED's flows:stopping event: which nodes stop (runtime/lib/flows stop()). */
interface Stopping {
	type?: string;
	diff?: { changed?: string[]; removed?: string[]; linked?: string[]; rewired?: string[] };
}

export interface UnfinishedDecisions {
	/** Gives the flow an event taken in, with its decision (msg.payload, msg.decision), and follows it through. */
	handOut(taken: IngestResult): void;
	/**
	 * As the node closes: once `inFlight` (the node's work that may still hand decisions out) has settled, or after
	 * CLOSE_WAIT_MS, keeps the decisions a stop dropped or held (not when the node was removed: no flow would take them);
	 * what `inFlight` hands out after that is kept when it settles.
	 */
	close(removed: boolean, inFlight?: Promise<unknown>): Promise<void>;
}

interface Followed {
	decisionId: string;
	at: number;
	/** Nodes holding the message, with how many copies each. */
	holders: Map<string, number>;
}

function stoppingNodes({ type, diff }: Stopping): Set<string> | 'all' {
	if (!diff || type === 'full' || (type !== 'nodes' && type !== 'flows')) return 'all';
	const lists = type === 'nodes' ? [diff.changed, diff.removed] : [diff.changed, diff.removed, diff.linked, diff.rewired];
	return new Set(lists.flatMap((list) => list ?? []));
}

export function unfinishedDecisions(RED: NodeAPI, node: Node, engine: Engine | undefined, journey: string): UnfinishedDecisions {
	const hooks = (RED as unknown as { hooks?: MessageHooks }).hooks;
	const label = `nudgeUnfinished${node.id.replace(/[^A-Za-z0-9]/g, '')}`;
	// By message id, oldest first (a Map keeps insertion order).
	const followed = new Map<string, Followed>();
	/** Decisions whose message the last stop dropped. */
	let lost: string[] = [];
	/** From flows:stopping to flows:started: a message sent meanwhile would be dropped with the flow it enters. */
	let stopping = false;
	/** Decisions handed out while the flows stopped, with their event: handed out when they have started. */
	let held: Array<{ decision: Decision; payload: unknown }> = [];
	let holdTimer: NodeJS.Timeout | undefined;
	const holdersOf = (event: HookEvent) => (event.msg?._msgid === undefined ? undefined : followed.get(event.msg._msgid)?.holders);
	hooks?.add(`preDeliver.${label}`, (event) => {
		const holders = holdersOf(event);
		const id = event.destination?.id;
		if (holders && id) holders.set(id, (holders.get(id) ?? 0) + 1);
	});
	hooks?.add(`onComplete.${label}`, (event) => {
		const holders = holdersOf(event);
		const id = event.node?.id;
		const copies = id === undefined ? undefined : holders?.get(id);
		// A node done before it sends on (a function node's asynchronous send) is followed again by that send's delivery.
		if (copies === undefined) return;
		if (copies > 1) holders!.set(id!, copies - 1);
		else holders!.delete(id!);
	});
	const onStopping = (event: Stopping) => {
		stopping = true;
		// A deploy whose flows cannot start (a node type or module missing) never says flows:started, and this node may run on.
		clearTimeout(holdTimer);
		holdTimer = setTimeout(release, MAX_HOLD_MS);
		holdTimer.unref?.();
		const stoppingNow = stoppingNodes(event ?? {});
		const since = Date.now() - IN_FLOW_MS;
		// Without the hooks nothing says where a message is: every decision still pending may have been dropped.
		lost = [...followed.values()].filter((f) => f.at >= since && (!hooks || (f.holders.size > 0 && (stoppingNow === 'all' || [...f.holders.keys()].every((id) => stoppingNow.has(id)))))).map((f) => f.decisionId);
	};
	/** Hands out what was held (never in a flow yet, so not `resumed`): the flows started, or will not. */
	const release = () => {
		clearTimeout(holdTimer);
		stopping = false;
		const waiting = held;
		held = [];
		for (const { decision, payload } of waiting) send(decision, payload, false);
	};
	// A deploy whose flows Node-RED will not start (a node type or module missing: @node-red/runtime flows/index.js start):
	// the nodes it did not stop run on. (Every stop also says runtime-state stop, with no error, before the start.)
	const onRuntimeEvent = (event: { id?: string; payload?: { error?: string } }) => {
		if (stopping && event?.id === 'runtime-state' && (event.payload?.error === 'missing-types' || event.payload?.error === 'missing-modules')) release();
	};
	const send = (decision: Decision, payload: unknown, resumed: boolean) => {
		if (stopping) {
			held.push({ decision, payload });
			return;
		}
		const _msgid = RED.util.generateId();
		followed.set(_msgid, { decisionId: decision.decisionId, at: Date.now(), holders: new Map() });
		if (followed.size > MAX_FOLLOWED) followed.delete(followed.keys().next().value!);
		node.send({ _msgid, payload, decision, topic: decision.contactId, ...(resumed ? { resumed: true } : {}) });
	};
	const handOutAgain = (decisions: Decision[]) => {
		if (!decisions.length) return;
		node.log(`Handing ${decisions.length} decision(s) to the flow again: a deploy or a stop dropped them before the flow was done`);
		// The event as the decision log keeps it (id, type, name, time): the rest of what was sent is not stored.
		for (const decision of decisions) send(decision, decision.event, true);
	};
	let started = false;
	const onStarted = () => {
		if (!engine) return;
		const work = !started
			? // This node just started: the decisions its previous instance kept as it stopped.
				takeUnfinished(engine, journey, node.id)
			: // It ran on through a partial deploy that stopped nodes after it: the decisions they dropped, still pending.
				stillPending(engine, lost);
		started = true;
		lost = [];
		release();
		void engine.track(work.then(handOutAgain, (error: Error) => node.warn(`Could not hand the decisions the flow had not finished to it again: ${error.message}`)));
	};
	RED.events.on('flows:stopping', onStopping);
	// Once every node of the flows runs: a message sent before would be lost again.
	RED.events.on('flows:started', onStarted);
	RED.events.on('runtime-event', onRuntimeEvent);
	/** Keeps these decisions for the next start (at most MAX_UNFINISHED, the latest, saying so when more were dropped). */
	const keep = async (decisionIds: string[]) => {
		if (decisionIds.length > MAX_UNFINISHED) node.warn(`${decisionIds.length - MAX_UNFINISHED} decision(s) the flow had not finished are not kept (a trigger keeps the latest ${MAX_UNFINISHED}): they stay pending in the decision log`);
		const kept = decisionIds.length ? await keepUnfinished(engine!, journey, node.id, decisionIds.slice(-MAX_UNFINISHED)) : 0;
		if (kept) node.log(`Kept ${kept} decision(s) the flow had not finished: handed to it again when it starts`);
	};
	return {
		handOut: ({ event, decision }) => send(decision, event, false),
		async close(removed, inFlight = Promise.resolve()) {
			// A closing node's messages go nowhere: what its work in flight hands out from now on is held.
			stopping = true;
			clearTimeout(holdTimer);
			RED.events.removeListener('flows:stopping', onStopping);
			RED.events.removeListener('flows:started', onStarted);
			RED.events.removeListener('runtime-event', onRuntimeEvent);
			hooks?.remove(`*.${label}`);
			if (removed || !engine) return;
			const settled = Promise.allSettled([inFlight]).then(() => true);
			const heldIds = () => held.splice(0).map((h) => h.decision.decisionId);
			try {
				// Tracked from now: the engine's close (its config node stops with the flow) waits for it. The work in flight is
				// waited for a while, not past Node-RED's own wait for a closing node (15 s), so the new instance takes these.
				const done = await engine.track(Promise.race([settled, sleep(CLOSE_WAIT_MS, false, { ref: false })]));
				await engine.track(keep([...lost, ...heldIds()]));
				// Work still running (a slow poll) keeps what it hands out when it ends: taken at the next start.
				if (!done) void engine.track(settled.then(() => keep(heldIds()))).catch((error: Error) => node.warn(`Could not keep the decisions the flow had not finished: ${error.message}`));
			} catch (error) {
				node.warn(`Could not keep the decisions the flow had not finished: ${(error as Error).message}`);
			}
		},
	};
}
