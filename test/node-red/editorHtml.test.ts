/**
 * The editor files' shared rows: what an include writes, and the clear build error a wrong one gives.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expandEditorHtml } from '../../nodes/node-red/shared/editorHtml';

const SRC = path.join(__dirname, '..', '..', 'nodes', 'node-red');
const sources = readdirSync(SRC).filter((f) => f.endsWith('.html'));

describe('editor file includes', () => {
	it('writes the named row in place of the include, indented like it, with the given values', () => {
		const source = '<script type="text/html" data-template-name="x">\n    <!-- include journey-field placeholder="nurture" -->\n</script>';
		expect(expandEditorHtml(source, 'x.html')).toBe(
			[
				'<script type="text/html" data-template-name="x">',
				'    <div class="form-row">',
				'        <label for="node-input-journey"><i class="fa fa-road"></i> Journey</label>',
				'        <input type="text" id="node-input-journey" placeholder="nurture">',
				'    </div>',
				'</script>',
			].join('\n'),
		);
	});

	it('leaves text without includes exactly as it is', () => {
		const source = '<script type="text/javascript">\n    RED.nodes.registerType(\'x\', {});\n</script>\n<!-- a comment -->\n';
		expect(expandEditorHtml(source, 'x.html')).toBe(source);
	});

	it.each([
		['    <!-- include engine-feild -->', /x\.html:2: no shared editor row "engine-feild" \(there are engine-field, /],
		['    <!-- include journey-field -->', /x\.html:2: "journey-field" takes placeholder; missing placeholder/],
		['    <!-- include engine-field placeholder="x" -->', /x\.html:2: "engine-field" takes nothing; unknown placeholder/],
		['    <div><!-- include engine-field --></div>', /x\.html:2: write an include alone on its line/],
	])('refuses %s with the file, line and what to fix', (line, message) => {
		expect(() => expandEditorHtml(`<p>\n${line}\n</p>`, 'x.html')).toThrow(message);
	});

	it.each(sources)('%s: every include is valid and the engine and name rows come only from the shared rows', (file) => {
		const source = readFileSync(path.join(SRC, file), 'utf8');
		const built = expandEditorHtml(source, file);
		expect(built).not.toContain('<!-- include');
		// One way to write a shared row: a flow node's source includes it rather than spelling it out.
		expect(source).not.toContain('id="node-input-engine"');
		expect(source).not.toMatch(/<input type="text" id="node-(config-)?input-name"/);
		// Every flow node (not a config node) has the engine row.
		if (!built.includes('node-config-input')) expect(built).toContain('<input type="text" id="node-input-engine">');
	});
});
