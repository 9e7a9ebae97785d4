import { parseArgs } from 'node:util';
import { NudgeError } from '../engine/errors';
import { outcomeEventNames } from '../engine/journeys/journey';
import { loadPolicyFile } from '../engine/policy/load';
import { labelsOf } from '../engine/scoring/features';
import { OUTCOME_LABEL, TREATED_COLUMN, upliftTrainingTable } from '../engine/scoring/outcomes';
import { readTable, Table } from '../engine/scoring/table';
import { UpliftEvaluation, UpliftModel, UpliftOptions, checkArms, evaluateUplift, predictUpliftTable, storedUplift, trainAndSaveUplift, trainUplift, treatmentOf } from '../engine/scoring/uplift';
import type { LearnerKind } from '../engine/scoring/uplift';
import type { Store } from '../engine/store/types';
import { int } from './models';
import { withStore } from './storeFile';
import { DEFAULT_STORE_URL } from '../engine/store/open';
import { withModelOut } from './outFile';

export const UPLIFT_USAGE = `  uplift train (--data FILE --treatment COLUMN --outcome COLUMN [--positive VALUE]
               | --journey NAME [--policy FILE])
         [--name NAME] [--store PATH] [--activate] [--exclude A,B] [--learner t-learner|transformed-outcome]
         [--trees 30] [--seed 42] [--out MODEL.json] [--json]
  uplift evaluate (--data FILE --treatment COLUMN --outcome COLUMN [--positive VALUE]
                  | --journey NAME [--policy FILE])
         [--model NAME [--version N] | --score COLUMN] [--store PATH] [--json]
         [--exclude A,B] [--learner t-learner|transformed-outcome] [--trees 30] [--seed 42]
      Uplift: how much a message raises each contact's chance to convert, learned from messaged
      (treated) and held-out (control) contacts assigned at random. Rows come from a CSV/JSON export
      with a treatment column (1/0, true/false, yes/no, treated/control) and an outcome column, or from
      the decisions and outcomes of a journey in --store (its holdout is the control; --policy, the engine's
      policy, leaves every event its journeys list as outcomes out of the features). train fits a
      T-learner and a transformed-outcome forest, keeps the one with the better out-of-bag Qini, evaluates
      it on 30% held-out rows and stores it as a new version of --name (default: the journey's name, or
      "uplift"). evaluate judges a stored model (--model) or a score column of the file (--score) on all
      rows, or, with neither, trains on 70% (with train's --exclude, --learner, --trees, --seed) and judges
      the rest without storing anything. Figures: Qini coefficient and AUUC, uplift in the top
      10/20/30%, with 95% bootstrap intervals, against random targeting and treat-all. A model that does
      not beat random is said to, and the engine then uses the average effect.
`;

const pp = (v: number) => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(2)} pp`;
const num = (v: number) => v.toFixed(4);

/** The evaluation as a marketer reads it. */
export function formatUpliftEvaluation(e: UpliftEvaluation, heading: string): string {
	const ci = (i: { low: number; high: number }, f: (v: number) => string) => `(95% ${f(i.low)} to ${f(i.high)})`;
	const lines = [
		heading,
		`  Average effect (treat-all)  ${pp(e.averageEffect.estimate)} ${ci(e.averageEffect, pp)}   ${e.treated} treated, ${e.control} held out`,
		`  Qini coefficient            ${num(e.qini.estimate)} ${ci(e.qini, num)}   random targeting = 0`,
		`  AUUC                        ${num(e.auuc.estimate)} ${ci(e.auuc, num)}   random targeting = ${num(e.auuc.random)}`,
		'',
		'Targeting the top k by predicted uplift (incremental conversions per 1,000 contacts of the population):',
		...e.atK.map((k) => {
			const share = k.treatAll > 0 ? `, ${Math.round((100 * k.incremental.estimate) / k.treatAll)}% of treat-all's` : '';
			const ratio = k.random > 0 ? `, ${(k.incremental.estimate / k.random).toFixed(2)}× a random ${k.k * 100}%` : '';
			return `  top ${String(k.k * 100).padStart(2)}%: uplift ${pp(k.uplift.estimate)} ${ci(k.uplift, pp)}; ${(k.incremental.estimate * 1000).toFixed(1)} ${ci(k.incremental, (v) => (v * 1000).toFixed(1))} vs random ${(k.random * 1000).toFixed(1)}, treat-all ${(k.treatAll * 1000).toFixed(1)}${ratio}${share}`;
		}),
		'',
		`The model ${e.verdict}.`,
	];
	return `${lines.join('\n')}\n`;
}

