/**
 * The Nudge Trigger's webhook route, driven over HTTP (supertest) against the RED.httpNode app the
 * runtime gave the node: signatures, batches, validation before storage, duplicates, config problems.
 */
import express, { Express } from 'express';
import request from 'supertest';
import { closeAllEngines } from '../../engine/registry';
import { refusalLog } from '../../nodes/node-red/shared/refusalLog';
import {
	catchAll,
	coreNode,
	credentials,
	engineNodeDef,
	engineOf,
	helper,
	httpNode,
	lastStatus,
	nodeOf,
	NUDGE_NODES,
	quietFor,
	recordMessages,
	SECRET,
	segmentEvent,
	signed,
	TAB,
	withHttpCapture,
} from './_helpers';

function flow(trigger: Record<string, unknown> = {}, engine: Record<string, unknown> = {}): Record<string, unknown>[] {
	return [
		...catchAll(),
		engineNodeDef(engine),
		{ id: 'trigger', type: 'nudge-trigger', z: TAB, engine: 'eng1', path: 'events', journey: 'nurture', wires: [['out']], ...trigger },
		{ id: 'out', type: 'helper', z: TAB },
	];
}

async function load(f = flow(), creds = credentials(), mount?: (app: Express) => void) {
	await helper.load(withHttpCapture(undefined, mount), f, creds);
	return recordMessages(['out']).out;
}

function post(app: Express, body: string, headers: Record<string, string>, path = '/nudge/events') {
	return request(app).post(path).set(headers).send(body);
}

async function storeIsEmpty(userIds: string[] = []) {
	const engine = engineOf();
	expect(await engine.queryDecisions({})).toEqual([]);
	for (const userId of userIds) expect((await engine.store.resolveIdentities([`userId:${userId}`])).size).toBe(0);
}

beforeAll(() => helper.startServer());
afterAll(async () => {
	await helper.stopServer();
	await closeAllEngines();
});
afterEach(() => helper.unload());

