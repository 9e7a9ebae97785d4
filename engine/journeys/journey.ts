import type { Decision } from '../audit/schema';
import type { Engine, SendTarget } from '../engine';

export const JOURNEYS = ['nurture'] as const;
export type JourneyName = (typeof JOURNEYS)[number];

/**
 * The nurture journey as one call: event in → score → choose channel → frequency cap → send → log.
 * The n8n template and the Node-RED flow wire the same engine stages node by node.
 */
export function runJourney(engine: Engine, journey: JourneyName, rawEvent: unknown, target: SendTarget): Promise<Decision> {
	return engine.decide(rawEvent, { journey, target });
}
