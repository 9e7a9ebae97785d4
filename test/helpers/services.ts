import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Where the shared-store tests find their servers (override with these variables). */
export const TEST_REDIS_URL = process.env.NUDGE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_POSTGRES_URL = process.env.NUDGE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const reachable = new Map<string, boolean>();

/** Whether a TCP port accepts connections, checked synchronously (jest decides what to skip while collecting). */
function canConnect(url: string): boolean {
	const { hostname, port } = new URL(url);
	const key = `${hostname}:${port}`;
	if (!reachable.has(key)) {
		const probe = `require('net').connect({host:${JSON.stringify(hostname)},port:${Number(port)}}).on('connect',()=>process.exit(0)).on('error',()=>process.exit(1)).setTimeout(1500,()=>process.exit(1))`;
		reachable.set(key, spawnSync(process.execPath, ['-e', probe], { timeout: 5000 }).status === 0);
	}
	return reachable.get(key)!;
}

/**
 * `describe` when the server is reachable. Otherwise the suite is skipped with a loud message on a
 * developer's machine, and fails under CI (CI=true), where the servers must be there.
 */
export function describeWithServer(service: 'Redis' | 'PostgreSQL', url: string): jest.Describe {
	if (canConnect(url)) return describe;
	const message = `${service} is not reachable at ${url}: the ${service} store tests are SKIPPED. Start ${service} or set NUDGE_TEST_${service === 'Redis' ? 'REDIS' : 'POSTGRES'}_URL.`;
	if (process.env.CI === 'true' || process.env.CI === '1') {
		return ((name: string) =>
			describe(name, () => {
				test(`${service} is required under CI`, () => {
					throw new Error(message);
				});
			})) as unknown as jest.Describe;
	}
	process.stderr.write(`\n*** ${message} ***\n\n`);
	return describe.skip;
}

/** A unique name for one test run's keys / schema. */
export function runId(label: string): string {
	return `${label}_${process.pid}_${randomBytes(4).toString('hex')}`;
}
