import type { Decision } from '../audit/schema';
import type { Engine, SendTarget } from '../engine';

export const JOURNEYS = ['nurture'] as const;
export type JourneyName = (typeof JOURNEYS)[number];

/**
 * The nurture journey as one call: event in → score → choose channel → frequency cap → send → log.
 * The n8n template and the Node-RED flow wire the same engine steps node by node.
 */
export async function runJourney(engine: Engine, journey: JourneyName, rawEvent: unknown, target: SendTarget): Promise<Decision> {
	let { decision } = await engine.ingest(rawEvent, { journey });
	const steps = [
		(d: Decision) => engine.score(d),
		(d: Decision) => engine.chooseChannel(d),
		(d: Decision) => engine.checkCap(d),
		(d: Decision) => engine.send(d, target),
	];
	// Like the flows: a suppressed decision leaves by its own output and goes straight to the log.
	for (const step of steps) {
		if (decision.status !== 'pending') break;
		decision = await step(decision);
	}
	return decision.loggedAt ? decision : engine.logDecision(decision);
}
