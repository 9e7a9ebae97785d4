import { parse } from 'csv-parse/sync';
import { exportDecisions, ExportOptions } from '../../engine/audit/export';
import type { Decision, DecisionQuery } from '../../engine/audit/schema';
import { DecisionFilter, DecisionSummary, FactCounter, FactKey, factsOf, summaryOf } from '../../engine/store/decisionFacts';
import type { Store } from '../../engine/store/types';
import { knownDecisions, LATE_CONVERSION } from '../helpers/consoleDecisions';
import { decision } from '../helpers/fixtures';

/** Every page of the stream, following each page's last row, as the console does. */
async function allPages(store: Store, filter: DecisionFilter, limit: number): Promise<{ pages: number; rows: DecisionSummary[] }> {
	const rows: DecisionSummary[] = [];
	let pages = 0;
	for (;;) {
		const last = rows[rows.length - 1];
		const page = await store.listDecisionSummaries(filter, { limit, before: last && { createdAt: last.createdAt, decisionId: last.decisionId } });
		pages++;
		rows.push(...page);
		if (page.length < limit) return { pages, rows };
	}
}

/** The console's store methods (listDecisionSummaries, countDecisions), run by describeStoreContract on every backend. */
export function describeConsoleStoreContract(open: () => Promise<Store> | Store): void {
	describe('decision console queries', () => {
		let store: Store;
		let decisions: Decision[];
		beforeEach(async () => {
			store = await open();
			decisions = knownDecisions();
			for (const d of decisions) await store.putDecision(d);
			await store.sync();
			expect(await store.addOutcome(LATE_CONVERSION.decisionId, LATE_CONVERSION.outcome)).toBe(true);
			decisions.find((d) => d.decisionId === 'd2')!.outcomes.push(LATE_CONVERSION.outcome);
		});
		afterEach(async () => {
			await store.close();
		});

		test('counts by status, journey × funnel stage, cap rule and day equal the hand-worked numbers', async () => {
			expect(await store.countDecisions({}, ['status'])).toEqual([
				{ key: ['delayed'], n: 1 },
				{ key: ['pending'], n: 1 },
				{ key: ['sent'], n: 2 },
				{ key: ['suppressed'], n: 3 },
			]);
			expect(await store.countDecisions({}, ['journey', 'stage'])).toEqual([
				{ key: ['cart', 0], n: 1 },
				{ key: ['cart', 1], n: 1 },
				{ key: ['cart', 4], n: 1 },
				{ key: ['nurture', 1], n: 1 },
				{ key: ['nurture', 2], n: 2 },
				{ key: ['nurture', 4], n: 1 },
			]);
			expect(await store.countDecisions({}, ['capRule', 'status'])).toEqual([
				{ key: [null, 'pending'], n: 1 },
				{ key: [null, 'sent'], n: 2 },
				{ key: [null, 'suppressed'], n: 2 },
				{ key: ['any-weekly', 'delayed'], n: 1 },
				{ key: ['email-daily', 'suppressed'], n: 1 },
			]);
			expect(await store.countDecisions({}, ['day'])).toEqual([
				{ key: ['2026-11-20'], n: 3 },
				{ key: ['2026-11-21'], n: 2 },
				{ key: ['2026-11-22'], n: 2 },
			]);
			expect(await store.countDecisions({}, [])).toEqual([{ key: [], n: 7 }]);
		});

		test('group, conversion (including one recorded later), model and score bins; every grouping equals factsOf counted in memory', async () => {
			expect(await store.countDecisions({}, ['group', 'converted'])).toEqual([
				{ key: [null, false], n: 1 },
				{ key: ['holdout', true], n: 1 },
				{ key: ['treated', false], n: 3 },
				{ key: ['treated', true], n: 2 },
			]);
			expect(await store.countDecisions({ journey: 'nurture' }, ['model', 'scoreBin', 'converted'])).toEqual([
				{ key: ['lead@v1', 40, false], n: 1 },
				{ key: ['lead@v1', 40, true], n: 1 },
				{ key: ['lead@v1', 55, true], n: 1 },
				{ key: ['lead@v1', 82, true], n: 1 },
			]);
			const keys: FactKey[][] = [['journey', 'status', 'reason', 'channel'], ['hour', 'capRule'], ['model', 'scoreBin'], ['group', 'stage', 'converted']];
			const filters: DecisionFilter[] = [{}, { journey: 'cart' }, { channel: 'email' }, { reason: 'FREQUENCY_CAP' }, { contactId: 'c2' }, { from: '2026-11-21T00:00:00.000Z', to: '2026-11-22T12:30:00.000Z' }];
			for (const filter of filters) {
				for (const by of keys) {
					const reference = new FactCounter(filter, by);
					for (const d of decisions) reference.add(factsOf(d));
					expect({ filter, by, rows: await store.countDecisions(filter, by) }).toEqual({ filter, by, rows: reference.rows() });
				}
			}
		});

		test('the stream is newest first, filters combine, and ties on createdAt break by decision id', async () => {
			const ids = async (filter: DecisionFilter) => (await store.listDecisionSummaries(filter, { limit: 100 })).map((s) => s.decisionId);
			expect(await ids({})).toEqual(['d7', 'd6', 'd5', 'd4', 'd3', 'd2', 'd1']);
			expect(await ids({ journey: 'nurture', channel: 'email' })).toEqual(['d7', 'd2', 'd1']);
			expect(await ids({ reason: 'FREQUENCY_CAP', contactId: 'c2' })).toEqual(['d7', 'd2']);
			expect(await ids({ status: 'sent' })).toEqual(['d4', 'd1']);
			expect(await ids({ from: '2026-11-20T08:30:00.000Z', to: '2026-11-21T10:00:00.000Z' })).toEqual(['d3', 'd2']);
			const [first] = await store.listDecisionSummaries({ contactId: 'c4' }, { limit: 1 });
			expect(first).toEqual(summaryOf(factsOf(decisions[4])));
			expect(first).toEqual({ decisionId: 'd5', createdAt: '2026-11-21T10:00:00.000Z', journey: 'cart', contactId: 'c4', status: 'suppressed', reason: 'NO_CONSENT', channel: null, scoreValue: 82, eventName: 'Lead Created' });
		});

		test('paging across pages has no gaps or repeats, also with a filter and while newer decisions arrive', async () => {
			for (let i = 0; i < 23; i++) {
				const at = new Date(Date.UTC(2026, 10, 23, 0, Math.floor(i / 3))).toISOString();
				await store.putDecision(decision(`p${String(i).padStart(2, '0')}`, { createdAt: at, journey: i % 2 ? 'odd' : 'even', contactId: `c${i}` }));
			}
			await store.sync();
			const expected = [...Array(23).keys()].map((i) => `p${String(i).padStart(2, '0')}`).reverse();
			const all = await allPages(store, { from: '2026-11-23T00:00:00.000Z' }, 5);
			expect(all.pages).toBe(5);
			expect(all.rows.map((r) => r.decisionId)).toEqual(expected);
			const odd = await allPages(store, { journey: 'odd' }, 4);
			expect(odd.rows.map((r) => r.decisionId)).toEqual(expected.filter((id) => Number(id.slice(1)) % 2 === 1));
			// A page cursor stays valid when newer decisions arrive: the next page continues where the last ended.
			const firstPage = await store.listDecisionSummaries({ journey: 'even' }, { limit: 3 });
			await store.putDecision(decision('p99', { createdAt: '2026-11-24T00:00:00.000Z', journey: 'even' }));
			await store.sync();
			const last = firstPage[2];
			const next = await store.listDecisionSummaries({ journey: 'even' }, { limit: 3, before: { createdAt: last.createdAt, decisionId: last.decisionId } });
			expect([...firstPage, ...next].map((r) => r.decisionId)).toEqual(expected.filter((id) => Number(id.slice(1)) % 2 === 0).slice(0, 6));
		});

		test('counts by policy version: the versions the decisions were made under', async () => {
			await store.putDecision(decision('v2', { createdAt: '2026-11-23T00:00:00.000Z', policyVersion: 'journeys@2' }));
			await store.sync();
			expect(await store.countDecisions({}, ['policyVersion'])).toEqual([
				{ key: ['default@test'], n: 7 },
				{ key: ['journeys@2'], n: 1 },
			]);
			expect(await store.countDecisions({ journey: 'cart' }, ['policyVersion', 'status'])).toEqual([
				{ key: ['default@test', 'pending'], n: 1 },
				{ key: ['default@test', 'sent'], n: 1 },
				{ key: ['default@test', 'suppressed'], n: 1 },
			]);
		});

		test('nudge export: the matching decisions, oldest first, as JSONL and CSV, with the console filters, read in pages', async () => {
			const exported = async (query: DecisionQuery, options: ExportOptions = {}) => {
				let text = '';
				const n = await exportDecisions(store, query, { pageSize: 2, ...options }, (chunk) => void (text += chunk));
				return { n, text };
			};
			const all = await exported({});
			expect(all.n).toBe(7);
			// What the log holds (addOutcome moved d2's updatedAt), decision by decision.
			expect(all.text.trim().split('\n').map((l) => JSON.parse(l))).toEqual(await Promise.all(decisions.map((d) => store.getDecision(d.decisionId))));
			const ids = async (query: DecisionQuery) => (await exported(query)).text.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as Decision).decisionId);
			expect(await ids({ journey: 'cart' })).toEqual(['d4', 'd5', 'd6']);
			expect(await ids({ contactId: 'c2' })).toEqual(['d2', 'd7']);
			expect(await ids({ reason: 'FREQUENCY_CAP', journey: 'nurture' })).toEqual(['d2', 'd7']);
			expect(await ids({ status: 'sent' })).toEqual(['d1', 'd4']);
			expect(await ids({ from: '2026-11-20T08:30:00.000Z', to: '2026-11-21T10:00:00.000Z' })).toEqual(['d2', 'd3']);
			expect(await ids({ journey: 'nobody' })).toEqual([]);

			const csv = await exported({}, { format: 'csv' });
			const rows = parse(csv.text, { columns: true }) as Record<string, string>[];
			expect(rows.map((r) => r.decisionId)).toEqual(decisions.map((d) => d.decisionId));
			expect(rows[1]).toMatchObject({
				createdAt: '2026-11-20T08:30:00.000Z', journey: 'nurture', contactId: 'c2', eventName: 'Lead Created', status: 'suppressed', reason: 'FREQUENCY_CAP',
				ruleId: 'email-daily', channel: 'email', score: '40', probability: '0.4', model: 'lead@v1', holdout: '', policyVersion: 'default@test', converted: 'true',
				explanation: 'capped for dana@northwind.example', bindingRuleId: 'email-daily',
			});
			expect(JSON.parse(rows[1].guardChecks)).toEqual(decisions[1].guard!.checks);
			expect(JSON.parse(rows[1].outcomes)).toEqual([LATE_CONVERSION.outcome]);
			expect(rows[2]).toMatchObject({ holdout: 'global', holdoutBucket: '3', reason: 'HOLDOUT' });

			const redacted = await exported({ contactId: 'c2' }, { format: 'csv', redact: true });
			expect(redacted.text).not.toContain('dana@northwind.example');
			expect((parse(redacted.text, { columns: true }) as Record<string, string>[])[0].explanation).toBe('capped for [email redacted]');
		});

		test('a decision written again (a later step) is counted once, with its new status', async () => {
			const d6 = decisions[5];
			await store.putDecision({ ...d6, status: 'suppressed', reason: 'UNREACHABLE', score: { ...decisions[0].score!, probability: 0.3 } });
			await store.sync();
			expect(await store.countDecisions({ journey: 'cart' }, ['status', 'reason', 'stage'])).toEqual([
				{ key: ['sent', null, 4], n: 1 },
				{ key: ['suppressed', 'NO_CONSENT', 1], n: 1 },
				{ key: ['suppressed', 'UNREACHABLE', 1], n: 1 },
			]);
		});

		test("conversion follows each decision's journey: revenue counts where the journey says so, also when recorded later", async () => {
			const revenue = (id: string) => ({ outcomeId: id, type: 'revenue' as const, value: 40, at: '2026-11-24T10:00:00.000Z' });
			const counted = { journey: 'shop', conversion: ['conversion' as const, 'revenue' as const] };
			const shop = [
				decision('s1', { ...counted, createdAt: '2026-11-24T08:00:00.000Z', outcomes: [revenue('r1')] }),
				decision('s2', { ...counted, createdAt: '2026-11-24T08:01:00.000Z' }),
				// Decided before the journey counted revenue: its revenue is not a conversion.
				decision('s3', { journey: 'shop', createdAt: '2026-11-24T08:02:00.000Z', outcomes: [revenue('r3')] }),
			];
			for (const d of shop) await store.putDecision(d);
			await store.sync();
			expect(await store.addOutcome('s2', revenue('r2'))).toBe(true);
			shop[1].outcomes.push(revenue('r2'));
			const rows = await store.countDecisions({ journey: 'shop' }, ['converted']);
			expect(rows).toEqual([
				{ key: [false], n: 1 },
				{ key: [true], n: 2 },
			]);
			const reference = new FactCounter({ journey: 'shop' }, ['converted']);
			for (const d of shop) reference.add(factsOf(d));
			expect(rows).toEqual(reference.rows());
		});
	});
}
