/**
 * A real Node-RED runtime in its own process (test/helpers/nodeRedProcess.js) with the built package
 * loaded from nodesDir, as a user installs it: flows and credentials files written to a fresh user
 * folder, settings merged over defaults that keep the editor quiet. For the tests that need real HTTP
 * (sockets, limits, the admin API) or the saved files.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

/** The runtime loads dist/: a missing or stale build skips (loudly) instead of testing old code. */
export function builtIsFresh(sources: string[]): boolean {
	const stale = sources.filter((source) => {
		const built = path.join(ROOT, 'dist', source.replace(/\.ts$/, '.js'));
		return !existsSync(built) || statSync(built).mtimeMs < statSync(path.join(ROOT, source)).mtimeMs;
	});
	if (stale.length) process.stderr.write(`\n*** dist/ is missing or older than ${stale.join(', ')} (run npm run build): these Node-RED runtime tests are SKIPPED ***\n\n`);
	return stale.length === 0;
}

export interface NodeRedRuntime {
	/** http://127.0.0.1:<port> */
	origin: string;
	userDir: string;
	/** Whether the process is still running. */
	alive(): boolean;
	/** What the runtime has printed so far (its log goes to stdout). */
	output(): string;
	/** The highest resident memory the process has had so far, in bytes (Linux: VmHWM). */
	peakMemory(): number;
	stop(): Promise<void>;
}

export interface NodeRedOptions {
	flows: object[];
	/** flows_cred.json, by node id (written in plain text: credentialSecret is false). */
	credentials?: Record<string, object>;
	/** Over the defaults: admin and nodes both on `/`, as the standalone `node-red` command mounts them. */
	settings?: Record<string, unknown>;
	userDir?: string;
	/** Over this process's environment (e.g. HOME, where the default SQLite store lives). */
	env?: Record<string, string>;
}

export async function startNodeRed(options: NodeRedOptions): Promise<NodeRedRuntime> {
	const userDir = options.userDir ?? mkdtempSync(path.join(tmpdir(), 'nudge-nr-'));
	const flowFile = path.join(userDir, 'flows.json');
	writeFileSync(flowFile, JSON.stringify(options.flows));
	if (options.credentials) writeFileSync(path.join(userDir, 'flows_cred.json'), JSON.stringify(options.credentials));
	const settings = {
		userDir,
		flowFile,
		nodesDir: [ROOT],
		credentialSecret: false,
		httpAdminRoot: '/',
		httpNodeRoot: '/',
		editorTheme: { tours: false, projects: { enabled: false } },
		telemetry: { enabled: false },
		diagnostics: { enabled: false },
		externalModules: { palette: { allowInstall: false } },
		logging: { console: { level: 'error', metrics: false, audit: false } },
		...options.settings,
	};
	const runtime: ChildProcess = spawn(process.execPath, [path.join(__dirname, 'nodeRedProcess.js')], {
		stdio: ['ignore', 'pipe', 'inherit'],
		env: { ...process.env, ...options.env, NUDGE_NODE_RED_SETTINGS: JSON.stringify(settings) },
	});
	let out = '';
	const port = await new Promise<string>((resolve, reject) => {
		runtime.stdout!.on('data', (chunk: Buffer) => {
			out += chunk.toString();
			const m = out.match(/flows started on port (\d+)/);
			if (m) resolve(m[1]);
		});
		runtime.once('exit', (code) => reject(new Error(`Node-RED exited (${code}) before starting its flows: ${out}`)));
	});
	return {
		origin: `http://127.0.0.1:${port}`,
		userDir,
		alive: () => runtime.exitCode === null && runtime.signalCode === null,
		output: () => out,
		peakMemory: () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${runtime.pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024,
		stop: async () => {
			if (runtime.exitCode !== null || runtime.signalCode !== null) return;
			runtime.kill('SIGTERM');
			await new Promise((resolve) => runtime.once('exit', resolve));
		},
	};
}
