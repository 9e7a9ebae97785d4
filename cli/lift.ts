import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Outcome } from '../engine/audit/schema';
import { formatLift, joinJsonl, LiftOptions, liftReport, LiftRow } from '../engine/decide/lift';
import { parseConsoleParams } from '../engine/audit/queries';
import { Engine } from '../engine/engine';
import { NudgeError } from '../engine/errors';
import { requireInputFile } from './inputFile';
import { openExistingStore } from './storeFile';

export const LIFT_USAGE = `  lift [--store PATH | --decisions FILE.jsonl [--outcomes FILE.jsonl]] [--journey NAME] [--from ISO]
       [--to ISO] [--conversion conversion,revenue] [--min-sample 100] [--json]
      Lift per journey and arm: conversion rate of treated vs holdout decisions, absolute lift (95%
      Newcombe interval) and relative lift (95% Katz log interval), with sample sizes and a warning when
      a sample is too small. The holdout assigns contacts, so the intervals and the warning count them:
      many decisions of a few contacts are a few observations. A decision converted when it has an outcome
      of a type its journey counts (policy journeys.<id>.conversion; conversion alone by default);
      --conversion overrides that for all.
      Reads the decision log of --store, or decision records one JSON per line (the log's bodies,
      nudge export or nudge replay --out) joined with outcome lines {"decisionId","type","outcomeId"}.
`;

const lines = (option: string, what: string, file: string) => {
	requireInputFile(option, what, file);
	return readFileSync(file, 'utf8').split('\n');
};

export async function runLift(args: string[]): Promise<number> {
	const { values } = parseArgs({
		args,
		options: {
			store: { type: 'string' },
			decisions: { type: 'string' },
			outcomes: { type: 'string' },
			journey: { type: 'string' },
			from: { type: 'string' },
			to: { type: 'string' },
			conversion: { type: 'string' },
			'min-sample': { type: 'string' },
			json: { type: 'boolean', default: false },
		},
		strict: true,
	});
	if (values.store && values.decisions) throw new NudgeError('INVALID_INPUT', 'give --store or --decisions, not both');
	if (values.outcomes && !values.decisions) throw new NudgeError('INVALID_INPUT', '--outcomes goes with --decisions (the store already holds its outcomes)');
	const minSample = values['min-sample'] === undefined ? undefined : Number(values['min-sample']);
	if (minSample !== undefined && !(Number.isInteger(minSample) && minSample >= 1)) throw new NudgeError('INVALID_INPUT', `--min-sample must be a whole number of at least 1, not "${values['min-sample']}"`);
	const options: LiftOptions = { minSample, conversion: values.conversion?.split(',').map((s) => s.trim() as Outcome['type']) };
	// Checked as the console's and export's filters: a bad date, or --from not before --to, is an error, not an empty report.
	const { filter } = parseConsoleParams({ journey: values.journey, from: values.from, to: values.to });
	const query = { journey: filter.journey, from: filter.from, to: filter.to };
	let rows: LiftRow[];
	if (values.decisions) {
		const { decisions, unmatchedOutcomes } = joinJsonl(lines('--decisions', 'Decisions file', values.decisions), values.outcomes ? lines('--outcomes', 'Outcomes file', values.outcomes) : []);
		if (unmatchedOutcomes) process.stderr.write(`nudge lift: ${unmatchedOutcomes} outcome(s) name decisions not in ${values.decisions}; they are not counted\n`);
		const inRange = decisions.filter((d) => (!query.journey || d.journey === query.journey) && (!query.from || d.createdAt >= query.from) && (!query.to || d.createdAt < query.to));
		rows = liftReport(inRange, options);
	} else {
		const engine = new Engine({ store: await openExistingStore(values.store) });
		try {
			rows = await engine.lift(query, options);
		} finally {
			await engine.close();
		}
	}
	process.stdout.write(values.json ? `${JSON.stringify(rows, null, 2)}\n` : formatLift(rows));
	return 0;
}
