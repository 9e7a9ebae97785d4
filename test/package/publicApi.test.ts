/**
 * The engine's public API (package.json `main`, engine/index.ts) is a list of names: adding or dropping one
 * is a decision, made here as well. The built package must export exactly its values.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ts from 'typescript';

const ROOT = join(__dirname, '..', '..');

const VALUES = [
	'AGENT_LIMITS', 'ActionRequestSchema', 'CHANNELS', 'CHANNEL_OUTPUTS', 'DECISION_STATUSES', 'DEFAULT_JOURNEY', 'DEFAULT_POLICY',
	'DEFAULT_STORE_URL', 'DecisionConsole', 'DecisionSchema', 'Engine', 'GUARD_OUTPUTS', 'JOURNEYS', 'MAX_DATA_FILE_BYTES', 'MAX_UNFINISHED', 'MAX_WEBHOOK_BYTES', 'MemoryStore',
	'NOT_CONFIGURED_ANSWER', 'NudgeError', 'OutcomeSchema', 'PROVIDERS', 'PolicySchema', 'REASON_CODES', 'SEND_NOT_FROM_EVENT', 'SEND_OUTPUTS', 'TIMER_LEASE_MS', 'VERDICTS',
	'WEBHOOK_SOURCES', 'acquireEngine', 'applyInactivityRules', 'capNotFromEvent', 'checkEngineConfig', 'checkWebhookUrl', 'chooseChannelStep',
	'closeAllEngines', 'connectSalesforce', 'createEngine', 'createPollSource', 'createSender', 'dataFileNotRegular', 'dataFileTooLarge', 'dataFileUnreadable', 'dataTable', 'decisionIdOf',
	'fireDueTimers', 'getEngine', 'guardOptionsOf', 'headerValue', 'hubspotAuthFrom', 'journeyOf', 'jsonObjectOf', 'keepUnfinished', 'loadPolicy', 'lostHandout',
	'loadPolicyFile', 'modelOperation', 'openItem', 'openStore', 'outcomeReference', 'outcomeTime', 'parseInactivityRules', 'parseInactivityRulesJson',
	'policyHasTimers', 'policyJsonSchema', 'pollOnce', 'postWebhook', 'previewDueTimers', 'previewPoll', 'receiveSignedEvents', 'recordHandout', 'redactUrl', 'resolveActionContact',
	'routeGuard', 'routeSend', 'routedChannel', 'runJourney', 'salesforceSettingsFrom', 'signatureHeaders', 'stillPending', 'tableFromText', 'takeDueDecisions', 'takeUnfinished', 'timerFailureText',
	'verdictOf', 'verifySignedRequest',
];

const TYPES = [
	'ActionRequest', 'ActionVerdict', 'Channel', 'ClosableSender', 'Decision', 'DecisionRef', 'DecisionStatus', 'EngineConfig',
	'EngineOptions', 'FieldIssue', 'FiredTimers', 'GuardOptions', 'HandoutMark', 'HubSpotAction', 'HubSpotAuthSettings', 'InactivityRule', 'IngestResult',
	'JourneyName', 'LoadedPolicy', 'ModelRequest', 'ModelResponse', 'NotFromEvent', 'NudgeErrorCode', 'Outcome', 'OutcomeInput', 'Policy',
	'PolicyInput', 'PollSource', 'PollSourceSpec', 'ProviderName', 'ProviderSpec', 'ReasonCode', 'Routed', 'SalesforceAction',
	'SalesforceSettings', 'Score', 'SendResult', 'SendTarget', 'Sender', 'Store', 'TimerFailure', 'WebhookSource', 'WebhookTarget',
];

/** The names engine/index.ts exports, read from its source: values, and types (exported with `type`). */
function exportedNames(): { values: string[]; types: string[]; wildcards: number } {
	const file = join(ROOT, 'engine/index.ts');
	const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
	const values: string[] = [];
	const types: string[] = [];
	let wildcards = 0;
	for (const statement of source.statements) {
		if (!ts.isExportDeclaration(statement)) continue;
		if (!statement.exportClause || !ts.isNamedExports(statement.exportClause)) {
			wildcards++;
			continue;
		}
		for (const element of statement.exportClause.elements) (statement.isTypeOnly || element.isTypeOnly ? types : values).push(element.name.text);
	}
	return { values: values.sort(), types: types.sort(), wildcards };
}

describe('the public API', () => {
	it('exports each name on purpose: no `export *`, and exactly the listed values and types', () => {
		const { values, types, wildcards } = exportedNames();
		expect(wildcards).toBe(0);
		expect(values).toEqual([...VALUES].sort());
		expect(types).toEqual([...TYPES].sort());
	});

	it('the built package exports exactly those values', async () => {
		const api = (await import(join(ROOT, 'dist/engine/index.js'))) as Record<string, unknown>;
		expect(Object.keys(api).sort()).toEqual([...VALUES].sort());
		for (const name of VALUES) expect(api[name]).toBeDefined();
	});
});
