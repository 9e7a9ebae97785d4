/**
 * `nudge-engine` config node: owns one shared Nudge engine (store + policy) and the signing secret.
 * An invalid configuration never crashes Node-RED: the error is kept, and every node using this
 * config shows a red status and fails its messages with the reason. Loading this module also mounts the
 * decision console under the admin root (/nudge), reading the engines these config nodes own.
 *
 * The store URL is a credential (it may hold a database password): flows.json and GET /flows never carry
 * it. Flows saved before keep it in the plain `store` property; it is still read, and the editor moves
 * it into the credentials (nudge-engine.html), so the next deploy writes it there.
 */
import type { NodeAPI, NodeDef } from 'node-red';
import { acquireEngine, redactUrl } from '../../engine';
import { asNudgeError, ENGINE_NODE_TYPE, NudgeEngineCredentials } from './shared/adapter';
import { ConsoleEngineNode, mountConsole } from './shared/console';

interface EngineDef extends NodeDef {
	/** Where the store URL was kept before it became a credential (still read when the credential is empty). */
	store?: string;
	policy?: string;
	/** Show personal data unredacted in the decision console (off by default). */
	consoleRevealPii?: boolean;
}

/** How often the config node asks whether the retention job is due (the engine asks its store at most every 10 minutes). */
const RETENTION_TICK_MS = 60_000;
/** The first check, a little after a deploy (not in its way). */
const RETENTION_FIRST_MS = 2_000;

export = function (RED: NodeAPI) {
	mountConsole(RED);
	function NudgeEngine(this: ConsoleEngineNode, def: EngineDef) {
		RED.nodes.createNode(this, def);
		this.consoleRevealPii = def.consoleRevealPii === true;
		const label = def.name || def.id;
		const legacyStore = def.store?.trim() ?? '';
		const store = this.credentials?.storeUrl?.trim() || legacyStore;
		if (legacyStore && !this.credentials?.storeUrl?.trim()) {
			this.warn(`Nudge engine "${label}" keeps its store URL in a plain setting that flows.json shows: open it in the editor and deploy to keep the URL in its credentials`);
		}
		let release: (() => Promise<void>) | undefined;
		try {
			const acquired = acquireEngine({ store, policy: def.policy ?? '' });
			this.engine = acquired.engine;
			release = acquired.release;
		} catch (error) {
			// NudgeError masks every URL's password in its message.
			this.configError = asNudgeError(error, 'INVALID_CONFIG');
			this.error(`Nudge engine "${label}" cannot start: ${this.configError.message}`);
		}
		// The store's retention job, when due (retention.auto): N workers on one store run it once per retention.every.
		const checkRetention = () => this.engine?.startRetentionIfDue((line, failed) => (failed ? this.warn(line) : this.log(line)));
		const first = setTimeout(checkRetention, RETENTION_FIRST_MS);
		const retention = setInterval(checkRetention, RETENTION_TICK_MS);
		first.unref();
		retention.unref();
		this.on('close', (_removed: boolean, done: () => void) => {
			clearTimeout(first);
			clearInterval(retention);
			this.engine = undefined;
			if (!release) return done();
			release().then(done, (error: Error) => {
				this.error(`Nudge engine "${label}" did not close cleanly: ${redactUrl(error.message)}`);
				done();
			});
		});
	}
	RED.nodes.registerType<ConsoleEngineNode, EngineDef, Record<string, never>, NudgeEngineCredentials>(ENGINE_NODE_TYPE, NudgeEngine, {
		credentials: { signingSecret: { type: 'password' }, storeUrl: { type: 'password' } },
	});
};
