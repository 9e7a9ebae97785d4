/**
 * The test helpers' own listeners on a helper node. Node-RED calls a node's input listeners in a loop over an array
 * it reads as it goes (runtime/lib/nodes/Node.js, _emitInput): a listener that removes itself during the call (an
 * EventEmitter once) shortens it, so Node-RED skips the next listener and fails the message on the helper node with
 * "Cannot read properties of undefined (reading 'call')" (Node.js:229), the error an earlier burst review saw once.
 * Waiting for messages while recording them must see every message in every waiter, and no error.
 */
import { helper, nextMessage, nodeOf, recordMessages, TAB } from './_helpers';

afterEach(async () => {
	await helper.unload();
});
beforeAll(async () => {
	await helper.startServer();
});
afterAll(async () => {
	await helper.stopServer();
});

test('a recorder and two waiters on one helper node all get the message, and Node-RED reports no error', async () => {
	await helper.load([], [{ id: TAB, type: 'tab' }, { id: 'out', type: 'helper', z: TAB }]);
	const seen = recordMessages(['out']);
	const first = nextMessage('out');
	const second = nextMessage('out');
	nodeOf('out').receive({ payload: 1 });
	expect((await first).payload).toBe(1);
	expect((await second).payload).toBe(1);
	expect(seen.out.map((m) => m.payload)).toEqual([1]);
	expect(nodeOf('out').error.getCalls().map((c) => String(c.args[0]))).toEqual([]);
	// The next message reaches the next waiter.
	const third = nextMessage('out');
	nodeOf('out').receive({ payload: 2 });
	expect((await third).payload).toBe(2);
	expect(seen.out.map((m) => m.payload)).toEqual([1, 2]);
});