describe('accepted requests', () => {
	it('takes a signed Segment event, answers with its decision id and sends one message', async () => {
		const out = await load();
		const event = segmentEvent({ userId: 'u-dana' });
		const body = JSON.stringify(event);
		const res = await post(httpNode(), body, signed(body));
		expect(res.status).toBe(200);
		expect(res.body).toEqual({ accepted: 1, duplicates: 0, decisionIds: [expect.stringMatching(/^d_/)] });
		await quietFor(50);
		expect(out).toHaveLength(1);
		const msg = out[0];
		const decision = msg.decision as { decisionId: string; contactId: string; journey: string; status: string };
		expect(decision).toMatchObject({ decisionId: res.body.decisionIds[0], journey: 'nurture', status: 'pending' });
		expect(msg.topic).toBe(decision.contactId);
		expect(msg.payload).toMatchObject({ eventId: event.messageId, source: 'segment', type: 'track', name: 'Pricing Viewed', identities: { userId: 'u-dana' } });
		expect(await engineOf().store.getDecision(decision.decisionId)).toMatchObject({ contactId: decision.contactId });
		expect(lastStatus('trigger')).toEqual({ fill: 'green', shape: 'dot', text: '1 accepted' });
	});

	it('takes a batch (array or Segment batch envelope): one message per event', async () => {
		const out = await load();
		const arrayBody = JSON.stringify([segmentEvent(), segmentEvent()]);
		const r1 = await post(httpNode(), arrayBody, signed(arrayBody));
		expect(r1.status).toBe(200);
		expect(r1.body.accepted).toBe(2);
		const envelope = JSON.stringify({ batch: [segmentEvent(), segmentEvent(), segmentEvent()] });
		const r2 = await post(httpNode(), envelope, signed(envelope));
		expect(r2.body).toMatchObject({ accepted: 3, duplicates: 0 });
		await quietFor(50);
		expect(out).toHaveLength(5);
		expect(new Set(out.map((m) => (m.decision as { decisionId: string }).decisionId))).toEqual(new Set([...r1.body.decisionIds, ...r2.body.decisionIds]));
	});

	it('answers a retried delivery as a duplicate and sends nothing for it', async () => {
		const out = await load();
		const body = JSON.stringify(segmentEvent());
		expect((await post(httpNode(), body, signed(body))).body.accepted).toBe(1);
		const again = await post(httpNode(), body, signed(body));
		expect(again.status).toBe(200);
		expect(again.body).toEqual({ accepted: 0, duplicates: 1, decisionIds: [] });
		await quietFor(50);
		expect(out).toHaveLength(1);
		expect(lastStatus('trigger')).toEqual({ fill: 'yellow', shape: 'dot', text: '0 accepted, 1 dup' });
		const suppressed = await engineOf().queryDecisions({ reason: 'DUPLICATE_EVENT' });
		expect(suppressed).toHaveLength(1);
	});

	it('listens on its own path and opens decisions for its journey', async () => {
		const out = await load(flow({ path: '/segment/prod/', journey: 'winback' }));
		const body = JSON.stringify(segmentEvent());
		const res = await post(httpNode(), body, signed(body), '/nudge/segment/prod');
		expect(res.status).toBe(200);
		await quietFor(50);
		expect((out[0].decision as { journey: string }).journey).toBe('winback');
		expect((await post(httpNode(), body, signed(body), '/nudge/events')).status).toBe(404);
	});

	it('checks the signature on the raw bytes even when a JSON body parser runs first (Node-RED admin app on /)', async () => {
		let root: Express | undefined;
		const out = await load(flow(), credentials(), (node) => {
			root = express();
			root.use(express.json());
			root.use('/', node);
		});
		// Pretty-printed: re-serialising the parsed body would not reproduce these bytes.
		const body = JSON.stringify(segmentEvent(), null, 3);
		const res = await post(root!, body, signed(body));
		expect(res.status).toBe(200);
		expect(res.body.accepted).toBe(1);
		await quietFor(50);
		expect(out).toHaveLength(1);
		// Other routes still get the parsed body from the parser in front.
		root!.post('/other', (req, res2) => res2.json({ parsed: req.body }));
		const other = await request(root!).post('/other').send({ a: 1 });
		expect(other.body).toEqual({ parsed: { a: 1 } });
	});
});

