import { spawnSync } from 'node:child_process';
import { lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { seededRandom } from '../../engine/decide/sampling';
import { upliftView } from '../../engine/decide/upliftGate';
import { Engine } from '../../engine/engine';
import { loadPolicy } from '../../engine/policy/load';
import { profileById } from '../../engine/profiles/profiles';
import { encodeTable } from '../../engine/scoring/features';
import { predictForest } from '../../engine/scoring/forest';
import { TREATED_COLUMN, upliftTrainingTable } from '../../engine/scoring/outcomes';
import { UpliftModel, admitTop, deserializeUplift, serializeUplift, simulate, trainUplift, upliftMetaOf } from '../../engine/scoring/uplift';
import { activateModel } from '../../engine/scoring/versions';
import { SqliteStore } from '../../engine/store/sqlite';
import { tempDir, trackEvent } from '../helpers/fixtures';

/** These run the built CLI (`npm run build` first). */
const CLI = join(resolve(__dirname, '../..'), 'dist/cli/nudge.js');
const nudge = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const OPTIONS = { treatment: 'treatment', outcome: 'converted', replicates: 20 } as const;

describe('uplift: old model files, fractional and whole shares, --out and --policy, contacts in both arms', () => {
	test('a transformed-outcome model stored before predictions were kept within ±1 still loads (clamped), and its gate still uses the average effect', async () => {
		// A transformed-outcome model stored before predictions were kept within ±1 has cut-offs beyond (−1.58 here, 5% held
		// out): it loads with them clamped, and its gate still uses its average effect instead of admitting everyone.
		const s = simulate({ rows: 6000, seed: 5, treatShare: 0.95 });
		const m = trainUplift(s.table, { ...OPTIONS, learner: 'transformed-outcome', trees: 3, maxDepth: 8 });
		expect(m.fallback).toBe(true);
		const l = m.learner as Extract<UpliftModel['learner'], { kind: 'transformed-outcome' }>;
		// The cut-offs the code before b597a4b computed: percentiles of the unclamped predictions.
		const raw = Float64Array.from(predictForest(l.forest, encodeTable(s.table, m.spec)), (v) => l.low + (l.high - l.low) * v).sort().reverse();
		const cutoffs = Array.from({ length: 100 }, (_, k) => raw[Math.min(raw.length - 1, Math.ceil(((k + 1) / 100) * raw.length) - 1)]);
		expect(cutoffs[99]).toBeLessThan(-1);
		const { cutoffShares, ...stored } = JSON.parse(serializeUplift(m));
		expect(cutoffShares).toBeDefined();
		const old = JSON.stringify({ ...stored, cutoffs });
		expect(() => deserializeUplift(old)).not.toThrow();
		// At decision time: the gate should use the model's average effect, not admit everyone.
		const store = new SqliteStore(join(tempDir(), 'old.db'));
		try {
			const version = await store.saveModelVersion('old-uplift', new Date().toISOString(), upliftMetaOf(m), old);
			await activateModel(store, 'old-uplift', version);
			const engine = new Engine({ store, policy: loadPolicy({ channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } } }), random: seededRandom(1) });
			const d = await engine.decide(trackEvent('old@x.io', 'Cart Abandoned'), { journey: 'cart', target: { dryRun: true } });
			const view = await upliftView(store, { model: 'old-uplift', minUplift: 0.5 }, (await profileById(store, d.contactId))!);
			expect(view.note).not.toMatch(/could not be loaded/);
			expect(view.admitted).toBe(false);
			await engine.close();
		} finally {
			store.close();
		}
	});

	test('a fractional topPercent (1.5) keeps its share at a tie: about 1.5% of tied contacts, not 2%', () => {
		// A fractional topPercent keeps its own share among contacts tied at the cut-off of the nearest whole percent.
		const model = { cutoffs: Array(100).fill(0.05), cutoffShares: { above: Array(100).fill(0), at: Array(100).fill(1) } } as unknown as UpliftModel;
		let sent = 0;
		const n = 20_000;
		for (let i = 0; i < n; i++) if (admitTop(model, 1.5, 0.05, `c${i}@x.io`, 'cart-uplift').admitted) sent++;
		expect(sent / n).toBeGreaterThan(0.012);
		expect(sent / n).toBeLessThan(0.018);
	});

	describe('--out', () => {
		const dir = tempDir();
		const sim = simulate({ rows: 2000, seed: 3 });
		const csv = join(dir, 'uplift.csv');
		writeFileSync(csv, [sim.table.columns.join(','), ...sim.table.rows.map((r) => r.join(','))].join('\n'));
		const args = ['--data', csv, '--treatment', 'treatment', '--outcome', 'converted', '--trees', '3'];

		test('--out naming the store file itself is refused before training; the store is never replaced by the model file', () => {
			// An --out that is the store's own file is refused before anything is done: renamed over it, the model file would
			// replace the database.
			const db = join(dir, 'same.db');
			expect(nudge('uplift', 'train', ...args, '--store', db, '--name', 'cart', '--activate').status).toBe(0);
			const out = nudge('uplift', 'train', ...args, '--store', db, '--name', 'cart', '--activate', '--out', db);
			expect({ status: out.status, said: /--out .*same\.db is a file the command reads or keeps its data in/.test(out.stderr) }).toEqual({ status: 2, said: true });
			expect(readFileSync(db).subarray(0, 15).toString()).toBe('SQLite format 3');
		});

		test('--out through a symlink writes the file it points to, as it did before', () => {
			// An --out that is a symbolic link is written through (the file it names is replaced), as a shell's > does.
			const target = join(dir, 'shared-model.json');
			const link = join(dir, 'link.json');
			writeFileSync(target, 'old');
			symlinkSync(target, link);
			const out = nudge('uplift', 'train', ...args, '--store', join(dir, 'link.db'), '--name', 'cart', '--out', link);
			expect(out.status).toBe(0);
			expect(lstatSync(link).isSymbolicLink()).toBe(true);
			expect(JSON.parse(readFileSync(target, 'utf8')).format).toMatch(/^nudge-uplift\//);
		});
	});

	test('topPercent 100 sends to every contact, also one predicted below the lowest held-out prediction', () => {
		// The top 100% is everyone, also a contact predicted below every held-out row.
		const cutoffs = Array.from({ length: 100 }, (_, k) => 0.2 - k * 0.003);
		const model = { cutoffs, cutoffShares: { above: cutoffs.map((_, k) => k / 100), at: Array(100).fill(0.01) } } as unknown as UpliftModel;
		expect(admitTop(model, 100, cutoffs[99] - 0.01, 'low@x.io', 'cart-uplift').admitted).toBe(true);
	});

	test("a conversion reported by contact after a messaged contact was held out is not booked to the control arm", async () => {
		// An order reported by contact lands on the contact's latest decision: a contact messaged, then held out, is no row
		// of either arm, so the message's conversion is never the control arm's.
		const own = new SqliteStore(join(tempDir(), 'switch.db'));
		const base = { channelOrder: ['email'], channels: { email: { unknownConsent: 'allow' } } };
		const dry = { journey: 'cart', target: { dryRun: true } } as const;
		const at = (minute: string) => () => new Date(`2026-06-01T10:${minute}:00Z`);
		const before = new Engine({ store: own, policy: loadPolicy({ ...base, holdout: { journeys: { cart: 0.2 } } }), random: seededRandom(1), now: at('00') });
		const after = new Engine({ store: own, policy: loadPolicy({ ...base, holdout: { journeys: { cart: 0.5 } } }), random: seededRandom(1), now: at('01') });
		// A contact messaged once, so the rows are not empty.
		expect((await before.decide(trackEvent('steady@x.io', 'Cart Abandoned'), dry)).status).not.toBe('failed');
		let switched = false;
		for (let i = 0; i < 60 && !switched; i++) {
			const sent = await before.decide(trackEvent(`switch${i}@x.io`, 'Cart Abandoned'), dry);
			if (sent.reason === 'HOLDOUT') continue;
			const held = await after.decide(trackEvent(`switch${i}@x.io`, 'Cart Abandoned', { properties: { visit: 2 } }), dry);
			switched = held.reason === 'HOLDOUT';
			// The order arrives after both decisions, reported by contact (as a shop's flow does).
			if (switched) await after.recordOutcome({ contactId: sent.contactId, type: 'conversion' });
		}
		expect(switched).toBe(true);
		const table = await upliftTrainingTable(own, { journey: 'cart' });
		const col = (name: string) => table.columns.indexOf(name);
		expect(table.rows.filter((r) => r[col(TREATED_COLUMN)] === '0' && r[col('converted')] === '1')).toEqual([]);
		await before.close();
		await after.close();
	});
});
