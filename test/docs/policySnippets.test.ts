/**
 * The policy JSON the docs show must load as written, the blocks a page calls "the default" must be the default,
 * and a policy version a page quotes must be the one the default policy has now: a reader copies them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { AgentsPolicySchema, PolicySchema } from '../../engine/policy/schema';

const DOCS = path.join(__dirname, '..', '..', 'docs');
const PAGES = readdirSync(DOCS).filter((f) => f.endsWith('.md'));
const doc = (name: string) => readFileSync(path.join(DOCS, name), 'utf8');

/** The bodies of a page's ```json fences, with the line each starts on. */
function jsonBlocks(text: string): { line: number; body: string }[] {
	const blocks: { line: number; body: string }[] = [];
	let open: { line: number; lang: string; lines: string[] } | undefined;
	text.split('\n').forEach((line, i) => {
		const fence = /^\s*```(\S*)/.exec(line);
		if (!fence) open?.lines.push(line);
		else if (open) {
			if (open.lang === 'json') blocks.push({ line: open.line, body: open.lines.join('\n') });
			open = undefined;
		} else open = { line: i + 1, lang: fence[1], lines: [] };
	});
	return blocks;
}

/** A block as an object: a whole JSON object, or object members (`"agents": {…}`) as a page shows a policy's part. */
function asObject(body: string): Record<string, unknown> | undefined {
	for (const text of [body, `{${body}}`]) {
		try {
			const value: unknown = JSON.parse(text);
			if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
		} catch {
			// not this form
		}
	}
	return undefined;
}

const POLICY_KEYS = Object.keys(PolicySchema.shape);
const AGENT_KEYS = Object.keys(AgentsPolicySchema.shape);
const within = (keys: string[], allowed: string[]) => keys.length > 0 && keys.every((k) => allowed.includes(k));

/** Every block of the docs that is a policy or part of one, as the policy a reader would load. */
const POLICY_SNIPPETS = PAGES.flatMap((page) =>
	jsonBlocks(doc(page)).flatMap(({ line, body }) => {
		const value = asObject(body);
		if (!value) return [];
		const keys = Object.keys(value);
		const part = within(keys, POLICY_KEYS) ? value : within(keys, AGENT_KEYS) ? { agents: value } : undefined;
		return part ? [{ where: `${page}:${line}`, part }] : [];
	}),
);

describe('policy JSON in the docs', () => {
	it('finds the policy snippets of the pages that show them', () => {
		const pages = new Set(POLICY_SNIPPETS.map((s) => s.where.split(':')[0]));
		for (const page of ['policy.md', 'privacy.md', 'uplift.md', 'choosing.md', 'scoring.md', 'guardrails.md']) expect(pages).toContain(page);
	});

	it.each(POLICY_SNIPPETS.map((s) => [s.where, s.part] as const))('%s loads in the default policy', (_where, part) => {
		expect(() => loadPolicy({ ...DEFAULT_POLICY, ...part })).not.toThrow();
	});

	it('the agents block docs/policy.md calls the default is the default', () => {
		const shown = POLICY_SNIPPETS.find((s) => s.where.startsWith('policy.md') && Object.keys(s.part).join() === 'agents' && 'blastRadius' in (s.part.agents as object));
		expect(shown?.part.agents).toEqual(loadPolicy().policy.agents);
	});

	it('the retention block docs/privacy.md shows is the default', () => {
		const shown = POLICY_SNIPPETS.find((s) => s.where.startsWith('privacy.md') && 'retention' in s.part);
		expect(shown?.part.retention).toEqual(loadPolicy().policy.retention);
	});

	it('a default policy version quoted in the docs is the one the default policy has now', () => {
		const { version } = loadPolicy();
		const quoted = PAGES.flatMap((page) => [...doc(page).matchAll(/\bdefault@[0-9a-f]{12}\b/g)].map((m) => `${page}: ${m[0]}`));
		expect(quoted.length).toBeGreaterThan(0);
		expect(quoted.filter((q) => !q.endsWith(version))).toEqual([]);
	});
});
