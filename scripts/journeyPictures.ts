/**
 * `npm run pictures`: the pictures in docs/journeys.md, made from the journeys themselves.
 *
 * - Node-RED: each journey flow is deployed in a real Node-RED 5 (the demo's embedded one, on a free
 *   port and a throwaway store) and its tab is photographed in the editor by Chromium (playwright-core
 *   driving /usr/bin/chromium, or CHROMIUM_PATH) → docs/images/node-red-<journey>.png.
 * - n8n: each workflow template becomes a Mermaid flowchart written between its markers in
 *   docs/journeys.md (test/docs/journeys.test.ts fails when a committed diagram differs from the template).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { loadJourneyFlows, prepareForDemo } from '../demo/flows';
import { JOURNEY_IDS } from '../demo/simulator';
import { packageRoot } from '../cli/packageRoot';
import { startEmbeddedNodeRed } from '../demo/run';
import { withDiagram, type N8nWorkflow } from './n8nDiagram';

declare const RED: {
	nodes: { filterNodes(filter: { type: string }): Array<{ z: string; journey?: string }> };
	workspaces: { show(id: string): void; count(): number };
	actions: { invoke(name: string): void };
	menu: { setSelected(id: string, state: boolean): void; isSelected(id: string): boolean };
	view: { select(selection: string): void };
};

async function nodeRedScreenshots(root: string): Promise<string[]> {
	const tmp = mkdtempSync(join(tmpdir(), 'nudge-pictures-'));
	const flows = loadJourneyFlows(root);
	const credentials = prepareForDemo(flows, { store: `sqlite:${join(tmp, 'pictures.db')}`, origin: 'http://127.0.0.1:1880', msPerMinute: 60_000, maxWaitMinutes: 60 * 24, timerCheckSeconds: 30 }, 'pictures-only');
	const red = await startEmbeddedNodeRed(root, join(tmp, 'node-red'), 0, flows.nodes, credentials);
	const context = await chromium.launchPersistentContext(join(tmp, 'chromium'), {
		executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
		viewport: { width: 2200, height: 1300 },
		deviceScaleFactor: 1,
	});
	const written: string[] = [];
	try {
		const page = context.pages()[0] ?? (await context.newPage());
		await page.goto(`${red.base}/`);
		await page.waitForFunction(() => typeof RED !== 'undefined' && RED.nodes?.filterNodes && RED.nodes.filterNodes({ type: 'nudge-trigger' }).length > 0, undefined, { timeout: 60_000 });
		// The canvas only: no palette, no sidebar.
		await page.evaluate(() => {
			for (const [element, action] of [
				['red-ui-palette', 'core:toggle-palette'],
				['red-ui-sidebar', 'core:toggle-sidebar'],
			]) {
				if ((document.getElementById(element)?.offsetWidth ?? 0) > 0) RED.actions.invoke(action);
			}
		});
		for (const journey of flows.journeys.keys()) {
			const tab = await page.evaluate((id) => {
				const z = RED.nodes.filterNodes({ type: 'nudge-trigger' }).find((n) => (n.journey || 'nurture') === id)?.z;
				if (z) {
					RED.workspaces.show(z);
					RED.view.select('');
					RED.actions.invoke('core:zoom-reset');
				}
				return z ?? '';
			}, journey);
			if (!tab) throw new Error(`The editor shows no tab with the ${journey} trigger`);
			await page.waitForTimeout(800);
			const file = join(root, 'docs', 'images', `node-red-${journey}.png`);
			mkdirSync(join(root, 'docs', 'images'), { recursive: true });
			// Cropped to the flow's nodes, with a margin.
			const box = await page.evaluate(() => {
				const rects = Array.from(document.querySelectorAll('#red-ui-workspace-chart g.red-ui-flow-node')).map((g) => g.getBoundingClientRect()).filter((r) => r.width > 0);
				const chart = document.getElementById('red-ui-workspace-chart')!.getBoundingClientRect();
				const x = Math.max(chart.left, Math.min(...rects.map((r) => r.left)) - 24);
				const y = Math.max(chart.top, Math.min(...rects.map((r) => r.top)) - 24);
				const right = Math.min(chart.right - 16, Math.max(...rects.map((r) => r.right)) + 24);
				const bottom = Math.min(chart.bottom - 16, Math.max(...rects.map((r) => r.bottom)) + 36);
				return { x, y, width: right - x, height: bottom - y };
			});
			await page.screenshot({ path: file, clip: box });
			written.push(file);
		}
	} finally {
		await context.close();
		await red.stop();
		rmSync(tmp, { recursive: true, force: true });
	}
	return written;
}

function n8nDiagrams(root: string): string[] {
	const doc = join(root, 'docs', 'journeys.md');
	let markdown = readFileSync(doc, 'utf8');
	const done: string[] = [];
	for (const journey of JOURNEY_IDS) {
		const file = join(root, 'flows', 'n8n', `${journey}.json`);
		if (!existsSync(file)) continue;
		markdown = withDiagram(markdown, journey, JSON.parse(readFileSync(file, 'utf8')) as N8nWorkflow);
		done.push(journey);
	}
	writeFileSync(doc, markdown);
	return done;
}

async function main() {
	const root = packageRoot();
	const diagrams = n8nDiagrams(root);
	process.stdout.write(`n8n diagrams in docs/journeys.md: ${diagrams.join(', ')}\n`);
	for (const file of await nodeRedScreenshots(root)) process.stdout.write(`Node-RED screenshot: ${file.slice(root.length + 1)}\n`);
}

main().then(
	() => process.exit(0),
	(error: Error) => {
		process.stderr.write(`Could not make the pictures: ${error.message}\n`);
		process.exit(1);
	},
);
