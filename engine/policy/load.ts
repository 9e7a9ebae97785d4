import { readFileSync } from 'node:fs';
import { z } from 'zod/v4';
import { FieldIssue, NudgeError, describeIssues, issuesFromZod } from '../errors';
import { contentHash } from '../ids';
import { durationMs } from '../guard/duration';
import { DEFAULT_POLICY } from './defaultPolicy';
import { shapeIssues } from './rawShape';
import { Policy, PolicySchema, upliftGateIssues } from './schema';

export interface LoadedPolicy {
	policy: Policy;
	/** `<name>@<content hash>`: every decision carries it, so the log says which rules applied. */
	version: string;
}

/** Zod would say "expected number, received number" of Infinity (objects from code can hold it; JSON cannot). */
const finiteNumbers: z.core.$ZodErrorMap = (issue) =>
	issue.code === 'invalid_type' && issue.expected === 'number' && typeof issue.input === 'number' ? 'must be a finite number' : undefined;

const invalid = (issues: FieldIssue[]) => new NudgeError('INVALID_POLICY', `Policy is not valid: ${describeIssues(issues)}`, issues);

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
	const shape = shapeIssues(raw);
	if (shape.length) throw invalid(shape);
	const parsed = PolicySchema.safeParse(raw, { error: finiteNumbers });
	if (!parsed.success) throw invalid(issuesFromZod(parsed.error));
	const policy = parsed.data;
	const ruleIds = policy.caps.map((c) => c.id);
	const dup = ruleIds.find((id, i) => ruleIds.indexOf(id) !== i);
	if (dup) throw invalid([{ path: 'caps', message: `rule id "${dup}" is used twice` }]);
	// An outcome must find its decision: the log keeps decisions at least as long as outcomes attach to them.
	if (durationMs(policy.retention.decisions) < policy.learner.attributionWindowHours * 3_600_000) {
		throw invalid([{ path: 'retention.decisions', message: `must be at least learner.attributionWindowHours (${policy.learner.attributionWindowHours} hours), or outcomes would find no decision to attach to` }]);
	}
	const ungated = upliftGateIssues(policy);
	if (ungated.length) throw invalid(ungated);
	// Checked through sets made once per policy (guard.ts): a list changed in place would throw, not go unseen.
	for (const list of [policy.suppression.emails, policy.suppression.domains, policy.suppression.userIds]) Object.freeze(list);
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
