/**
 * One n8n server on a free loopback port with its own user folder (settings, community packages), driven the way
 * an n8n admin does it: n8n's CLI to import and activate, HTTP to the production webhooks, and the execution list
 * read from n8n's own database. By default one process on SQLite; in queue mode (`QueueMode`) a main process and a
 * worker, n8n's database in a PostgreSQL schema and its job queue on Redis, both of this server's own.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { Client } from 'pg';
import { npmEnv, type N8nInstall } from './n8nInstall';

const run = promisify(execFile);

/** n8n's queue mode (docs.n8n.io/hosting/scaling/queue-mode): where its database and its queue are, named for one server. */
export interface QueueMode {
	postgresUrl: string;
	redisUrl: string;
	/** n8n's tables go in this PostgreSQL schema, its Redis keys (queue, cache, instances) under this prefix. */
	name: string;
	/** The worker's task runner broker (the main's is the server's). */
	workerBrokerPort: number;
}
const ROOT = join(__dirname, '..', '..');
const PACKAGE = 'n8n-nodes-nudge';

/** A port nothing listens on right now (the kernel's pick, released at once). */
export async function freePort(): Promise<number> {
	const server = createServer();
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	await new Promise<void>((resolve) => server.close(() => resolve()));
	return port;
}

/**
 * This package as n8n installs a community package (community-packages.service downloadPackage): the
 * `npm pack` tarball unpacked into nodes/node_modules/<name>, its dev, peer and optional dependencies
 * removed, and only its runtime dependencies installed there, without scripts. Works in `work` and
 * returns its `nodes` folder (about 200 MB), to copy into a server's user folder.
 */
export async function packAsCommunityPackage(work: string): Promise<string> {
	if (!existsSync(join(ROOT, 'dist', 'nodes', 'n8n', 'NudgeTrigger', 'NudgeTrigger.node.js'))) {
		throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
	}
	const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, env: npmEnv(), maxBuffer: 16 * 1024 * 1024 });
	const [{ filename }] = JSON.parse(stdout) as Array<{ filename: string }>;
	const nodes = join(work, 'nodes');
	const dir = join(nodes, 'node_modules', PACKAGE);
	mkdirSync(dir, { recursive: true });
	await run('tar', ['-xzf', join(work, filename), '-C', dir, '--strip-components=1']);
	const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
	for (const key of ['devDependencies', 'peerDependencies', 'optionalDependencies']) delete manifest[key];
	writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
	await run('npm', ['install', '--audit=false', '--fund=false', '--bin-links=false', '--install-strategy=shallow', '--ignore-scripts=true', '--package-lock=false', '--prefer-offline'], {
		cwd: dir,
		env: npmEnv(),
		maxBuffer: 16 * 1024 * 1024,
	});
	writeFileSync(join(nodes, 'package.json'), JSON.stringify({ name: 'installed-nodes', private: true, dependencies: { [PACKAGE]: manifest.version } }, null, 2));
	return nodes;
}

export interface Execution {
	id: number;
	workflowId: string;
	status: string;
	mode: string;
}

export class N8nServer {
	readonly home = mkdtempSync(join(tmpdir(), 'nudge-n8n-server-'));
	readonly userFolder = join(this.home, 'user');
	private readonly processes: ChildProcess[] = [];
	private output = '';

	constructor(
		readonly install: N8nInstall,
		readonly port: number,
		private readonly brokerPort: number,
		readonly queue?: QueueMode,
	) {}

	get url(): string {
		return `http://127.0.0.1:${this.port}`;
	}

	get major(): number {
		return Number(this.install.version.split('.')[0]);
	}

	/** What the server and its CLI printed so far (for failure messages). */
	get log(): string {
		return this.output;
	}

	/** Puts the community-package folder from packAsCommunityPackage() where this server loads it. */
	addNodes(nodes: string): void {
		cpSync(nodes, join(this.userFolder, '.n8n', 'nodes'), { recursive: true });
	}

