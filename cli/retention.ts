import { parseArgs } from 'node:util';
import { loadPolicy, loadPolicyFile } from '../engine/policy/load';
import { formatRetention } from '../engine/privacy/retention';
import { withStoreEngine } from './contactArgs';

export const RETENTION_USAGE = `  retention [--store STORE] [--policy FILE.json] [--dry-run]
      Deletes what the policy's retention keeps no longer (default: decisions after 400 days, contacts
      not seen for 1095 days, frequency-cap history past the longest cap window, event ids past the
      de-duplication window), in batches, on any store. --dry-run deletes nothing and counts what
      would go. Give the policy your flows use (the default policy when absent). One run at a time per
      store: another one under way is skipped. Prints the report (JSON, counts only). The trigger nodes
      run it on their own when it is due (retention.auto, every retention.every: a day by default). See
      docs/privacy.md.
`;

export async function runRetentionCommand(args: string[]): Promise<number> {
	const { values } = parseArgs({ args, options: { store: { type: 'string' }, policy: { type: 'string' }, 'dry-run': { type: 'boolean' } }, strict: true });
	// The policy first: a bad one stops the command before the store is opened.
	const policy = values.policy ? loadPolicyFile(values.policy) : loadPolicy();
	const report = await withStoreEngine(values.store, (engine) => engine.runRetention({ dryRun: values['dry-run'] === true }), policy);
	process.stderr.write(`${formatRetention(report)}\n`);
	process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
	return 0;
}
