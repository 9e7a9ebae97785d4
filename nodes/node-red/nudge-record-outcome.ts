/** `nudge-record-outcome`: attributes an outcome (open, click, conversion…) to the decision that caused it. */
import type { NodeAPI, Node } from 'node-red';
import type { OutcomeInput } from '../../engine';
import { isRecord, NudgeError, outcomeReference, OutcomeSchema, outcomeTime } from '../../engine/items';
import { decisionIdOf, handleSteps, NudgeNodeDef, shortText } from './shared/adapter';

interface RecordOutcomeDef extends NudgeNodeDef {
	/** '' = take it from msg.payload.type. */
	outcomeType?: string;
	/** '' = take it from msg.payload.value (optional). */
	value?: string | number;
}

const OUTCOME_TYPES = OutcomeSchema.shape.type.options as readonly string[];

function field(payload: unknown, key: string): unknown {
	return isRecord(payload) ? payload[key] : undefined;
}

export = function (RED: NodeAPI) {
	function NudgeRecordOutcome(this: Node, def: RecordOutcomeDef) {
		RED.nodes.createNode(this, def);
		const fixedType = def.outcomeType?.trim() || undefined;
		const fixedValue = def.value === undefined || String(def.value).trim() === '' ? undefined : Number(def.value);
		const settingsError =
			fixedType && !OUTCOME_TYPES.includes(fixedType)
				? new NudgeError('INVALID_INPUT', `Outcome type "${fixedType}" is not one of ${OUTCOME_TYPES.join(', ')}`)
				: fixedValue !== undefined && !Number.isFinite(fixedValue)
					? new NudgeError('INVALID_INPUT', `Value must be a number, e.g. 49.90 (got "${def.value}")`)
					: undefined;
		handleSteps(RED, this, def, {
			outputs: 1,
			settingsError,
			run: async (engine, msg) => {
				// The decision id when the message carries one; otherwise the provider's message id, or the contact (and channel).
				const reference = outcomeReference({
					decisionId: decisionIdOf(msg),
					messageId: field(msg.payload, 'messageId'),
					contactId: field(msg.payload, 'contactId'),
					channel: field(msg.payload, 'channel'),
				});
				if (!reference) {
					throw new NudgeError(
						'INVALID_INPUT',
						'This message names no decision: put the decision id in msg.decisionId or msg.payload.decisionId (it is in the "decisionId" of every message Nudge sent), or give msg.payload.messageId, or msg.payload.contactId (and msg.payload.channel)',
					);
				}
				const type = fixedType ?? field(msg.payload, 'type');
				if (typeof type !== 'string' || !type) {
					throw new NudgeError('INVALID_INPUT', `No outcome type: choose one on the node or send msg.payload.type (${OUTCOME_TYPES.join(', ')})`);
				}
				const rawValue = fixedValue ?? field(msg.payload, 'value');
				const outcomeId = field(msg.payload, 'outcomeId');
				const at = outcomeTime(field(msg.payload, 'at'), 'msg.payload.at');
				const input: OutcomeInput = {
					...reference,
					type: type as OutcomeInput['type'],
					// As sent (a number or text): the engine reads an order id given as a number and an amount given as text.
					...(rawValue !== undefined && rawValue !== null ? { value: rawValue as number } : {}),
					...(outcomeId !== undefined && outcomeId !== null ? { outcomeId: outcomeId as string } : {}),
					...(at ? { at } : {}),
				};
				const { decision, duplicate } = await engine.recordOutcome(input);
				return {
					decision,
					output: 0,
					extra: { duplicate },
					status: duplicate
						? { fill: 'yellow', shape: 'dot', text: shortText(`duplicate ${type}`) }
						: { fill: 'green', shape: 'dot', text: shortText(`${type} recorded`) },
				};
			},
		});
	}
	RED.nodes.registerType('nudge-record-outcome', NudgeRecordOutcome);
};
