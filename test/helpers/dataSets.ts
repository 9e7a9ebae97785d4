import { findDataDir } from '../../bench/datasets';

/**
 * `describe` for tests on the public data sets (../shared/data beside the repository, or NUDGE_DATA_DIR).
 * Without them: skipped with a loud message on a user's machine, a failure under CI (CI=true).
 */
export function describeWithData(): jest.Describe {
	if (findDataDir()) return describe;
	const message = 'The public data sets (../shared/data beside the repository, or NUDGE_DATA_DIR) are not on this machine';
	if (process.env.CI === 'true') throw new Error(`${message}: CI must run the data-set tests`);
	process.stderr.write(`\n*** SKIPPED: ${message}; the scoring tests on real data did not run. ***\n\n`);
	return describe.skip;
}
