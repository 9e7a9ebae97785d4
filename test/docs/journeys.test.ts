/**
 * docs/journeys.md shows each journey's n8n workflow as a Mermaid diagram generated from the template
 * (`npm run pictures`): the committed diagram must be what the generator draws from the template now,
 * and the Node-RED screenshots it takes must be there.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { JOURNEY_IDS } from '../../demo/simulator';
import { diagramMarkers, n8nMermaid, withDiagram, type N8nWorkflow } from '../../scripts/n8nDiagram';

const ROOT = path.join(__dirname, '..', '..');
const DOC = readFileSync(path.join(ROOT, 'docs', 'journeys.md'), 'utf8');

describe('docs/journeys.md pictures', () => {
	it.each(JOURNEY_IDS)('the %s diagram is the one the n8n template gives now', (journey) => {
		const workflow = JSON.parse(readFileSync(path.join(ROOT, 'flows', 'n8n', `${journey}.json`), 'utf8')) as N8nWorkflow;
		expect(DOC).toContain(diagramMarkers(journey).start);
		// Regenerating changes nothing: otherwise run `npm run pictures` and commit the result.
		expect(withDiagram(DOC, journey, workflow)).toBe(DOC);
	});

	it.each(JOURNEY_IDS)('the %s Node-RED screenshot is a PNG the page shows', (journey) => {
		const file = path.join(ROOT, 'docs', 'images', `node-red-${journey}.png`);
		expect(existsSync(file)).toBe(true);
		expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
		expect(DOC).toContain(`(images/node-red-${journey}.png)`);
	});
});

describe('n8nMermaid', () => {
	const workflow: N8nWorkflow = {
		nodes: [
			{ name: 'Note', type: 'n8n-nodes-base.stickyNote', position: [0, 0] },
			{ name: 'Send', type: 'n8n-nodes-nudge.nudgeSend', position: [600, 0] },
			{ name: 'Trigger', type: 'n8n-nodes-nudge.nudgeTrigger', position: [0, 100] },
			{ name: 'Cap "A"', type: 'n8n-nodes-nudge.nudgeFrequencyCap', position: [300, 100] },
			{ name: 'Log', type: 'n8n-nodes-nudge.nudgeLogDecision', position: [900, 100] },
			{ name: 'Route', type: 'n8n-nodes-base.switch', position: [900, 300], parameters: { rules: { values: [{ outputKey: 'order' }] } } },
		],
		connections: {
			Trigger: { main: [[{ node: 'Cap "A"', type: 'main', index: 0 }]] },
			'Cap "A"': { main: [[{ node: 'Send', type: 'main', index: 0 }], [{ node: 'Log', type: 'main', index: 0 }], [{ node: 'Log', type: 'main', index: 0 }], []] },
			Send: { main: [[{ node: 'Log', type: 'main', index: 0 }], [{ node: 'Route', type: 'main', index: 0 }]] },
			Route: { main: [[{ node: 'Log', type: 'main', index: 0 }], [{ node: 'Log', type: 'main', index: 0 }]] },
		},
	};

	it('draws nodes in canvas order with their types, merges parallel outputs and names them as n8n does', () => {
		expect(n8nMermaid(workflow).split('\n')).toEqual([
			'flowchart LR',
			'  n1(["Trigger<br/><small>Nudge Trigger</small>"])',
			'  n2["Cap #quot;A#quot;<br/><small>Nudge Frequency Cap</small>"]',
			'  n3["Send<br/><small>Nudge Send</small>"]',
			'  n4["Log<br/><small>Nudge Log Decision</small>"]',
			'  n5{"Route<br/><small>Switch</small>"}',
			'  n1 --> n2',
			'  n2 -->|"Allowed"| n3',
			'  n2 -->|"Delayed / Blocked"| n4',
			'  n3 -->|"Sent"| n4',
			'  n3 -->|"Failed"| n5',
			'  n5 -->|"order / otherwise"| n4',
		]);
	});

	it('refuses a page without the markers, rather than dropping the diagram', () => {
		expect(() => withDiagram('# Journeys\n', 'nurture', workflow)).toThrow(/no "<!-- n8n-diagram:nurture/);
	});
});
