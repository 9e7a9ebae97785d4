/**
 * `nudge-segment` config node: a Segment workspace for Nudge — the source's write key (Send → Segment)
 * and the Webhooks (Actions) destination's shared secret (Trigger, source Segment). Both are Node-RED
 * `password` credentials: kept in the credentials file, never exported with the flow or logged.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';

interface SegmentCredentials {
	writeKey?: string;
	sharedSecret?: string;
}

interface SegmentDef extends NodeDef {
	host?: string;
}

type SegmentNode = Node<SegmentCredentials> & { host?: string };

export = function (RED: NodeAPI) {
	function NudgeSegment(this: SegmentNode, def: SegmentDef) {
		RED.nodes.createNode(this, def);
		this.host = def.host || 'https://api.segment.io';
	}
	RED.nodes.registerType<SegmentNode, SegmentDef, Record<string, never>, SegmentCredentials>('nudge-segment', NudgeSegment, {
		credentials: { writeKey: { type: 'password' }, sharedSecret: { type: 'password' } },
	});
};
