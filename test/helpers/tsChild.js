// Entry point of the tests' own child processes written in TypeScript: `fork(tsChild.js, [file.ts])`.
// Compiles each .ts file on load, as ts-jest does (isolated modules), with the tests' environment.
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');
require('../setup-env.js');

const compilerOptions = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false };
const later = ['.json', '.node'].map((ext) => [ext, require.extensions[ext]]);
for (const [ext] of later) delete require.extensions[ext];
// Tried before .json: `NudgeTrigger.node` must resolve to NudgeTrigger.node.ts, not its codex NudgeTrigger.node.json.
require.extensions['.ts'] = (module, filename) => {
	const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), { compilerOptions, fileName: filename });
	module._compile(outputText, filename);
};
for (const [ext, load] of later) require.extensions[ext] = load;
require(path.resolve(process.argv[2]));
