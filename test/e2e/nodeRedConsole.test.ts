/**
 * The decision console as a Node-RED user opens it: at <admin root>/nudge/ in the browser where they
 * logged in to the editor (adminAuth on). Without that login the page shows no data and says why.
 */
import type { BrowserContext } from 'playwright-core';
import { describeWithChromium, launchChromium } from '../helpers/browser';
import { knownDecisions } from '../helpers/consoleDecisions';
import { builtConsoleIsFresh, ConsoleNodeRed, startConsoleNodeRed } from '../helpers/consoleNodeRed';

const maybe = builtConsoleIsFresh() ? describeWithChromium() : describe.skip;

maybe('decision console in Node-RED, in headless Chromium', () => {
	let nodeRed: ConsoleNodeRed;
	let context: BrowserContext;

	beforeAll(async () => {
		nodeRed = await startConsoleNodeRed(knownDecisions(), [{ id: 'eng1', consoleRevealPii: false }]);
		context = await launchChromium();
	}, 60_000);

	afterAll(async () => {
		await context?.close();
		await nodeRed?.stop();
	});

	test('without an editor login the page says so and shows nothing; with it, the engine’s decisions, PII redacted', async () => {
		const page = await context.newPage();
		await page.goto(`${nodeRed.base}/nudge/`);
		await page.waitForSelector('#error:not([hidden])');
		expect(await page.textContent('#error')).toMatch(/^Not signed in: .*log in to the Node-RED editor/);
		expect(await page.$$('#stream-table tbody tr')).toHaveLength(0);

		// The editor's login, stored where the editor at /admin/ keeps it.
		const res = await nodeRed.login('viewer', 'read');
		const { access_token: accessToken } = (await res.json()) as { access_token: string };
		await page.evaluate((token) => localStorage.setItem('auth-tokens-admin', JSON.stringify({ access_token: token, expires_in: 604800, token_type: 'Bearer' })), accessToken);
		await page.reload();
		await page.waitForSelector('body[data-loaded="stream"]');
		expect(await page.textContent('[data-testid="total"]')).toBe('7');
		expect(await page.$$eval('#stream-table tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-decision-id')))).toEqual(['d7', 'd6', 'd5', 'd4', 'd3', 'd2', 'd1']);
		expect(await page.textContent('[data-testid="pii-notice"]')).toMatch(/^Personal data is redacted/);
		await page.click('tr[data-decision-id="d2"]');
		await page.waitForSelector('#detail:not([hidden]) #checks-table');
		expect(await page.textContent('#detail dd[data-field="Why"]')).toBe('capped for [email redacted]');
		await page.close();
	});
});
