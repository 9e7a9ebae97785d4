/**
 * Refusals of callers not known yet (unsigned or badly signed requests, an engine not set up), written to the log once a
 * window at most with how many more there were: unauthenticated callers must not be able to flood the log. The count
 * of a window's other refusals is written when it ends, also when no refusal comes after it.
 */
export interface RefusalLog {
	refused(log: (text: string) => void, text: string): void;
	/** Drops a count still to be written (the node closes). */
	close(): void;
}

export function refusalLog(windowMs = 60_000): RefusalLog {
	let loggedAt = -Infinity;
	let unlogged = 0;
	let last: { log: (text: string) => void; text: string } | undefined;
	let flush: NodeJS.Timeout | undefined;
	const writeCount = () => {
		flush = undefined;
		if (!unlogged || !last) return;
		loggedAt = Date.now();
		last.log(`And ${unlogged} more request(s) refused in the minute before, the last: ${last.text}`);
		unlogged = 0;
	};
	return {
		refused(log, text) {
			const now = Date.now();
			if (now - loggedAt < windowMs) {
				unlogged++;
				last = { log, text };
				flush ??= setTimeout(writeCount, loggedAt + windowMs - now);
				flush.unref();
				return;
			}
			loggedAt = now;
			log(unlogged ? `${text} (and ${unlogged} more refused in the minute before)` : text);
			unlogged = 0;
		},
		close() {
			if (flush) clearTimeout(flush);
			flush = undefined;
		},
	};
}
