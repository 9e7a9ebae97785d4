import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { runJourney } from '../engine/journeys/journey';
import { DEFAULT_POLICY } from '../engine/policy/defaultPolicy';
import { createEngine } from '../engine/registry';
import { event } from './decide';
import { fmt, print } from './stats';

/**
 * Bytes on disk per logged decision and per stored profile on the SQLite store: the nurture journey (dry-run
 * send) over 2,000 contacts, then the file is checkpointed and vacuumed and SQLite's own page accounting
 * (the dbstat table) splits it by table and index.
 */
const DECISIONS = Number(process.env.BENCH_SIZE_DECISIONS ?? 20_000);
/** bench/decide's stream of events, over its 2,000 contacts. */
const CONTACTS = 2_000;

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
	const size = statSync(file).size;
	db.close();
	rmSync(dir, { recursive: true, force: true });
	const perDecision = (n: number) => `${fmt(n / DECISIONS, 0).padStart(6)} B`;
	print(`bench/size: SQLite bytes on disk after ${fmt(DECISIONS, 0)} decisions over ${fmt(CONTACTS, 0)} contacts (nurture journey, dry run)`);
	print(`  per decision, decisions table       ${perDecision(bytes((n) => n === 'decisions'))}   (JSON body ${fmt(body.decision, 0)} characters on average)`);
	print(`  per decision, its indexes           ${perDecision(bytes((n) => n.startsWith('decisions_')))}`);
	print(`  per decision, console facts + indexes ${perDecision(bytes((n) => n.startsWith('decision_facts')))}`);
	print(`  per decision, whole file            ${perDecision(size)}`);
	print(`  per profile, profiles table         ${fmt(bytes((n) => n === 'profiles') / CONTACTS, 0).padStart(6)} B   (JSON body ${fmt(body.profile, 0)} characters on average)`);
}

if (require.main === module) {
	benchSize().catch((error) => {
		process.stderr.write(`${error.stack ?? error}\n`);
		process.exit(1);
	});
}
