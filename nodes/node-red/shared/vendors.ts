/**
 * Reading the vendor config nodes (`nudge-segment`, `nudge-hubspot`, `nudge-salesforce`) for flow nodes:
 * their password credentials and settings, mapped for the engine. Secrets are only passed on, never logged.
 */
import type { Node, NodeAPI } from 'node-red';
import { hubspotAuthFrom, type HubSpotAuthSettings, type SalesforceSettings, salesforceSettingsFrom } from '../../../engine';

export type VendorConfigNode = Node & { credentials?: Record<string, string | undefined>; settings?: Record<string, string | undefined> };

/** The config node a flow node names, or undefined. */
export function vendorConfig(RED: NodeAPI, id: string | undefined): VendorConfigNode | undefined {
	return (id ? (RED.nodes.getNode(id) as VendorConfigNode | null) : null) ?? undefined;
}

/** A credential field of a config node ('' when the node or the field is missing). */
export function vendorField(RED: NodeAPI, id: string | undefined, field: string): string {
	return vendorConfig(RED, id)?.credentials?.[field] ?? '';
}

/** The `nudge-salesforce` config node as jsforce sign-in settings. */
export function salesforceSettingsOf(RED: NodeAPI, id: string | undefined): SalesforceSettings {
	const config = vendorConfig(RED, id);
	return salesforceSettingsFrom({ ...config?.settings, ...config?.credentials });
}

/** The `nudge-hubspot` config node as HubSpot access settings (private app token, or OAuth2 app). */
export function hubspotAuthOf(RED: NodeAPI, id: string | undefined): HubSpotAuthSettings {
	const config = vendorConfig(RED, id);
	return hubspotAuthFrom(config?.settings?.authType, config?.credentials ?? {});
}
