/**
 * A real n8n server for the end-to-end tests, installed from the npm registry into a cache folder
 * ($HOME/.cache/nudge-ci/n8n-<version>, or NUDGE_N8N_CACHE/n8n-<version>) and reused between runs.
 *
 * The install skips install scripts (the registry is the only network: a few of n8n's optional native
 * packages try to download builds) and pins xlsx to the registry's 0.18.5 (n8n pins a tarball on a CDN).
 * The one native module the server needs, sqlite3, is then compiled against this Node's own headers.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface N8nInstall {
	version: string;
	dir: string;
	/** n8n's CLI entry point, run with this process's Node. */
	bin: string;
}

const READY = '.nudge-ready';

function cacheDir(version: string): string {
	return join(process.env.NUDGE_N8N_CACHE ?? join(homedir(), '.cache', 'nudge-ci'), `n8n-${version}`);
}

/** The folder holding include/node of the running Node (a system install, or the node@24 npm package's platform build). */
function nodeHeaders(): string | undefined {
	const prefix = dirname(dirname(process.execPath));
	const candidates = [prefix, join(prefix, 'node_modules', `node-${process.platform}-${process.arch}`)];
	return candidates.find((dir) => existsSync(join(dir, 'include', 'node', 'node_api.h')));
}

/** This process's environment without the npm_* settings `npm test` passes down (this repo's ignore-scripts, for one). */
export function npmEnv(): NodeJS.ProcessEnv {
	return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('npm_')));
}

function run(command: string, args: string[], cwd: string, timeoutMs: number): string | undefined {
	const result = spawnSync(command, args, { cwd, env: npmEnv(), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
	if (result.status === 0) return undefined;
	const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
	return `\`${command} ${args.join(' ')}\` in ${cwd} ${result.error ? `failed: ${result.error.message}` : `exited ${result.status}`}\n${output}`;
}

/**
 * n8n `version`, installed once. Returns the install, or why it could not be installed (no registry,
 * no compiler, no Node headers); a half-finished install is started again next time.
 */
export function installN8n(version: string): N8nInstall | { error: string } {
	const dir = cacheDir(version);
	const install = { version, dir, bin: join(dir, 'node_modules', 'n8n', 'bin', 'n8n') };
	if (existsSync(join(dir, READY))) return install;
	const started = Date.now();
	mkdirSync(dir, { recursive: true });
	rmSync(join(dir, 'node_modules'), { recursive: true, force: true });
	writeFileSync(
		join(dir, 'package.json'),
		`${JSON.stringify({ name: 'nudge-ci-n8n', private: true, dependencies: { n8n: version }, overrides: { xlsx: '0.18.5' } }, null, 2)}\n`,
	);
	const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
	const failed = run(npm, ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], dir, 30 * 60_000);
	if (failed) return { error: failed };
	const headers = nodeHeaders();
	if (!headers) return { error: `No Node headers (include/node/node_api.h) next to ${process.execPath}: sqlite3 cannot be compiled for n8n ${version}.` };
	// sqlite3's install script tries a prebuilt download first, then compiles with node-gyp (python3, make, a C++ compiler).
	const built = run(npm, ['rebuild', 'sqlite3', '--ignore-scripts=false', `--nodedir=${headers}`, '--loglevel=error'], dir, 30 * 60_000);
	if (built) return { error: built };
	const seconds = Math.round((Date.now() - started) / 1000);
	writeFileSync(join(dir, READY), `${JSON.stringify({ version, seconds, node: process.version })}\n`);
	process.stderr.write(`n8n ${version} installed in ${dir} in ${seconds} s\n`);
	return install;
}

/** The installed n8n's own version (what the server reports), to check the cache holds what was asked for. */
export function installedVersion(install: N8nInstall): string {
	return (JSON.parse(readFileSync(join(install.dir, 'node_modules', 'n8n', 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * `describe` when n8n `version` is installed (installing it if needed). Otherwise the suite is skipped
 * with a loud message on a developer's machine, and fails under CI (CI=true).
 */
export function describeWithN8n(version: string, body: (install: N8nInstall) => void): void {
	const install = installN8n(version);
	if (!('error' in install)) {
		describe(`n8n ${version} server`, () => body(install));
		return;
	}
	const message = `n8n ${version} could not be installed, so the real-server tests are SKIPPED:\n${install.error}`;
	if (process.env.CI === 'true' || process.env.CI === '1') {
		describe(`n8n ${version} server`, () => {
			test('n8n is required under CI', () => {
				throw new Error(message);
			});
		});
		return;
	}
	process.stderr.write(`\n*** ${message} ***\n\n`);
	describe.skip(`n8n ${version} server`, () => body(install as never));
}