	env(): NodeJS.ProcessEnv {
		// Without jest's NODE_ENV=test, which silences n8n's logger and switches it to test settings.
		const inherited = npmEnv();
		delete inherited.NODE_ENV;
		return {
			...inherited,
			// The server's own home, so that `~` in n8n's settings (2.x's N8N_RESTRICT_FILE_ACCESS_TO default, ~/.n8n-files) is this server's folder.
			HOME: this.home,
			N8N_USER_FOLDER: this.userFolder,
			...(this.queue
				? queueEnv(this.queue)
				: {
						DB_TYPE: 'sqlite',
						// WAL mode and a pool (2.x's defaults, opt-in in 1.x), so that the test can read the database n8n writes.
						DB_SQLITE_POOL_SIZE: '3',
						DB_SQLITE_ENABLE_WAL: 'true',
					}),
			N8N_LISTEN_ADDRESS: '127.0.0.1',
			N8N_HOST: '127.0.0.1',
			N8N_PORT: String(this.port),
			WEBHOOK_URL: `${this.url}/`,
			// No telemetry, no calls home, no banners: the machine reaches only loopback.
			N8N_DIAGNOSTICS_ENABLED: 'false',
			N8N_PERSONALIZATION_ENABLED: 'false',
			N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
			N8N_TEMPLATES_ENABLED: 'false',
			N8N_LICENSE_AUTO_RENEW_ENABLED: 'false',
			N8N_HIRING_BANNER_ENABLED: 'false',
			N8N_UNVERIFIED_PACKAGES_ENABLED: 'true',
			// 1.x runs without task runners (no Code node in the templates); 2.x always starts its JS runner,
			// whose broker gets a free port so that two servers on one machine do not collide.
			N8N_RUNNERS_ENABLED: this.major >= 2 ? 'true' : 'false',
			N8N_RUNNERS_BROKER_PORT: String(this.brokerPort),
			N8N_GRACEFUL_SHUTDOWN_TIMEOUT: '10',
		};
	}

	/** Runs `n8n <args>` against this server's user folder; its output must match `success`. */
	async cli(args: string[], success: RegExp): Promise<string> {
		const { stdout, stderr } = await run(process.execPath, [this.install.bin, ...args], { env: this.env(), timeout: 5 * 60_000, maxBuffer: 64 * 1024 * 1024 }).catch(
			(error: { stdout?: string; stderr?: string; message: string }) => ({ stdout: error.stdout ?? '', stderr: `${error.stderr ?? ''}\n${error.message}` }),
		);
		const output = `${stdout}\n${stderr}`;
		this.output += `\n$ n8n ${args.join(' ')}\n${output}`;
		if (!success.test(output)) throw new Error(`n8n ${args.join(' ')} did not succeed (n8n ${this.install.version}):\n${output.trim().split('\n').slice(-20).join('\n')}`);
		return output;
	}

	/** Creates what queue mode keeps n8n's tables in (its schema); nothing to do on SQLite. Before the first CLI command. */
	async prepare(): Promise<void> {
		if (!this.queue) return;
		await withPostgres(this.queue.postgresUrl, (client) => client.query(`CREATE SCHEMA IF NOT EXISTS "${this.queue!.name}"`));
	}

	/**
	 * Starts `n8n start` and resolves once the editor and the production webhooks are up; in queue mode then an
	 * `n8n worker` (it runs the executions), once it says it is ready.
	 */
	async start(timeoutMs = 5 * 60_000): Promise<void> {
		await this.launch(['start'], this.env(), /Editor is now accessible via/, timeoutMs);
		if (this.queue) await this.launch(['worker'], { ...this.env(), N8N_RUNNERS_BROKER_PORT: String(this.queue.workerBrokerPort) }, /n8n worker is now ready/, timeoutMs);
	}

