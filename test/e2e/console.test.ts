/**
 * The decision console in a real browser: headless Debian Chromium driven by playwright-core, on a store
 * filled by replaying the sample events (cli/replay.ts). The numbers on screen must equal the engine's
 * query results; the screenshots it takes are the ones in docs/console.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { JOURNEYS_POLICY, replay } from '../../cli/replay';
import type { DecisionConsole as DecisionConsoleType } from '../../engine/audit/queries';
import { DecisionConsole } from '../../engine/audit/queries';
import { startConsoleServer } from '../../console/server';
import type { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { createEngine } from '../../engine/registry';
import { simulate, trainAndSaveUplift } from '../../engine/scoring/uplift';
import { describeWithChromium, launchChromium } from '../helpers/browser';
import { tempDir } from '../helpers/fixtures';

const ROOT = join(__dirname, '..', '..');
const IMAGES = join(ROOT, 'docs', 'images');

/** Events whose contact converted: their decisions get a conversion outcome, so funnel, ROC and lift have both classes. */
const CONVERTING = new Set(['Demo Requested', 'Trial Started', 'Webinar Registered']);

describeWithChromium()('decision console in headless Chromium', () => {
	let engine: Engine;
	let dc: DecisionConsoleType;
	let context: BrowserContext;
	let page: Page;
	let base: string;
	let closeServer: () => Promise<void>;
	const offsite: string[] = [];
	let replayed = 0;

	beforeAll(async () => {
		const dir = tempDir('nudge-console-e2e-');
		const db = join(dir, 'replay.db');
		// The prebuilt journeys' policy (triggers: some events only update the profile) with a 30% global holdout, so the
		// lift view compares two groups in every journey (the test compares the screen with the engine).
		const policy = join(dir, 'policy.json');
		const journeys = JSON.parse(readFileSync(JOURNEYS_POLICY!, 'utf8')) as typeof DEFAULT_POLICY;
		// The cart journey is gated on uplift; no model is active while replaying, so the gate admits everyone (and says so).
		const cart = { ...journeys.journeys!['cart-abandonment'], uplift: { model: 'cart-uplift', minUplift: 0.01 } };
		writeFileSync(policy, JSON.stringify({ ...journeys, journeys: { ...journeys.journeys, 'cart-abandonment': cart }, holdout: { ...journeys.holdout, globalShare: 0.3 } }));
		// Each journey's sample events through that journey, into one store: three journeys, more than two pages.
		for (const journey of ['nurture', 'cart-abandonment', 'churn-risk']) {
			const summary = await replay({ events: join(ROOT, 'flows', 'samples', `${journey}.jsonl`), journey, policy, store: db }, () => undefined);
			expect(summary.rejected).toEqual([]);
		}
		engine = createEngine({ store: `sqlite:${db}`, policyFile: policy });
		const decisions = await engine.queryDecisions({ limit: 1000 });
		replayed = decisions.length;
		for (const d of decisions) {
			if (CONVERTING.has(d.event.name ?? '')) await engine.recordOutcome({ decisionId: d.decisionId, type: 'conversion', outcomeId: `conv-${d.decisionId}`, at: d.createdAt });
		}
		// An uplift model for the gated journey, so the lift view draws its Qini curve.
		await trainAndSaveUplift(engine.store, 'cart-uplift', simulate({ rows: 6000, seed: 3 }).table, { treatment: 'treatment', outcome: 'converted', trees: 10, replicates: 50 }, { activate: true });
		dc = new DecisionConsole(engine);
		const server = await startConsoleServer({ console: dc, port: 0 });
		base = server.url;
		closeServer = server.close;
		context = await launchChromium();
		// Works offline: anything not served by the console is refused and remembered.
		await context.route('**/*', (route) => {
			if (route.request().url().startsWith(base)) return route.continue();
			offsite.push(route.request().url());
			return route.abort();
		});
		page = await context.newPage();
		mkdirSync(IMAGES, { recursive: true });
	}, 120_000);

	afterAll(async () => {
		await context?.close();
		await closeServer?.();
		await engine?.close();
	});

	const loaded = (view: string) => page.waitForSelector(`body[data-loaded="${view}"]`, { timeout: 20_000 });
	const cells = (selector: string) => page.$$eval(selector, (tds) => tds.map((td) => td.textContent ?? ''));
	const streamIds = () => page.$$eval('#stream-table tbody tr[data-decision-id]', (trs) => trs.map((tr) => tr.getAttribute('data-decision-id')));

	test('the stream shows the engine’s totals and newest decisions, and says personal data is redacted', async () => {
		await page.goto(base);
		await loaded('stream');
		const totals = await dc.totals({});
		expect(totals.total).toBe(replayed);
		expect(replayed).toBeGreaterThan(50);
		expect(await page.textContent('[data-testid="total"]')).toBe(String(totals.total));
		for (const [status, n] of Object.entries(totals.byStatus)) expect(await page.textContent(`[data-testid="total-${status}"]`)).toBe(String(n));
		// Events that only updated the profile are counted apart, not as suppressions.
		expect(totals.profileOnly).toBeGreaterThan(0);
		expect(await page.textContent('[data-testid="total-profile-only"]')).toBe(String(totals.profileOnly));
		// So are holdout decisions (the 30% control group): no message by design, not a suppression.
		expect(totals.holdout).toBeGreaterThan(0);
		expect(await page.textContent('[data-testid="total-holdout"]')).toBe(String(totals.holdout));
		expect(totals.byStatus.suppressed + totals.profileOnly + totals.holdout).toBe((await dc.stream({ status: 'suppressed' }, { limit: 500 })).rows.length);
		expect(await page.textContent('[data-testid="policy-info"]')).toBe(`Decisions made under policy ${totals.policyVersions.map((p) => `${p.version} (${p.n})`).join(', ')}`);
		expect(totals.policyVersions.map((p) => p.n).reduce((a, b) => a + b)).toBe(totals.total);
		expect(await page.textContent('[data-testid="pii-notice"]')).toContain('nudge console --reveal-pii');
		expect(await page.textContent('[data-testid="pii-notice"]')).toBe(dc.piiNotice);
		expect(dc.piiNotice).toMatch(/^Personal data is redacted/);
		const first = await dc.stream({}, { limit: 25 });
		expect(await streamIds()).toEqual(first.rows.map((r) => r.decisionId));
		// The next pages arrive late, so a page that says it is loaded before it has drawn them is caught every time
		// (it was, once in a few runs, when the page was merely slow).
		const laterPages = /api\/decisions\?.*cursor=/;
		await page.route(laterPages, async (route) => {
			await new Promise((resolve) => setTimeout(resolve, 400));
			await route.continue();
		});
		await page.click('#next-page');
		await loaded('stream');
		const second = await dc.stream({}, { limit: 25, before: { createdAt: first.rows[24].createdAt, decisionId: first.rows[24].decisionId } });
		expect(second.rows).toHaveLength(25);
		expect(await streamIds()).toEqual(second.rows.map((r) => r.decisionId));
		expect(await page.textContent('#page-info')).toBe('Page 2 · 25 shown');
		await page.click('#next-page');
		await loaded('stream');
		const third = await dc.stream({}, { limit: 25, before: { createdAt: second.rows[24].createdAt, decisionId: second.rows[24].decisionId } });
		expect(third.rows).toHaveLength(replayed - 50);
		expect(await streamIds()).toEqual(third.rows.map((r) => r.decisionId));
		expect(await page.isDisabled('#next-page')).toBe(true);
		expect(await page.textContent('#page-info')).toBe(`Page 3 · ${replayed - 50} shown`);
		await page.unroute(laterPages);
		expect(await page.$$eval('script[src]', (s) => s.map((x) => x.getAttribute('src')))).toEqual(['vendor/chart.umd.min.js', 'app.js']);
	});

	test('filtering by reason shows exactly the engine’s matching decisions, and a decision opens in full', async () => {
		await page.goto(base);
		await loaded('stream');
		await page.selectOption('select[name="reason"]', 'FREQUENCY_CAP');
		await page.click('#apply');
		await loaded('stream');
		const capped = await dc.stream({ reason: 'FREQUENCY_CAP' }, { limit: 25 });
		expect(capped.rows.length).toBeGreaterThan(0);
		expect(await streamIds()).toEqual(capped.rows.map((r) => r.decisionId));
		expect(await cells('#stream-table tbody td:nth-child(6)')).toEqual(capped.rows.map(() => 'FREQUENCY_CAP'));
		expect(await page.textContent('[data-testid="total"]')).toBe(String((await dc.totals({ reason: 'FREQUENCY_CAP' })).total));

		// The best-scored capped decision: the richest to show (factors, candidates with expected values, cap checks).
		const id = capped.rows.reduce((a, b) => ((b.scoreValue ?? 0) > (a.scoreValue ?? 0) ? b : a)).decisionId;
		await page.click(`tr[data-decision-id="${id}"]`);
		await page.waitForSelector('#detail:not([hidden]) #candidates-table');
		const { decision: d, features } = await dc.decision(id);
		expect(await page.textContent('#detail h2')).toBe(`Decision ${id}`);
		expect(await page.textContent('#detail dd[data-field="Reason"]')).toBe('FREQUENCY_CAP');
		expect(await page.textContent('#detail dd[data-field="Rule"]')).toBe(d.ruleId);
		expect(await page.textContent('#detail dd[data-field="Score"]')).toBe(String(d.score!.value));
		expect(await page.textContent('#detail dd[data-field="Probability"]')).toBe(String(d.score!.probability));
		expect(await page.textContent('#detail dd[data-field="Policy version"]')).toBe(d.policyVersion);
		expect(await cells('#factors-table tbody td:nth-child(2)')).toEqual(d.score!.factors.map((f) => `${f.contribution >= 0 ? '+' : ''}${f.contribution}`));
		expect(await cells('#candidates-table tbody td:nth-child(1)')).toEqual(d.candidates!.map((c) => c.channel));
		expect(await cells('#candidates-table tbody td:nth-child(6)')).toEqual(d.candidates!.map((c) => (c.mean === undefined ? '—' : c.mean.toFixed(4))));
		expect(await cells('#checks-table tbody td:nth-child(2)')).toEqual(d.guard!.checks.map((c) => c.ruleId));
		expect(await cells('#checks-table tbody td:nth-child(3)')).toEqual(d.guard!.checks.map((c) => (c.passed ? 'yes' : 'no')));
		// The contact's features are shown, with personal fields redacted.
		expect(features).toBeDefined();
		const shownFeatures = await cells('#features-table tbody td:nth-child(2)');
		expect(shownFeatures).toEqual(Object.keys(features!).sort().map((k) => (typeof features![k] === 'object' ? JSON.stringify(features![k]) : String(features![k]))));
		expect(await page.content()).not.toMatch(/@[a-z]+\.example/);
		expect(await page.evaluate(() => (window as unknown as { Chart: { getChart(id: string): unknown } }).Chart.getChart('factors-chart') !== undefined)).toBe(true);
		await page.screenshot({ path: join(IMAGES, 'console-decision.png'), fullPage: true });
		await page.evaluate(() => window.scrollTo(0, 0));
		await page.screenshot({ path: join(IMAGES, 'console-stream.png') });
	});

	test('every chart on every tab is drawn with data: each funnel journey, suppressions, channel mix, cap hits, models, lift', async () => {
		await page.goto(base);
		await loaded('stream');
		/** Each canvas in the shown section: its id, and the number of data points of each of its chart's datasets (null: no chart). */
		const drawn = () =>
			page.$$eval('main > section:not([hidden]) canvas', (canvases) =>
				canvases.map((canvas) => {
					const c = (window as unknown as { Chart: { getChart(c: Element): { data: { datasets: { data: unknown[] }[] } } | undefined } }).Chart.getChart(canvas);
					return { id: canvas.id, points: c ? c.data.datasets.map((d) => d.data.length) : null };
				}),
			);
		const journeys = (await dc.funnel({})).map((j) => j.journey);
		expect(journeys).toHaveLength(3);
		for (const tab of ['funnel', 'suppressions', 'channels', 'caps', 'models', 'lift']) {
			await page.click(`#tabs button[data-tab="${tab}"]`);
			await loaded(tab);
			const charts = await drawn();
			// Lift: the lift chart and the gated cart journey's Qini curve.
			expect({ tab, n: charts.length }).toEqual({ tab, n: tab === 'funnel' ? journeys.length : tab === 'models' || tab === 'lift' ? 2 : 1 });
			for (const c of charts) {
				expect({ tab, id: c.id, drawn: c.points !== null }).toEqual({ tab, id: c.id, drawn: true });
				expect({ tab, id: c.id, datasets: c.points!.length > 0, empty: c.points!.filter((n) => n === 0).length }).toEqual({ tab, id: c.id, datasets: true, empty: 0 });
			}
		}
		// Status colours agree across tabs: sent green, suppressed red, as in the stream.
		await page.click('#tabs button[data-tab="channels"]');
		await loaded('channels');
		const colours = await page.evaluate(() => {
			const c = (window as unknown as { Chart: { getChart(id: string): { data: { datasets: { label: string; backgroundColor: string }[] } } } }).Chart.getChart('channels-chart');
			return Object.fromEntries(c.data.datasets.map((d) => [d.label, d.backgroundColor]));
		});
		const css = (cls: string) => page.evaluate((name) => { const td = document.createElement('td'); td.className = name; document.body.appendChild(td); const colour = getComputedStyle(td).color; td.remove(); return colour; }, cls);
		const rgb = (hex: string) => `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ')})`;
		expect(rgb(colours.sent)).toBe(await css('status-sent'));
		expect(rgb(colours.suppressed)).toBe(await css('status-suppressed'));
		expect(colours['profile only']).toBeDefined();
	});

	test('a bad filter shows the engine’s message', async () => {
		await page.goto(base);
		await loaded('stream');
		await page.fill('input[name="from"]', 'last tuesday');
		await page.click('#apply');
		await page.waitForSelector('#error:not([hidden])');
		expect(await page.textContent('#error')).toMatch(/from must be a date or date-time, e\.g\. 2026-11-20/);
	});

	test('funnel, suppressions, channel mix, cap hits, models and lift show the engine’s numbers, drawn with Chart.js', async () => {
		await page.goto(base);
		await loaded('stream');
		const open = async (tab: string) => {
			await page.click(`#tabs button[data-tab="${tab}"]`);
			await loaded(tab);
		};
		const hasChart = (id: string) => page.evaluate((canvas) => (window as unknown as { Chart: { getChart(id: string): unknown } }).Chart.getChart(canvas) !== undefined, id);

		await open('funnel');
		const funnel = await dc.funnel({});
		expect(await cells('table[data-journey="nurture"] tbody td')).toEqual(funnel.find((j) => j.journey === 'nurture')!.stages.map((s) => String(s.n)));
		expect(await hasChart('funnel-0')).toBe(true);
		await page.screenshot({ path: join(IMAGES, 'console-funnel.png'), fullPage: true });

		await open('suppressions');
		const s = await dc.suppressions({});
		expect(await cells('#suppressions-table tbody td:nth-child(1)')).toEqual(s.series.map((x) => x.reason));
		expect(await cells('#suppressions-table tbody td:nth-child(2)')).toEqual(s.series.map((x) => String(x.counts.reduce((a, b) => a + b, 0))));
		expect(await hasChart('suppressions-chart')).toBe(true);
		await page.screenshot({ path: join(IMAGES, 'console-suppressions.png'), fullPage: true });

		await open('channels');
		const mix = await dc.channelMix({});
		expect(await cells('#channels-table tbody td:nth-child(1)')).toEqual(mix.map((r) => r.channel));
		expect(await cells('#channels-table tbody td:last-child')).toEqual(mix.map((r) => String(r.total)));
		expect(await hasChart('channels-chart')).toBe(true);

		await open('caps');
		const caps = await dc.capHits({});
		expect(await cells('#caps-table tbody td:nth-child(1)')).toEqual(caps.map((r) => r.rule));
		expect(await cells('#caps-table tbody td:last-child')).toEqual(caps.map((r) => String(r.total)));
		await page.screenshot({ path: join(IMAGES, 'console-caps.png'), fullPage: true });

		await open('models');
		const models = await dc.models({});
		expect(await cells('#models-table tbody td:nth-child(2)')).toEqual(models.evaluations.map((e) => String(e.n)));
		expect(await cells('#models-table tbody td:nth-child(4)')).toEqual(models.evaluations.map((e) => (e.auc === undefined ? 'n/a (needs both outcomes)' : e.auc.toFixed(3))));
		expect(models.evaluations[0].auc).toBeDefined();
		expect(await hasChart('roc-chart')).toBe(true);
		expect(await hasChart('calibration-chart')).toBe(true);
		await page.screenshot({ path: join(IMAGES, 'console-models.png'), fullPage: true });

		await open('lift');
		const lift = await dc.lift({});
		expect(await cells('#lift-table tbody td:nth-child(3)')).toEqual(lift.map((r) => `${(r.treated.rate * 100).toFixed(2)}% (${r.treated.conversions}/${r.treated.n})`));
		expect(await cells('#lift-table tbody td:nth-child(4)')).toEqual(lift.map((r) => `${(r.holdout.rate * 100).toFixed(2)}% (${r.holdout.conversions}/${r.holdout.n})`));
		expect(await hasChart('lift-chart')).toBe(true);
		const [uplift] = await dc.uplift({});
		expect(uplift).toMatchObject({ journey: 'cart-abandonment', model: 'cart-uplift@v1' });
		expect(await page.textContent('[data-testid="uplift-verdict-0"]')).toMatch(new RegExp(`^The model ${uplift.evaluation!.verdict.slice(0, 30)}`));
		expect(await hasChart('uplift-chart-0')).toBe(true);
		// The curve, its band and the random line are drawn, point for point from the model's held-out evaluation.
		const drawn = await page.evaluate(() => {
			const c = (window as unknown as { Chart: { getChart(id: string): { data: { datasets: { label: string; data: number[] }[] } } } }).Chart.getChart('uplift-chart-0');
			return c.data.datasets.map((d) => ({ label: d.label, data: d.data }));
		});
		expect(drawn.map((d) => d.label)).toEqual(['95% band (high)', '95% band (low)', 'model (Qini curve)', 'random targeting']);
		expect(drawn[2].data).toEqual(uplift.evaluation!.curve.map((p) => p.qini * 1000));
		expect(drawn[0].data).toEqual(uplift.evaluation!.curve.map((p) => p.high * 1000));
		await page.screenshot({ path: join(IMAGES, 'console-lift.png'), fullPage: true });

		expect(offsite).toEqual([]);
	});
});