describe('refused requests', () => {
	it('refuses a wrong signature with 401 and stores nothing', async () => {
		const out = await load();
		const event = segmentEvent();
		const body = JSON.stringify(event);
		const res = await post(httpNode(), body, signed(body, 'not-the-secret'));
		expect(res.status).toBe(401);
		expect(res.body.error).toMatch(/Signature does not match: check that sender and trigger use the same signing secret/);
		await quietFor(50);
		expect(out).toHaveLength(0);
		await storeIsEmpty([event.userId as string]);
		expect(lastStatus('trigger')).toEqual({ fill: 'red', shape: 'dot', text: 'bad signature' });
		expect(nodeOf('trigger').warn.getCalls().some((c) => /Rejected a request to \/nudge\/events/.test(String(c.args[0])))).toBe(true);
	});

	it('many unsigned requests write one warning a minute, with the count of the others, not one each', async () => {
		await load();
		const rejected = () => nodeOf('trigger').warn.getCalls().map((c) => String(c.args[0])).filter((line) => line.startsWith('Rejected a request'));
		const before = rejected().length;
		for (let i = 0; i < 20; i++) expect((await post(httpNode(), '{"type":"track"}', {})).status).toBe(401);
		expect(rejected().length - before).toBe(1);
		// A signed request refused for its content is the integrator's to fix: logged every time.
		const body = JSON.stringify({ type: 'track' });
		for (let i = 0; i < 2; i++) expect((await post(httpNode(), body, signed(body))).status).toBe(400);
		expect(rejected().length - before).toBe(3);
	});

	it('refuses a body changed after signing', async () => {
		await load();
		const body = JSON.stringify(segmentEvent({ userId: 'u-honest' }));
		const headers = signed(body);
		const res = await post(httpNode(), body.replace('u-honest', 'u-mallory'), headers);
		expect(res.status).toBe(401);
		await storeIsEmpty(['u-honest', 'u-mallory']);
	});

	it('refuses a request without signature headers', async () => {
		await load();
		const body = JSON.stringify(segmentEvent());
		const res = await post(httpNode(), body, { 'content-type': 'application/json' });
		expect(res.status).toBe(401);
		expect(res.body.error).toMatch(/Missing x-nudge-signature or x-nudge-timestamp header/);
		await storeIsEmpty();
	});

	it('refuses a request signed more than 5 minutes ago (replay)', async () => {
		await load();
		const body = JSON.stringify(segmentEvent());
		const res = await post(httpNode(), body, signed(body, SECRET, new Date(Date.now() - 6 * 60_000)));
		expect(res.status).toBe(401);
		expect(res.body.error).toMatch(/more than 5 minutes away from now/);
		await storeIsEmpty();
	});

	it('refuses a malformed event with 400 naming the problem, storing nothing', async () => {
		const out = await load();
		const body = JSON.stringify({ type: 'track', event: 'Pricing Viewed', messageId: 'm-1', properties: {} });
		const res = await post(httpNode(), body, signed(body));
		expect(res.status).toBe(400);
		expect(res.body.index).toBe(0);
		expect(res.body.error).toMatch(/^The event is not valid, so nothing was stored: .*a Segment event needs a userId or an anonymousId/);
		await quietFor(50);
		expect(out).toHaveLength(0);
		await storeIsEmpty();
		expect(lastStatus('trigger')).toEqual({ fill: 'red', shape: 'dot', text: 'invalid event' });
	});

	it('refuses a whole batch when one event is malformed: 400 with its index, nothing stored', async () => {
		const out = await load();
		const good1 = segmentEvent();
		const good2 = segmentEvent();
		const bad = segmentEvent({ timestamp: 'yesterday' });
		const body = JSON.stringify([good1, bad, good2]);
		const res = await post(httpNode(), body, signed(body));
		expect(res.status).toBe(400);
		expect(res.body.index).toBe(1);
		expect(res.body.error).toMatch(/^Event 1 of the batch \(counting from 0\) is not valid, so nothing was stored: timestamp: must be an ISO 8601 date-time/);
		expect(res.body.issues).toEqual([expect.objectContaining({ path: 'timestamp' })]);
		await quietFor(50);
		expect(out).toHaveLength(0);
		await storeIsEmpty([good1.userId as string, good2.userId as string]);
		// Nothing was claimed either: the same good events are accepted afterwards.
		const retry = JSON.stringify([good1, good2]);
		expect((await post(httpNode(), retry, signed(retry))).body).toMatchObject({ accepted: 2, duplicates: 0 });
	});

	it('refuses a body that is not JSON, and an empty batch', async () => {
		await load();
		const notJson = '{"type": "track",';
		const r1 = await post(httpNode(), notJson, signed(notJson));
		expect(r1.status).toBe(400);
		expect(r1.body.error).toMatch(/The request body is not valid JSON/);
		const empty = '[]';
		const r2 = await post(httpNode(), empty, signed(empty));
		expect(r2.status).toBe(400);
		expect(r2.body.error).toMatch(/The batch is empty/);
		await storeIsEmpty();
	});

	it('leaves a path no trigger listens on to Node-RED (404 when no other node answers it)', async () => {
		await load();
		const body = JSON.stringify(segmentEvent());
		const res = await post(httpNode(), body, signed(body), '/nudge/nowhere');
		expect(res.status).toBe(404);
	});

	it('leaves a flow’s own "http in" POST under /nudge/ to that node, its JSON body parsed as usual', async () => {
		const f = [
			...flow(),
			{ id: 'in', type: 'http in', z: TAB, url: '/nudge/orders', method: 'post', wires: [['fn']] },
			{ id: 'fn', type: 'function', z: TAB, func: 'msg.payload = { kind: Buffer.isBuffer(msg.payload) ? "buffer" : typeof msg.payload, id: msg.payload && msg.payload.id }; return msg;', outputs: 1, wires: [['res']] },
			{ id: 'res', type: 'http response', z: TAB, statusCode: '', headers: {}, wires: [] },
		];
		await helper.load(withHttpCapture([...NUDGE_NODES, coreNode('network/21-httpin.js'), coreNode('function/10-function.js')]), f, credentials());
		const res = await request(httpNode()).post('/nudge/orders').set('content-type', 'application/json').send('{"id": 7}');
		expect(res.status).toBe(200);
		expect(res.body).toEqual({ kind: 'object', id: 7 });
		// The trigger next to it still takes its signed events.
		const body = JSON.stringify(segmentEvent());
		expect((await post(httpNode(), body, signed(body))).status).toBe(200);
	});

	it('answers 400 naming the problem on a path with malformed percent-encoding', async () => {
		await load();
		const body = JSON.stringify(segmentEvent());
		const res = await post(httpNode(), body, signed(body), '/nudge/%E0%A4%A');
		expect(res.status).toBe(400);
		expect(res.body.error).toMatch(/has a broken %-escape/);
		expect(res.text).not.toMatch(/URIError|at decodeURIComponent|node_modules/);
	});
});

