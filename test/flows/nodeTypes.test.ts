/**
 * Every node a shipped template or flow references is a node this package declares (package.json `n8n` /
 * `node-red` blocks, so n8n and Node-RED load it from the installed package) or a core node of n8n
 * (n8n-nodes-base's declared nodes) or of Node-RED (a type its core modules register).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const ROOT = join(__dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { n8n: { nodes: string[] }; 'node-red': { nodes: Record<string, string> } };
const n8nBase = require.resolve('n8n-nodes-base/package.json');
const basePkg = JSON.parse(readFileSync(n8nBase, 'utf8')) as { n8n: { nodes: string[] } };
const files = (dir: string) => readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.json'));

/**
 * n8n's AI nodes the agent template uses (package @n8n/n8n-nodes-langchain, part of every n8n install, not a
 * dependency here), with the versions both supported n8n lines (1.123, 2.41) have; the real-server test
 * imports the template into both.
 */
const N8N_AI_NODES: Record<string, number[]> = {
	chatTrigger: [1.1],
	agent: [2.2],
	lmChatOpenAi: [1.2],
};

/** `nudgeTrigger` → `NudgeTrigger`, `httpRequest` → `HttpRequest`: the class and file name of a node type. */
const className = (name: string) => name[0].toUpperCase() + name.slice(1);

/** The types Node-RED's own core modules register (inject, change, http in, delay…). */
function nodeRedCoreTypes(): Set<string> {
	const core = join(dirname(require.resolve('@node-red/nodes/package.json', { paths: [dirname(require.resolve('node-red'))] })), 'core');
	const types = new Set<string>();
	for (const dir of readdirSync(core)) {
		for (const file of readdirSync(join(core, dir)).filter((f) => f.endsWith('.js'))) {
			for (const m of readFileSync(join(core, dir, file), 'utf8').matchAll(/registerType\(\s*["']([^"']+)["']/g)) types.add(m[1]);
		}
	}
	return types;
}

describe('node types in the shipped templates and flows', () => {
	test.each(files('flows/n8n'))('flows/n8n/%s: Nudge nodes (or tool variants of those usable as tools) the package declares, n8n core and AI nodes', (file) => {
		const workflow = JSON.parse(readFileSync(join(ROOT, 'flows/n8n', file), 'utf8')) as { nodes: Array<{ type: string; typeVersion: number }> };
		const declared = new Set(pkg.n8n.nodes.map((p) => basename(p, '.node.js')));
		for (const node of workflow.nodes) {
			const [prefix, name] = node.type.split('.');
			if (prefix === 'n8n-nodes-nudge') {
				// n8n derives `<name>Tool` from a node that sets usableAsTool.
				const base = className(name.replace(/Tool$/, ''));
				expect(declared.has(base)).toBe(true);
				if (name.endsWith('Tool')) expect(readFileSync(join(ROOT, 'nodes/n8n', base, `${base}.node.ts`), 'utf8')).toMatch(/^\t\tusableAsTool: true,$/m);
				expect(node.typeVersion).toBe(1);
				continue;
			}
			if (prefix === '@n8n/n8n-nodes-langchain') {
				expect([name, N8N_AI_NODES[name]]).toEqual([name, expect.arrayContaining([node.typeVersion])]);
				continue;
			}
			expect(prefix).toBe('n8n-nodes-base');
			// n8n loads its core nodes from this list; versions are checked with the loaded types in test/n8n/journeys.test.ts.
			expect(basePkg.n8n.nodes.filter((p) => p.endsWith(`/${className(name)}.node.js`))).toHaveLength(1);
		}
	});

	test.each(files('flows/node-red'))('flows/node-red/%s: Nudge nodes the package declares, Node-RED core nodes', (file) => {
		const flow = JSON.parse(readFileSync(join(ROOT, 'flows/node-red', file), 'utf8')) as Array<{ type: string }>;
		const known = new Set([...Object.keys(pkg['node-red'].nodes), ...nodeRedCoreTypes(), 'tab']);
		expect(flow.map((n) => n.type).filter((t) => !known.has(t))).toEqual([]);
		// Every Nudge type has its module in the package's node-red block (what Node-RED loads).
		for (const t of new Set(flow.map((n) => n.type).filter((x) => x.startsWith('nudge-')))) expect(pkg['node-red'].nodes[t]).toMatch(/^dist\/nodes\/node-red\//);
	});
});
