/**
 * docs/security.md and docs/webhooks.md state the limits a sender or an operator meets: each figure must be the
 * one the code enforces, so changing a limit without its documentation fails here.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MAX_BODY_BYTES, MIN_TOKEN_LENGTH } from '../../cli/mcp/http';
import { ACTION_LEASE_MS } from '../../engine/agents/idempotency';
import { AGENT_LIMITS } from '../../engine/agents/request';
import { EVENT_LEASE_MS } from '../../engine/events/eventClaim';
import { EVENT_LIMITS } from '../../engine/events/limits';
import { MAX_WEBHOOK_BYTES } from '../../engine/events/receive';
import { MAX_DEPTH, MAX_LIST, MAX_SUPPRESSED } from '../../engine/policy/bounds';
import { DEFAULT_BODY_TIMEOUT_SECONDS } from '../../nodes/node-red/shared/webhook';

const doc = (name: string) => readFileSync(path.join(__dirname, '..', '..', 'docs', name), 'utf8');
const SECURITY = doc('security.md');
const WEBHOOKS = doc('webhooks.md');
const n = (value: number) => value.toLocaleString('en-US');
/** The table row of `doc` whose first cell starts with `label`. */
const row = (text: string, label: string) => {
	const line = text.split('\n').find((l) => l.startsWith(`| ${label}`));
	if (!line) throw new Error(`no table row "${label}"`);
	return line;
};

describe('docs/security.md states the limits the code enforces', () => {
	it('request and event limits', () => {
		expect(row(SECURITY, 'request body')).toContain(`${MAX_WEBHOOK_BYTES / 1024 / 1024} MB`);
		expect(row(SECURITY, 'time for the body to arrive')).toContain(`${DEFAULT_BODY_TIMEOUT_SECONDS} s`);
		expect(row(SECURITY, 'events per request')).toContain(n(EVENT_LIMITS.batchEvents));
		expect(row(SECURITY, 'event name / ids / email')).toContain(`${EVENT_LIMITS.nameChars} / ${EVENT_LIMITS.idChars} / ${EVENT_LIMITS.emailChars} characters`);
		expect(row(SECURITY, 'keys / string values')).toContain(`${EVENT_LIMITS.keyChars} / ${n(EVENT_LIMITS.stringChars)} characters`);
		expect(row(SECURITY, 'nesting')).toContain(`${EVENT_LIMITS.depth} levels`);
		expect(row(SECURITY, 'keys and array items per event')).toContain(n(EVENT_LIMITS.fields));
		expect(row(SECURITY, 'all text of one event')).toContain(`${n(EVENT_LIMITS.textChars)} characters / ${EVENT_LIMITS.jsonBytes / 1024 / 1024} MiB`);
	});

	it('agent action and MCP limits', () => {
		const L = AGENT_LIMITS;
		expect(row(SECURITY, 'agent id / idempotency key / approval id')).toContain(`${L.agentId} / ${L.idempotencyKey} / ${L.approvalId} characters`);
		expect(row(SECURITY, 'each contact identity')).toContain(`${L.identity} characters`);
		expect(row(SECURITY, 'message category, tag, variant')).toContain(`${L.name} characters; at most ${L.tags} tags`);
		expect(row(SECURITY, 'message subject / text')).toContain(`${L.subject} / ${n(L.text)} characters`);
		expect(row(SECURITY, '`nudge mcp --http` request body')).toContain(`${MAX_BODY_BYTES / 1024} KB`);
		expect(row(SECURITY, '`nudge mcp --http --host 0.0.0.0`')).toContain(`≥ ${MIN_TOKEN_LENGTH} characters`);
		expect(SECURITY).toContain(`holds a ${ACTION_LEASE_MS / 1000}-second lease on its idempotency key`);
	});

	it('policy bounds and the event lease', () => {
		expect(SECURITY).toContain(`lists at most ${n(MAX_LIST)} entries\n(suppression lists ${n(MAX_SUPPRESSED)})`);
		expect(SECURITY).toContain(`nesting at most ${MAX_DEPTH} levels`);
		expect(SECURITY).toContain(`holds a ${EVENT_LEASE_MS / 1000}-second lease in wall time`);
	});

	it('docs/webhooks.md has the same event limits', () => {
		expect(row(WEBHOOKS, 'events in one request')).toContain(n(EVENT_LIMITS.batchEvents));
		expect(row(WEBHOOKS, 'event name')).toContain(`${EVENT_LIMITS.nameChars} characters`);
		expect(row(WEBHOOKS, 'a string value anywhere')).toContain(`${n(EVENT_LIMITS.stringChars)} characters`);
		expect(row(WEBHOOKS, 'nesting of objects')).toContain(`${EVENT_LIMITS.depth} levels`);
		expect(row(WEBHOOKS, '`408')).toContain(`${DEFAULT_BODY_TIMEOUT_SECONDS} s`);
	});
});