describe('configuration problems', () => {
	/** What the trigger logged as errors since the flow was loaded. */
	const triggerErrors = () => nodeOf('trigger').error.getCalls().map((call) => String(call.args[0]));
	const NOT_CONFIGURED = { error: 'Nudge is not configured correctly; see the server log' };

	it('answers a generic 503 and shows a red status when no engine config node is selected; the reason is in the log', async () => {
		const f = flow({ engine: 'missing-engine' });
		await load(f);
		expect(lastStatus('trigger')).toEqual({ fill: 'red', shape: 'dot', text: 'no engine' });
		const body = JSON.stringify(segmentEvent());
		const res = await post(httpNode(), body, signed(body));
		expect(res.status).toBe(503);
		expect(res.body).toEqual(NOT_CONFIGURED);
		expect(triggerErrors().at(-1)).toMatch(/^Refused a request to \/nudge\/events: No Nudge engine is selected: open this node, pick a Nudge Engine/);
	});

	it('answers a generic 503 when the engine configuration is invalid; the reason is in the log', async () => {
		await load(flow({}, { policy: '{"channelOrder": []}' }));
		expect(lastStatus('trigger')).toEqual({ fill: 'red', shape: 'dot', text: 'engine not set up' });
		const body = JSON.stringify(segmentEvent());
		const res = await post(httpNode(), body, signed(body));
		expect(res.status).toBe(503);
		expect(res.body).toEqual(NOT_CONFIGURED);
		expect(triggerErrors().at(-1)).toMatch(/cannot be used: Policy is not valid: channelOrder: must list at least one channel/);
		// Unauthenticated callers cannot flood the log: a minute passes before the next refusal is logged.
		for (let i = 0; i < 3; i++) expect((await post(httpNode(), body, {})).status).toBe(503);
		expect(triggerErrors().filter((line) => line.startsWith('Refused a request'))).toHaveLength(1);
	});

	it.each([
		['an unknown scheme', 'Redis2://default:S3cret%50W@cache.internal:6379'],
		['redis: with one slash', 'redis:/default:S3cret%50W@cache.internal:6379'],
		['a password with @ in a split store', 'split:hot=redis://default:p@ss%50W@cache.internal:6379;log=mongodb://u:S3cret%50W@db'],
	])('an unsigned caller learns nothing about a bad store URL (%s); the logs mask its password', async (_label, store) => {
		await load(flow({}, { store }));
		const body = JSON.stringify(segmentEvent());
		const res = await post(httpNode(), body, {});
		expect(res.status).toBe(503);
		expect(res.body).toEqual(NOT_CONFIGURED);
		const logged = [...triggerErrors(), ...nodeOf('eng1').error.getCalls().map((call) => String(call.args[0])), JSON.stringify(lastStatus('trigger'))];
		expect(logged.join('\n')).toMatch(/:\*\*\*@/);
		for (const text of logged) for (const shown of [text, decodeURIComponent(text)]) expect(shown).not.toMatch(/S3cret|p@ss/);
	});

	it('shows a red "invalid timers" status when its inactivity timers are invalid, not "ready"', async () => {
		await load(flow({ timers: '[{"start": "Cart Updated", "minutes": 30}]' }));
		expect(triggerErrors().length).toBeGreaterThan(0);
		expect(lastStatus('trigger')).toEqual({ fill: 'red', shape: 'dot', text: 'invalid timers' });
	});

	it('shows a red "no secret" status when a Segment-source trigger has no Segment config node (every request would get 401)', async () => {
		await load(flow({ path: 'segment', source: 'segment', segment: '' }));
		expect(lastStatus('trigger')).toEqual({ fill: 'red', shape: 'dot', text: 'no secret' });
		expect(triggerErrors().at(-1)).toMatch(/No Segment shared secret is set/);
	});

	it('refuses every request (401) while no signing secret is set, and says so on the node', async () => {
		const out = await load(flow(), {});
		expect(lastStatus('trigger')).toEqual({ fill: 'red', shape: 'dot', text: 'no secret' });
		const body = JSON.stringify(segmentEvent());
		const res = await post(httpNode(), body, signed(body, 'anything'));
		expect(res.status).toBe(401);
		expect(res.body.error).toMatch(/No signing secret is configured for this trigger; set one in the Nudge engine settings/);
		await quietFor(50);
		expect(out).toHaveLength(0);
	});

	it('flags a second trigger on the same path and keeps the first one working', async () => {
		const f = [...flow(), { id: 'trigger2', type: 'nudge-trigger', z: TAB, engine: 'eng1', path: 'events', journey: 'other', wires: [['out']] }];
		const out = await load(f);
		expect(lastStatus('trigger2')).toEqual({ fill: 'red', shape: 'dot', text: 'path in use' });
		const body = JSON.stringify(segmentEvent());
		expect((await post(httpNode(), body, signed(body))).status).toBe(200);
		await quietFor(50);
		expect((out[0].decision as { journey: string }).journey).toBe('nurture');
	});

	it('stops listening when the flow is stopped (handler removed on close)', async () => {
		await load();
		const app = httpNode();
		await helper.unload();
		const body = JSON.stringify(segmentEvent());
		const res = await post(app, body, signed(body));
		expect(res.status).toBe(404);
		await helper.load(withHttpCapture(), flow(), credentials()); // afterEach unloads again
	});
});

