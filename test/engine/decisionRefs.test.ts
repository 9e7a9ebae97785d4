/** A decision id from outside (a model's tool call, a form, an n8n expression) that no decision can have is an unknown decision, never a store error. */
import { Engine } from '../../engine/engine';
import { DEFAULT_POLICY } from '../../engine/policy/defaultPolicy';
import { loadPolicy } from '../../engine/policy/load';
import { postgresStore } from '../helpers/rawStores';
import { describeWithServer, TEST_POSTGRES_URL } from '../helpers/services';

describeWithServer('PostgreSQL', TEST_POSTGRES_URL)('decision ids no decision can have, on PostgreSQL', () => {
	test('a NUL, half a surrogate pair or an id over 256 characters is UNKNOWN_DECISION, for every step that loads a decision', async () => {
		const engine = new Engine({ store: postgresStore('decisionrefs'), policy: loadPolicy(DEFAULT_POLICY) });
		try {
			for (const id of ['d_\u0000x', 'd_\ud800x', `d_${'x'.repeat(300)}`]) {
				for (const step of [() => engine.getDecision(id), () => engine.recordOutcome({ decisionId: id, type: 'open' }), () => engine.checkCap({ decisionId: id })]) {
					await expect(step()).rejects.toMatchObject({ code: 'UNKNOWN_DECISION', message: expect.stringMatching(/is not in this engine's decision log/) });
				}
				await expect(engine.recordOutcome({ messageId: id, type: 'open' })).rejects.toMatchObject({ code: 'UNKNOWN_DECISION', message: expect.stringMatching(/No decision in the log sent message/) });
				await expect(engine.recordOutcome({ contactId: id, type: 'open' })).rejects.toMatchObject({ code: 'UNKNOWN_DECISION', message: expect.stringMatching(/no contact has such an id/) });
			}
		} finally {
			await engine.close();
		}
	});
});
