// Copies what tsc does not emit: icons, Node-RED editor .html files (with their shared rows written in), the decision console's page, the example flows Node-RED lists
// under Import → Examples (it reads only a root examples/ folder), and the policy's JSON Schema.
const { src, dest, parallel, series } = require('gulp');
const fs = require('node:fs');
const path = require('node:path');
const { Transform } = require('node:stream');

const icons = () => src(['nodes/**/*.{png,svg}', '!nodes/node-red/**'], { encoding: false }).pipe(dest('dist/nodes'));
const credentialIcons = () => src('credentials/**/*.{png,svg}', { encoding: false, allowEmpty: true }).pipe(dest('dist/credentials'));
const nodeRedAssets = () =>
	src(['nodes/node-red/icons/**', 'nodes/node-red/locales/**'], { encoding: false, base: 'nodes/node-red' }).pipe(dest('dist/nodes/node-red'));
// The editor .html files, with the shared settings rows they include written in (nodes/node-red/shared/editorHtml.ts).
const nodeRedEditors = () => {
	const { expandEditorHtml } = require('./dist/nodes/node-red/shared/editorHtml');
	const expand = new Transform({
		objectMode: true,
		transform(file, _encoding, done) {
			try {
				file.contents = Buffer.from(expandEditorHtml(file.contents.toString('utf8'), file.relative));
				done(null, file);
			} catch (error) {
				done(error);
			}
		},
	});
	return src('nodes/node-red/**/*.html', { base: 'nodes/node-red' }).pipe(expand).pipe(dest('dist/nodes/node-red'));
};
const examples = () => src('flows/node-red/*.json').pipe(dest('examples'));
// The decision console's page (console/server.ts serves it from dist/console/public).
const consolePage = () => src('console/public/**', { encoding: false }).pipe(dest('dist/console/public'));

async function policySchema() {
	const { policyJsonSchema } = require('./dist/engine/policy/load');
	fs.writeFileSync(path.join('dist', 'policy.schema.json'), `${JSON.stringify(policyJsonSchema(), null, 2)}\n`);
}

exports.default = series(parallel(icons, credentialIcons, nodeRedAssets, nodeRedEditors, examples, consolePage), policySchema);
