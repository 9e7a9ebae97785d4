import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function freePort(): Promise<number> {
	const server = createServer();
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as { port: number };
	await new Promise((resolve) => server.close(resolve));
	return port;
}

async function accepts(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = connect(port, '127.0.0.1');
		socket.once('connect', () => (socket.destroy(), resolve(true)));
		socket.once('error', () => resolve(false));
	});
}

/**
 * A redis-server of the benchmark's own on a free port (never the machine's Redis, so nothing else's
 * traffic is counted), append-only: `always` persists every write before answering (no acknowledged
 * write is lost when it is killed), `everysec` is the usual production setting.
 */
export class PrivateRedis {
	private server?: ChildProcess;
	private readonly dir = mkdtempSync(join(tmpdir(), 'nudge-bench-redis-'));
	constructor(
		readonly port: number,
		private readonly fsync: 'always' | 'everysec' = 'always',
	) {}

	get url(): string {
		return `redis://127.0.0.1:${this.port}`;
	}

	async start(): Promise<void> {
		const { spawn } = await import('node:child_process');
		const server = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', this.fsync, '--save', ''], { stdio: 'ignore' });
		let missing: Error | undefined;
		server.once('error', (error) => (missing = error));
		this.server = server;
		for (let i = 0; i < 200 && !missing; i++) {
			if (await accepts(this.port)) return;
			await sleep(25);
		}
		throw new Error(`private redis-server on port ${this.port} did not start${missing ? `: ${missing.message}` : ''}`);
	}

	async kill(): Promise<void> {
		const server = this.server;
		if (!server || server.exitCode !== null) return;
		await new Promise<void>((resolve) => (server.once('exit', () => resolve()), server.kill('SIGKILL')));
	}

	async close(): Promise<void> {
		await this.kill();
		rmSync(this.dir, { recursive: true, force: true });
	}
}
