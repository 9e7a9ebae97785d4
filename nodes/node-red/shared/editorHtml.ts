/**
 * The Node-RED editor files share their common settings rows. A source `.html` names one on a line of its own,
 * `<!-- include journey-field placeholder="nurture" -->`, and the build (gulpfile.js, nodeRedAssets) writes
 * the row in its place, indented like the line, so the editor loads plain HTML. A wrong include fails the build.
 */

/** The rows, with `{{param}}` for what the including line gives. */
const ROWS: Record<string, string> = {
	'engine-field': `<div class="form-row">
    <label for="node-input-engine"><i class="fa fa-cog"></i> Engine</label>
    <input type="text" id="node-input-engine">
</div>`,
	'name-field': `<div class="form-row">
    <label for="node-input-name"><i class="fa fa-tag"></i> Name</label>
    <input type="text" id="node-input-name">
</div>`,
	// A config node's name (nudge-engine and the vendor config nodes), with an example of one.
	'config-name-field': `<div class="form-row">
    <label for="node-config-input-name"><i class="fa fa-tag"></i> Name</label>
    <input type="text" id="node-config-input-name" placeholder="{{placeholder}}">
</div>`,
	'journey-field': `<div class="form-row">
    <label for="node-input-journey"><i class="fa fa-road"></i> Journey</label>
    <input type="text" id="node-input-journey" placeholder="{{placeholder}}">
</div>`,
	'interval-field': `<div class="form-row">
    <label for="node-input-interval"><i class="fa fa-clock-o"></i> Check every</label>
    <input type="text" id="node-input-interval" style="width:60px"> seconds
</div>`,
	// The vendor's config node (nudge-segment, nudge-hubspot, nudge-salesforce), in a row the editor script shows for that vendor.
	'vendor-field': `<div class="form-row {{rowClass}}">
    <label for="node-input-{{vendor}}"><i class="fa fa-key"></i> {{label}}</label>
    <input type="text" id="node-input-{{vendor}}">
</div>`,
};

const INCLUDE = /^(\s*)<!-- include ([a-z-]+)((?: [a-zA-Z]+="[^"]*")*) -->$/;
const PARAM = / ([a-zA-Z]+)="([^"]*)"/g;
const SLOT = /\{\{([a-zA-Z]+)\}\}/g;

/** The editor HTML Node-RED loads, from a source file's text (`file` names it in errors). */
export function expandEditorHtml(source: string, file: string): string {
	return source
		.split('\n')
		.map((line, index) => {
			const where = `${file}:${index + 1}`;
			if (!line.includes('<!-- include')) return line;
			const include = INCLUDE.exec(line);
			if (!include) throw new Error(`${where}: write an include alone on its line, as <!-- include name key="value" -->`);
			const [, indent, name, paramText] = include;
			const row = ROWS[name];
			if (row === undefined) throw new Error(`${where}: no shared editor row "${name}" (there are ${Object.keys(ROWS).join(', ')})`);
			const params = new Map([...paramText.matchAll(PARAM)].map(([, key, value]) => [key, value]));
			const slots = new Set([...row.matchAll(SLOT)].map(([, key]) => key));
			const missing = [...slots].filter((key) => !params.has(key));
			const unknown = [...params.keys()].filter((key) => !slots.has(key));
			if (missing.length || unknown.length) {
				throw new Error(`${where}: "${name}" takes ${[...slots].join(', ') || 'nothing'}${missing.length ? `; missing ${missing.join(', ')}` : ''}${unknown.length ? `; unknown ${unknown.join(', ')}` : ''}`);
			}
			return row
				.replace(SLOT, (_, key: string) => params.get(key)!)
				.split('\n')
				.map((rowLine) => indent + rowLine)
				.join('\n');
		})
		.join('\n');
}
