import { readFileSync } from 'node:fs';
import { z } from 'zod/v4';
import { NudgeError, describeIssues, issuesFromZod } from '../errors';
import { contentHash } from '../ids';
import { DEFAULT_POLICY } from './defaultPolicy';
import { Policy, PolicySchema } from './schema';

export interface LoadedPolicy {
	policy: Policy;
	/** `<name>@<content hash>`: every decision carries it, so the log says which rules applied. */
	version: string;
}

/** Validates a policy (object or JSON text). Nothing is applied unless every field is valid. */
export function loadPolicy(input: unknown = DEFAULT_POLICY): LoadedPolicy {
	let raw = input;
	if (typeof raw === 'string') {
		if (!raw.trim()) raw = DEFAULT_POLICY;
		else {
			try {
				raw = JSON.parse(raw);
			} catch (error) {
				throw new NudgeError('INVALID_POLICY', `Policy is not valid JSON: ${(error as Error).message}`);
			}
		}
	}
	const parsed = PolicySchema.safeParse(raw);
	if (!parsed.success) {
		const issues = issuesFromZod(parsed.error);
		throw new NudgeError('INVALID_POLICY', `Policy is not valid: ${describeIssues(issues)}`, issues);
	}
	const policy = parsed.data;
	const ruleIds = policy.caps.map((c) => c.id);
	const dup = ruleIds.find((id, i) => ruleIds.indexOf(id) !== i);
	if (dup) {
		const issues = [{ path: 'caps', message: `rule id "${dup}" is used twice` }];
		throw new NudgeError('INVALID_POLICY', `Policy is not valid: ${describeIssues(issues)}`, issues);
	}
	return { policy, version: `${policy.name}@${contentHash(policy, 12)}` };
}

export function loadPolicyFile(path: string): LoadedPolicy {
	let text: string;
	try {
		text = readFileSync(path, 'utf8');
	} catch (error) {
		throw new NudgeError('INVALID_POLICY', `Cannot read policy file ${path}: ${(error as Error).message}`);
	}
	return loadPolicy(text);
}

/** The policy's JSON Schema, for editors and for validating policies outside Nudge. */
export function policyJsonSchema(): Record<string, unknown> {
	return z.toJSONSchema(PolicySchema, { io: 'input' }) as Record<string, unknown>;
}
