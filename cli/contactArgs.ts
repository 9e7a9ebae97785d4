import { parseArgs } from 'node:util';
import { Engine } from '../engine/engine';
import { NudgeError } from '../engine/errors';
import type { LoadedPolicy } from '../engine/policy/load';
import { ContactRefSchema } from '../engine/privacy/erase';
import { openExistingStore } from './storeFile';

/** The options that name one contact (`--contact ID` or `--email E`) in a store, shared by erase and export. */
export function parseContactArgs(command: string, args: string[], extra: Record<string, { type: 'boolean' }> = {}) {
	const values: Record<string, string | boolean | undefined> = parseArgs({ args, options: { store: { type: 'string' }, contact: { type: 'string' }, email: { type: 'string' }, ...extra }, strict: true }).values;
	const text = (name: string) => values[name] as string | undefined;
	if (!text('contact') === !text('email')) throw new NudgeError('INVALID_INPUT', `${command} needs the contact: give --contact ID or --email ADDRESS (one of them)`);
	// Checked here, in the CLI's words: the engine's message names the API's field (contactId), not --contact.
	if (text('email') !== undefined && !ContactRefSchema.safeParse({ email: text('email') }).success) {
		throw new NudgeError('INVALID_INPUT', `--email "${text('email')}" is not an email address: to name the contact by its id, give --contact ID`);
	}
	const contact = text('contact') ? { contactId: text('contact')! } : { email: text('email')! };
	return { contact, store: text('store'), flag: (name: string) => values[name] === true };
}

/** Runs with an engine on `--store` (the default embedded store when absent; a SQLite file, a PostgreSQL schema must be there) and the policy (the default one when absent), closing it after. */
export async function withStoreEngine<T>(store: string | undefined, run: (engine: Engine) => Promise<T>, policy?: LoadedPolicy): Promise<T> {
	const engine = new Engine({ store: await openExistingStore(store), policy });
	try {
		return await run(engine);
	} finally {
		await engine.close();
	}
}
