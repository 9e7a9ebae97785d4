/**
 * `nudge-hubspot` config node: a HubSpot account for Nudge, reached with a private app's access token
 * or an OAuth2 app (client ID, client secret, refresh token: Nudge renews the short-lived access token
 * itself). The app's client secret also checks webhook signatures (Trigger, source HubSpot, v3). Secrets
 * are Node-RED `password` credentials: kept in the credentials file, never exported with the flow or logged.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';

interface HubSpotCredentials {
	accessToken?: string;
	clientId?: string;
	clientSecret?: string;
	refreshToken?: string;
}

interface HubSpotDef extends NodeDef {
	/** `privateApp` (default) or `oauth2`. */
	authType?: string;
}

type HubSpotNode = Node<HubSpotCredentials> & { settings?: Record<string, string | undefined> };

export = function (RED: NodeAPI) {
	function NudgeHubSpot(this: HubSpotNode, def: HubSpotDef) {
		RED.nodes.createNode(this, def);
		this.settings = { authType: def.authType === 'oauth2' ? 'oauth2' : 'privateApp' };
	}
	RED.nodes.registerType<HubSpotNode, HubSpotDef, Record<string, never>, HubSpotCredentials>('nudge-hubspot', NudgeHubSpot, {
		credentials: { accessToken: { type: 'password' }, clientId: { type: 'text' }, clientSecret: { type: 'password' }, refreshToken: { type: 'password' } },
	});
};
