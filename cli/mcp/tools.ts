/**
 * The tools `nudge mcp` offers an AI agent (DESIGN §12): read a contact's state and consent, score it, request an
 * action (the engine's verdict, and the send when allowed and the server has a send target), record an outcome,
 * explain a decision. No approval or admin tool: a person approves, never the agent. Loaded only by `nudge mcp`.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod/v4';
import { ActionRequestSchema, AGENT_LIMITS, ContactSchema, resolveActionContact } from '../../engine/agents/request';
import { verdictOf } from '../../engine/agents/verdict';
import { OutcomeSchema } from '../../engine/audit/schema';
import { CHANNELS } from '../../engine/channels';
import { redactDecision, redactValue, shownTraits } from '../../engine/audit/redact';
import type { Engine, SendTarget } from '../../engine/engine';
import { NudgeError, type NudgeErrorCode } from '../../engine/errors';
import { packageVersion } from '../packageRoot';

export interface McpToolOptions {
	/** Where an allowed action is sent; without one, an allowed action is only reserved (a flow sends it). */
	send?: SendTarget;
	/** Show personal data (emails, phone numbers, names) in what the tools return; redacted by default. */
	revealPii?: boolean;
	/**
	 * Who the agent is, for blast radius, blocked and known agents and the log: the operator's (--agent-id), never the
	 * model's, or a model could take a fresh blast radius with every new id. Default `mcp`.
	 */
	agentId?: string;
}

export const DEFAULT_MCP_AGENT_ID = 'mcp';

/** The agent id the server acts as, checked as a request's would be. */
export function mcpAgentId(options: McpToolOptions): string {
	const parsed = ActionRequestSchema.shape.agentId.safeParse(options.agentId ?? DEFAULT_MCP_AGENT_ID);
	if (!parsed.success) throw new NudgeError('INVALID_CONFIG', `--agent-id "${String(options.agentId).slice(0, 140)}" is not an agent id: ${parsed.error.issues[0].message} (at most ${AGENT_LIMITS.agentId} characters)`);
	return parsed.data;
}

const ContactArg = ContactSchema;
const RECENT = 10;

function reply(value: unknown): CallToolResult {
	return { content: [{ type: 'text', text: JSON.stringify(value, null, 1) }], structuredContent: value as Record<string, unknown> };
}

/** Errors about the agent's own request: their message tells it what to change. */
const AGENT_ERRORS: ReadonlySet<NudgeErrorCode> = new Set(['INVALID_INPUT', 'UNKNOWN_CONTACT', 'UNKNOWN_DECISION', 'NOT_RESERVED', 'CONFLICT']);

/**
 * An engine error about the request is an answer the model can act on (its code and message), not a protocol
 * failure. Anything else (a store down, a bug) is the operator's: its message names hosts, files or internals, so
 * it goes to the server's log and the agent only learns to try later.
 */
/**
 * A tool's answer. Its work is tracked by the engine, whose close waits for it: a client closing stdin (how MCP ends a
 * stdio server) or a SIGTERM while an action is sending still leaves the send recorded.
 */
async function answer(engine: Engine, work: () => Promise<unknown>): Promise<CallToolResult> {
	// Stopping: what is under way finishes; a call arriving now would meet a store about to close.
	if (engine.closing) return { isError: true, content: [{ type: 'text', text: 'UNAVAILABLE: the Nudge MCP server is stopping, and nothing was done. Try again once it is back.' }] };
	try {
		return reply(await engine.track(work()));
	} catch (error) {
		if (error instanceof NudgeError && AGENT_ERRORS.has(error.code)) return { isError: true, content: [{ type: 'text', text: `${error.code}: ${error.message}` }] };
		const code = error instanceof NudgeError ? error.code : 'INTERNAL_ERROR';
		process.stderr.write(`nudge mcp: ${code}: ${error instanceof Error ? error.message : String(error)}\n`);
		return { isError: true, content: [{ type: 'text', text: `${code}: Nudge could not answer, and nothing was sent; the server's log says why. Try again later.` }] };
	}
}

