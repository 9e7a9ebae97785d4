import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { runJourney } from '../engine/journeys/journey';
import { DEFAULT_POLICY } from '../engine/policy/defaultPolicy';
import { createEngine } from '../engine/registry';
import { decisionOfRow, DECISION_COLUMNS, type DecisionRow } from '../engine/store/decisionRow';
import { event } from './decide';
import { fmt, print } from './stats';

/**
 * Bytes on disk per logged decision and per stored profile on the SQLite store: the nurture journey (dry-run
 * send) over 2,000 contacts, then the file is checkpointed and vacuumed and SQLite's own page accounting
 * (the dbstat table) splits it by table and index. Issue 18's target: at most 1 KB per logged decision and per
 * stored profile.
 */
const DECISIONS = Number(process.env.BENCH_SIZE_DECISIONS ?? 20_000);
/** bench/decide's stream of events, over its 2,000 contacts. */
const CONTACTS = 2_000;
const TARGET = 1024;

export async function benchSize(): Promise<void> {
	const dir = mkdtempSync(join(tmpdir(), 'nudge-size-'));
	const file = join(dir, 'size.db');
	const engine = createEngine({ store: `sqlite:${file}`, policy: DEFAULT_POLICY });
	let next = 0;
	await Promise.all(
		Array.from({ length: 64 }, async () => {
			while (next < DECISIONS) await runJourney(engine, 'nurture', event(next++), { dryRun: true });
		}),
	);
	await engine.close();
	const db = new DatabaseSync(file);
	db.exec('PRAGMA wal_checkpoint(TRUNCATE); VACUUM;');
	const pages = db.prepare('SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name').all() as { name: string; bytes: number }[];
	const bytes = (match: (name: string) => boolean) => pages.filter((p) => match(p.name)).reduce((sum, p) => sum + Number(p.bytes), 0);
	const body = db.prepare('SELECT AVG(length(body)) AS decision, (SELECT AVG(length(body)) FROM profiles) AS profile FROM decisions').get() as { decision: number; profile: number };
	// What the bodies read back as: the decisions as JSON (the stored form leaves out the row's columns and repetition).
	let json = 0;
	for (const row of db.prepare(`SELECT ${DECISION_COLUMNS} FROM decisions`).iterate() as Iterable<DecisionRow>) json += JSON.stringify(decisionOfRow(row)).length;
	const size = statSync(file).size;
	db.close();
	rmSync(dir, { recursive: true, force: true });
	const perDecision = (n: number) => `${fmt(n / DECISIONS, 0).padStart(6)} B`;
	const row = bytes((n) => n === 'decisions') / DECISIONS;
	const indexes = bytes((n) => n.startsWith('decisions_')) / DECISIONS;
	const profile = bytes((n) => n === 'profiles') / CONTACTS;
	const against = (n: number) => `${fmt(n, 0)} B of ${fmt(TARGET, 0)}: ${n <= TARGET ? 'met' : 'not met'}`;
	print(`bench/size: SQLite bytes on disk after ${fmt(DECISIONS, 0)} decisions over ${fmt(CONTACTS, 0)} contacts (nurture journey, dry run)`);
	print(`  per decision, decisions table       ${perDecision(row * DECISIONS)}   (stored body ${fmt(body.decision, 0)} characters on average; as JSON ${fmt(json / DECISIONS, 0)})`);
	print(`  per decision, its indexes           ${perDecision(indexes * DECISIONS)}`);
	print(`  per decision, console facts + indexes ${perDecision(bytes((n) => n.startsWith('decision_facts')))}`);
	print(`  per decision, whole file            ${perDecision(size)}`);
	print(`  per profile, profiles table         ${fmt(profile, 0).padStart(6)} B   (JSON body ${fmt(body.profile, 0)} characters on average)`);
	print(`  target ≤ 1 KB (issue 18): a logged decision's row ${against(row)}; with its indexes ${against(row + indexes)}; a profile ${against(profile)}`);
}

if (require.main === module) {
	benchSize().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
