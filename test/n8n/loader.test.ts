/**
 * Loads the built package (dist/) the way n8n loads an installed community package: n8n-core's
 * PackageDirectoryLoader reading the package.json "n8n" block. Needs the build (`npm run build`, i.e.
 * `tsc -p tsconfig.json && gulp`); `npm test` runs it first.
 */
import './quiet';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PackageDirectoryLoader } from 'n8n-core';
import type { ICredentialType, INodeTypeDescription } from 'n8n-workflow';

const ROOT = resolve(__dirname, '../..');
const NODES = ['nudgeTrigger', 'nudgePollTrigger', 'nudgeDueTrigger', 'nudgeScore', 'nudgeChooseChannel', 'nudgeFrequencyCap', 'nudgeSend', 'nudgeLogDecision', 'nudgeRecordOutcome', 'nudgeModel', 'nudgeContactData', 'nudgeAction'];
/**
 * Nodes an AI agent may call (DESIGN §12): reading a score, recording an outcome, asking for a governed action. Sending, approving a
 * review, model and contact-data operations are never tools, nor are the nodes that route by output.
 */
const TOOL_NODES = ['nudgeScore', 'nudgeRecordOutcome', 'nudgeAction'];

let loader: PackageDirectoryLoader;

beforeAll(async () => {
	const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { n8n: { nodes: string[]; credentials: string[] } };
	const missing = [...pkg.n8n.nodes, ...pkg.n8n.credentials].filter((file) => !existsSync(join(ROOT, file)));
	if (missing.length) {
		throw new Error(`dist/ is missing (${missing.join(', ')}): run \`npm run build\` (tsc -p tsconfig.json && gulp) before this test`);
	}
	loader = new PackageDirectoryLoader(ROOT);
	await loader.loadAll();
});

function description(name: string): INodeTypeDescription {
	const found = loader.types.nodes.find((node) => node.name === name);
	if (!found) throw new Error(`${name} was not loaded`);
	return found;
}

describe('the built package, loaded by n8n-core', () => {
	it('registers every node and the credential under the package name', () => {
		expect(loader.packageName).toBe('n8n-nodes-nudge');
		const types = Object.keys(loader.nodeTypes).map((name) => `${loader.packageName}.${name}`);
		expect(types.sort()).toEqual(NODES.map((name) => `n8n-nodes-nudge.${name}`).sort());
		expect(Object.keys(loader.credentialTypes).sort()).toEqual(['nudgeEngineApi', 'nudgeHubSpotApi', 'nudgeHubSpotOAuth2Api', 'nudgeSalesforceApi', 'nudgeSegmentApi']);
		// Vendor credentials are offered only where a Source / Provider option needs them.
		expect(loader.known.credentials.nudgeSegmentApi.supportedNodes?.sort()).toEqual(['nudgeSend', 'nudgeTrigger']);
		expect(loader.known.credentials.nudgeHubSpotApi.supportedNodes?.sort()).toEqual(['nudgePollTrigger', 'nudgeSend', 'nudgeTrigger']);
		expect(loader.known.credentials.nudgeHubSpotOAuth2Api.supportedNodes?.sort()).toEqual(['nudgePollTrigger', 'nudgeSend', 'nudgeTrigger']);
		// An OAuth2 app credential: n8n runs HubSpot's authorization code sign-in with it.
		const oauth = loader.credentialTypes.nudgeHubSpotOAuth2Api.type as ICredentialType;
		expect(oauth.extends).toEqual(['oAuth2Api']);
		const hidden = Object.fromEntries(oauth.properties.filter((p) => p.type === 'hidden').map((p) => [p.name, p.default]));
		expect(hidden).toMatchObject({ grantType: 'authorizationCode', authUrl: 'https://app.hubspot.com/oauth/authorize', accessTokenUrl: 'https://api.hubapi.com/oauth/v1/token', authentication: 'body' });
		expect(String(hidden.scope).split(' ')).toEqual(expect.arrayContaining(['crm.objects.contacts.read', 'crm.objects.contacts.write', 'crm.objects.deals.read', 'transactional-email']));
		expect(oauth.test?.request).toMatchObject({ baseURL: 'https://api.hubapi.com', url: '/crm/v3/objects/contacts' });
		expect(loader.known.credentials.nudgeSalesforceApi.supportedNodes?.sort()).toEqual(['nudgePollTrigger', 'nudgeSend']);
		expect(loader.known.credentials.nudgeEngineApi.supportedNodes?.sort()).toEqual([...NODES].sort());
	});

	it('gives each node its codex category and icons that exist in dist/', () => {
		for (const name of NODES) {
			const node = description(name);
			expect(node.codex?.categories).toEqual(['Marketing']);
			const iconUrl = node.iconUrl as { light: string; dark: string };
			for (const url of [iconUrl.light, iconUrl.dark]) {
				expect(url).toMatch(/^icons\/n8n-nodes-nudge\/dist\/nodes\/n8n\/Nudge\w+\/nudge\w+(\.dark)?\.svg$/);
				expect(existsSync(join(ROOT, url.replace('icons/n8n-nodes-nudge/', '')))).toBe(true);
			}
			expect(iconUrl.light).not.toBe(iconUrl.dark);
		}
		const credential = loader.credentialTypes.nudgeEngineApi.type as ICredentialType;
		expect(credential.displayName).toBe('Nudge Engine API');
		expect(existsSync(join(ROOT, (credential.iconUrl as { light: string }).light.replace('icons/n8n-nodes-nudge/', '')))).toBe(true);
	});

	it('marks only the agent-safe nodes usable as AI tools, and each declares the credential test', () => {
		for (const name of NODES) expect([name, description(name).usableAsTool]).toEqual([name, TOOL_NODES.includes(name) ? true : undefined]);
		expect(description('nudgePollTrigger').polling).toBe(true);
		expect(description('nudgeTrigger').webhooks).toEqual([expect.objectContaining({ httpMethod: 'POST', path: 'events', responseMode: 'onReceived' })]);
		for (const name of NODES) {
			const [engineCredential, ...vendors] = description(name).credentials ?? [];
			expect(engineCredential).toEqual({ name: 'nudgeEngineApi', required: true, testedBy: 'nudgeEngineConnectionTest' });
			// Vendor credentials only show for their own Source / Provider.
			for (const vendor of vendors) expect(vendor.displayOptions?.show).toBeDefined();
			const nodeType = loader.nodeTypes[name].type as { methods?: { credentialTest?: Record<string, unknown> } };
			expect(typeof nodeType.methods?.credentialTest?.nudgeEngineConnectionTest).toBe('function');
		}
		expect(description('nudgeChooseChannel').outputNames).toEqual(['Email', 'SMS', 'Push', 'In-App', 'Paid Audience', 'Sales Task', 'None / Holdout']);
		expect(description('nudgeFrequencyCap').outputNames).toEqual(['Allowed', 'Delayed', 'Blocked', 'Review']);
		expect(description('nudgeSend').outputNames).toEqual(['Sent', 'Failed']);
	});
});
