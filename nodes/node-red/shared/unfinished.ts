/**
 * A Node-RED trigger's decisions that its flow had not finished when the flow stopped (a deploy, a stop of the
 * runtime): kept in the store as the trigger closes and handed to the flow again once the flows have started
 * (engine/events/unfinished.ts).
 */
import type { Node, NodeAPI } from 'node-red';
import { type Engine, type IngestResult, keepUnfinished, MAX_UNFINISHED, takeUnfinished } from '../../../engine';

/** How long after it was handed out a decision still pending is taken to be in the flow (a delay node's wait). */
const IN_FLOW_MS = 3_600_000;

export interface UnfinishedDecisions {
	/** Gives the flow an event taken in, with its decision (msg.payload, msg.decision), and remembers it. */
	handOut(taken: IngestResult): void;
	/** As the node closes: keeps the ones still pending (not when the node was removed: no flow would take them). */
	close(removed: boolean): Promise<void>;
}

export function unfinishedDecisions(RED: NodeAPI, node: Node, engine: Engine | undefined, journey: string): UnfinishedDecisions {
	// By the time handed out, oldest first (a Map keeps insertion order).
	const given = new Map<string, number>();
	const resume = () => {
		if (!engine) return;
		takeUnfinished(engine, journey, node.id).then(
			(decisions) => {
				if (!decisions.length) return;
				node.log(`Handing ${decisions.length} decision(s) to the flow again: the flow stopped before they were finished`);
				for (const decision of decisions) node.send({ payload: decision.event, decision, topic: decision.contactId, resumed: true });
			},
			(error: Error) => node.warn(`Could not hand the decisions the flow had not finished to it again: ${error.message}`),
		);
	};
	// Once every node of the flows runs: a message sent before would be lost again.
	RED.events.once('flows:started', resume);
	return {
		handOut({ event, decision }) {
			given.set(decision.decisionId, Date.now());
			if (given.size > MAX_UNFINISHED) given.delete(given.keys().next().value!);
			node.send({ payload: event, decision, topic: decision.contactId });
		},
		async close(removed) {
			RED.events.removeListener('flows:started', resume);
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
