/**
 * On a Node.js older than the package supports, the CLI and the demo say so in one line and exit 1,
 * instead of a node:sqlite stack trace. Proven with the machine's own old Node (/usr/bin/node) when it
 * has one; CI installs Node 24 separately and keeps the system Node 20.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isSupportedNode, MIN_NODE_VERSION } from '../../cli/nodeVersion';

const ROOT = resolve(__dirname, '../..');
const OLD_NODE = '/usr/bin/node';

function oldNodeVersion(): string | undefined {
	if (!existsSync(OLD_NODE)) return undefined;
	const version = spawnSync(OLD_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
	return version && !isSupportedNode(version) ? version : undefined;
}

test('the minimum in the code is the one package.json promises', () => {
	const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
	expect(pkg.engines.node).toBe(`>=${MIN_NODE_VERSION}`);
	expect(['20.20.2', '22.12.0', '18.19.1'].filter(isSupportedNode)).toEqual([]);
	expect(['22.13.0', '22.20.1', '23.0.0', '24.11.1', '30.1.0'].every(isSupportedNode)).toBe(true);
});

const version = oldNodeVersion();
if (!version) process.stderr.write(`\n*** No Node.js older than ${MIN_NODE_VERSION} at ${OLD_NODE}: the old-Node tests of the CLI and the demo are SKIPPED ***\n\n`);

(version ? describe : describe.skip)(`on Node.js ${version ?? '(older)'}`, () => {
	test.each([
		['the CLI', 'dist/cli/nudge.js', ['--help'], /^nudge needs Node\.js 22\.13 or newer \(Node\.js 24 recommended\); this is Node\.js \d+\.\d+\.\d+\. /],
		['the demo', 'dist/demo/start.js', ['--once'], /^The Nudge demo needs Node\.js 22\.13 or newer \(Node\.js 24 recommended\); this is Node\.js \d+\.\d+\.\d+\. /],
	])('%s prints one line naming the Node.js it needs and exits 1', (_label, file, args, message) => {
		if (!existsSync(join(ROOT, file))) throw new Error(`${file} is missing: run \`npm run build\` first (npm test does)`);
		const result = spawnSync(OLD_NODE, [join(ROOT, file), ...(args as string[])], { encoding: 'utf8', timeout: 20_000 });
		expect(result.status).toBe(1);
		expect(result.stdout).toBe('');
		expect(result.stderr).toMatch(message);
		expect(result.stderr).toContain(`this is Node.js ${version}.`);
		expect(result.stderr.trim().split('\n')).toHaveLength(1);
	});
});
