/**
 * The pieces every Nudge node's description repeats: the engine credential, the vendor credentials, notices,
 * the Options collection, the journey setting and message tags. Each node keeps its description a literal (n8n's
 * community-node lint and review read icon, subtitle, group and inputs there) and takes these from here.
 */
import type { IDisplayOptions, INodeCredentialDescription, INodeProperties, NodeConnectionType } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

/**
 * A node's credentials: the Nudge Engine credential every node runs on (checked by the shared connection test),
 * then the vendor credentials it also uses. A call, not an array literal: n8n's lint restores an array's
 * elements as object literals and cannot read shared ones.
 */
export function engineCredentials(...vendors: INodeCredentialDescription[]): INodeCredentialDescription[] {
	return [{ name: 'nudgeEngineApi', required: true, testedBy: 'nudgeEngineConnectionTest' }, ...vendors];
}

/** `count` main connections (a node's outputs, one per route). */
export function mainConnections(count: number): NodeConnectionType[] {
	return Array.from({ length: count }, () => NodeConnectionTypes.Main);
}

/** HubSpot's two credentials, one per authentication (private app token or OAuth2 app), where `show` holds. */
export function hubspotCredentials(show: Record<string, string[]>): INodeCredentialDescription[] {
	return [
		{ name: 'nudgeHubSpotApi', required: true, displayOptions: { show: { ...show, authentication: ['privateApp'] } } },
		{ name: 'nudgeHubSpotOAuth2Api', required: true, displayOptions: { show: { ...show, authentication: ['oAuth2'] } } },
	];
}

/** The Salesforce credential where `show` holds, checked by its connection test. */
export function salesforceCredential(show: Record<string, string[]>): INodeCredentialDescription {
	return { name: 'nudgeSalesforceApi', required: true, testedBy: 'nudgeSalesforceConnectionTest', displayOptions: { show } };
}

/** A notice shown at the top of the node's settings (`name` tells apart several on one node). */
export function notice(text: string, displayOptions?: IDisplayOptions, name = 'notice'): INodeProperties {
	return { displayName: text, name, type: 'notice', default: '', ...(displayOptions ? { displayOptions } : {}) };
}

/** The "Options" collection of optional settings, as every node names it. */
export function optionsCollection(options: INodeProperties[]): INodeProperties {
	return { displayName: 'Options', name: 'options', type: 'collection', placeholder: 'Add Option', default: {}, options };
}

/** The journey an incoming customer event starts when it is not yet a Nudge decision (an option of the step nodes). */
export function journeyOption(description: string): INodeProperties {
	return { displayName: 'Journey', name: 'journey', type: 'string', default: 'nurture', description };
}

/** The journey a trigger's events start (or whose decisions it takes back): required, `nurture` unless set. */
export function journeyParameter(description: string, displayOptions?: IDisplayOptions): INodeProperties {
	return { displayName: 'Journey', name: 'journey', type: 'string', default: 'nurture', required: true, description, ...(displayOptions ? { displayOptions } : {}) };
}

/** A message's tags, which caps can count by (an option wherever a message is described). */
export function tagsOption(placeholder: string): INodeProperties {
	return { displayName: 'Tags', name: 'tags', type: 'string', default: '', placeholder, description: 'Comma-separated tags; caps can count messages by tag' };
}
