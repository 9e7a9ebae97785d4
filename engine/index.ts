/**
 * The engine's public API: the package's `main`, and with engine/items the only engine modules the node
 * adapters import (eslint.config.mjs, ENGINE_ENTRY_POINTS). Names are exported one by one so that the API
 * grows on purpose: test/package/publicApi.test.ts lists them. Apps and tests may import deeper modules.
 * Nothing here loads a database driver or vendor client: each is required at its first use (bench/load).
 */

// The engine: one per configuration (registry), its options, and what its steps take and answer.
export { acquireEngine, checkEngineConfig, closeAllEngines, createEngine, getEngine, type EngineConfig } from './registry';
export { Engine, type EngineOptions, type GuardOptions, type IngestResult, type OutcomeInput, type SendTarget } from './engine';
export { JOURNEYS, runJourney, type JourneyName } from './journeys/journey';

// The policy.
export { DEFAULT_POLICY } from './policy/defaultPolicy';
export { loadPolicy, loadPolicyFile, policyJsonSchema, type LoadedPolicy } from './policy/load';
export { PolicySchema, type Policy, type PolicyInput } from './policy/schema';

// Errors, decisions and channels.
export { NudgeError, redactUrl, type FieldIssue, type NudgeErrorCode } from './errors';
export { DECISION_STATUSES, DecisionSchema, OutcomeSchema, REASON_CODES, type Decision, type DecisionStatus, type Outcome, type ReasonCode, type Score } from './audit/schema';
export { CHANNELS, type Channel } from './channels';

// Items: which decision an item carries, the settings nodes read, and output routing (both platforms).
export {
	CHANNEL_OUTPUTS,
	DEFAULT_JOURNEY,
	GUARD_OUTPUTS,
	SEND_OUTPUTS,
	chooseChannelStep,
	decisionIdOf,
	guardOptionsOf,
	journeyOf,
	jsonObjectOf,
	openItem,
	capNotFromEvent,
	SEND_NOT_FROM_EVENT,
	type NotFromEvent,
	outcomeReference,
	outcomeTime,
	routeGuard,
	routeSend,
	routedChannel,
	type DecisionRef,
	type Routed,
} from './items';

// Stores: opened from a URL (sqlite:, memory:, redis://, postgres://, split:).
export { DEFAULT_STORE_URL, openStore } from './store/open';
export { MemoryStore } from './store/memory';
export type { Store } from './store/types';

// Sending: a plain webhook, or a provider's sender.
export { checkWebhookUrl, postWebhook } from './deliver/webhook';
export type { Sender, SendResult, WebhookTarget } from './deliver/provider';
export { PROVIDERS, createSender, type ClosableSender, type ProviderName, type ProviderSpec } from './vendors/senders';

// Receiving events: signed webhooks, polling a vendor, inactivity timers, due decisions.
export { MAX_WEBHOOK_BYTES, NOT_CONFIGURED_ANSWER, WEBHOOK_SOURCES, receiveSignedEvents, type WebhookSource } from './events/receive';
export { headerValue, signatureHeaders, verifySignedRequest } from './events/signature';
export { pollOnce, previewPoll, type PollSource } from './events/poll';
export { createPollSource, type PollSourceSpec } from './vendors/pollSources';
export { applyInactivityRules, fireDueTimers, parseInactivityRules, previewDueTimers, parseInactivityRulesJson, policyHasTimers, TIMER_LEASE_MS, timerFailureText, type FiredTimers, type InactivityRule, type TimerFailure } from './events/timers';
export { takeDueDecisions } from './guard/waits';
export { type HandoutMark, keepUnfinished, lostHandout, MAX_UNFINISHED, recordHandout, stillPending, takeUnfinished } from './events/unfinished';

// Vendor settings (their SDKs load at the first call).
export { hubspotAuthFrom, type HubSpotAction, type HubSpotAuthSettings } from './vendors/hubspot';
export { connectSalesforce, salesforceSettingsFrom, type SalesforceAction, type SalesforceSettings } from './vendors/salesforce';

// Models, the decision console's read API, and AI agents' actions.
export { dataTable, modelOperation, type ModelRequest, type ModelResponse } from './scoring/registry';
export { dataFileNotRegular, dataFileTooLarge, dataFileUnreadable, MAX_DATA_FILE_BYTES, tableFromText } from './scoring/table';
export { DecisionConsole } from './audit/queries';
export { AGENT_LIMITS, ActionRequestSchema, resolveActionContact, type ActionRequest } from './agents/request';
export { VERDICTS, verdictOf, type ActionVerdict } from './agents/verdict';
