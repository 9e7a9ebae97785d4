/** `nudge-contact-data`: a data request (GDPR) for one contact: its whole record, or its erasure (engine/privacy). */
import type { Node, NodeAPI, NodeMessageInFlow } from 'node-red';
import { Done, errorStatus, fail, linkEngine, NudgeNodeDef, runMessage, Send, shortText } from './shared/adapter';
import { jsonObjectOf } from '../../engine';

interface ContactDataDef extends NudgeNodeDef {
	operation?: 'export' | 'erase';
	suppress?: boolean;
}

/**
 * The contact the message names: msg.payload.contactId or msg.payload.email (a bare string payload is an email; the
 * engine refuses one that is not). A request an http in node got as text (text/plain) is read as the JSON object it
 * spells, as every node reads JSON settings (jsonObjectOf: text that is not JSON is refused, saying so).
 */
function contactOf(msg: NodeMessageInFlow): unknown {
	const p = typeof msg.payload === 'string' && msg.payload.trim().startsWith('{') ? jsonObjectOf(msg.payload, 'msg.payload') : msg.payload;
	if (typeof p === 'string') return { email: p };
	if (!p || typeof p !== 'object' || Array.isArray(p)) return {};
	const { contactId, email } = p as Record<string, unknown>;
	return { ...(contactId !== undefined ? { contactId } : {}), ...(email !== undefined ? { email } : {}) };
}

export = function (RED: NodeAPI) {
	function NudgeContactData(this: Node, def: ContactDataDef) {
		RED.nodes.createNode(this, def);
		const link = linkEngine(RED, def.engine);
		if (link.error) {
			this.status(errorStatus(link.error));
			this.error(link.error.message);
		}
		const erase = def.operation === 'erase';
		this.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
			if (!link.engine) return fail(this, msg, done, link.error);
			const engine = link.engine;
			const run = async () => (erase ? await engine.eraseContact(contactOf(msg), { suppress: !!def.suppress }) : await engine.contactRecord(contactOf(msg)));
			runMessage(this, engine, msg, done, run, (result) => {
				msg.payload = result;
				// An erasure that found nobody (only a suppression kept) is not shown as done.
				const nobody = 'erasureId' in result && !result.found;
				const text = 'erasureId' in result ? (result.found ? `erased ${result.counts.decisions} decisions` : 'no one; suppressed') : `${result.decisions.length} decisions`;
				this.status({ fill: nobody ? 'yellow' : 'green', shape: 'dot', text: shortText(text) });
				send(msg);
			});
		});
	}
	RED.nodes.registerType('nudge-contact-data', NudgeContactData);
};
