/**
 * A Node-RED trigger's decisions that its flow had not finished when the flow stopped (a deploy, a stop of the
 * runtime): kept in the store as the trigger closes and handed to the flow again once the flows have started
 * (engine/events/unfinished.ts). A message is finished when every node it reached has called done() on it: Node-RED's
 * message hooks count its deliveries (postDeliver) against the nodes done with it (onComplete), so a flow whose last
 * step leaves a decision pending (Score, then a CRM update) is not run again at a deploy.
 */
import type { Node, NodeAPI } from 'node-red';
import { type Decision, type Engine, type IngestResult, keepUnfinished, MAX_UNFINISHED, takeUnfinished } from '../../../engine';

/** How long after it was handed out a decision still in the flow is kept (a delay node's wait, a slow API). */
const IN_FLOW_MS = 3_600_000;

/** Node-RED's message hooks (RED.hooks, Node-RED 2 and later), as far as they are used here. */
interface MessageHooks {
	add(name: string, hook: (event: { msg?: { _msgid?: string } }) => void): void;
	remove(name: string): void;
}

export interface UnfinishedDecisions {
	/** Gives the flow an event taken in, with its decision (msg.payload, msg.decision), and follows it through. */
	handOut(taken: IngestResult): void;
	/** As the node closes: keeps the ones not finished (not when the node was removed: no flow would take them). */
	close(removed: boolean): Promise<void>;
}

export function unfinishedDecisions(RED: NodeAPI, node: Node, engine: Engine | undefined, journey: string): UnfinishedDecisions {
	// By the time handed out, oldest first (a Map keeps insertion order); and each message's deliveries not done yet.
	const given = new Map<string, number>();
	const inFlight = new Map<string, { decisionId: string; open: number }>();
	const hooks = (RED as unknown as { hooks?: MessageHooks }).hooks;
	const label = `nudgeUnfinished${node.id.replace(/[^A-Za-z0-9]/g, '')}`;
	hooks?.add(`postDeliver.${label}`, ({ msg }) => {
		const followed = msg?._msgid === undefined ? undefined : inFlight.get(msg._msgid);
		if (followed) followed.open++;
	});
	hooks?.add(`onComplete.${label}`, ({ msg }) => {
		const followed = msg?._msgid === undefined ? undefined : inFlight.get(msg._msgid);
		if (!followed || --followed.open > 0) return;
		inFlight.delete(msg!._msgid!);
		given.delete(followed.decisionId);
	});
	const send = (decision: Decision, payload: unknown, resumed: boolean) => {
		given.delete(decision.decisionId);
		given.set(decision.decisionId, Date.now());
		if (given.size > MAX_UNFINISHED) given.delete(given.keys().next().value!);
		const _msgid = RED.util.generateId();
		if (hooks) inFlight.set(_msgid, { decisionId: decision.decisionId, open: 0 });
		if (inFlight.size > MAX_UNFINISHED) inFlight.delete(inFlight.keys().next().value!);
		node.send({ _msgid, payload, decision, topic: decision.contactId, ...(resumed ? { resumed: true } : {}) });
	};
	const resume = () => {
		if (!engine) return;
		takeUnfinished(engine, journey, node.id).then(
			(decisions) => {
				if (!decisions.length) return;
				node.log(`Handing ${decisions.length} decision(s) to the flow again: the flow stopped before they were finished`);
				// The event as the decision log keeps it (id, type, name, time): the rest of what was sent is not stored.
				for (const decision of decisions) send(decision, decision.event, true);
			},
			(error: Error) => node.warn(`Could not hand the decisions the flow had not finished to it again: ${error.message}`),
		);
	};
	// Once every node of the flows runs: a message sent before would be lost again.
	RED.events.once('flows:started', resume);
	return {
		handOut: ({ event, decision }) => send(decision, event, false),
		async close(removed) {
			RED.events.removeListener('flows:started', resume);
			hooks?.remove(`*.${label}`);
			if (removed || !engine || !given.size) return;
			const since = Date.now() - IN_FLOW_MS;
			const recent = [...given].filter(([, at]) => at >= since).map(([id]) => id);
			try {
				// Tracked: the engine's close (its config node stops with the flow) waits for it.
				const kept = await engine.track(keepUnfinished(engine, journey, node.id, recent));
				if (kept) node.log(`Kept ${kept} decision(s) the flow had not finished: handed to it again when it starts`);
			} catch (error) {
				node.warn(`Could not keep the decisions the flow had not finished: ${(error as Error).message}`);
			}
		},
	};
}
