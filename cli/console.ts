import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DecisionConsole } from '../engine/audit/queries';
import { LOOPBACK_HOSTS, startConsoleServer } from '../console/server';
import { NudgeError } from '../engine/errors';
import { createExistingEngine } from './storeFile';

export const CONSOLE_USAGE = `  console [--store STORE] [--port 4280] [--host 127.0.0.1] [--public-host NAME] [--token TOKEN] [--reveal-pii]
          [--policy FILE.json]
      The decision console: a web page showing what Nudge decided and why (decision stream, one decision
      in full, funnel, suppressions, channel mix, cap hits, model evaluation, lift). STORE is a SQLite file
      or any store URL (redis://…, postgres://…, split:…). Listens on 127.0.0.1 only, unless --host says
      otherwise; then an access token is required (--token, NUDGE_CONSOLE_TOKEN, or a random one printed
      in the link). It answers only to the host names localhost, 127.0.0.1 and [::1] (and the --host
      address): give --public-host NAME (repeatable) for each name it is reached by, e.g. behind a proxy.
      Personal data is redacted unless --reveal-pii is given. A SQLite store must exist (nothing is created).
`;

export async function runConsole(args: string[]): Promise<number> {
	const { values } = parseArgs({
		args,
		options: {
			store: { type: 'string' },
			port: { type: 'string', default: '4280' },
			host: { type: 'string', default: '127.0.0.1' },
			token: { type: 'string' },
			'public-host': { type: 'string', multiple: true },
			'reveal-pii': { type: 'boolean', default: false },
			policy: { type: 'string' },
		},
		strict: true,
	});
	const port = Number(values.port);
	if (!Number.isInteger(port) || port < 0 || port > 65535) throw new NudgeError('INVALID_INPUT', `--port must be a port number (0–65535), not "${values.port}"`);
	let token = values.token ?? process.env.NUDGE_CONSOLE_TOKEN;
	if (!token && !LOOPBACK_HOSTS.includes(values.host)) token = randomBytes(24).toString('base64url');
	// The console only reads: a SQLite file, PostgreSQL schema or Redis prefix that is not there is a typo, not an empty log to show.
	const engine = await createExistingEngine({ store: values.store, policyFile: values.policy });
	const decisionConsole = new DecisionConsole(engine, { revealPii: values['reveal-pii'] });
	let running;
	try {
		running = await startConsoleServer({ console: decisionConsole, port, host: values.host, token, publicHosts: values['public-host'] });
	} catch (error) {
		await engine.close();
		throw error;
	}
	process.stdout.write(`Nudge decision console on ${engine.store.kind} store: ${running.url}\n`);
	process.stdout.write(`${decisionConsole.piiNotice}\nPress Ctrl+C to stop.\n`);
	await new Promise<void>((resolve) => {
		const stop = () => resolve();
		process.once('SIGINT', stop);
		process.once('SIGTERM', stop);
	});
	await running.close();
	await engine.close();
	return 0;
}
