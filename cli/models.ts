import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { NudgeError } from '../engine/errors';
import { DEFAULT_TIERS, TrainedModel, deserializeModel, predictTable, scoreRecord } from '../engine/scoring/model';
import { activateModel, activeModel, importModel, rollbackModel, trainAndSave } from '../engine/scoring/registry';
import { tierOf } from '../engine/scoring/rulesModel';
import { readTable, tableRecords } from '../engine/scoring/table';
import { DEFAULT_STORE_URL } from '../engine/store/open';
import { withModelOut } from './outFile';
import { withStore } from './storeFile';

export const TRAIN_USAGE = `  train --data FILE --target COLUMN [--positive VALUE] [--exclude A,B] [--placeholders Select,…]
        [--name lead] [--store PATH] [--activate [--require-better]] [--trees 100] [--max-depth 10]
        [--min-leaf 10] [--time-column COLUMN] [--seed 42] [--out MODEL.json]
      Trains a scoring model on a CSV (comma, semicolon or tab), JSON or JSONL export, holds out 20% of
      the rows to evaluate it, stores it as a new version of --name and prints the evaluation. With
      --activate it becomes the version that scores (with --require-better only if it beats the active
      version on the same held-out rows). Progress is shown on stderr.
`;
export const SCORE_USAGE = `  score --model NAME --data FILE [--store PATH] [--version N] [--explain]
      Scores every row of a file with the model's active (or given) version: one JSON line per row
      with probability, score 0–100 and tier; --explain adds the top factors.
`;
export const IMPORT_USAGE = `  import --model NAME --file MODEL.json [--store PATH] [--activate]
      Stores a model file written by train --out (or uplift train --out) as a new version; a file whose
      trees and features do not belong together is refused and nothing is stored.
`;
export const ACTIVATE_USAGE = `  activate --model NAME --version N [--store PATH] [--note TEXT]
  rollback --model NAME [--store PATH] [--note TEXT]
      Makes a version the active one, or returns to the one active before; both are logged.
`;
const list = (v?: string) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);

/** A whole-number option of at least `min` (0 for a seed: any whole number seeds the generator). */
export function int(name: string, v: string | undefined, min = 1): number | undefined {
	if (v === undefined) return undefined;
	const n = Number(v);
	if (!Number.isSafeInteger(n) || n < min) throw new NudgeError('INVALID_INPUT', `--${name} must be a whole number of at least ${min}, not "${v}"`);
	return n;
}

