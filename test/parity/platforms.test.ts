/**
 * Parity: the same items through the same Nudge steps on n8n (n8n-core's WorkflowExecute) and on Node-RED (a
 * real runtime) give the same decisions and leave by the same outputs. Each platform has its own fresh store;
 * each scenario runs its steps in order, every step given the item the step before emitted on that platform.
 */
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';
import type { NodeMessage } from 'node-red';
import type { Engine } from '../../engine/engine';
import { closeAllEngines, getEngine } from '../../engine/registry';
import { anaEvent, caraEvent, danEvent, SendTarget } from '../n8n/fixtures';
import { freshStore, nudgeNode, runWorkflow } from '../n8n/harness';
import { catchAll, credentials, ENGINE_ID, engineNodeDef, engineOf, helper, NUDGE_NODES, nodeOf, TAB, waitUntil } from '../node-red/_helpers';

type StepKind = 'score' | 'choose' | 'cap' | 'send' | 'log' | 'outcome';

/** A node on both platforms: its n8n type and parameters, its Node-RED type and settings, and how many outputs it has. */
const NODES: Record<StepKind, { n8n: [string, IDataObject]; red: [string, Record<string, unknown>]; outputs: number }> = {
	score: { n8n: ['nudgeScore', {}], red: ['nudge-score', {}], outputs: 1 },
	choose: { n8n: ['nudgeChooseChannel', {}], red: ['nudge-choose-channel', {}], outputs: 7 },
	cap: { n8n: ['nudgeFrequencyCap', { operation: 'check' }], red: ['nudge-frequency-cap', { operation: 'check' }], outputs: 4 },
	send: { n8n: ['nudgeSend', { timeoutSeconds: 5, sign: false }], red: ['nudge-send', { timeout: 5, sign: false }], outputs: 2 },
	log: { n8n: ['nudgeLogDecision', { annotations: '{"campaign": "spring"}' }], red: ['nudge-log-decision', { annotations: '{"campaign": "spring"}' }], outputs: 1 },
	outcome: {
		n8n: ['nudgeRecordOutcome', { matchBy: 'decisionId', decisionId: '={{ $json.decisionId }}', outcomeType: 'conversion' }],
		red: ['nudge-record-outcome', { outcomeType: 'conversion' }],
		outputs: 1,
	},
};

/** One step of a scenario: the node, and (for the first step) the event it is given; later steps take the previous item. */
interface Step {
	node: StepKind;
	event?: IDataObject;
	/** Settings named alike on both platforms (e.g. Frequency Cap's channel). */
	settings?: Record<string, unknown>;
	/** Choose Channel's content test, set the same way on both platforms. */
	variants?: { slot: string; variants: string };
}

/** What a step did on one platform, with run-specific values (ids, times) replaced so the platforms compare. */
interface Seen {
	output?: number;
	error?: string;
	decision?: unknown;
	/** The fields the item gained beside the decision (sendAt, retryAt, duplicate). */
	extra?: Record<string, unknown>;
}

const target = new SendTarget();
let url = '';

const RUN_ID = /^[a-z]{1,4}_[0-9a-z]{20,}$/;
// `sampled` is the learner's random draw (Thompson sampling), `providerMessageId` the test endpoint's count of posts.
const RUN_KEYS = new Set(['decisionId', 'contactId', 'eventId', 'messageId', 'outcomeId', 'reservationId', 'idempotencyKey', 'durationMs', 'sampled', 'providerMessageId']);

/** Times, generated ids and durations as placeholders: what is left is what the platforms must agree on. */
function normalise(value: unknown, key = ''): unknown {
	if (RUN_KEYS.has(key) && value !== undefined) return `<${key}>`;
	if (typeof value === 'string') {
		if (RUN_ID.test(value)) return '<id>';
		return value
			.replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, '<time>')
			.replace(/d_[0-9a-z]{20,}/g, '<id>')
			.replace(/sampled expected value \([0-9.]+/g, 'sampled expected value (<sampled>');
	}
	if (Array.isArray(value)) return value.map((v) => normalise(v));
	if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v, k)]));
	return value;
}

const EXTRA_KEYS = ['sendAt', 'retryAt', 'duplicate'];
const extraOf = (item: Record<string, unknown>) => normalise(Object.fromEntries(EXTRA_KEYS.filter((k) => item[k] !== undefined).map((k) => [k, item[k]]))) as Record<string, unknown>;

function settingsOf(step: Step, platform: 'n8n' | 'red'): Record<string, unknown> {
	const [, base] = NODES[step.node][platform];
	const variants = step.variants ? (platform === 'n8n' ? { options: { variantSlot: step.variants.slot, variants: step.variants.variants } } : { variantSlot: step.variants.slot, variants: step.variants.variants }) : {};
	return { ...base, ...(step.node === 'send' ? { url } : {}), ...step.settings, ...variants };
}

