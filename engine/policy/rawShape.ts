import type { FieldIssue } from '../errors';
import { MAX_DEPTH } from './bounds';

/**
 * What the schema cannot see in a policy as given: zod drops a `__proto__` key without a word (a journey
 * named so would vanish), and deep nesting inside a free-form value (a condition's `value`) would overflow
 * the stack when the policy is hashed. Walks without recursion, so any depth is reported, not crashed on.
 */
export function shapeIssues(raw: unknown): FieldIssue[] {
	const issues: FieldIssue[] = [];
	const stack: { value: unknown; path: string[] }[] = [{ value: raw, path: [] }];
	while (stack.length && issues.length < 10) {
		const { value, path } = stack.pop()!;
		if (!value || typeof value !== 'object') continue;
		if (path.length >= MAX_DEPTH) {
			issues.push({ path: path.join('.'), message: `nests deeper than ${MAX_DEPTH} levels` });
			continue;
		}
		for (const key of Object.keys(value)) {
			if (key === '__proto__') issues.push({ path: [...path, key].join('.'), message: '"__proto__" is not allowed as a name' });
			else stack.push({ value: (value as Record<string, unknown>)[key], path: [...path, key] });
		}
	}
	return issues;
}
