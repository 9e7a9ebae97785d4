import { configWithoutCloudSupport } from '@n8n/node-cli/eslint';

/**
 * The engine's public entry points: the only engine modules the node adapters import. engine/index.ts (imported
 * as `engine`) is the package's API; engine/items is the item handling both platforms share, light enough for a
 * Node-RED node that does not load the engine itself. A node needing more exports it through one of them.
 */
const ENGINE_ENTRY_POINTS = ['index', 'items'];
/** Code outside the shipped engine and nodes: the CLI, demo, benchmarks, tests and scripts. */
const APP_CODE = '^(\\.\\./)+(cli|demo|bench|test|scripts)(/|$)';
/** The decision console's web server (console/): an app over the engine, which Node-RED's runtime also mounts. */
const CONSOLE_APP = '^(\\.\\./)+console(/|$)';

/** What no engine module imports: n8n, Node-RED, node code or app code. */
const ENGINE_IMPORTS = {
	paths: ['n8n-workflow', 'n8n-core', 'node-red'].map((name) => ({ name, message: 'The engine is plain TypeScript: no n8n or Node-RED import (DESIGN.md §1).' })),
	patterns: [
		{ regex: '^(\\.\\./)+(nodes|credentials)(/|$)', message: 'The engine does not import node code: nodes are adapters over the engine (docs/architecture.md).' },
		{ regex: APP_CODE, message: 'The engine does not import the CLI, demo, benchmarks, tests or scripts.' },
		{ regex: CONSOLE_APP, message: 'The engine does not import the console server: it is an app over the engine (the console reads engine/audit/queries.ts).' },
		{ regex: '^@n8n/|^@node-red/', message: 'The engine is plain TypeScript: no n8n or Node-RED import (DESIGN.md §1).' },
	],
};

/**
 * The engine's core: the use cases and the rules they call. It depends on ports, not on what plugs into them:
 * of store/ only the Store interface (store/types), of deliver/ only the Sender interface and its delivery loop
 * (deliver/provider), and no vendor. A plain webhook target is posted through the WebhookPoster port the
 * façade puts in the EngineContext.
 */
const CORE = ['usecases', 'decide', 'guard', 'policy', 'audit', 'items', 'profiles'];
const CORE_PATTERNS = [
	{ regex: '^(\\.\\./)+store/(?!types$)', message: 'The core reaches a store through the Store interface (engine/store/types.ts) only, never a backend (docs/architecture.md).' },
	{ regex: '^(\\.\\./)+(vendors|deliver/(?!provider$))', message: 'The core sends through the Sender interface (engine/deliver/provider.ts) only: vendors and senders are built at the edges (docs/architecture.md).' },
	{ regex: '^(\\.\\./)+events/receive$', message: 'The core does not answer webhooks: receiving is an edge over it (docs/architecture.md).' },
];

export default [
	...configWithoutCloudSupport,
	{ ignores: ['dist/**', 'examples/**', 'node_modules/**', 'coverage/**'] },
	{
		// node:sqlite is built into every Node the package supports (engines >= 22.13); say so, so that
		// linting under an older Node does not report it as unresolved.
		settings: { 'import-x/core-modules': ['node:sqlite'] },
	},
	{
		files: ['package.json'],
		rules: {
			// Nudge keeps runtime dependencies (zod, lru-cache, axios…): self-hosted n8n and Node-RED both
			// install them, and n8n Cloud verification excludes flow-control nodes such as ours anyway.
			'@n8n/community-nodes/no-runtime-dependencies': 'off',
			// Our one override pins xlsx for the dev-only n8n-nodes-base install (n8n points it at a CDN
			// tarball outside the npm registry). npm applies overrides only from the root project, so it
			// never reaches a user who installs this package.
			'@n8n/community-nodes/no-overrides-field': 'off',
		},
	},
	{
		// This rule asks n8n nodes to throw n8n's NodeOperationError. It stays on for nodes/n8n and
		// credentials; the engine, console, CLI, benchmarks, demo and Node-RED nodes must not import n8n at all
		// (they throw NudgeError, which the n8n adapter converts), and the scripts that draw the docs'
		// pictures are not nodes, so it cannot apply to them.
		files: ['engine/**/*.ts', 'console/**/*.ts', 'cli/**/*.ts', 'bench/**/*.ts', 'demo/**/*.ts', 'scripts/**/*.ts', 'nodes/node-red/**/*.ts', 'test/**/*.ts'],
		rules: { '@n8n/community-nodes/require-node-api-error': 'off' },
	},
	{
		// Tests start our own built CLI and demo as child processes, exactly as a user runs them;
		// nothing that ships spawns a process.
		files: ['test/**/*.ts'],
		rules: { '@n8n/community-nodes/no-dangerous-functions': 'off' },
	},
	{
		// The MCP SDK publishes its modules only through package.json "exports" wildcards ("./*" → dist/cjs/*),
		// which this resolver does not read; TypeScript and Node resolve them (and the tests load them).
		files: ['cli/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
		rules: { 'import-x/no-unresolved': ['error', { ignore: ['^@modelcontextprotocol/sdk/'] }] },
	},
	{
		// Layering: the engine imports no platform, node or app code.
		files: ['engine/**/*.ts'],
		rules: { 'no-restricted-imports': ['error', ENGINE_IMPORTS] },
	},
	{
		// Layering: the core (the use cases and the rules they call) reaches stores through the Store interface
		// and senders through the Sender interface, never a backend, a vendor or an app.
		files: CORE.map((folder) => `engine/${folder}/**/*.ts`),
		rules: { 'no-restricted-imports': ['error', { ...ENGINE_IMPORTS, patterns: [...ENGINE_IMPORTS.patterns, ...CORE_PATTERNS] }] },
	},
	{
		// Layering: nodes go through the engine's public entry points only, and never through app code (the
		// console server, console/, is the one app a node mounts: Node-RED serves it under its admin root).
		files: ['nodes/**/*.ts', 'credentials/**/*.ts'],
		rules: {
			'no-restricted-imports': [
				'error',
				{
					patterns: [
						{
							regex: `^(\\.\\./)+engine/(?!(${ENGINE_ENTRY_POINTS.join('|')})$)`,
							message: `Nodes import the engine's public entry points only (${ENGINE_ENTRY_POINTS.join(', ')}): export what you need through one of them (docs/architecture.md).`,
						},
						{ regex: APP_CODE, message: 'Nodes do not import the CLI, demo, benchmarks, tests or scripts.' },
					],
				},
			],
		},
	},
	{
		// Database drivers and vendor clients are required where they are first used, not when a node
		// loads (n8n loads every node of the package at start-up; see docs/benchmarks.md, bench/load).
		files: ['engine/**/*.ts'],
		rules: {
			'@typescript-eslint/no-require-imports': ['error', { allow: ['^undici$', '^ioredis$', '^pg$', '^jsforce$', '^@hubspot/api-client$', '^@segment/analytics-node$'] }],
		},
	},
];
