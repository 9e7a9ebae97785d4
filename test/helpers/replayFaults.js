// Preloaded (`node -r`) into the built CLI by tests to stage a crash or a later rerun:
// NUDGE_TEST_HANG_EVENT=<eventId>: storing that event's decision never returns (the test then kills the process),
//   after writing "hanging <eventId>" on stderr, so the event is claimed and its decision never stored.
// NUDGE_TEST_CLOCK_AHEAD_MS=<ms>: the wall clock (Date.now) runs that far ahead, as in a rerun started later.
const path = require('node:path');

const ahead = Number(process.env.NUDGE_TEST_CLOCK_AHEAD_MS ?? 0);
if (ahead) {
	const now = Date.now;
	Date.now = () => now() + ahead;
}

const hangAt = process.env.NUDGE_TEST_HANG_EVENT;
if (hangAt) {
	const { SqliteStore } = require(path.join(__dirname, '../../dist/engine/store/sqlite.js'));
	const putDecision = SqliteStore.prototype.putDecision;
	SqliteStore.prototype.putDecision = function (decision) {
		if (decision.event.eventId !== hangAt) return putDecision.call(this, decision);
		// Said once the claim and the profile written so far are committed, as a process dying here leaves them.
		void this.sync().then(() => process.stderr.write(`hanging ${hangAt}\n`));
		// Kept alive until the test kills it (a promise that never settles holds nothing: node would exit at once).
		setInterval(() => undefined, 60_000);
		return new Promise(() => undefined);
	};
}
