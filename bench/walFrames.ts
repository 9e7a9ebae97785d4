import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { runJourney } from '../engine/journeys/journey';
import { createEngine } from '../engine/registry';
import { event, policy } from './decide';
import { startSinkProcess } from './sink';
import { fmt, print } from './stats';

/**
 * Pages the SQLite store writes to its WAL per decision, by table and index: bench/decide's stream with the HTTP send,
 * one decision at a time and 64 in flight. Every commit writes each page it changed as a WAL frame (two write calls),
 * so frames are what a commit costs; one at a time the count is the same run after run, whatever else the machine
 * does (64 in flight it follows how group commits happen to gather, about ±10%). A
 * second connection holds a read transaction from the start of the measured decisions, so no checkpoint can start
 * the WAL over: the frames since then are read back from the file and their pages mapped with `dbstat`. The WAL's
 * current frames are those whose salts match its header's (one that started over writes from its beginning again,
 * over frames of the generation before, so the file's length is not where it writes).
 * `node dist/bench/walFrames.js` (BENCH_WAL_ONE=3000, BENCH_WAL_MANY=12000).
 */
const FRAME_HEADER = 24;
const WAL_HEADER = 32;

/** The WAL file, its salts and how many frames of the current generation it holds (those carrying its header's salts). */
function walFrames(path: string, pageSize: number): { wal: Buffer; salts: string; frames: number } {
	const wal = readFileSync(`${path}-wal`);
	const salts = wal.subarray(16, 24).toString('hex');
	const frame = FRAME_HEADER + pageSize;
	let frames = 0;
	while (WAL_HEADER + (frames + 1) * frame <= wal.length && wal.subarray(WAL_HEADER + frames * frame + 8, WAL_HEADER + frames * frame + 16).toString('hex') === salts) frames++;
	return { wal, salts, frames };
}

async function framesPerDecision(sinkUrl: string, decisions: number, inFlight: number): Promise<{ perDecision: number; byName: [string, number][] }> {
	const dir = mkdtempSync(join(tmpdir(), 'nudge-wal-'));
	const path = join(dir, 'bench.db');
	const engine = createEngine({ store: `sqlite:${path}`, policy });
	const target = { url: sinkUrl, maxAttempts: 1 };
	for (let i = 0; i < 2000; i++) await runJourney(engine, 'nurture', { ...event(i), eventId: `warm-${i}` }, target);
	// Facts waiting from the warm-up are written by then (a second at most), before the mark.
	await new Promise((resolve) => setTimeout(resolve, 1_200));
	const reader = new DatabaseSync(path, { readOnly: true });
	reader.exec('BEGIN');
	const pageSize = Number((reader.prepare('PRAGMA page_size').get() as { page_size: number }).page_size);
	reader.prepare('SELECT count(*) FROM sqlite_schema').get();
	const frame = FRAME_HEADER + pageSize;
	const mark = walFrames(path, pageSize);
	// With no frame before it, the reader would not hold the WAL, and a checkpoint could start it over.
	if (!mark.frames) throw new Error('bench/walFrames: the WAL is empty at the mark');
	const first = mark.frames;
	let next = 0;
	await Promise.all(
		Array.from({ length: inFlight }, async () => {
			while (next < decisions) {
				const i = next++;
				await runJourney(engine, 'nurture', { ...event(2000 + i), eventId: `wal-${i}` }, target);
			}
		}),
	);
	// The last facts that wait are written with the store's close.
	await engine.close();
	const { wal, salts, frames: last } = walFrames(path, pageSize);
	if (salts !== mark.salts) throw new Error('bench/walFrames: the WAL started over during the measured decisions');
	reader.exec('COMMIT');
	const owners = new Map<number, string>();
	for (const row of reader.prepare('SELECT name, pageno FROM dbstat').all() as { name: string; pageno: number }[]) owners.set(Number(row.pageno), row.name);
	reader.close();
	const counts = new Map<string, number>();
	for (let f = first; f < last; f++) {
		const name = owners.get(wal.readUInt32BE(WAL_HEADER + f * frame)) ?? '(free pages)';
		counts.set(name, (counts.get(name) ?? 0) + 1);
	}
	rmSync(dir, { recursive: true, force: true });
	const byName = [...counts].map(([name, n]): [string, number] => [name, n / decisions]).sort((a, b) => b[1] - a[1]);
	return { perDecision: (last - first) / decisions, byName };
}

export async function benchWalFrames(): Promise<void> {
	const sink = await startSinkProcess();
	try {
		const runs: [string, number, number][] = [
			['one at a time', Number(process.env.BENCH_WAL_ONE ?? 3_000), 1],
			['64 in flight', Number(process.env.BENCH_WAL_MANY ?? 12_000), 64],
		];
		print('bench/walFrames: WAL frames (pages written) per decision on SQLite, HTTP send, bench/decide stream');
		for (const [label, decisions, inFlight] of runs) {
			const { perDecision, byName } = await framesPerDecision(sink.url, decisions, inFlight);
			print(`  ${label.padEnd(14)} ${fmt(perDecision)} per decision (${fmt(decisions, 0)} decisions); by table or index:`);
			print(`    ${byName.slice(0, 12).map(([name, n]) => `${name} ${fmt(n)}`).join(', ')}`);
		}
	} finally {
		await sink.close();
	}
}

if (require.main === module) {
	benchWalFrames().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
