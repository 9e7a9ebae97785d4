/**
 * The Node-RED journey flows are read on the canvas by people deciding whether to use them: no node may
 * sit on another. Each node's box is estimated the way the editor sizes it (view.js: a width of
 * 20 * ceil((label width + 50 + 7 if it has an input) / 20), at least 100; a height of 15 per output, at
 * least 30; x/y are the centre), with the label at 7 px a character, a little wider than the editor's
 * 14 px font draws, and boxes must keep a 20 px gap.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const DIR = join(__dirname, '..', '..', 'flows', 'node-red');
const GAP = 20;
/** Node types without an input port. */
const NO_INPUT = new Set(['comment', 'http in', 'catch', 'nudge-trigger', 'inject', 'link in', 'status', 'complete']);

interface CanvasNode {
	id: string;
	type: string;
	name?: string;
	x: number;
	y: number;
	wires?: unknown[];
}

interface Box {
	id: string;
	left: number;
	right: number;
	top: number;
	bottom: number;
}

function boxOf(node: CanvasNode): Box {
	const label = node.name || node.type;
	const w = Math.max(100, 20 * Math.ceil((label.length * 7 + 50 + (NO_INPUT.has(node.type) ? 0 : 7)) / 20));
	const h = Math.max(30, (node.wires?.length ?? 0) * 15);
	return { id: node.id, left: node.x - w / 2, right: node.x + w / 2, top: node.y - h / 2, bottom: node.y + h / 2 };
}

/** Pairs of boxes closer than `gap` on both axes. */
function crowded(boxes: Box[], gap = GAP): string[] {
	const found: string[] = [];
	boxes.forEach((a, i) => {
		for (const b of boxes.slice(i + 1)) {
			const apartX = Math.max(a.left, b.left) - Math.min(a.right, b.right);
			const apartY = Math.max(a.top, b.top) - Math.min(a.bottom, b.bottom);
			if (apartX < gap && apartY < gap) found.push(`${a.id} and ${b.id}`);
		}
	});
	return found;
}

const flows = readdirSync(DIR).filter((f) => f.endsWith('.json'));

describe('Node-RED journey flows on the canvas', () => {
	it('finds the overlaps it is meant to find', () => {
		const comment = boxOf({ id: 'readme', type: 'comment', name: 'Lead nurture: read me', x: 170, y: 40 });
		const near = boxOf({ id: 'switch', type: 'switch', name: 'outcome of an earlier message?', x: 320, y: 60, wires: [[]] });
		expect(crowded([comment, near])).toEqual(['readme and switch']);
		// 10 px apart vertically is touching; 20 px is the gap asked for.
		const above = boxOf({ id: 'a', type: 'change', name: 'x', x: 100, y: 100, wires: [[]] });
		expect(crowded([above, boxOf({ id: 'b', type: 'change', name: 'y', x: 100, y: 140, wires: [[]] })])).toHaveLength(1);
		expect(crowded([above, boxOf({ id: 'b', type: 'change', name: 'y', x: 100, y: 150, wires: [[]] })])).toEqual([]);
		// A long label widens the box as the editor does.
		expect(boxOf({ id: 'c', type: 'comment', name: 'x'.repeat(50), x: 0, y: 0 }).right).toBe(200);
	});

	it.each(flows)('flows/node-red/%s: every node on the canvas keeps clear of the others', (file) => {
		const nodes = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Array<Partial<CanvasNode>>;
		const onCanvas = nodes.filter((n): n is CanvasNode => typeof n.x === 'number' && typeof n.y === 'number');
		expect(onCanvas.length).toBeGreaterThan(10);
		expect(onCanvas.every((n) => n.x > 0 && n.y > 0)).toBe(true);
		expect(crowded(onCanvas.map(boxOf))).toEqual([]);
	});
});