interface Rows {
	table: Table;
	treatment: string;
	outcome: string;
	positive?: string;
	/** What the features may hold that they should not, said with the report. */
	note?: string;
}

/**
 * The training rows: a file with its two columns, or a journey's decisions in the store. From a journey, the policy's
 * outcome events are left out of the features (an open exists only for messaged contacts, so it would predict the arm):
 * without --policy only the events the log recorded as outcomes are known, and the report says so.
 */
async function rowsOf(values: Record<string, string | boolean | undefined>, store: () => Store, command: string): Promise<Rows> {
	const { data, journey, treatment, outcome, positive, policy } = values as Record<string, string | undefined>;
	if (data && journey) throw new NudgeError('INVALID_INPUT', 'give --data FILE or --journey NAME (rows from the store), not both');
	if (policy && !journey) throw new NudgeError('INVALID_INPUT', "--policy goes with --journey (it names the journeys' outcome events, never features); leave a file's columns out with --exclude");
	if (journey) {
		const loaded = policy ? loadPolicyFile(policy).policy : undefined;
		// Another journey's policy would leave this journey's opens among the features, with nothing said.
		if (loaded && !Object.prototype.hasOwnProperty.call(loaded.journeys, journey)) {
			throw new NudgeError('INVALID_INPUT', `--policy ${policy} has no journey "${journey}" (journeys: ${Object.keys(loaded.journeys).join(', ') || 'none'}): pass the policy the engine decides journey "${journey}" with`);
		}
		const outcomeEvents = loaded ? outcomeEventNames(loaded) : undefined;
		const table = await upliftTrainingTable(store(), { journey, outcomeEvents });
		const left = (table.skipped ?? []).map((s) => s.name);
		const note = policy
			? undefined
			: `Without --policy only the events the log recorded as journey outcomes are left out of the features (${left.length ? left.join(', ') : 'none'}): an open or click your policy lists under journeys.<id>.outcomes that no decision recorded would predict the arm, not the uplift. Pass --policy FILE (the engine's policy) to leave out every one.`;
		return { table, treatment: TREATED_COLUMN, outcome: OUTCOME_LABEL, positive: '1', note };
	}
	if (!data || !treatment || !outcome) throw new NudgeError('INVALID_INPUT', `uplift ${command} needs --data FILE --treatment COLUMN --outcome COLUMN, or --journey NAME with --store\n\nUsage:\n${UPLIFT_USAGE}`);
	return { table: readTable(data), treatment, outcome, positive };
}

const OPTIONS = {
	data: { type: 'string' },
	journey: { type: 'string' },
	treatment: { type: 'string' },
	outcome: { type: 'string' },
	positive: { type: 'string' },
	policy: { type: 'string' },
	store: { type: 'string' },
	json: { type: 'boolean', default: false },
} as const;

export async function runUplift(args: string[]): Promise<number> {
	const [sub, ...rest] = args;
	if (sub === 'train') return train(rest);
	if (sub === 'evaluate') return evaluate(rest);
	throw new NudgeError('INVALID_INPUT', `uplift needs train or evaluate${sub ? `, not "${sub}"` : ''}\n\nUsage:\n${UPLIFT_USAGE}`);
}

function upliftOptions(rows: Rows, values: Record<string, string | boolean | undefined>): UpliftOptions {
	const learner = values.learner as string | undefined;
	if (learner !== undefined && learner !== 't-learner' && learner !== 'transformed-outcome') throw new NudgeError('INVALID_INPUT', `--learner must be t-learner or transformed-outcome, not "${learner}"`);
	const exclude = typeof values.exclude === 'string' ? values.exclude.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
	return { treatment: rows.treatment, outcome: rows.outcome, positive: rows.positive, exclude, learner: learner as LearnerKind | undefined, trees: int('trees', values.trees as string), seed: int('seed', values.seed as string, 0) };
}

