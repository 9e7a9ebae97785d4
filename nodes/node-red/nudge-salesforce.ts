/**
 * `nudge-salesforce` config node: a Salesforce connected app for Nudge, signing in by refresh token or
 * JWT bearer. The consumer secret, refresh token and private key are Node-RED `password` credentials.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';

interface SalesforceCredentials {
	clientSecret?: string;
	refreshToken?: string;
	privateKey?: string;
}

interface SalesforceDef extends NodeDef {
	auth?: string;
	loginUrl?: string;
	clientId?: string;
	username?: string;
}

type SalesforceNode = Node<SalesforceCredentials> & { settings?: Record<string, string | undefined> };

export = function (RED: NodeAPI) {
	function NudgeSalesforce(this: SalesforceNode, def: SalesforceDef) {
		RED.nodes.createNode(this, def);
		this.settings = { auth: def.auth, loginUrl: def.loginUrl, clientId: def.clientId, username: def.username };
	}
	RED.nodes.registerType<SalesforceNode, SalesforceDef, Record<string, never>, SalesforceCredentials>('nudge-salesforce', NudgeSalesforce, {
		credentials: { clientSecret: { type: 'password' }, refreshToken: { type: 'password' }, privateKey: { type: 'password' } },
	});
};