export function createMcpServer(engine: Engine, options: McpToolOptions = {}): McpServer {
	const agentId = mcpAgentId(options);
	const server = new McpServer({ name: 'nudge', version: packageVersion() }, { instructions: INSTRUCTIONS });
	/** As the console: personal keys (email, name, phone…) go whole where `piiKeys`; emails and numbers in any text go. */
	const redact = <T>(value: T, piiKeys = true): T => (options.revealPii ? value : (redactValue(value, piiKeys) as T));

	server.registerTool(
		'lookup_contact',
		{
			title: 'Look up a contact',
			description:
				'Reads what Nudge knows about one contact: consent per channel (opted_in, opted_out, unknown), lifecycle, paused journeys, ' +
				'whether they must never be contacted, when they were last seen and engaged, and their latest decisions (what was sent or held back, and why). ' +
				'Personal data such as email addresses and names is redacted. Use it before proposing an action, to see whether one makes sense.',
			inputSchema: z.object({ contact: ContactArg.describe('A contact id, an email address, or an object of identities (contactId, email, userId, hubspotId, salesforceId)') }).strict(),
			annotations: { readOnlyHint: true, openWorldHint: false },
		},
		({ contact }) =>
			answer(engine, async () => {
				const profile = await resolveActionContact(engine.store, contact);
				// The latest RECENT of the last 30 days, oldest first.
				const recent = (await engine.queryDecisions({ contactId: profile.contactId, from: new Date(Date.now() - 30 * 86_400_000).toISOString(), newestFirst: true, limit: RECENT })).reverse();
				return {
					contactId: profile.contactId,
					consent: Object.fromEntries(CHANNELS.map((c) => [c, profile.consent[c] ?? 'unknown'])),
					doNotContact: !!profile.doNotContact,
					lifecycle: profile.lifecycle,
					timezone: profile.timezone,
					pausedJourneys: profile.pauses ?? {},
					lastSeenAt: profile.lastSeenAt,
					lastEngagedAt: profile.lastEngagedAt,
					traits: shownTraits(profile.traits, !!options.revealPii),
					counters: redact(profile.counters, false),
					recentDecisions: redact(recent.map((d) => ({
						decisionId: d.decisionId,
						createdAt: d.createdAt,
						journey: d.journey,
						status: d.status,
						channel: d.channel,
						reason: d.reason,
						explanation: d.explanation,
						agentId: d.agent?.agentId,
					})), false),
				};
			}),
	);

	server.registerTool(
		'score_contact',
		{
			title: 'Score a contact',
			description:
				'Scores one contact 0–100 with the policy\'s model (or a journey\'s own), with its tier (hot, warm, cold) and the factors behind it. ' +
				'Read-only: nothing is logged or sent.',
			inputSchema: z
				.object({
					contact: ContactArg.describe('A contact id, an email address, or an object of identities'),
					journey: z.string().min(1).max(128).optional().describe('Score with this journey\'s own scoring, when it has one'),
				})
				.strict(),
			annotations: { readOnlyHint: true, openWorldHint: false },
		},
		({ contact, journey }) => answer(engine, async () => redact(await engine.scoreProfile(await resolveActionContact(engine.store, contact), journey), false)),
	);

	server.registerTool(
		'request_action',
		{
			title: 'Request an action (send a message)',
			description:
				'Proposes one message to one contact and gets Nudge\'s verdict, after every marketing guardrail (consent, suppression, caps, quiet hours, ' +
				'holdouts, review rules, your blast radius). verdict "allow": ' +
				(options.send ? 'the message was sent (see "sent").' : 'a slot is reserved and the operator\'s flow sends it.') +
				' "defer": ask again with the SAME idempotencyKey at or after retryAt. "needs_approval": a person must approve; ' +
				'once they did, ask again with the same idempotencyKey, the same content and the approvalId. "deny": do not retry as it is; reasons and explanation say why. ' +
				'Always give a stable idempotencyKey per intended message (e.g. "winback-<contact>-2026-05"): repeating a key never sends twice. ' +
				'dryRun: true answers without reserving, sending or logging anything.',
			// No journey: naming one would let the model step out of the agent journey's caps, holdout and review rules.
			// Its actions belong to the policy's agents.journey (the n8n node takes a journey from its operator, never the model).
			// No agentId: the server's own (options.agentId).
			inputSchema: ActionRequestSchema.omit({ journey: true, agentId: true }),
			annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
		},
		(request) =>
			answer(engine, async () => {
				// An explanation may quote a reviewer's note or a provider's error: personal data in it is masked.
				const shown = <T extends { explanation: string; error?: string }>(v: T): T => ({ ...v, explanation: redact(v.explanation), ...(v.error !== undefined ? { error: redact(v.error) } : {}) });
				const verdict = await engine.requestAction({ ...request, agentId });
				if (verdict.verdict !== 'allow' || verdict.dryRun || !options.send) return shown(verdict);
				const sent = await engine.sendAction(verdict.decisionId, options.send);
				if (sent.status === 'sent') return shown({ ...verdict, sent: true });
				if (sent.status === 'failed') return shown({ ...verdict, sent: false, error: sent.explanation ?? '' });
				// Stopped at the send (the kill switch, consent withdrawn meanwhile): its new verdict.
				return shown({ ...verdictOf(sent), sent: false });
			}),
	);

	server.registerTool(
		'record_outcome',
		{
			title: 'Record an outcome',
			description:
				'Records what happened after one of YOUR actions: open, click, conversion, revenue (with value), unsubscribe or complaint. ' +
				'Name the action by the decisionId request_action gave you. An outcomeId makes a repeat harmless. An unsubscribe or complaint opts the contact out of that channel.',
			// Only the agent's own actions, by decision id: an outcome trains the channel learner, counts in the lift
			// report and may opt a contact out, so an agent must not write them on journeys' or other agents' messages.
			inputSchema: z
				.object({
					decisionId: z.string().min(1).max(200),
					type: OutcomeSchema.shape.type,
					value: z.number().finite().min(0).max(1_000_000_000).optional().describe('The amount, for revenue'),
					outcomeId: z.string().min(1).max(200).optional(),
					at: z.string().max(40).optional().describe('ISO 8601 time; now when absent'),
				})
				.strict(),
			annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
		},
		(input) =>
			answer(engine, async () => {
				const { decision, duplicate } = await engine.recordOutcome({ ...input, agentId });
				return { decisionId: decision.decisionId, duplicate, outcomes: decision.outcomes.map((o) => ({ type: o.type, at: o.at, value: o.value })) };
			}),
	);

	server.registerTool(
		'explain_decision',
		{
			title: 'Explain a decision',
			description:
				'Explains one decision (an action\'s decisionId, or any journey decision): its status, reason code, binding rule, one-sentence explanation, ' +
				'every guardrail checked with its count and limit, the channel choice, the agent verdict and the trail of stages. Personal data is redacted.',
			inputSchema: z.object({ decisionId: z.string().min(1).max(200) }).strict(),
			annotations: { readOnlyHint: true, openWorldHint: false },
		},
		({ decisionId }) =>
			answer(engine, async () => {
				const d = await engine.getDecision(decisionId);
				const shown = options.revealPii ? d : redactDecision(d);
				// What the agent wrote is not repeated back: the verdict and its reasons are what it needs.
				const agent = shown.agent && { ...shown.agent, content: undefined };
				return {
					decisionId: shown.decisionId,
					createdAt: shown.createdAt,
					journey: shown.journey,
					status: shown.status,
					reason: shown.reason,
					rule: shown.ruleId ?? shown.guard?.bindingRuleId,
					explanation: shown.explanation,
					channel: shown.channel,
					choice: shown.choice && { method: shown.choice.method, arm: shown.choice.arm, holdout: shown.choice.holdout },
					checks: shown.guard?.checks ?? [],
					review: shown.review,
					agent,
					delivery: shown.delivery && { status: shown.delivery.status, provider: shown.delivery.provider, at: shown.delivery.at },
					outcomes: shown.outcomes.map((o) => ({ type: o.type, at: o.at })),
					trail: shown.trail,
				};
			}),
	);
	return server;
}

const INSTRUCTIONS = `Nudge is the marketing engine's governance layer: every message you want sent to a person goes through request_action, which applies consent, caps, quiet hours, holdouts, review rules and your own blast radius, and answers allow, defer, needs_approval or deny with a reason. You cannot approve your own actions or change the policy. Look a contact up first; give each intended message its own stable idempotencyKey; on defer retry at retryAt with the same key; on deny do not retry the same action.`;
