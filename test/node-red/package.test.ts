/**
 * What Node-RED's loader, the editor and the flow library read: the package.json `node-red` block, one
 * runtime module and one editor .html per type (literal registerType, template, help), outputs that
 * match between editor and runtime, and icons that exist.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import type { NodeAPI } from 'node-red';
import { expandEditorHtml } from '../../nodes/node-red/shared/editorHtml';
import { NUDGE_NODES } from './_helpers';

const ROOT = path.join(__dirname, '..', '..');
const SRC = path.join(ROOT, 'nodes', 'node-red');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
	keywords: string[];
	'node-red': { version: string; nodes: Record<string, string> };
};

const RUNTIME_OUTPUTS: Record<string, { inputs: number; outputs: number }> = {
	'nudge-trigger': { inputs: 0, outputs: 1 },
	'nudge-score': { inputs: 1, outputs: 1 },
	'nudge-choose-channel': { inputs: 1, outputs: 7 },
	'nudge-frequency-cap': { inputs: 1, outputs: 4 },
	'nudge-send': { inputs: 1, outputs: 2 },
	'nudge-log-decision': { inputs: 1, outputs: 1 },
	'nudge-record-outcome': { inputs: 1, outputs: 1 },
	'nudge-model': { inputs: 1, outputs: 1 },
	'nudge-contact-data': { inputs: 1, outputs: 1 },
	'nudge-action': { inputs: 1, outputs: 4 },
	'nudge-poll': { inputs: 1, outputs: 1 },
	'nudge-due': { inputs: 1, outputs: 1 },
};

/** The quoted strings of an array literal: `'a', 'b, c'` → ['a', 'b, c']. */
function quoted(list: string): string[] {
	return [...list.matchAll(/'([^']*)'/g)].map((m) => m[1]);
}

/** The editor file as the build writes it (its shared rows included). */
function html(type: string): string {
	return expandEditorHtml(readFileSync(path.join(SRC, `${type}.html`), 'utf8'), `${type}.html`);
}

/** The literal object passed to RED.nodes.registerType('<type>', {...}) in the editor script. */
function definition(type: string): string {
	const text = html(type);
	const start = text.indexOf(`RED.nodes.registerType('${type}', {`);
	expect(start).toBeGreaterThanOrEqual(0);
	return text.slice(start, text.indexOf('</script>', start));
}

describe('package.json node-red block', () => {
	it('lists every Nudge type at dist/nodes/node-red/<type>.js, with a source and an editor file next to it', () => {
		expect(pkg.keywords).toContain('node-red');
		expect(pkg['node-red'].version).toBe('>=5.0.0');
		const types = Object.keys(pkg['node-red'].nodes).sort();
		expect(types).toEqual(['nudge-engine', 'nudge-segment', 'nudge-hubspot', 'nudge-salesforce', ...Object.keys(RUNTIME_OUTPUTS)].sort());
		for (const [type, file] of Object.entries(pkg['node-red'].nodes)) {
			expect(file).toBe(`dist/nodes/node-red/${type}.js`);
			expect(existsSync(path.join(SRC, `${type}.ts`))).toBe(true);
			expect(existsSync(path.join(SRC, `${type}.html`))).toBe(true);
		}
	});

	it('each runtime module registers exactly its own type (config node with a password credential)', () => {
		const registered: Array<{ type: string; opts?: { credentials?: Record<string, { type: string }> } }> = [];
		const fakeRED = { nodes: { registerType: (type: string, _ctor: unknown, opts?: never) => registered.push({ type, opts }) } } as unknown as NodeAPI;
		for (const init of NUDGE_NODES) init(fakeRED);
		expect(registered.map((r) => r.type).sort()).toEqual(Object.keys(pkg['node-red'].nodes).sort());
		expect(registered.find((r) => r.type === 'nudge-engine')?.opts?.credentials).toEqual({ signingSecret: { type: 'password' }, storeUrl: { type: 'password' } });
		expect(registered.find((r) => r.type === 'nudge-segment')?.opts?.credentials).toEqual({ writeKey: { type: 'password' }, sharedSecret: { type: 'password' } });
		expect(registered.find((r) => r.type === 'nudge-hubspot')?.opts?.credentials).toEqual({ accessToken: { type: 'password' }, clientId: { type: 'text' }, clientSecret: { type: 'password' }, refreshToken: { type: 'password' } });
		expect(registered.find((r) => r.type === 'nudge-salesforce')?.opts?.credentials).toEqual({ clientSecret: { type: 'password' }, refreshToken: { type: 'password' }, privateKey: { type: 'password' } });
	});
});

