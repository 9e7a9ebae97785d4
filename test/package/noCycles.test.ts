/**
 * No module of the built engine requires itself back through others: in a cycle, whichever module Node.js
 * loads first sees the other half-initialised (an export still undefined), depending on which entry point
 * a user or node happened to load. Read from the compiled requires, as Node.js follows them.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ENGINE = join(__dirname, '..', '..', 'dist', 'engine');

function modulesUnder(dir: string): string[] {
	return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
		const path = join(dir, entry.name);
		if (entry.isDirectory()) return modulesUnder(path);
		return path.endsWith('.js') ? [path] : [];
	});
}

/** The engine modules a compiled module requires (relative paths only: packages cannot require us back). */
function requiresOf(file: string): string[] {
	const targets: string[] = [];
	for (const [, spec] of readFileSync(file, 'utf8').matchAll(/require\("(\.[^"]+)"\)/g)) {
		const base = resolve(dirname(file), spec);
		const found = [`${base}.js`, join(base, 'index.js'), base].find((candidate) => existsSync(candidate) && statSync(candidate).isFile());
		if (found) targets.push(found);
	}
	return targets;
}

/** Strongly connected groups of more than one module (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
	const index = new Map<string, number>();
	const low = new Map<string, number>();
	const stack: string[] = [];
	const onStack = new Set<string>();
	const found: string[][] = [];
	const visit = (node: string) => {
		index.set(node, index.size);
		low.set(node, index.get(node)!);
		stack.push(node);
		onStack.add(node);
		for (const next of graph.get(node) ?? []) {
			if (!index.has(next)) {
				visit(next);
				low.set(node, Math.min(low.get(node)!, low.get(next)!));
			} else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
		}
		if (low.get(node) !== index.get(node)) return;
		const group: string[] = [];
		let member: string;
		do {
			member = stack.pop()!;
			onStack.delete(member);
			group.push(member);
		} while (member !== node);
		if (group.length > 1 || graph.get(node)!.includes(node)) found.push(group);
	};
	for (const node of graph.keys()) if (!index.has(node)) visit(node);
	return found;
}

describe('the built engine', () => {
	it('has no require cycle', () => {
		if (!existsSync(ENGINE)) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
		const graph = new Map(modulesUnder(ENGINE).map((file) => [file, requiresOf(file)]));
		expect(graph.size).toBeGreaterThan(100);
		expect(cycles(graph).map((group) => group.map((file) => relative(ENGINE, file)).sort())).toEqual([]);
	});
});
