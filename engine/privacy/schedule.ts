import type { EngineContext } from '../usecases/context';
import { formatRetention, RetentionReport, runRetention, runRetentionIfDue } from './retention';

/** How often one process asks its store whether the retention job is due. */
const RETENTION_CHECK_MS = 10 * 60_000;

/** An engine's retention job: run on demand (`nudge retention`) or when due, from the trigger nodes' ticks. */
export class RetentionSchedule {
	/** Epoch ms before which ifDue does not ask the store again (a trigger's tick costs nothing meanwhile). */
	private checkAt = 0;

	constructor(private readonly ctx: EngineContext) {}

	/** Deletes what the policy's `retention` keeps no longer (retention.ts). */
	run(options: { dryRun?: boolean } = {}): Promise<RetentionReport> {
		const { ctx } = this;
		return runRetention(ctx.store, ctx.policy, ctx.wallNow(), { ...options, exclusive: (run) => ctx.profileLock.run(run) });
	}

	/**
	 * Runs the job when it is due on this store (see runRetentionIfDue); this process asks the store at most once
	 * in RETENTION_CHECK_MS. Resolves with the report when it ran.
	 */
	ifDue(): Promise<RetentionReport | undefined> {
		const { ctx } = this;
		const now = ctx.wallNow();
		if (now.getTime() < this.checkAt) return Promise.resolve(undefined);
		this.checkAt = now.getTime() + RETENTION_CHECK_MS;
		return runRetentionIfDue(ctx.store, ctx.policy, now, (run) => ctx.profileLock.run(run));
	}

	/**
	 * ifDue for a trigger's tick, which must not wait for it: `log` gets the report's line (counts only) when the
	 * job ran, or the failure (the job runs again when next due; nothing is half-deleted, see retention.ts).
	 */
	startIfDue(log: (line: string, failed: boolean) => void): void {
		this.ifDue().then(
			(report) => report && log(formatRetention(report), false),
			(error: unknown) => log(`Retention failed (it runs again when next due): ${(error as Error).message}`, true),
		);
	}
}
