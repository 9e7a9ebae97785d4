/**
 * `nudge-engine` config node: owns one shared Nudge engine (store + policy) and the signing secret.
 * An invalid configuration never crashes Node-RED: the error is kept, and every node using this
 * config shows a red status and fails its messages with the reason. Loading this module also mounts the
 * decision console under the admin root (/nudge), reading the engines these config nodes own.
 */
import type { NodeAPI, NodeDef } from 'node-red';
import { acquireEngine } from '../../engine/registry';
import { redactUrl } from '../../engine/store/connection';
import { asNudgeError, ENGINE_NODE_TYPE, NudgeEngineCredentials } from './shared/adapter';
import { ConsoleEngineNode, mountConsole } from './shared/console';

interface EngineDef extends NodeDef {
	store?: string;
	policy?: string;
	/** Show personal data unredacted in the decision console (off by default). */
	consoleRevealPii?: boolean;
}

export = function (RED: NodeAPI) {
	mountConsole(RED);
	function NudgeEngine(this: ConsoleEngineNode, def: EngineDef) {
		RED.nodes.createNode(this, def);
		this.consoleRevealPii = def.consoleRevealPii === true;
		const label = def.name || def.id;
		let release: (() => Promise<void>) | undefined;
		try {
			const acquired = acquireEngine({ store: def.store ?? '', policy: def.policy ?? '' });
			this.engine = acquired.engine;
			release = acquired.release;
		} catch (error) {
			this.configError = asNudgeError(error, 'INVALID_CONFIG');
			this.error(`Nudge engine "${label}" cannot start: ${this.configError.message}`);
		}
		this.on('close', (_removed: boolean, done: () => void) => {
			this.engine = undefined;
			if (!release) return done();
			release().then(done, (error: Error) => {
				this.error(`Nudge engine "${label}" did not close cleanly: ${redactUrl(error.message)}`);
				done();
			});
		});
	}
	RED.nodes.registerType<ConsoleEngineNode, EngineDef, Record<string, never>, NudgeEngineCredentials>(ENGINE_NODE_TYPE, NudgeEngine, { credentials: { signingSecret: { type: 'password' } } });
};
