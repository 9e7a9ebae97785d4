import { readFileSync } from 'node:fs';
import { visit } from 'jsonc-parser';
import { z } from 'zod/v4';
import { FieldIssue, NudgeError, describeIssues, finiteNumbers, issuesFromZod } from '../errors';
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

const invalid = (issues: FieldIssue[]) => new NudgeError('INVALID_POLICY', `Policy is not valid: ${describeIssues(issues)}`, issues);

/**
 * A key given twice in one object, as `path` ("caps"), or undefined. JSON.parse keeps the last value, so a second
 * "caps" block pasted below the first would drop the first's rules without a word.
 */
function duplicateKey(text: string): string | undefined {
	const seen: Set<string>[] = [];
	let found: string | undefined;
	visit(text, {
		onObjectBegin: () => void seen.push(new Set()),
		onObjectEnd: () => void seen.pop(),
		onObjectProperty: (name, _offset, _length, _line, _column, path) => {
			const keys = seen[seen.length - 1];
			if (keys.has(name)) found ??= [...path(), name].join('.');
			keys.add(name);
		},
	});
	return found;
}

/** Drops a byte order mark (Windows editors save one). */
const withoutBom = (text: string) => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);

function parseJson(text: string): unknown {
	try {
		return JSON.parse(text);
	} catch (error) {
		throw new NudgeError('INVALID_POLICY', `Policy is not valid JSON: ${(error as Error).message}`);
	}
}

/** Validates a policy (object or JSON text; empty text is the default policy). Nothing is applied unless every field is valid. */
export function loadPolicy(input: unknown = DEFAULT_POLICY): LoadedPolicy {
	const text = typeof input === 'string' && withoutBom(input).trim() ? withoutBom(input) : undefined;
	const raw = text !== undefined ? parseJson(text) : typeof input === 'string' ? DEFAULT_POLICY : input;
	const shape = shapeIssues(raw);
	if (shape.length) throw invalid(shape);
	// Looked for once the shape is known to be within bounds (its depth, for the walk over the text).
	const twice = text !== undefined ? duplicateKey(text) : undefined;
	if (twice) throw invalid([{ path: twice, message: 'is given twice in the same place; keep one (JSON would silently use the last one)' }]);
	const parsed = PolicySchema.safeParse(raw, { error: finiteNumbers });
	if (!parsed.success) throw invalid(issuesFromZod(parsed.error));
	const policy = parsed.data;
	const reused = reusedRuleIds(policy);
	if (reused.length) throw invalid(reused);
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

/**
 * Rules are told apart by id (pauses, ledgers and the decision log are keyed by it): two rules of one list with the
 * same id would share a pause or a ledger, so one rule's clearing event would lift the other's pause.
 */
function reusedRuleIds(policy: Policy): FieldIssue[] {
	const lists: [string, { id: string }[]][] = [
		['caps', policy.caps],
		['quietHours', policy.quietHours],
		['negativeTriggers', policy.negativeTriggers],
		['review', policy.review],
		['scoring.rules', policy.scoring.rules],
		['agents.blastRadius', policy.agents.blastRadius],
		['agents.approval', policy.agents.approval],
		...Object.entries(policy.journeys).flatMap(([id, j]): [string, { id: string }[]][] => (j.scoring ? [[`journeys.${id}.scoring.rules`, j.scoring.rules]] : [])),
	];
	return lists.flatMap(([path, rules]) => {
		const ids = rules.map((r) => r.id);
		const dup = ids.find((id, i) => ids.indexOf(id) !== i);
		return dup === undefined ? [] : [{ path, message: `rule id "${dup}" is used twice` }];
	});
}

/** A policy file: an empty one is refused (a deploy that truncated it must not switch every rule back to the defaults). */
export function loadPolicyFile(path: string): LoadedPolicy {
	let text: string;
	try {
		text = readFileSync(path, 'utf8');
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		const why = code === 'EISDIR' ? 'it is a folder: name the policy\'s JSON file' : code === 'ENOENT' ? 'there is no such file' : (error as Error).message;
		throw new NudgeError('INVALID_POLICY', `Cannot read policy file ${path}: ${why}`);
	}
	if (!withoutBom(text).trim()) throw new NudgeError('INVALID_POLICY', `Policy file ${path} is empty: write the policy's JSON into it, or leave the policy out to use the default one`);
	return loadPolicy(text);
}

/** The policy's JSON Schema, for editors and for validating policies outside Nudge. */
export function policyJsonSchema(): Record<string, unknown> {
	return z.toJSONSchema(PolicySchema, { io: 'input' }) as Record<string, unknown>;
}