/** What a platform did: each step, and its decision log afterwards (oldest first). */
interface Run {
	steps: Seen[];
	log: unknown[];
}

const logOf = async (engine: Engine) => normalise(await engine.queryDecisions({ limit: 100 })) as unknown[];

/** Runs the steps on n8n, one single-node workflow per step, each fed the item the one before emitted. */
async function onN8n(steps: Step[]): Promise<Run> {
	const store = freshStore();
	const creds = { nudgeEngineApi: { store, policy: '', signingSecret: 'parity-secret' } };
	const seen: Seen[] = [];
	let item: IDataObject = {};
	for (const step of steps) {
		const name = `Step ${seen.length}`;
		const node = nudgeNode(name, NODES[step.node].n8n[0], settingsOf(step, 'n8n') as IDataObject);
		const input: INodeExecutionData[][] = [[{ json: step.event ?? item }]];
		const result = await runWorkflow({ workflow: { nodes: [node], connections: {} }, startNode: name, input, credentials: creds });
		if (result.error) {
			seen.push({ error: normalise(result.error.message) as string });
			continue;
		}
		const outputs = result.run.data.resultData.runData[name][0].data!.main;
		const output = outputs.findIndex((items) => (items ?? []).length > 0);
		item = outputs[output]![0].json;
		seen.push({ output, decision: normalise(item.decision), extra: extraOf(item) });
	}
	return { steps: seen, log: await logOf(getEngine({ store })) };
}

/** Runs the same steps on Node-RED: one flow holding every step's node, each output wired to its own helper. */
async function onNodeRed(steps: Step[]): Promise<Run> {
	const flow: Record<string, unknown>[] = [...catchAll(), engineNodeDef({ store: '' })];
	steps.forEach((step, i) => {
		const outs = Array.from({ length: NODES[step.node].outputs }, (_, k) => `s${i}-out${k}`);
		flow.push({ id: `s${i}`, type: NODES[step.node].red[0], z: TAB, engine: ENGINE_ID, ...settingsOf(step, 'red'), wires: outs.map((id) => [id]) });
		for (const id of outs) flow.push({ id, type: 'helper', z: TAB });
	});
	await helper.load(NUDGE_NODES, flow, { [ENGINE_ID]: { ...credentials()[ENGINE_ID], storeUrl: freshStore() } });
	// One listener per node for the whole run (Node-RED's input hooks do not survive listeners removing themselves).
	const arrivals: Array<{ output?: number; msg?: NodeMessage & Record<string, unknown>; error?: string }> = [];
	steps.forEach((step, i) => {
		for (let output = 0; output < NODES[step.node].outputs; output++) {
			nodeOf(`s${i}-out${output}`).on('input', (msg: NodeMessage & Record<string, unknown>) => arrivals.push({ output, msg }));
		}
	});
	nodeOf('caught').on('input', (msg: NodeMessage) => arrivals.push({ error: (msg.error as { message: string }).message }));
	const seen: Seen[] = [];
	let msg: NodeMessage & Record<string, unknown> = {};
	for (const [i, step] of steps.entries()) {
		nodeOf(`s${i}`).receive(step.event ? { payload: step.event } : msg);
		await waitUntil(() => arrivals.length > i, `step ${i} (${step.node}) to send a message or fail`);
		const result = arrivals[i];
		if (result.error !== undefined) {
			seen.push({ error: normalise(result.error) as string });
			continue;
		}
		msg = result.msg!;
		seen.push({ output: result.output, decision: normalise(msg.decision), extra: extraOf(msg) });
	}
	const log = await logOf(engineOf());
	await helper.unload();
	return { steps: seen, log };
}

/** Runs the steps on both platforms, expects the same steps and the same decision log, and returns n8n's run. */
async function expectParity(steps: Step[]): Promise<Run> {
	const n8n = await onN8n(steps);
	const red = await onNodeRed(steps);
	expect(red).toEqual(n8n);
	return n8n;
}

/** A decision's journey, status and channel after a step. */
const summary = (seen: Seen) => {
	const d = seen.decision as { journey?: string; status?: string; channel?: string } | undefined;
	return { output: seen.output, journey: d?.journey, status: d?.status, channel: d?.channel, error: seen.error };
};

beforeAll(async () => {
	url = await target.start();
	await helper.startServer();
});

afterAll(async () => {
	await helper.stopServer();
	await target.stop();
	await closeAllEngines();
});

beforeEach(() => {
	target.answer = () => 200;
});

/** Choose Channel for an event, then Frequency Cap and Send for what it chose. */
const chooseAndSend = (event: IDataObject): Step[] => [{ node: 'choose', event }, { node: 'cap' }, { node: 'send' }];