interface EditorDefinition {
	category: string;
	defaults: Record<string, { value: unknown; type?: string; required?: boolean; validate?: (v: unknown) => unknown }>;
	credentials?: Record<string, { type: string }>;
	inputs?: number;
	outputs?: number;
	outputLabels?: string[];
	label: (this: Record<string, unknown>) => string;
}

type EditorNode = Record<string, unknown> & { credentials?: Record<string, unknown> };

/**
 * Runs the editor script against a stand-in RED (and jQuery's getJSON, answering `credentials` for
 * the editor's credentials endpoint) and returns what it registered and the editor events it listens to.
 */
function runEditorScript(type: string, credentials: Record<string, unknown> = {}) {
	const script = /<script type="text\/javascript">([\s\S]*?)<\/script>/.exec(html(type));
	expect(script).toBeTruthy();
	const registered: Array<{ type: string; def: EditorDefinition }> = [];
	const listeners: Record<string, Array<(node: EditorNode) => void>> = {};
	const asked: string[] = [];
	const editor = { dirty: false };
	const RED = {
		nodes: { registerType: (t: string, def: EditorDefinition) => registered.push({ type: t, def }), dirty: (d: boolean) => (editor.dirty = d) },
		validators: { number: () => (v: unknown) => !Number.isNaN(Number(v)) },
		events: { on: (event: string, fn: (node: EditorNode) => void) => (listeners[event] ??= []).push(fn) },
	};
	const $ = {
		extend: (deep: unknown, ...objects: object[]) => (deep === true ? JSON.parse(JSON.stringify(Object.assign({}, ...objects))) : Object.assign({}, deep, ...objects)),
		getJSON: (url: string) => {
			asked.push(url);
			return { done: (fn: (data: unknown) => void) => fn(JSON.parse(JSON.stringify(credentials))) };
		},
	};
	new vm.Script(script![1], { filename: `${type}.html` }).runInNewContext({ RED, $ });
	expect(registered).toHaveLength(1);
	const emit = (event: string, node: EditorNode) => (listeners[event] ?? []).forEach((fn) => fn(node));
	return { ...registered[0], emit, asked, editor };
}

/**
 * Which credentials the editor sends for a node at deploy: Node-RED's editor (red.js, convertNode)
 * sends a password credential when there was none loaded (`_`), when whether it is set changed, or
 * when it has a new value.
 */
function sentAtDeploy(node: EditorNode, def: EditorDefinition): Record<string, unknown> {
	const c = node.credentials;
	if (!c) return {};
	const loaded = c._ as Record<string, unknown> | undefined;
	return Object.fromEntries(
		Object.keys(def.credentials ?? {})
			.filter((k) => !loaded || c[`has_${k}`] !== loaded[`has_${k}`] || (c[`has_${k}`] && c[k]))
			.filter((k) => c[k] !== undefined)
			.map((k) => [k, c[k]]),
	);
}