describe('refusals of unknown callers in the log', () => {
	beforeEach(() => jest.useFakeTimers());
	afterEach(() => jest.useRealTimers());

	test('one line a minute, then the count of the others when the minute ends, though no refusal comes after it', () => {
		const lines: string[] = [];
		const log = refusalLog();
		for (let i = 0; i < 5; i++) log.refused((text) => lines.push(text), `Rejected a request: unsigned ${i}`);
		expect(lines).toEqual(['Rejected a request: unsigned 0']);
		jest.advanceTimersByTime(59_999);
		expect(lines).toHaveLength(1);
		jest.advanceTimersByTime(1);
		expect(lines).toEqual(['Rejected a request: unsigned 0', 'And 4 more request(s) refused in the minute before, the last: Rejected a request: unsigned 4']);
		// A refusal in the minute the count opened waits for its end; closing the node drops it.
		jest.advanceTimersByTime(10_000);
		log.refused((text) => lines.push(text), 'Rejected a request: unsigned 5');
		log.close();
		jest.advanceTimersByTime(120_000);
		expect(lines).toHaveLength(2);
		// A minute on, a refusal is written at once.
		log.refused((text) => lines.push(text), 'Rejected a request: unsigned 6');
		expect(lines[2]).toBe('Rejected a request: unsigned 6 (and 1 more refused in the minute before)');
	});
});
