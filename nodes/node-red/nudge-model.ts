/** `nudge-model`: trains, evaluates, activates or rolls back the predictive scoring model (engine/scoring/registry). */
import type { Node, NodeAPI, NodeMessageInFlow } from 'node-red';
import { dataTable, modelOperation, ModelRequest, NudgeError } from '../../engine';
import { Done, errorStatus, fail, linkEngine, NudgeNodeDef, runMessage, Send, shortText } from './shared/adapter';

interface ModelNodeDef extends NudgeNodeDef {
	operation?: ModelRequest['operation'] | 'train-uplift';
	modelName?: string;
	file?: string;
	target?: string;
	treatment?: string;
	journey?: string;
	positive?: string;
	exclude?: string;
	placeholders?: string;
	activate?: boolean;
	requireBetter?: boolean;
	trees?: string | number;
	version?: string | number;
}

const list = (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);
const text = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);
const whole = (v: unknown) => {
	const n = Number(v);
	return v !== '' && v !== undefined && Number.isInteger(n) && n > 0 ? n : undefined;
};

/**
 * The request a message makes: the node's settings, with `msg.payload` (rows, one object per contact),
 * `msg.filename`, `msg.version` and `msg.note` taking precedence when present. Text in msg.payload is not a path:
 * a payload is often what a caller sent (an HTTP body), and a path in it would read any file Node-RED can.
 */
function requestOf(def: ModelNodeDef, msg: NodeMessageInFlow, onProgress: (done: number, total: number) => void): ModelRequest {
	const m = msg as NodeMessageInFlow & { filename?: unknown; version?: unknown; note?: unknown };
	const operation = def.operation ?? 'train';
	const name = text(def.modelName) ?? 'lead';
	const data = () => {
		if (Array.isArray(m.payload)) return dataTable(m.payload);
		const file = text(m.filename) ?? text(def.file);
		if (file === undefined && text(m.payload) !== undefined) {
			throw new NudgeError('INVALID_INPUT', 'msg.payload is text: give the rows in msg.payload (one object per contact), or the data file as msg.filename or in the node\'s Data file');
		}
		return dataTable(file);
	};
	const version = whole(m.version) ?? whole(def.version);
	const note = text(m.note);
	switch (operation) {
		case 'train':
			return {
				operation,
				name,
				data: data(),
				activate: !!def.activate,
				requireBetter: def.requireBetter !== false,
				note,
				options: { target: text(def.target) ?? '', positive: text(def.positive), exclude: list(def.exclude), placeholders: list(def.placeholders), trees: whole(def.trees), onProgress },
			};
		case 'train-uplift': {
			const journey = text(def.journey);
			const options = { treatment: text(def.treatment), outcome: text(def.target), positive: text(def.positive), exclude: list(def.exclude), placeholders: list(def.placeholders), trees: whole(def.trees), onProgress };
			return { operation: 'trainUplift', name, ...(journey ? { journey } : { data: data() }), options, activate: !!def.activate, note };
		}
		case 'retrain':
			return { operation, name, activate: !!def.activate, requireBetter: def.requireBetter !== false, note, options: { exclude: list(def.exclude), placeholders: list(def.placeholders), trees: whole(def.trees), onProgress } };
		case 'evaluate':
			return { operation, name, data: data(), version };
		case 'activate':
			if (!version) throw new NudgeError('INVALID_INPUT', 'Say which version to activate: set Version on the node or msg.version');
			return { operation, name, version, note };
		default:
			return operation === 'rollback' ? { operation, name, note } : { operation: 'list', name };
	}
}

const WORKING: Record<string, string> = { 'train-uplift': 'training…', train: 'training…', retrain: 'training…', evaluate: 'evaluating…', activate: 'activating…', rollback: 'rolling back…', list: 'listing…' };

export = function (RED: NodeAPI) {
	function NudgeModel(this: Node, def: ModelNodeDef) {
		RED.nodes.createNode(this, def);
		const link = linkEngine(RED, def.engine);
		if (link.error) {
			this.status(errorStatus(link.error));
			this.error(link.error.message);
		}
		this.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
			if (!link.engine) return fail(this, msg, done, link.error);
			const engine = link.engine;
			this.status({ fill: 'blue', shape: 'ring', text: WORKING[def.operation ?? 'train'] ?? 'working…' });
			// Training yields to the event loop between trees, so this status moves while it runs.
			let shown = -1;
			const progress = (done: number, total: number) => {
				const tenth = Math.floor((done / total) * 10);
				if (tenth === shown) return;
				shown = tenth;
				this.status({ fill: 'blue', shape: 'ring', text: `training ${tenth * 10}%` });
			};
			setImmediate(() => {
				runMessage(this, engine, msg, done, () => modelOperation(engine.store, requestOf(def, msg, progress), engine.policy), (result) => {
					msg.payload = result;
					const auc = result.evaluation
						? ` AUC ${result.evaluation.auc.toFixed(2)}`
						: result.uplift
							? ` Qini ${result.uplift.evaluation.qini.estimate.toFixed(3)}${result.uplift.fallback ? ' fallback' : ''}`
							: '';
					const shown = result.version !== undefined ? `v${result.version}${auc}${result.active === result.version ? ' active' : ''}` : `${result.versions?.length ?? 0} versions`;
					this.status({ fill: 'green', shape: 'dot', text: shortText(shown) });
					send(msg);
				});
			});
		});
	}
	RED.nodes.registerType('nudge-model', NudgeModel);
};
