/**
 * The Nudge engine config node keeps its store URL (which may hold a database password) in Node-RED's
 * credentials, in a real Node-RED runtime: GET /flows and the saved flows file never carry it, a flow
 * saved before still opens its store from the plain property, and a store error names the URL masked.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PostgresStore } from '../../engine/store/postgres';
import { signatureHeaders } from '../../engine/events/signature';
import { tempDir } from '../helpers/fixtures';
import { builtIsFresh, NodeRedRuntime, startNodeRed } from '../helpers/nodeRedRuntime';
import { describeWithServer, runId, TEST_POSTGRES_URL } from '../helpers/services';
import { SECRET, segmentEvent, waitUntil } from './_helpers';

const fresh = builtIsFresh(['nodes/node-red/nudge-engine.ts']);
const maybe = fresh ? describeWithServer('PostgreSQL', TEST_POSTGRES_URL) : describe.skip;

/** The test server trusts local connections, so a URL with a made-up password still connects. */
const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
const SCHEMA = runId('nr_credentials');
const STORE_URL = (() => {
	const url = new URL(TEST_POSTGRES_URL);
	url.password = PASSWORD;
	url.searchParams.set('schema', SCHEMA);
	return url.toString();
})();

const TAB = 'tab1';
const engine = (extra: Record<string, unknown> = {}) => ({ id: 'eng1', type: 'nudge-engine', name: 'Acme', policy: '', ...extra });
const trigger = { id: 'trigger', type: 'nudge-trigger', z: TAB, engine: 'eng1', path: 'events', journey: 'nurture', wires: [[]] };

maybe('nudge-engine store URL in a real Node-RED runtime', () => {
	let red: NodeRedRuntime;
	let home: string;

	/** The kind of store the deployed engine opened, as the decision console reports it. */
	async function storeKind(): Promise<string | undefined> {
		const res = await fetch(`${red.origin}/nudge/api/meta?engine=eng1`);
		return res.status === 200 ? ((await res.json()) as { store: string }).store : undefined;
	}

	async function postEvent(): Promise<{ status: number; body: Record<string, unknown> }> {
		const body = JSON.stringify(segmentEvent());
		const res = await fetch(`${red.origin}/nudge/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...signatureHeaders(SECRET, body) }, body });
		const text = await res.text();
		// While a redeploy replaces the trigger no route owns the path: Node-RED's own 404 is an HTML page.
		return { status: res.status, body: res.headers.get('content-type')?.startsWith('application/json') ? (JSON.parse(text) as Record<string, unknown>) : { text } };
	}

	async function deploy(flows: object[]): Promise<void> {
		const before = await fetch(`${red.origin}/flows`, { headers: { 'Node-RED-API-Version': 'v2' } });
		const { rev } = (await before.json()) as { rev: string };
		const res = await fetch(`${red.origin}/flows`, {
			method: 'POST',
			headers: { 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
			body: JSON.stringify({ rev, flows }),
		});
		expect(res.status).toBe(200);
	}

	beforeAll(async () => {
		home = tempDir('nudge-nr-home-');
		// A flow saved before the store URL became a credential: the URL is a plain property.
		red = await startNodeRed({
			flows: [{ id: TAB, type: 'tab', label: 'credentials' }, engine({ store: STORE_URL }), trigger],
			credentials: { eng1: { signingSecret: SECRET } },
			env: { HOME: home },
		});
	}, 60_000);

	afterAll(async () => {
		await red?.stop();
		const store = new PostgresStore(TEST_POSTGRES_URL, { schema: SCHEMA });
		await store.dropAll();
		await store.close();
	});

	test('an old flow with the URL in the plain property still opens its store', async () => {
		expect(await storeKind()).toBe('postgres');
		expect(await postEvent()).toMatchObject({ status: 200, body: { accepted: 1 } });
	});

	test('deployed as the editor sends it (URL in the credentials): GET /flows and flows.json carry no password, the engine opens the store', async () => {
		await deploy([{ id: TAB, type: 'tab', label: 'credentials' }, engine({ store: '', credentials: { storeUrl: STORE_URL } }), trigger]);
		await waitUntil(async () => (await storeKind()) !== undefined, 'the redeployed engine', 10_000);
		expect(await storeKind()).toBe('postgres');
		expect(await postEvent()).toMatchObject({ status: 200, body: { accepted: 1 } });

		const flows = await (await fetch(`${red.origin}/flows`)).text();
		expect(flows).toContain('"type":"nudge-engine"');
		expect(flows).not.toContain(PASSWORD);
		expect(readFileSync(path.join(red.userDir, 'flows.json'), 'utf8')).not.toContain(PASSWORD);
		// credentialSecret is false in this runtime, so the credentials file can be read back: the URL is there, whole.
		expect(JSON.parse(readFileSync(path.join(red.userDir, 'flows_cred.json'), 'utf8'))).toEqual({ eng1: { signingSecret: SECRET, storeUrl: STORE_URL } });
		// The editor's credentials endpoint says only that there is one.
		expect(await (await fetch(`${red.origin}/credentials/nudge-engine/eng1`)).json()).toEqual({ has_signingSecret: true, has_storeUrl: true });
	});

	test('a store URL the engine cannot use: the sender gets a generic 503, the log names the URL with its password masked', async () => {
		await deploy([{ id: TAB, type: 'tab', label: 'credentials' }, engine({ store: '', credentials: { storeUrl: `mysql://nudge:${PASSWORD}@db.example.com/nudge` } }), trigger]);
		let answer = await postEvent();
		await waitUntil(async () => (answer = await postEvent()).status === 503, 'the redeployed engine to refuse', 10_000);
		expect(answer.body).toEqual({ error: 'Nudge is not configured correctly; see the server log' });
		await waitUntil(async () => /mysql:\/\/nudge:\*\*\*@db\.example\.com\/nudge/.test(red.output()), 'the log to name the store', 5_000);
		expect(red.output()).not.toContain(PASSWORD);
	});
});
