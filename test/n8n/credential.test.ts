/** The "Nudge Engine" credential and its test (validates the policy and opens the store). */
import { existsSync } from 'node:fs';
import type { ICredentialsDecrypted, ICredentialTestFunctions } from 'n8n-workflow';
import { NudgeEngineApi } from '../../credentials/NudgeEngineApi.credentials';
import { closeAllEngines } from '../../engine/registry';
import { nudgeEngineConnectionTest, settingsFromCredential } from '../../nodes/n8n/shared/engine';
import { freshStore } from './harness';

afterAll(async () => {
	await closeAllEngines();
});

async function testCredential(data: Record<string, string>) {
	const credential: ICredentialsDecrypted = { id: '1', name: 'Nudge Engine', type: 'nudgeEngineApi', data };
	return await nudgeEngineConnectionTest.call({} as ICredentialTestFunctions, credential);
}

describe('Nudge Engine credential', () => {
	it('offers store, policy and signing secret, with the embedded store as default', () => {
		const credential = new NudgeEngineApi();
		expect(credential.name).toBe('nudgeEngineApi');
		const byName = Object.fromEntries(credential.properties.map((property) => [property.name, property]));
		expect(Object.keys(byName)).toEqual(['store', 'policy', 'signingSecret']);
		expect(byName.store.default).toBe('sqlite:~/.nudge/nudge.db');
		expect(byName.policy.typeOptions?.rows).toBeGreaterThan(1);
		expect(byName.signingSecret.typeOptions?.password).toBe(true);
	});

	it('maps to the engine configuration, an empty policy meaning the default one', () => {
		expect(settingsFromCredential({ store: ' memory: ', policy: '  ', signingSecret: 's3cret ' })).toEqual({
			config: { store: 'memory:', policy: undefined },
			signingSecret: 's3cret ',
		});
	});

	it('passes for a valid policy and opens (creates) the SQLite store', async () => {
		const store = freshStore();
		const result = await testCredential({ store, policy: '', signingSecret: 'x' });
		expect(result).toEqual({ status: 'OK', message: expect.stringMatching(/^Policy default@\w+ is valid and the store opened\.$/) });
		expect(existsSync(store.slice('sqlite:'.length))).toBe(true);
	});

	it('warns in its message when no signing secret is set', async () => {
		const result = await testCredential({ store: 'memory:', policy: '' });
		expect(result.status).toBe('OK');
		expect(result.message).toMatch(/No signing secret is set: Nudge Trigger will refuse every event/);
	});

	it('fails naming the policy field at fault, and creates no store', async () => {
		const store = freshStore();
		const result = await testCredential({ store, policy: '{"channelOrder": ["email", "fax"]}' });
		expect(result.status).toBe('Error');
		expect(result.message).toMatch(/channelOrder\.1: /);
		expect(existsSync(store.slice('sqlite:'.length))).toBe(false);
	});

	it('fails for a store it cannot open', async () => {
		const result = await testCredential({ store: 'mongodb://localhost', policy: '' });
		expect(result).toEqual({ status: 'Error', message: expect.stringMatching(/Unknown store "mongodb:\/\/localhost"\. Use sqlite:<file path>/) });
	});

	it.each([
		['redis: with one slash', 'redis:/default:S3cret%50W@cache.internal:6379', /is not a store URL: it must start with redis:\/\//],
		['an unreachable Redis with @ in the password', 'redis://default:p@ss%50W@127.0.0.1:1', /^Redis store at redis:\/\/default:\*\*\*@127\.0\.0\.1:1 could not/],
	])('fails for %s without showing the password', async (_label, store, reason) => {
		const result = await testCredential({ store, policy: '' });
		expect(result.status).toBe('Error');
		expect(result.message).toMatch(reason);
		for (const text of [result.message, decodeURIComponent(result.message)]) expect(text).not.toMatch(/S3cret|p@ss/);
	});

	it('fails, with the reason, for a Redis store that does not answer', async () => {
		const result = await testCredential({ store: 'redis://127.0.0.1:1', policy: '' });
		expect(result).toEqual({ status: 'Error', message: expect.stringMatching(/Redis store at redis:\/\/127\.0\.0\.1:1 could not read a cursor: .*ECONNREFUSED/) });
	});
});
