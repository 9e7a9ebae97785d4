import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of other processes on this machine, from Linux's /proc/<pid>/stat: what the benchmarks
 * charge to PostgreSQL and to the sink, which `process.cpuUsage` cannot see. Undefined where /proc
 * does not show the process (another OS, a remote server).
 */
/** /proc counts CPU time in USER_HZ ticks, which Linux fixes at 100 per second for user space. */
const TICKS_PER_SECOND = 100;

/** Fields after the `(comm)`, which may itself hold spaces: [0] is state, [1] ppid, [11..14] utime stime cutime cstime. */
function statFields(pid: number): string[] | undefined {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
		return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
	} catch {
		return undefined;
	}
}

/** CPU ms a process has used, its own (`self`) or with its reaped children too (`tree`). */
function cpuMs(fields: string[], withChildren: boolean): number {
	const ticks = Number(fields[11]) + Number(fields[12]) + (withChildren ? Number(fields[13]) + Number(fields[14]) : 0);
	return (ticks * 1000) / TICKS_PER_SECOND;
}

/** CPU ms one process has used so far (user + system). */
export function processCpuMs(pid: number): number | undefined {
	const fields = statFields(pid);
	return fields && cpuMs(fields, false);
}

/** The parent of a process (e.g. the postmaster of a PostgreSQL backend). */
export function parentPid(pid: number): number | undefined {
	const fields = statFields(pid);
	return fields && Number(fields[1]);
}

/**
 * CPU ms a process and all its children have used so far, including children that already exited
 * (the kernel adds a reaped child's time to its parent's): for PostgreSQL's postmaster, every backend
 * — connections opened and closed during a run are counted — and the WAL writer and checkpointer.
 */
export function processTreeCpuMs(pid: number): number | undefined {
	// A child reaped between reading the parent and reading the children would be counted nowhere: read
	// again until the parent's reaped-children time is the same before and after the children.
	for (let attempt = 0; ; attempt++) {
		const own = statFields(pid);
		if (!own) return undefined;
		let total = cpuMs(own, true);
		for (const entry of readdirSync('/proc')) {
			if (!/^\d+$/.test(entry)) continue;
			const fields = statFields(Number(entry));
			if (fields && Number(fields[1]) === pid) total += cpuMs(fields, true);
		}
		const again = statFields(pid);
		if (!again || attempt >= 20 || cpuMs(again, true) - cpuMs(again, false) === cpuMs(own, true) - cpuMs(own, false)) return total;
	}
}
