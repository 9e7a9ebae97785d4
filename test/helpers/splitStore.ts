import { startSink, type Sink } from '../../bench/sink';
import { PostgresStore } from '../../engine/store/postgres';
import { RedisStore } from '../../engine/store/redis';
import { runId, TEST_POSTGRES_URL, TEST_REDIS_URL } from './services';

export interface SplitStoreFixture {
	/** `split:hot=redis…;log=postgres…` under a key prefix and schema of this run only. */
	readonly url: string;
	/** The decision log, read directly. */
	readonly log: PostgresStore;
	/** A local webhook sink counting deliveries and idempotency keys. */
	readonly sink: Sink;
}

/** A Redis + PostgreSQL store private to the enclosing describe, with a sink; dropped after its tests. */
export function useSplitStore(): SplitStoreFixture {
	const prefix = `${runId('nudgetest')}:`;
	const schema = runId('nudgetest');
	const fixture = { url: `split:hot=${TEST_REDIS_URL}?prefix=${prefix};log=${TEST_POSTGRES_URL}?schema=${schema}` } as { url: string; log: PostgresStore; sink: Sink };
	beforeAll(async () => {
		fixture.sink = await startSink();
		fixture.log = new PostgresStore(TEST_POSTGRES_URL, { schema });
	});
	afterAll(async () => {
		await fixture.sink?.close();
		await fixture.log?.dropAll();
		await fixture.log?.close();
		const hot = new RedisStore(TEST_REDIS_URL, { prefix });
		await hot.dropAll();
		await hot.close();
	});
	return fixture;
}
