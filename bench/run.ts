import { benchAgents } from './agents';
import { benchAlloc } from './alloc';
import { benchBandit } from './bandit';
import { benchCapRow } from './capRow';
import { benchCaps } from './caps';
import { benchConsole } from './console';
import { benchDecide } from './decide';
import { benchExport } from './export';
import { benchFaults } from './faults';
import { benchIngestTrips } from './ingestTrips';
import { benchLoad } from './load';
import { benchRedact } from './redact';
import { benchRetention } from './retention';
import { benchScale } from './scale';
import { benchScoring } from './scoring';
import { benchSendClient } from './sendClient';
import { benchSize } from './size';
import { benchTimerTake } from './timerTake';
import { benchUplift } from './uplift';
import { benchWalFrames } from './walFrames';

/** `npm run bench`: every benchmark, one after another, in this process. */
async function main(): Promise<void> {
	await benchDecide();
	process.stdout.write('\n');
	await benchWalFrames();
	process.stdout.write('\n');
	await benchAlloc();
	process.stdout.write('\n');
	await benchSendClient();
	process.stdout.write('\n');
	await benchCaps();
	process.stdout.write('\n');
	benchCapRow();
	process.stdout.write('\n');
	await benchScoring();
	process.stdout.write('\n');
	await benchUplift();
	process.stdout.write('\n');
	await benchScale();
	process.stdout.write('\n');
	await benchIngestTrips();
	process.stdout.write('\n');
	await benchFaults();
	process.stdout.write('\n');
	await benchBandit();
	process.stdout.write('\n');
	await benchConsole();
	process.stdout.write('\n');
	await benchRetention();
	process.stdout.write('\n');
	await benchExport();
	process.stdout.write('\n');
	await benchRedact();
	process.stdout.write('\n');
	await benchAgents();
	process.stdout.write('\n');
	await benchLoad();
	process.stdout.write('\n');
	await benchSize();
	process.stdout.write('\n');
	await benchTimerTake();
}

main().catch((error) => {
	process.stderr.write(`${error.stack ?? error}\n`);
	process.exit(1);
});
