/**
 * `nudge-hubspot` config node: a HubSpot account for Nudge — a private app's access token (Send →
 * HubSpot) and the app's client secret (Trigger, source HubSpot, signature v3). Both are Node-RED
 * `password` credentials: kept in the credentials file, never exported with the flow or logged.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';

interface HubSpotCredentials {
	accessToken?: string;
	clientSecret?: string;
}

export = function (RED: NodeAPI) {
	function NudgeHubSpot(this: Node<HubSpotCredentials>, def: NodeDef) {
		RED.nodes.createNode(this, def);
	}
	RED.nodes.registerType<Node<HubSpotCredentials>, NodeDef, Record<string, never>, HubSpotCredentials>('nudge-hubspot', NudgeHubSpot, {
		credentials: { accessToken: { type: 'password' }, clientSecret: { type: 'password' } },
	});
};
