import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { Engine } from '../../engine/engine';
import { seededRandom } from '../../engine/decide/sampling';
import { loadPolicy } from '../../engine/policy/load';
import { SqliteStore } from '../../engine/store/sqlite';
import { tempDir } from '../helpers/fixtures';

/**
 * Earlier versions kept a reviewer's approval of a content variant, a decision's counted reward and an erased person's
 * suppressed identity as claimed keys held for a hundred years (`variant-approved:<variant>`, `reward:<decisionId>`,
 * `suppressed:<digest>`). A file they wrote keeps meaning what it meant: the approval holds, the reward is not counted
 * again and the person is not contacted.
 */
const CENTURY = 100 * 365 * 86_400_000;

const policy = () =>
	loadPolicy({
		channelOrder: ['email'],
		channels: { email: { unknownConsent: 'allow' } },
		review: [{ id: 'new-copy', newVariant: true }],
	});

describe('a SQLite file written before the named records', () => {
	test('a variant approved then is approved now; one never approved still goes to review', async () => {
		const path = join(tempDir(), 'nudge.db');
		const old = new SqliteStore(path);
		await old.holdKey('variant-approved:subject-b', CENTURY, Date.parse('2026-01-05T09:00:00Z'));
		await old.close();

		const engine = new Engine({ store: new SqliteStore(path), policy: policy() });
		const guarded = async (email: string, variant: string) => {
			const { decision } = await engine.ingest({ type: 'track', name: 'Pricing Viewed', identities: { email }, occurredAt: new Date().toISOString() }, { journey: 'nurture' });
			return engine.checkCap(await engine.chooseChannel(decision), { variant });
		};
		expect((await guarded('ana@example.com', 'subject-b')).guard?.outcome).toBe('allowed');
		expect(await guarded('bo@example.com', 'subject-c')).toMatchObject({ status: 'review', ruleId: 'new-copy' });
		await engine.close();
	});

	test('a reward counted then is not counted again', async () => {
		const path = join(tempDir(), 'nudge.db');
		const engine = new Engine({ store: new SqliteStore(path), policy: policy(), random: seededRandom(1) });
		const d = await engine.decide({ type: 'track', name: 'Cart Abandoned', identities: { email: 'cy@example.com' } }, { journey: 'recover', target: { dryRun: true } });
		await engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion', outcomeId: 'order-1' });
		// The file as an earlier version left it: the reward mark a claimed key, not a record.
		await engine.store.deleteCursor(`reward:${d.decisionId}`);
		expect(await engine.store.claimKey(`reward:${d.decisionId}`, CENTURY, Date.now())).toBe(true);
		await engine.close();

		const upgraded = new Engine({ store: new SqliteStore(path), policy: policy(), random: seededRandom(1) });
		const stats = async () => (await upgraded.store.getArmStats(['global#email'])).get('global#email');
		expect(await stats()).toMatchObject({ trials: 1, successes: 1 });
		const second = await upgraded.recordOutcome({ decisionId: d.decisionId, type: 'conversion', outcomeId: 'order-2' });
		expect(second.duplicate).toBe(false);
		expect(await stats()).toMatchObject({ trials: 1, successes: 1 });
		await upgraded.close();
	});

	test('an identity suppressed then is suppressed now', async () => {
		const path = join(tempDir(), 'nudge.db');
		const engine = new Engine({ store: new SqliteStore(path), policy: policy() });
		await engine.eraseContact({ email: 'dee@example.com' }, { suppress: true });
		// The file as an earlier version left it: the suppression a held key, not a record.
		const salt = (await engine.store.getCursor('privacy:suppression-salt'))!;
		const key = `suppressed:${createHmac('sha256', salt).update('email:dee@example.com').digest('hex')}`;
		expect(await engine.store.getCursor(key)).toBeDefined();
		await engine.store.deleteCursor(key);
		await engine.store.holdKey(key, CENTURY, Date.now());
		await engine.close();

		const upgraded = new Engine({ store: new SqliteStore(path), policy: policy() });
		const d = await upgraded.decide({ type: 'track', name: 'Pricing Viewed', identities: { email: 'Dee@Example.com' } }, { journey: 'nurture', target: { dryRun: true } });
		expect(d).toMatchObject({ status: 'suppressed', reason: 'SUPPRESSION_LIST' });
		await upgraded.close();
	});
});