describe('the same items give the same decisions and outputs on n8n and Node-RED', () => {
	it('a whole journey: score, choose, cap, send, then the conversion twice (the second a duplicate)', async () => {
		const { steps: seen } = await expectParity([
			{ node: 'score', event: anaEvent('Pricing Viewed', 'evt-parity-ana') },
			{ node: 'choose' },
			{ node: 'cap' },
			{ node: 'send' },
			{ node: 'outcome' },
			{ node: 'outcome' },
		]);
		expect(seen.map(summary).map((s) => [s.output, s.status, s.channel])).toEqual([
			[0, 'pending', undefined],
			[0, 'pending', 'email'],
			[0, 'pending', 'email'],
			[0, 'sent', 'email'],
			[0, 'sent', 'email'],
			[0, 'sent', 'email'],
		]);
		expect(seen.map((s) => s.extra?.duplicate)).toEqual([undefined, undefined, undefined, undefined, false, true]);
	});

	it('an event given straight to Frequency Cap (with a channel) or Log Decision opens its decision for the default journey, nurture', async () => {
		for (const node of ['cap', 'log'] as const) {
			const { log } = await expectParity([{ node, event: anaEvent('Pricing Viewed', `evt-parity-${node}`), settings: node === 'cap' ? { channel: 'email' } : {} }]);
			expect(log.map((d) => (d as { journey: string }).journey)).toEqual(['nurture']);
		}
	});

	it('an event given straight to Send, or to Frequency Cap without a channel, is refused on both before it is taken in: nothing in the log', async () => {
		for (const node of ['send', 'cap'] as const) {
			const { steps, log } = await expectParity([{ node, event: anaEvent('Pricing Viewed', `evt-parity-refused-${node}`) }]);
			expect(steps[0].error).toMatch(/^This item is an event, not a Nudge decision, and .*Nothing was taken in/);
			expect(log).toEqual([]);
		}
	});

	it('an already-sent decision given to Choose Channel again leaves by its channel, and Send passes it on as sent without sending twice', async () => {
		const posted = target.received.length;
		const { steps: seen } = await expectParity([...chooseAndSend(anaEvent('Pricing Viewed', 'evt-parity-again')), { node: 'choose' }, { node: 'cap' }, { node: 'send' }]);
		expect(seen.slice(3).map(summary).map((s) => [s.output, s.status])).toEqual([
			[0, 'sent'],
			[0, 'sent'],
			[0, 'sent'],
		]);
		// One POST per platform: the second Send found the decision sent.
		expect(target.received.length - posted).toBe(2);
	});

	it('a contact no channel can reach leaves Choose Channel by None, and stays blocked after', async () => {
		const { steps: seen } = await expectParity(chooseAndSend(caraEvent('evt-parity-cara')));
		expect(seen.map(summary).map((s) => s.output)).toEqual([6, 2, undefined]);
		expect(seen[2].error).toMatch(/cannot be sent/);
	});

	it('a content test set on Choose Channel picks the variant on both', async () => {
		const { steps: seen } = await expectParity([{ node: 'choose', event: anaEvent('Pricing Viewed', 'evt-parity-variant'), variants: { slot: 'subject', variants: 'Only one' } }]);
		expect((seen[0].decision as { message?: { variant?: string } }).message?.variant).toBe('Only one');
	});

	it('a send the sending tool refuses leaves by Failed on both', async () => {
		target.answer = (body) => (JSON.stringify(body).includes('dan@example.com') ? 400 : 200);
		const { steps: seen } = await expectParity(chooseAndSend(danEvent('evt-parity-dan')));
		expect(summary(seen[2])).toMatchObject({ output: 1, status: 'failed' });
	});

	it('a second message to the same contact meets the daily email cap the same way: blocked, and Send refuses it', async () => {
		const events = ['first', 'second'].map((n) => anaEvent('Pricing Viewed', `evt-parity-cap-${n}`));
		const { steps: seen } = await expectParity(events.flatMap(chooseAndSend));
		expect(seen.slice(3).map(summary).map((s) => [s.output, s.status])).toEqual([
			[0, 'pending'],
			[2, 'suppressed'],
			[undefined, undefined],
		]);
		expect((seen[4].decision as { reason?: string }).reason).toBe('FREQUENCY_CAP');
		expect(seen[5].error).toMatch(/was suppressed \(FREQUENCY_CAP\) and cannot be sent/);
	});

	it('annotations that are not JSON fail Log Decision with the same message on both, and nothing is logged', async () => {
		const { steps, log } = await expectParity([{ node: 'log', event: anaEvent('Pricing Viewed', 'evt-parity-notes'), settings: { annotations: '{campaign: spring}' } }]);
		expect(steps[0].error).toMatch(/^Annotations is not valid JSON \(.+\)\. Annotations must be a JSON object such as \{"campaign": "spring"\}$/);
		expect(log).toEqual([]);
	});

	it('an item that is neither a decision nor an event fails with the same message on both', async () => {
		const { steps, log } = await expectParity([{ node: 'cap', event: { hello: 'world' } }]);
		expect(steps[0].error).toMatch(/carries no Nudge decision and is not a customer event/);
		expect(log).toEqual([]);
	});
});
