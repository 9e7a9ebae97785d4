/**
 * A trigger's hand-outs around a stop (nodes/node-red/shared/unfinished.ts), with a stand-in for Node-RED's events and
 * node: what a closing trigger keeps when its work in flight is slow (a poll check still running at a deploy), and
 * what it says when it has more to keep than it can.
 */
import { EventEmitter } from 'node:events';
import type { Node, NodeAPI } from 'node-red';
import type { Engine } from '../../engine/engine';
import { MAX_UNFINISHED, takeUnfinished } from '../../engine/events/unfinished';
import { createEngine } from '../../engine/registry';
import { unfinishedDecisions } from '../../nodes/node-red/shared/unfinished';

let engine: Engine;
let counter = 0;
beforeEach(() => {
	engine = createEngine({ store: 'memory:' });
});
afterEach(async () => {
	jest.useRealTimers();
	await engine.close();
});

function standIn() {
	const events = new EventEmitter();
	const sent: unknown[] = [];
	const logs: string[] = [];
	const warnings: string[] = [];
	const RED = { events, util: { generateId: () => `m${++counter}` } } as unknown as NodeAPI;
	const node = { id: 'trigger1', send: (msg: unknown) => sent.push(msg), log: (text: string) => logs.push(text), warn: (text: string) => warnings.push(text) } as unknown as Node;
	return { RED, node, events, sent, logs, warnings };
}

const ingest = async () => (await engine.ingest({ type: 'track', name: 'Pricing Viewed', eventId: `e-${++counter}`, identities: { email: `c${counter}@example.com` } }, { journey: 'nurture' })).decision;
const keptIds = async () => (await takeUnfinished(engine, 'nurture', 'trigger1')).map((d) => d.decisionId).sort();

test('a close keeps what was held once its work in flight settles; work slower than the wait keeps what it hands out later, for the next start', async () => {
	const { RED, node, events, sent } = standIn();
	const unfinished = unfinishedDecisions(RED, node, engine, 'nurture');
	events.emit('flows:started', {});
	const early = await ingest();
	const late = await ingest();
	// A full deploy begins; the trigger's check is still running.
	events.emit('flows:stopping', { type: 'full' });
	unfinished.handOut({ event: {}, decision: early } as never);
	let finish!: () => void;
	const inFlight = new Promise<void>((resolve) => (finish = resolve));
	jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
	const closed = unfinished.close(false, inFlight);
	await jest.advanceTimersByTimeAsync(10_000);
	await closed;
	jest.useRealTimers();
	// Kept without waiting for the slow work: the next instance takes it at its start.
	expect(await keptIds()).toEqual([early.decisionId]);
	// The slow work ends and hands out one more: held (the node is closed), and kept for the next start.
	unfinished.handOut({ event: {}, decision: late } as never);
	finish();
	for (let i = 0; i < 20 && !(await engine.store.getCursor('unfinished:nurture:trigger1'))?.includes(late.decisionId); i++) await new Promise((r) => setTimeout(r, 10));
	expect(await keptIds()).toEqual([late.decisionId]);
	expect(sent).toEqual([]);
});

test('a close with more unfinished decisions than a trigger keeps keeps the latest and says how many it left out', async () => {
	const { RED, node, events, warnings } = standIn();
	const unfinished = unfinishedDecisions(RED, node, engine, 'nurture');
	events.emit('flows:started', {});
	events.emit('flows:stopping', { type: 'full' });
	const decisions = [];
	for (let i = 0; i < MAX_UNFINISHED + 3; i++) decisions.push(await ingest());
	for (const decision of decisions) unfinished.handOut({ event: {}, decision } as never);
	await unfinished.close(false);
	expect(warnings).toEqual([`3 decision(s) the flow had not finished are not kept (a trigger keeps the latest ${MAX_UNFINISHED}): they stay pending in the decision log`]);
	expect(await keptIds()).toEqual(decisions.slice(3).map((d) => d.decisionId).sort());
});
