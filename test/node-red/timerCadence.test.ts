/** Node-RED: two triggers of one journey; the one checking more often fires the other's cadence, all of it. */
import { closeAllEngines } from '../../engine/registry';
import { applyInactivityRules, parseInactivityRules } from '../../engine/events/timers';
import { catchAll, credentials, engineNodeDef, engineOf, helper, quietFor, recordMessages, TAB, waitUntil, withHttpCapture } from './_helpers';

const cadence = [
	{ start: 'Cart Updated', cancel: ['Order Completed'], minutes: 30, fire: 'Cart Abandoned' },
	// Each next touch waits from when the one before it fired: 0.01 minutes (0.6 s).
	{ start: 'Cart Abandoned', cancel: ['Order Completed'], minutes: 0.01, fire: 'Cart Still Abandoned' },
	{ start: 'Cart Still Abandoned', cancel: ['Order Completed'], minutes: 0.01, fire: 'Cart Last Call' },
];
const otherTimers = [{ start: 'Wishlist Updated', cancel: ['Order Completed'], minutes: 600, fire: 'Wishlist Idle' }];

function flow(): Record<string, unknown>[] {
	return [
		...catchAll(),
		engineNodeDef(),
		// The Segment trigger of the cart journey holds the cadence and checks its timers once a minute; the HubSpot
		// trigger of the same journey (a timer of its own) every 50 ms.
		{ id: 'segTrigger', type: 'nudge-trigger', z: TAB, engine: 'eng1', path: 'cart-seg', journey: 'cart', timers: JSON.stringify(cadence), timerCheck: 60, wires: [['segOut']] },
		{ id: 'segOut', type: 'helper', z: TAB },
		{ id: 'hsTrigger', type: 'nudge-trigger', z: TAB, engine: 'eng1', path: 'cart-hs', journey: 'cart', timers: JSON.stringify(otherTimers), timerCheck: 0.05, wires: [['hsOut']] },
		{ id: 'hsOut', type: 'helper', z: TAB },
	];
}

beforeAll(() => helper.startServer());
afterAll(async () => {
	await helper.stopServer();
	await closeAllEngines();
});
afterEach(() => helper.unload());

it('a three-touch cadence set by one trigger of the journey and fired by another (its own timers) sends all three touches', async () => {
	await helper.load(withHttpCapture(), flow(), credentials());
	const { segOut, hsOut } = recordMessages(['segOut', 'hsOut']);
	const engine = engineOf();
	// A cart left 400 minutes ago, taken in by the Segment trigger (as its webhook would): its first touch is due.
	const started = await engine.ingest({ type: 'track', name: 'Cart Updated', identities: { email: 'ana@example.com' }, occurredAt: new Date(Date.now() - 400 * 60_000).toISOString() }, { journey: 'cart' });
	expect(await applyInactivityRules(engine, [started], parseInactivityRules(cadence), 'segTrigger')).toEqual([]);
	await waitUntil(() => hsOut.length >= 2, 'two touches to leave the HubSpot trigger', 10_000);
	await quietFor(1000);
	const names = [...segOut, ...hsOut].map((m) => (m.payload as { name: string }).name);
	// The second timer names hsTrigger as its setter (it was set while hsTrigger fired the first): hsTrigger, firing it,
	// meets it with its own timers only, and the cadence's third touch is never started.
	expect(names).toEqual(['Cart Abandoned', 'Cart Still Abandoned', 'Cart Last Call']);
});