describe('editor files', () => {
	it.each(Object.keys(pkg['node-red'].nodes))('%s: the editor script runs and registers a definition that matches the runtime', (type) => {
		const { type: registeredType, def } = runEditorScript(type);
		expect(registeredType).toBe(type);
		const defaults = Object.fromEntries(Object.entries(def.defaults).map(([k, v]) => [k, v.value]));
		expect(typeof def.label.call({ ...defaults })).toBe('string');
		if (type === 'nudge-engine') {
			expect(def.category).toBe('config');
			expect(def.defaults.policy.validate!('{"caps": [')).toMatch(/not valid JSON/);
			expect(def.defaults.policy.validate!('')).toBe(true);
			return;
		}
		if (type === 'nudge-segment' || type === 'nudge-hubspot' || type === 'nudge-salesforce') {
			// Vendor config nodes: every secret is a password credential, in the editor as in the runtime
			// (an OAuth2 app's client ID is no secret, but is kept with the credentials it belongs to).
			expect(def.category).toBe('config');
			const secrets = Object.entries(def.credentials ?? {}).filter(([name]) => name !== 'clientId');
			expect(secrets.length).toBeGreaterThan(0);
			expect(secrets.every(([, c]) => c.type === 'password')).toBe(true);
			if (type === 'nudge-hubspot') expect(def.credentials?.clientId).toEqual({ type: 'text' });
			return;
		}
		expect(def.inputs).toBe(RUNTIME_OUTPUTS[type].inputs);
		expect(def.outputs).toBe(RUNTIME_OUTPUTS[type].outputs);
		expect(def.outputLabels).toHaveLength(RUNTIME_OUTPUTS[type].outputs);
		expect(def.defaults.engine).toEqual({ value: '', type: 'nudge-engine', required: true });
	});

	it('an engine loaded with its store URL in the plain property has it moved into the credentials, sent at the next deploy; the signing secret stays as it is', () => {
		const { def, emit, asked, editor } = runEditorScript('nudge-engine', { has_signingSecret: true });
		const url = 'postgres://nudge:s3cret@db.example.com:5432/nudge';
		const old: EditorNode = { id: 'eng1', type: 'nudge-engine', name: 'Acme', store: url, policy: '' };
		emit('nodes:add', old);
		expect(asked).toEqual(['credentials/nudge-engine/eng1']);
		expect(old.store).toBe('');
		expect(old.changed).toBe(true);
		expect(editor.dirty).toBe(true);
		expect(sentAtDeploy(old, def)).toEqual({ storeUrl: url });

		// An engine already keeping its URL in the credentials (or a new one) is left alone.
		const current: EditorNode = { id: 'eng2', type: 'nudge-engine', name: 'Acme', store: '', policy: '' };
		emit('nodes:add', current);
		expect(current).toEqual({ id: 'eng2', type: 'nudge-engine', name: 'Acme', store: '', policy: '' });
		expect(asked).toHaveLength(1);
	});

	it('the config node has policy, and the store URL and signing secret as password credentials', () => {
		const def = definition('nudge-engine');
		expect(def).toMatch(/category: 'config'/);
		// The plain `store` only holds an old flow's URL until the editor moves it; it has no input any more.
		expect(def).toMatch(/store: \{ value: '' \}/);
		expect(def).toMatch(/signingSecret: \{ type: 'password' \}/);
		expect(def).toMatch(/storeUrl: \{ type: 'password' \}/);
		expect(html('nudge-engine')).toContain('id="node-config-input-signingSecret"');
		expect(html('nudge-engine')).toContain('<input type="password" id="node-config-input-storeUrl"');
		expect(html('nudge-engine')).not.toContain('id="node-config-input-store"');
	});

	it.each(Object.entries(RUNTIME_OUTPUTS))('%s: literal definition with the runtime outputs, labels, icon, template and help', (type, io) => {
		const def = definition(type);
		expect(def).toMatch(/category: 'Nudge'/);
		expect(def).toMatch(/engine: \{ value: '', type: 'nudge-engine', required: true \}/);
		expect(def).toContain(`inputs: ${io.inputs},`);
		expect(def).toContain(`outputs: ${io.outputs},`);
		const labels = /outputLabels: \[([^\]]*)\]/.exec(def);
		expect(labels).toBeTruthy();
		expect(quoted(labels![1])).toHaveLength(io.outputs);
		const icon = /icon: '([^']+)'/.exec(def)?.[1];
		expect(icon).toMatch(/^nudge-[a-z-]+\.svg$/);
		const svg = readFileSync(path.join(SRC, 'icons', icon!), 'utf8');
		expect(svg).toMatch(/^<svg[^>]*viewBox="0 0 40 60"/);
		expect(svg).toMatch(/fill="#fff"|stroke="#fff"/);
		const text = html(type);
		expect(text).toContain(`<script type="text/html" data-template-name="${type}">`);
		expect(text).toContain('id="node-input-engine"');
		const help = text.slice(text.indexOf(`data-help-name="${type}"`));
		expect(help).toMatch(/^data-help-name="[^"]+">\s*<p>[^<]{20,}<\/p>/);
	});

	it('uses a different icon for every node type', () => {
		const icons = Object.keys(RUNTIME_OUTPUTS).map((type) => /icon: '([^']+)'/.exec(definition(type))?.[1]);
		expect(new Set(icons).size).toBe(icons.length);
	});

	it('choose channel output labels follow the engine channel order, then none', () => {
		const labels = /outputLabels: \[([^\]]*)\]/.exec(definition('nudge-choose-channel'))![1];
		expect(quoted(labels)).toEqual(['email', 'sms', 'push', 'in-app', 'paid audience', 'sales task', 'none / holdout']);
	});
});
