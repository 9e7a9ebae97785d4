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
	if (decision.status === 'pending') {
		decision = await engine.score(decision);
		decision = await engine.chooseChannel(decision);
		decision = await engine.checkCap(decision);
		decision = await engine.send(decision, target);
	}
	return engine.logDecision(decision);
}