	private async launch(args: string[], env: NodeJS.ProcessEnv, ready: RegExp, timeoutMs: number): Promise<void> {
		const child = spawn(process.execPath, [this.install.bin, ...args], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
		this.processes.push(child);
		let printed = '';
		await new Promise<void>((resolve, reject) => {
			const what = `n8n ${args.join(' ')} (${this.install.version})`;
			const timer = setTimeout(() => reject(new Error(`${what} did not start in ${timeoutMs / 1000} s:\n${this.tail()}`)), timeoutMs);
			const onData = (chunk: Buffer) => {
				const text = chunk.toString('utf8');
				this.output += text;
				printed += text;
				// The main prints it once the active workflows' webhooks are registered.
				if (ready.test(printed)) {
					clearTimeout(timer);
					resolve();
				}
			};
			child.stdout!.on('data', onData);
			child.stderr!.on('data', onData);
			child.once('exit', (code) => {
				clearTimeout(timer);
				reject(new Error(`${what} exited with ${code} while starting:\n${this.tail()}`));
			});
		});
	}

	/**
	 * Waits until n8n has registered the production webhook at `path` (it does so after the editor is up):
	 * an empty POST (or a GET) is answered by the node instead of n8n's 404.
	 */
	async waitForWebhook(path: string, method: 'POST' | 'GET' = 'POST', timeoutMs = 2 * 60_000): Promise<void> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const response = await fetch(`${this.url}${path}`, method === 'POST' ? { method, headers: { 'content-type': 'application/json' }, body: '{}' } : { method });
			await response.arrayBuffer();
			if (response.status !== 404) return;
			if (Date.now() > deadline) throw new Error(`n8n ${this.install.version} did not register the webhook ${path} in ${timeoutMs / 1000} s:\n${this.tail()}`);
			await new Promise((resolve) => setTimeout(resolve, 500));
		}
	}

	/**
	 * Stops the server's processes (each with its task runner: the whole process group it started), then removes its
	 * folder and, in queue mode, its schema and Redis keys.
	 */
	async close(): Promise<void> {
		await Promise.all(
			this.processes.map(async (child) => {
				if (!child.pid || child.exitCode !== null) return;
				const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
				process.kill(-child.pid, 'SIGTERM');
				const timer = setTimeout(() => child.exitCode === null && process.kill(-child.pid!, 'SIGKILL'), 20_000);
				await exited;
				clearTimeout(timer);
			}),
		);
		rmSync(this.home, { recursive: true, force: true });
		if (this.queue) await dropQueueMode(this.queue);
	}

	/** Rows of n8n's own database (read-only: the server keeps writing). Write SQL both SQLite and PostgreSQL read (quote camelCase names). */
	async query<T>(sql: string): Promise<T[]> {
		if (this.queue) {
			const schema = this.queue.name;
			return withPostgres(this.queue.postgresUrl, async (client) => {
				await client.query(`SET search_path TO "${schema}"`);
				return (await client.query(sql)).rows as T[];
			});
		}
		const db = new DatabaseSync(join(this.userFolder, '.n8n', 'database.sqlite'), { readOnly: true, timeout: 10_000 });
		try {
			return db.prepare(sql).all() as T[];
		} finally {
			db.close();
		}
	}

	executions(): Promise<Execution[]> {
		return this.query<Execution>('SELECT id, "workflowId", status, mode FROM execution_entity ORDER BY id');
	}

	/** Waits until n8n has recorded `count` executions and none is still running. */
	async settledExecutions(count: number, timeoutMs = 60_000): Promise<Execution[]> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const all = await this.executions();
			if (all.length >= count && all.every((e) => !['new', 'running'].includes(e.status))) return all;
			if (Date.now() > deadline) return all;
			await new Promise((resolve) => setTimeout(resolve, 250));
		}
	}

	private tail(): string {
		return this.output.trim().split('\n').slice(-30).join('\n');
	}
}

async function withPostgres<T>(url: string, use: (client: Client) => Promise<T>): Promise<T> {
	const client = new Client({ connectionString: url });
	await client.connect();
	try {
		return await use(client);
	} finally {
		await client.end();
	}
}

/** n8n's own variables for queue mode: its database on PostgreSQL (in the server's schema), its queue and keys on Redis. */
function queueEnv(queue: QueueMode): NodeJS.ProcessEnv {
	const pg = new URL(queue.postgresUrl);
	const redis = new URL(queue.redisUrl);
	return {
		DB_TYPE: 'postgresdb',
		DB_POSTGRESDB_HOST: pg.hostname,
		DB_POSTGRESDB_PORT: pg.port || '5432',
		DB_POSTGRESDB_DATABASE: decodeURIComponent(pg.pathname.slice(1)),
		DB_POSTGRESDB_USER: decodeURIComponent(pg.username),
		DB_POSTGRESDB_PASSWORD: decodeURIComponent(pg.password),
		DB_POSTGRESDB_SCHEMA: queue.name,
		EXECUTIONS_MODE: 'queue',
		QUEUE_BULL_REDIS_HOST: redis.hostname,
		QUEUE_BULL_REDIS_PORT: redis.port || '6379',
		QUEUE_BULL_PREFIX: queue.name,
		N8N_REDIS_KEY_PREFIX: queue.name,
	};
}

/** Drops what a queue-mode server left on the shared servers: its schema and its Redis keys. */
async function dropQueueMode(queue: QueueMode): Promise<void> {
	await withPostgres(queue.postgresUrl, (client) => client.query(`DROP SCHEMA IF EXISTS "${queue.name}" CASCADE`));
	const redis = new Redis(queue.redisUrl, { lazyConnect: true });
	await redis.connect();
	try {
		let cursor = '0';
		do {
			const [next, keys] = await redis.scan(cursor, 'MATCH', `${queue.name}*`, 'COUNT', 1000);
			if (keys.length) await redis.del(...keys);
			cursor = next;
		} while (cursor !== '0');
	} finally {
		redis.disconnect();
	}
}