/** A progress bar on stderr, redrawn in place. */
function progressBar(label: string): (done: number, total: number) => void {
	const width = 30;
	let shown = -1;
	return (done, total) => {
		const filled = Math.round((done / total) * width);
		if (filled === shown && done !== total) return;
		shown = filled;
		process.stderr.write(`\r${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total} trees${done === total ? '\n' : ''}`);
	};
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

/** The evaluation as a marketer reads it: how well it ranks, how honest its probabilities are. */
export function formatEvaluation(model: TrainedModel): string {
	const e = model.evaluation;
	const s = model.summary;
	const lines = [
		`Trained on ${s.trainRows} rows (${s.rows} in the file, ${s.positives} successes), ${s.trees} trees, depth ≤ ${s.maxDepth}, in ${(s.trainMs / 1000).toFixed(1)} s.`,
		`Evaluated on ${e.rows} held-out rows (${s.split === 'time' ? 'the latest by time' : 'a stratified random 20%'}), ${e.positives} successes:`,
		`  AUC        ${e.auc.toFixed(3)}   (chance a success is scored above a non-success; 0.5 = guessing)`,
		`  Brier      ${e.brier.toFixed(4)}  (uncalibrated forest ${e.uncalibrated.brier.toFixed(4)}; lower is better)`,
		`  Log loss   ${e.logLoss.toFixed(4)}  (uncalibrated ${e.uncalibrated.logLoss.toFixed(4)})`,
		'',
		'Calibration (held-out rows by predicted probability):',
		'  predicted     rows   mean predicted   actual success rate',
		...e.calibration.map((b) => `  ${pct(b.from).padStart(6)}–${pct(b.to).padEnd(6)} ${String(b.count).padStart(5)}   ${pct(b.meanPredicted).padStart(14)}   ${pct(b.observedRate).padStart(19)}`),
		'',
		'At the tier cut-offs (score ≥ cut-off counts as predicted success):',
		...e.confusion.map((c) => `  ≥ ${Math.round(c.cutoff * 100)}: ${c.tp} right, ${c.fp} false alarms, ${c.fn} missed, ${c.tn} correctly left out — precision ${pct(c.precision)}, recall ${pct(c.recall)}`),
		'',
		`Features (${model.spec.features.length}): ${model.spec.features.map((f) => `${f.name} [${f.kind}]`).join(', ')}`,
		...(model.spec.skipped.length ? [`Not used: ${model.spec.skipped.map((f) => `${f.name} (${f.reason})`).join(', ')}`] : []),
	];
	return `${lines.join('\n')}\n`;
}


export async function runTrain(args: string[]): Promise<number> {
	const { values } = parseArgs({
		args,
		options: {
			data: { type: 'string' },
			target: { type: 'string' },
			positive: { type: 'string' },
			exclude: { type: 'string' },
			placeholders: { type: 'string' },
			name: { type: 'string', default: 'lead' },
			store: { type: 'string' },
			activate: { type: 'boolean', default: false },
			'require-better': { type: 'boolean', default: false },
			trees: { type: 'string' },
			'max-depth': { type: 'string' },
			'min-leaf': { type: 'string' },
			'time-column': { type: 'string' },
			seed: { type: 'string' },
			out: { type: 'string' },
		},
		strict: true,
	});
	if (!values.data || !values.target) throw new NudgeError('INVALID_INPUT', `train needs --data FILE and --target COLUMN\n\nUsage:\n${TRAIN_USAGE}`);
	const table = readTable(values.data);
	const options = {
		target: values.target,
		positive: values.positive,
		exclude: list(values.exclude),
		placeholders: list(values.placeholders),
		trees: int('trees', values.trees),
		maxDepth: int('max-depth', values['max-depth']),
		minLeaf: int('min-leaf', values['min-leaf']),
		seed: int('seed', values.seed, 0),
		timeColumn: values['time-column'],
		onProgress: progressBar(`Training ${values.name}`),
	};
	const result = await withModelOut(values.out, [values.store ?? DEFAULT_STORE_URL, values.data], (beforeStore) =>
		withStore(values.store, (store) => trainAndSave(store, values.name, table, options, { activate: values.activate, requireBetter: values['require-better'], beforeStore })),
	);
	process.stdout.write(formatEvaluation(result.model));
	process.stdout.write(`\n${result.activation[0].toUpperCase()}${result.activation.slice(1)}.\n`);
	return 0;
}

export async function runScore(args: string[]): Promise<number> {
	const { values } = parseArgs({
		args,
		options: { model: { type: 'string' }, data: { type: 'string' }, store: { type: 'string' }, version: { type: 'string' }, explain: { type: 'boolean', default: false } },
		strict: true,
	});
	if (!values.model || !values.data) throw new NudgeError('INVALID_INPUT', `score needs --model NAME and --data FILE\n\nUsage:\n${SCORE_USAGE}`);
	const version = int('version', values.version);
	const name = values.model;
	const loaded = await withStore(values.store, async (store) => {
		if (version === undefined) return activeModel(store, name);
		const record = await store.getModelVersion(name, version);
		return record && { version, model: deserializeModel(record.body) };
	}, { existing: true });
	if (!loaded) throw new NudgeError('INVALID_INPUT', version === undefined ? `Model "${name}" has no active version: train one with --activate, or activate one` : `Model "${name}" has no version ${version}`);
	const table = readTable(values.data);
	const out: string[] = [];
	if (values.explain) {
		tableRecords(table).forEach((record, row) => out.push(JSON.stringify({ row: row + 1, ...scoreRecord(loaded.model, record) })));
	} else {
		predictTable(loaded.model, table).forEach((p, row) => {
			const value = Math.round(p * 1000) / 10;
			out.push(JSON.stringify({ row: row + 1, probability: p, value, tier: tierOf(value, DEFAULT_TIERS) }));
		});
	}
	process.stdout.write(`${out.join('\n')}\n`);
	process.stderr.write(`Scored ${table.rows.length} rows with ${name} v${loaded.version}.\n`);
	return 0;
}

export async function runActivate(args: string[], rollback: boolean): Promise<number> {
	const { values } = parseArgs({
		args,
		options: { model: { type: 'string' }, version: { type: 'string' }, store: { type: 'string' }, note: { type: 'string' } },
		strict: true,
	});
	const version = int('version', values.version);
	if (!values.model || (!rollback && version === undefined)) throw new NudgeError('INVALID_INPUT', `${rollback ? 'rollback needs --model NAME' : 'activate needs --model NAME and --version N'}\n\nUsage:\n${ACTIVATE_USAGE}`);
	const name = values.model;
	const info = await withStore(values.store, (store) => (rollback ? rollbackModel(store, name, { note: values.note }) : activateModel(store, name, version!, { note: values.note })), { existing: true });
	process.stdout.write(`${info.name} v${info.version} is now active.\n`);
	return 0;
}

export async function runImport(args: string[]): Promise<number> {
	const { values } = parseArgs({
		args,
		options: { model: { type: 'string' }, file: { type: 'string' }, store: { type: 'string' }, activate: { type: 'boolean', default: false } },
		strict: true,
	});
	if (!values.model || !values.file) throw new NudgeError('INVALID_INPUT', `import needs --model NAME and --file MODEL.json\n\nUsage:\n${IMPORT_USAGE}`);
	const [name, file] = [values.model, values.file];
	let json: string;
	try {
		json = readFileSync(file, 'utf8');
	} catch (error) {
		throw new NudgeError('INVALID_INPUT', `Cannot read the model file ${file}: ${(error as Error).message}`);
	}
	const version = await withStore(values.store, async (store) => {
		const v = await importModel(store, name, json);
		if (values.activate) await activateModel(store, name, v, { note: `imported from ${file}` });
		return v;
	});
	process.stdout.write(`Stored as ${name} v${version}${values.activate ? ' and activated' : ''}.\n`);
	return 0;
}
