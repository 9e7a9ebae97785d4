/**
 * The oldest Node.js Nudge runs on: node:sqlite without a flag arrived in 22.13 (package.json `engines`
 * says the same; a test keeps them equal). The project is developed and tested on Node 24.
 * This module imports nothing, so an entry point can run it before anything loads node:sqlite.
 */
export const MIN_NODE_VERSION = '22.13';

/** Whether `version` (e.g. process.versions.node, "20.20.2") is at least MIN_NODE_VERSION. */
export function isSupportedNode(version: string): boolean {
	const [major, minor] = version.split('.').map(Number);
	const [minMajor, minMinor] = MIN_NODE_VERSION.split('.').map(Number);
	return major > minMajor || (major === minMajor && minor >= minMinor);
}

/** On an older Node: one line saying which Node is needed, and exit 1 (instead of a node:sqlite stack trace). */
export function exitUnlessSupportedNode(program: string): void {
	if (isSupportedNode(process.versions.node)) return;
	process.stderr.write(`${program} needs Node.js ${MIN_NODE_VERSION} or newer (Node.js 24 recommended); this is Node.js ${process.versions.node}. Install a newer Node.js and run it again.\n`);
	process.exit(1);
}
