/** Inactivity timers in one Node-RED runtime with two journeys' triggers: each journey's timers leave through its own. */
import { closeAllEngines } from '../../engine/registry';
import { applyInactivityRules, parseInactivityRules } from '../../engine/events/timers';
import { catchAll, credentials, engineNodeDef, engineOf, helper, quietFor, recordMessages, TAB, waitUntil, withHttpCapture } from './_helpers';

const cartTimers = [{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' }];
const winbackTimers = [{ start: 'Visited', cancel: ['Purchased'], minutes: 600, fire: 'Lapsed' }];

function flow(): Record<string, unknown>[] {
	return [
		...catchAll(),
		engineNodeDef(),
		// The cart flow checks its timers once a minute; the win-back flow (its own timers) every 50 ms.
		{ id: 'cartTrigger', type: 'nudge-trigger', z: TAB, engine: 'eng1', path: 'cart', journey: 'cart', timers: JSON.stringify(cartTimers), timerCheck: 60, wires: [['cartOut']] },
		{ id: 'cartOut', type: 'helper', z: TAB },
		{ id: 'winTrigger', type: 'nudge-trigger', z: TAB, engine: 'eng1', path: 'winback', journey: 'winback', timers: JSON.stringify(winbackTimers), timerCheck: 0.05, wires: [['winOut']] },
		{ id: 'winOut', type: 'helper', z: TAB },
	];
}

beforeAll(() => helper.startServer());
afterAll(async () => {
	await helper.stopServer();
	await closeAllEngines();
});
afterEach(() => helper.unload());

it("a cart journey's timer never leaves through another journey's trigger (the win-back flow)", async () => {
	await helper.load(withHttpCapture(), flow(), credentials());
	const { cartOut, winOut } = recordMessages(['cartOut', 'winOut']);
	const engine = engineOf();
	// A cart left 40 minutes ago, taken in by the cart trigger (as its webhook would): its 30-minute timer is due.
	const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'ana@example.com' }, occurredAt: new Date(Date.now() - 40 * 60_000).toISOString() }, { journey: 'cart' });
	expect(await applyInactivityRules(engine, [started], parseInactivityRules(cartTimers))).toEqual([]);
	// The win-back trigger checks every 50 ms, the cart trigger once a minute: only the cart trigger may fire it.
	await quietFor(500);
	// The cart journey's reminder belongs to the cart flow (its templates, its Frequency Cap, its Send).
	expect(winOut.map((m) => `${(m.decision as { journey: string }).journey}:${(m.payload as { name: string }).name}`)).toEqual([]);
	expect(cartOut).toEqual([]);
	// The win-back journey's own timer leaves through its trigger.
	const visited = await engine.ingest({ type: 'track', name: 'Visited', identities: { email: 'bo@example.com' }, occurredAt: new Date(Date.now() - 700 * 60_000).toISOString() }, { journey: 'winback' });
	expect(await applyInactivityRules(engine, [visited], parseInactivityRules(winbackTimers))).toEqual([]);
	await waitUntil(() => winOut.length > 0, 'the Lapsed decision to leave the win-back trigger', 3000);
	expect(winOut.map((m) => `${(m.decision as { journey: string }).journey}:${(m.payload as { name: string }).name}`)).toEqual(['winback:Lapsed']);
});