function report(model: UpliftModel, json: boolean, note?: string): string {
	if (json) return `${JSON.stringify({ summary: model.summary, fallback: model.fallback, averageEffect: model.averageEffect, evaluation: model.evaluation, ...(note ? { note } : {}) })}\n`;
	const s = model.summary;
	const chosen = s.selection.map((c) => `${c.learner} ${num(c.oobQini)}`).join(', ');
	const heading = `Uplift model: ${s.learner} (out-of-bag Qini: ${chosen}), trained on ${s.trainRows} rows in ${(s.trainMs / 1000).toFixed(1)} s.\nEvaluated on ${s.testRows} held-out rows (a random 30%, stratified by arm and outcome):`;
	return `${formatUpliftEvaluation(model.evaluation, heading)}${note ? `\n${note}\n` : ''}`;
}

async function train(args: string[]): Promise<number> {
	const { values } = parseArgs({
		args,
		options: { ...OPTIONS, name: { type: 'string' }, activate: { type: 'boolean', default: false }, exclude: { type: 'string' }, learner: { type: 'string' }, trees: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' } },
		strict: true,
	});
	const name = values.name ?? values.journey ?? 'uplift';
	// Training from a journey reads the store's decisions: it must be the store the journey wrote.
	const { result, note } = await withModelOut(values.out, [values.store ?? DEFAULT_STORE_URL, values.data as string | undefined, values.policy as string | undefined], (beforeStore) =>
		withStore(values.store, async (store) => {
			const rows = await rowsOf(values, () => store, 'train');
			return { result: await trainAndSaveUplift(store, name, rows.table, upliftOptions(rows, values), { activate: values.activate, beforeStore }), note: rows.note };
		}, { existing: !!values.journey }),
	);
	process.stdout.write(report(result.model, values.json, note));
	if (!values.json) process.stdout.write(`\n${result.message[0].toUpperCase()}${result.message.slice(1)}.\n`);
	return 0;
}

async function evaluate(args: string[]): Promise<number> {
	const { values } = parseArgs({
		args,
		options: { ...OPTIONS, model: { type: 'string' }, version: { type: 'string' }, score: { type: 'string' }, exclude: { type: 'string' }, learner: { type: 'string' }, trees: { type: 'string' }, seed: { type: 'string' } },
		strict: true,
	});
	if (values.model && values.score) throw new NudgeError('INVALID_INPUT', 'give --model NAME or --score COLUMN, not both');
	const needsStore = !!(values.journey || values.model);
	const run = async (store?: Store) => {
		const rows = await rowsOf(values, () => store!, 'evaluate');
		if (!values.model && !values.score) return report(trainUplift(rows.table, upliftOptions(rows, values)), values.json, rows.note);
		const t = treatmentOf(rows.table, rows.treatment);
		const y = labelsOf(rows.table, { target: rows.outcome, positive: rows.positive }).y;
		checkArms(t, y, rows.treatment, 'judge');
		let score: Float64Array;
		let heading: string;
		if (values.model) {
			const version = int('version', values.version);
			const found = await storedUplift(store!, values.model, version);
			if (!found) throw new NudgeError('INVALID_INPUT', version === undefined ? `Uplift model "${values.model}" has no active version: train one with --activate` : `Uplift model "${values.model}" has no version ${version}`);
			score = predictUpliftTable(found.model, rows.table);
			heading = `${values.model} v${found.version} on all ${rows.table.rows.length} rows (honest only on rows it was not trained on; its own held-out figures are in nudge uplift train's report):`;
		} else {
			const c = rows.table.columns.indexOf(values.score!);
			if (c < 0) throw new NudgeError('INVALID_INPUT', `The data has no score column "${values.score}"`);
			score = Float64Array.from(rows.table.rows, (row, i) => {
				const v = Number(row[c]);
				if (row[c] === '' || row[c] === undefined || !Number.isFinite(v)) throw new NudgeError('INVALID_INPUT', `Row ${i + 1} of the score column "${values.score}" is "${row[c] ?? ''}", not a number`);
				return v;
			});
			heading = `The score column "${values.score}" on all ${rows.table.rows.length} rows:`;
		}
		const evaluation = evaluateUplift(score, t, y);
		return values.json ? `${JSON.stringify({ evaluation })}\n` : formatUpliftEvaluation(evaluation, heading);
	};
	process.stdout.write(needsStore ? await withStore(values.store, run, { existing: true }) : await run());
	return 0;
}
